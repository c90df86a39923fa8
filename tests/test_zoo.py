"""The model zoo: every model by name, at any input size."""


import pytest
import torch

from latentseg.models import MODELS, build_model


@pytest.mark.parametrize("size", [(64, 64), (50, 70), (33, 17), (4, 4)])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_gives_logits_at_the_input_size(name, size):
    torch.manual_seed(0)
    model = build_model(name, num_classes=3)
    if min(size) < model.min_size:
        size = (model.min_size, model.min_size)
    assert model(torch.rand(2, 3, *size)).shape == (2, 3, *size)
