"""The model zoo by name: ``seed`` (the article's design), ``improved`` (notebook 06) and ``unet`` (baseline)."""

from __future__ import annotations

from typing import Any

from .base import Segmenter
from .improved import ImprovedSegmentationModel
from .model import SegmentationModel
from .unet import UNet

MODELS: dict[str, type[Segmenter]] = {"seed": SegmentationModel, "improved": ImprovedSegmentationModel, "unet": UNet}


def build_model(name: str, **config: Any) -> Segmenter:
    """A new model by name; ``config`` overrides fields of that model's config (e.g. ``num_classes=4``)."""
    if name not in MODELS:
        raise ValueError(f"model: expected one of {sorted(MODELS)}, got {name!r}")
    return MODELS[name].from_config(config)


def model_name(model: object) -> str:
    """The zoo name of ``model``'s class; ``TypeError`` for anything else."""
    for name, model_class in MODELS.items():
        if type(model) is model_class:
            return name
    raise TypeError(f"model: expected one of the latentseg models {sorted(MODELS)}, got {type(model).__name__}")
