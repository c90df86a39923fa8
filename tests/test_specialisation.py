import math

import pytest
import torch

from latentseg import synthetic_shapes
from latentseg.analysis.specialisation import (
    adjusted_rand_index,
    downsample_mask,
    duplicate_latents,
    expert_class_matrix,
    normalized_mutual_information,
    purity,
    routing_entropy,
    specialisation_report,
)
from latentseg.data import IGNORE_INDEX
from latentseg.models import build_model
from latentseg.models.base import SegmentationOutput


def test_routing_entropy_of_one_hot_and_uniform_routing():
    one_hot = torch.zeros(2, 3, 8, 4, 4)
    one_hot[:, :, 5] = 1
    assert routing_entropy(one_hot) == pytest.approx(0.0, abs=1e-6)
    assert routing_entropy(torch.full((2, 3, 8, 4, 4), 1 / 8)) == pytest.approx(math.log(8), rel=1e-5)


def test_perfect_assignment_scores_one():
    classes = torch.randint(0, 4, (3, 6, 6), generator=torch.Generator().manual_seed(0))
    matrix = expert_class_matrix(classes + 2, classes, num_experts=6, num_classes=4)  # expert k+2 owns class k
    assert normalized_mutual_information(matrix) == pytest.approx(1.0)
    assert adjusted_rand_index(matrix) == pytest.approx(1.0)
    result = purity(matrix)
    assert result["overall"] == 1.0 and result["per_expert"][:2] == [None, None]


def test_independent_assignment_scores_about_zero_and_purity_equals_the_baseline():
    matrix = torch.full((4, 3), 25.0)  # every expert sees every class equally
    matrix[:, 0] = 75.0  # a majority class, like the background
    assert normalized_mutual_information(matrix) == pytest.approx(0.0, abs=1e-9)
    assert adjusted_rand_index(matrix) == pytest.approx(0.0, abs=0.01)
    result = purity(matrix)
    assert result["overall"] == pytest.approx(result["majority_baseline"]) == pytest.approx(0.6)


def test_one_expert_for_everything_is_pure_but_not_specialised():
    classes = torch.tensor([[[0, 0, 0, 1], [0, 0, 2, 3]]])
    matrix = expert_class_matrix(torch.zeros_like(classes), classes, 4, 4)
    assert normalized_mutual_information(matrix) == pytest.approx(0.0, abs=1e-9)
    assert purity(matrix)["overall"] == purity(matrix)["majority_baseline"] == 5 / 8


def test_duplicated_latents_are_counted():
    latents = torch.randn(1, 1, 16).expand(2, 5, 16)
    result = duplicate_latents(latents)
    assert result["mean_cosine"] == pytest.approx(1.0) and result["pairs_above"] == 10
    orthogonal = torch.eye(5)[None]
    assert duplicate_latents(orthogonal) == {"mean_cosine": 0.0, "pairs_above": 0.0, "threshold": 0.9}
    two_alike = torch.eye(5)[None].clone()
    two_alike[0, 4] = two_alike[0, 3]  # experts 3 and 4 say the same thing
    assert duplicate_latents(two_alike)["pairs_above"] == 1
    assert duplicate_latents(two_alike, among=torch.tensor([True, True, True, True, False]))["pairs_above"] == 0
    assert duplicate_latents(two_alike, among=torch.tensor([False, False, False, True, True]))["pairs_above"] == 1
    assert duplicate_latents(two_alike, among=torch.tensor([True, False, False, False, False]))["pairs_above"] == 0


def test_downsample_mask_votes_and_skips_ignored_pixels():
    masks = torch.tensor([[[1, 1, 0, 0], [1, 2, 0, 0], [255, 255, 3, 3], [255, 255, 3, 0]]])
    assert downsample_mask(masks, (2, 2), 4).tolist() == [[[1, 0], [IGNORE_INDEX, 3]]]


class _ExpertPerClass(torch.nn.Module):
    """Routes every 4×4 cell to the expert of its majority class (expert = class), with latents that are
    one-hot per expert: a model whose experts are perfectly specialised, by construction."""

    config = type("Config", (), {"num_latents": 4, "num_classes": 4})

    def __init__(self, masks):
        super().__init__()
        self.masks, self.seen = masks, 0

    def forward_with_attention(self, x):
        cells = downsample_mask(self.masks[self.seen:self.seen + len(x)], (x.shape[2] // 4, x.shape[3] // 4), 4)
        self.seen += len(x)
        routing = torch.nn.functional.one_hot(cells, 4).permute(0, 3, 1, 2).float()[:, None]  # B×1×M×h×w
        latents = torch.eye(4).expand(len(x), 4, 4)
        return SegmentationOutput(torch.zeros(len(x), 4, *x.shape[-2:]), routing, routing, latents)


def test_report_of_experts_that_own_one_class_each():
    data = synthetic_shapes(6, size=32, split="test")
    report = specialisation_report(_ExpertPerClass(data.masks), data.images, data.masks, batch_size=4)
    assert report["routing_entropy"] < 1e-9 and report["nmi"] == pytest.approx(1.0) and report["ari"] == pytest.approx(1.0)
    matrix = torch.tensor(report["expert_class_matrix"])
    assert torch.equal(matrix, torch.diag(matrix.diag())) and matrix.sum() == 6 * 8 * 8
    assert report["purity"]["overall"] == 1.0 and report["experts_used"] == int((matrix.diag() > 0).sum()) >= 3
    assert report["duplicate_pairs"] == 0 and report["mean_latent_cosine"] == 0
    assert report["usage"] == pytest.approx((matrix.diag() / matrix.sum()).tolist())


def test_report_on_a_real_model_in_its_ranges():
    torch.manual_seed(0)
    model = build_model("improved", num_classes=4, stem_dim=4, mid_dim=8, feature_dim=16, latent_dim=16,
                        num_latents=6, num_heads=2)
    data = synthetic_shapes(5, size=32, split="test")
    report = specialisation_report(model, data.images, data.masks, batch_size=2)
    assert 0 <= report["routing_entropy_ratio"] <= 1 + 1e-6 and 0 <= report["nmi"] <= 1
    assert sum(map(sum, report["expert_class_matrix"])) == 5 * 8 * 8
    assert report["experts_used"] == sum(u > 0 for u in report["usage"])
    assert 0 <= report["duplicate_pairs_used"] <= report["duplicate_pairs"]


def test_identical_groups_joins_copies_and_keeps_the_rest_apart():
    from latentseg.analysis.specialisation import identical_groups

    torch.manual_seed(0)
    base = torch.randn(3, 1, 8)
    distinct = torch.randn(3, 2, 8)
    # experts 0, 2, 4 are copies (4 a scaled one), 1 and 3 are different from everything
    vectors = torch.cat([base, distinct[:, :1], base + 1e-4, distinct[:, 1:], 2 * base], dim=1)  # B×5×8
    assert identical_groups(vectors) == [[0, 2, 4], [1], [3]]
    assert identical_groups(torch.randn(4, 6, 32)) == [[m] for m in range(6)]
