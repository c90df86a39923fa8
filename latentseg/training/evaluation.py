"""Scoring a model: pixel accuracy, per-class IoU and mIoU from a confusion matrix (:func:`evaluate`),
panoptic quality on objects (:func:`evaluate_instances`), and the validation pass ``fit`` records."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..checks import check_finite, check_positive_int
from ..data.dataset import SegmentationData
from ..device import eval_mode, pick_device
from ..labels import IGNORE_INDEX
from ..tiling import Tiling, check_tiling, predict_tiled_instances, predict_tiled_logits
from .metrics import ConfusionMatrix, Metrics
from .panoptic import PanopticMetrics, PanopticQuality, connected_instances


def num_classes_of(model: nn.Module) -> int:
    """``model.config.num_classes``; a ``TypeError`` for a model without a latentseg config."""
    config = getattr(model, "config", None)
    if config is None:
        raise TypeError("model: expected a latentseg model with a .config (num_classes), got "
                        f"{type(model).__name__}")
    return config.num_classes


def in_order(data: Dataset, batch_size: int) -> DataLoader:
    """``data`` in batches of ``batch_size``, in order, the last batch possibly smaller."""
    return DataLoader(data, batch_size=batch_size, shuffle=False, drop_last=False)


@torch.no_grad()
def validation_pass(model: nn.Module, loader: DataLoader, device: torch.device) -> tuple[float, Metrics]:
    """Mean cross-entropy per labelled pixel and the :class:`Metrics` of ``model`` over ``loader``, in eval mode."""
    confusion = ConfusionMatrix(num_classes_of(model))
    loss_sum, pixels, seen = 0.0, 0, 0
    with eval_mode(model):
        for images, masks, *_ in loader:
            check_finite(f"data: images {seen}–{seen + len(images) - 1}", images)
            seen += len(images)
            images, masks = images.to(device), masks.to(device)
            logits = model(images)
            loss_sum += float(F.cross_entropy(logits, masks, ignore_index=IGNORE_INDEX, reduction="sum"))
            pixels += int((masks != IGNORE_INDEX).sum())
            confusion.update(logits.argmax(1), masks)
    return loss_sum / max(pixels, 1), confusion.compute()


def evaluate(model: nn.Module, data: Dataset, batch_size: int = 64, device: str | torch.device | None = None) -> Metrics:
    """Pixel accuracy, per-class IoU and mIoU of ``model`` on ``data`` (pairs ``3×H×W``, ``H×W``)."""
    check_positive_int("batch_size", batch_size)
    check_data("data", data, num_classes_of(model))
    device = pick_device(device)
    model.to(device)
    return validation_pass(model, in_order(data, batch_size), device)[1]


@torch.no_grad()
def evaluate_instances(model: nn.Module, data: Dataset, batch_size: int = 64,
                       device: str | torch.device | None = None, tiling: Tiling | None = None) -> PanopticMetrics:
    """Panoptic quality of ``model`` on ``data`` that carry instance ids (items ``(image, mask,
    instances)``, e.g. ``SegmentationData.with_instances()``): a model whose experts own objects
    (``predict_instances``) is scored on its own instance map, any other on the connected components
    of its class map (:func:`~latentseg.training.panoptic.connected_instances`). With ``tiling``, images
    larger than its window are read window by window and stitched (:mod:`latentseg.tiling`)."""
    check_positive_int("batch_size", batch_size)
    check_tiling(tiling)
    if not getattr(data, "has_instances", False):
        raise ValueError(f"data: panoptic quality needs instance ids, and this {type(data).__name__} carries none")
    device = pick_device(device)
    model.to(device)
    metric = PanopticQuality(num_classes_of(model))
    for images, masks, instances in in_order(data.with_instances(), batch_size):
        images = images.to(device)
        if tiling is not None and tiling.check(model, *images.shape[-2:]):
            maps = [_tiled_instances(model, image[None], tiling) for image in images]
            classes, ids = torch.stack([m[0] for m in maps]), torch.stack([m[1] for m in maps])
        elif getattr(model, "owns_objects", False):
            found = model.predict_instances(images)
            classes, ids = found.classes, found.instances
        else:
            classes = model.predict(images).cpu()
            ids = connected_instances(classes)
        metric.update(classes, ids, masks, instances)
    return metric.compute()


def _tiled_instances(model: nn.Module, x: torch.Tensor, tiling: Tiling) -> tuple[torch.Tensor, torch.Tensor]:
    """Class map and instance ids ``H×W`` of one image ``1×C×H×W``, read by windows: the experts' own
    objects stitched, or connected components of the stitched class map."""
    if getattr(model, "owns_objects", False):
        classes, ids, _ = predict_tiled_instances(model, x, tiling.window, tiling.overlap)
        return classes.cpu(), ids.cpu()
    with eval_mode(model):
        classes = predict_tiled_logits(model, x, tiling.window, tiling.overlap).argmax(1).cpu()
    return classes[0], connected_instances(classes)[0]


def check_data(name: str, data: Dataset | None, num_classes: int) -> None:
    """The model's class count matches the data's; in-memory data (files are checked batch by batch)
    holds finite float images and class indices below ``num_classes`` (or the ignore index)."""
    data_classes = getattr(data, "num_classes", num_classes)
    if data_classes != num_classes:
        raise ValueError(f"{name}: the model has num_classes={num_classes} but the data has {data_classes} classes")
    if not isinstance(data, SegmentationData):
        return
    if not data.images.is_floating_point():
        raise TypeError(f"{name}: images: expected floats in [0, 1], got dtype {data.images.dtype} (use images.float() / 255)")
    check_finite(f"{name}: images", data.images)
    bad = (data.masks < 0) | ((data.masks >= num_classes) & (data.masks != IGNORE_INDEX))
    if bad.any():
        raise ValueError(f"{name}: masks: expected class indices 0–{num_classes - 1} (or {IGNORE_INDEX}, ignored), "
                         f"got {sorted(data.masks[bad].unique().tolist())[:5]}")
