"""Texture refill: repaint training images with patterns, region by region, keeping the mask.

A model that has only seen shapes outlined by steps of colour learns to look for steps of colour.
:class:`TextureRefill` takes that cue away on the fly: for a share of the images in each batch it
repaints the background and every class's region with two-colour patterns in the ``texture`` look
(:func:`~latentseg.data.looks.paint_texture`: half the regions the background's twin, the same
colours turned or rescaled), so that only the change of pattern outlines them. Each training batch
draws new patterns, so the model never sees the same texture twice.
"""

from __future__ import annotations

import torch

from ..labels import IGNORE_INDEX
from .looks import paint_texture


class TextureRefill:
    """Repaint images ``B×3×H×W`` from their class maps ``B×H×W``: each image with probability ``p``;
    in a repainted image each region (the background and each class present) takes its pattern with
    probability ``regions``, and keeps its pixels otherwise, so that patterned and plain regions meet.
    Pixels marked ``IGNORE_INDEX`` are painted as background. Draws come from a CPU generator
    seeded with ``seed``, the same on every machine.
    """

    def __init__(self, p: float = 0.5, regions: float = 0.5, seed: int = 0) -> None:
        for name, value in (("p", p), ("regions", regions)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
                raise ValueError(f"{name}: expected a probability in [0, 1], got {value!r}")
        self.p, self.regions = float(p), float(regions)
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        if images.dim() != 4 or images.shape[1] != 3 or masks.shape != (images.shape[0], *images.shape[-2:]):
            raise ValueError(f"images, masks: expected B×3×H×W and B×H×W, got {tuple(images.shape)} and "
                             f"{tuple(masks.shape)}")
        g = self.generator
        chosen = torch.rand(images.shape[0], generator=g) < self.p
        classes = masks.cpu()
        classes = classes.masked_fill(classes == IGNORE_INDEX, 0)
        num_classes = int(classes.max()) + 1
        keep = torch.rand(images.shape[0], num_classes, generator=g) < self.regions  # B×regions: which take a pattern
        if not chosen.any():
            return images
        textured = paint_texture(classes, num_classes - 1, g)
        repaint = chosen[:, None, None] & keep.gather(1, classes.flatten(1)).view(classes.shape)
        return torch.where(repaint[:, None].to(images.device), textured.to(images), images)
