"""Using a trained model on images of any size, from tensors or image files and folders."""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .checks import check_bool, check_image_batch, check_positive_int, warn_outside_unit_range
from .data.folder import IMAGE_SUFFIXES
from .data.images import image_file_size, read_image
from .device import eval_mode
from .files import atomic_path, check_out_folder, write_text_atomic
from .models.base import Segmenter
from .tiling import Tiling, check_tiling, holds_all_it_can, predict_tiled_instances, predict_tiled_logits

__all__ = ["predict_image", "predict_image_instances", "predict_files", "image_paths", "read_image", "write_mask",
           "write_png"]


def _model_input(model: Segmenter, image: torch.Tensor, max_size: int,
                 size: tuple[int, int] | None) -> tuple[torch.Tensor, tuple[int, int]]:
    """One image ``C×H×W``, checked, as the batch ``1×C×h×w`` the model reads (downscaled so its longer
    side is at most ``max_size``, on the model's device), and the ``(H, W)`` its maps go back to."""
    check_positive_int("max_size", max_size)
    if max_size < model.min_size:
        raise ValueError(f"max_size: expected at least the model's smallest input side {model.min_size}, got {max_size}")
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"image: expected a tensor C×H×W, got {type(image).__name__}")
    if image.dim() != 3:
        raise ValueError(f"image: expected one image C×H×W, got shape {tuple(image.shape)}")
    x = check_image_batch("image", image[None], model.config.in_channels, model.min_size)
    warn_outside_unit_range("image", x)
    x = x.to(next(model.parameters()).device)
    target = _check_size(size) if size is not None else tuple(x.shape[-2:])
    scale = max_size / max(x.shape[-2:])
    if scale < 1:
        x = F.interpolate(x, scale_factor=scale, mode="bilinear", antialias=True, align_corners=False)
    return x, target


MAX_SIDE, MAX_PIXELS = 65_536, 2**28  # the largest map written: 256 M pixels, a 16,384×16,384 photo


def _check_size(size: object) -> tuple[int, int]:
    """``size`` as ``(H, W)``: two positive ints within the bounds above, checked before any allocation."""
    if not (isinstance(size, (tuple, list)) and len(size) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in size)):
        raise TypeError(f"size: expected (H, W), two ints, got {size!r}")
    h, w = size
    if min(h, w) < 1 or max(h, w) > MAX_SIDE or h * w > MAX_PIXELS:
        raise ValueError(f"size: expected (H, W) with 1 ≤ H, W ≤ {MAX_SIDE:,} and H·W ≤ {MAX_PIXELS:,}, got {tuple(size)}")
    return h, w


@torch.no_grad()
def predict_image(model: Segmenter, image: torch.Tensor, max_size: int = 1024,
                  size: tuple[int, int] | None = None, tiling: Tiling | None = None) -> torch.Tensor:
    """Class map ``H×W`` (int64) for one image ``C×H×W``, or at ``size`` = ``(H, W)`` when given (an
    image read shrunk whose mask belongs at the file's own size). With ``tiling``
    (:class:`~latentseg.tiling.Tiling`), an image larger than one window is predicted window by window
    (:func:`~latentseg.tiling.predict_tiled_logits`): each window at the scale the model was trained at.

    Images whose longer side exceeds ``max_size`` are downscaled for the forward pass and the
    logits resized back, which bounds memory (the encoder's first layers hold their channels at full
    resolution) at the cost of detail. NaN or infinite pixels are refused (they would make every
    logit NaN and the whole map background).
    """
    check_tiling(tiling)
    x, target = _model_input(model, image, max_size, size)
    with eval_mode(model):
        if tiling is not None and tiling.check(model, *x.shape[-2:]):
            logits = predict_tiled_logits(model, x, tiling.window, tiling.overlap)
        else:
            logits = model(x)
    if logits.shape[-2:] != target:
        logits = F.interpolate(logits, size=target, mode="bilinear", align_corners=False)
    return logits.argmax(1)[0].cpu()


@torch.no_grad()
def predict_image_instances(model: Segmenter, image: torch.Tensor, max_size: int = 1024,
                            size: tuple[int, int] | None = None, tiling: Tiling | None = None
                            ) -> tuple[torch.Tensor, torch.Tensor, list[dict]]:
    """Class map and instance ids ``H×W`` (int64) and the objects (``id``, ``class`` index, ``score``,
    ``pixels``) of one image ``C×H×W``, from a model whose experts own objects; at ``size`` =
    ``(H, W)`` when given. As :func:`predict_image`, larger images are downscaled for the forward pass;
    the maps come back by nearest neighbour and every object's pixels are counted at the final size.

    With ``tiling`` (:class:`~latentseg.tiling.Tiling`, e.g. ``Tiling(window=64)`` for a model trained
    on 64×64 images), an image larger than one window is predicted window by window and stitched
    (:func:`~latentseg.tiling.predict_tiled_instances`): the experts then own objects per window, so a
    large image can hold many more objects than the model has experts. A warning says when a window
    (or the whole image) found as many objects as the experts can own."""
    if not getattr(model, "owns_objects", False):
        raise ValueError(f"model: expected a model whose experts own objects (the experts model) for instance maps, "
                         f"got {type(model).__name__}, which predicts classes only")
    check_tiling(tiling)
    x, target = _model_input(model, image, max_size, size)
    with warnings.catch_warnings():  # _model_input has warned about the pixel range, naming the image
        warnings.filterwarnings("ignore", message="x: pixel values are expected", category=UserWarning)
        if tiling is not None and tiling.check(model, *x.shape[-2:]):
            classes, instances, objects = predict_tiled_instances(model, x, tiling.window, tiling.overlap)
        else:
            classes, instances, objects = _whole_image_instances(model, x)
    maps = torch.stack([classes, instances]).float()[None]
    classes, instances = F.interpolate(maps, size=target, mode="nearest-exact")[0].long()
    counts = torch.bincount(instances.flatten(), minlength=len(objects) + 1)
    objects = [{"id": o["id"], "class": o["class"], "score": o["score"], "pixels": int(counts[o["id"]])}
               for o in objects if counts[o["id"]] > 0]
    return classes, instances, objects


def _whole_image_instances(model: Segmenter, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[dict]]:
    """One forward pass over the whole image ``1×C×H×W``; warns when it found as many objects as the experts can own."""
    found = model.predict_instances(x)
    experts = model.config.num_latents
    if holds_all_it_can(model, len(found.objects[0])):
        warnings.warn(f"image: {len(found.objects[0])} objects found by a model of {experts} experts, each of which owns "
                      "at most one object: this image may hold more, and those are missed; predict it by windows "
                      "(tiling, --window)", UserWarning, stacklevel=4)
    return found.classes[0], found.instances[0], found.objects[0]


def image_paths(inputs: Sequence[str | os.PathLike]) -> list[Path]:
    """The image files named by ``inputs``: a file as given, a folder as its images (the suffixes a
    ``folder:`` data set reads, hidden files skipped, sorted by name). Missing paths, folders without
    images and two inputs of one file stem (their masks would overwrite each other) are refused."""
    paths: list[Path] = []
    if not inputs:
        raise ValueError("images: expected at least one image file or folder, got none")
    for given in map(Path, inputs):
        if given.is_dir():
            found = sorted(p for p in given.iterdir()
                           if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
            if not found:
                raise ValueError(f"images: the folder {given} holds no images ({', '.join(IMAGE_SUFFIXES)})")
            paths += found
        elif given.is_file():
            paths.append(given)
        else:
            raise FileNotFoundError(f"images: no file or folder at {given}")
    stems = [p.stem for p in paths]
    clashes = sorted({s for s in stems if stems.count(s) > 1})
    if clashes:
        raise ValueError(f"images: several inputs share a file stem, so their masks would overwrite each other: {clashes}")
    return paths


def predict_files(
    model: Segmenter, inputs: Sequence[str | os.PathLike] | str | os.PathLike, out: str | os.PathLike,
    max_size: int = 1024, colour: bool = False, instances: bool = False, class_names: Sequence[str] | None = None,
    report: Callable[[str], None] | None = None, tiling: Tiling | None = None,
) -> list[Path]:
    """Write ``<out>/<stem>.png`` (8-bit class indices at the image's own size) for every image that
    ``inputs`` name (files or folders, :func:`image_paths`; one path alone is one input); with
    ``colour`` a ``<stem>_colour.png`` to look at; with ``instances`` (a model whose experts own
    objects) ``<stem>_instances.png`` (16-bit instance ids, 0 = none) and ``<stem>.json``
    (``{"instances": [{"id", "class", "score", "pixels"}]}``, classes by ``class_names``); predicted by
    windows where ``tiling`` says (:func:`predict_image`, :func:`predict_image_instances`). Returns the class masks' paths;
    ``report`` gets one line per image once every file is in place.

    Before any work: every file's header is read, and two inputs that would write one output name, or
    an output that would replace an input image, are refused. Each image is read at most ``max_size``
    on its longer side, the size the model sees it at, and its maps resized to the file's own size.
    Everything is written into a hidden folder inside ``out`` and moved into place only when every
    image is done: a failure or Ctrl-C leaves ``out`` as it was (files of earlier runs included).
    """
    if not isinstance(model, Segmenter):
        raise TypeError(f"model: expected a latentseg model (load_checkpoint or build_model), got {type(model).__name__}")
    check_bool("colour", colour)
    check_bool("instances", instances)
    check_tiling(tiling)
    if instances and not getattr(model, "owns_objects", False):
        raise ValueError(f"--instances: expected a model whose experts own objects (train --model experts), got the "
                         f"{type(model).__name__}, which predicts classes only")
    check_positive_int("max_size", max_size)
    if out is None or not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"out: expected the path of a folder to write into, got {type(out).__name__}")
    names = list(class_names) if class_names is not None else [f"class {k}" for k in range(model.num_classes)]
    if len(names) != model.num_classes:
        raise ValueError(f"class_names: expected {model.num_classes} names, one per class of the model, got {len(names)}")
    paths = image_paths([inputs] if isinstance(inputs, (str, os.PathLike)) else inputs)
    outputs = _output_names(paths, Path(out), colour, instances)
    check_out_folder(out)
    sizes = [image_file_size(path) for path in paths]  # unreadable files are named before any work
    if tiling is not None:
        for path, (height, width) in zip(paths, sizes, strict=True):
            scale = min(1.0, max_size / max(height, width))  # the read size rounds either way: check the larger
            tiling.check(model, math.ceil(height * scale), math.ceil(width * scale), str(path))
    out, masks, lines = Path(out), [], []
    with _staged(out) as staging:
        for path, size, files in zip(paths, sizes, outputs, strict=True):
            mask, ids, objects = _predict_one(model, path, size, max_size, instances, tiling)
            _write_outputs(staging, files, mask, ids, objects, names)
            masks.append(out / files[0])
            counts = torch.bincount(mask.flatten(), minlength=model.num_classes).tolist()
            found = f", {len(objects)} objects" if instances else ""
            lines.append(f"{path} → {masks[-1]}  {mask.shape[1]}×{mask.shape[0]}  pixels per class {counts}{found}")
    for line in lines if report is not None else ():  # once every file is in place, never for one that is not
        report(line)
    return masks


def _output_names(paths: list[Path], out: Path, colour: bool, instances: bool) -> list[list[str]]:
    """Per input, the names it writes (class mask first); refuses a name two inputs would write and an
    output that would land on an input image."""
    outputs = [[f"{p.stem}.png", *([f"{p.stem}_colour.png"] if colour else []),
                *([f"{p.stem}_instances.png", f"{p.stem}.json"] if instances else [])] for p in paths]
    writer: dict[str, Path] = {}
    for path, files in zip(paths, outputs, strict=True):
        for name in files:
            if name in writer:
                raise ValueError(f"images: {writer[name]} and {path} would both write {name}; rename one of them")
            writer[name] = path
    inputs = {p.resolve() for p in paths}
    for name in writer:
        if (out / name).resolve() in inputs:
            raise ValueError(f"--out: writing {name} there would replace the input image {out / name}; "
                             "choose another folder for the masks")
    return outputs


def _predict_one(model: Segmenter, path: Path, size: tuple[int, int], max_size: int, instances: bool,
                 tiling: Tiling | None) -> tuple[torch.Tensor, torch.Tensor | None, list[dict]]:
    """One image file's class map ``H×W``, and with ``instances`` its ids ``H×W`` and objects (by
    windows where ``tiling`` says); a ``ValueError`` or a warning names the file."""
    image = read_image(path, model.config.in_channels, max_side=max_size)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if instances:
                result = predict_image_instances(model, image, max_size=max_size, size=size, tiling=tiling)
            else:
                result = predict_image(model, image, max_size=max_size, size=size, tiling=tiling), None, []
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from None
    for warning in caught:  # named by the file, not by "image"
        warnings.warn(f"{path}: {str(warning.message).removeprefix('image: ')}", warning.category, stacklevel=3)
    return result


def _write_outputs(folder: Path, files: list[str], mask: torch.Tensor, ids: torch.Tensor | None, objects: list[dict],
                   class_names: Sequence[str]) -> None:
    """One input's ``files`` (named by :func:`_output_names`) into ``folder``."""
    from .analysis.plots import colourize

    write_mask(folder / files[0], mask)
    for name in files[1:]:
        if name.endswith("_colour.png"):
            write_png(folder / name, colourize(mask))
        elif name.endswith("_instances.png"):
            write_png(folder / name, ids.numpy().astype(np.uint16))
        else:
            write_text_atomic(folder / name, _objects_json(objects, class_names))


def _objects_json(objects: list[dict], class_names: Sequence[str]) -> str:
    return json.dumps({"instances": [{"id": o["id"], "class": class_names[o["class"]], "score": round(o["score"], 4),
                                      "pixels": o["pixels"]} for o in objects]}, indent=1)


@contextmanager
def _staged(out: Path) -> Iterator[Path]:
    """Yield a hidden staging folder inside ``out`` (created if needed); when the body succeeds, move
    its files into ``out``. If the body raises (Ctrl-C included), the staging folder goes, ``out`` is
    left as it was, and the folders created here for it (``out`` and any new parents) are removed."""
    created = next((folder for folder in reversed([out, *out.parents]) if not folder.exists()), None)
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out, prefix=".latentseg-predict-", suffix=".tmp"))
    try:
        yield staging
        for path in sorted(staging.iterdir()):
            os.replace(path, out / path.name)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_mask(path: str | os.PathLike, mask: torch.Tensor) -> None:
    """Write a class map ``H×W`` as an 8-bit greyscale PNG of class indices."""
    write_png(path, mask.to(torch.uint8).cpu().numpy())


def write_png(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write a uint8 array ``H×W`` or ``H×W×3``, or a uint16 array ``H×W``, as PNG, atomically."""
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")
