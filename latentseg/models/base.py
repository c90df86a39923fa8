"""What every latentseg model shares: input standardisation, ``num_classes``, ``min_size``, ``predict``,
the attention maps of the latent models, and the interface through which training asks a model for
its own training-only losses."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import nn

from ..checks import warn_outside_unit_range
from ..device import eval_mode
from .config import BaseConfig


class SegmentationOutput(NamedTuple):
    """What a latent model's :meth:`~Segmenter.forward_with_attention` returns.

    - ``logits``: ``B×K×H×W``, at the input's own size.
    - ``latent_attention``: ``B×heads×M×h×w``, expert → pixels; for each expert and head the map
      sums to 1 over the ``h×w`` feature positions (where that expert looks).
    - ``pixel_attention``: ``B×heads×M×h×w``, pixel → experts; at every position and head the
      values sum to 1 over the ``M`` experts (which experts that pixel reads).
    - ``latents``: ``B×M×latent_dim``, the experts after reading the image.
    """

    logits: torch.Tensor
    latent_attention: torch.Tensor
    pixel_attention: torch.Tensor
    latents: torch.Tensor

    @classmethod
    def from_token_weights(
        cls, logits: torch.Tensor, latent_weights: torch.Tensor, pixel_weights: torch.Tensor, latents: torch.Tensor,
        h: int, w: int,
    ) -> SegmentationOutput:
        """From weights over tokens, latent ``B×heads×M×N`` and pixel ``B×heads×N×M`` (``N = h·w``)."""
        b, heads, m = latent_weights.shape[:3]
        return cls(logits=logits, latent_attention=latent_weights.reshape(b, heads, m, h, w),
                   pixel_attention=pixel_weights.transpose(2, 3).reshape(b, heads, m, h, w), latents=latents)


class Segmenter(nn.Module):
    """Base of the models: images ``B×C×H×W`` in ``[0, 1]`` → logits ``B×num_classes×H×W``.

    Subclasses name their ``config_class``, set ``self.config`` (with ``num_classes`` and
    ``in_channels``) and ``min_size``, the smallest ``H`` and ``W`` they accept, take the config's
    fields as keyword arguments, and call :meth:`standardise` on their input.

    ``forward(x)`` returns the logits, always. Declared, so that callers never probe with ``hasattr``:

    - ``has_experts``: the model has latents ("experts"): ``forward(x, expert_mask)`` switches some off,
      and :meth:`forward_with_attention` returns the logits with both attention maps (the article's and
      improved models; not the U-Net).
    - :attr:`has_auxiliary_loss` / :meth:`auxiliary_loss`: training-only loss terms. A model that has
      them returns ``(logits, extras)`` from :meth:`forward_with_extras`; ``auxiliary_loss(extras,
      masks)`` turns those extras into a loss. The extras travel as a return value, never on ``self``,
      so wrappers (``torch.compile``, ``DistributedDataParallel``) and repeated calls stay correct;
      :class:`WithExtras` is the module those wrappers wrap.
    """

    config_class: type[BaseConfig]
    input_mean = 0.5
    input_std = 0.25
    min_size = 4
    has_experts = False
    #: every expert also predicts one object (``predict_instances``); training needs instance ids
    #: (``SegmentationData.with_instances``)
    owns_objects = False
    #: names (or name prefixes) of parameters that stay with AdamW under ``optimizer="muon"``: the layers
    #: that read the image or write class logits (:mod:`latentseg.training.optim`)
    adamw_only: tuple[str, ...] = ()

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        """``(x - 0.5) / 0.25``: zero-mean, unit-variance-ish input for images in ``[0, 1]``, in the
        dtype of the model's weights (a float64 or float16 image meets float32 weights)."""
        weight = next(self.parameters())
        if weight.is_meta:
            raise ValueError("model: its weights are on the meta device (shapes without values); build it on cpu or "
                             "cuda, or load weights into it first (load_state_dict(state, assign=True))")
        return (x.to(weight.dtype) - self.input_mean) / self.input_std

    @classmethod
    def from_config(cls, config: BaseConfig | dict[str, Any]) -> Segmenter:
        """Rebuild from a config object or its plain dict (unknown keys are named in the error)."""
        if not isinstance(config, cls.config_class):
            config = cls.config_class.from_dict(config)  # a dict, or a clear TypeError for anything else
        return cls(**config.to_dict())

    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    @property
    def has_auxiliary_loss(self) -> bool:
        """Whether training should call :meth:`forward_with_extras` and add :meth:`auxiliary_loss`."""
        return False

    def forward_with_attention(self, x: torch.Tensor, expert_mask: torch.Tensor | None = None) -> SegmentationOutput:
        """The logits of ``x`` ``B×C×H×W`` with the attention maps behind them (models with experts)."""
        raise NotImplementedError(f"{type(self).__name__} has no experts, so no attention maps")

    def forward_with_extras(self, x: torch.Tensor, expert_mask: torch.Tensor | None = None
                            ) -> tuple[torch.Tensor, dict[str, Any]]:
        """``(logits, extras)``: the logits of ``x`` and what :meth:`auxiliary_loss` needs (models that have one)."""
        raise NotImplementedError(f"{type(self).__name__} has no auxiliary loss")

    def auxiliary_loss(self, extras: dict[str, torch.Tensor], masks: torch.Tensor,
                       instances: torch.Tensor | None = None) -> torch.Tensor:
        """The training-only loss from the ``extras`` of one :meth:`forward_with_extras` and that
        batch's masks ``B×H×W`` (and instance ids ``B×H×W`` for a model that ``owns_objects``).
        Models without such terms never get asked."""
        raise NotImplementedError(f"{type(self).__name__} has no auxiliary loss")

    @torch.no_grad()
    def predict(self, x: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        """Class index per pixel, ``B×H×W`` (int64), in eval mode; the training mode is restored after.

        ``kwargs`` go to ``forward`` (e.g. ``expert_mask`` for the latent models).
        """
        if isinstance(x, torch.Tensor) and x.is_floating_point() and x.numel():
            warn_outside_unit_range("x", x)
        with eval_mode(self):
            return self(x, **kwargs).argmax(dim=1)


class WithExtras(nn.Module):
    """``model`` seen through its :meth:`~Segmenter.forward_with_extras`: images ``B×C×H×W`` →
    ``(logits, extras)``. Training wraps this module (data-parallel, compiled) instead of the model,
    so that the wrapper sees the one forward call training makes; it shares the model's parameters."""

    def __init__(self, model: Segmenter) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
        return self.model.forward_with_extras(x)


def training_forward(model: nn.Module) -> nn.Module:
    """The module training calls: :class:`WithExtras` for a model with training-only losses, else the model."""
    return WithExtras(model) if getattr(model, "has_auxiliary_loss", False) else model


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
