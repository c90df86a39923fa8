"""Throughput benchmark: training and inference images per second at several image sizes."""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from .checks import check_positive_int
from .device import pick_device
from .model import SegmentationModel, count_parameters


def _images_per_second(step, batch_size: int, repeats: int, device: torch.device) -> float:
    step()  # warm-up: allocator, kernels, lazy init
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return batch_size * repeats / (time.perf_counter() - start)


def throughput(
    model: SegmentationModel, size: int, batch_size: int = 16, repeats: int = 5, device: str | None = None
) -> dict[str, float | int | None]:
    """Train and inference images/s of ``model`` on random ``batch_size×C×size×size`` input.

    Returns ``params``, ``train_images_per_s``, ``inference_images_per_s`` and
    ``peak_memory_mb`` (CUDA only, else ``None``).
    """
    check_positive_int("size", size)
    check_positive_int("batch_size", batch_size)
    check_positive_int("repeats", repeats)
    device = pick_device(device)
    model = model.to(device)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch_size, model.config.in_channels, size, size, generator=g).to(device)
    y = torch.randint(0, model.num_classes, (batch_size, size, size), generator=g).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def train_step() -> None:
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    @torch.no_grad()
    def inference_step() -> None:
        model(x)

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    model.train()
    train_rate = _images_per_second(train_step, batch_size, repeats, device)
    model.eval()
    inference_rate = _images_per_second(inference_step, batch_size, repeats, device)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return {
        "params": count_parameters(model),
        "train_images_per_s": train_rate,
        "inference_images_per_s": inference_rate,
        "peak_memory_mb": peak,
    }


def run_bench(sizes: list[int], batch_size: int, repeats: int, device: str | None, seed: int = 0) -> dict:
    """The seed model (4 classes) at each size; one JSON-ready dict."""
    rows = []
    for size in sizes:
        torch.manual_seed(seed)
        model = SegmentationModel(num_classes=4)
        rows.append({"model": "seed", "size": size, "batch_size": batch_size,
                     **throughput(model, size, batch_size, repeats, device)})
    return {"device": str(pick_device(device)), "threads": torch.get_num_threads(), "rows": rows}
