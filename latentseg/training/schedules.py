"""Learning-rate schedules: the multiplier of the peak learning rate at each point of training."""

from __future__ import annotations

import math

SCHEDULES = ("constant", "cosine", "wsd")


def learning_rate_factor(schedule: str, progress: float, warmup: float = 0.05, decay: float = 0.5) -> float:
    """Multiplier of the base learning rate at ``progress`` ∈ [0, 1] of training.

    ``constant``: 1. The others start with a linear warm-up over the first ``warmup`` share and end at
    1 %: ``cosine`` decays along a half cosine from the end of the warm-up; ``wsd`` (warm-up, stable,
    decay) holds the peak and decays linearly over the last ``decay`` share. A short budget is spent
    best by moving fast and ending with small, careful steps; ``wsd`` moves fast for longer.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule: expected one of {SCHEDULES}, got {schedule!r}")
    if schedule == "constant":
        return 1.0
    progress = min(max(progress, 0.0), 1.0)
    if progress < warmup:
        return max(progress / warmup, 0.01)
    if schedule == "wsd":
        return max(min(1.0, (1 - progress) / decay), 0.01)
    return max(0.5 * (1 + math.cos(math.pi * (progress - warmup) / (1 - warmup))), 0.01)
