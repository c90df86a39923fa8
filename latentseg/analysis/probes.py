"""Tools for looking inside the model: receptive field, expert assignment, the resolution ceiling and
expert ablation."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_positive_int
from ..models.base import SegmentationOutput
from ..training.metrics import ConfusionMatrix, Metrics


def receptive_field(layers: Sequence[nn.Module]) -> tuple[int, int]:
    """``(size, stride)`` of one output position of ``layers`` applied in the order given.

    Each ``Conv2d`` or ``MaxPool2d`` with kernel ``k`` and stride ``s`` grows the field by
    ``(k - 1)·jump`` and multiplies the jump (input pixels between neighbouring outputs) by ``s``;
    other layers (ReLU, norms) leave it unchanged. The order must be the forward order, which a
    module's registration order need not be (the article's encoder registers one pool and uses it twice).
    """
    size, jump = 1, 1
    for layer in layers:
        if isinstance(layer, (nn.Conv2d, nn.MaxPool2d)):
            k = layer.kernel_size if isinstance(layer.kernel_size, int) else layer.kernel_size[0]
            s = layer.stride if isinstance(layer.stride, int) else layer.stride[0]
            d = layer.dilation if isinstance(layer.dilation, int) else layer.dilation[0]
            size += (k - 1) * d * jump
            jump *= s
    return size, jump


def gradient_footprint(encoder: nn.Module, size: int = 32, channels: int = 3) -> torch.Tensor:
    """Which input pixels influence the centre output position: ``|∂ features / ∂ x|``, ``size×size``.

    Measured, not computed from the layers: non-zero where the centre feature depends on the input.
    Uses a random input so ReLU and max-pooling are in a typical state.
    """
    check_positive_int("size", size)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, channels, size, size, generator=g, requires_grad=True)
    features = encoder(x)
    h, w = features.shape[-2:]
    features[0, :, h // 2, w // 2].sum().backward()
    return x.grad[0].abs().sum(0)


def expert_assignment(output: SegmentationOutput) -> torch.Tensor:
    """The expert each feature position reads most (heads averaged): ``B×h×w`` indices into ``M``."""
    return output.pixel_attention.mean(1).argmax(1)


def expert_usage(output: SegmentationOutput) -> torch.Tensor:
    """Share of feature positions each expert wins, ``M`` values summing to 1 (over the batch)."""
    assignment = expert_assignment(output)
    m = output.pixel_attention.shape[2]
    counts = torch.bincount(assignment.flatten(), minlength=m).float()
    return counts / counts.sum()


def resolution_ceiling(masks: torch.Tensor, factor: int, num_classes: int) -> Metrics:
    """The best metrics a model can reach if it predicts at ``1/factor`` resolution and upsamples.

    The true masks ``N×H×W`` are turned into class shares per ``factor×factor`` cell (perfect
    classes, nothing else lost), upsampled bilinearly to ``H×W`` and arg-maxed, as a model's coarse
    logits would be. What is lost is edge detail only.
    """
    check_positive_int("factor", factor)
    shares = F.one_hot(masks, num_classes).permute(0, 3, 1, 2).float()  # N×K×H×W
    coarse = F.avg_pool2d(shares, factor, ceil_mode=True)
    up = F.interpolate(coarse, size=masks.shape[-2:], mode="bilinear", align_corners=False)
    confusion = ConfusionMatrix(num_classes)
    confusion.update(up.argmax(1), masks)
    return confusion.compute()


@torch.no_grad()
def expert_ablation(model: nn.Module, images: torch.Tensor, masks: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """Drop of each class's IoU when one expert is switched off: ``M×K`` (positive = that expert helped).

    ``images`` ``N×3×H×W`` and ``masks`` ``N×H×W``; the model must accept ``expert_mask``. A
    specialised expert hurts mostly one class when removed; an expert that nothing needs shows ~0.
    Classes absent from ``masks`` give 0.
    """
    num_latents, num_classes = model.config.num_latents, model.config.num_classes

    def per_class_iou(expert_mask: torch.Tensor | None) -> torch.Tensor:
        confusion = ConfusionMatrix(num_classes)
        for start in range(0, len(images), batch_size):
            x = images[start:start + batch_size]
            confusion.update(model.predict(x, expert_mask=expert_mask), masks[start:start + batch_size])
        return torch.tensor([0.0 if v is None else v for v in confusion.compute().per_class_iou])

    full = per_class_iou(None)
    drops = []
    for expert in range(num_latents):
        keep = torch.ones(num_latents, dtype=torch.bool)
        keep[expert] = False
        drops.append(full - per_class_iou(keep))
    return torch.stack(drops)  # M×K
