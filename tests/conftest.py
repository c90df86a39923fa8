import os

import pytest
import torch

torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture
def tiny_model():
    torch.manual_seed(0)
    from latentseg import SegmentationModel

    return SegmentationModel(feature_dim=16, latent_dim=16, num_latents=4, num_heads=2, num_classes=4)
