"""Segmentation metrics from a confusion matrix: pixel accuracy, per-class IoU, mean IoU."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..checks import check_positive_int
from ..labels import IGNORE_INDEX


class ConfusionMatrix:
    """Counts ``K×K``: row = true class, column = predicted class. Pixels labelled ``ignore_index`` are skipped."""

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX) -> None:
        self.num_classes = check_positive_int("num_classes", num_classes)
        self.ignore_index = ignore_index
        self.counts = torch.zeros(num_classes, num_classes, dtype=torch.int64)

    def update(self, prediction: torch.Tensor, target: torch.Tensor) -> None:
        """``prediction`` and ``target``: integer class maps of one shape (e.g. ``B×H×W``)."""
        if prediction.shape != target.shape:
            raise ValueError(f"prediction: expected shape {tuple(target.shape)} like target, got {tuple(prediction.shape)}")
        keep = target != self.ignore_index
        t, p = target[keep].long().cpu(), prediction[keep].long().cpu()
        k = self.num_classes
        if t.numel() and (t.min() < 0 or t.max() >= k):
            raise ValueError(
                f"target: expected class indices in [0, {k}) or {self.ignore_index}, got range [{t.min()}, {t.max()}]"
            )
        self.counts += torch.bincount(t * k + p, minlength=k * k).view(k, k)

    def compute(self) -> Metrics:
        counts = self.counts.double()
        true_pos = counts.diag()
        union = counts.sum(0) + counts.sum(1) - true_pos
        iou = torch.where(union > 0, true_pos / union.clamp(min=1), torch.full_like(union, float("nan")))
        total = counts.sum()
        per_class = [None if torch.isnan(v) else float(v) for v in iou]
        present = [v for v in per_class if v is not None]
        return Metrics(
            pixel_accuracy=float(true_pos.sum() / total) if total > 0 else float("nan"),
            per_class_iou=per_class,
            miou=sum(present) / len(present) if present else float("nan"),
            confusion=self.counts.tolist(),
        )


@dataclass
class Metrics:
    """``per_class_iou[k]`` is ``None`` when class ``k`` is neither present nor predicted; ``miou`` averages the rest."""

    pixel_accuracy: float
    per_class_iou: list[float | None]
    miou: float
    confusion: list[list[int]]

    def to_dict(self, class_names: tuple[str, ...] | None = None) -> dict:
        out = {
            "miou": self.miou,
            "pixel_accuracy": self.pixel_accuracy,
            "per_class_iou": self.per_class_iou,
            "confusion": self.confusion,
        }
        if class_names is not None:
            out["class_names"] = list(class_names)
        return out
