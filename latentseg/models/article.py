"""The article's model, in the order the article builds it: the encoder, latent attention,
expert segmentation, and the model that joins them.

1. :class:`SimpleEncoder`: image ``B×C×H×W`` → features ``B×D×h×w`` (``h, w = H//4, W//4``);
2. :class:`LatentAttention`: ``M`` learned latents ("experts") read the ``N = h·w`` features → ``B×M×L``;
3. :class:`ExpertSegmentation`: every feature reads the ``M`` experts → class logits ``B×N×K``;
4. :class:`SegmentationModel`: the three together, logits brought back to the input's ``H×W``.

Both attentions keep the article's ``nn.MultiheadAttention``. Ask a layer for ``return_attention=True``, or
the model for :meth:`SegmentationModel.forward_with_attention`, to get the attention weights of every head
(softmax probabilities, before dropout).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_divisible, check_expert_mask, check_heads, check_image_batch, check_positive_int, check_tokens
from .base import SegmentationOutput, Segmenter
from .config import BaseConfig


class SimpleEncoder(nn.Module):
    """Image ``B×C×H×W`` → features ``B×feature_dim×(H//4)×(W//4)``.

    Each output position sees a 10×10 window of the input (its receptive field): two 3×3
    convolutions and two 2×2 poolings. ``H`` and ``W`` must be at least 4 so that one position
    survives both poolings.
    """

    stride = 4
    min_size = 4

    def __init__(self, in_channels: int = 3, feature_dim: int = 64) -> None:
        super().__init__()
        self.in_channels = check_positive_int("in_channels", in_channels)
        self.feature_dim = check_positive_int("feature_dim", feature_dim)
        self.conv1 = nn.Conv2d(in_channels, 32, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(32, feature_dim, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``B×in_channels×H×W`` → ``B×feature_dim×(H//4)×(W//4)``. Checks the shape; the model
        around it checks the values once."""
        check_image_batch("x", x, self.in_channels, self.min_size, finite=False)
        x = self.pool(F.relu(self.conv1(x)))  # B×32×H/2×W/2
        return self.pool(F.relu(self.conv2(x)))  # B×D×H/4×W/4


class LatentAttention(nn.Module):
    """``M`` learned latents ("experts") gather a summary of ``N`` pixel features.

    The latents are the queries; the pixels are keys and values. Cost is ``O(M·N)``, linear in the
    number of pixels, where pixel self-attention would be ``O(N²)``.

    forward: ``x`` ``B×N×feature_dim`` → latents ``B×M×latent_dim``, and with
    ``return_attention=True`` also weights ``B×heads×M×N`` (each row sums to 1 over the ``N`` pixels).
    """

    def __init__(self, feature_dim: int, latent_dim: int, num_latents: int, num_heads: int) -> None:
        super().__init__()
        check_positive_int("feature_dim", feature_dim)
        check_positive_int("num_latents", num_latents)
        check_heads(latent_dim, num_heads)
        self.feature_dim = feature_dim
        self.latents = nn.Parameter(torch.randn(num_latents, latent_dim))
        self.key_proj = nn.Linear(feature_dim, latent_dim)
        self.value_proj = nn.Linear(feature_dim, latent_dim)
        self.query_proj = nn.Linear(latent_dim, latent_dim)
        self.attention = nn.MultiheadAttention(latent_dim, num_heads, batch_first=True)

    def forward(
        self, x: torch.Tensor, return_attention: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        check_tokens("x", x, self.feature_dim)
        keys = self.key_proj(x)  # B×N×L
        values = self.value_proj(x)  # B×N×L
        queries = self.query_proj(self.latents).expand(x.shape[0], -1, -1)  # B×M×L
        out, weights = self.attention(
            queries, keys, values, need_weights=return_attention, average_attn_weights=False
        )
        return (out, weights) if return_attention else out


class ExpertSegmentation(nn.Module):
    """Every pixel reads the ``M`` refined experts, and a linear head turns what it read into class logits.

    forward: pixels ``x`` ``B×N×feature_dim`` and ``latent_experts`` ``B×M×latent_dim`` → logits
    ``B×N×num_classes``, and with ``return_attention=True`` also weights ``B×heads×N×M`` (each row
    sums to 1 over the ``M`` experts).
    """

    def __init__(self, feature_dim: int, latent_dim: int, num_heads: int, num_classes: int) -> None:
        super().__init__()
        check_positive_int("feature_dim", feature_dim)
        check_positive_int("num_classes", num_classes)
        check_heads(latent_dim, num_heads)
        self.feature_dim = feature_dim
        self.latent_dim = latent_dim
        self.pixel_proj = nn.Linear(feature_dim, latent_dim)
        self.attention = nn.MultiheadAttention(latent_dim, num_heads, batch_first=True)
        self.segmentation_head = nn.Linear(latent_dim, num_classes)

    def forward(
        self, x: torch.Tensor, latent_experts: torch.Tensor, return_attention: bool = False,
        expert_mask: torch.Tensor | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """``expert_mask``: ``M`` bools, ``False`` switches that expert off (no pixel can read it)."""
        check_tokens("x", x, self.feature_dim)
        check_tokens("latent_experts", latent_experts, self.latent_dim)
        if latent_experts.shape[0] != x.shape[0]:
            raise ValueError(
                f"latent_experts: expected batch size {x.shape[0]} to match x, got {latent_experts.shape[0]}"
            )
        queries = self.pixel_proj(x)  # B×N×L
        hidden = None if expert_mask is None else (~expert_mask).expand(x.shape[0], -1)  # B×M, True = ignore
        out, weights = self.attention(
            queries, latent_experts, latent_experts, key_padding_mask=hidden, need_weights=return_attention,
            average_attn_weights=False,
        )
        logits = self.segmentation_head(out)  # B×N×K
        return (logits, weights) if return_attention else logits


@dataclass(frozen=True)
class ModelConfig(BaseConfig):
    """Everything needed to rebuild the article's model; stored in checkpoints. Defaults are the article's."""

    in_channels: int = 3
    feature_dim: int = 64
    latent_dim: int = 64
    num_latents: int = 16
    num_heads: int = 4
    num_classes: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        check_divisible("latent_dim", self.latent_dim, self.num_heads)


class SegmentationModel(Segmenter):
    """Image ``B×C×H×W`` → class logits ``B×num_classes×H×W``.

    1. ``encoder``: ``B×C×H×W`` → features ``B×D×h×w`` with ``h, w = H//4, W//4``;
    2. ``latent_attn``: ``M`` latents attend over the ``N = h·w`` features → ``B×M×L``;
    3. ``expert_seg``: every feature attends over the ``M`` latents → logits ``B×N×K``;
    4. logits reshaped to ``B×K×h×w`` and resized (bilinear) to the input's ``H×W``.

    Images come in ``[0, 1]`` and are standardised first, ``(x - 0.5) / 0.25``: the article fed
    ``randn`` noise, already zero-mean and unit-variance, and all-positive pixels stall its training
    on predicting the majority class (notebook 04 measures this). The seed upsampled by a fixed ×4,
    which breaks for sizes not divisible by 4; this model resizes to the input's own size instead.
    """

    config_class = ModelConfig
    has_experts = True
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

    def forward(self, x: torch.Tensor, expert_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``x``: ``B×C×H×W`` float → logits ``B×K×H×W``.

        ``expert_mask`` (``M`` bools) switches experts off: pixels cannot read a masked expert.
        """
        return self._segment(x, expert_mask, need_weights=False)[0]

    def forward_with_attention(self, x: torch.Tensor, expert_mask: torch.Tensor | None = None) -> SegmentationOutput:
        """As :meth:`forward`, with both attentions' weights and the latents: a :class:`SegmentationOutput`."""
        logits, latents, latent_w, pixel_w, (h, w) = self._segment(x, expert_mask, need_weights=True)
        return SegmentationOutput.from_token_weights(logits, latent_w, pixel_w, latents, h, w)

    def _segment(self, x: torch.Tensor, expert_mask: torch.Tensor | None, need_weights: bool) -> tuple:
        """Logits ``B×K×H×W``, latents ``B×M×L``, the weights of both attentions (latent ``B×heads×M×N``,
        pixel ``B×heads×N×M``; ``None`` unless ``need_weights``) and the feature grid ``(h, w)``."""
        check_image_batch("x", x, self.config.in_channels, self.min_size)
        expert_mask = check_expert_mask(expert_mask, self.config.num_latents, x.device)
        features = self.encoder(self.standardise(x))  # B×D×h×w
        b, _, h, w = features.shape
        tokens = features.flatten(2).transpose(1, 2)  # B×N×D, N = h·w
        latents, latent_w = self.latent_attn(tokens, return_attention=True) if need_weights else (
            self.latent_attn(tokens), None)  # B×M×L
        out = self.expert_seg(tokens, latents, need_weights, expert_mask)  # B×N×K
        logits, pixel_w = out if need_weights else (out, None)
        logits = logits.transpose(1, 2).reshape(b, -1, h, w)  # B×K×h×w
        logits = F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return logits, latents, latent_w, pixel_w, (h, w)
