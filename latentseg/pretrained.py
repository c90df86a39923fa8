"""Checkpoints that ship inside the package, so that a notebook can show a model trained for longer than
a learner would wait for. Each was written by ``python -m latentseg train`` (the command and the
source's commit are in its metadata) and is checked by the SHA-256 of its file before it is read,
then read like any checkpoint (``weights_only=True``, its weights' own digest checked again).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from .checkpoint import load_checkpoint
from .device import pick_device
from .models.base import Segmenter

WEIGHTS = Path(__file__).resolve().parent / "weights"

#: name → (file in :data:`WEIGHTS`, SHA-256 of the file)
PRETRAINED: dict[str, tuple[str, str]] = {
    # 6,000 steps on crowded scenes, seed 0 (train --data crowded --epochs 12), before masked attention: notebooks 07 and 11
    "experts-crowded": ("experts_crowded.pt", "1736949ec15a76614401f19ffee750fb8cdbfb91a3573ab0fe74d5c453f14863"),
    "unet-crowded": ("unet_crowded.pt", "6d8afd164044adc3a30b8e976f2d0443f2047b0640af265c3a2c0058bfd06dda"),
    # 600 steps on the nuclei stack's training slices, 32 experts (slices hold up to 20 nuclei), masked attention: notebook 11
    "experts-nuclei": ("experts_nuclei.pt", "68a6ef2f76f557d9a5727ee595ba5bd8e46c15247298ec6ebabbe2ba3210f7cb"),
    # 12,000 steps on the varied look, seed 0 (train --epochs 24), without and with --texture-refill 0.5: notebook 10
    "improved-varied": ("improved_varied.pt", "f30ce43078a89e0dcedb011971fc803de88ebb1a90f670904a3eefc46781cc45"),
    "improved-refill": ("improved_refill.pt", "f60a8027f896604b50e03334e8fa7c5b2d41c52d0eeeb866dbd407404158468e"),
}


def pretrained_path(name: str) -> Path:
    """The file of the shipped checkpoint ``name``, after checking its SHA-256."""
    if not isinstance(name, str) or name not in PRETRAINED:
        raise ValueError(f"name: expected one of the shipped checkpoints {sorted(PRETRAINED)}, got {name!r}")
    filename, expected = PRETRAINED[name]
    path = WEIGHTS / filename
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint: {path} is missing from this installation of latentseg; reinstall it")
    found = hashlib.sha256(path.read_bytes()).hexdigest()
    if found != expected:
        raise ValueError(f"checkpoint: {path} has SHA-256 {found[:16]}…, expected {expected[:16]}…: the file is damaged "
                         "or was replaced; reinstall latentseg")
    return path


def load_pretrained(name: str, device: str = "cpu") -> tuple[Segmenter, dict[str, Any]]:
    """The shipped checkpoint ``name`` as :func:`~latentseg.load_checkpoint` returns it: ``(model, info)``,
    ``info["metadata"]`` holding the command that trained it and the commit it was trained from."""
    device = pick_device(device)  # a device that is not there is named before the file is read
    return load_checkpoint(pretrained_path(name), device=device)
