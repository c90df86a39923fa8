"""The seed's convolutional encoder: two 3×3 convolutions, each followed by ReLU and 2×2 max-pooling."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .checks import check_image_batch, check_positive_int


class SimpleEncoder(nn.Module):
    """Image ``B×C×H×W`` → features ``B×feature_dim×(H//4)×(W//4)``.

    Each output position sees a 10×10 window of the input (its receptive field): two 3×3
    convolutions and two 2×2 poolings. ``H`` and ``W`` must be at least 4 so that one position
    survives both poolings.
    """

    stride = 4
    min_size = 4

    def __init__(self, in_channels: int = 3, feature_dim: int = 64) -> None:
        super().__init__()
        self.in_channels = check_positive_int("in_channels", in_channels)
        self.feature_dim = check_positive_int("feature_dim", feature_dim)
        self.conv1 = nn.Conv2d(in_channels, 32, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(32, feature_dim, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``B×in_channels×H×W`` → ``B×feature_dim×(H//4)×(W//4)``."""
        check_image_batch("x", x, self.in_channels, self.min_size)
        x = self.pool(F.relu(self.conv1(x)))  # B×32×H/2×W/2
        return self.pool(F.relu(self.conv2(x)))  # B×D×H/4×W/4
