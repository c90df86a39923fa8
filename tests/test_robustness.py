"""Scores on data a model did not train on: a model that reads colour loses them, one that does not keeps them."""

import torch

from latentseg import evaluate, synthetic_shapes
from latentseg.analysis.robustness import hue_agreement, robustness_report
from latentseg.data.shifted import shifted_shapes


class _ReadsColour(torch.nn.Module):
    """Predicts the class from the brightest channel: colour is all it knows."""

    config = type("config", (), {"num_classes": 4})

    def forward(self, x):
        return torch.nn.functional.one_hot(x.argmax(1), 4).permute(0, 3, 1, 2).float()

    def predict(self, x):
        return self(x).argmax(1)


class _ReadsNothing(_ReadsColour):
    def forward(self, x):
        return torch.zeros(x.shape[0], 4, *x.shape[2:])


def test_hue_agreement_tells_a_colour_reader_from_a_colour_blind_model():
    images = synthetic_shapes(8, size=32).images
    assert hue_agreement(_ReadsNothing(), images) == 1.0
    assert hue_agreement(_ReadsColour(), images) < 0.7


def test_robustness_report_fields():
    test, shifted = synthetic_shapes(4, size=32, split="test"), shifted_shapes(4, size=32)
    report = robustness_report(_ReadsNothing(), test, shifted)
    assert set(report) == {"test_miou", "shifted_miou", "greyscale_miou", "hue_agreement"}
    texture = shifted_shapes(4, size=32, texture=True)
    with_texture = robustness_report(_ReadsNothing(), test, shifted, texture=texture)
    assert with_texture["texture_miou"] == evaluate(_ReadsNothing(), texture).miou
    assert report["greyscale_miou"] == report["test_miou"], "a model that reads nothing loses nothing to greyscale"
