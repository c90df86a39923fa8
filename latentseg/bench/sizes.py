"""Objects in images larger than the training size: panoptic quality on crowded test scenes one by one,
then on mosaics of the same scenes and on canvases of one background
(:mod:`latentseg.data.canvases`), all read by windows of the training size (:mod:`latentseg.tiling`)."""

from __future__ import annotations

from typing import Any

import torch

from ..data.canvases import crowded_canvases, scene_mosaics
from ..data.shapes import synthetic_shapes
from ..tiling import Tiling
from ..training.evaluation import evaluate_instances

#: mosaics and canvases of grid × grid scenes (at the training size 64: 256×256 and 512×512)
GRIDS = (4, 8)
#: crowded test scenes per seed: eight 4×4 mosaics or two 8×8, and as many canvases of each size
SCENES = 128
#: the report's keys (:func:`large_image_report`)
LARGE_KEYS = ("scenes_pq", *(f"{name}{grid}_pq" for grid in GRIDS for name in ("mosaic", "canvas")))


def large_image_report(model: Any, seed: int, scene_size: int, device: str | None = None,
                       scenes: int = SCENES) -> dict[str, float]:
    """PQ of ``model`` on the first ``scenes`` crowded test scenes of ``seed`` (``scenes_pq``), and for
    each grid ``k`` of :data:`GRIDS` on their ``k×k`` mosaics (``mosaic{k}_pq``) and on as many canvases
    of that side (``canvas{k}_pq``), read by windows of ``scene_size`` with the default overlap. A grid
    needing more scenes than ``scenes`` is left out."""
    test = synthetic_shapes(scenes, scene_size, seed, "test", crowded=True)
    tiling = Tiling(scene_size)
    report = {"scenes_pq": evaluate_instances(model, test, device=device).pq}
    for grid in GRIDS:
        if scenes < grid * grid:
            continue
        mosaics = scene_mosaics(test.select(torch.arange(scenes - scenes % (grid * grid))), grid)
        canvases = crowded_canvases(len(mosaics), grid * scene_size, seed, "test", scene_size)
        for name, data in (("mosaic", mosaics), ("canvas", canvases)):
            report[f"{name}{grid}_pq"] = evaluate_instances(model, data, batch_size=1, device=device, tiling=tiling).pq
    return report
