"""Panoptic quality against hand-worked answers and torchmetrics' implementation; connected components."""

import pytest
import torch

from latentseg.training.panoptic import PanopticQuality, connected_instances


def _pq(pred_c, pred_i, true_c, true_i, num_classes=3):
    metric = PanopticQuality(num_classes)
    metric.update(*(torch.tensor(t) for t in (pred_c, pred_i, true_c, true_i)))
    return metric.compute()


def test_two_touching_squares_found_as_one_blob_score_by_hand():
    """Truth: two 2×2 objects of class 1 side by side. A prediction that calls the 2×4 blob one object
    matches neither (IoU 0.5 is not above 0.5): 1 FP, 2 FN for class 1, PQ 0."""
    true_c = [[0, 1, 1, 1, 1, 0]] * 2
    true_i = [[0, 1, 1, 2, 2, 0]] * 2
    blob = _pq(true_c, [[0, 1, 1, 1, 1, 0]] * 2, true_c, true_i)
    assert blob.per_class[1] == {"pq": 0.0, "sq": 0.0, "rq": 0.0, "tp": 0, "fp": 1, "fn": 2}
    split = _pq(true_c, true_i, true_c, true_i)
    assert split.pq == 1.0 and split.per_class[1]["tp"] == 2 and split.per_class[2] is None
    # one object right, the other half-found: IoU 1 and 2/4 = 0.5 → no match; then 3/4 → a match
    half = _pq([[0, 1, 1, 1, 0, 0]] * 2, [[0, 1, 1, 2, 0, 0]] * 2, true_c, true_i)
    assert half.per_class[1]["tp"] == 1 and half.per_class[1]["fp"] == 1 and half.per_class[1]["fn"] == 1
    assert half.per_class[1]["pq"] == pytest.approx(1.0 * (1 / (1 + 0.5 + 0.5)))
    # background (stuff): 4 true pixels; the half prediction calls 6 background, 4 overlapping: IoU 4/6
    assert half.per_class[0]["sq"] == pytest.approx(4 / 6) and half.per_class[0]["rq"] == 1.0


def test_void_pixels_count_in_no_iou_and_a_segment_mostly_on_void_is_no_false_positive():
    true_c = [[1, 1, 255, 255]]
    true_i = [[1, 1, 0, 0]]
    result = _pq([[1, 1, 2, 2]], [[1, 1, 2, 2]], true_c, true_i)
    assert result.per_class[1]["pq"] == 1.0 and result.per_class[2] is None, "class 2 lies on void only"
    grown = _pq([[1, 1, 1, 0]], [[1, 1, 1, 0]], true_c, true_i)
    assert grown.per_class[1]["sq"] == 1.0, "the pixel on void does not lower the IoU"


@pytest.mark.parametrize("seed", range(6))
def test_matches_torchmetrics_on_random_maps(seed):
    torchmetrics = pytest.importorskip("torchmetrics.detection")
    g = torch.Generator().manual_seed(seed)
    true_c = torch.randint(0, 4, (3, 12, 12), generator=g)
    true_c[true_c == 3] = 0
    true_i = connected_instances(true_c)
    pred_c = true_c.clone()
    flip = torch.rand(3, 12, 12, generator=g) < 0.15
    pred_c[flip] = torch.randint(0, 3, (int(flip.sum()),), generator=g)
    pred_i = connected_instances(pred_c)
    ignored = torch.rand(3, 12, 12, generator=g) < 0.05
    true_c = torch.where(ignored, 255, true_c)
    true_i = torch.where(ignored, 0, true_i)
    ours = PanopticQuality(3)
    ours.update(pred_c, pred_i, true_c, true_i)
    mine = ours.compute()
    reference = torchmetrics.PanopticQuality(things={1, 2}, stuffs={0}, return_sq_and_rq=True, return_per_class=True)
    theirs = reference(torch.stack([pred_c, pred_i], -1), torch.stack([true_c, true_i], -1))  # C×3: things, then stuff
    for column, c in enumerate((1, 2, 0)):
        if mine.per_class[c] is None:
            continue
        assert [mine.per_class[c][k] for k in ("pq", "sq", "rq")] == pytest.approx(theirs[column].tolist(), abs=1e-6)


def test_connected_components_split_apart_regions_and_join_touching_ones():
    classes = torch.tensor([[1, 1, 0, 1], [0, 0, 0, 1], [2, 2, 0, 0], [0, 0, 2, 0]])
    ids = connected_instances(classes)
    assert ids[0, 0] == ids[0, 1] != ids[0, 3] == ids[1, 3] and ids[0, 2] == 0
    assert ids[2, 0] == ids[2, 1] == ids[3, 2], "8-connected: diagonal neighbours join"
    assert len(set(ids[ids > 0].tolist())) == 3
