"""Reading image and mask files: images as floats ``C×H×W`` in ``[0, 1]``, masks as class indices ``H×W``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

MASK_MODES = ("L", "P", "1", "I", "I;16")


def read_image(path: str | os.PathLike, channels: int = 3) -> torch.Tensor:
    """Read a PNG/JPEG (or any format Pillow reads) as a float tensor ``channels×H×W`` in [0, 1]."""
    path = Path(path)
    if channels not in (1, 3):
        raise ValueError(f"channels: expected 1 (grey) or 3 (RGB), got {channels}")
    if not path.is_file():
        raise FileNotFoundError(f"image: no file at {path}")
    try:
        with Image.open(path) as im:
            im = im.convert("RGB" if channels == 3 else "L")
            array = np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(f"image: cannot read {path} as an image ({err})") from err
    tensor = torch.from_numpy(array.copy()).float() / 255
    return tensor[None] if channels == 1 else tensor.permute(2, 0, 1)


def read_mask(path: str | os.PathLike) -> torch.Tensor:
    """A mask file as int64 ``H×W`` class indices; RGB masks are refused (colours are not indices)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"mask: no file at {path}")
    try:
        with Image.open(path) as im:
            if im.mode not in MASK_MODES:
                raise ValueError(f"mask: {path} is a {im.mode} image; expected one channel of class indices "
                                 f"(greyscale or palette PNG, mode one of {MASK_MODES})")
            array = np.asarray(im).astype(np.int64)
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(f"mask: cannot read {path} as an image ({err})") from err
    return torch.from_numpy(array)


def image_size(path: Path) -> tuple[int, int]:
    """``(height, width)`` from the file header, without decoding the pixels."""
    try:
        with Image.open(path) as im:
            return im.height, im.width
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(f"image: cannot read {path} as an image ({err})") from err
