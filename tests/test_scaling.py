"""Attention through SDPA against nn.MultiheadAttention, and the scaling measurements."""

import math

import pytest
import torch
from torch import nn

from latentseg.analysis.scaling import (
    KINDS,
    attention_flops,
    attention_scaling,
    attention_step,
    loglog_slope,
    mha_as_sdpa,
    saved_megabytes,
)


@pytest.mark.parametrize("queries, keys", [(16, 64), (64, 64), (1, 5)])
def test_sdpa_equals_nn_multihead_attention_values_and_gradients(queries, keys):
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(32, 4, batch_first=True).double()
    sdpa = mha_as_sdpa(mha)
    q = torch.randn(3, queries, 32, dtype=torch.float64, requires_grad=True)
    kv = torch.randn(3, keys, 32, dtype=torch.float64, requires_grad=True)
    reference = mha(q, kv, kv, need_weights=False)[0]
    out = sdpa(q, kv)
    torch.testing.assert_close(out, reference, rtol=1e-10, atol=1e-10)

    grad = torch.randn_like(out)
    ref_grads = torch.autograd.grad(reference, [q, kv, mha.in_proj_weight, mha.out_proj.weight], grad)
    grads = torch.autograd.grad(out, [q, kv, sdpa.to_q.weight, sdpa.to_kv.weight, sdpa.out.weight], grad)
    torch.testing.assert_close(grads[0], ref_grads[0])
    torch.testing.assert_close(grads[1], ref_grads[1])
    torch.testing.assert_close(torch.cat([grads[2], grads[3]]), ref_grads[2])  # packed q, k, v projections
    torch.testing.assert_close(grads[4], ref_grads[3])


def test_sdpa_weights_for_plots_equal_nn_multihead_attention_weights():
    torch.manual_seed(1)
    mha = nn.MultiheadAttention(16, 2, batch_first=True)
    sdpa = mha_as_sdpa(mha)
    q, kv = torch.randn(2, 4, 16), torch.randn(2, 9, 16)
    out, weights = sdpa(q, kv, return_attention=True)
    ref_out, ref_weights = mha(q, kv, kv, need_weights=True, average_attn_weights=False)
    torch.testing.assert_close(weights, ref_weights, rtol=1e-5, atol=1e-6)  # B×heads×Q×N
    torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-6)


def test_mha_as_sdpa_refuses_what_it_cannot_copy():
    with pytest.raises(ValueError, match="mha"):
        mha_as_sdpa(nn.MultiheadAttention(16, 2, kdim=8, vdim=8))
    with pytest.raises(ValueError, match="mha"):
        mha_as_sdpa(nn.MultiheadAttention(16, 2, bias=False))


@pytest.mark.parametrize("kind", KINDS)
def test_every_step_runs_forward_and_backward(kind):
    step = attention_step(kind, tokens=20, dim=16, heads=2, num_latents=4, batch=2)
    out = step()
    assert out.shape == ((2, 4, 16) if kind.startswith("latent") else (2, 20, 16))
    assert saved_megabytes(step) > 0


def test_attention_step_errors():
    with pytest.raises(ValueError, match="kind"):
        attention_step("linear", 16)
    with pytest.raises(ValueError, match="tokens"):
        attention_step("latent", 0)


def test_loglog_slope_recovers_known_exponents():
    x = [10, 20, 40, 80]
    assert loglog_slope(x, [3 * v for v in x]) == pytest.approx(1.0)
    assert loglog_slope(x, [0.5 * v**2 for v in x]) == pytest.approx(2.0)
    assert loglog_slope(x, [7.0] * 4) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="x, y"):
        loglog_slope([1], [1])


def test_attention_scaling_rows_limits_and_slopes():
    result = attention_scaling([16, 64, 256], dim=16, heads=2, num_latents=4, batch=2, repeats=1,
                               max_full_tokens=64, max_weights_tokens=64)
    kinds_at = {t: {r["kind"] for r in result["rows"] if r["tokens"] == t} for t in (16, 64, 256)}
    assert kinds_at[16] == kinds_at[64] == set(KINDS) and kinds_at[256] == {"latent", "latent_mha"}
    assert set(result["slopes"]) == set(KINDS)
    latent = result["slopes"]["latent"]
    assert latent["tokens"] == [16, 256] and math.isfinite(latent["seconds"])
    # memory is counted exactly, so its growth can be asserted (time is only measured, never asserted)
    assert 0.5 < latent["saved_mb"] <= 1.01, "what latent attention stores grows at most linearly with the pixels"
    assert result["slopes"]["full_weights"]["saved_mb"] > 1.3, "the stored N×N weights grow quadratically"


def test_attention_cost_is_linear_in_pixels_for_latents():
    assert attention_flops(16, 4096, 64) == 2 * 16 * 4096 * 64
    assert attention_flops(16, 4096, 64) == 4 * attention_flops(16, 1024, 64)
    assert attention_flops(4096, 4096, 64) == 16 * attention_flops(1024, 1024, 64)
