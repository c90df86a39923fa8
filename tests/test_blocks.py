"""Building blocks of the improved model: SDPA attention, residual blocks, texture energy, Fourier positions."""


import pytest
import torch

from latentseg.models.blocks import ConvBlock, CrossAttentionBlock, MultiHeadAttention, TextureEnergy, fourier_positions


def test_sdpa_attention_matches_explicit_weights_in_values_and_gradients():
    torch.manual_seed(0)
    attention = MultiHeadAttention(8, 2, context_dim=6)
    x, context = torch.randn(3, 5, 8, requires_grad=True), torch.randn(3, 7, 6)
    fused = attention(x, context)
    explicit, weights = attention(x, context, return_attention=True)
    assert torch.allclose(fused, explicit, atol=1e-5) and weights.shape == (3, 2, 5, 7)
    (g_fused,) = torch.autograd.grad(fused.square().sum(), x)
    (g_explicit,) = torch.autograd.grad(explicit.square().sum(), x)
    assert torch.allclose(g_fused, g_explicit, atol=1e-5)


def test_each_query_reads_only_the_keys_its_own_mask_keeps():
    torch.manual_seed(0)
    attention = MultiHeadAttention(8, 2, context_dim=6)
    x, context = torch.randn(3, 5, 8), torch.randn(3, 7, 6)
    keep = torch.rand(3, 5, 7) < 0.5
    keep[..., 0] = True  # every query keeps one key at least
    fused = attention(x, context, key_mask=keep)
    explicit, weights = attention(x, context, return_attention=True, key_mask=keep)
    assert torch.allclose(fused, explicit, atol=1e-5)
    assert (weights.masked_select(~keep[:, None]) == 0).all() and torch.allclose(weights.sum(-1), torch.ones(3, 2, 5))
    moved = context.clone()
    moved[~keep.any(1)] += 100  # keys no query keeps change nothing
    assert torch.allclose(attention(x, moved, key_mask=keep), fused, atol=1e-5)


def test_fourier_positions_are_bounded_and_distinct():
    pos = fourier_positions(4, 5, 3)
    assert pos.shape == (20, 12) and pos.abs().max() <= 1
    assert torch.cdist(pos, pos).add(torch.eye(20)).min() > 0  # every position has its own code


def test_bare_cross_attention_block_is_plain_attention():
    torch.manual_seed(0)
    block = CrossAttentionBlock(8, 2, residual=False)
    x, c = torch.randn(1, 3, 8), torch.randn(1, 4, 8)
    assert torch.equal(block(x, c), block.attention(x, c))


@pytest.mark.parametrize("size", [4, 5, 31, 37, 64, 66])
def test_texture_energy_lands_on_the_grid_of_two_stride_2_convolutions(size):
    down = torch.nn.Sequential(ConvBlock(3, 4, stride=2), ConvBlock(4, 4, stride=2))
    x = torch.rand(2, 3, size, size + 3)
    assert TextureEnergy(3, 8, filters=4, kernel=5)(x).shape[-2:] == down(x).shape[-2:]


def test_texture_energy_ignores_the_stripes_phase_and_tells_their_orientation():
    energy = TextureEnergy(1, 2, filters=2, kernel=3).eval()
    with torch.no_grad():  # two fixed filters (vertical and horizontal differences), passed straight through
        energy.filters.weight.zero_()
        energy.filters.weight[0, 0, 1, :2] = torch.tensor([1.0, -1.0])
        energy.filters.weight[1, 0, :2, 1] = torch.tensor([1.0, -1.0])
        energy.project.weight.copy_(torch.eye(2)[..., None, None])
        energy.project.bias.zero_()
    columns = torch.arange(32).remainder(4).lt(2).float()  # vertical stripes, period 4
    stripes, shifted = (c.expand(32, 32)[None, None] for c in (columns, columns.roll(2)))  # half a period apart
    assert (energy.filters(stripes) * energy.filters(shifted)).min() < 0  # the raw responses flip sign
    out, out_shifted, out_turned = (energy(x)[..., 1:-1, 1:-1] for x in (stripes, shifted, stripes.transpose(-2, -1)))
    assert out.shape == (1, 2, 6, 6) and torch.allclose(out, out_shifted, atol=1e-5)  # the energy does not
    assert (out[:, 0] > 0.4).all() and (out[:, 1] < 1e-5).all()  # vertical stripes: only the vertical-edge filter
    assert torch.allclose(out_turned, out.flip(1), atol=1e-5)  # turned 90°: the other filter


def test_texture_energy_kernel_must_be_odd():
    with pytest.raises(ValueError, match="kernel: expected an odd positive int, got 4"):
        TextureEnergy(3, 8, kernel=4)
