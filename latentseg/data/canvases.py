"""Large test images built from the generator's crowded scenes, to read by windows (:mod:`latentseg.tiling`).

- :func:`scene_mosaics`: scenes of a data set side by side, ``grid×grid`` per image, each keeping its
  own background, so a window across a seam sees up to four backgrounds;
- :func:`crowded_canvases`: one background across the whole canvas, and a crowded cluster of shapes
  (the layout of crowded scenes, at their pixel scale) laid out in every ``scene_size`` cell of it;
  clusters of neighbouring cells may touch and overlap across the cells' borders.

Both return :class:`~latentseg.data.dataset.SegmentationData` with instance ids, one id per shape.
"""

from __future__ import annotations

import torch

from ..checks import check_positive_int
from .dataset import SegmentationData
from .looks import _any_colour, _fills, add_grain, paint_varied
from .shapes import CROWDED_SHAPES, SHAPE_CLASSES, _crowded_layout, _masks, _rasterise, split_seed

#: pixels a cluster may reach past its cell (the largest triangle at the edge of its scene reaches 9.5 at 64)
MARGIN_SHARE = 10 / 64
_CANVAS_STREAM = 2**18  # generator streams of canvases, apart from the data sets' chunks and compose_shapes


def scene_mosaics(data: SegmentationData, grid: int) -> SegmentationData:
    """Scenes ``N×3×s×s`` as ``N / grid²`` mosaics ``(grid·s)×(grid·s)``, filled row by row in order.

    Instance ids stay apart: scene ``k`` of a mosaic adds ``k × (the largest id of the data)`` to its own.
    """
    check_positive_int("grid", grid)
    if not isinstance(data, SegmentationData):
        raise TypeError(f"data: expected a SegmentationData (scenes in memory), got {type(data).__name__}")
    if data.instances is None:
        raise ValueError("data: expected scenes with instance ids, got a SegmentationData without instances")
    n, per = len(data), grid * grid
    if n < per or n % per:
        raise ValueError(f"data: expected a multiple of grid² = {per} scenes, got {n}")
    offset = int(data.instances.max())
    ids = data.instances.long()
    ids = torch.where(ids > 0, ids + offset * (torch.arange(n) % per)[:, None, None], 0)

    def tile(t: torch.Tensor) -> torch.Tensor:  # n×…×s×s → n/per×…×(grid·s)×(grid·s)
        lead, (h, w) = t.shape[1:-2], t.shape[-2:]
        t = t.reshape(n // per, grid, grid, *lead, h, w).movedim((1, 2), (-4, -2))
        return t.reshape(n // per, *lead, grid * h, grid * w)

    return SegmentationData(tile(data.images), tile(data.masks), data.class_names, tile(ids))


def crowded_canvases(num_images: int, size: int = 256, seed: int = 0, split: str = "test",
                     scene_size: int = 64) -> SegmentationData:
    """Seeded canvases ``size×size`` of crowded clusters over one background, in the varied look.

    Every ``scene_size`` cell holds one cluster drawn as a crowded scene's (3–7 touching shapes,
    :func:`~latentseg.data.shapes.synthetic_shapes` with ``crowded=True``), painted over the
    canvas's background where it lies; later cells are painted over earlier ones. The background is one
    pattern across the canvas, so it varies on the canvas's scale, as a large photograph's does. Each
    canvas has its own generator, so the first ``k`` canvases are the same whatever ``num_images``.
    """
    check_positive_int("num_images", num_images)
    if num_images > _CANVAS_STREAM:
        raise ValueError(f"num_images: expected at most {_CANVAS_STREAM}, got {num_images}")
    if check_positive_int("scene_size", scene_size) < 16:
        raise ValueError(f"scene_size: expected at least 16 pixels, got {scene_size}")
    if check_positive_int("size", size) % scene_size:
        raise ValueError(f"size: expected a multiple of scene_size {scene_size}, got {size}")
    base = split_seed(seed, split)
    drawn = [_canvas(size, scene_size, torch.Generator().manual_seed(base * 2**20 + _CANVAS_STREAM + i))
             for i in range(num_images)]
    images, masks, ids = (torch.stack(t) for t in zip(*drawn, strict=True))
    return SegmentationData(images, masks, SHAPE_CLASSES, ids)


def _canvas(size: int, scene_size: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One canvas: image ``3×size×size``, class map and instance ids ``size×size``."""
    cells = size // scene_size
    margin = round(MARGIN_SHARE * scene_size)
    patch = scene_size + 2 * margin
    active, classes, centres, radii, angles = _crowded_layout(cells * cells, scene_size, CROWDED_SHAPES, g)
    top = _rasterise(classes, active, centres + margin, radii, angles, patch)  # cells²×P×P, each cell with margin
    cell_masks = _masks(top, classes)
    padded = size + 2 * margin
    background = _fills(_any_colour((1,), g), padded, g)[0]  # 3×(size+2m)²: one pattern for the whole canvas
    corners = [(r * scene_size, c * scene_size) for r in range(cells) for c in range(cells)]
    under = torch.stack([background[:, y:y + patch, x:x + patch] for y, x in corners])
    painted = paint_varied(top, CROWDED_SHAPES, g, background=under, grain=False)
    image, mask = background.clone(), torch.zeros(padded, padded, dtype=torch.long)
    ids = torch.zeros_like(mask)
    for k, (y, x) in enumerate(corners):
        shape = top[k] > 0
        window = (slice(y, y + patch), slice(x, x + patch))
        image[:, window[0], window[1]] = torch.where(shape, painted[k], image[:, window[0], window[1]])
        mask[window] = torch.where(shape, cell_masks[k], mask[window])
        ids[window] = torch.where(shape, top[k] + k * CROWDED_SHAPES, ids[window])
    inner = slice(margin, margin + size)
    return add_grain(image[None, :, inner, inner], g)[0], mask[inner, inner], ids[inner, inner]
