"""The training loop and evaluation: a :class:`~latentseg.training.recipe.Recipe` decides how to
optimise; ``fit`` runs it for a number of epochs (or a time budget), validating as it goes, with
mixed precision, compilation, channels-last and data-parallel training as options."""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm.auto import tqdm

from ..checks import check_finite, check_positive_float, check_positive_int
from ..data.colour import ColourJitter
from ..data.dataset import SegmentationData
from ..data.refill import TextureRefill
from ..device import autocast_to, pick_device, resolve_precision, seed_everything
from ..labels import IGNORE_INDEX
from . import distributed
from .losses import segmentation_loss
from .metrics import ConfusionMatrix, Metrics
from .optim import build_optimizers
from .panoptic import PanopticMetrics, PanopticQuality, connected_instances
from .recipe import RECIPE, Recipe
from .schedules import learning_rate_factor


@dataclass
class History:
    """One record per epoch and every ``val_every`` steps.

    Keys: ``epoch``, ``step``, ``train_loss`` (the recipe's loss), ``val_loss`` (plain cross-entropy),
    ``val_miou``, ``val_pixel_accuracy``, ``seconds``.
    """

    records: list[dict[str, float]] = field(default_factory=list)

    def __getitem__(self, key: str) -> list[float]:
        return [r[key] for r in self.records]

    def __len__(self) -> int:
        return len(self.records)

    @property
    def last(self) -> dict[str, float]:
        return self.records[-1]


class NonFiniteLoss(ValueError):
    """Training stopped because the loss became NaN or infinite."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during ``fit``: training stopped at the end of a step. The model holds the weights
    trained so far; ``history`` the records up to that step (the last one made at the stop)."""

    def __init__(self, history: History, step: int, epoch: int) -> None:
        super().__init__(f"training interrupted at step {step} (epoch {epoch}); the model holds the weights "
                         "trained so far")
        self.history, self.step, self.epoch = history, step, epoch
        self.out_folder = None  # where a caller kept the model trained so far (latentseg.run.train_run)


def _num_classes(model: nn.Module) -> int:
    config = getattr(model, "config", None)
    if config is None:
        raise TypeError("model: expected a latentseg model with a .config (num_classes), got "
                        f"{type(model).__name__}")
    return config.num_classes


def _loader(data: Dataset, batch_size: int) -> DataLoader:
    return DataLoader(data, batch_size=batch_size, shuffle=False, drop_last=False)


@torch.no_grad()
def _validate(model: nn.Module, loader: DataLoader, device: torch.device) -> tuple[float, Metrics]:
    was_training = model.training
    model.eval()
    confusion = ConfusionMatrix(_num_classes(model))
    loss_sum, pixels, seen = 0.0, 0, 0
    for images, masks, *_ in loader:
        check_finite(f"data: images {seen}–{seen + len(images) - 1}", images)
        seen += len(images)
        images, masks = images.to(device), masks.to(device)
        logits = model(images)
        loss_sum += float(F.cross_entropy(logits, masks, ignore_index=IGNORE_INDEX, reduction="sum"))
        pixels += int((masks != IGNORE_INDEX).sum())
        confusion.update(logits.argmax(1), masks)
    model.train(was_training)
    return loss_sum / max(pixels, 1), confusion.compute()


def evaluate(model: nn.Module, data: Dataset, batch_size: int = 64, device: str | torch.device | None = None) -> Metrics:
    """Pixel accuracy, per-class IoU and mIoU of ``model`` on ``data`` (pairs ``3×H×W``, ``H×W``)."""
    check_positive_int("batch_size", batch_size)
    _check_data("data", data, _num_classes(model))
    device = pick_device(device)
    model.to(device)
    return _validate(model, _loader(data, batch_size), device)[1]


@torch.no_grad()
def evaluate_instances(model: nn.Module, data: Dataset, batch_size: int = 64,
                       device: str | torch.device | None = None) -> PanopticMetrics:
    """Panoptic quality of ``model`` on ``data`` that carry instance ids (items ``(image, mask,
    instances)``, e.g. ``SegmentationData.with_instances()``): a model whose experts own objects
    (``predict_instances``) is scored on its own instance map, any other on the connected components
    of its class map (:func:`~latentseg.training.panoptic.connected_instances`)."""
    check_positive_int("batch_size", batch_size)
    if not getattr(data, "has_instances", False):
        raise ValueError(f"data: panoptic quality needs instance ids, and this {type(data).__name__} carries none")
    device = pick_device(device)
    model.to(device)
    metric = PanopticQuality(_num_classes(model))
    for images, masks, instances in _loader(data.with_instances(), batch_size):
        images = images.to(device)
        if getattr(model, "owns_objects", False):
            found = model.predict_instances(images)
            classes, ids = found.classes, found.instances
        else:
            classes = model.predict(images).cpu()
            ids = connected_instances(classes)
        metric.update(classes, ids, masks, instances)
    return metric.compute()


def training_loss(
    model: nn.Module, net: nn.Module, images: torch.Tensor, masks: torch.Tensor, recipe: Recipe = RECIPE,
    amp_dtype: torch.dtype | None = None, instances: torch.Tensor | None = None,
) -> torch.Tensor:
    """The loss of one training step: :func:`~latentseg.training.losses.segmentation_loss` of
    ``net(images)`` (``images`` ``B×C×H×W``, ``masks`` ``B×H×W``) with the recipe's Dice and edge
    weights, the forward pass under autocast to ``amp_dtype`` if given, plus the model's own
    training-only terms where it declares them (``Segmenter.has_auxiliary_loss``), which get the
    batch's ``instances`` ``B×H×W`` too. ``net`` is ``model`` or a wrapper of it (compiled, data-parallel)."""
    auxiliary = getattr(model, "has_auxiliary_loss", False)
    with autocast_to(images.device.type, amp_dtype):
        logits, extras = net(images, with_extras=True) if auxiliary else (net(images), None)
    loss = segmentation_loss(logits, masks, recipe.dice_weight, edge_weight=recipe.edge_weight)
    return loss + model.auxiliary_loss(extras, masks, instances).float() if auxiliary else loss


def _train_loader(data: Dataset, batch_size: int, seed: int, num_workers: int = 0) -> DataLoader:
    """Each epoch a fresh seeded shuffle, split into ``world`` interleaved shards; this process gets
    shard ``rank``. With one process this is exactly ``shuffle=True`` with a seeded generator, and
    ``world`` processes with batch ``b`` see together what one process with batch ``world·b`` sees.

    With ``num_workers`` > 0, worker ``i`` seeds torch with the loader's base seed + ``i``, and the base
    seed is drawn from the global generator that ``fit`` has seeded: augmentations are still repeatable
    (but not the same as with ``num_workers=0``)."""
    sampler = DistributedSampler(data, num_replicas=distributed.world_size(), rank=distributed.rank(), shuffle=True,
                                 seed=seed * 1000)
    return DataLoader(data, batch_size=batch_size, sampler=sampler, drop_last=False, num_workers=num_workers,
                      persistent_workers=num_workers > 0)


@dataclass
class _Run:
    """What one training run holds while it goes: the model and the wrapper that trains it, the
    optimisers and loss scaler, where records go, and the counters since the last record."""

    model: nn.Module
    net: nn.Module
    optimizers: list[torch.optim.Optimizer]
    scaler: torch.amp.GradScaler
    recipe: Recipe
    device: torch.device
    amp_dtype: torch.dtype | None
    channels_last: bool
    jitter: ColourJitter | None = None
    refill: TextureRefill | None = None
    history: History = field(default_factory=History)
    val_data: Dataset | None = None
    verbose: bool = False
    clock: Callable[[], float] = time.perf_counter
    stop_requested: bool = False
    step: int = 0
    seconds: float = 0.0
    loss_sum: float = 0.0
    seen: int = 0


def check_training_length(epochs: object, max_seconds: object, num_workers: object) -> None:
    """``epochs`` a positive int, ``max_seconds`` None or > 0, ``num_workers`` an int ≥ 0; else an error naming it."""
    check_positive_int("epochs", epochs)
    if not isinstance(num_workers, int) or isinstance(num_workers, bool) or num_workers < 0:
        raise ValueError(f"num_workers: expected an integer ≥ 0, got {num_workers!r}")
    if max_seconds is not None:
        check_positive_float("max_seconds", max_seconds)


def _check_fit_arguments(model: nn.Module, train_data: Dataset, val_data: Dataset | None, recipe: Recipe, epochs: int,
                         max_seconds: float | None, max_steps: int | None, val_every: int | None,
                         num_workers: int) -> None:
    if not isinstance(recipe, Recipe):
        raise TypeError(f"recipe: expected a latentseg Recipe, got {type(recipe).__name__}")
    check_training_length(epochs, max_seconds, num_workers)
    for name, value in (("val_every", val_every), ("max_steps", max_steps)):
        if value is not None:
            check_positive_int(name, value)
    if len(train_data) == 0:
        raise ValueError("train_data: expected at least one example, got an empty data set")
    for name, data in (("train_data", train_data), ("val_data", val_data)):
        _check_data(name, data, _num_classes(model))


def _check_data(name: str, data: Dataset | None, num_classes: int) -> None:
    """The model's class count matches the data's; in-memory data (files are checked batch by batch)
    holds finite float images and class indices below ``num_classes`` (or the ignore index)."""
    data_classes = getattr(data, "num_classes", num_classes)
    if data_classes != num_classes:
        raise ValueError(f"{name}: the model has num_classes={num_classes} but the data has {data_classes} classes")
    if not isinstance(data, SegmentationData):
        return
    if not data.images.is_floating_point():
        raise TypeError(f"{name}: images: expected floats in [0, 1], got dtype {data.images.dtype} (use images.float() / 255)")
    check_finite(f"{name}: images", data.images)
    bad = (data.masks < 0) | ((data.masks >= num_classes) & (data.masks != IGNORE_INDEX))
    if bad.any():
        raise ValueError(f"{name}: masks: expected class indices 0–{num_classes - 1} (or {IGNORE_INDEX}, ignored), "
                         f"got {sorted(data.masks[bad].unique().tolist())[:5]}")


def _with_instances(data: Dataset, num_experts: int) -> Dataset:
    """``data`` yielding ``(image, mask, instances)``, for a model whose experts own objects. Images of
    more objects (the background counts as one) than the model has experts are named in a warning:
    the objects left over are never matched, so never learned."""
    if not getattr(data, "has_instances", False):
        raise ValueError(f"train_data: the model learns objects from instance ids, and this {type(data).__name__} "
                         "carries none; train it on data with instances (synthetic shapes, nuclei, or a folder with "
                         "instances/<stem>.png)")
    if isinstance(data, SegmentationData):
        counts = torch.tensor([len(torch.unique(ids[ids > 0])) + int((mask == 0).any())
                               for mask, ids in zip(data.masks, data.instances, strict=True)])
        over = counts > num_experts
        if over.any():
            tqdm.write(f"train_data: {int(over.sum())} images hold more objects than the model's {num_experts} experts "
                       f"(up to {int(counts.max())}, the background counted as one); the "
                       f"{int((counts - num_experts).clamp_min(0).sum())} objects left over in them are never learned")
    return data.with_instances()


def _prepare(model: nn.Module, recipe: Recipe, device: torch.device, precision: str, compile: bool,
             channels_last: bool | None, seed: int) -> _Run:
    """Move ``model`` to ``device``, wrap it (data-parallel under torchrun, then compiled) and build its optimisers."""
    amp_dtype = resolve_precision(precision, device)
    channels_last = device.type == "cuda" if channels_last is None else channels_last
    model.to(device).train()
    if channels_last:
        model.to(memory_format=torch.channels_last)
    net: nn.Module = model
    if distributed.world_size() > 1:
        if device.type == "cuda":  # batch statistics over the global batch, as in one process
            net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
        net = DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
    if compile:
        net = torch.compile(net)
    # one fused AdamW kernel for all parameters instead of a dozen small ops per tensor: ~10 ms a step on 2 CPU cores
    optimizers = build_optimizers(model, recipe.optimizer, recipe.lr, recipe.weight_decay,
                                  fused=device.type in ("cpu", "cuda"), muon_momentum=recipe.muon_momentum)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    jitter = ColourJitter(seed=seed + distributed.rank()) if recipe.colour_jitter else None
    refill = TextureRefill(recipe.texture_refill, seed=seed + distributed.rank()) if recipe.texture_refill else None
    return _Run(model, net, optimizers, scaler, recipe, device, amp_dtype, channels_last, jitter, refill)


def _train_step(run: _Run, images: torch.Tensor, masks: torch.Tensor, lr_factor: float, epoch: int,
                instances: torch.Tensor | None = None) -> float:
    """One optimiser step at ``lr_factor`` × the peak rate; returns the loss. A non-finite loss stops
    training before the step changes any weight."""
    start = run.clock()
    for group in (g for opt in run.optimizers for g in opt.param_groups):
        group["lr"] = group["peak_lr"] * lr_factor
    check_finite(f"train_data: the images of step {run.step + 1} (epoch {epoch})", images)
    if run.refill is not None:
        images = run.refill(images, masks)
    images, masks = images.to(run.device, non_blocking=True), masks.to(run.device, non_blocking=True)
    if instances is not None:
        instances = instances.to(run.device, non_blocking=True)
    if run.jitter is not None:
        images = run.jitter(images)
    if run.channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    loss = training_loss(run.model, run.net, images, masks, run.recipe, run.amp_dtype, instances)
    loss_value = loss.item()  # one device sync per step
    diverged = not math.isfinite(loss_value)
    if distributed.world_size() > 1:
        diverged = distributed.any_across(diverged, run.device)  # every rank stops, or the others hang
    if diverged:
        raise NonFiniteLoss(f"training: the loss became {loss_value} at step {run.step + 1} (epoch {epoch}); "
                            "lower the learning rate (lr) or check the data. Training stopped; nothing was saved "
                            "from this run")
    for opt in run.optimizers:
        opt.zero_grad(set_to_none=True)
    run.scaler.scale(loss).backward()
    for opt in run.optimizers:
        run.scaler.step(opt)
    run.scaler.update()
    run.loss_sum += loss_value * images.shape[0]
    run.seen += images.shape[0]
    run.step += 1
    run.seconds += run.clock() - start
    return loss_value


def _record(run: _Run, epoch: int) -> None:
    """Append one record (train loss since the last record, validation on rank 0) to ``run.history``."""
    total_loss, total_seen = distributed.sum_across([run.loss_sum, float(run.seen)], run.device)
    run.loss_sum, run.seen = 0.0, 0
    if not distributed.is_main():
        return
    entry: dict[str, float] = {"epoch": epoch, "step": run.step, "train_loss": total_loss / max(total_seen, 1)}
    if run.val_data is not None:
        val_loss, metrics = _validate(run.model, _loader(run.val_data, 64), run.device)
        entry.update(val_loss=val_loss, val_miou=metrics.miou, val_pixel_accuracy=metrics.pixel_accuracy)
    entry["seconds"] = run.seconds
    run.history.records.append(entry)
    if run.verbose:
        tqdm.write("  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in entry.items()))


def fit(
    model: nn.Module,
    train_data: Dataset,
    val_data: Dataset | None = None,
    *,
    recipe: Recipe = RECIPE,
    epochs: int = 10,
    seed: int = 0,
    device: str | torch.device | None = None,
    max_seconds: float | None = None,
    max_steps: int | None = None,
    val_every: int | None = None,
    precision: str = "auto",
    compile: bool = False,
    channels_last: bool | None = None,
    num_workers: int = 0,
    progress: bool = True,
    verbose: bool = False,
    clock: Callable[[], float] = time.perf_counter,
) -> History:
    """Train ``model`` with ``recipe`` (:mod:`latentseg.training.recipe`: optimiser, schedule, batch,
    loss; default :data:`RECIPE`, what ``train`` and ``bench`` use; :data:`PLAIN` is the article's loop)
    for ``epochs``, validating after each epoch and every ``val_every`` steps.

    ``train_data`` and ``val_data`` yield ``(image C×H×W, mask H×W)``; mask value 255 is ignored.
    ``seed`` fixes the shuffling (and any randomness inside the model), so two runs from the same
    initial weights give the same losses. ``max_steps`` stops after that many steps (the schedule
    runs over them), the same model on every machine. ``max_seconds`` stops after the batch that
    crosses it and runs the schedule on the clock: the result depends on the machine's speed
    (``bench`` races on it). ``seconds`` in the history counts training only, read from ``clock``.
    A non-finite loss stops training with :class:`NonFiniteLoss` (a ``ValueError``); Ctrl-C at the end
    of the step with :class:`TrainingInterrupted` (a ``KeyboardInterrupt``).

    Speed: ``precision`` (:func:`latentseg.device.resolve_precision`: bf16 on CUDA, fp32 on CPU; fp16
    with loss scaling) for the forward pass, ``compile`` (``torch.compile``), ``channels_last`` (NHWC;
    default on for CUDA), ``num_workers`` (background loading). Validation always runs in fp32.

    Under ``torchrun`` (:mod:`latentseg.training.distributed`) each process trains a
    ``DistributedDataParallel`` replica on its shard (``recipe.batch_size`` images a step, seed
    ``seed + rank``); rank 0 alone validates and logs.
    """
    _check_fit_arguments(model, train_data, val_data, recipe, epochs, max_seconds, max_steps, val_every, num_workers)
    if getattr(model, "owns_objects", False):
        train_data = _with_instances(train_data, model.config.num_latents)
    device = pick_device(device)
    seed_everything(seed + distributed.rank())
    run = _prepare(model, recipe, device, precision, compile, channels_last, seed)
    run.val_data, run.verbose, run.clock = val_data, verbose, clock
    loader = _train_loader(train_data, recipe.batch_size, seed, num_workers)
    total = min(max_steps or epochs * len(loader), epochs * len(loader))
    bar = tqdm(total=total, desc="training", unit="batch", disable=not (progress and distributed.is_main()))
    try:
        with _stop_at_step_end(run):
            for epoch in range(1, epochs + 1):
                loader.sampler.set_epoch(epoch)
                stopped = _train_epoch(run, loader, epoch, total, max_seconds, val_every, bar)
                _record(run, epoch)
                if stopped == "interrupted":
                    raise TrainingInterrupted(run.history, run.step, epoch)
                if stopped:
                    break
    finally:
        bar.close()
        if run.channels_last:
            model.to(memory_format=torch.contiguous_format)
    return run.history


def _train_epoch(run: _Run, loader: DataLoader, epoch: int, total_steps: int, max_seconds: float | None,
                 val_every: int | None, bar: tqdm) -> str:
    """One pass over ``loader``, recording every ``val_every`` steps (the epoch's end is recorded by
    ``fit``). Returns why it stopped early, ``"out of budget"`` (steps or seconds) or ``"interrupted"``,
    or ``""``; every rank agrees on it."""
    for images, masks, *instances in loader:
        done = run.step / total_steps if max_seconds is None else max(run.step / total_steps, run.seconds / max_seconds)
        loss = _train_step(run, images, masks, learning_rate_factor(run.recipe.schedule, done), epoch, *instances)
        bar.update(1)
        bar.set_postfix(epoch=epoch, loss=f"{loss:.3f}", refresh=False)
        out_of_budget = run.step >= total_steps or (max_seconds is not None and run.seconds > max_seconds)
        flags = [float(out_of_budget), float(run.stop_requested)]
        out_of_time, interrupted = distributed.sum_across(flags, run.device)  # every rank stops at the same step
        if interrupted:
            return "interrupted"
        if out_of_time:
            return "out of budget"
        if val_every is not None and run.step % val_every == 0 and run.step % len(loader):
            _record(run, epoch)
    return ""


@contextmanager
def _stop_at_step_end(run: _Run) -> Iterator[None]:
    """While training, Ctrl-C (SIGINT) asks to stop at the end of the current step instead of breaking
    into it; a second Ctrl-C interrupts at once. Only in the main thread, where signals arrive."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def ask_to_stop(signum, frame) -> None:  # noqa: ANN001 - the signal module's signature
        if run.stop_requested:
            raise KeyboardInterrupt
        run.stop_requested = True
        tqdm.write("stopping at the end of this step (Ctrl-C again to stop at once)")

    signal.signal(signal.SIGINT, ask_to_stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
