"""Using a trained model on images of any size, from tensors or image files and folders."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .checks import check_image_batch, check_positive_int
from .data.folder import IMAGE_SUFFIXES
from .data.images import image_file_size, read_image
from .files import atomic_path, check_out_folder
from .models.base import Segmenter

__all__ = ["predict_image", "predict_files", "image_paths", "read_image", "write_mask", "write_png"]


@torch.no_grad()
def predict_image(model: Segmenter, image: torch.Tensor, max_size: int = 1024,
                  size: tuple[int, int] | None = None) -> torch.Tensor:
    """Class map ``H×W`` (int64) for one image ``C×H×W``, or at ``size`` = ``(H, W)`` when given (an
    image read shrunk whose mask belongs at the file's own size).

    Images whose longer side exceeds ``max_size`` are downscaled for the forward pass and the
    logits resized back, which bounds memory (the encoder's first layers hold their channels at full
    resolution) at the cost of detail. NaN or infinite pixels are refused (they would make every
    logit NaN and the whole map background).
    """
    check_positive_int("max_size", max_size)
    if max_size < model.min_size:
        raise ValueError(f"max_size: expected at least the model's smallest input side {model.min_size}, got {max_size}")
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"image: expected a tensor C×H×W, got {type(image).__name__}")
    if image.dim() != 3:
        raise ValueError(f"image: expected one image C×H×W, got shape {tuple(image.shape)}")
    x = check_image_batch("image", image[None], model.config.in_channels, model.min_size)
    x = x.to(next(model.parameters()).device)
    height, width = size or x.shape[-2:]
    scale = max_size / max(x.shape[-2:])
    if scale < 1:
        x = F.interpolate(x, scale_factor=scale, mode="bilinear", antialias=True, align_corners=False)
    was_training = model.training
    model.eval()
    try:
        logits = model(x)
    finally:
        model.train(was_training)
    if logits.shape[-2:] != (height, width):
        logits = F.interpolate(logits, size=(height, width), mode="bilinear", align_corners=False)
    return logits.argmax(1)[0].cpu()


def image_paths(inputs: Sequence[str | os.PathLike]) -> list[Path]:
    """The image files named by ``inputs``: a file as given, a folder as its images (the suffixes a
    ``folder:`` data set reads, hidden files skipped, sorted by name). Missing paths, folders without
    images and two inputs of one file stem (their masks would overwrite each other) are refused."""
    paths: list[Path] = []
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
    model: Segmenter, inputs: Sequence[str | os.PathLike], out: str | os.PathLike, max_size: int = 1024,
    colour: bool = False, report: Callable[[str], None] | None = None,
) -> list[Path]:
    """Write ``<out>/<stem>.png`` (8-bit class indices at the image's own size) for every image that
    ``inputs`` name (files or folders, :func:`image_paths`), and with ``colour`` a ``<stem>_colour.png``
    to look at. Returns the masks' paths; ``report`` gets one line per image.

    Every file's header is read before anything is written. Each image is read at most ``max_size``
    on its longer side, the size the model sees it at, and its mask resized to the file's own size.
    If anything fails, the files this call wrote are removed (and ``out``, if it created it).
    """
    from .analysis.plots import colourize

    paths = image_paths(inputs)
    check_out_folder(out)
    sizes = [image_file_size(path) for path in paths]  # unreadable files are named before any work
    written: list[Path] = []
    with _rolled_back(Path(out), written):
        for path, size in zip(paths, sizes, strict=True):
            image = read_image(path, model.config.in_channels, max_side=max_size)
            mask = predict_image(model, image, max_size=max_size, size=size)
            written.append(Path(out) / f"{path.stem}.png")
            write_mask(written[-1], mask)
            if colour:
                written.append(Path(out) / f"{path.stem}_colour.png")
                write_png(written[-1], colourize(mask))
            if report is not None:
                counts = torch.bincount(mask.flatten(), minlength=model.num_classes).tolist()
                report(f"{path} → {Path(out) / (path.stem + '.png')}  {mask.shape[1]}×{mask.shape[0]}  "
                       f"pixels per class {counts}")
    return written[::2] if colour else written


@contextmanager
def _rolled_back(out: Path, written: list[Path]) -> Iterator[None]:
    """Create ``out`` if needed; if the body raises, remove ``written`` (and ``out`` if created here)."""
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        yield
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise


def write_mask(path: str | os.PathLike, mask: torch.Tensor) -> None:
    """Write a class map ``H×W`` as an 8-bit greyscale PNG of class indices."""
    write_png(path, mask.to(torch.uint8).cpu().numpy())


def write_png(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write a uint8 array ``H×W`` or ``H×W×3`` as PNG, atomically."""
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")
