"""Using a trained model on one image: sizes, downscaling, and input that would give a wrong answer."""

import pytest
import torch

from latentseg.inference import predict_image


def test_predict_image_at_any_size_and_downscaled(tiny_model):
    image = torch.rand(3, 50, 70)
    assert predict_image(tiny_model, image).shape == (50, 70)
    assert predict_image(tiny_model, image, max_size=16).shape == (50, 70), "logits come back at the image's size"


def test_non_finite_pixels_are_refused_not_turned_into_background(tiny_model):
    image = torch.rand(3, 20, 20)
    image[1, 4, 4] = float("inf")
    with pytest.raises(ValueError, match="image: expected finite values, got 1 NaN or infinite of 1200"):
        predict_image(tiny_model, image)


def test_max_size_below_what_the_model_reads_is_named(tiny_model):
    with pytest.raises(ValueError, match="max_size: expected at least the model's smallest input side 4, got 2"):
        predict_image(tiny_model, torch.rand(3, 20, 20), max_size=2)
