"""Joint image/mask transforms in plain torch: every geometric change is applied to both alike.

An image is a float tensor ``C×H×W``; its mask an int64 tensor ``H×W`` of class indices. Images are
resampled bilinearly (with antialiasing when shrinking); masks by nearest neighbour, so a mask never
gains a class value that was not there (255, "ignore", stays 255). Randomness comes from torch's
global generator, so :func:`latentseg.fit`'s ``seed`` fixes it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ..checks import check_positive_int

Pair = tuple[torch.Tensor, torch.Tensor]


def _check_pair(image: torch.Tensor, mask: torch.Tensor) -> None:
    if image.dim() != 3 or mask.dim() != 2 or image.shape[-2:] != mask.shape:
        raise ValueError(f"image, mask: expected C×H×W and H×W of the same H×W, got {tuple(image.shape)} and "
                         f"{tuple(mask.shape)}")


def _size_pair(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, int):
        return check_positive_int("size", size), size
    if len(size) != 2:
        raise ValueError(f"size: expected an int or (height, width), got {size!r}")
    return check_positive_int("size[0]", size[0]), check_positive_int("size[1]", size[1])


def resize_pair(image: torch.Tensor, mask: torch.Tensor, size: int | Sequence[int]) -> Pair:
    """Resize to ``size`` (an int for a square, or ``(height, width)``): image bilinear, mask nearest."""
    _check_pair(image, mask)
    height, width = _size_pair(size)
    if image.shape[-2:] == (height, width):
        return image, mask
    image = F.interpolate(image[None], size=(height, width), mode="bilinear", align_corners=False,
                          antialias=True)[0].clamp(0, 1)
    mask = F.interpolate(mask[None, None].float(), size=(height, width), mode="nearest-exact")[0, 0].long()
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
        _check_pair(image, mask)
        top, left, h, w = self.window(*mask.shape)
        return resize_pair(image[:, top:top + h, left:left + w], mask[top:top + h, left:left + w], self.size)


class RandomHorizontalFlip:
    """Mirror image and mask left–right with probability ``p``."""

    def __init__(self, p: float = 0.5) -> None:
        if not 0 <= p <= 1:
            raise ValueError(f"p: expected a probability in [0, 1], got {p}")
        self.p = p

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> Pair:
        _check_pair(image, mask)
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


def rotate_hue(images: torch.Tensor, degrees: torch.Tensor | float) -> torch.Tensor:
    """Rotate the hue of RGB images ``B×3×H×W`` (or ``3×H×W``) by ``degrees`` (one per image, or one
    for all) about the grey axis: greys stay grey, luminance nearly so. Clamped to ``[0, 1]``."""
    batch = images if images.dim() == 4 else images[None]
    theta = torch.as_tensor(degrees, dtype=torch.float32).reshape(-1) * (math.pi / 180)
    theta = theta.expand(batch.shape[0]) if theta.numel() == 1 else theta
    cos, sin = theta.cos()[:, None, None], theta.sin()[:, None, None]
    k = torch.full((3, 3), 1 / 3)
    cross = torch.tensor([[0.0, -1, 1], [1, 0, -1], [-1, 1, 0]]) / math.sqrt(3)  # (1,1,1)/√3 × v
    rotation = cos * (torch.eye(3) - k) + sin * cross + k  # Rodrigues' formula about the grey axis, B×3×3
    out = torch.einsum("bij,bjhw->bihw", rotation.to(batch), batch).clamp(0, 1)
    return out if images.dim() == 4 else out[0]


def greyscale(images: torch.Tensor) -> torch.Tensor:
    """Rec. 601 luminance repeated over the three channels: ``…×3×H×W`` → the same shape."""
    luma = torch.einsum("...chw,c->...hw", images, torch.tensor([0.299, 0.587, 0.114]).to(images))
    return luma.unsqueeze(-3).expand_as(images).contiguous()


class ColourJitter:
    """Random colour changes of images ``B×3×H×W`` (the mask is never touched), one draw per image
    (images of another channel count get brightness, contrast and inversion only):
    a hue rotation (any angle), saturation ×[0, 1.5], brightness ×[0.6, 1.4], contrast ×[0.6, 1.4],
    and with probabilities ``p_grey``, ``p_permute``, ``p_invert`` greyscale, a shuffle of the RGB
    channels, an inversion. The draws come from ``generator`` (a CPU ``torch.Generator``), so they are
    the same on every machine and device; it defaults to one seeded with ``seed``.

    Call it on a batch, ``jitter(images)``, or on a pair, ``jitter(image, mask)``, like the other
    transforms here.
    """

    def __init__(self, p_grey: float = 0.1, p_permute: float = 0.2, p_invert: float = 0.1, seed: int = 0,
                 generator: torch.Generator | None = None) -> None:
        for name, p in (("p_grey", p_grey), ("p_permute", p_permute), ("p_invert", p_invert)):
            if not 0 <= p <= 1:
                raise ValueError(f"{name}: expected a probability in [0, 1], got {p}")
        self.p_grey, self.p_permute, self.p_invert = p_grey, p_permute, p_invert
        self.generator = generator or torch.Generator().manual_seed(seed)

    def _uniform(self, n: int, low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, generator=self.generator)

    def jitter(self, images: torch.Tensor) -> torch.Tensor:
        """Jittered copies of ``images`` ``B×3×H×W`` in ``[0, 1]``."""
        if images.dim() != 4:
            raise ValueError(f"images: expected B×C×H×W, got shape {tuple(images.shape)}")
        b, colour = images.shape[0], images.shape[1] == 3  # other channel counts get brightness, contrast, inversion
        hue, saturation = self._uniform(b, 0, 360), self._uniform(b, 0, 1.5)
        brightness, contrast = self._uniform(b, 0.6, 1.4), self._uniform(b, 0.6, 1.4)
        grey, permute, invert = (torch.rand(b, generator=self.generator) < p
                                 for p in (self.p_grey, self.p_permute, self.p_invert))
        order = torch.argsort(torch.rand(b, 3, generator=self.generator), dim=1)
        on = images.device

        def per_image(v: torch.Tensor) -> torch.Tensor:
            return v.to(on, images.dtype)[:, None, None, None]

        x = images
        if colour:
            x = rotate_hue(x, hue.to(on))
            luma = greyscale(x)
            x = (luma + per_image(saturation) * (x - luma)).clamp(0, 1)
        x = (x * per_image(brightness)).clamp(0, 1)
        mean = x.mean((1, 2, 3), keepdim=True)
        x = ((x - mean) * per_image(contrast) + mean).clamp(0, 1)
        if colour:
            x = torch.where(per_image(grey.float()) > 0, greyscale(x), x)
            x = torch.where(per_image(permute.float()) > 0, x[torch.arange(b)[:, None], order.to(on)], x)
        return torch.where(per_image(invert.float()) > 0, 1 - x, x)

    def __call__(self, image: torch.Tensor, mask: torch.Tensor | None = None):
        if mask is None:
            return self.jitter(image)
        _check_pair(image, mask)
        return self.jitter(image[None])[0], mask
