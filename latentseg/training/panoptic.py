"""Counting objects: panoptic quality, and the instances a class map implies.

**Panoptic quality** (Kirillov et al., 2019) scores a prediction that gives every pixel a class and,
for *things*, an object id, against the truth in the same form. Per image, a predicted segment and a
true one of the same class match when their IoU is above 0.5 (such a match is unique); per class,
``PQ = Σ IoU(matches) / (TP + ½ FP + ½ FN)`` = ``SQ × RQ``: segmentation quality (the mean IoU of the
matches) times recognition quality (an F1 score of the matching). As in the COCO panoptic API,
ignored pixels (255) and true thing pixels without an id are *void*: they count in no IoU, and a
predicted segment that lies mostly on void is no false positive. Class 0, the background, is the
one *stuff* class (a region, not objects); every other class is a thing.

**Connected components** are what a semantic model's class map gives as objects: every
8-connected region of one thing class becomes an object. Two touching objects of one class become
one, which is the limit the experts model is built to pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from scipy import ndimage

from ..labels import IGNORE_INDEX, MAX_INSTANCE_ID

STUFF_CLASSES = (0,)
_EIGHT_NEIGHBOURS = np.ones((3, 3), dtype=bool)


def connected_instances(classes: torch.Tensor, stuff: tuple[int, ...] = STUFF_CLASSES) -> torch.Tensor:
    """Instance ids ``…×H×W`` for class maps ``…×H×W``: every 8-connected region of one thing class is
    an object, numbered ``1, 2, …`` per image (0 on stuff and ignored pixels)."""
    flat = classes.reshape(-1, *classes.shape[-2:]).cpu().numpy()
    out = np.zeros(flat.shape, dtype=np.int64)
    for k, image in enumerate(flat):
        count = 0
        for c in np.unique(image):
            if c in stuff or c == IGNORE_INDEX:
                continue
            labels, found = ndimage.label(image == c, structure=_EIGHT_NEIGHBOURS)
            out[k] += np.where(labels > 0, labels + count, 0)
            count += found
    return torch.from_numpy(out).reshape(classes.shape)


@dataclass
class PanopticMetrics:
    """``pq``, ``sq``, ``rq``: means over the thing classes that occur (in truth or prediction);
    ``pq_all``: the mean over every class that occurs, stuff included; ``per_class``: for each
    class, ``pq``, ``sq``, ``rq``, ``tp``, ``fp``, ``fn`` (``None`` for a class that never occurs)."""

    pq: float
    sq: float
    rq: float
    pq_all: float
    per_class: list[dict[str, float] | None] = field(default_factory=list)

    def to_dict(self, class_names: tuple[str, ...] | None = None) -> dict:
        out = {"pq": self.pq, "sq": self.sq, "rq": self.rq, "pq_all": self.pq_all, "per_class_pq": self.per_class}
        if class_names is not None:
            out["class_names"] = list(class_names)
        return out


class PanopticQuality:
    """Accumulates matches over batches; :meth:`compute` gives :class:`PanopticMetrics`."""

    def __init__(self, num_classes: int, stuff: tuple[int, ...] = STUFF_CLASSES) -> None:
        self.num_classes, self.stuff = num_classes, tuple(stuff)
        self.iou_sum = np.zeros(num_classes)
        self.tp, self.fp, self.fn = (np.zeros(num_classes, dtype=np.int64) for _ in range(3))

    def update(self, classes: torch.Tensor, instances: torch.Tensor, true_classes: torch.Tensor,
               true_instances: torch.Tensor) -> None:
        """Predicted and true class maps and instance ids, all ``B×H×W`` (or ``H×W``)."""
        shapes = {tuple(t.shape) for t in (classes, instances, true_classes, true_instances)}
        if len(shapes) != 1:
            raise ValueError(f"classes, instances, true_classes, true_instances: expected one shape, got {sorted(shapes)}")
        h, w = classes.shape[-2:]
        tensors = [t.reshape(-1, h, w).cpu().long().numpy() for t in (classes, instances, true_classes, true_instances)]
        for pred_c, pred_i, true_c, true_i in zip(*tensors, strict=True):
            self._image(pred_c, pred_i, true_c, true_i)

    def _segments(self, classes: np.ndarray, instances: np.ndarray) -> np.ndarray:
        """One key per pixel: ``class · (MAX + 1) + id`` (id 0 for stuff)."""
        ids = np.where(np.isin(classes, self.stuff), 0, instances)
        return classes * (MAX_INSTANCE_ID + 1) + ids

    def _image(self, pred_c: np.ndarray, pred_i: np.ndarray, true_c: np.ndarray, true_i: np.ndarray) -> None:
        if pred_c.min(initial=0) < 0 or pred_c.max(initial=0) >= self.num_classes:
            raise ValueError(f"classes: expected class indices in [0, {self.num_classes}), got range "
                             f"[{pred_c.min()}, {pred_c.max()}]")
        void = (true_c == IGNORE_INDEX) | (~np.isin(true_c, self.stuff) & (true_i == 0))
        pred = self._segments(pred_c, pred_i).ravel()
        true = self._segments(np.where(void, 0, true_c), true_i).ravel()
        pred_keys, pred_index, pred_area = np.unique(pred, return_inverse=True, return_counts=True)
        true_keys, true_index, true_area = np.unique(true[~void.ravel()], return_inverse=True, return_counts=True)
        pred_void = np.bincount(pred_index[void.ravel()], minlength=len(pred_keys))
        pairs = pred_index[~void.ravel()] * len(true_keys) + true_index
        overlap = np.bincount(pairs, minlength=len(pred_keys) * len(true_keys)).reshape(len(pred_keys), len(true_keys))
        same_class = (pred_keys[:, None] // (MAX_INSTANCE_ID + 1)) == (true_keys[None] // (MAX_INSTANCE_ID + 1))
        union = pred_area[:, None] - pred_void[:, None] + true_area[None] - overlap
        iou = np.where(same_class, overlap / np.maximum(union, 1), 0.0)
        matched_pred, matched_true = np.nonzero(iou > 0.5)
        pred_class, true_class = pred_keys // (MAX_INSTANCE_ID + 1), true_keys // (MAX_INSTANCE_ID + 1)
        np.add.at(self.tp, true_class[matched_true], 1)
        np.add.at(self.iou_sum, true_class[matched_true], iou[matched_pred, matched_true])
        missed = np.setdiff1d(np.arange(len(true_keys)), matched_true)
        np.add.at(self.fn, true_class[missed], 1)
        unmatched = np.setdiff1d(np.arange(len(pred_keys)), matched_pred)
        false = unmatched[pred_void[unmatched] <= 0.5 * pred_area[unmatched]]  # mostly on void: not counted
        np.add.at(self.fp, pred_class[false], 1)

    def compute(self) -> PanopticMetrics:
        per_class: list[dict[str, float] | None] = []
        for c in range(self.num_classes):
            tp, fp, fn = int(self.tp[c]), int(self.fp[c]), int(self.fn[c])
            if tp + fp + fn == 0:
                per_class.append(None)
                continue
            sq = float(self.iou_sum[c] / tp) if tp else 0.0
            rq = tp / (tp + 0.5 * fp + 0.5 * fn)
            per_class.append({"pq": sq * rq, "sq": sq, "rq": rq, "tp": tp, "fp": fp, "fn": fn})

        def mean(key: str, classes: list[int]) -> float:
            values = [per_class[c][key] for c in classes if per_class[c] is not None]
            return sum(values) / len(values) if values else float("nan")

        things = [c for c in range(self.num_classes) if c not in self.stuff]
        return PanopticMetrics(pq=mean("pq", things), sq=mean("sq", things), rq=mean("rq", things),
                               pq_all=mean("pq", list(range(self.num_classes))), per_class=per_class)


def oracle_panoptic(masks: torch.Tensor, instances: torch.Tensor, num_classes: int) -> PanopticMetrics:
    """The ceiling of every semantic pipeline: the *true* class maps ``N×H×W``, turned into objects by
    connected components, scored against the true instances."""
    metric = PanopticQuality(num_classes)
    metric.update(masks, connected_instances(masks), masks, instances)
    return metric.compute()
