"""How attention's cost grows with the number of pixels: latent cross-attention against full pixel
self-attention, and the fused SDPA path against ``nn.MultiheadAttention``, timed side by side.

One *step* is a forward and backward pass of one attention layer on ``B×N×dim`` pixel tokens:

- ``latent``: ``M`` learned latents read the ``N`` tokens (:class:`~latentseg.models.blocks.MultiHeadAttention`,
  on ``F.scaled_dot_product_attention``). Cost ``O(M·N)``: linear in pixels.
- ``latent_mha``: the same through ``nn.MultiheadAttention`` (the article's form, ``need_weights=False``).
- ``full``: every token reads every token through SDPA. Cost ``O(N²)``.
- ``full_weights``: the same with the ``N×N`` weights materialised (``return_attention=True``, as when
  you plot them): the fused kernel avoids storing them, this path cannot.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import torch
from torch import nn

from ..checks import check_positive_int
from ..device import pick_device, synchronize
from ..models.blocks import MultiHeadAttention

KINDS = ("latent", "latent_mha", "full", "full_weights")


def mha_as_sdpa(mha: nn.MultiheadAttention) -> MultiHeadAttention:
    """A :class:`MultiHeadAttention` with ``mha``'s weights: the same function, computed through SDPA.

    ``nn.MultiheadAttention`` packs the query, key and value projections in one ``3·dim×dim`` matrix;
    here the query projection is one ``Linear`` and key and value share another.
    """
    if not mha._qkv_same_embed_dim or mha.in_proj_bias is None or mha.bias_k is not None:
        raise ValueError("mha: expected nn.MultiheadAttention with equal q/k/v sizes, biases, no add_bias_kv")
    dim = mha.embed_dim
    sdpa = MultiHeadAttention(dim, mha.num_heads).to(mha.in_proj_weight.device, mha.in_proj_weight.dtype)
    with torch.no_grad():
        sdpa.to_q.weight.copy_(mha.in_proj_weight[:dim])
        sdpa.to_q.bias.copy_(mha.in_proj_bias[:dim])
        sdpa.to_kv.weight.copy_(mha.in_proj_weight[dim:])
        sdpa.to_kv.bias.copy_(mha.in_proj_bias[dim:])
        sdpa.out.weight.copy_(mha.out_proj.weight)
        sdpa.out.bias.copy_(mha.out_proj.bias)
    return sdpa


def attention_step(
    kind: str, tokens: int, dim: int = 64, heads: int = 4, num_latents: int = 16, batch: int = 8,
    device: str | torch.device | None = "cpu", seed: int = 0,
) -> Callable[[], torch.Tensor]:
    """A function running one forward+backward step of ``kind`` on ``batch×tokens×dim`` random tokens."""
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {KINDS}, got {kind!r}")
    for name, value in (("tokens", tokens), ("dim", dim), ("heads", heads), ("num_latents", num_latents),
                        ("batch", batch)):
        check_positive_int(name, value)
    device = pick_device(device)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, tokens, dim, generator=g).to(device).requires_grad_()
    latents = torch.randn(1, num_latents, dim, generator=g).to(device).requires_grad_()
    torch.manual_seed(seed)
    if kind == "latent_mha":
        mha = nn.MultiheadAttention(dim, heads, batch_first=True).to(device)

        def forward() -> torch.Tensor:
            return mha(latents.expand(batch, -1, -1), x, x, need_weights=False)[0]
    else:
        attention = MultiHeadAttention(dim, heads).to(device)
        if kind == "latent":
            def forward() -> torch.Tensor:
                return attention(latents.expand(batch, -1, -1), x)
        elif kind == "full":
            def forward() -> torch.Tensor:
                return attention(x, x)
        else:
            def forward() -> torch.Tensor:
                return attention(x, x, return_attention=True)[0]

    def step() -> torch.Tensor:
        out = forward()
        out.sum().backward()
        return out

    return step


def saved_megabytes(step: Callable[[], torch.Tensor]) -> float:
    """MiB of tensors autograd keeps for the backward pass of one ``step``."""
    saved = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal saved
        saved += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        step()
    return saved / 2**20


def time_steps(steps: dict[str, Callable[[], torch.Tensor]], repeats: int = 5,
               device: str | torch.device | None = "cpu") -> dict[str, float]:
    """Median seconds per call of each function, run interleaved (so a busy moment of the machine hits
    all of them alike) after one warm-up call each."""
    check_positive_int("repeats", repeats)
    device = pick_device(device)
    times: dict[str, list[float]] = {name: [] for name in steps}
    for step in steps.values():
        step()
    for _ in range(repeats):
        for name, step in steps.items():
            synchronize(device)
            start = time.perf_counter()
            step()
            synchronize(device)
            times[name].append(time.perf_counter() - start)
    return {name: sorted(t)[len(t) // 2] for name, t in times.items()}


def loglog_slope(x: Sequence[float], y: Sequence[float]) -> float:
    """Least-squares slope of ``log y`` against ``log x``: the exponent ``p`` in ``y ∝ x^p``."""
    if len(x) != len(y) or len(x) < 2:
        raise ValueError(f"x, y: expected two sequences of equal length ≥ 2, got {len(x)} and {len(y)}")
    lx, ly = [math.log(v) for v in x], [math.log(v) for v in y]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=True)) / sum((a - mx) ** 2 for a in lx)


def attention_scaling(
    token_counts: Sequence[int], kinds: Sequence[str] = KINDS, dim: int = 64, heads: int = 4, num_latents: int = 16,
    batch: int = 8, repeats: int = 5, device: str | torch.device | None = "cpu", max_full_tokens: int = 4096,
    max_weights_tokens: int = 1024,
) -> dict[str, object]:
    """Seconds and saved MiB per step for each kind at each token count, and each kind's log-log slope.

    Full self-attention is skipped above ``max_full_tokens`` tokens, and with materialised weights
    above ``max_weights_tokens`` (at 4096 tokens and batch 8 they alone take 4 GiB): their cost is
    what this shows. On CUDA rows also hold ``peak_mb``, the allocator's peak during one step.
    Returns ``{"rows": [{kind, tokens, seconds, saved_mb}, …], "slopes": {kind: {seconds, saved_mb, tokens}}}``.
    """
    device = pick_device(device)
    limits = {"full": max_full_tokens, "full_weights": max_weights_tokens}
    rows = []
    for tokens in token_counts:
        chosen = [k for k in kinds if tokens <= limits.get(k, tokens)]
        steps = {k: attention_step(k, tokens, dim, heads, num_latents, batch, device) for k in chosen}
        seconds = time_steps(steps, repeats, device)
        for kind in chosen:
            row = {"kind": kind, "tokens": tokens, "seconds": seconds[kind], "saved_mb": saved_megabytes(steps[kind])}
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
                steps[kind]()
                row["peak_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
            rows.append(row)
    slopes = {}
    for kind in kinds:
        mine = [r for r in rows if r["kind"] == kind]
        if len(mine) >= 2:
            n = [r["tokens"] for r in mine]
            slopes[kind] = {"seconds": loglog_slope(n, [r["seconds"] for r in mine]),
                            "saved_mb": loglog_slope(n, [r["saved_mb"] for r in mine]),
                            "tokens": [min(n), max(n)]}
    return {"rows": rows, "slopes": slopes}


def attention_flops(num_queries: int, num_keys: int, dim: int) -> int:
    """Multiply-adds of one attention's two products, ``Q·Kᵀ`` and ``weights·V``: ``2·Nq·Nk·dim``."""
    return 2 * num_queries * num_keys * dim


@torch.no_grad()
def time_attention(num_queries: int, num_keys: int, dim: int = 64, heads: int = 4, repeats: int = 5) -> float:
    """Median seconds of one ``nn.MultiheadAttention`` call with ``num_queries`` queries over ``num_keys`` tokens."""
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(dim, heads, batch_first=True).eval()
    q, kv = torch.randn(1, num_queries, dim), torch.randn(1, num_keys, dim)
    return time_steps({"attention": lambda: mha(q, kv, kv, need_weights=False)}, repeats, "cpu")["attention"]
