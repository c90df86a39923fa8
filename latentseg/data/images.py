"""Reading image and mask files: images as floats ``C×H×W`` in ``[0, 1]``, masks as class indices ``H×W``."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

ORIENTATION = 0x0112  # the EXIF tag

MASK_MODES = ("L", "P", "1", "I", "I;16")


def read_image(path: str | os.PathLike, channels: int = 3, max_side: int | None = None) -> torch.Tensor:
    """Read a PNG/JPEG/TIFF (any format Pillow reads) as a float tensor ``channels×H×W`` in [0, 1].

    - The EXIF orientation is applied, so the pixels are the picture as a viewer shows it.
    - 16-bit and 32-bit greyscale images are scaled by their bit depth (65535 is white), not clipped
      to 8 bits; float images must hold values in [0, 1]. A grey image read with ``channels=3`` is
      repeated over the three channels.
    - Images above Pillow's decompression-bomb limit (``Image.MAX_IMAGE_PIXELS``) are refused with
      their size, unless ``max_side`` is given: then the image is read shrunk so that its longer side
      is at most ``max_side`` (JPEGs decode at reduced size; other formats decode fully first).
    """
    path = Path(path)
    if channels not in (1, 3):
        raise ValueError(f"channels: expected 1 (grey) or 3 (RGB), got {channels}")
    if not path.is_file():
        raise FileNotFoundError(f"image: no file at {path}")
    try:
        with _open(path, "image", allow_large=max_side is not None) as im:
            if max_side is not None and max(im.size) > max_side:
                im.draft(im.mode, (max_side, max_side))  # JPEG: decode at 1/2, 1/4 or 1/8 scale
            im = ImageOps.exif_transpose(im)
            if max_side is not None:
                im.thumbnail((max_side, max_side))
            array = _to_unit_floats(im, path, channels)
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(f"image: cannot read {path} as an image ({err})") from err
    tensor = torch.from_numpy(array)
    return tensor[None] if tensor.dim() == 2 else tensor.permute(2, 0, 1).contiguous()


#: greyscale modes of more than 8 bits (Pillow reads 16-bit PNGs as these); 65535 is white
_DEEP_GREY = ("I;16", "I;16B", "I;16L", "I;16N", "I")


def _to_unit_floats(im: Image.Image, path: Path, channels: int) -> np.ndarray:
    """Pixels as float32 in [0, 1]: ``H×W`` for one channel, ``H×W×3`` for three."""
    if im.mode in _DEEP_GREY or im.mode == "F":
        grey = np.asarray(im, dtype=np.float64)
        if im.mode == "I" and grey.max(initial=0) > 65535:
            grey = grey / (2**32 - 1)  # a 32-bit image
        elif im.mode != "F":
            grey = grey / 65535
        if not (np.isfinite(grey).all() and grey.min(initial=0) >= 0 and grey.max(initial=0) <= 1):
            raise ValueError(f"image: {path} is a {im.mode} image with values outside [0, 1] (or not finite); "
                             "expected 8- or 16-bit pixels or floats in [0, 1]")
        grey = grey.astype(np.float32)
        return grey if channels == 1 else np.repeat(grey[..., None], 3, axis=-1)
    array = np.asarray(im.convert("RGB" if channels == 3 else "L"), dtype=np.uint8)
    return array.astype(np.float32) / 255


@contextmanager
def _open(path: Path, what: str, allow_large: bool = False) -> Iterator[Image.Image]:
    """``Image.open`` that turns Pillow's decompression-bomb refusal into a message with the size."""
    limit = Image.MAX_IMAGE_PIXELS
    try:
        if allow_large:
            Image.MAX_IMAGE_PIXELS = None
        with Image.open(path) as im:
            yield im
    except Image.DecompressionBombError:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            Image.MAX_IMAGE_PIXELS = None
            with Image.open(path) as im:
                width, height = im.size
        raise ValueError(f"{what}: {path} is {width}×{height} pixels ({width * height / 1e6:.0f} megapixels), above "
                         f"the {2 * limit / 1e6:.0f}-megapixel limit for reading an image whole; read it shrunk "
                         "(predict --max-size N, or read_image(..., max_side=N)) or downscale it first") from None
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def read_mask(path: str | os.PathLike, what: str = "mask") -> torch.Tensor:
    """A mask file as int64 ``H×W`` class indices (or instance ids: ``what="instances"`` names them so in
    errors); RGB masks are refused (colours are not indices).

    Like :func:`read_image`, it applies the file's EXIF orientation (if any), so image and mask stay
    in the orientation a viewer shows."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what}: no file at {path}")
    values = "class indices" if what == "mask" else "instance ids"
    try:
        with _open(path, what) as im:
            if im.mode not in MASK_MODES:
                raise ValueError(f"{what}: {path} is a {im.mode} image; expected one channel of {values} "
                                 f"(greyscale or palette PNG, mode one of {MASK_MODES})")
            array = np.asarray(ImageOps.exif_transpose(im)).astype(np.int64)
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(f"{what}: cannot read {path} as an image ({err})") from err
    return torch.from_numpy(array)


def image_file_size(path: Path, what: str = "image") -> tuple[int, int]:
    """``(height, width)`` as :func:`read_image` returns it (EXIF orientation applied), from the header
    alone; errors name the file as ``what``."""
    try:
        with _open(path, what, allow_large=True) as im:
            turned = im.getexif().get(ORIENTATION, 1) in (5, 6, 7, 8)  # a quarter turn swaps height and width
            return (im.width, im.height) if turned else (im.height, im.width)
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(f"{what}: cannot read {path} as an image ({err})") from err
