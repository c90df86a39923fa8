"""Benchmarks: throughput, activation memory, and quality reached within a fixed training-time budget."""

from __future__ import annotations

import time
from typing import Any

import torch
from torch.utils.data import Dataset

from .base import Segmenter
from .checks import check_positive_float, check_positive_int
from .data import SHAPE_CLASSES, synthetic_shapes
from .device import pick_device, synchronize
from .model import count_parameters
from .models import MODELS, build_model
from .optim import build_optimizers
from .scaling import attention_scaling, saved_megabytes, time_steps
from .specialisation import specialisation_report
from .train import autocast_to, evaluate, fit, resolve_precision, training_loss

TARGET_MIOU = 0.90
#: the training recipe of the race (and the CLI's defaults): Muon for hidden matrices and AdamW for the rest
#: (:mod:`latentseg.optim`) with momentum 0.85 (Muon's usual 0.95 averages over too many of a short run's few
#: hundred steps), batch 8, peak lr 6·10⁻³ held, then decayed linearly over the second half of the budget
#: (``wsd``), cross-entropy + soft Dice, with pixels at class boundaries counting 5 times in the cross-entropy
#: (``edge_weight`` 4: most of what a minute's training still gets wrong lies on a boundary).
RECIPE = {"batch_size": 8, "lr": 6e-3, "dice_weight": 1.0, "edge_weight": 4.0, "optimizer": "muon",
          "muon_momentum": 0.85, "schedule": "wsd"}
SPECIALISATION_KEYS = ("routing_entropy", "routing_entropy_ratio", "nmi", "ari", "duplicate_pairs", "mean_latent_cosine",
                       "experts_used", "duplicate_pairs_used")


def summarise_runs(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean and sample standard deviation (0 for one run) over runs of ``test_miou``, ``steps`` and, for
    latent models, the specialisation figures."""
    values: dict[str, list[float]] = {"test_miou": [r["test_miou"] for r in runs], "steps": [r["steps"] for r in runs]}
    if "specialisation" in runs[0]:
        values.update({k: [r["specialisation"][k] for r in runs] for k in SPECIALISATION_KEYS})
    summary = {}
    for key, v in values.items():
        mean = sum(v) / len(v)
        std = (sum((x - mean) ** 2 for x in v) / (len(v) - 1)) ** 0.5 if len(v) > 1 else 0.0
        summary[key] = {"mean": mean, "std": std}
    return summary


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
    precision: str = "auto", compile: bool = False, optimizer: str = RECIPE["optimizer"],
    dice_weight: float = RECIPE["dice_weight"], edge_weight: float = RECIPE["edge_weight"],
) -> dict[str, float | int | None]:
    """Train and inference images/s of ``model`` on random ``batch_size×C×size×size`` input, under
    autocast for ``precision`` (:func:`~latentseg.train.resolve_precision`: bf16 on CUDA, fp32 on CPU),
    through ``torch.compile`` if ``compile`` (``first_step_s`` then shows what compiling costs). A
    training step is ``fit``'s: the recipe's loss and ``optimizer``.

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
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch_size, model.config.in_channels, size, size, generator=g).to(device)
    y = torch.randint(0, model.num_classes, (batch_size, size, size), generator=g).to(device)
    optimizers = build_optimizers(model, optimizer, lr=1e-3, fused=device.type in ("cpu", "cuda"))

    def train_step() -> None:
        loss = training_loss(model, net, x, y, dice_weight, amp_dtype, edge_weight)
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
    forward passes timed in turn, one of each model per round (:func:`~latentseg.scaling.time_steps`),
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


def seconds_to_reach(records: list[dict[str, float]], target: float) -> float | None:
    """Training seconds at the first validation with ``val_miou ≥ target``, or ``None`` if never."""
    return next((r["seconds"] for r in records if r.get("val_miou", 0.0) >= target), None)


def recipe_with(**overrides: Any) -> dict[str, Any]:
    """:data:`RECIPE` with ``overrides`` (its keys only: ``batch_size``, ``lr``, ``dice_weight``,
    ``edge_weight``, ``optimizer``, ``muon_momentum``, ``schedule``); ``None`` values keep the recipe's."""
    unknown = sorted(set(overrides) - set(RECIPE))
    if unknown:
        raise ValueError(f"recipe: unknown keys {unknown}; expected a subset of {sorted(RECIPE)}")
    return {**RECIPE, **{k: v for k, v in overrides.items() if v is not None}}


def train_for_budget(
    model: Segmenter, train: Dataset, val: Dataset, test: Dataset, budget_s: float, *,
    val_every: int = 50, seed: int = 0, device: str | None = None, progress: bool = False, **recipe: Any,
) -> dict[str, Any]:
    """Train ``model`` for ``budget_s`` seconds (validation not counted) with :data:`RECIPE`, its
    schedule on the clock; keyword arguments override recipe entries (e.g. ``optimizer="adamw"``).

    Returns ``test_miou``, ``test_per_class_iou``, ``train_seconds``, ``steps``, ``seconds_to_target``
    (first validation at ``TARGET_MIOU`` or above, else ``None``) and ``curve`` (``[[seconds, val mIoU], …]``).
    """
    check_positive_float("budget_s", budget_s)
    history = fit(model, train, val, epochs=1_000_000, **recipe_with(**recipe), device=device, seed=seed,
                  max_seconds=budget_s, val_every=val_every, progress=progress)
    metrics = evaluate(model, test, device=device)
    return {
        "test_miou": metrics.miou,
        "test_per_class_iou": metrics.per_class_iou,
        "train_seconds": history.last["seconds"],
        "steps": history.last["step"],
        "seconds_to_target": seconds_to_reach(history.records, TARGET_MIOU),
        "curve": [[r["seconds"], r["val_miou"]] for r in history.records],
    }


def run_bench(
    models: list[str] | None = None, budget_s: float = 60.0, sizes: list[int] | tuple[int, ...] = (64,),
    repeats: int = 5, device: str | None = None, seed: int = 0, image_size: int = 64, train_size: int = 4000,
    val_size: int = 200, test_size: int = 500, val_every: int = 50, precision: str = "auto",
    attention_sizes: list[int] | tuple[int, ...] = (), seeds: list[int] | None = None, **recipe: Any,
) -> dict[str, Any]:
    """Every model in one run: throughput at each size, attention alone at each of ``attention_sizes``,
    then training for ``budget_s`` seconds (``0`` skips training). Keyword arguments override entries of
    :data:`RECIPE` for every model; its ``batch_size`` (and ``optimizer``) also serve the throughput rows.

    Returns a JSON-ready dict: ``device``, ``threads``, ``torch``, ``budget_s``, ``target_miou``, and
    ``rows`` (throughput per model and size, with ``inference_ratio_to_seed`` when the seed model is in
    the run; with several models, ``inference_images_per_s`` comes from :func:`inference_rates`, all
    models timed side by side) and ``training`` per model (:func:`train_for_budget` on ``train_size`` synthetic images of
    ``image_size``, 4 classes; test mIoU on ``test_size`` images). ``attention`` holds
    :func:`attention_comparison` for the token grids of ``attention_sizes`` (1/4 of the image side).
    With several ``seeds`` each model trains once per seed (data, initialisation and shuffling all
    change); ``training[name]`` then holds the first run's fields, every run under ``runs`` and
    ``summary`` (:func:`summarise_runs`).
    """
    models = list(models or MODELS)
    for name in models:
        if name not in MODELS:
            raise ValueError(f"models: expected names from {sorted(MODELS)}, got {name!r}")
    if budget_s < 0:
        raise ValueError(f"budget_s: expected seconds ≥ 0 (0 skips training), got {budget_s}")
    recipe = recipe_with(**recipe)
    batch_size = recipe["batch_size"]
    throughput_rows, training = [], {}
    built: dict[int, dict[str, Segmenter]] = {size: {} for size in sizes}
    for name in models:
        for size in sizes:
            torch.manual_seed(seed)
            model = built[size][name] = build_model(name, num_classes=len(SHAPE_CLASSES))
            throughput_rows.append({"model": name, "size": size, "batch_size": batch_size,
                                    **throughput(model, size, batch_size, repeats, device, precision,
                                                optimizer=recipe["optimizer"], dice_weight=recipe["dice_weight"],
                                                edge_weight=recipe["edge_weight"])})
    if len(models) > 1:  # inference side by side, so that the ratios to the seed model survive the machine's drift
        for size in sizes:
            rates = inference_rates(built[size], size, batch_size, 4 * repeats, device, precision)
            for row in (r for r in throughput_rows if r["size"] == size):
                row["inference_images_per_s"] = rates[row["model"]]
    seed_rate = {r["size"]: r["inference_images_per_s"] for r in throughput_rows if r["model"] == "seed"}
    for row in throughput_rows:
        base = seed_rate.get(row["size"])
        row["inference_ratio_to_seed"] = row["inference_images_per_s"] / base if base else None
    attention = attention_comparison(attention_sizes, batch_size, repeats, device) if attention_sizes else None
    for name in models if budget_s > 0 else []:
        runs = []
        for run_seed in seeds or [seed]:
            train, val, test = (synthetic_shapes(n, image_size, run_seed, split)
                                for n, split in ((train_size, "train"), (val_size, "val"), (test_size, "test")))
            torch.manual_seed(run_seed)
            model = build_model(name, num_classes=len(SHAPE_CLASSES))
            run = {"seed": run_seed, "params": count_parameters(model), **train_for_budget(
                model, train, val, test, budget_s, val_every=val_every, seed=run_seed, device=device, **recipe)}
            if hasattr(model.config, "num_latents"):  # do its latents act as experts?
                report = specialisation_report(model.cpu(), test.images[:200], test.masks[:200])
                run["specialisation"] = {k: report[k] for k in SPECIALISATION_KEYS}
            runs.append(run)
        training[name] = {**runs[0], "runs": runs, "summary": summarise_runs(runs)}
    return {
        "device": str(pick_device(device)), "threads": torch.get_num_threads(), "torch": torch.__version__,
        "budget_s": budget_s, "image_size": image_size, "train_size": train_size, "target_miou": TARGET_MIOU,
        "recipe": recipe,
        "rows": throughput_rows, "attention": attention, "training": training,
    }


def attention_comparison(image_sizes: list[int] | tuple[int, ...], batch_size: int = 8, repeats: int = 5,
                         device: str | None = None) -> dict[str, Any]:
    """One attention layer (dim 64, 4 heads, 16 latents) on the ``(size/4)²`` tokens of each image size,
    timed side by side (:mod:`latentseg.scaling`): SDPA latent attention, the same through
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
