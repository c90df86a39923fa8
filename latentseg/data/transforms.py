"""Joint image/mask transforms in plain torch: every geometric change is applied to both alike.

An image is a float tensor ``C×H×W``; its mask an int64 tensor ``H×W`` of class indices, or ``L×H×W``
label planes that move together (class indices and instance ids). Images are resampled bilinearly
(with antialiasing when shrinking); masks by nearest neighbour, so a mask never gains a value that
was not there (255, "ignore", stays 255; instance ids stay ids). Randomness comes from torch's
global generator, so :func:`latentseg.fit`'s ``seed`` fixes it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ..checks import check_positive_int

Pair = tuple[torch.Tensor, torch.Tensor]


def check_pair(image: torch.Tensor, mask: torch.Tensor) -> None:
    if image.dim() != 3 or mask.dim() not in (2, 3) or image.shape[-2:] != mask.shape[-2:]:
        raise ValueError(f"image, mask: expected C×H×W and H×W (or L×H×W label planes) of the same H×W, got "
                         f"{tuple(image.shape)} and {tuple(mask.shape)}")


def _size_pair(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, int):
        return check_positive_int("size", size), size
    if len(size) != 2:
        raise ValueError(f"size: expected an int or (height, width), got {size!r}")
    return check_positive_int("size[0]", size[0]), check_positive_int("size[1]", size[1])


def resize_pair(image: torch.Tensor, mask: torch.Tensor, size: int | Sequence[int]) -> Pair:
    """Resize to ``size`` (an int for a square, or ``(height, width)``): image bilinear, mask nearest."""
    check_pair(image, mask)
    height, width = _size_pair(size)
    if image.shape[-2:] == (height, width):
        return image, mask
    image = F.interpolate(image[None], size=(height, width), mode="bilinear", align_corners=False,
                          antialias=True)[0].clamp(0, 1)
    planes = mask.reshape(1, -1, *mask.shape[-2:]).float()
    mask = F.interpolate(planes, size=(height, width), mode="nearest-exact")[0].long().reshape(*mask.shape[:-2], height, width)
    return image, mask


class Resize:
    """Resize every pair to ``size`` (square int or ``(height, width)``); the evaluation transform."""

    def __init__(self, size: int | Sequence[int]) -> None:
        self.size = _size_pair(size)

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> Pair:
        return resize_pair(image, mask, self.size)


class RandomResizedCrop:
    """Crop a random window covering ``scale`` of the area with aspect ratio in ``ratio``, then resize
    it to ``size``: the object appears at many scales and positions, the network's input stays fixed.
    """

    def __init__(self, size: int | Sequence[int], scale: tuple[float, float] = (0.35, 1.0),
                 ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> None:
        if not 0 < scale[0] <= scale[1] <= 1:
            raise ValueError(f"scale: expected 0 < low ≤ high ≤ 1, got {scale}")
        if not 0 < ratio[0] <= ratio[1]:
            raise ValueError(f"ratio: expected 0 < low ≤ high, got {ratio}")
        self.size, self.scale, self.ratio = _size_pair(size), scale, ratio

    def window(self, height: int, width: int) -> tuple[int, int, int, int]:
        """A random ``(top, left, h, w)`` inside ``height×width``; the whole image after 10 misses."""
        log_low, log_high = math.log(self.ratio[0]), math.log(self.ratio[1])
        for _ in range(10):
            area = height * width * float(torch.empty(1).uniform_(*self.scale))
            aspect = math.exp(float(torch.empty(1).uniform_(log_low, log_high)))
            w, h = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
            if 0 < w <= width and 0 < h <= height:
                top = int(torch.randint(0, height - h + 1, (1,)))
                left = int(torch.randint(0, width - w + 1, (1,)))
                return top, left, h, w
        return 0, 0, height, width

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> Pair:
        check_pair(image, mask)
        top, left, h, w = self.window(*mask.shape[-2:])
        return resize_pair(image[:, top:top + h, left:left + w], mask[..., top:top + h, left:left + w], self.size)


class RandomHorizontalFlip:
    """Mirror image and mask left–right with probability ``p``."""

    def __init__(self, p: float = 0.5) -> None:
        if not 0 <= p <= 1:
            raise ValueError(f"p: expected a probability in [0, 1], got {p}")
        self.p = p

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> Pair:
        check_pair(image, mask)
        if float(torch.rand(1)) < self.p:
            return image.flip(-1), mask.flip(-1)
        return image, mask


class Compose:
    """Apply joint transforms in order."""

    def __init__(self, *transforms) -> None:
        self.transforms = transforms

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> Pair:
        for transform in self.transforms:
            image, mask = transform(image, mask)
        return image, mask


def train_transform(size: int | Sequence[int]) -> Compose:
    """Random resized crop to ``size`` and a random left–right flip: what real-image training uses."""
    return Compose(RandomResizedCrop(size), RandomHorizontalFlip())
