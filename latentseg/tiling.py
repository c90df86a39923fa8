"""Images larger than a model was trained on: predict overlapping windows at the training size, then
stitch. Each window answers for its *core*, the pixels nearer its centre than any other window's.
Class maps (:func:`predict_tiled_logits`) take each pixel's logits from the window whose core holds it.
Objects (:func:`predict_tiled_instances`) are taken whole, each from the window whose core holds its
centre — the window that sees it with the most room around it, as StarDist stitches its tiles — so an
object across a window border is neither cut in two nor counted twice, as long as the overlap exceeds
its size. Time and memory grow with the number of windows, linearly in the image's area.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from .checks import check_bool, check_image_batch, check_positive_int

BATCH = 16  # windows per forward pass
CUT_SHARE = 0.1  # a few objects may just touch a window's edge; this share of them says objects are larger than the overlap


@dataclass(frozen=True)
class Window:
    """One window, at place ``(row, col)`` of the grid of windows: rows ``top:top+height`` and columns
    ``left:left+width`` of the image, and its core, rows ``core_rows`` and columns ``core_cols``
    (half-open ranges): the pixels it answers for."""

    row: int
    col: int
    top: int
    left: int
    height: int
    width: int
    core_rows: tuple[int, int]
    core_cols: tuple[int, int]


@dataclass(frozen=True)
class Tiling:
    """How to predict a large image: windows of ``window`` pixels (the size the model was
    trained at) that share ``overlap`` pixels with their neighbours (default and most: half the window). An
    object is seen whole by the window that answers for it when the overlap is at least its size; with 0
    nothing is shared, so an object across a window border stays in pieces.
    An image no larger than one window is predicted whole, or refused with ``strict`` (a window the
    user chose that does not fit the image is a mistake, not a default). Checked when made."""

    window: int
    overlap: int | None = None
    strict: bool = False

    def __post_init__(self) -> None:
        check_positive_int("window", self.window)
        if self.overlap is None:
            object.__setattr__(self, "overlap", self.window // 2)
        if isinstance(self.overlap, bool) or not isinstance(self.overlap, int) or self.overlap < 0:
            raise ValueError(f"overlap: expected an int ≥ 0, got {self.overlap!r}")
        if self.overlap > self.window // 2:
            raise ValueError(f"overlap: expected at most half the window ({self.window // 2}), got {self.overlap}")
        check_bool("strict", self.strict)

    def check(self, model: Any, height: int, width: int, name: str = "image") -> bool:
        """Whether an image ``height×width`` (as the model reads it) is predicted by windows; a window
        below the model's smallest input, or with ``strict`` larger than the image, is a ``ValueError``."""
        if self.window < model.min_size:
            raise ValueError(f"window: expected at least the model's smallest input side {model.min_size}, "
                             f"got {self.window}")
        if self.strict and self.window > min(height, width):
            raise ValueError(f"window: {self.window} is larger than {name} ({width}×{height} as read); "
                             "give a smaller window or leave it out")
        return max(height, width) > self.window


def check_tiling(tiling: object) -> None:
    """A ``TypeError`` unless ``tiling`` is ``None`` or a :class:`Tiling`."""
    if tiling is not None and not isinstance(tiling, Tiling):
        raise TypeError(f"tiling: expected a latentseg Tiling (window, overlap), got {type(tiling).__name__}")


def starts_and_cores(length: int, window: int, overlap: int) -> list[tuple[int, tuple[int, int]]]:
    """Windows of ``window`` pixels along a side of ``length``: each start and its core. Neighbours share
    at least ``overlap`` pixels, the last window ends at the border, and the cores (split in the middle
    of each shared stretch) cover ``0..length`` once. ``length ≤ window``: one window from 0."""
    if length <= window:
        return [(0, (0, length))]
    starts = list(range(0, length - window, window - overlap)) + [length - window]
    cuts = [0] + [(nxt + start + window) // 2 for start, nxt in zip(starts, starts[1:], strict=False)] + [length]
    return [(start, (cuts[i], cuts[i + 1])) for i, start in enumerate(starts)]


def windows_of(height: int, width: int, window: int, overlap: int) -> list[Window]:
    """Every window over a ``height×width`` image, row by row (a side shorter than ``window`` is one window wide)."""
    return [Window(r, c, top, left, min(window, height), min(window, width), rows, cols)
            for r, (top, rows) in enumerate(starts_and_cores(height, window, overlap))
            for c, (left, cols) in enumerate(starts_and_cores(width, window, overlap))]


@torch.no_grad()
def predict_tiled_logits(model: Any, x: torch.Tensor, window: int, overlap: int) -> torch.Tensor:
    """Class logits ``1×K×H×W`` of one image ``1×C×H×W`` (checked, on the model's device), window by
    window (:func:`windows_of`, ``BATCH`` windows per forward pass in the model's current mode): each
    pixel's logits come from the window whose core holds it."""
    tiles = _checked_windows(model, x, window, overlap)
    height, width = x.shape[-2:]
    logits = None
    for chunk, crops in _window_batches(x, tiles):
        out = model(crops)
        if logits is None:
            logits = out.new_zeros(1, out.shape[1], height, width)
        for t, window_logits in zip(chunk, out, strict=True):
            (r0, r1), (c0, c1) = t.core_rows, t.core_cols
            logits[0, :, r0:r1, c0:c1] = window_logits[:, r0 - t.top:r1 - t.top, c0 - t.left:c1 - t.left]
    return logits


def _checked_windows(model: Any, x: torch.Tensor, window: int, overlap: int) -> list[Window]:
    """The windows over one image ``1×C×H×W``, after checking the image and the tiling."""
    tiling = Tiling(window, overlap)  # checked
    check_image_batch("x", x, model.config.in_channels, model.min_size, finite=False)
    if x.shape[0] != 1:
        raise ValueError(f"x: expected one image 1×C×H×W, got a batch of {x.shape[0]}")
    tiling.check(model, *x.shape[-2:])
    return windows_of(*x.shape[-2:], window, overlap)


def _window_batches(x: torch.Tensor, tiles: list[Window]) -> Iterator[tuple[list[Window], torch.Tensor]]:
    """``BATCH`` windows at a time, with their crops of the image ``1×C×H×W`` stacked ``b×C×h×w``."""
    for start in range(0, len(tiles), BATCH):
        chunk = tiles[start:start + BATCH]
        yield chunk, torch.stack([x[0, :, t.top:t.top + t.height, t.left:t.left + t.width] for t in chunk])


@torch.no_grad()
def predict_tiled_instances(model: Any, x: torch.Tensor, window: int, overlap: int
                            ) -> tuple[torch.Tensor, torch.Tensor, list[dict[str, Any]]]:
    """Class map and instance ids ``H×W`` and the objects of one image ``1×C×H×W`` (checked, on the
    model's device), predicted window by window (:func:`windows_of`) and stitched: each window keeps the
    objects whose centre lies in its core, and they are painted best score first (an object whose pixels
    are mostly taken already is dropped). An object's ``score`` is its expert's, ``pixels`` its area.
    Warns when some window found as many objects as the experts can own, and when at least ``CUT_SHARE``
    of the kept objects reach their window's edge inside the image (larger than the overlap: cut)."""
    tiles = _checked_windows(model, x, window, overlap)
    size = tuple(x.shape[-2:])
    kept, counts = [], []
    for chunk, crops in _window_batches(x, tiles):
        result = model.predict_instances(crops)
        counts += [len(objects) for objects in result.objects]
        for tile, ids, objects in zip(chunk, result.instances, result.objects, strict=True):
            masks = [(o, tile, ids == o["id"]) for o in objects]
            kept += [m for m in masks if _centre_in_core(tile, m[2])]
    _warn_if_full(model, counts)
    _warn_if_cut(kept, size, overlap)
    return _paint(kept, size)


def _centre_in_core(tile: Window, pixels: torch.Tensor) -> bool:
    """Whether the centre of an object (its ``pixels``, ``h×w`` in the window ``tile``) lies in the window's core."""
    rows, cols = pixels.nonzero(as_tuple=True)
    row, col = tile.top + int(rows.float().mean()), tile.left + int(cols.float().mean())
    return tile.core_rows[0] <= row < tile.core_rows[1] and tile.core_cols[0] <= col < tile.core_cols[1]


def _reaches_inner_edge(tile: Window, pixels: torch.Tensor, size: tuple[int, int]) -> bool:
    """Whether an object (``pixels`` of the window ``tile``) touches a side of the window that lies inside
    the image ``size``, where the window cannot see all of it."""
    inside = (tile.top > 0, tile.top + tile.height < size[0], tile.left > 0, tile.left + tile.width < size[1])
    sides = (pixels[0].any(), pixels[-1].any(), pixels[:, 0].any(), pixels[:, -1].any())
    return any(bool(i and s) for i, s in zip(inside, sides, strict=True))


def _paint(kept: list[tuple[dict[str, Any], Window, torch.Tensor]], size: tuple[int, int]
           ) -> tuple[torch.Tensor, torch.Tensor, list[dict[str, Any]]]:
    """Class map and ids ``H×W`` with the kept objects painted best score first, each on the pixels still
    free (dropped if fewer than half of its own are); ids ``1, 2, …`` in that order, 0 and class 0 elsewhere."""
    classes = torch.zeros(size, dtype=torch.long)
    instances = torch.zeros(size, dtype=torch.long)
    objects: list[dict[str, Any]] = []
    for found, tile, pixels in sorted(kept, key=lambda k: -k[0]["score"]):
        place = (slice(tile.top, tile.top + tile.height), slice(tile.left, tile.left + tile.width))
        free = pixels & (instances[place] == 0)
        if free.sum() < 0.5 * pixels.sum():
            continue
        objects.append({"id": len(objects) + 1, "class": found["class"], "score": found["score"], "pixels": int(free.sum())})
        instances[place][free] = len(objects)
        classes[place][free] = found["class"]
    return classes, instances, objects


def holds_all_it_can(model: Any, found: int) -> bool:
    """Whether ``found`` objects in one forward pass are as many as the model's experts can own (one
    expert usually takes the background), so that more may have been missed."""
    return found >= model.config.num_latents - 1


def _warn_if_full(model: Any, counts: list[int]) -> None:
    """A warning naming the windows that found ``counts`` objects as many as the model's experts can own."""
    experts = model.config.num_latents
    full = sum(holds_all_it_can(model, count) for count in counts)
    if full:
        warnings.warn(f"image: {full} of {len(counts)} windows found {experts - 1} or more objects, as many as a model "
                      f"of {experts} experts can own (one usually takes the background): objects there may be missed; "
                      "a smaller window holds fewer", UserWarning, stacklevel=3)


def _warn_if_cut(kept: list[tuple[dict[str, Any], Window, torch.Tensor]], size: tuple[int, int], overlap: int) -> None:
    """A warning when at least ``CUT_SHARE`` of the kept objects reach their window's edge inside the image."""
    cut = sum(_reaches_inner_edge(tile, pixels, size) for _, tile, pixels in kept)
    if cut >= CUT_SHARE * len(kept) > 0:
        warnings.warn(f"image: {cut} of {len(kept)} objects reach the edge of the window that answers for them: objects "
                      f"larger than the overlap ({overlap} pixels) may be cut in pieces; give a larger overlap (at most "
                      "half the window) or read the image smaller", UserWarning, stacklevel=4)
