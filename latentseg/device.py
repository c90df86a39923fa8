"""Device choice, seeding, the precision a device computes in (autocast), and eval mode for a block."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` if given, else CUDA when present, then Apple MPS, then CPU."""
    if device is not None and str(device) != "auto":
        expected = f"device: expected 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {device!r}"
        try:
            chosen = torch.device(device)
        except (RuntimeError, TypeError) as err:
            raise ValueError(expected) from err
        if chosen.type not in ("cpu", "cuda", "mps"):  # 'meta' and the like hold no numbers to compute with
            raise ValueError(expected)
        _check_available(chosen)
        return chosen
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _check_available(device: torch.device) -> None:
    if device.type == "cuda":
        if not torch.cuda.is_available():
            build = "this torch build has no CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
            raise ValueError(f"device: {device} was asked for, but {build}; use 'cpu' or 'auto'")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device: {device} was asked for, but there are {torch.cuda.device_count()} GPUs")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device: {device} was asked for, but Apple's MPS is not available here; use 'cpu' or 'auto'")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so that a timer measures it (a no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def _native_bf16() -> bool:
    """Whether this GPU computes bf16 in hardware (Ampere and newer); older ones, such as Colab's T4,
    only emulate it, slowly, so ``auto`` picks fp16 there."""
    try:
        return torch.cuda.is_bf16_supported(including_emulation=False)
    except TypeError:  # torch before 2.4 has no such argument and does not count emulation
        return torch.cuda.is_bf16_supported()


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``precision`` on ``device``, or ``None`` for full fp32.

    ``auto`` is bf16 on a CUDA GPU that computes it natively, fp16 on an older one (e.g. a T4), and
    fp32 elsewhere (CPU autocast rarely pays off, and MPS support varies). ``fp16`` needs CUDA;
    ``bf16`` also runs on CPU.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision: expected one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if _native_bf16() else torch.float16
    if precision == "fp16" and device.type != "cuda":
        raise ValueError(f"precision: fp16 autocast needs a CUDA device, got {device}; use bf16 or fp32")
    if precision == "bf16" and device.type not in ("cuda", "cpu"):
        raise ValueError(f"precision: bf16 autocast runs on CUDA or CPU, got {device}")
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def autocast_to(device_type: str, amp_dtype: torch.dtype | None) -> torch.autocast:
    """Autocast to ``amp_dtype`` on ``device_type``; a no-op context when ``amp_dtype`` is ``None`` (fp32)."""
    return torch.autocast(device_type, dtype=amp_dtype or torch.bfloat16, enabled=amp_dtype is not None)


@contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """``model`` in eval mode inside the block, back in the mode it had after (even on an error)."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)
