
import pytest
import torch

from latentseg.analysis.probes import receptive_field
from latentseg.models import build_model
from latentseg.models.improved import ImprovedConfig


def test_attention_maps_are_distributions(small_improved):
    out = small_improved().eval().forward_with_attention(torch.rand(2, 3, 40, 24))
    assert out.logits.shape == (2, 4, 40, 24)
    assert out.latent_attention.shape == out.pixel_attention.shape == (2, 2, 4, 10, 6)
    assert torch.allclose(out.latent_attention.sum(dim=(-2, -1)), torch.ones(2, 2, 4), atol=1e-5)
    assert torch.allclose(out.pixel_attention.sum(dim=2), torch.ones(2, 2, 10, 6), atol=1e-5)
    assert out.latents.shape == (2, 4, 16)


def test_attention_weights_path_equals_fused_path(small_improved):
    model = small_improved().eval()
    x = torch.rand(2, 3, 32, 32)
    assert torch.allclose(model(x), model.forward_with_attention(x).logits, atol=1e-5)


def test_every_parameter_gets_a_gradient(small_improved):
    masks = torch.randint(0, 4, (2, 32, 32))
    for overrides in ({}, {"residual": False, "positional": False, "skip": False, "rounds": 1},
                      {"texture_energy": True}):
        model = small_improved(**overrides)
        logits, extras = model.forward_with_extras(torch.rand(2, 3, 32, 32))
        (logits.logsumexp(1).mean() + model.auxiliary_loss(extras, masks)).backward()  # the experts' class head
        # learns from the auxiliary loss
        missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
        assert not missing, missing


def test_same_seed_same_model_and_output(small_improved):
    x = torch.rand(1, 3, 32, 32)
    a, b = small_improved().eval(), small_improved().eval()
    assert torch.equal(a(x), b(x))


def test_switches_change_the_architecture(small_improved):
    full = small_improved()
    bare = small_improved(residual=False, positional=False, skip=False, rounds=1)
    assert full.position is not None and bare.position is None and len(bare.latent_self_attention) == 0
    assert sum(p.numel() for p in bare.parameters()) < sum(p.numel() for p in full.parameters())


def test_encoder_blocks_set_the_receptive_field(small_improved):
    for blocks, field in ((1, 29), (2, 45), (3, 61)):
        model = small_improved(encoder_blocks=blocks)
        convs = [m for part in (model.stem, model.down1, model.down2) for m in part.modules()
                 if isinstance(m, torch.nn.Conv2d)]
        assert receptive_field(convs) == (field, 4)


@pytest.mark.parametrize("field, value", [("dilation_growth", 2), ("competition", True), ("mask_classification", True)])
def test_a_config_with_a_removed_switch_on_is_refused_in_one_line_and_off_is_read(field, value):
    defaults = ImprovedConfig().to_dict()
    with pytest.raises(ValueError, match=f"config: {field}={value!r} was a switch measured and removed"):
        ImprovedConfig.from_dict(defaults | {field: value})
    off = {"dilation_growth": 1, "competition": False, "mask_classification": False}[field]
    assert ImprovedConfig.from_dict(defaults | {field: off}) == ImprovedConfig()


def test_texture_energy_is_a_switch_that_old_configs_leave_off(small_improved):
    plain, textured = small_improved(), small_improved(texture_energy=True, texture_filters=4, texture_kernel=5)
    assert plain.texture is None and textured.texture.filters.weight.shape == (4, 3, 5, 5)
    for size in ((40, 24), (37, 29)):  # any size: the energy meets the strided features on their grid
        x = torch.rand(2, 3, *size)
        assert textured.eval()(x).shape == (2, 4, *size)
    saved = {k: v for k, v in plain.config.to_dict().items() if not k.startswith("texture_")}  # a config from before
    assert type(plain).from_config(saved).texture is None


def test_expert_mask_all_on_restores_the_prediction_exactly(small_improved):
    model = small_improved().eval()
    x = torch.rand(2, 3, 32, 32)
    on = torch.ones(4, dtype=torch.bool)
    assert torch.equal(model.predict(x), model.predict(x, expert_mask=on))
    off = on.clone()
    off[0] = False
    out = model.forward_with_attention(x, off)
    assert torch.all(out.pixel_attention[:, :, 0] == 0)
    assert not torch.allclose(model(x), model(x, expert_mask=off))


@pytest.mark.parametrize("mask, message", [
    (torch.ones(3, dtype=torch.bool), r"shape \(4,\)"),
    (torch.ones(4), "bool"),
    (torch.zeros(4, dtype=torch.bool), "at least one expert"),
])
def test_bad_expert_masks(mask, message, small_improved):
    with pytest.raises(ValueError, match=message):
        small_improved()(torch.rand(1, 3, 16, 16), expert_mask=mask)


def test_config_checks(small_improved):
    with pytest.raises(ValueError, match="num_heads"):
        ImprovedConfig(latent_dim=10, num_heads=4)
    with pytest.raises(TypeError, match="skip: expected True or False"):
        ImprovedConfig(skip=1)
    with pytest.raises(ValueError, match="rounds"):
        ImprovedConfig(rounds=0)
    with pytest.raises(ValueError, match="texture_kernel: expected an odd size"):
        ImprovedConfig(texture_energy=True, texture_kernel=8)
    with pytest.raises(ValueError, match="unknown keys"):
        ImprovedConfig.from_dict({"depth": 3})
    with pytest.raises(ValueError, match="model: expected one of"):
        build_model("transformer")
    with pytest.raises(ValueError, match="x: expected 3 channels"):
        small_improved()(torch.rand(1, 1, 16, 16))


def test_routing_entropy_loss_known_answers():
    from latentseg.models.improved import routing_entropy_loss

    certain = torch.eye(4).repeat(1, 3, 1)  # 12 pixels, each reading one expert
    assert routing_entropy_loss(certain) == pytest.approx(0.0, abs=1e-6)
    assert routing_entropy_loss(torch.full((1, 12, 4), 0.25)) == pytest.approx(1.0, abs=1e-6)
    half = torch.tensor([[[0.5, 0.5, 0.0, 0.0]]])
    assert routing_entropy_loss(half) == pytest.approx(0.5, abs=1e-6)  # ln 2 / ln 4


def test_auxiliary_losses_come_back_as_extras_and_reach_the_routing(small_improved):
    torch.manual_seed(0)
    masks, x = torch.randint(0, 4, (2, 32, 32)), torch.rand(2, 3, 32, 32)
    model = small_improved(routing_weight=0.5, expert_supervision=0.0).train()
    assert model.has_auxiliary_loss
    logits, extras = model.forward_with_extras(x)
    torch.testing.assert_close(logits, model(x), msg="asking for the extras does not change the logits")
    aux = model.auxiliary_loss(extras, masks)
    assert aux.dim() == 0 and 0 < aux.item() <= 0.5
    aux.backward()
    assert model.expert_seg.attention.to_q.weight.grad.abs().sum() > 0
    assert not any(isinstance(v, torch.Tensor) and v.grad_fn is not None for v in vars(model).values()), \
        "no tensor of a forward pass is kept on the model"
    plain = small_improved(routing_weight=0.0, expert_supervision=0.0)
    assert not plain.has_auxiliary_loss and plain.expert_classes is None
    assert not build_model("article", num_classes=4).has_auxiliary_loss and not build_model("unet").has_auxiliary_loss
    with pytest.raises(NotImplementedError, match="UNet has no auxiliary loss"):
        build_model("unet").auxiliary_loss({}, masks)

    supervised = small_improved(expert_supervision=1.0, routing_weight=0.0).train()
    logits, extras = supervised.forward_with_extras(x)
    assert supervised.head is not None, "the prediction keeps the direct head"
    loss = supervised.auxiliary_loss(extras, masks)
    assert loss.item() > 0
    loss.backward()
    assert supervised.expert_classes.weight.grad.abs().sum() > 0
    assert supervised.head.weight.grad is None, "the auxiliary loss trains the route through the experts only"
    assert logits.shape == (2, 4, 32, 32)
    supervised.eval()
    assert supervised(torch.rand(2, 3, 32, 32)).shape == (2, 4, 32, 32), "evaluation needs no routing weights"
    assert supervised.forward_with_attention(torch.rand(2, 3, 32, 32)).logits.shape == (2, 4, 32, 32)
    with pytest.raises(ValueError, match="routing_weight: expected a finite number ≥ 0"):
        ImprovedConfig(routing_weight=-0.1)
    with pytest.raises(TypeError, match="expert_supervision"):
        ImprovedConfig(expert_supervision="0.1")


def test_forward_returns_logits_and_named_methods_the_rest(small_improved):
    """One return type per method: forward gives logits; attention and training extras have their own methods."""
    model = small_improved().eval()
    x = torch.rand(2, 3, 32, 32)
    logits = model(x)
    assert isinstance(logits, torch.Tensor) and logits.shape == (2, 4, 32, 32)
    with_extras, extras = model.forward_with_extras(x)
    torch.testing.assert_close(with_extras, logits)
    assert set(extras) == {"routing", "through_experts"}
    with pytest.raises(TypeError):
        model(x, return_attention=True)  # the flag is gone: forward_with_attention replaced it


def test_the_unet_has_no_attention_to_show():
    unet = build_model("unet", num_classes=3)
    with pytest.raises(NotImplementedError, match="UNet has no experts"):
        unet.forward_with_attention(torch.rand(1, 3, 16, 16))


def test_training_loss_wraps_the_extras_forward_once(small_improved):
    """training_loss without a net equals the same loss through an explicit training_forward wrapper."""
    from latentseg.models.base import WithExtras, training_forward
    from latentseg.training.loop import training_loss

    model = small_improved(routing_weight=0.1)
    assert isinstance(training_forward(model), WithExtras)
    assert training_forward(build_model("unet", num_classes=4)).__class__.__name__ == "UNet"
    images, masks = torch.rand(2, 3, 32, 32), torch.randint(0, 4, (2, 32, 32))
    torch.manual_seed(0)
    plain = training_loss(model, images, masks)
    torch.manual_seed(0)
    wrapped = training_loss(model, images, masks, net=training_forward(model))
    torch.testing.assert_close(plain, wrapped)
    assert plain > 0 and torch.isfinite(plain)
