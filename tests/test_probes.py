import pytest
import torch

from latentseg import SegmentationModel, SimpleEncoder
from latentseg.analysis.probes import expert_ablation, expert_assignment, expert_usage, gradient_footprint, receptive_field
from latentseg.models.base import SegmentationOutput


def _layers(enc):
    return [enc.conv1, enc.pool, enc.conv2, enc.pool]


def test_receptive_field_of_the_seed_encoder():
    assert receptive_field(_layers(SimpleEncoder())) == (10, 4)
    assert receptive_field([torch.nn.Conv2d(1, 1, 5, stride=2), torch.nn.Conv2d(1, 1, 3)]) == (9, 2)


def test_measured_footprint_fits_inside_the_computed_field():
    size, _ = receptive_field(_layers(SimpleEncoder()))
    footprint = gradient_footprint(SimpleEncoder(), size=32)
    rows, cols = torch.nonzero(footprint, as_tuple=True)
    assert rows.max() - rows.min() + 1 <= size and cols.max() - cols.min() + 1 <= size
    assert rows.max() - rows.min() + 1 >= size - 3  # and nearly fills it


def test_expert_assignment_is_the_expert_a_position_reads_most_over_the_heads():
    # one image, 2 heads, 3 experts, a 2×2 grid; every position's weights sum to 1 over the experts
    per_head = torch.tensor([
        [[0.7, 0.1, 0.2, 0.2], [0.2, 0.8, 0.2, 0.1], [0.1, 0.1, 0.6, 0.7]],  # head 0: experts × positions
        [[0.1, 0.1, 0.6, 0.4], [0.1, 0.8, 0.2, 0.1], [0.8, 0.1, 0.2, 0.5]],  # head 1
    ]).view(1, 2, 3, 2, 2)
    out = SegmentationOutput(torch.zeros(1, 1, 8, 8), per_head, per_head, torch.zeros(1, 3, 4))
    # position 0: means 0.4 / 0.15 / 0.45 → expert 2 (no head alone picks it that way); 1: expert 1;
    # 2: 0.4 / 0.2 / 0.4 → the first of the tie, expert 0; 3: 0.3 / 0.1 / 0.6 → expert 2
    assert expert_assignment(out).tolist() == [[[2, 1], [0, 2]]]
    assert expert_usage(out).tolist() == [0.25, 0.25, 0.5]


def test_model_stride_matches_field_stride():
    model = SegmentationModel()
    out = model.forward_with_attention(torch.rand(1, 3, 40, 40))
    assert out.pixel_attention.shape[-1] == 40 // receptive_field(_layers(model.encoder))[1]


def test_resolution_ceiling_is_perfect_at_full_resolution_and_drops_with_coarser_logits():
    from latentseg import synthetic_shapes
    from latentseg.analysis.probes import resolution_ceiling

    masks = synthetic_shapes(32, size=64).masks
    full, half, quarter = (resolution_ceiling(masks, f, 4).miou for f in (1, 2, 4))
    assert full == 1.0 and 0.9 < quarter < half < 1.0


class _OneExpertPerClass:
    """A stand-in model whose expert ``k`` alone finds class ``k`` (1-based): switched off, that class is lost."""

    class config:
        num_latents, num_classes = 3, 3

    def __init__(self, masks):
        self.masks = masks

    def predict(self, x, expert_mask=None):
        truth = self.masks[: len(x)].clone()
        for expert in range(3) if expert_mask is not None else ():
            if not expert_mask[expert] and expert > 0:
                truth[truth == expert] = 0
        return truth


def test_expert_ablation_is_the_iou_lost_when_one_expert_is_off():
    masks = torch.zeros(2, 8, 8, dtype=torch.long)
    masks[:, :4, :4], masks[:, 4:, 4:] = 1, 2
    drops = expert_ablation(_OneExpertPerClass(masks), torch.zeros(2, 3, 8, 8), masks)
    assert torch.equal(drops[0], torch.zeros(3)), "an expert nothing needs costs nothing"
    assert drops[1, 1] == 1 and drops[2, 2] == 1, "positive: the IoU that expert's class loses"
    # expert 1 off: class 1's 16 pixels per image become background: background IoU 32/48 instead of 1
    assert drops[1, 2] == 0 and drops[1, 0] == pytest.approx(1 - 32 / 48)
