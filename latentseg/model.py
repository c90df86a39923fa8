"""The seed's segmentation model: encoder → latent attention → expert segmentation → logits at input size."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .attention import ExpertSegmentation, LatentAttention
from .base import Segmenter, check_expert_mask
from .checks import check_image_batch
from .config import BaseConfig, check_divisible
from .encoder import SimpleEncoder


@dataclass(frozen=True)
class ModelConfig(BaseConfig):
    """Everything needed to rebuild the seed model; stored in checkpoints. Defaults are the seed article's."""

    in_channels: int = 3
    feature_dim: int = 64
    latent_dim: int = 64
    num_latents: int = 16
    num_heads: int = 4
    num_classes: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        check_divisible("latent_dim", self.latent_dim, self.num_heads)


class SegmentationOutput(NamedTuple):
    """What ``SegmentationModel(x, return_attention=True)`` returns.

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


class SegmentationModel(Segmenter):
    """Image ``B×C×H×W`` → class logits ``B×num_classes×H×W``.

    1. ``encoder``: ``B×C×H×W`` → features ``B×D×h×w`` with ``h, w = H//4, W//4``;
    2. ``latent_attn``: ``M`` latents attend over the ``N = h·w`` features → ``B×M×L``;
    3. ``expert_seg``: every feature attends over the ``M`` latents → logits ``B×N×K``;
    4. logits reshaped to ``B×K×h×w`` and resized (bilinear) to the input's ``H×W``.

    Images come in ``[0, 1]`` and are standardised first, ``(x - 0.5) / 0.25``: the seed article fed
    ``randn`` noise, already zero-mean and unit-variance, and all-positive pixels stall its training
    on predicting the majority class (notebook 04 measures this). The seed upsampled by a fixed ×4,
    which breaks for sizes not divisible by 4; this model resizes to the input's own size instead.
    """

    config_class = ModelConfig
    adamw_only = ("encoder.conv1", "expert_seg.segmentation_head")
    min_size = SimpleEncoder.min_size

    def __init__(
        self,
        in_channels: int = 3,
        feature_dim: int = 64,
        latent_dim: int = 64,
        num_latents: int = 16,
        num_heads: int = 4,
        num_classes: int = 2,
    ) -> None:
        super().__init__()
        self.config = ModelConfig(in_channels, feature_dim, latent_dim, num_latents, num_heads, num_classes)
        self.encoder = SimpleEncoder(in_channels, feature_dim)
        self.latent_attn = LatentAttention(feature_dim, latent_dim, num_latents, num_heads)
        self.expert_seg = ExpertSegmentation(feature_dim, latent_dim, num_heads, num_classes)

    def forward(
        self, x: torch.Tensor, return_attention: bool = False, expert_mask: torch.Tensor | None = None
    ) -> torch.Tensor | SegmentationOutput:
        """``x``: ``B×C×H×W`` float → logits ``B×K×H×W`` (or a :class:`SegmentationOutput`).

        ``expert_mask`` (``M`` bools) switches experts off: pixels cannot read a masked expert.
        """
        check_image_batch("x", x, self.config.in_channels, self.min_size)
        expert_mask = check_expert_mask(expert_mask, self.config.num_latents, x.device)
        features = self.encoder(self.standardise(x))  # B×D×h×w
        b, _, h, w = features.shape
        tokens = features.flatten(2).transpose(1, 2)  # B×N×D, N = h·w
        if return_attention:
            latents, latent_w = self.latent_attn(tokens, return_attention=True)  # B×M×L, B×heads×M×N
            logits, pixel_w = self.expert_seg(tokens, latents, True, expert_mask)  # B×N×K, B×heads×N×M
        else:
            latents = self.latent_attn(tokens)
            logits = self.expert_seg(tokens, latents, expert_mask=expert_mask)
        logits = logits.transpose(1, 2).reshape(b, -1, h, w)  # B×K×h×w
        logits = F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)
        if not return_attention:
            return logits
        return SegmentationOutput.from_token_weights(logits, latent_w, pixel_w, latents, h, w)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
