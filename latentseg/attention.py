"""The seed's two cross-attentions: latents read the pixels, then pixels read the latents.

Both keep ``nn.MultiheadAttention`` as in the seed. Ask for ``return_attention=True`` to get the
attention weights of every head (softmax probabilities, before dropout).
"""

from __future__ import annotations

import torch
from torch import nn

from .checks import check_positive_int, check_tokens
from .config import check_divisible


def _check_heads(latent_dim: int, num_heads: int) -> None:
    check_positive_int("latent_dim", latent_dim)
    check_positive_int("num_heads", num_heads)
    check_divisible("latent_dim", latent_dim, num_heads)


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
        _check_heads(latent_dim, num_heads)
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
        _check_heads(latent_dim, num_heads)
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
