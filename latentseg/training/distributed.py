"""Data-parallel training on PyTorch's own engine: ``torchrun --nproc_per_node=N -m latentseg train``.

torchrun starts N processes and tells each its ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``. Each
process holds a full model replica, trains on its own shard of every epoch's shuffled data, and
``DistributedDataParallel`` averages the gradients, so the replicas stay equal. Only rank 0 logs,
validates and writes files. Without torchrun (``WORLD_SIZE`` unset or 1) nothing here does anything.
"""

from __future__ import annotations

import os
from datetime import timedelta

import torch
import torch.distributed as dist


def active() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    return rank() == 0


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device: str | None = None) -> torch.device | None:
    """Join the process group torchrun describes: NCCL with one GPU per process (``cuda:LOCAL_RANK``)
    when CUDA is there and ``device`` does not say ``cpu``, else gloo on the CPU. Returns the device,
    or ``None`` when not launched by torchrun."""
    if not launched_by_torchrun():
        return None
    use_cuda = torch.cuda.is_available() and device not in ("cpu",)
    if use_cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        chosen = torch.device("cuda", local)
    else:
        chosen = torch.device("cpu")
    if not active():
        dist.init_process_group("nccl" if use_cuda else "gloo", timeout=timedelta(minutes=30))
    return chosen


def shutdown() -> None:
    """Leave the process group (every rank, also after an error), so no process hangs."""
    if active():
        dist.destroy_process_group()


def sum_across(values: list[float], device: torch.device) -> list[float]:
    """Element-wise sum of ``values`` over all processes (identity in a single process)."""
    if not active():
        return values
    # NCCL reduces only CUDA tensors; gloo only CPU ones
    tensor = torch.tensor(values, dtype=torch.float64, device=device if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(tensor)
    return tensor.tolist()


def any_across(flag: bool, device: torch.device) -> bool:
    """True if ``flag`` is true in any process: ranks must agree on when to stop, or they hang."""
    return sum_across([float(flag)], device)[0] > 0


def barrier() -> None:
    if active():
        dist.barrier()
