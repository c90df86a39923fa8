"""Building blocks of the improved model: SDPA attention, residual blocks, Fourier positions."""


import torch

from latentseg.models.blocks import CrossAttentionBlock, MultiHeadAttention, fourier_positions


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


def test_fourier_positions_are_bounded_and_distinct():
    pos = fourier_positions(4, 5, 3)
    assert pos.shape == (20, 12) and pos.abs().max() <= 1
    assert torch.cdist(pos, pos).add(torch.eye(20)).min() > 0  # every position has its own code


def test_bare_cross_attention_block_is_plain_attention():
    torch.manual_seed(0)
    block = CrossAttentionBlock(8, 2, residual=False)
    x, c = torch.randn(1, 3, 8), torch.randn(1, 4, 8)
    assert torch.equal(block(x, c), block.attention(x, c))
