"""The models, and the zoo by name: ``article`` (the article's design, :mod:`.article`), ``improved``
(notebooks 05–06, :mod:`.improved`), ``experts`` (its experts each own an object, :mod:`.experts`) and ``unet``
(the convolutional baseline, :mod:`.unet`)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from .article import ExpertSegmentation, LatentAttention, ModelConfig, SegmentationModel, SimpleEncoder
from .base import SegmentationOutput, Segmenter, count_parameters
from .experts import ExpertsConfig, ObjectExpertsModel
from .improved import ImprovedConfig, ImprovedSegmentationModel
from .unet import UNet, UNetConfig

MODELS: dict[str, type[Segmenter]] = {"article": SegmentationModel, "improved": ImprovedSegmentationModel,
                                      "experts": ObjectExpertsModel, "unet": UNet}

__all__ = [
    "MODELS", "build_model", "has_config_field", "model_name", "Segmenter", "SegmentationOutput", "count_parameters",
    "SimpleEncoder", "LatentAttention", "ExpertSegmentation", "ModelConfig", "SegmentationModel",
    "ImprovedConfig", "ImprovedSegmentationModel", "ExpertsConfig", "ObjectExpertsModel", "UNet", "UNetConfig",
]


def build_model(name: str, **config: Any) -> Segmenter:
    """A new model by name; ``config`` overrides fields of that model's config (e.g. ``num_classes=4``)."""
    if name not in MODELS:
        raise ValueError(f"model: expected one of {sorted(MODELS)}, got {name!r}")
    return MODELS[name].from_config(config)


def has_config_field(name: str, field: str) -> bool:
    """Whether the zoo model ``name``'s config has ``field`` (e.g. ``texture_energy``: improved and experts)."""
    return field in {f.name for f in fields(MODELS[name].config_class)}


def model_name(model: object) -> str:
    """The zoo name of ``model``'s class; ``TypeError`` for anything else."""
    for name, model_class in MODELS.items():
        if type(model) is model_class:
            return name
    raise TypeError(f"model: expected one of the latentseg models {sorted(MODELS)}, got {type(model).__name__}")
