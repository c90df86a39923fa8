"""Training losses: pixel-wise cross-entropy, optionally plus a soft Dice loss, optionally with more
weight on the pixels at class boundaries.

Cross-entropy counts pixels, so on the synthetic shapes (mostly background) most of its signal is about
background that is already right. Dice scores each class by overlap, as mIoU does, so a class
with few pixels weighs as much as one with many. Most of what a trained model still gets wrong lies
on a boundary, mostly where two shapes meet, yet boundary pixels are a small share of all pixels:
``edge_weight`` gives each of them that many extra pixels' worth of cross-entropy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..labels import IGNORE_INDEX


def soft_dice_loss(logits: torch.Tensor, masks: torch.Tensor, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """``1 − mean over classes of 2·|P∩T| / (|P| + |T|)`` with soft predictions, in ``[0, 1]``.

    ``logits`` ``B×K×H×W``, ``masks`` ``B×H×W`` (``ignore_index`` pixels left out). Overlaps are summed
    over the whole batch, so a class missing from one image does not count as a failure there; a
    class absent from the whole batch and not predicted scores 1 (the +1 smoothing), not 0.
    """
    if logits.dim() != 4 or masks.shape != (logits.shape[0], *logits.shape[2:]):
        raise ValueError(f"logits, masks: expected B×K×H×W and B×H×W, got {tuple(logits.shape)} and {tuple(masks.shape)}")
    num_classes = logits.shape[1]
    valid = (masks != ignore_index).unsqueeze(1)  # B×1×H×W
    probs = logits.float().softmax(1) * valid
    target = F.one_hot(masks.where(valid.squeeze(1), 0), num_classes).permute(0, 3, 1, 2) * valid  # B×K×H×W
    overlap = (probs * target).sum((0, 2, 3))  # K
    total = probs.sum((0, 2, 3)) + target.sum((0, 2, 3))  # K
    return 1 - ((2 * overlap + 1) / (total + 1)).mean()


def boundary_pixels(masks: torch.Tensor, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """Bools ``B×H×W``: the labelled pixels of ``masks`` ``B×H×W`` that have a labelled pixel of another
    class among their 8 neighbours (both sides of every boundary; ``ignore_index`` pixels are neither)."""
    if masks.dim() != 3:
        raise ValueError(f"masks: expected B×H×W, got shape {tuple(masks.shape)}")
    valid = masks != ignore_index
    labels = masks.float().unsqueeze(1)  # B×1×H×W; max pooling needs floats
    ignored = ~valid.unsqueeze(1)
    highest = F.max_pool2d(labels.masked_fill(ignored, -1.0), 3, stride=1, padding=1)
    lowest = -F.max_pool2d(-labels.masked_fill(ignored, float(ignore_index) + 1), 3, stride=1, padding=1)
    return valid & ((highest != labels) | (lowest != labels)).squeeze(1)


def segmentation_loss(
    logits: torch.Tensor, masks: torch.Tensor, dice_weight: float = 0.0, ignore_index: int = IGNORE_INDEX,
    edge_weight: float = 0.0,
) -> torch.Tensor:
    """Cross-entropy over the pixels of ``logits`` ``B×K×H×W`` against ``masks`` ``B×H×W``, plus
    ``dice_weight`` × :func:`soft_dice_loss`. With ``edge_weight`` > 0 the cross-entropy is a weighted
    mean in which :func:`boundary_pixels` count ``1 + edge_weight`` times."""
    if edge_weight > 0:
        weights = (masks != ignore_index) * (1 + edge_weight * boundary_pixels(masks, ignore_index).float())
        per_pixel = F.cross_entropy(logits.float(), masks, ignore_index=ignore_index, reduction="none")
        loss = (per_pixel * weights).sum() / weights.sum().clamp_min(1)
    else:
        loss = F.cross_entropy(logits.float(), masks, ignore_index=ignore_index)
    if dice_weight > 0:
        loss = loss + dice_weight * soft_dice_loss(logits, masks, ignore_index)
    return loss
