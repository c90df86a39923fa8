"""The model zoo by name: ``seed`` (the article's design), ``improved`` (notebook 06) and ``unet`` (baseline)."""

from __future__ import annotations

from typing import Any

from .base import Segmenter
from .improved import ImprovedConfig, ImprovedSegmentationModel
from .model import ModelConfig, SegmentationModel
from .unet import UNet, UNetConfig

MODELS: dict[str, tuple[type[Segmenter], type]] = {
    "seed": (SegmentationModel, ModelConfig),
    "improved": (ImprovedSegmentationModel, ImprovedConfig),
    "unet": (UNet, UNetConfig),
}


def build_model(name: str, **config: Any) -> Segmenter:
    """A new model by name; ``config`` overrides fields of that model's config (e.g. ``num_classes=4``)."""
    if name not in MODELS:
        raise ValueError(f"model: expected one of {sorted(MODELS)}, got {name!r}")
    model_class, config_class = MODELS[name]
    return model_class.from_config(config_class.from_dict(config))


def model_name(model: object) -> str:
    """The zoo name of ``model``'s class; ``TypeError`` for anything else."""
    for name, (model_class, _) in MODELS.items():
        if type(model) is model_class:
            return name
    raise TypeError(f"model: expected one of the latentseg models {sorted(MODELS)}, got {type(model).__name__}")
