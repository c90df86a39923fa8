"""The U-Net baseline."""


import pytest
import torch

from latentseg.models.unet import UNet


def test_unet_checks_size_and_builds_its_depth():
    unet = UNet(base_dim=4, depth=2)
    assert len(unet.down) == 3 and unet.min_size == 4
    with pytest.raises(ValueError, match="H, W ≥ 4"):
        unet(torch.rand(1, 3, 3, 8))


def test_levels_double_the_channels_and_halve_the_size():
    unet = UNet(base_dim=4, depth=3)
    sizes = []
    hooks = [block.register_forward_hook(lambda m, i, o: sizes.append(tuple(o.shape[1:]))) for block in unet.down]
    unet(torch.rand(1, 3, 32, 32))
    for hook in hooks:
        hook.remove()
    assert sizes == [(4, 32, 32), (8, 16, 16), (16, 8, 8), (32, 4, 4)]


def test_the_skips_carry_full_resolution_detail_and_the_bottom_sees_far():
    """One input pixel moves the logits at that pixel through the full-resolution skip, and the logits
    there depend on pixels 15 away, which only the coarse levels reach."""
    torch.manual_seed(0)
    unet = UNet(base_dim=4, depth=3).eval()
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    unet(x)[0, :, 16, 16].sum().backward()
    footprint = x.grad[0].abs().sum(0)
    assert footprint[16, 16] > 0 and footprint[16, 1] > 0 and footprint[1, 16] > 0


def test_about_the_improved_models_size_for_a_fair_race():
    from latentseg.models import build_model
    from latentseg.models.base import count_parameters

    unet, improved = count_parameters(build_model("unet")), count_parameters(build_model("improved"))
    assert abs(unet - improved) / improved < 0.05
