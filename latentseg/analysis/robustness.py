"""Has a model learned shapes, or a shortcut? Scores on data it was not trained on.

- ``test_miou``: its own generator's test split (in distribution);
- ``shifted_miou``: :func:`latentseg.data.shifted.shifted_shapes`, drawn by other code in other looks;
- ``greyscale_miou``: the test split with colour removed (luminance on all three channels);
- ``texture_miou``: the shifted set's texture version, where only a change of pattern outlines a shape
  (``shifted_shapes(texture=True)``): a model that finds edges of colour and not of pattern fails it;
- ``hue_agreement``: the share of test pixels whose predicted class stays the same when every image's
  hue is rotated (by 60–300°, seeded): 1 means colour plays no part in the decision.
"""

from __future__ import annotations

import torch
from torch import nn

from ..data.colour import greyscale, rotate_hue
from ..data.dataset import SegmentationData
from ..training.evaluation import evaluate


@torch.no_grad()
def hue_agreement(model: nn.Module, images: torch.Tensor, batch_size: int = 64, seed: int = 0) -> float:
    """Share of pixels of ``images`` ``N×3×H×W`` whose predicted class survives a hue rotation."""
    angles = 60 + 240 * torch.rand(len(images), generator=torch.Generator().manual_seed(seed))
    same = total = 0
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size]
        a = model.predict(x)
        b = model.predict(rotate_hue(x, angles[start:start + batch_size]))
        same += int((a == b).sum())
        total += a.numel()
    return same / total


def robustness_report(model: nn.Module, test: SegmentationData, shifted: SegmentationData,
                      device: str | torch.device | None = None,
                      texture: SegmentationData | None = None) -> dict[str, float]:
    """``test_miou``, ``shifted_miou``, ``greyscale_miou`` and ``hue_agreement`` of ``model`` (see above),
    and ``texture_miou`` when the ``texture`` set is given."""
    grey = SegmentationData(greyscale(test.images), test.masks, test.class_names)
    report = {"test_miou": evaluate(model, test, device=device).miou,
              "shifted_miou": evaluate(model, shifted, device=device).miou,
              "greyscale_miou": evaluate(model, grey, device=device).miou}
    if texture is not None:
        report["texture_miou"] = evaluate(model, texture, device=device).miou
    model.cpu()
    return report | {"hue_agreement": hue_agreement(model, test.images)}
