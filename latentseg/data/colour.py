"""Colour changes of whole batches of images ``B×3×H×W``: a hue rotation, greyscale copies, and the
random colour jitter that training applies so that colour cannot stand in for shape. Masks are
never touched; geometric changes, which move masks too, are in :mod:`.transforms`."""

from __future__ import annotations

import math

import torch

from .looks import luminance
from .transforms import check_pair


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
    """Rec. 601 luminance (:func:`~latentseg.data.looks.luminance`) repeated over the three channels:
    ``…×3×H×W`` → the same shape."""
    return luminance(images).unsqueeze(-3).expand_as(images).contiguous()


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
        check_pair(image, mask)
        return self.jitter(image[None])[0], mask
