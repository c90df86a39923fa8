"""Optimisers: AdamW for everything, or Muon for the hidden weight matrices and AdamW for the rest.

Muon (Keller Jordan, 2024) takes the momentum of a weight matrix's gradient and replaces it with the
nearest semi-orthogonal matrix (all singular values 1) before stepping. A raw gradient is dominated
by a few directions; after orthogonalisation every direction the matrix can move in gets the same
step, so rarely used features learn as fast as common ones (notebook 06 measures what it buys).

It is meant for hidden matrices: convolution kernels ``out×in×k×k`` are treated as ``out×(in·k·k)``.
The layers that touch the input or produce class logits, the learned latents, biases and norm scales
stay with AdamW (a model lists them in ``Segmenter.adamw_only``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

import torch
from torch import nn

OPTIMIZERS = ("adamw", "muon")
#: quintic Newton–Schulz coefficients that pull every singular value towards 1 within 5 steps (Jordan, 2024)
_NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)


def orthogonalise(matrices: torch.Tensor, steps: int = 5) -> torch.Tensor:
    """Approximately semi-orthogonal matrices with the singular vectors of ``matrices`` ``G×R×C`` (or ``R×C``).

    Newton–Schulz iterations ``X ← aX + (b·XXᵀ + c·(XXᵀ)²)X`` on ``X / ‖X‖`` move the singular values
    into about ``[0.7, 1.2]`` with matrix products only (no SVD); in 5 steps, every one above about 1 %
    of the largest gets there. Rows of zeros stay zero. Same shape out.
    """
    if matrices.dim() not in (2, 3):
        raise ValueError(f"matrices: expected R×C or G×R×C, got shape {tuple(matrices.shape)}")
    x = matrices if matrices.dim() == 3 else matrices[None]
    tall = x.shape[-2] > x.shape[-1]
    if tall:  # iterate on the smaller Gram matrix
        x = x.mT
    a, b, c = _NS_COEFFICIENTS
    x = x / (x.norm(dim=(-2, -1), keepdim=True) + 1e-7)
    for _ in range(steps):
        gram = x @ x.mT
        x = torch.baddbmm(x, torch.baddbmm(gram, gram, gram, beta=b, alpha=c), x, beta=a)
    x = x.mT if tall else x
    return x if matrices.dim() == 3 else x[0]


class Muon(torch.optim.Optimizer):
    """Momentum (Nesterov by default), orthogonalised, for parameters of 2 or more dimensions.

    The step of a matrix ``R×C`` is ``lr · 0.2·√max(R, C) · orthogonalise(momentum)``: the factor gives
    it the root-mean-square size of a typical AdamW step (as in Moonshot's Moonlight), so one learning
    rate serves Muon and the AdamW that trains the remaining parameters. Matrices of the same shape
    are orthogonalised together in one batched product, which is what keeps this cheap on a CPU.
    ``weight_decay`` is decoupled, as in AdamW.
    """

    def __init__(self, params: Iterable[nn.Parameter] | Iterable[dict], lr: float = 2e-3, momentum: float = 0.95,
                 weight_decay: float = 0.0, nesterov: bool = True, ns_steps: int = 5) -> None:
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum: expected a number in [0, 1), got {momentum}")
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov,
                                      ns_steps=ns_steps))
        for group in self.param_groups:
            for p in group["params"]:
                if p.dim() < 2:
                    raise ValueError(f"params: Muon updates matrices (2 or more dimensions), got shape {tuple(p.shape)}")

    @torch.no_grad()
    def step(self, closure=None):  # noqa: ANN001, ANN201 - torch.optim's signature
        loss = None if closure is None else closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            grads = [p.grad for p in params]
            for p in params:
                if "momentum_buffer" not in self.state[p]:
                    self.state[p]["momentum_buffer"] = torch.zeros_like(p)
            buffers = [self.state[p]["momentum_buffer"] for p in params]
            torch._foreach_mul_(buffers, group["momentum"])
            torch._foreach_add_(buffers, grads)
            updates = torch._foreach_add(grads, buffers, alpha=group["momentum"]) if group["nesterov"] else buffers
            by_shape: dict[tuple[int, ...], list[int]] = defaultdict(list)
            for i, update in enumerate(updates):
                by_shape[(update.shape[0], update[0].numel())].append(i)
            if group["weight_decay"]:
                torch._foreach_mul_(params, 1 - group["lr"] * group["weight_decay"])
            for (rows, cols), indices in by_shape.items():
                stacked = torch.stack([updates[i].reshape(rows, cols) for i in indices]).float()
                orthogonal = orthogonalise(stacked, group["ns_steps"])
                scale = -group["lr"] * 0.2 * math.sqrt(max(rows, cols))
                for i, matrix in zip(indices, orthogonal, strict=True):
                    params[i].add_(matrix.view_as(params[i]).to(params[i].dtype), alpha=scale)
        return loss


def _adamw_only(model: nn.Module, name: str) -> bool:
    prefixes = getattr(model, "adamw_only", ())
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: weight decay for weight matrices and convolution kernels only, not for biases, norm
    scales or the learned latents, whose size carries meaning (decay would pull the experts together)."""
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            (no_decay if parameter.dim() < 2 or name.split(".")[-1] == "latents" else decay).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def build_optimizers(model: nn.Module, name: str = "adamw", lr: float = 1e-3, weight_decay: float = 1e-4,
                     fused: bool = False, muon_momentum: float = 0.95) -> list[torch.optim.Optimizer]:
    """``[AdamW]`` for ``name="adamw"``; ``[Muon, AdamW]`` for ``"muon"``: Muon takes the hidden matrices
    (2+ dimensions, not in ``model.adamw_only``, not the latents), AdamW everything else.
    ``muon_momentum`` is Muon's momentum (0.95 is the usual; a run of a few hundred steps does better
    with less, :data:`latentseg.training.RECIPE`).

    Every parameter group records its ``peak_lr``, which a schedule multiplies (``fit`` does).
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer: expected one of {OPTIMIZERS}, got {name!r}")
    matrices: list[nn.Parameter] = []
    if name == "muon":
        matrices = [p for n, p in model.named_parameters() if p.requires_grad and p.dim() >= 2
                    and n.split(".")[-1] != "latents" and not _adamw_only(model, n)]
    taken = {id(p) for p in matrices}
    rest = [{"params": [p for p in g["params"] if id(p) not in taken], "weight_decay": g["weight_decay"]}
            for g in parameter_groups(model, weight_decay)]
    optimizers: list[torch.optim.Optimizer] = []
    if matrices:
        optimizers.append(Muon(matrices, lr=lr, momentum=muon_momentum, weight_decay=weight_decay))
    optimizers.append(torch.optim.AdamW([g for g in rest if g["params"]], lr=lr, fused=fused))
    for optimizer in optimizers:
        for group in optimizer.param_groups:
            group["peak_lr"] = lr
    return optimizers
