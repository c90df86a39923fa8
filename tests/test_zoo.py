"""The model zoo: every model by name, at any input size."""


import pytest
import torch

from latentseg.models import MODELS, build_model
from latentseg.models.improved import ImprovedSegmentationModel

SMALL = dict(stem_dim=4, mid_dim=8, feature_dim=16, latent_dim=16, num_latents=4, num_heads=2)


def small_model(**overrides) -> ImprovedSegmentationModel:
    torch.manual_seed(0)
    return ImprovedSegmentationModel(**{**SMALL, **overrides})


@pytest.mark.parametrize("size", [(64, 64), (50, 70), (33, 17), (4, 4)])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_gives_logits_at_the_input_size(name, size):
    torch.manual_seed(0)
    model = build_model(name, num_classes=3)
    if min(size) < model.min_size:
        size = (model.min_size, model.min_size)
    assert model(torch.rand(2, 3, *size)).shape == (2, 3, *size)
