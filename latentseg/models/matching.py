"""Experts that own objects, trained the way MaskFormer and Mask2Former train their queries: each image's
objects are matched one to one to the experts (the Hungarian algorithm, SciPy's
``linear_sum_assignment``) by a cost of class, mask cross-entropy and mask Dice; a matched expert
learns its object's class and mask, every other expert learns to say *no object*.

Objects come from a class mask and instance ids (:func:`image_objects`): every instance is an
object of its class, and the background (class 0), which is *stuff*, is one more object of class 0
wherever it is present. Ignored pixels (255) count in no mask cost or loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

from ..labels import IGNORE_INDEX


@dataclass(frozen=True)
class MatchWeights:
    """Weights of the matching cost and of the losses (Mask2Former's: class 2, mask 5, Dice 5), and of
    the *no object* class in the class loss (0.1: most experts say it in every image); ``points``
    pixels drawn at random per image for the mask costs and losses (0: every pixel)."""

    class_weight: float = 2.0
    mask_weight: float = 5.0
    dice_weight: float = 5.0
    no_object_weight: float = 0.1
    points: int = 0


def image_objects(mask: torch.Tensor, instances: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The objects of one image, mask ``H×W`` and instance ids ``H×W``: their classes ``T`` (int64)
    and masks ``T×H×W`` (bool), the background region first when present, then instances by id."""
    valid = mask != IGNORE_INDEX
    ids = torch.unique(instances[valid & (instances > 0)])
    regions = [instances == i for i in ids.tolist()]
    classes = [int(mask[region & valid][0]) for region in regions]
    background = valid & (mask == 0)
    if background.any():
        regions, classes = [background, *regions], [0, *classes]
    if not regions:
        return torch.zeros(0, dtype=torch.long), torch.zeros(0, *mask.shape, dtype=torch.bool)
    return torch.tensor(classes, dtype=torch.long), torch.stack(regions)


def pairwise_mask_costs(logits: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean binary cross-entropy and Dice loss of every predicted mask against every target mask:
    ``logits`` ``…×M×P``, ``targets`` ``…×T×P`` (0/1 floats), ``valid`` ``…×P`` (pixels that count) →
    two ``…×M×T`` matrices, through matrix products rather than ``M·T`` separate losses."""
    valid = valid.float()[..., None, :]  # …×1×P
    logits, targets = logits.float() * valid, targets.float() * valid
    count = valid.sum(-1, keepdim=True).clamp_min(1)  # …×1×1
    when_one, when_zero = F.softplus(-logits) * valid, F.softplus(logits) * valid  # BCE for target 1 / 0
    bce = (when_one @ targets.mT + when_zero @ (valid - targets).mT) / count
    probs = logits.sigmoid() * valid
    dice = 1 - (2 * probs @ targets.mT + 1) / (probs.sum(-1)[..., :, None] + targets.sum(-1)[..., None, :] + 1)
    return bce, dice


def batch_objects(masks: torch.Tensor, instances: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`image_objects` of a batch ``B×H×W``, padded to the most objects ``T`` of any image:
    classes ``B×T`` (−1 where there is no object) and masks ``B×T×H×W``."""
    found = [image_objects(m, i) for m, i in zip(masks.cpu(), instances.cpu(), strict=True)]
    most = max((len(c) for c, _ in found), default=0)
    classes = torch.full((len(found), most), -1, dtype=torch.long)
    regions = torch.zeros(len(found), most, *masks.shape[-2:], dtype=torch.bool)
    for k, (c, r) in enumerate(found):
        classes[k, :len(c)], regions[k, :len(c)] = c, r
    return classes.to(masks.device), regions.to(masks.device)


def match_costs(class_logits: torch.Tensor, mask_logits: torch.Tensor, classes: torch.Tensor, regions: torch.Tensor,
                valid: torch.Tensor, weights: MatchWeights) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The matching cost of every expert against every object, ``B×M×T``:
    ``class_weight × (−p(object's class)) + mask_weight × BCE + dice_weight × Dice``, and the BCE and
    Dice matrices it adds (which the loss reuses for matched pairs). ``class_logits`` ``B×M×(K+1)``,
    ``mask_logits`` ``B×M×P``, ``classes`` ``B×T`` (−1: padding), ``regions`` ``B×T×P``, ``valid`` ``B×P``."""
    bce, dice = pairwise_mask_costs(mask_logits, regions, valid)  # B×M×T
    probs = class_logits.detach().float().softmax(-1)
    class_cost = -probs.gather(2, classes.clamp_min(0)[:, None].expand(-1, class_logits.shape[1], -1))  # B×M×T
    cost = weights.class_weight * class_cost + weights.mask_weight * bce + weights.dice_weight * dice
    return cost, bce, dice


def match(cost: torch.Tensor, classes: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per image, the one-to-one assignment of ``M`` experts to its objects of least total ``cost``
    (``B×M×T``; objects where ``classes`` ``B×T`` is −1 are padding). Returns ``(experts, objects)``
    index tensors per image, each of length ``min(M, objects)``: with more objects than experts, the
    objects left over are not matched (and not learned) in that image."""
    cost = cost.detach().cpu().numpy()
    counts = (classes >= 0).sum(1).tolist()
    pairs = []
    for k, count in enumerate(counts):
        experts, objects = linear_sum_assignment(cost[k, :, :count])
        pairs.append((torch.as_tensor(experts, dtype=torch.long), torch.as_tensor(objects, dtype=torch.long)))
    return pairs


class ObjectTargets(NamedTuple):
    """A batch's objects at one mask resolution, ready for :func:`matched_loss`: ``classes`` ``B×T``
    (−1: padding), ``regions`` ``B×T×P`` (0/1 floats), ``valid`` ``B×P`` (pixels that count) and
    ``points`` ``B×P`` (which of the ``h·w`` pixels were drawn, or ``None``: every pixel, ``P = h·w``)."""

    classes: torch.Tensor
    regions: torch.Tensor
    valid: torch.Tensor
    points: torch.Tensor | None


def object_targets(masks: torch.Tensor, instances: torch.Tensor, size: tuple[int, int], points: int = 0) -> ObjectTargets:
    """The objects of ``masks`` and ``instances`` ``B×H×W`` at mask size ``size`` (brought there by
    nearest neighbour if it differs), over ``points`` random pixels of each image (Mask2Former's point
    sampling, uniform here; the same pixels for every expert and object of an image) or over every pixel
    (``points`` 0, or not fewer than ``h·w``). Computed once per step and resolution, shared by the rounds."""
    size = tuple(size)
    if masks.shape[-2:] != size:
        masks = F.interpolate(masks[:, None].float(), size=size, mode="nearest-exact")[:, 0].long()
        instances = F.interpolate(instances[:, None].float(), size=size, mode="nearest-exact")[:, 0].long()
    classes, regions = batch_objects(masks, instances)  # B×T, B×T×h×w
    regions, valid = regions.flatten(2).float(), (masks != IGNORE_INDEX).flatten(1)
    if not 0 < points < regions.shape[-1]:
        return ObjectTargets(classes, regions, valid, None)
    chosen = torch.rand(valid.shape, device=valid.device).argsort(1)[:, :points]  # B×points
    return ObjectTargets(classes, regions.gather(2, chosen[:, None].expand(-1, regions.shape[1], -1)),
                         valid.gather(1, chosen), chosen)


def object_loss(class_logits: torch.Tensor, mask_logits: torch.Tensor, masks: torch.Tensor, instances: torch.Tensor,
                weights: MatchWeights) -> torch.Tensor:
    """The matched losses of one prediction round against ``masks`` and ``instances`` ``B×H×W``:
    :func:`matched_loss` over :func:`object_targets` at the masks' resolution, ``weights.points`` pixels."""
    targets = object_targets(masks, instances, mask_logits.shape[-2:], weights.points)
    return matched_loss(class_logits, mask_logits, targets, weights)


def matched_loss(class_logits: torch.Tensor, mask_logits: torch.Tensor, targets: ObjectTargets,
                 weights: MatchWeights) -> torch.Tensor:
    """The matched losses of one prediction round, averaged over the batch.

    ``class_logits`` ``B×M×(K+1)``, ``mask_logits`` ``B×M×h×w``, ``targets`` at ``h×w``
    (:func:`object_targets`). Per image, experts are matched to objects by ``class_weight × (−p(class))
    + mask_weight × BCE + dice_weight × Dice``; the loss is the cross-entropy of every expert's class
    against its matched object's class or *no object* (weighted ``no_object_weight``), plus, for matched
    experts, mask BCE and Dice against their objects' masks over the targets' pixels.
    """
    b, m, num_classes = class_logits.shape[0], class_logits.shape[1], class_logits.shape[2] - 1
    classes, regions, valid, chosen = targets
    logits = mask_logits.flatten(2)
    if chosen is not None:
        logits = logits.gather(2, chosen[:, None].expand(-1, m, -1))
    cost, bce, dice = match_costs(class_logits, logits, classes, regions, valid, weights)
    wanted = torch.full((b, m), num_classes, dtype=torch.long, device=class_logits.device)  # no object, unless matched
    image, expert, obj = [], [], []
    for k, (experts, objects) in enumerate(match(cost, classes)):
        image += [k] * len(experts)
        expert.append(experts)
        obj.append(objects)
    image = torch.tensor(image, dtype=torch.long, device=class_logits.device)
    expert, obj = torch.cat(expert).to(image.device), torch.cat(obj).to(image.device)
    wanted[image, expert] = classes[image, obj]
    class_weights = torch.ones(num_classes + 1, device=class_logits.device)
    class_weights[-1] = weights.no_object_weight
    class_loss = F.cross_entropy(class_logits.float().flatten(0, 1), wanted.flatten(), weight=class_weights)
    matched = max(len(image), 1)
    mask_loss = bce[image, expert, obj].sum() / matched
    dice_loss = dice[image, expert, obj].sum() / matched
    return weights.class_weight * class_loss + weights.mask_weight * mask_loss + weights.dice_weight * dice_loss
