"""The in-memory data set every source can become."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset


class SegmentationData(Dataset):
    """In-memory images ``N×3×H×W`` and masks ``N×H×W``; item ``i`` is ``(3×H×W, H×W)``."""

    def __init__(self, images: torch.Tensor, masks: torch.Tensor, class_names: tuple[str, ...]) -> None:
        if images.dim() != 4 or masks.dim() != 3 or images.shape[0] != masks.shape[0]:
            raise ValueError(
                f"images, masks: expected N×C×H×W and N×H×W, got {tuple(images.shape)} and {tuple(masks.shape)}"
            )
        if images.shape[-2:] != masks.shape[-2:]:
            raise ValueError(f"masks: expected H×W {tuple(images.shape[-2:])} like images, got {tuple(masks.shape[-2:])}")
        self.images = images
        self.masks = masks
        self.class_names = tuple(class_names)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], self.masks[index]

    def subset(self, limit: int | None) -> SegmentationData:
        """At most ``limit`` pairs, spread evenly over the set, so every part of it is represented."""
        if limit is None or limit >= len(self):
            return self
        if limit <= 0:
            raise ValueError(f"limit: expected a positive int, got {limit}")
        keep = torch.linspace(0, len(self) - 1, limit).round().long()
        return SegmentationData(self.images[keep], self.masks[keep], self.class_names)

    def class_frequencies(self) -> torch.Tensor:
        """Share of pixels per class, ``K`` floats summing to 1."""
        counts = torch.bincount(self.masks.flatten(), minlength=self.num_classes).double()
        return counts / counts.sum()
