import pytest
import torch

from latentseg import PLAIN, fit, synthetic_shapes
from latentseg.models import build_model
from latentseg.training import TrainOptions
from latentseg.training.optim import Muon, build_optimizers, orthogonalise

QUIET = TrainOptions(progress=False)


def test_orthogonalise_sets_singular_values_near_one_and_keeps_directions():
    g = torch.Generator().manual_seed(0)
    for shape in ((8, 20), (20, 8), (3, 6, 6)):
        a = torch.randn(*shape, generator=g) * torch.logspace(-1, 1, shape[-1])  # condition number about 100
        o = orthogonalise(a)
        assert o.shape == a.shape
        s = torch.linalg.svdvals(o)
        assert s.min() > 0.6 and s.max() < 1.25, s
        u, _, vh = torch.linalg.svd(a, full_matrices=False)
        cosine = (o * (u @ vh)).sum((-2, -1)) / (o.norm(dim=(-2, -1)) * (u @ vh).norm(dim=(-2, -1)))
        assert (cosine > 0.9).all(), cosine  # the same singular vectors: close to U·Vᵀ


def test_orthogonalise_batched_equals_one_by_one_and_zero_rows_stay_zero():
    a = torch.randn(4, 5, 12)
    a[1, 2] = 0
    batched = orthogonalise(a)
    assert torch.allclose(batched, torch.stack([orthogonalise(m) for m in a]), atol=1e-6)
    assert batched[1, 2].abs().max() == 0
    with pytest.raises(ValueError, match="matrices: expected R×C or G×R×C"):
        orthogonalise(torch.randn(5))


def test_muon_step_is_the_scaled_orthogonal_momentum():
    w = torch.nn.Parameter(torch.zeros(6, 2, 3, 3))
    optimizer = Muon([w], lr=0.1, momentum=0.9, nesterov=False)
    w.grad = torch.randn(6, 2, 3, 3)
    optimizer.step()
    expected = -0.1 * 0.2 * 18**0.5 * orthogonalise(w.grad.reshape(6, 18)).view_as(w)
    assert torch.allclose(w.detach(), expected, atol=1e-6)
    with pytest.raises(ValueError, match="Muon updates matrices"):
        Muon([torch.nn.Parameter(torch.zeros(3))])
    with pytest.raises(ValueError, match="momentum"):
        Muon([w], momentum=1.0)


@pytest.mark.parametrize("name", ["article", "improved", "unet"])
def test_muon_takes_hidden_matrices_and_adamw_the_rest(name):
    model = build_model(name, num_classes=4)
    muon, adamw = build_optimizers(model, "muon", lr=3e-3)
    names = {id(p): n for n, p in model.named_parameters()}
    hidden = [names[id(p)] for g in muon.param_groups for p in g["params"]]
    rest = [names[id(p)] for g in adamw.param_groups for p in g["params"]]
    assert sorted(hidden + rest) == sorted(names.values()), "every parameter in exactly one optimiser"
    assert hidden and all(model.get_parameter(n).dim() >= 2 for n in hidden)
    assert not any(n.endswith("latents") for n in hidden)
    assert not any(n.startswith(model.adamw_only) for n in hidden), "input and class layers stay with AdamW"
    assert all(g["peak_lr"] == 3e-3 for o in (muon, adamw) for g in o.param_groups)
    assert [g["momentum"] for g in muon.param_groups] == [0.95]
    assert [g["momentum"] for g in build_optimizers(model, "muon", muon_momentum=0.8)[0].param_groups] == [0.8]
    (only,) = build_optimizers(model, "adamw")
    assert isinstance(only, torch.optim.AdamW)
    with pytest.raises(ValueError, match="optimizer: expected one of"):
        build_optimizers(model, "sgd")


def test_fit_with_muon_lowers_the_loss_and_is_reproducible():
    data = synthetic_shapes(32, size=32)

    def run():
        torch.manual_seed(0)
        model = build_model("improved", num_classes=4, feature_dim=16, latent_dim=16, num_latents=4, num_heads=2)
        return fit(model, data, recipe=PLAIN.replace(batch_size=8, lr=4e-3, optimizer="muon"), epochs=4, options=QUIET)

    a, b = run(), run()
    assert a["train_loss"] == b["train_loss"]
    assert a["train_loss"][-1] < 0.7 * a["train_loss"][0]
    with pytest.raises(ValueError, match="optimizer: expected one of"):
        PLAIN.replace(optimizer="lion")
    with pytest.raises(ValueError, match=r"muon_momentum: expected a number in \[0, 1\), got 1.0"):
        PLAIN.replace(optimizer="muon", muon_momentum=1.0)


def test_no_weight_decay_for_latents_biases_and_norms(small_improved):
    from latentseg.training.optim import parameter_groups

    model = small_improved()
    decay, no_decay = parameter_groups(model, 1e-4)
    assert decay["weight_decay"] == 1e-4 and no_decay["weight_decay"] == 0
    names = {id(p): n for n, p in model.named_parameters()}
    assert "latents" in {names[id(p)] for p in no_decay["params"]}
    assert all(p.dim() >= 2 for p in decay["params"]) and all(p.dim() < 2 or names[id(p)] == "latents"
                                                                for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))
