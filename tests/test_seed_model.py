import inspect

import pytest
import torch

from latentseg import ExpertSegmentation, LatentAttention, ModelConfig, SegmentationModel, SimpleEncoder


def test_seed_names_and_defaults():
    sig = inspect.signature(SegmentationModel)
    defaults = {k: v.default for k, v in sig.parameters.items()}
    assert defaults == dict(in_channels=3, feature_dim=64, latent_dim=64, num_latents=16, num_heads=4, num_classes=2)
    assert list(inspect.signature(LatentAttention).parameters) == ["feature_dim", "latent_dim", "num_latents", "num_heads"]
    assert list(inspect.signature(ExpertSegmentation).parameters) == ["feature_dim", "latent_dim", "num_heads", "num_classes"]
    assert {k: v.default for k, v in inspect.signature(SimpleEncoder).parameters.items()} == dict(in_channels=3, feature_dim=64)


@pytest.mark.parametrize("size", [(64, 64), (50, 70), (4, 4), (33, 17), (128, 96)])
def test_logits_come_back_at_input_size(size):
    torch.manual_seed(0)
    model = SegmentationModel(num_classes=3)
    x = torch.rand(2, 3, *size)
    assert model(x).shape == (2, 3, *size)


def test_encoder_shapes():
    enc = SimpleEncoder(in_channels=1, feature_dim=8)
    assert enc(torch.rand(3, 1, 50, 70)).shape == (3, 8, 12, 17)


def test_attention_maps_are_distributions(tiny_model):
    out = tiny_model.forward_with_attention(torch.rand(2, 3, 32, 40))
    assert out.logits.shape == (2, 4, 32, 40)
    heads, m, h, w = 2, 4, 8, 10
    assert out.latent_attention.shape == (2, heads, m, h, w)
    assert out.pixel_attention.shape == (2, heads, m, h, w)
    assert out.latents.shape == (2, m, 16)
    # expert → pixels sums to one over positions; pixel → experts sums to one over experts
    torch.testing.assert_close(out.latent_attention.sum((-2, -1)), torch.ones(2, heads, m))
    torch.testing.assert_close(out.pixel_attention.sum(2), torch.ones(2, heads, h, w))


def test_forward_with_attention_does_not_change_logits(tiny_model):
    x = torch.rand(2, 3, 24, 24)
    tiny_model.eval()
    torch.testing.assert_close(tiny_model(x), tiny_model.forward_with_attention(x).logits)


def test_pixel_attention_matches_a_manual_recomputation(tiny_model):
    """The per-head map really is softmax(q·kᵀ/√d) of the pixel → expert attention."""
    x = torch.rand(1, 3, 16, 16)
    out = tiny_model.forward_with_attention(x)
    tokens = tiny_model.encoder((x - tiny_model.input_mean) / tiny_model.input_std).flatten(2).transpose(1, 2)
    mha = tiny_model.expert_seg.attention
    d = mha.embed_dim
    q = tiny_model.expert_seg.pixel_proj(tokens) @ mha.in_proj_weight[:d].T + mha.in_proj_bias[:d]
    k = out.latents @ mha.in_proj_weight[d:2 * d].T + mha.in_proj_bias[d:2 * d]
    heads, hd = mha.num_heads, d // mha.num_heads
    q = q.view(1, -1, heads, hd).transpose(1, 2)
    k = k.view(1, -1, heads, hd).transpose(1, 2)
    weights = torch.softmax(q @ k.transpose(-1, -2) / hd**0.5, -1)  # 1×heads×N×M
    torch.testing.assert_close(out.pixel_attention.flatten(3).transpose(2, 3), weights)


def test_gradients_reach_every_parameter(tiny_model):
    x = torch.rand(2, 3, 32, 32)
    y = torch.randint(0, 4, (2, 32, 32))
    torch.nn.functional.cross_entropy(tiny_model(x), y).backward()
    for name, p in tiny_model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_predict_keeps_training_mode(tiny_model):
    tiny_model.train()
    pred = tiny_model.predict(torch.rand(2, 3, 20, 20))
    assert pred.shape == (2, 20, 20) and pred.dtype == torch.int64
    assert tiny_model.training


@pytest.mark.parametrize(
    "x, error, words",
    [
        (torch.rand(3, 32, 32), ValueError, "3 dimensions"),
        (torch.rand(1, 1, 32, 32), ValueError, "expected 3 channels"),
        (torch.rand(1, 3, 3, 32), ValueError, "H, W ≥ 4"),
        (torch.randint(0, 255, (1, 3, 32, 32), dtype=torch.uint8), TypeError, "dtype torch.uint8"),
        ([[1.0]], TypeError, "got list"),
    ],
)
def test_bad_input_is_named(tiny_model, x, error, words):
    with pytest.raises(error, match="^x: ") as info:
        tiny_model(x)
    assert words in str(info.value)


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        (dict(latent_dim=30, num_heads=4), ValueError, "divisible"),
        (dict(num_latents=0), ValueError, "num_latents"),
        (dict(feature_dim=-3), ValueError, "feature_dim"),
        (dict(num_classes=2.5), TypeError, "num_classes"),
        (dict(num_heads=True), TypeError, "num_heads"),
    ],
)
def test_bad_config_is_named(kwargs, error, words):
    with pytest.raises(error, match=words):
        SegmentationModel(**kwargs)


def test_submodule_input_checks():
    attn = LatentAttention(8, 8, 2, 2)
    with pytest.raises(ValueError, match=r"x: expected a float tensor of shape B×N×8, got shape \(2, 5, 7\)"):
        attn(torch.rand(2, 5, 7))
    seg = ExpertSegmentation(8, 8, 2, 3)
    with pytest.raises(ValueError, match="latent_experts: expected batch size 2"):
        seg(torch.rand(2, 5, 8), torch.rand(3, 2, 8))


def test_config_round_trip_and_unknown_keys():
    config = ModelConfig(num_classes=4)
    assert SegmentationModel.from_config(config.to_dict()).config == config
    with pytest.raises(ValueError, match="unknown keys"):
        ModelConfig.from_dict({"num_classes": 4, "depth": 3})


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_images_of_another_float_dtype_meet_the_weights_dtype(tiny_model, dtype):
    x = torch.rand(2, 3, 16, 16)
    tiny_model.eval()
    out = tiny_model(x.to(dtype))
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, tiny_model(x.to(dtype).float()))
