"""The U-Net baseline."""


import pytest
import torch

from latentseg.models.improved import ImprovedSegmentationModel
from latentseg.models.unet import UNet

SMALL = dict(stem_dim=4, mid_dim=8, feature_dim=16, latent_dim=16, num_latents=4, num_heads=2)


def small_model(**overrides) -> ImprovedSegmentationModel:
    torch.manual_seed(0)
    return ImprovedSegmentationModel(**{**SMALL, **overrides})


def test_unet_checks_size_and_builds_its_depth():
    unet = UNet(base_dim=4, depth=2)
    assert len(unet.down) == 3 and unet.min_size == 4
    with pytest.raises(ValueError, match="H, W ≥ 4"):
        unet(torch.rand(1, 3, 3, 8))
