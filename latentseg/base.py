"""What every latentseg model shares: input standardisation, ``num_classes``, ``min_size`` and ``predict``."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .config import BaseConfig


class Segmenter(nn.Module):
    """Base of the models: images ``B×C×H×W`` in ``[0, 1]`` → logits ``B×num_classes×H×W``.

    Subclasses name their ``config_class``, set ``self.config`` (with ``num_classes`` and
    ``in_channels``) and ``min_size``, the smallest ``H`` and ``W`` they accept, take the config's
    fields as keyword arguments, and call :meth:`standardise` on their input.
    """

    config_class: type[BaseConfig]
    input_mean = 0.5
    input_std = 0.25
    min_size = 4
    #: names (or name prefixes) of parameters that stay with AdamW under ``optimizer="muon"``: the layers
    #: that read the image or write class logits (:mod:`latentseg.optim`)
    adamw_only: tuple[str, ...] = ()

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        """``(x - 0.5) / 0.25``: zero-mean, unit-variance-ish input for images in ``[0, 1]``."""
        return (x - self.input_mean) / self.input_std

    @classmethod
    def from_config(cls, config: BaseConfig | dict[str, Any]) -> Segmenter:
        """Rebuild from a config object or its plain dict (unknown keys are named in the error)."""
        if not isinstance(config, cls.config_class):
            config = cls.config_class.from_dict(config)  # a dict, or a clear TypeError for anything else
        return cls(**config.to_dict())

    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    @torch.no_grad()
    def predict(self, x: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        """Class index per pixel, ``B×H×W`` (int64), in eval mode; the training mode is restored after.

        ``kwargs`` go to ``forward`` (e.g. ``expert_mask`` for the improved model).
        """
        was_training = self.training
        self.eval()
        try:
            return self(x, **kwargs).argmax(dim=1)
        finally:
            self.train(was_training)


def check_expert_mask(mask: torch.Tensor | None, num_latents: int, device: torch.device) -> torch.Tensor | None:
    """``None`` or ``M`` bools with at least one ``True`` (a pixel must read something).

    All ``True`` becomes ``None``, so switching every expert back on runs the very same computation.
    """
    if mask is None:
        return None
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or mask.shape != (num_latents,):
        got = f"{mask.dtype} {tuple(mask.shape)}" if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise ValueError(f"expert_mask: expected a bool tensor of shape ({num_latents},), got {got}")
    if not mask.any():
        raise ValueError("expert_mask: at least one expert must stay on, got all False")
    return None if mask.all() else mask.to(device)
