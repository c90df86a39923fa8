"""What a model must beat, computed on the same test splits as the race: on the synthetic shapes, the
ceiling of every semantic pipeline (the true class maps, cut into objects by connected components);
on the nuclei stack, the pipelines a microscopist would reach for (one brightness threshold, then
connected components or a distance-transform watershed)."""

from __future__ import annotations

import numpy as np
import torch

from ..data.nuclei import NucleiVolume, nuclei_split, read_nuclei, threshold_baseline
from ..data.shapes import SHAPE_CLASSES, synthetic_shapes
from ..data.shifted import shifted_shapes
from ..data.sources import SHIFTED_TEST_SIZE
from ..training.panoptic import PanopticQuality, connected_instances, oracle_panoptic

#: the watershed's seed spacings tried (pixels at the test size); the one best on the training slices is used
WATERSHED_MIN_DISTANCES = (3, 5, 7, 9, 12, 15, 20)


def shape_baselines(data: str, sizes: dict[str, int], image_size: int, seed: int, look: str) -> dict[str, float]:
    """``oracle_pq``, ``oracle_sq``, ``oracle_rq`` on the test split of ``seed``, and the same on the
    shifted set (``oracle_shifted_…``): perfect class maps cut into objects by connected components.
    ``data`` is ``synthetic`` or ``crowded``."""
    crowded = data == "crowded"
    test = synthetic_shapes(sizes["test"], image_size, seed, "test", look=look, crowded=crowded)
    shifted = shifted_shapes(sizes.get("shifted", SHIFTED_TEST_SIZE), image_size, seed, crowded=crowded)
    out = {}
    for prefix, split in (("oracle_", test), ("oracle_shifted_", shifted)):
        result = oracle_panoptic(split.masks, split.instances, len(SHAPE_CLASSES))
        out |= {prefix + "pq": result.pq, prefix + "sq": result.sq, prefix + "rq": result.rq}
    return out


def watershed_instances(foreground: torch.Tensor, min_distance: int) -> torch.Tensor:
    """Instance ids ``N×H×W`` from binary foreground ``N×H×W``: scikit-image's watershed of the negated
    distance transform, seeded at its local maxima (``min_distance`` apart), within the foreground."""
    try:
        from scipy import ndimage
        from skimage.feature import peak_local_max
        from skimage.segmentation import watershed
    except ImportError as err:
        raise ImportError("the watershed baseline needs scikit-image: pip install scikit-image") from err
    out = np.zeros(foreground.shape, dtype=np.int64)
    for k, mask in enumerate(foreground.cpu().numpy().astype(bool)):
        if not mask.any():
            continue
        distance = ndimage.distance_transform_edt(mask)
        peaks = peak_local_max(distance, min_distance=min_distance, labels=ndimage.label(mask)[0], exclude_border=False)
        markers = np.zeros(mask.shape, dtype=np.int64)
        markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
        out[k] = watershed(-distance, markers, mask=mask)
    return torch.from_numpy(out)


def _pq(classes: torch.Tensor, instances: torch.Tensor, masks: torch.Tensor, true_instances: torch.Tensor):
    metric = PanopticQuality(2)
    metric.update(classes, instances, masks, true_instances)
    return metric.compute()


def nuclei_baselines(image_size: int, volume: NucleiVolume | None = None) -> dict[str, float]:
    """What a model on the stack must beat, on its test split at ``image_size``: the mIoU of
    "everything is background" (half the background's share: nucleus IoU is 0), one brightness
    threshold chosen on the training slices (:func:`~latentseg.data.nuclei.threshold_baseline`: its
    ``threshold``, ``threshold_train_iou``, ``threshold_nucleus_iou``), and the panoptic quality of
    that threshold's foreground cut into nuclei by connected components (``threshold_cc_pq``) and by
    a distance-transform watershed whose seed spacing is chosen on the training slices too
    (``threshold_watershed_pq``, ``watershed_min_distance``); ``train_slices`` counts them."""
    volume = volume or read_nuclei()
    train, test = (nuclei_split(split, image_size, volume=volume) for split in ("train", "test"))
    threshold = threshold_baseline(train, test)
    fit, foreground = ((split.images[:, 0] > threshold["threshold"]).long() for split in (train, test))
    spacing = max(WATERSHED_MIN_DISTANCES,
                  key=lambda d: _pq(fit, watershed_instances(fit, d), train.masks, train.instances).pq)
    out = {"all_background_miou": float((test.masks == 0).float().mean()) / 2, "threshold": threshold["threshold"],
           "threshold_train_iou": threshold["train_iou"], "threshold_nucleus_iou": threshold["test_iou"],
           "train_slices": len(train), "watershed_min_distance": spacing}
    for name, instances in (("cc", connected_instances(foreground)), ("watershed", watershed_instances(foreground, spacing))):
        result = _pq(foreground, instances, test.masks, test.instances)
        out |= {f"threshold_{name}_pq": result.pq, f"threshold_{name}_sq": result.sq, f"threshold_{name}_rq": result.rq}
    return out
