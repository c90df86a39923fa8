"""Building blocks of the improved model: multi-head attention on SDPA, pre-norm residual blocks,
convolution blocks, a texture-energy branch and 2-D Fourier positions."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_divisible, check_positive_int


class MultiHeadAttention(nn.Module):
    """Multi-head attention through ``F.scaled_dot_product_attention``.

    forward: queries ``B×Q×dim``, keys/values ``B×N×context_dim`` → ``B×Q×dim``; with
    ``return_attention=True`` also the weights ``B×heads×Q×N`` (rows sum to 1 over ``N``), computed
    explicitly, since the fused kernel does not return them. ``key_mask`` (bools, ``True`` = keep) hides
    keys: ``N`` from every query (e.g. experts switched off), or ``B×Q×N`` from each query its own
    (masked attention); every query must keep at least one key.
    """

    def __init__(self, dim: int, num_heads: int, context_dim: int | None = None) -> None:
        super().__init__()
        check_positive_int("dim", dim)
        check_positive_int("num_heads", num_heads)
        check_divisible("dim", dim, num_heads)
        context_dim = dim if context_dim is None else check_positive_int("context_dim", context_dim)
        self.num_heads = num_heads
        self.to_q = nn.Linear(dim, dim)
        self.to_kv = nn.Linear(context_dim, 2 * dim)
        self.out = nn.Linear(dim, dim)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        return x.view(b, n, self.num_heads, d // self.num_heads).transpose(1, 2)  # B×heads×n×d/heads

    def forward(
        self, x: torch.Tensor, context: torch.Tensor, return_attention: bool = False,
        key_mask: torch.Tensor | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        q = self._split(self.to_q(x))
        k, v = (self._split(t) for t in self.to_kv(context).chunk(2, dim=-1))
        bias = None
        if key_mask is not None:  # N → 1×N, broadcast over queries; B×Q×N → B×1×Q×N, over heads
            shape = (1, key_mask.shape[-1]) if key_mask.dim() == 1 else (key_mask.shape[0], 1, *key_mask.shape[1:])
            bias = torch.zeros(shape, dtype=q.dtype, device=q.device).masked_fill(~key_mask.view(shape), float("-inf"))
        if return_attention:
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
            weights = (scores if bias is None else scores + bias).softmax(dim=-1)  # B×heads×Q×N
            out = weights @ v
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        out = self.out(out.transpose(1, 2).flatten(2))  # B×Q×dim
        return (out, weights) if return_attention else out


class MLP(nn.Sequential):
    """``…×dim`` → ``…×dim`` through a hidden layer ``ratio·dim`` wide with GELU."""

    def __init__(self, dim: int, ratio: int = 2) -> None:
        super().__init__(nn.Linear(dim, ratio * dim), nn.GELU(), nn.Linear(ratio * dim, dim))


class CrossAttentionBlock(nn.Module):
    """Pre-norm transformer block: ``x = x + attn(LN(x), LN(context))``, then ``x = x + MLP(LN(x))``.

    With ``residual=False`` it is the article's bare form, ``x = attn(x, context)``, kept for the ablation.
    forward: ``x`` ``B×Q×dim``, ``context`` ``B×N×context_dim`` → ``B×Q×dim`` (and weights ``B×heads×Q×N``).
    """

    def __init__(
        self, dim: int, num_heads: int, context_dim: int | None = None, residual: bool = True) -> None:
        super().__init__()
        self.residual = residual
        self.attention = MultiHeadAttention(dim, num_heads, context_dim)
        if residual:
            self.norm_x = nn.LayerNorm(dim)
            self.norm_context = nn.LayerNorm(dim if context_dim is None else context_dim)
            self.norm_mlp = nn.LayerNorm(dim)
            self.mlp = MLP(dim)

    def forward(
        self, x: torch.Tensor, context: torch.Tensor, return_attention: bool = False,
        key_mask: torch.Tensor | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        if not self.residual:
            return self.attention(x, context, return_attention, key_mask)
        out = self.attention(self.norm_x(x), self.norm_context(context), return_attention, key_mask)
        out, weights = out if return_attention else (out, None)
        x = x + out
        x = x + self.mlp(self.norm_mlp(x))
        return (x, weights) if return_attention else x


class ConvBlock(nn.Sequential):
    """3×3 convolution (stride 1 or 2), batch norm, ReLU: ``B×in×H×W`` → ``B×out×H/stride×W/stride``."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class ResidualConvBlock(nn.Module):
    """Two 3×3 convolutions with a skip connection: ``B×C×H×W`` → ``B×C×H×W``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.norm1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.norm2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.norm1(self.conv1(x)))
        return F.relu(x + self.norm2(self.conv2(out)))


class TextureEnergy(nn.Module):
    """Filter, rectify, pool — the classic texture-energy features (Malik and Perona, 1990):
    image ``B×C×H×W`` → ``B×out×⌈H/4⌉×⌈W/4⌉``, the grid of the improved model's tokens.

    ``filters`` learned ``kernel×kernel`` filters; the absolute value of their response, so that a
    stripe's light and dark bars give the same energy; its mean over 8×8 windows every 4 pixels; batch
    norm and a 1×1 projection to ``out`` channels. A region's pattern (orientation, period, contrast)
    becomes a feature that is nearly constant inside the region and changes at its edge, where 3×3
    convolutions on pixel values reach that only through several layers.
    """

    stride = 4

    def __init__(self, in_channels: int, out_channels: int, filters: int = 16, kernel: int = 9) -> None:
        super().__init__()
        check_positive_int("filters", filters)
        if not isinstance(kernel, int) or isinstance(kernel, bool) or kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"kernel: expected an odd positive int, got {kernel!r}")
        self.filters = nn.Conv2d(in_channels, filters, kernel, padding=kernel // 2, bias=False)
        self.norm = nn.BatchNorm2d(filters)
        self.project = nn.Conv2d(filters, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        energy = self.filters(x).abs()  # B×filters×H×W
        s = self.stride  # ceil_mode: ⌈H/4⌉ rows, as two stride-2 convolutions give
        energy = F.avg_pool2d(energy, 2 * s, s, padding=s // 2, ceil_mode=True, count_include_pad=False)
        return self.project(self.norm(energy))


def fourier_positions(h: int, w: int, num_frequencies: int, device: torch.device | None = None) -> torch.Tensor:
    """Sines and cosines of pixel coordinates scaled to ``[-1, 1]``: ``(h·w)×(4·num_frequencies)``.

    They depend on the relative position only, so a model trained at 64×64 still knows "left edge"
    and "centre" at any other size.
    """
    ys = torch.linspace(-1, 1, h, device=device)
    xs = torch.linspace(-1, 1, w, device=device)
    grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij"), dim=-1).view(-1, 2)  # N×2
    freqs = math.pi * 2.0 ** torch.arange(num_frequencies, device=device)  # F
    angles = (grid[:, :, None] * freqs).flatten(1)  # N×2F
    return torch.cat([angles.sin(), angles.cos()], dim=-1)
