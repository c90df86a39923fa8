"""Train once, read back after: :func:`cached_fit` is :func:`~latentseg.training.loop.fit` that keeps
the trained weights and history on disk, keyed by everything that decides them, so that notebooks
which need the same trained model do not make a learner wait for it twice."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
from torch import nn

from ..checkpoint import weights_digest
from ..data.dataset import SegmentationData
from ..data.download import data_root
from ..device import pick_device, seed_everything
from ..files import atomic_path
from .loop import History, TrainOptions, fit
from .recipe import RECIPE, Recipe

CACHE_ENV = "LATENTSEG_CACHE"
FORMAT = "latentseg-fit-cache"


def cache_root(root: str | os.PathLike | None = None) -> Path:
    """Where trained models are kept: ``root``, else ``$LATENTSEG_CACHE``, else ``<data root>/fits``."""
    if root is not None:
        return Path(root).expanduser()
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return data_root() / "fits"


def code_digest() -> str:
    """SHA-256 over the source of every module of the package: any change to the code is a new key."""
    package = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _data_digest(name: str, data: SegmentationData | None) -> str:
    if data is None:
        return "none"
    if not isinstance(data, SegmentationData):
        raise TypeError(f"{name}: cached_fit keys on the data's contents, so it needs in-memory SegmentationData, "
                        f"got {type(data).__name__}; call fit instead")
    tensors = {"images": data.images, "masks": data.masks}
    if data.instances is not None:
        tensors["instances"] = data.instances
    return weights_digest(tensors) + "|" + "|".join(data.class_names)


def fit_key(model: nn.Module, train_data: SegmentationData, val_data: SegmentationData | None, *,
            recipe: Recipe, epochs: int, seed: int, device: torch.device, max_steps: int | None) -> str:
    """A digest of the code, the model's class and initial weights, both data sets, the recipe, the
    length of training, the seed, the device type, the CPU thread count (it changes the order of sums,
    and so the trained model) and the torch version."""
    parts = [code_digest(), type(model).__qualname__, weights_digest(model.state_dict()),
             _data_digest("train_data", train_data), _data_digest("val_data", val_data), repr(recipe),
             f"epochs={epochs}", f"seed={seed}", f"max_steps={max_steps}", f"device={device.type}",
             f"threads={torch.get_num_threads() if device.type == 'cpu' else 0}", f"torch={torch.__version__}"]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def _read(path: Path, model: nn.Module) -> History | None:
    """The cached run at ``path`` loaded into ``model``, or None when it is missing or does not check out."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        state = payload["state_dict"]
        if payload.get("format") != FORMAT or weights_digest(state) != payload["weights_sha256"]:
            return None
        model.load_state_dict(state)
        return History([dict(record) for record in payload["history"]])
    except FileNotFoundError:
        return None
    except Exception as err:  # a damaged or foreign file: train again and replace it
        print(f"cached_fit: ignoring {path} ({type(err).__name__}: {err}); training again")
        return None


def cached_fit(model: nn.Module, train_data: SegmentationData, val_data: SegmentationData | None = None, *,
               recipe: Recipe = RECIPE, epochs: int = 10, seed: int = 0, device: str | torch.device | None = None,
               max_steps: int | None = None, cache_dir: str | os.PathLike | None = None,
               progress: bool = True) -> History:
    """``fit(model, train_data, val_data, recipe=…, epochs=…, seed=…, device=…, max_steps=…)``, once.

    The first call trains and writes the weights (with their SHA-256 digest) and the history to
    ``cache_root(cache_dir)/<key>.pt``; a later call with the same key (:func:`fit_key`: same code,
    initial weights, data, recipe, length, seed, device type, torch) loads them into ``model`` instead,
    read with ``weights_only=True``. A file that fails its digest is trained again and replaced.
    Either way the model ends on ``device`` in eval mode and the random generators are seeded with
    ``seed + 1``, so that what follows is the same whether the model was trained or read back.
    The history's ``seconds`` are those of the run that trained it.
    """
    device = pick_device(device)
    key = fit_key(model, train_data, val_data, recipe=recipe, epochs=epochs, seed=seed, device=device,
                  max_steps=max_steps)
    path = cache_root(cache_dir) / f"{key}.pt"
    history = _read(path, model)
    if history is not None:
        print(f"read the trained model back from the cache: {path}")
    else:
        history = fit(model, train_data, val_data, recipe=recipe, epochs=epochs, seed=seed, device=device,
                      max_steps=max_steps, options=TrainOptions(progress=progress))
        state = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            torch.save({"format": FORMAT, "state_dict": state, "weights_sha256": weights_digest(state),
                        "history": history.records}, tmp)
    model.to(device).eval()
    seed_everything(seed + 1)
    return history
