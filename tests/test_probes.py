import torch

from latentseg import SegmentationModel, SimpleEncoder
from latentseg.analysis.probes import attention_flops, expert_assignment, expert_usage, gradient_footprint, receptive_field


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


def test_expert_assignment_and_usage(tiny_model):
    out = tiny_model(torch.rand(2, 3, 16, 16), return_attention=True)
    assignment = expert_assignment(out)
    assert assignment.shape == (2, 4, 4) and assignment.max() < 4
    usage = expert_usage(out)
    assert usage.shape == (4,) and torch.isclose(usage.sum(), torch.tensor(1.0))


def test_attention_cost_is_linear_in_pixels_for_latents():
    assert attention_flops(16, 4096, 64) == 4 * attention_flops(16, 1024, 64)
    assert attention_flops(4096, 4096, 64) == 16 * attention_flops(1024, 1024, 64)


def test_model_stride_matches_field_stride():
    model = SegmentationModel()
    out = model(torch.rand(1, 3, 40, 40), return_attention=True)
    assert out.pixel_attention.shape[-1] == 40 // receptive_field(_layers(model.encoder))[1]


def test_resolution_ceiling_is_perfect_at_full_resolution_and_drops_with_coarser_logits():
    from latentseg import synthetic_shapes
    from latentseg.analysis.probes import resolution_ceiling

    masks = synthetic_shapes(32, size=64).masks
    full, half, quarter = (resolution_ceiling(masks, f, 4).miou for f in (1, 2, 4))
    assert full == 1.0 and 0.9 < quarter < half < 1.0
