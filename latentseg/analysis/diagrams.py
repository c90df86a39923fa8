"""A picture of the idea: the latent-expert model drawn from a real forward pass, so every shape on
it is the model's own (image → encoder → N tokens → M experts read them → every token reads the
experts → class logits)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Rectangle

from ..device import eval_mode
from .plots import expert_colours, to_rgb

STEPS = ("encoder", "latent attention", "expert segmentation")
_GRID = 6  # tokens drawn per side (a stand-in for the h×w grid)
_SHOWN_EXPERTS = 6


@torch.no_grad()
def model_shapes(model: torch.nn.Module, image_size: int = 64) -> dict[str, tuple[int, ...]]:
    """Shapes of one forward pass on a ``1×3×image_size×image_size`` image: ``image``, ``grid`` (h, w),
    ``tokens`` (N, feature dim), ``experts`` (M, latent dim), ``coarse`` (K, h, w), ``logits`` (K, H, W)."""
    with eval_mode(model):
        out = model.forward_with_attention(torch.zeros(1, model.config.in_channels, image_size, image_size))
    m, h, w = out.pixel_attention.shape[-3:]
    k = out.logits.shape[1]
    return {"image": (model.config.in_channels, image_size, image_size), "grid": (h, w),
            "tokens": (h * w, model.config.feature_dim), "experts": (m, out.latents.shape[-1]),
            "coarse": (k, h, w), "logits": tuple(out.logits.shape[1:])}


def _box(ax, x: float, y: float, w: float, h: float, title: str, lines: str, on: bool) -> None:
    colour = "#fff3c4" if on else "#f2f2f2"
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02", facecolor=colour,
                                edgecolor="black" if on else "0.6", linewidth=2 if on else 1))
    ax.text(x + w / 2, y + h - 0.06, title, ha="center", va="top", fontsize=9, weight="bold")
    ax.text(x + w / 2, y + 0.05, lines, ha="center", va="bottom", fontsize=8)


def _arrow(ax, start: tuple[float, float], end: tuple[float, float], colour="black", width=1.2) -> None:
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=10, color=colour, linewidth=width))


def _token_grid(ax, x: float, y: float, size: float) -> list[tuple[float, float]]:
    cell = size / _GRID
    centres = []
    for i in range(_GRID):
        for j in range(_GRID):
            ax.add_patch(Rectangle((x + j * cell, y + i * cell), cell * 0.9, cell * 0.9, facecolor="#9ecae1",
                                   edgecolor="none"))
            centres.append((x + (j + 0.45) * cell, y + (i + 0.45) * cell))
    return centres


def plot_architecture(model: torch.nn.Module, image: torch.Tensor | None = None, image_size: int = 64,
                         highlight: str | None = None) -> Figure:
    """The model as boxes and arrows, with the shapes of a real forward pass printed on it.

    ``image`` (``3×H×W``, optional) is drawn as the input; ``highlight`` is one of :data:`STEPS`, the
    step a notebook is about. The middle shows the idea: ``N`` tokens (a grid) are read by ``M``
    experts (circles; latent attention, ``M×N`` weights), then every token reads the experts (expert
    segmentation, ``N×M`` weights).
    """
    if highlight is not None and highlight not in STEPS:
        raise ValueError(f"highlight: expected one of {STEPS} or None, got {highlight!r}")
    if image is not None:
        image_size = image.shape[-1]
    shapes = model_shapes(model, image_size)
    (n, d), (m, l_dim), (k, h, w) = shapes["tokens"], shapes["experts"], shapes["coarse"]
    fig = plt.figure(figsize=(12, 3.4))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set(xlim=(0, 12), ylim=(0, 3.4))
    ax.set_axis_off()
    # input
    if image is not None:
        ax.imshow(to_rgb(image), extent=(0.15, 1.35, 1.1, 2.3))
    else:
        ax.add_patch(Rectangle((0.15, 1.1), 1.2, 1.2, facecolor="0.85"))
    ax.text(0.75, 0.85, "image\n" + "×".join(map(str, shapes["image"])), ha="center", va="top", fontsize=8)
    _box(ax, 1.7, 0.9, 1.6, 1.6, "encoder", f"{d}×{h}×{w}\nflattened: N={n} tokens\n× {d}", highlight == "encoder")
    _arrow(ax, (1.38, 1.7), (1.68, 1.7))
    # the idea: tokens → experts → tokens
    rounds = getattr(model.config, "rounds", 1)
    title = "latent attention, then expert segmentation" + (f" ({rounds} rounds)" if rounds > 1 else "")
    _box(ax, 3.6, 0.25, 5.5, 2.95, title, "", highlight in STEPS[1:])
    left = _token_grid(ax, 3.8, 1.0, 1.2)
    right = _token_grid(ax, 7.7, 1.0, 1.2)
    colours = expert_colours(m)
    ys = np.linspace(2.55, 0.85, min(m, _SHOWN_EXPERTS))
    experts = [(6.35, y) for y in ys]
    for e, (x, y) in enumerate(experts):
        ax.add_patch(Circle((x, y), 0.12, facecolor=colours[e], edgecolor="0.3", zorder=3))
    ax.text(6.35, 0.55, f"M={m} experts × {l_dim}" + (" (some drawn)" if m > _SHOWN_EXPERTS else ""),
            ha="center", fontsize=8)
    rng = np.random.default_rng(0)
    read = highlight in (None, "latent attention")
    write = highlight in (None, "expert segmentation")
    for e, target in enumerate(experts):  # each expert reads a few tokens (its attention over all N)
        for t in rng.choice(len(left), 3, replace=False):
            ax.plot([left[t][0], target[0]], [left[t][1], target[1]], color=colours[e][:3] * 0.7,
                    linewidth=0.8 if read else 0.4, alpha=0.8 if read else 0.3)
    for t in rng.choice(len(right), 5, replace=False):  # a few tokens read every expert
        for source in experts:
            ax.plot([source[0], right[t][0]], [source[1], right[t][1]], color="0.35",
                    linewidth=0.6 if write else 0.3, alpha=0.6 if write else 0.25)
    ax.text(4.45, 2.45, f"experts read the\nN tokens: {m}×{n} weights", ha="center", fontsize=7.5,
            weight="bold" if highlight == "latent attention" else "normal")
    ax.text(8.3, 2.45, f"each token reads the\nM experts: {n}×{m} weights", ha="center", fontsize=7.5,
            weight="bold" if highlight == "expert segmentation" else "normal")
    _arrow(ax, (3.32, 1.7), (3.78, 1.6))
    # output
    _box(ax, 9.4, 0.9, 1.3, 1.6, "head", f"class logits\n{k}×{h}×{w}", False)
    _arrow(ax, (9.12, 1.6), (9.38, 1.7))
    _arrow(ax, (10.72, 1.7), (11.0, 1.7))
    ax.text(11.45, 1.7, "resize\n→ " + "×".join(map(str, shapes["logits"])), ha="center", va="center", fontsize=8)
    return fig
