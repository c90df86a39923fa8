"""Training losses: pixel-wise cross-entropy, optionally plus a soft Dice loss.

Cross-entropy counts pixels, so on the synthetic shapes (85 % background) most of its signal is about
background that is already right. Dice scores each class by overlap, as mIoU does, so a class
with few pixels weighs as much as one with many.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .metrics import IGNORE_INDEX


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


def segmentation_loss(
    logits: torch.Tensor, masks: torch.Tensor, dice_weight: float = 0.0, ignore_index: int = IGNORE_INDEX
) -> torch.Tensor:
    """Cross-entropy over the pixels of ``logits`` ``B×K×H×W`` against ``masks`` ``B×H×W``, plus
    ``dice_weight`` × :func:`soft_dice_loss`."""
    loss = F.cross_entropy(logits.float(), masks, ignore_index=ignore_index)
    if dice_weight > 0:
        loss = loss + dice_weight * soft_dice_loss(logits, masks, ignore_index)
    return loss
