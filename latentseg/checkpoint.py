"""Checkpoints: a ``state_dict`` plus the model config, written atomically, read with ``weights_only=True``
and checked against the SHA-256 digest of the weights stored beside them."""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path
from typing import Any

import torch

from .device import pick_device
from .files import atomic_path
from .models import MODELS, model_name
from .models.base import Segmenter

FORMAT = "latentseg-checkpoint"
VERSION = 4  # the first released format; files of earlier versions were never published


def weights_digest(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 over every tensor's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _check_plain(name: str, value: Any) -> None:
    """Refuse what ``torch.load(weights_only=True)`` would not read back: only plain Python values."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_plain(f"{name}[{i}]", item)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                raise TypeError(f"{name}: keys must be str or int, got {type(key).__name__} {key!r}")
            _check_plain(f"{name}[{key!r}]", item)
        return
    raise TypeError(f"{name}: expected plain values (None, bool, int, float, str, list, tuple, dict) that a "
                    f"weights-only load reads back, got {type(value).__name__}")


def save_checkpoint(
    path: str | os.PathLike,
    model: Segmenter,
    class_names: tuple[str, ...] | list[str] | None = None,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write ``model``'s name, config, weights and their digest to ``path``.

    ``metadata`` must hold plain Python values (checked before anything is written); ``class_names``
    one string per class."""
    name = model_name(model)
    if class_names is not None:
        if len(class_names) != model.num_classes or not all(isinstance(c, str) for c in class_names):
            raise ValueError(f"class_names: expected {model.num_classes} names (str), got {list(class_names)!r}")
    _check_plain("metadata", dict(metadata or {}))
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "model": name,
        "config": model.config.to_dict(),
        "state_dict": state,
        "weights_sha256": weights_digest(state),
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
        with warnings.catch_warnings():  # torch warns about pickle protocols before refusing a foreign file
            warnings.simplefilter("ignore", UserWarning)
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a text file, a truncated zip, pickled code: whatever it is, it is not ours
        detail = str(err).splitlines()[0] if str(err) else "no detail"
        if "weights only load failed" in detail.lower():  # torch's advice here is to load it unsafely: never
            detail = "it holds Python objects that a safe load (weights_only=True) refuses to run"
        raise ValueError(f"checkpoint: {path} is not a readable latentseg checkpoint ({type(err).__name__}: "
                         f"{detail})") from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"checkpoint: {path} is not a latentseg checkpoint (expected format {FORMAT!r})")
    version = payload.get("version")
    if version != VERSION:
        raise ValueError(f"checkpoint: {path} has version {version!r}, this latentseg reads version {VERSION}; "
                         "train the model again with this latentseg (python -m latentseg train)")
    if not isinstance(payload.get("state_dict"), dict):
        raise ValueError(f"checkpoint: {path} holds no state_dict")
    not_tensors = [k for k, v in payload["state_dict"].items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise ValueError(f"checkpoint: {path} holds a state_dict whose entries are not all tensors: {not_tensors[:5]}")
    for key, kind in (("metadata", dict), ("config", dict), ("class_names", list)):
        if payload.get(key) is not None and not isinstance(payload[key], kind):
            raise ValueError(f"checkpoint: {path} holds {key} of type {type(payload[key]).__name__}, expected a {kind.__name__}")
    _check_digest(path, payload)
    return payload


def load_checkpoint(
    path: str | os.PathLike, device: str | torch.device = "cpu"
) -> tuple[Segmenter, dict[str, Any]]:
    """Rebuild the model saved at ``path``; returns ``(model in eval mode, info)``.

    ``info`` holds ``model`` (the zoo name), ``config``, ``class_names`` and ``metadata``. A missing file raises
    ``FileNotFoundError``; a corrupt, foreign or mismatched file raises ``ValueError``.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"checkpoint: expected a file path (str or os.PathLike), got {type(path).__name__}")
    path = Path(path)
    device = pick_device(device)
    payload = _read(path)
    name = payload.get("model", "article")
    if name not in MODELS:
        raise ValueError(f"checkpoint: {path} holds an unknown model {name!r}; this latentseg knows {sorted(MODELS)}")
    try:
        model = MODELS[name].from_config(MODELS[name].config_class.from_saved(payload["config"]))
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"checkpoint: {path} holds an invalid model config: {err}") from err
    state = payload["state_dict"]
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = [f"{k}: {tuple(state[k].shape)} vs {tuple(v.shape)}"
                   for k, v in expected.items() if k in state and state[k].shape != v.shape]
    if missing or unexpected or wrong_shape:
        raise ValueError(f"checkpoint: {path} does not match its config; missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}, wrong shapes {wrong_shape[:5]}")
    not_finite = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if not_finite:
        raise ValueError(f"checkpoint: {path} holds NaN or infinite weights in {not_finite[:5]}: a model trained into "
                         "divergence, or a damaged file; train again with a lower learning rate")
    class_names = payload.get("class_names")
    if class_names is not None and (len(class_names) != model.num_classes or not all(isinstance(c, str) for c in class_names)):
        raise ValueError(f"checkpoint: {path} names {len(class_names)} classes for a model of {model.num_classes}: "
                         f"{class_names[:8]!r}")
    model.load_state_dict(state)
    info = {"model": name} | {k: payload.get(k) for k in ("config", "class_names", "metadata")}
    return model.to(device).eval(), info


def _check_digest(path: Path, payload: dict[str, Any]) -> None:
    """A checkpoint stores its weights' SHA-256; a mismatch (or none) means the file was damaged after it
    was written."""
    stored = payload.get("weights_sha256")
    if stored != weights_digest(payload["state_dict"]):
        raise ValueError(f"checkpoint: {path} is damaged: its weights do not match the SHA-256 digest stored "
                         "with them (the file changed after it was written); train again or restore a copy")
