"""Argument checks that fail early with a message naming the argument, what was expected and what came."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import torch


def check_positive_int(name: str, value: object) -> int:
    """Return ``value`` if it is an ``int`` > 0 (bools are refused), else raise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: expected a positive int, got {type(value).__name__} {value!r}")
    if value <= 0:
        raise ValueError(f"{name}: expected a positive int, got {value}")
    return value


def check_number(name: str, value: object, expected: str = "a finite number ≥ 0",
                 ok: Callable[[float], bool] = lambda v: v >= 0) -> float:
    """Return ``value`` as float if it is a finite real number (bools refused) for which ``ok`` holds;
    else a ``TypeError`` (not a number) or ``ValueError`` naming ``name``, ``expected`` and the value."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name}: expected {expected}, got {type(value).__name__} {value!r}")
    if not (math.isfinite(value) and ok(value)):
        raise ValueError(f"{name}: expected {expected}, got {value!r}")
    return float(value)


def check_bool(name: str, value: object) -> bool:
    """``value`` if it is ``True`` or ``False`` (not a string or number that Python would call true)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name}: expected True or False, got {type(value).__name__} {value!r}")
    return value


def check_optional_positive_int(name: str, value: object) -> int | None:
    """``None``, or a positive int (see :func:`check_positive_int`)."""
    return None if value is None else check_positive_int(name, value)


def check_choice(name: str, value: object, choices: tuple | list) -> object:
    """``value`` if it is one of ``choices``; else a ``ValueError`` listing them."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name}: expected one of {', '.join(map(str, choices))}, got {value!r}")
    return value


def check_positive_float(name: str, value: object) -> float:
    """Return ``value`` as float if it is a finite real number > 0, else raise (see :func:`check_number`)."""
    return check_number(name, value, "a finite number > 0", lambda v: v > 0)


def check_image_batch(name: str, x: object, channels: int, min_size: int, finite: bool = True) -> torch.Tensor:
    """Check that ``x`` is a float tensor ``B×channels×H×W`` with ``H, W >= min_size`` and, with
    ``finite``, finite values (:func:`check_finite`): every model's ``forward``, ``predict`` and the
    inference functions call it, so a NaN image is refused the same way everywhere, never turned into a
    mask. A layer inside a model passes ``finite=False``: the values were checked at the model's door."""
    expected = f"a float tensor of shape B×{channels}×H×W with H, W ≥ {min_size}"
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected {expected}, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name}: expected {expected}, got dtype {x.dtype} (convert with x.float() / 255)")
    if x.dim() != 4:
        raise ValueError(f"{name}: expected {expected}, got {x.dim()} dimensions, shape {tuple(x.shape)}")
    if x.shape[1] != channels:
        raise ValueError(f"{name}: expected {channels} channels (B×{channels}×H×W), got {x.shape[1]}, shape {tuple(x.shape)}")
    if x.shape[2] < min_size or x.shape[3] < min_size:
        raise ValueError(f"{name}: expected H, W ≥ {min_size}, got H×W = {x.shape[2]}×{x.shape[3]}")
    if x.shape[0] == 0:
        raise ValueError(f"{name}: expected a batch of at least one image, got shape {tuple(x.shape)}")
    if finite and not torch.compiler.is_compiling():  # a data-dependent branch would break the compiled graph
        check_finite(name, x)
    return x


def warn_outside_unit_range(name: str, x: torch.Tensor, slack: float = 0.05) -> None:
    """Warn (once per calling line) when float pixels ``x`` stray outside ``[0, 1]``, the range every
    model is trained on: a 0–255 image, or a normalised one, gets other classes without an error."""
    low, high = float(x.min()), float(x.max())
    if low < -slack or high > 1 + slack:
        hint = "divide 0–255 images by 255" if high > 2 else "undo any normalisation"
        warnings.warn(f"{name}: pixel values are expected in [0, 1], got {low:.3g} to {high:.3g}; {hint}",
                      UserWarning, stacklevel=3)


def check_tokens(name: str, x: object, dim: int) -> torch.Tensor:
    """Check that ``x`` is a float tensor ``B×N×dim`` with ``N ≥ 1``."""
    expected = f"a float tensor of shape B×N×{dim}"
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected {expected}, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name}: expected {expected}, got dtype {x.dtype}")
    if x.dim() != 3 or x.shape[-1] != dim or x.shape[1] == 0:
        raise ValueError(f"{name}: expected {expected}, got shape {tuple(x.shape)}")
    return x


def check_divisible(dim_name: str, dim: int, num_heads: int) -> None:
    """``dim`` must split evenly over ``num_heads`` attention heads."""
    if dim % num_heads:
        raise ValueError(f"num_heads: {dim_name} must be divisible by num_heads, got {dim_name}={dim}, num_heads={num_heads}")


def check_heads(latent_dim: int, num_heads: int) -> None:
    """Positive ``latent_dim`` and ``num_heads``, the first divisible by the second."""
    check_positive_int("latent_dim", latent_dim)
    check_positive_int("num_heads", num_heads)
    check_divisible("latent_dim", latent_dim, num_heads)


def check_expert_mask(mask: torch.Tensor | None, num_latents: int, device: torch.device) -> torch.Tensor | None:
    """``None`` or ``M`` bools with at least one ``True`` (a pixel must read something).

    All ``True`` becomes ``None``, so switching every expert back on runs the very same computation.
    """
    if mask is None:
        return None
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or mask.shape != (num_latents,):
        got = f"{mask.dtype} {tuple(mask.shape)}" if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise ValueError(f"expert_mask: expected a bool tensor of shape ({num_latents},), got {got}")
    if not mask.any():
        raise ValueError("expert_mask: at least one expert must stay on, got all False")
    return None if mask.all() else mask.to(device)


def check_finite(name: str, x: torch.Tensor) -> torch.Tensor:
    """Refuse a tensor holding NaN or infinite values: one such pixel would spread through every logit."""
    if not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        raise ValueError(f"{name}: expected finite values, got {bad} NaN or infinite of {x.numel()}")
    return x
