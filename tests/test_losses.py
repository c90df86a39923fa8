import math

import pytest
import torch
import torch.nn.functional as F

from latentseg.training.losses import boundary_pixels, segmentation_loss, soft_dice_loss


def _one_hot_logits(masks: torch.Tensor, num_classes: int, scale: float = 50.0) -> torch.Tensor:
    return scale * F.one_hot(masks, num_classes).permute(0, 3, 1, 2).float()


def test_dice_is_zero_for_a_perfect_prediction_and_one_for_a_wrong_one():
    masks = torch.randint(0, 3, (2, 8, 8), generator=torch.Generator().manual_seed(0))
    assert soft_dice_loss(_one_hot_logits(masks, 3), masks) < 1e-3
    wrong = _one_hot_logits((masks + 1) % 3, 3)
    assert soft_dice_loss(wrong, masks) > 0.97  # not 1: the +1 smoothing


def test_dice_known_answer_for_uniform_predictions():
    # 4 pixels: 3 of class 0, 1 of class 1; uniform probabilities 1/2 everywhere
    masks = torch.tensor([[[0, 0], [0, 1]]])
    logits = torch.zeros(1, 2, 2, 2)
    dice0 = (2 * 1.5 + 1) / (2 + 3 + 1)  # overlap 3·½, |P| = 2, |T| = 3
    dice1 = (2 * 0.5 + 1) / (2 + 1 + 1)
    assert soft_dice_loss(logits, masks).item() == pytest.approx(1 - (dice0 + dice1) / 2)


def test_dice_leaves_out_ignored_pixels_and_weighs_small_classes_like_large_ones():
    masks = torch.zeros(1, 8, 8, dtype=torch.long)
    masks[0, :2, :2] = 1  # a small class: 4 of 64 pixels
    logits = _one_hot_logits(masks, 2)
    masks_ignored = masks.clone()
    masks_ignored[0, 4:, :] = 255
    changed = logits.clone()
    changed[0, :, 4:, :] = torch.randn(2, 4, 8)
    assert soft_dice_loss(changed, masks_ignored) == pytest.approx(soft_dice_loss(logits, masks_ignored).item())
    missed = _one_hot_logits(torch.zeros_like(masks), 2)  # the small class missed entirely
    # background: overlap 60 of 64 + 60 pixels; the small class: nothing of 4. Half the loss is the small class
    assert soft_dice_loss(missed, masks).item() == pytest.approx(1 - (121 / 125 + 1 / 5) / 2, abs=1e-4)
    # while to cross-entropy those are 4 wrong pixels of 64
    assert F.cross_entropy(missed, masks, reduction="none").gt(1).float().mean() == pytest.approx(4 / 64)


def test_segmentation_loss_adds_weighted_dice_and_passes_gradients():
    masks = torch.randint(0, 4, (2, 6, 6), generator=torch.Generator().manual_seed(1))
    logits = torch.randn(2, 4, 6, 6, generator=torch.Generator().manual_seed(2), requires_grad=True)
    ce = F.cross_entropy(logits, masks)
    assert segmentation_loss(logits, masks).item() == pytest.approx(ce.item())
    loss = segmentation_loss(logits, masks, dice_weight=2.0)
    assert loss.item() == pytest.approx(ce.item() + 2 * soft_dice_loss(logits, masks).item())
    loss.backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_boundary_pixels_mark_both_sides_of_a_boundary_and_skip_ignored_pixels():
    masks = torch.zeros(1, 6, 6, dtype=torch.long)
    masks[0, 2:4, 2:4] = 1  # a 2×2 square: itself and its 4×4 ring are boundary pixels
    masks[0, 5, 5] = 255  # an ignored pixel makes no boundary
    expected = torch.zeros(1, 6, 6, dtype=torch.bool)
    expected[0, 1:5, 1:5] = True
    assert torch.equal(boundary_pixels(masks), expected)
    assert not boundary_pixels(torch.full((2, 4, 4), 3)).any()
    with pytest.raises(ValueError, match="masks: expected B×H×W"):
        boundary_pixels(torch.zeros(1, 1, 4, 4, dtype=torch.long))


def test_edge_weight_known_answer_worked_out_by_hand():
    """One row ``0 0 1 1 ignore``: pixels 1 and 2 are the boundary (weight 1 + 4 = 5), pixel 3 is not
    (an ignored neighbour is no class). Logits give cross-entropies ln 4/3, ln 2, ln 2, ln 4/3."""
    masks = torch.tensor([[[0, 0, 1, 1, 255]]])
    logits = torch.zeros(1, 2, 1, 5)
    logits[0, 0, 0, 0] = math.log(3)  # true class 0, odds 3:1 → −ln(3/4)
    logits[0, 1, 0, 3] = math.log(3)  # true class 1, odds 3:1
    weighted = (math.log(4 / 3) + 5 * math.log(2) + 5 * math.log(2) + math.log(4 / 3)) / 12
    assert segmentation_loss(logits, masks, edge_weight=4.0).item() == pytest.approx(weighted)
    assert segmentation_loss(logits, masks, edge_weight=0.0).item() == pytest.approx((math.log(4 / 3) + math.log(2)) / 2)


def test_edge_weight_favours_boundary_pixels_in_the_gradient():
    masks = torch.zeros(1, 8, 8, dtype=torch.long)
    masks[0, 2:6, 2:6] = 2
    masks[0, 0, :] = 255
    logits = torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(3), requires_grad=True)
    segmentation_loss(logits, masks, edge_weight=4.0).backward()
    edge = boundary_pixels(masks)
    gradient = logits.grad.abs().sum(1)  # B×H×W
    assert gradient[edge].mean() > 2 * gradient[~edge & (masks != 255)].mean()
    assert gradient[masks == 255].abs().sum() == 0


def test_dice_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="logits, masks: expected B×K×H×W and B×H×W"):
        soft_dice_loss(torch.zeros(2, 3, 4, 4), torch.zeros(2, 5, 5, dtype=torch.long))
