"""The improved latent-expert model: the article's idea (latents read the pixels, pixels read the
latents) with the pieces that make it segment. Notebooks 05 (architecture) and 06 (recipe) add them
one at a time and measure each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_divisible, check_expert_mask, check_image_batch
from ..labels import IGNORE_INDEX
from .base import SegmentationOutput, Segmenter
from .blocks import ConvBlock, CrossAttentionBlock, ResidualConvBlock, TextureEnergy, fourier_positions
from .config import BaseConfig


@dataclass(frozen=True)
class ImprovedConfig(BaseConfig):
    """Everything needed to rebuild an :class:`ImprovedSegmentationModel`.

    The switches turn off one improvement each, so the ablation in notebook 05 is a set of configs:

    - ``encoder_blocks``: residual blocks (dense 3×3 kernels) at 1/4 resolution; they widen what each
      feature sees from the article's 10×10 window to 45×45 pixels with two blocks (attention adds the
      rest of the image);
    - ``positional``: add Fourier features of each pixel's position to its feature;
    - ``residual``: pre-norm residual + LayerNorm + MLP around every attention (else the article's bare
      attention), plus latent self-attention between rounds;
    - ``rounds``: how many times the latents re-read the pixels;
    - ``routing_weight``: weight of an auxiliary loss, during training, that asks the pixel → expert
      routing to be sharp: each pixel reading mostly one expert (:func:`routing_entropy_loss`);
    - ``expert_supervision``: weight of an auxiliary cross-entropy, during training, on the class
      predicted *through the experts*, ``p(class | pixel) = Σ_m p(expert m | pixel) · p(class | expert m)``,
      while the prediction itself keeps the direct head: routing is taught to carry the class without
      narrowing the output;
    - ``texture_energy``: add texture-energy features (:class:`~latentseg.models.blocks.TextureEnergy`:
      ``texture_filters`` filters of ``texture_kernel``² pixels, rectified and pooled) to the 1/4-resolution
      features before the residual blocks, so that a change of pattern is an edge the tokens can see;
    - ``skip``: a light path through the 1/2- and full-resolution encoder features that adds a
      correction to the upsampled coarse logits near edges: logits from 1/4 resolution cap mIoU even
      with perfect classes (:func:`latentseg.analysis.probes.resolution_ceiling` measures the cap).

    Width: 64 channels for features and latents (369k parameters); notebook 06 compares it with 48
    under AdamW and under Muon (:data:`latentseg.training.RECIPE`).
    """

    in_channels: int = 3
    num_classes: int = 4
    stem_dim: int = 16
    mid_dim: int = 32
    feature_dim: int = 64
    latent_dim: int = 64
    num_latents: int = 16
    num_heads: int = 4
    encoder_blocks: int = 2
    rounds: int = 2
    num_frequencies: int = 4
    positional: bool = True
    residual: bool = True
    skip: bool = True
    texture_energy: bool = False
    texture_filters: int = 16
    texture_kernel: int = 9
    routing_weight: float = 0.01
    expert_supervision: float = 0.5

    LIMITS = {"encoder_blocks": 64, "rounds": 16, "num_frequencies": 64, "texture_kernel": 63}
    #: switches that were measured and not kept (docs/experiments.md); a checkpoint that turned one on is refused
    RETIRED = {"dilation_growth": 1, "competition": False, "mask_classification": False}

    def __post_init__(self) -> None:
        super().__post_init__()
        check_divisible("latent_dim", self.latent_dim, self.num_heads)
        if self.texture_kernel % 2 == 0:
            raise ValueError(f"texture_kernel: expected an odd size (the filters are centred), got {self.texture_kernel}")


class ImprovedSegmentationModel(Segmenter):
    """Image ``B×C×H×W`` in ``[0, 1]`` → class logits ``B×num_classes×H×W``.

    1. encoder: full-resolution stem ``B×stem×H×W`` → ``B×mid×H/2×W/2`` → ``B×D×H/4×W/4`` with
       residual blocks (with ``texture_energy``, texture-energy features join before them); tokens
       ``B×N×L`` (``N = h·w``), plus Fourier positions;
    2. ``latent_attn``, ``rounds`` times: the ``M`` latents (experts) read the tokens (cross-attention),
       then each other (``latent_self_attention``) → ``B×M×L``;
    3. ``expert_seg``: every token reads the experts (cross-attention) → ``B×N×L``;
    4. a 1×1 convolution to coarse class logits at ``h×w``, resized (bilinear) to ``H×W``; with
       ``skip``, plus a correction computed from the pixel features fused (1×1 convolutions) with
       the 1/2- and full-resolution encoder features: sharp edges at little cost.

    :meth:`forward_with_attention` gives a :class:`SegmentationOutput`, as for the article's model;
    ``expert_mask`` (``M`` bools) switches experts off: pixels cannot read a masked expert;
    :meth:`forward_with_extras` gives ``(logits, extras)`` for :meth:`auxiliary_loss`.
    """

    config_class = ImprovedConfig
    has_experts = True
    adamw_only = ("stem", "texture", "position", "head", "edge_head", "expert_classes")

    def __init__(self, config: ImprovedConfig | None = None, **overrides: Any) -> None:
        super().__init__()
        self.config = c = ImprovedConfig.merged(config, **overrides)
        self.stem = ConvBlock(c.in_channels, c.stem_dim)
        self.down1 = nn.Sequential(ConvBlock(c.stem_dim, c.mid_dim, stride=2), ConvBlock(c.mid_dim, c.mid_dim))
        self.down2 = nn.Sequential(
            ConvBlock(c.mid_dim, c.feature_dim, stride=2),
            *[ResidualConvBlock(c.feature_dim) for _ in range(c.encoder_blocks)],
        )
        self.texture = TextureEnergy(c.in_channels, c.feature_dim, c.texture_filters,
                                     c.texture_kernel) if c.texture_energy else None
        self.to_tokens = nn.Linear(c.feature_dim, c.latent_dim)
        self.position = nn.Linear(4 * c.num_frequencies, c.latent_dim) if c.positional else None
        self.latents = nn.Parameter(torch.randn(c.num_latents, c.latent_dim))
        self.latent_attn = nn.ModuleList(
            CrossAttentionBlock(c.latent_dim, c.num_heads, residual=c.residual) for _ in range(c.rounds))
        self.latent_self_attention = nn.ModuleList(
            CrossAttentionBlock(c.latent_dim, c.num_heads) for _ in range(c.rounds if c.residual else 0))
        self.expert_seg = CrossAttentionBlock(c.latent_dim, c.num_heads, residual=c.residual)
        if c.skip:
            # a 1×1 convolution of concatenated inputs is a sum of 1×1 convolutions, and those commute with
            # bilinear upsampling: project the coarse input first, then upsample fewer channels
            self.half_from_pixels = nn.Conv2d(c.latent_dim, c.mid_dim, 1, bias=False)
            self.half_from_encoder = nn.Conv2d(c.mid_dim, c.mid_dim, 1, bias=False)
            self.fuse_half = nn.Sequential(nn.BatchNorm2d(c.mid_dim), nn.ReLU(inplace=True),
                                           ConvBlock(c.mid_dim, c.mid_dim))
            self.full_from_half = nn.Conv2d(c.mid_dim, c.stem_dim, 1, bias=False)
            self.full_from_encoder = nn.Conv2d(c.stem_dim, c.stem_dim, 1, bias=False)
            self.fuse_full = nn.Sequential(nn.BatchNorm2d(c.stem_dim), nn.ReLU(inplace=True))
            self.edge_head = nn.Conv2d(c.stem_dim, c.num_classes, 1)
        self.head = nn.Conv2d(c.latent_dim, c.num_classes, 1)
        self.expert_classes = nn.Linear(c.latent_dim, c.num_classes) if c.expert_supervision > 0 else None

    @property
    def has_auxiliary_loss(self) -> bool:
        return self.config.routing_weight > 0 or self.config.expert_supervision > 0

    def forward(self, x: torch.Tensor, expert_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``x``: ``B×C×H×W`` float → logits ``B×K×H×W``; ``expert_mask`` (``M`` bools) switches experts off."""
        return self.trunk(x, expert_mask).logits

    def forward_with_attention(self, x: torch.Tensor, expert_mask: torch.Tensor | None = None) -> SegmentationOutput:
        """As :meth:`forward`, with the last round's attention weights and latents: a :class:`SegmentationOutput`."""
        return self.trunk(x, expert_mask, weights=True).output()

    def forward_with_extras(self, x: torch.Tensor, expert_mask: torch.Tensor | None = None
                            ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``(logits, extras)``: the extras are what :meth:`auxiliary_loss` needs, the routing ``B×N×M``
        and the log-probabilities through the experts ``B×K×h×w``."""
        trunk = self.trunk(x, expert_mask, extras=True)
        return trunk.logits, trunk.extras

    def trunk(self, x: torch.Tensor, expert_mask: torch.Tensor | None = None, *, weights: bool = False,
              extras: bool = False) -> Trunk:
        """Everything one forward pass computes (:class:`Trunk`), for the forward methods and for models
        built on this one; ``weights`` keeps the attention weights, ``extras`` computes the training extras."""
        check_image_batch("x", x, self.config.in_channels, self.min_size)
        expert_mask = check_expert_mask(expert_mask, self.config.num_latents, x.device)
        x = self.standardise(x)
        full = self.stem(x)  # B×stem×H×W
        half = self.down1(full)  # B×mid×H/2×W/2
        if self.texture is None:
            features = self.down2(half)  # B×D×h×w
        else:  # the pattern's energy joins the strided features before the residual blocks
            features = self.down2[1:](self.down2[0](half) + self.texture(x))
        b, _, h, w = features.shape
        tokens = self.to_tokens(features.flatten(2).transpose(1, 2))  # B×N×L
        if self.position is not None:
            tokens = tokens + self.position(fourier_positions(h, w, self.config.num_frequencies, x.device))
        latents = self.latents.expand(b, -1, -1)  # B×M×L
        rounds, reading = [], []
        for i, read in enumerate(self.latent_attn):
            keep, logits = self.reading_mask(latents, tokens)  # None: every latent reads every token
            if logits is not None:
                reading.append(logits)
            latents, latent_w = read(latents, tokens, return_attention=True, key_mask=keep) if weights else (
                read(latents, tokens, key_mask=keep), None)
            if self.config.residual:
                latents = self.latent_self_attention[i](latents, latents)
            rounds.append(latents)
        c = self.config
        need_weights = weights or extras
        out = self.expert_seg(tokens, latents, need_weights, expert_mask)
        pixels, pixel_w = out if need_weights else (out, None)  # B×N×L, B×heads×N×M
        pixels = pixels.transpose(1, 2).reshape(b, -1, h, w)  # B×L×h×w
        wanted = extras and c.expert_supervision > 0
        through_experts = self._through_experts(pixel_w, latents, h, w) if wanted else None
        logits = _resize(self.head(pixels), full)  # B×K×H×W: coarse, from 1/4 resolution
        fine = None
        if self.config.skip:
            fine = self.fuse_half(_resize(self.half_from_pixels(pixels), half) + self.half_from_encoder(half))
            fine = self.fuse_full(_resize(self.full_from_half(fine), full) + self.full_from_encoder(full))  # B×stem×H×W
            logits = logits + self.edge_head(fine)  # the skip path corrects the coarse logits near edges
        training = {"routing": pixel_w.mean(1), "through_experts": through_experts} if extras else {}
        if extras and reading:
            training["reading"] = [m.view(b, -1, h, w) for m in reading]
        return Trunk(logits, rounds, pixels, fine, training, latent_w, pixel_w, (h, w))

    def reading_mask(self, latents: torch.Tensor, tokens: torch.Tensor
                     ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Which tokens ``B×N`` each latent ``B×M×L`` may read in the next round (``B×M×N`` bools) and the
        logits ``B×M×N`` that decided it (kept in the training extras as ``B×M×h×w``); ``(None, None)``
        here: every latent reads every token."""
        return None, None

    def _through_experts(self, pixel_w: torch.Tensor, latents: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """Log-probabilities ``B×K×h×w`` of ``Σ_m p(expert m | pixel) · p(class | expert m)``."""
        class_probs = self.expert_classes(latents).softmax(-1)  # B×M×K
        coarse = (pixel_w.mean(1) @ class_probs).clamp_min(1e-6).log()  # B×N×K
        return coarse.transpose(1, 2).reshape(latents.shape[0], -1, h, w)

    def auxiliary_loss(self, extras: dict[str, torch.Tensor], masks: torch.Tensor,
                       instances: torch.Tensor | None = None) -> torch.Tensor:
        """The training-only losses of one :meth:`forward_with_extras`, against that batch's masks
        ``B×H×W``: ``routing_weight × routing entropy`` plus ``expert_supervision × cross-entropy`` of
        the class predicted through the experts."""
        c = self.config
        loss = c.routing_weight * routing_entropy_loss(extras["routing"])
        if c.expert_supervision > 0:
            through = F.interpolate(extras["through_experts"], size=masks.shape[-2:], mode="bilinear",
                                    align_corners=False).contiguous()  # nll_loss's backward needs it
            loss = loss + c.expert_supervision * F.nll_loss(through, masks, ignore_index=IGNORE_INDEX)
        return loss


class Trunk(NamedTuple):
    """One forward pass of the improved model: ``logits`` ``B×K×H×W``; the latents after each round of
    reading, ``rounds`` (``B×M×L`` each); the tokens after reading the experts, ``pixels``
    ``B×L×h×w``; the skip path's full-resolution features ``fine`` ``B×stem×H×W`` (``None`` without
    ``skip``); the training ``extras``; and, when asked for, the attention weights of the last round
    (latent ``B×heads×M×N``, pixel ``B×heads×N×M``) on the feature grid ``grid`` = ``(h, w)``."""

    logits: torch.Tensor
    rounds: list[torch.Tensor]
    pixels: torch.Tensor
    fine: torch.Tensor | None
    extras: dict[str, torch.Tensor]
    latent_weights: torch.Tensor | None
    pixel_weights: torch.Tensor | None
    grid: tuple[int, int]

    def output(self) -> SegmentationOutput:
        """The :class:`SegmentationOutput` of ``forward_with_attention``."""
        return SegmentationOutput.from_token_weights(self.logits, self.latent_weights, self.pixel_weights, self.rounds[-1],
                                                     *self.grid)


def _resize(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


def routing_entropy_loss(routing: torch.Tensor) -> torch.Tensor:
    """Mean per-pixel entropy of routing ``B×N×M`` (rows sum to 1) as a share of ``ln M``, in ``[0, 1]``.

    Minimising it asks every pixel to read mostly one expert. It does not ask for balanced use of the
    experts: with one class covering most pixels, balance would force experts to split that class.
    """
    p = routing.clamp_min(1e-9)
    return -(p * p.log()).sum(-1).mean() / math.log(routing.shape[-1])
