"""Using a trained model on images of any size, from tensors or image files."""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .checks import check_finite, check_image_batch, check_positive_int
from .data.images import read_image
from .files import atomic_path
from .models.base import Segmenter

__all__ = ["predict_image", "read_image", "write_mask", "write_png"]


@torch.no_grad()
def predict_image(model: Segmenter, image: torch.Tensor, max_size: int = 1024) -> torch.Tensor:
    """Class map ``H×W`` (int64) for one image ``C×H×W``.

    Images whose longer side exceeds ``max_size`` are downscaled for the forward pass and the
    logits resized back, which bounds memory (the encoder's first layer holds 32 channels at full
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
    x = check_finite("image", check_image_batch("image", image[None], model.config.in_channels, model.min_size))
    x = x.to(next(model.parameters()).device)
    height, width = x.shape[-2:]
    scale = max_size / max(height, width)
    was_training = model.training
    model.eval()
    try:
        if scale < 1:
            small = F.interpolate(x, scale_factor=scale, mode="bilinear", antialias=True, align_corners=False)
            logits = F.interpolate(model(small), size=(height, width), mode="bilinear", align_corners=False)
        else:
            logits = model(x)
    finally:
        model.train(was_training)
    return logits.argmax(1)[0].cpu()


def write_mask(path: str | os.PathLike, mask: torch.Tensor) -> None:
    """Write a class map ``H×W`` as an 8-bit greyscale PNG of class indices."""
    write_png(path, mask.to(torch.uint8).cpu().numpy())


def write_png(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write a uint8 array ``H×W`` or ``H×W×3`` as PNG, atomically."""
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")
