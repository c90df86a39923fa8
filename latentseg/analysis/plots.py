"""Pictures: masks in colour, predictions beside ground truth, training curves, confusion, attention maps."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.colors import BoundaryNorm, ListedColormap, hsv_to_rgb
from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator, NullFormatter

from ..files import atomic_path

# background dark grey, then clearly separable colours (colour-blind friendly first four); white is "ignore"
PALETTE = np.array(
    [[40, 40, 40], [230, 159, 0], [86, 180, 233], [0, 158, 115], [240, 228, 66], [0, 114, 178],
     [213, 94, 0], [204, 121, 167]], dtype=np.uint8)
IGNORE_COLOUR = np.array([255, 255, 255], dtype=np.uint8)


def class_colours(num_classes: int) -> np.ndarray:
    """``num_classes×3`` uint8 colours, one per class: :data:`PALETTE` first, then hues spread by the
    golden ratio (distinct for any count, never white)."""
    extra = max(num_classes - len(PALETTE), 0)
    hues = (np.arange(extra) * 0.618034) % 1
    more = plt.cm.hsv(hues)[:, :3] * np.where(np.arange(extra) % 2, 0.75, 0.95)[:, None]  # alternate brightness
    return np.concatenate([PALETTE, (more * 255).round().astype(np.uint8)])[:num_classes]


def expert_colours(num_experts: int) -> np.ndarray:
    """``num_experts×4`` RGBA floats, one per expert: pastel tones, hues evenly spaced around the wheel,
    alternate experts light and dark (so neighbouring hues never look alike); kept apart from the
    saturated :func:`class_colours`, so that an expert map is never read as a class map, and from the
    grey that means "switched off"."""
    k = np.arange(num_experts)
    light = k % 2 == 0
    hsv = np.stack([(k / num_experts + 0.125) % 1, np.where(light, 0.4, 0.6), np.where(light, 1.0, 0.75)], axis=1)
    return np.concatenate([hsv_to_rgb(hsv), np.ones((num_experts, 1))], axis=1)


def expert_cmap(num_experts: int) -> tuple[ListedColormap, BoundaryNorm]:
    """Colour map and norm for maps of expert indices ``0…num_experts−1`` (``imshow(..., cmap=, norm=)``)."""
    return ListedColormap(expert_colours(num_experts)), BoundaryNorm(np.arange(num_experts + 1) - 0.5, num_experts)


def expert_key(fig: Figure, axes, num_experts: int, label: str = "expert") -> None:
    """A colour bar naming each expert's colour, under ``axes``."""
    cmap, norm = expert_cmap(num_experts)
    bar = fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=axes, orientation="horizontal",
                       fraction=0.05, pad=0.04, ticks=range(0, num_experts, max(1, num_experts // 8)))
    bar.set_label(label, fontsize=8)
    bar.ax.tick_params(labelsize=7)


def colourize(mask: torch.Tensor | np.ndarray) -> np.ndarray:
    """Class map ``H×W`` → RGB ``H×W×3`` uint8, one colour per class (:func:`class_colours`, any number
    of classes); ignored pixels, 255, are white."""
    mask = np.asarray(mask.cpu() if isinstance(mask, torch.Tensor) else mask).astype(np.int64)
    ignored = mask == 255
    classes = np.where(ignored, 0, mask.clip(min=0))
    colours = class_colours(int(classes.max(initial=0)) + 1)[classes]
    return np.where(ignored[..., None], IGNORE_COLOUR, colours).astype(np.uint8)


def to_rgb(image: torch.Tensor) -> np.ndarray:
    """Image ``3×H×W`` (any range) → ``H×W×3`` floats in [0, 1] for ``imshow``."""
    image = image.detach().float().cpu()
    lo, hi = float(image.min()), float(image.max())
    if lo < 0 or hi > 1:  # e.g. randn noise: stretch to the visible range
        image = (image - lo) / max(hi - lo, 1e-8)
    return image.permute(1, 2, 0).numpy()


def _legend(ax: plt.Axes, class_names: Sequence[str]) -> None:
    handles = [plt.Rectangle((0, 0), 1, 1, color=c / 255) for c in class_colours(len(class_names))]
    ax.legend(handles, class_names, loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8, frameon=False)


def plot_predictions(
    images: torch.Tensor, masks: torch.Tensor, predictions: torch.Tensor | None, class_names: Sequence[str]
) -> Figure:
    """Columns of image / ground truth / prediction for ``B×3×H×W``, ``B×H×W``, ``B×H×W``.

    With ``predictions=None`` only images and ground truth are drawn.
    """
    n = images.shape[0]
    rows = [("image", None), ("truth", masks)] + ([("prediction", predictions)] if predictions is not None else [])
    fig, axes = plt.subplots(len(rows), n, figsize=(1.6 * n + 1.2, 1.7 * len(rows)), squeeze=False)
    for i in range(n):
        axes[0, i].imshow(to_rgb(images[i]))
        for row, (_, maps) in enumerate(rows[1:], start=1):
            axes[row, i].imshow(colourize(maps[i]), interpolation="nearest")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for row, (label, _) in enumerate(rows):
        axes[row, 0].set_ylabel(label)
    _legend(axes[0, -1], class_names)
    fig.tight_layout()
    return fig


def plot_history(history, title: str = "") -> Figure:
    """Training and validation loss, and validation mIoU, against epochs — or against training steps
    where the history has records within an epoch (``fit(..., val_every=…)``)."""
    fig, (ax_loss, ax_iou) = plt.subplots(1, 2, figsize=(9, 3.2))
    epochs = history["epoch"]
    x, xlabel = (epochs, "epoch") if len(set(epochs)) == len(epochs) else (history["step"], "training step")
    ax_loss.plot(x, history["train_loss"], "o-", label="train: the recipe's loss")
    if "val_loss" in history.last:
        ax_loss.plot(x, history["val_loss"], "o-", label="validation: plain cross-entropy")
        ax_iou.plot(x, history["val_miou"], "o-", color="C2")
    ax_loss.set(xlabel=xlabel, ylabel="loss", title="loss")
    ax_iou.set(xlabel=xlabel, ylabel="mIoU", title="validation mIoU", ylim=(0, 1))
    ax_loss.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_confusion(confusion: Sequence[Sequence[int]], class_names: Sequence[str]) -> Figure:
    """Row-normalised confusion matrix: where each true class's pixels went."""
    counts = np.asarray(confusion, dtype=np.float64)
    rates = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(4.2, 3.6))
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(class_names)):
        for j in range(len(class_names)):
            ax.text(j, i, f"{rates[i, j]:.2f}", ha="center", va="center",
                    color="white" if rates[i, j] > 0.5 else "black", fontsize=8)
    ax.set_xticks(range(len(class_names)), class_names, rotation=30)
    ax.set_yticks(range(len(class_names)), class_names)
    ax.set(xlabel="predicted", ylabel="true")
    fig.tight_layout()
    return fig


def plot_attention_maps(image: torch.Tensor, maps: torch.Tensor, titles: Sequence[str] | None = None, cols: int = 8,
                 label: str = "attention weight") -> Figure:
    """Attention maps ``M×h×w`` upsampled and laid over ``image`` ``3×H×W``, one panel each, on one
    shared colour scale (0 to the largest weight of any map) with a colour bar: equal colours are
    equal weights in every panel."""
    m = maps.shape[0]
    rows = -(-m // cols)
    size = image.shape[-2:]
    up = F.interpolate(maps[:, None].float().cpu(), size=size, mode="nearest")[:, 0]
    fig, axes = plt.subplots(rows, cols, figsize=(1.5 * cols, 1.6 * rows + 0.5), squeeze=False, layout="constrained")
    rgb = to_rgb(image)
    top = float(up.max()) or 1.0
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < m:
            ax.imshow(rgb)
            shown = ax.imshow(up[k].numpy(), cmap="magma", alpha=0.65, vmin=0, vmax=top)
            ax.set_title(titles[k] if titles else f"expert {k}", fontsize=8)
    bar = fig.colorbar(shown, ax=axes, orientation="horizontal", fraction=0.04, pad=0.02, aspect=60)
    bar.set_label(f"{label} (one scale for every panel)", fontsize=8)
    return fig


def plot_curves(curves: dict[str, list[list[float]]], target: float | None = None, title: str = "",
                xlabel: str = "training seconds") -> Figure:
    """Validation mIoU against training seconds (or what ``xlabel`` names, e.g. steps), one line per
    model; ``curves[name]`` is ``[[x, miou], …]``."""
    fig, ax = plt.subplots(figsize=(7.5, 3.6), layout="constrained")
    for name, curve in curves.items():
        seconds, miou = zip(*curve, strict=True) if curve else ((), ())
        ax.plot(seconds, miou, "o-", markersize=3, label=name)
    if target is not None:
        ax.axhline(target, color="grey", linestyle="--", linewidth=1, label=f"target {target:.2f}")
    ax.set(xlabel=xlabel, ylabel="validation mIoU", ylim=(0, 1), title=title or f"quality against {xlabel.split()[-1]}")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)  # outside: never over a curve
    return fig


def plot_assignments(images: torch.Tensor, masks: torch.Tensor, assignments: dict[str, torch.Tensor]) -> Figure:
    """Rows of image, ground truth, then each model's argmax-expert map (``B×h×w`` expert indices).

    Each expert gets its own colour (:func:`expert_colours`, never a class colour; the key underneath);
    a model whose experts own shapes shows their outlines.
    """
    cols = 2 + len(assignments)
    num_experts = max(int(a.max()) + 1 for a in assignments.values()) if assignments else 1
    cmap, norm = expert_cmap(num_experts)
    fig, axes = plt.subplots(len(images), cols, figsize=(1.8 * cols, 1.8 * len(images) + 0.6), squeeze=False,
                             layout="constrained")
    for row, (image, mask) in enumerate(zip(images, masks, strict=True)):
        panels = [("image", to_rgb(image)), ("ground truth", colourize(mask))]
        panels += [(name, a[row].cpu().numpy()) for name, a in assignments.items()]
        for ax, (title, picture) in zip(axes[row], panels, strict=True):
            if picture.ndim == 2:
                ax.imshow(picture, cmap=cmap, norm=norm, interpolation="nearest")
            else:
                ax.imshow(picture)
            ax.set_axis_off()
            if row == 0:
                ax.set_title(title, fontsize=9)
    expert_key(fig, axes[-1, 2:] if assignments else axes[-1], num_experts, "winning expert")
    return fig


#: the explorer's panels, in the order of ``Figure.axes``: four pictures of the image, then two bar charts
EXPLORER_PANELS = ("attention", "argmax expert", "ground truth", "prediction", "usage", "probe")


@dataclass
class ExplorerView:
    """What the explorer draws (:func:`plot_explorer`): an ``image`` ``3×H×W`` with ``attention`` over it
    (an attention map ``h×w``, or any map in ``[0, 1]``, e.g. an expert's object mask ``H×W``), an expert
    map ``experts`` (argmax expert ``h×w``, or the owning expert of every object's pixels ``H×W``, −1 left
    blank), ground truth ``mask`` and ``prediction`` (``H×W``), expert ``usage`` (``M`` shares) with the
    experts switched on (``enabled``, ``M`` booleans) and, at the pixel ``probe`` = (row, col), its
    attention over the experts ``probe_weights`` ``heads×M``."""

    image: torch.Tensor
    mask: torch.Tensor
    prediction: torch.Tensor
    attention: torch.Tensor
    experts: torch.Tensor
    usage: torch.Tensor
    enabled: torch.Tensor
    probe: tuple[int, int] | None = None
    probe_weights: torch.Tensor | None = None
    attention_title: str = "attention"
    map_title: str = "argmax expert"


def plot_explorer(view: ExplorerView, class_names: Sequence[str]) -> Figure:
    """The explorer's view (panels :data:`EXPLORER_PANELS`): the image under its attention map, the
    expert map, ground truth, prediction, expert usage (switched-off experts grey) and the probed
    pixel's attention over the experts (bars: mean of heads; dots: each head; the winner outlined)."""
    image, attention, assignment, usage, probe = view.image, view.attention, view.experts, view.usage, view.probe
    fig = Figure(figsize=(13, 3.4))  # no pyplot: nothing to close, and no tight_layout, which is slow
    grid = fig.add_gridspec(1, 6, width_ratios=[1, 1, 1, 1, 1.3, 1.3], left=0.01, right=0.99, bottom=0.27,
                            top=0.84, wspace=0.22)
    axes = [fig.add_subplot(grid[0, k]) for k in range(6)]
    rgb = to_rgb(image)
    up = F.interpolate(attention[None, None].float().cpu(), size=rgb.shape[:2], mode="nearest")[0, 0]
    axes[0].imshow(rgb)
    axes[0].imshow(up.numpy(), cmap="magma", alpha=0.6)
    cmap, norm = expert_cmap(len(usage))
    experts_map = np.ma.masked_less(assignment.cpu().numpy(), 0)  # −1: no expert, left blank
    axes[1].imshow(experts_map, cmap=cmap, norm=norm, interpolation="nearest",
                   extent=(-0.5, rgb.shape[1] - 0.5, rgb.shape[0] - 0.5, -0.5))
    axes[2].imshow(colourize(view.mask))
    axes[3].imshow(colourize(view.prediction))
    for ax, title in zip(axes[:4], [view.attention_title, view.map_title, "ground truth", "prediction"], strict=True):
        ax.set_title(title, fontsize=10)
        ax.set_axis_off()
        if probe is not None:
            ax.plot(probe[1], probe[0], marker="+", markersize=14, markeredgewidth=2, color="cyan")
    experts = range(len(usage))
    shown = zip(expert_colours(len(usage)), view.enabled.tolist(), strict=True)
    colours = [tuple(c) if on else (0.8, 0.8, 0.8, 1) for c, on in shown]
    axes[4].bar(experts, usage.cpu().numpy(), color=colours, edgecolor="0.35", linewidth=0.5)
    axes[4].set(ylim=(0, 1), xticks=range(0, len(usage), 2))
    axes[4].set_title("share of positions won", fontsize=10)
    if view.probe_weights is not None:
        _probe_bars(axes[5], view.probe_weights.cpu(), colours, probe)
    for ax in axes[4:]:
        ax.set_xlabel("expert (click a bar)", fontsize=9)
        ax.set_xlim(-0.5, len(usage) - 0.5)
        ax.tick_params(labelsize=8)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c / 255) for c in class_colours(len(class_names))]
    fig.legend(handles, class_names, loc="lower left", ncol=len(class_names), fontsize=10, frameon=False)
    return fig


def _probe_bars(ax, weights: torch.Tensor, colours: list, probe: tuple[int, int] | None) -> None:
    mean = weights.mean(0)
    winner = int(mean.argmax())
    bars = ax.bar(range(len(mean)), mean.numpy(), color=colours, edgecolor="0.35", linewidth=0.5)
    bars[winner].set(edgecolor="black", linewidth=2)
    for h, head in enumerate(weights):
        ax.plot(range(len(head)), head.numpy(), "o", markersize=3, color="black", alpha=0.3 + 0.7 * h / max(len(weights), 1),
                label="each head" if h == 0 else None)
    ax.set(ylim=(0, 1))
    where = f"({probe[1]}, {probe[0]})" if probe is not None else ""
    ax.set_title(f"pixel {where} → experts: {winner} wins", fontsize=10)
    ax.legend(fontsize=8, loc="upper right", frameon=False)


def figure_png(fig: Figure, dpi: int = 90) -> bytes:
    """``fig`` as PNG bytes (closed after), for an ``ipywidgets.Image`` or a mimebundle."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    return buffer.getvalue()


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 100) -> None:
    """Save ``fig`` as PNG atomically and close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png", bbox_inches="tight")
    plt.close(fig)


def plot_ablation(drops: torch.Tensor, class_names: Sequence[str]) -> Figure:
    """``M×K`` IoU drops (one expert off at a time) as grouped bars, one colour per class."""
    m, k = drops.shape
    fig, ax = plt.subplots(figsize=(min(12, 1 + 0.6 * m), 3))
    width = 0.8 / k
    for c in range(k):
        ax.bar(np.arange(m) + (c - (k - 1) / 2) * width, drops[:, c].numpy(), width, label=class_names[c],
               color=class_colours(k)[c] / 255)
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set(xlabel="expert switched off", ylabel="IoU drop", xticks=range(m), title="what each expert is needed for")
    ax.legend(fontsize=8, ncol=k)
    return fig


def plot_loglog(series: dict[str, tuple[Sequence[float], Sequence[float]]], xlabel: str, ylabel: str,
                title: str = "", ax: plt.Axes | None = None) -> Figure:
    """Lines on log-log axes, one per ``name → (x, y)``, each labelled with its fitted slope: on such
    axes ``y ∝ x^p`` is a straight line of slope ``p``."""
    from .scaling import loglog_slope

    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
    else:
        fig = ax.figure
    for name, (x, y) in series.items():
        label = f"{name} (slope {loglog_slope(x, y):.2f})" if len(x) > 1 else name
        ax.plot(x, y, "o-", markersize=4, label=label)
    ax.set(xscale="log", yscale="log", xlabel=xlabel, ylabel=ylabel, title=title)
    ticks = sorted({v for x, _ in series.values() for v in x})
    ax.set_xticks(ticks, [f"{v:,}" for v in ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))  # labelled 1-2-5, never crowded
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def plot_expert_class(matrices: dict[str, Sequence[Sequence[float]]], class_names: Sequence[str]) -> Figure:
    """One heat map per model of its expert×class matrix ``M×K`` (positions won by each expert, by
    class), each row normalised to shares: a specialist's row is one dark cell, a generalist's is
    spread like the class frequencies."""
    fig, axes = plt.subplots(1, len(matrices), figsize=(2.6 * len(matrices) + 1.2, 4.4), squeeze=False,
                             layout="constrained")
    for ax, (title, matrix) in zip(axes[0], matrices.items(), strict=True):
        counts = torch.as_tensor(matrix, dtype=torch.float64)
        shares = counts / counts.sum(1, keepdim=True).clamp_min(1)
        shown = ax.imshow(shares.numpy(), cmap="Greys", vmin=0, vmax=1, aspect="auto")
        won = counts.sum(1) / counts.sum()
        ax.set_yticks(range(len(counts)), [f"{m} ({100 * won[m]:.0f}%)" for m in range(len(counts))], fontsize=7)
        ax.set_xticks(range(len(class_names)), class_names, rotation=45, fontsize=8)
        ax.set_title(title, fontsize=9)
    axes[0, 0].set_ylabel("expert (share of positions it wins)")
    fig.colorbar(shown, ax=axes[0].tolist(), fraction=0.04, pad=0.02).set_label(
        "share of the expert's positions in each class (one scale)", fontsize=8)
    return fig


def instance_colours(instances: torch.Tensor | np.ndarray) -> np.ndarray:
    """Instance ids ``H×W`` → RGB ``H×W×3`` floats: no object (0) dark grey, each id its own colour (the
    expert palette, by id, so that neighbouring ids differ)."""
    ids = np.asarray(instances.cpu() if isinstance(instances, torch.Tensor) else instances).astype(np.int64)
    palette = expert_colours(max(int(ids.max(initial=0)), 1))[:, :3]
    rgb = np.where(ids[..., None] > 0, palette[np.clip(ids - 1, 0, None) % len(palette)], PALETTE[0] / 255)
    return rgb


def plot_instances(images: torch.Tensor, maps: dict[str, torch.Tensor], counts: bool = True) -> Figure:
    """Rows of images ``B×3×H×W`` and, per column, one instance map ``B×H×W`` each (``maps[title]``),
    every object in its own colour; with ``counts``, each panel's title says how many objects it holds."""
    cols = 1 + len(maps)
    fig, axes = plt.subplots(len(images), cols, figsize=(1.9 * cols, 1.9 * len(images)), squeeze=False,
                             layout="constrained")
    for row, image in enumerate(images):
        axes[row, 0].imshow(to_rgb(image))
        for col, (title, ids) in enumerate(maps.items(), start=1):
            axes[row, col].imshow(instance_colours(ids[row]), interpolation="nearest")
            found = len(torch.unique(ids[row][ids[row] > 0]))
            label = f"{title}: {found}" if counts else title
            axes[row, col].set_title(label if row == 0 or counts else "", fontsize=8)
        axes[row, 0].set_title("image" if row == 0 else "", fontsize=8)
    for ax in axes.flat:
        ax.set_axis_off()
    return fig


def plot_matching(cost: torch.Tensor, experts: torch.Tensor, objects: torch.Tensor, object_labels: Sequence[str]) -> Figure:
    """The matching cost ``M×T`` of every expert (rows) against every object (columns) as a heat map
    (low cost bright), with the one-to-one assignment circled."""
    fig, ax = plt.subplots(figsize=(1.2 + 0.55 * cost.shape[1], 0.8 + 0.28 * cost.shape[0]), layout="constrained")
    shown = ax.imshow(cost.cpu().numpy(), cmap="viridis_r", aspect="auto")
    ax.scatter(objects.cpu().numpy(), experts.cpu().numpy(), s=140, facecolors="none", edgecolors="red", linewidths=2,
               label="assigned")
    ax.set_xticks(range(cost.shape[1]), object_labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(cost.shape[0]), [str(m) for m in range(cost.shape[0])], fontsize=7)
    ax.set(xlabel="object in the image", ylabel="expert")
    fig.colorbar(shown, ax=ax, label="matching cost (lower: better fit)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.35), fontsize=8, frameon=False)
    return fig


def plot_expert_objects(image: torch.Tensor, class_probs: torch.Tensor, masks: torch.Tensor, class_names: Sequence[str],
                        kept: Sequence[int] = (), cols: int = 8) -> Figure:
    """Every expert's object for one image: its mask ``M×H×W`` (probabilities, one shared scale) over the
    image ``3×H×W``, titled with the class it names and its probability (``class_probs`` ``M×(K+1)``,
    the last column *no object*); the experts in ``kept`` (those whose objects made the instance map)
    framed in their expert colour, the others faded."""
    m = masks.shape[0]
    rows = -(-m // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.5 * cols, 1.65 * rows + 0.4), squeeze=False, layout="constrained")
    names = [*class_names, "no object"]
    colours = expert_colours(m)
    rgb = to_rgb(image)
    for k, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if k >= m:
            ax.set_axis_off()
            continue
        best = int(class_probs[k].argmax())
        ax.imshow(rgb, alpha=1.0 if k in kept else 0.35)
        shown = ax.imshow(masks[k].cpu().numpy(), cmap="magma", alpha=0.6, vmin=0, vmax=1)
        ax.set_title(f"{k}: {names[best]} {float(class_probs[k, best]):.2f}", fontsize=7,
                     color="black" if k in kept else "0.55")
        for spine in ax.spines.values():
            spine.set(edgecolor=colours[k] if k in kept else "0.85", linewidth=3 if k in kept else 1)
    fig.colorbar(shown, ax=axes, orientation="horizontal", fraction=0.04, pad=0.02, aspect=60,
                 label="mask probability (one scale for every panel); framed: experts whose objects were kept")
    return fig
