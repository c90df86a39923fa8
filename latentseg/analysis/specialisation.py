"""Do the latents act as experts? Numbers for routing, agreement with the classes, and duplicates.

Good and bad values, for ``M`` experts and ``K`` classes:

- routing entropy: 0 means every position reads one expert; ``ln M`` means it reads all equally
  (no routing at all). Specialised experts sit well below ``ln M``.
- NMI / ARI of the argmax-expert map against the class map: 1 means experts and classes partition
  the image the same way; 0 means they are unrelated. NMI is pulled down when one class is split
  over many experts; ARI is near 0 for chance agreement.
- purity: share of an expert's positions that belong to its majority class. Compare it with the
  majority-class baseline (the share of the most common class overall): when background covers 85 %
  of the pixels, an expert that owns everything is 85 % "pure" and specialised in nothing.
- duplicates: mean pairwise cosine of the refined latents and the number of pairs above 0.9; near-
  duplicates are experts that say the same thing twice. Experts that win no position say nothing,
  and can drift together harmlessly: ``duplicate_pairs_used`` counts pairs of used experts only.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..device import eval_mode
from ..labels import IGNORE_INDEX
from .probes import expert_assignment


def routing_entropy(pixel_attention: torch.Tensor) -> float:
    """Mean entropy (nats) of each position's distribution over experts, heads averaged.

    ``pixel_attention``: ``B×heads×M×h×w``, summing to 1 over ``M``.
    """
    p = pixel_attention.mean(1).clamp_min(1e-12)  # B×M×h×w
    return float(-(p * p.log()).sum(1).mean())


def downsample_mask(masks: torch.Tensor, size: tuple[int, int], num_classes: int) -> torch.Tensor:
    """Class maps ``B×H×W`` → ``B×h×w`` by majority vote in each cell (ignored pixels do not vote;
    cells with only ignored pixels become ``IGNORE_INDEX``)."""
    valid = masks != IGNORE_INDEX
    one_hot = F.one_hot(torch.where(valid, masks, 0), num_classes).permute(0, 3, 1, 2).float()
    one_hot = one_hot * valid[:, None]
    votes = F.adaptive_avg_pool2d(one_hot, size)  # B×K×h×w
    return torch.where(votes.sum(1) > 0, votes.argmax(1), IGNORE_INDEX)


def expert_class_matrix(assignment: torch.Tensor, classes: torch.Tensor, num_experts: int, num_classes: int) -> torch.Tensor:
    """Contingency table ``M×K``: positions won by expert ``m`` whose class is ``k``.

    ``assignment`` and ``classes``: ``B×h×w`` (expert indices, class indices; ``IGNORE_INDEX`` skipped).
    """
    if assignment.shape != classes.shape:
        raise ValueError(f"classes: expected shape {tuple(assignment.shape)} like assignment, got {tuple(classes.shape)}")
    keep = classes != IGNORE_INDEX
    index = assignment[keep] * num_classes + classes[keep]
    return torch.bincount(index, minlength=num_experts * num_classes).view(num_experts, num_classes).double()


def _entropy(counts: torch.Tensor) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * p.log()).sum())


def normalized_mutual_information(matrix: torch.Tensor) -> float:
    """NMI of the two partitions in a contingency table, ``2·I / (H(rows) + H(columns))``; 1 if both are trivial."""
    n = matrix.sum()
    h_rows, h_cols = _entropy(matrix.sum(1)), _entropy(matrix.sum(0))
    if h_rows + h_cols == 0:
        return 1.0
    joint = matrix / n
    outer = matrix.sum(1, keepdim=True) * matrix.sum(0, keepdim=True) / n**2
    nonzero = joint > 0
    mutual = float((joint[nonzero] * (joint[nonzero] / outer[nonzero]).log()).sum())
    return 2 * mutual / (h_rows + h_cols)


def adjusted_rand_index(matrix: torch.Tensor) -> float:
    """ARI of the two partitions in a contingency table: 1 identical, about 0 at chance."""
    def pairs(x: torch.Tensor) -> float:
        return float((x * (x - 1) / 2).sum())

    n = float(matrix.sum())
    index, rows, cols = pairs(matrix), pairs(matrix.sum(1)), pairs(matrix.sum(0))
    expected = rows * cols / (n * (n - 1) / 2) if n > 1 else 0.0
    maximum = (rows + cols) / 2
    return 1.0 if maximum == expected else (index - expected) / (maximum - expected)


def purity(matrix: torch.Tensor) -> dict[str, object]:
    """Per-expert purity (``None`` for experts that win nothing), overall purity, and the
    majority-class baseline it must beat to mean anything."""
    won = matrix.sum(1)
    per_expert = [None if w == 0 else float(matrix[m].max() / w) for m, w in enumerate(won)]
    return {
        "per_expert": per_expert,
        "overall": float(matrix.max(1).values.sum() / matrix.sum()),
        "majority_baseline": float(matrix.sum(0).max() / matrix.sum()),
    }


def duplicate_latents(latents: torch.Tensor, threshold: float = 0.9, among: torch.Tensor | None = None) -> dict[str, float]:
    """Mean pairwise cosine of the refined latents ``B×M×L`` (diagonal excluded) and the mean number
    of pairs per image above ``threshold``; ``among`` (``M`` bools) keeps only pairs of those experts."""
    unit = F.normalize(latents, dim=-1)
    cosine = unit @ unit.transpose(1, 2)  # B×M×M
    m = latents.shape[1]
    upper = torch.triu(torch.ones(m, m, dtype=torch.bool), diagonal=1)
    if among is not None:
        upper &= among[:, None] & among[None, :]
    pairs = cosine[:, upper]  # B×pairs
    if pairs.shape[1] == 0:
        return {"mean_cosine": 0.0, "pairs_above": 0.0, "threshold": threshold}
    return {"mean_cosine": float(pairs.mean()), "pairs_above": float((pairs > threshold).sum(1).float().mean()),
            "threshold": threshold}


def identical_groups(vectors: torch.Tensor, threshold: float = 0.99) -> list[list[int]]:
    """Groups of experts that are copies of each other: ``vectors`` is ``B×M×D`` (refined latents, or
    attention maps flattened to ``B×M×N``); experts whose cosine, averaged over the batch, exceeds
    ``threshold`` are joined (transitively). Returns every group, largest first, singletons included."""
    unit = F.normalize(vectors.float(), dim=-1)
    close = (unit @ unit.transpose(1, 2)).mean(0) > threshold  # M×M
    groups, seen = [], set()
    for start in range(close.shape[0]):
        if start in seen:
            continue
        group, frontier = {start}, [start]
        while frontier:
            linked = set(torch.nonzero(close[frontier.pop()]).flatten().tolist()) - group
            group |= linked
            frontier.extend(linked)
        seen |= group
        groups.append(sorted(group))
    return sorted(groups, key=len, reverse=True)


@torch.no_grad()
def specialisation_report(model: torch.nn.Module, images: torch.Tensor, masks: torch.Tensor,
                          batch_size: int = 64) -> dict[str, object]:
    """All of the above for a latent model on ``images`` ``N×3×H×W`` and ``masks`` ``N×H×W``."""
    num_experts, num_classes = model.config.num_latents, model.config.num_classes
    matrix = torch.zeros(num_experts, num_classes, dtype=torch.float64)
    entropy_sum = 0.0
    usage = torch.zeros(num_experts, dtype=torch.float64)
    refined = []
    with eval_mode(model):
        for start in range(0, len(images), batch_size):
            out = model.forward_with_attention(images[start:start + batch_size])
            batch = out.pixel_attention.shape[0]
            entropy_sum += routing_entropy(out.pixel_attention) * batch
            assignment = expert_assignment(out)  # B×h×w
            usage += torch.bincount(assignment.flatten(), minlength=num_experts).double()
            classes = downsample_mask(masks[start:start + batch_size], tuple(assignment.shape[-2:]), num_classes)
            matrix += expert_class_matrix(assignment, classes, num_experts, num_classes)
            refined.append(out.latents)
    entropy = entropy_sum / len(images)
    latents = torch.cat(refined)  # N×M×L
    duplicates = duplicate_latents(latents)
    used = usage > 0
    return {
        "routing_entropy": entropy,
        "routing_entropy_ratio": entropy / math.log(num_experts),
        "usage": (usage / usage.sum()).tolist(),
        "expert_class_matrix": matrix.tolist(),
        "nmi": normalized_mutual_information(matrix),
        "ari": adjusted_rand_index(matrix),
        "purity": purity(matrix),
        "duplicate_pairs": duplicates["pairs_above"],
        "mean_latent_cosine": duplicates["mean_cosine"],
        "experts_used": int(used.sum()),
        "duplicate_pairs_used": duplicate_latents(latents, among=used)["pairs_above"],
    }
