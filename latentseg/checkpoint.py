"""Checkpoints: a ``state_dict`` plus the model config, written atomically, read with ``weights_only=True``."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from .files import atomic_path
from .models import MODELS, model_name
from .models.base import Segmenter

FORMAT = "latentseg-checkpoint"
VERSION = 2
#: version 2 added ``ImprovedConfig.dilation_growth`` (default 1); version-1 improved models were built with 2
_VERSION_1_DEFAULTS = {"improved": {"dilation_growth": 2}}


def save_checkpoint(
    path: str | os.PathLike,
    model: Segmenter,
    class_names: tuple[str, ...] | list[str] | None = None,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write ``model``'s name, config and weights to ``path``. ``metadata`` must hold plain Python values."""
    name = model_name(model)
    if class_names is not None and len(class_names) != model.num_classes:
        raise ValueError(f"class_names: expected {model.num_classes} names, got {len(class_names)}")
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "model": name,
        "config": model.config.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "class_names": list(class_names) if class_names is not None else None,
        "metadata": dict(metadata or {}),
    }
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint: no file at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError, OSError) as err:
        raise ValueError(f"checkpoint: {path} is not a readable latentseg checkpoint ({type(err).__name__}: "
                         f"{str(err).splitlines()[0] if str(err) else 'no detail'})") from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"checkpoint: {path} is not a latentseg checkpoint (expected format {FORMAT!r})")
    version = payload.get("version")
    if version not in (1, VERSION):
        raise ValueError(f"checkpoint: {path} has version {version!r}, this latentseg reads 1 and {VERSION}")
    if version == 1 and isinstance(payload.get("config"), dict):
        # a field added since keeps the value the model was built with, not today's default
        payload["config"] = {**_VERSION_1_DEFAULTS.get(payload.get("model", "seed"), {}), **payload["config"]}
    return payload


def load_checkpoint(
    path: str | os.PathLike, device: str | torch.device = "cpu"
) -> tuple[Segmenter, dict[str, Any]]:
    """Rebuild the model saved at ``path``; returns ``(model in eval mode, info)``.

    ``info`` holds ``model`` (the zoo name), ``config``, ``class_names`` and ``metadata``. A missing file raises
    ``FileNotFoundError``; a corrupt, foreign or mismatched file raises ``ValueError``.
    """
    path = Path(path)
    payload = _read(path)
    name = payload.get("model", "seed")  # early checkpoints held only the seed model
    if name not in MODELS:
        raise ValueError(f"checkpoint: {path} holds an unknown model {name!r}; this latentseg knows {sorted(MODELS)}")
    try:
        model = MODELS[name].from_config(payload["config"])
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"checkpoint: {path} holds an invalid model config: {err}") from err
    state = payload.get("state_dict")
    if not isinstance(state, dict):
        raise ValueError(f"checkpoint: {path} holds no state_dict")
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = [f"{k}: {tuple(state[k].shape)} vs {tuple(v.shape)}"
                   for k, v in expected.items() if k in state and state[k].shape != v.shape]
    if missing or unexpected or wrong_shape:
        raise ValueError(f"checkpoint: {path} does not match its config; missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}, wrong shapes {wrong_shape[:5]}")
    model.load_state_dict(state)
    info = {"model": name} | {k: payload.get(k) for k in ("config", "class_names", "metadata")}
    return model.to(device).eval(), info
