"""Speed and memory of the models: training and inference images per second, activation memory,
and one attention layer alone against the number of pixels."""

from __future__ import annotations

import time
from typing import Any

import torch

from ..analysis.scaling import attention_scaling, saved_megabytes, time_steps
from ..checks import check_positive_int
from ..data.shapes import synthetic_shapes
from ..device import autocast_to, pick_device, resolve_precision, synchronize
from ..models.base import Segmenter, count_parameters, training_forward
from ..training.loop import training_loss
from ..training.optim import build_optimizers
from ..training.recipe import RECIPE, Recipe


def _images_per_second(step, batch_size: int, repeats: int, device: torch.device) -> tuple[float, float]:
    """Images/s from the median of ``repeats`` calls, and the seconds of the first call (warm-up: allocator, kernels,
    lazy init, and compilation under ``torch.compile``), which is not in the rate."""
    start = time.perf_counter()
    step()
    synchronize(device)
    first = time.perf_counter() - start
    return batch_size / time_steps({"step": step}, repeats, device)["step"], first


def activation_memory_mb(model: Segmenter, x: torch.Tensor) -> float:
    """MiB of tensors one forward pass keeps for backward: the memory that grows with batch and image size.

    Counted by hooking autograd's saved tensors, so it is the same number on every device
    (CUDA's allocator peak adds weights, gradients and workspace on top).
    """
    return saved_megabytes(lambda: model(x))


def throughput(
    model: Segmenter, size: int, batch_size: int = 16, repeats: int = 5, device: str | None = None,
    precision: str = "auto", compile: bool = False, recipe: Recipe = RECIPE,
) -> dict[str, float | int | None]:
    """Train and inference images/s of ``model`` on a batch of ``batch_size`` synthetic shapes at ``size``, under
    autocast for ``precision`` (:func:`~latentseg.device.resolve_precision`: bf16 on CUDA, fp32 on CPU),
    through ``torch.compile`` if ``compile`` (``first_step_s`` then shows what compiling costs). A
    training step is ``fit``'s: the recipe's loss and optimiser.

    Returns ``params``, ``train_images_per_s``, ``inference_images_per_s``,
    ``activation_memory_mb`` (:func:`activation_memory_mb`) and ``peak_memory_mb`` (CUDA only, else ``None``).
    """
    check_positive_int("size", size)
    check_positive_int("batch_size", batch_size)
    check_positive_int("repeats", repeats)
    device = pick_device(device)
    amp_dtype = resolve_precision(precision, device)
    model = model.to(device)
    net = torch.compile(model) if compile else model
    train_net = torch.compile(training_forward(model)) if compile else training_forward(model)
    shapes = synthetic_shapes(batch_size, size, seed=0, split="test")  # a real batch: objects for the experts model
    x, y, objects = (t.to(device) for t in (shapes.images, shapes.masks, shapes.instances))
    y = y.clamp_max(model.num_classes - 1)
    optimizers = build_optimizers(model, recipe.optimizer, lr=1e-3, fused=device.type in ("cpu", "cuda"))

    def train_step() -> None:
        loss = training_loss(model, x, y, recipe, amp_dtype, objects, net=train_net)
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        loss.backward()
        for opt in optimizers:
            opt.step()

    @torch.no_grad()
    def inference_step() -> None:
        with autocast_to(device.type, amp_dtype):
            net(x)

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    model.train()
    activations = activation_memory_mb(model, x)
    train_rate, first_step = _images_per_second(train_step, batch_size, repeats, device)
    model.eval()
    inference_rate, _ = _images_per_second(inference_step, batch_size, repeats, device)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return {
        "params": count_parameters(model),
        "train_images_per_s": train_rate,
        "inference_images_per_s": inference_rate,
        "activation_memory_mb": activations,
        "peak_memory_mb": peak,
        "first_step_s": first_step,
        "precision": str(amp_dtype or torch.float32).removeprefix("torch."),
        "compiled": compile,
    }


def inference_rates(
    models: dict[str, Segmenter], size: int, batch_size: int = 8, repeats: int = 20, device: str | None = None,
    precision: str = "auto",
) -> dict[str, float]:
    """Inference images/s of each of ``models`` on one random ``batch_size×C×size×size`` batch, the
    forward passes timed in turn, one of each model per round (:func:`~latentseg.analysis.scaling.time_steps`),
    median over ``repeats`` rounds. A machine whose speed drifts then slows every model alike, so the
    ratios between them hold, where separate timings a few seconds apart can be off by half."""
    check_positive_int("size", size)
    check_positive_int("batch_size", batch_size)
    device = pick_device(device)
    amp_dtype = resolve_precision(precision, device)
    channels = next(iter(models.values())).config.in_channels
    x = torch.rand(batch_size, channels, size, size, generator=torch.Generator().manual_seed(0)).to(device)

    def forward(model: Segmenter):
        model.to(device).eval()

        @torch.no_grad()
        def step() -> None:
            with autocast_to(device.type, amp_dtype):
                model(x)
        return step

    seconds = time_steps({name: forward(model) for name, model in models.items()}, repeats, device)
    return {name: batch_size / s for name, s in seconds.items()}


def attention_comparison(image_sizes: list[int] | tuple[int, ...], batch_size: int = 8, repeats: int = 5,
                         device: str | None = None) -> dict[str, Any]:
    """One attention layer (dim 64, 4 heads, 16 latents) on the ``(size/4)²`` tokens of each image size,
    timed side by side (:mod:`latentseg.analysis.scaling`): SDPA latent attention, the same through
    ``nn.MultiheadAttention``, and full pixel self-attention. Adds per size the speed-up of SDPA over
    ``nn.MultiheadAttention`` and how many times slower full self-attention is."""
    tokens = [check_positive_int("attention size", size) // 4 * (size // 4) for size in image_sizes]
    result = attention_scaling(tokens, ("latent", "latent_mha", "full"), batch=batch_size, repeats=repeats,
                               device=device, max_full_tokens=max(tokens))
    seconds = {(r["kind"], r["tokens"]): r["seconds"] for r in result["rows"]}
    result["ratios"] = [{"image_size": size, "tokens": n,
                         "sdpa_speedup_over_mha": seconds["latent_mha", n] / seconds["latent", n],
                         "full_over_latent": seconds["full", n] / seconds["latent", n]}
                        for size, n in zip(image_sizes, tokens, strict=True)]
    return result
