"""Images larger than a model was trained on: predict overlapping windows at the training size, then
stitch. Class maps (:func:`predict_tiled_logits`) take each pixel's logits from the window whose centre
is nearest (the window's *core*). Objects (:func:`predict_tiled_instances`) are stitched as well: each
window's objects are compared with its neighbours' where two windows both see the pixels; pieces that
cover the same pixels there (same class, IoU ≥ ``MERGE_IOU``) are one object. Each pixel takes its
answer from the window whose core holds it, so a duplicate seen only near another window's border
disappears, and every object gets one id. Time and memory grow with the number of windows, linearly in
the image's area.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from .checks import check_bool, check_image_batch, check_positive_int

MERGE_IOU = 0.5  # two pieces are one object when they overlap at least this much where both windows look
BATCH = 16  # windows per forward pass


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
    trained at) that share ``overlap`` pixels with their neighbours (default a quarter of the window, at
    most half: more only multiplies the windows; with 0 nothing is shared, so an object across a window
    border stays in pieces, and each window's pixels near its border are used).
    An image no larger than one window is predicted whole, or refused with ``strict`` (a window the
    user chose that does not fit the image is a mistake, not a default). Checked when made."""

    window: int
    overlap: int | None = None
    strict: bool = False

    def __post_init__(self) -> None:
        check_positive_int("window", self.window)
        if self.overlap is None:
            object.__setattr__(self, "overlap", self.window // 4)
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
    model's device), predicted window by window (:func:`windows_of`) and stitched. An object's ``score``
    is the best of its pieces', ``pixels`` its stitched area, ``windows`` how many windows saw it. Warns
    when some window found as many objects as the experts can own."""
    tiles = _checked_windows(model, x, window, overlap)
    height, width = x.shape[-2:]
    found = []
    for chunk, crops in _window_batches(x, tiles):
        result = model.predict_instances(crops)
        found += [(result.classes[i], result.instances[i], result.objects[i]) for i in range(len(chunk))]
    _warn_if_full(model, [objects for _, _, objects in found])
    parent = {(k, o["id"]): (k, o["id"]) for k, (_, _, objects) in enumerate(found) for o in objects}
    for k, n in _neighbours(tiles):
        for a, b in _same_objects(tiles[k], found[k], tiles[n], found[n]):
            _union(parent, (k, a), (n, b))
    return _paint(tiles, found, parent, (height, width))


def holds_all_it_can(model: Any, found: int) -> bool:
    """Whether ``found`` objects in one forward pass are as many as the model's experts can own (one
    expert usually takes the background), so that more may have been missed."""
    return found >= model.config.num_latents - 1


def _warn_if_full(model: Any, objects: list[list[dict]]) -> None:
    experts = model.config.num_latents
    full = sum(holds_all_it_can(model, len(o)) for o in objects)
    if full:
        warnings.warn(f"image: {full} of {len(objects)} windows found {experts - 1} or more objects, as many as a model "
                      f"of {experts} experts can own (one usually takes the background): objects there may be missed; "
                      "a smaller window holds fewer", UserWarning, stacklevel=3)


def _neighbours(tiles: list[Window]) -> list[tuple[int, int]]:
    """Pairs of windows next to each other in the grid, diagonals included, that share pixels (windows
    further apart are joined through them)."""
    at = {(t.row, t.col): k for k, t in enumerate(tiles)}
    steps = ((0, 1), (1, -1), (1, 0), (1, 1))
    pairs = [(k, at[t.row + dr, t.col + dc]) for k, t in enumerate(tiles) for dr, dc in steps
             if (t.row + dr, t.col + dc) in at]
    return [(k, n) for k, n in pairs if _shared(tiles[k], tiles[n]) is not None]  # overlap 0: none shared


def _shared(a: Window, b: Window) -> tuple[int, int, int, int] | None:
    """The image rows and columns ``(top, bottom, left, right)`` both windows see, or ``None``."""
    top, bottom = max(a.top, b.top), min(a.top + a.height, b.top + b.height)
    left, right = max(a.left, b.left), min(a.left + a.width, b.left + b.width)
    return (top, bottom, left, right) if top < bottom and left < right else None


def _same_objects(a: Window, found_a: tuple, b: Window, found_b: tuple) -> list[tuple[int, int]]:
    """Pairs of object ids ``(in a, in b)`` of one class whose pixels overlap by IoU ≥ ``MERGE_IOU``
    where both windows look."""
    top, bottom, left, right = _shared(a, b)
    ids_a = found_a[1][top - a.top:bottom - a.top, left - a.left:right - a.left].flatten()
    ids_b = found_b[1][top - b.top:bottom - b.top, left - b.left:right - b.left].flatten()
    n_a, n_b = len(found_a[2]) + 1, len(found_b[2]) + 1
    joint = torch.bincount(ids_a * n_b + ids_b, minlength=n_a * n_b).view(n_a, n_b)
    area_a, area_b = joint.sum(1), joint.sum(0)
    class_a = {o["id"]: o["class"] for o in found_a[2]}
    class_b = {o["id"]: o["class"] for o in found_b[2]}
    pairs = []
    for i, j in (joint[1:, 1:] > 0).nonzero().tolist():
        i, j = i + 1, j + 1
        iou = joint[i, j] / (area_a[i] + area_b[j] - joint[i, j])
        if class_a[i] == class_b[j] and iou >= MERGE_IOU:
            pairs.append((i, j))
    return pairs


def _find(parent: dict, node: tuple[int, int]) -> tuple[int, int]:
    while parent[node] != node:
        parent[node] = parent[parent[node]]
        node = parent[node]
    return node


def _union(parent: dict, a: tuple[int, int], b: tuple[int, int]) -> None:
    root_a, root_b = _find(parent, a), _find(parent, b)
    if root_a != root_b:
        parent[max(root_a, root_b)] = min(root_a, root_b)


def _paint(tiles: list[Window], found: list[tuple], parent: dict, size: tuple[int, int]
           ) -> tuple[torch.Tensor, torch.Tensor, list[dict[str, Any]]]:
    """Each window's core painted from its own maps, its objects under their stitched ids (numbered
    1, 2, … window by window); objects with no pixel in any core are dropped."""
    classes = torch.zeros(size, dtype=torch.long)
    instances = torch.zeros(size, dtype=torch.long)
    ids: dict[tuple[int, int], int] = {}
    objects: dict[int, dict[str, Any]] = {}
    for k, (tile, (window_classes, window_ids, window_objects)) in enumerate(zip(tiles, found, strict=True)):
        (r0, r1), (c0, c1) = tile.core_rows, tile.core_cols
        core = (slice(r0 - tile.top, r1 - tile.top), slice(c0 - tile.left, c1 - tile.left))
        classes[r0:r1, c0:c1] = window_classes[core]
        lookup = torch.zeros(len(window_objects) + 1, dtype=torch.long)
        for o in window_objects:
            root = _find(parent, (k, o["id"]))
            if root not in ids:
                ids[root] = len(ids) + 1
            lookup[o["id"]] = ids[root]
            entry = objects.setdefault(ids[root], {"id": ids[root], "class": o["class"], "score": 0.0, "windows": 0})
            entry["score"] = max(entry["score"], o["score"])
            entry["windows"] += 1
        instances[r0:r1, c0:c1] = lookup[window_ids[core]]
    counts = torch.bincount(instances.flatten(), minlength=len(ids) + 1)
    kept = [dict(o, pixels=int(counts[i])) for i, o in sorted(objects.items()) if counts[i] > 0]
    renumber = torch.zeros(len(ids) + 1, dtype=torch.long)
    for new, o in enumerate(kept, start=1):
        renumber[o["id"]], o["id"] = new, new
    return classes, renumber[instances], kept
