"""The training loop. :func:`fit` is the loop a learner writes — shuffled batches, forward, the recipe's
loss, ``zero_grad``, ``backward``, ``step``, the schedule, validation — and the small pieces below it
handle what a learner's loop leaves out: the device, mixed precision, compilation, data-parallel
processes, a clock budget, Ctrl-C, and instance targets for models whose experts own objects."""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm.auto import tqdm

from ..checks import check_bool, check_finite, check_positive_float, check_positive_int
from ..data.colour import ColourJitter
from ..data.dataset import SegmentationData
from ..data.refill import TextureRefill
from ..device import PRECISIONS, autocast_to, pick_device, resolve_precision, seed_everything
from ..models.base import training_forward
from . import distributed
from .evaluation import check_data, evaluate, evaluate_instances, in_order, num_classes_of, validation_pass
from .losses import segmentation_loss
from .optim import build_optimizers
from .recipe import RECIPE, Recipe
from .schedules import learning_rate_factor

__all__ = ["History", "NonFiniteLoss", "TrainingInterrupted", "TrainOptions", "evaluate", "evaluate_instances", "fit",
           "training_loss"]


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


@dataclass(frozen=True)
class TrainOptions:
    """How :func:`fit` runs, apart from what it learns.

    ``precision`` (:func:`latentseg.device.resolve_precision`: bf16 on CUDA, fp32 on CPU; fp16 with
    loss scaling) for the forward pass, ``compile`` (``torch.compile``), ``channels_last`` (NHWC;
    default on for CUDA), ``num_workers`` (background loading): speed. ``max_seconds`` stops after the
    step that crosses it and runs the schedule on ``clock``, so the result depends on the machine's
    speed (``bench`` races on it); ``seconds`` in the history counts training only, read from ``clock``.
    ``progress`` shows a bar, ``verbose`` prints each record.
    """

    precision: str = "auto"
    compile: bool = False
    channels_last: bool | None = None
    num_workers: int = 0
    max_seconds: float | None = None
    clock: Callable[[], float] = time.perf_counter
    progress: bool = True
    verbose: bool = False

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision: expected one of {PRECISIONS}, got {self.precision!r}")
        for name in ("compile", "progress", "verbose"):
            check_bool(name, getattr(self, name))
        if self.channels_last is not None:
            check_bool("channels_last", self.channels_last)
        if not callable(self.clock):
            raise TypeError(f"clock: expected a function returning seconds, got {type(self.clock).__name__}")
        if not isinstance(self.num_workers, int) or isinstance(self.num_workers, bool) or self.num_workers < 0:
            raise ValueError(f"num_workers: expected an integer ≥ 0, got {self.num_workers!r}")
        if self.max_seconds is not None:
            check_positive_float("max_seconds", self.max_seconds)


def training_loss(
    model: nn.Module, images: torch.Tensor, masks: torch.Tensor, recipe: Recipe = RECIPE,
    amp_dtype: torch.dtype | None = None, instances: torch.Tensor | None = None, *, net: nn.Module | None = None,
) -> torch.Tensor:
    """The loss of one training step: :func:`~latentseg.training.losses.segmentation_loss` of the
    logits of ``images`` ``B×C×H×W`` against ``masks`` ``B×H×W`` with the recipe's Dice and edge
    weights, the forward pass under autocast to ``amp_dtype`` if given, plus the model's own
    training-only terms where it declares them (``Segmenter.has_auxiliary_loss``), which get the
    batch's ``instances`` ``B×H×W`` too. ``net``, if given, makes the forward pass: a wrapper
    (compiled, data-parallel) of :func:`~latentseg.models.base.training_forward` of ``model``."""
    auxiliary = getattr(model, "has_auxiliary_loss", False)
    with autocast_to(images.device.type, amp_dtype):
        out = (training_forward(model) if net is None else net)(images)
    logits, extras = out if auxiliary else (out, None)
    loss = segmentation_loss(logits, masks, recipe.dice_weight, edge_weight=recipe.edge_weight)
    return loss + model.auxiliary_loss(extras, masks, instances).float() if auxiliary else loss


def fit(
    model: nn.Module, train_data: Dataset, val_data: Dataset | None = None, *, recipe: Recipe = RECIPE,
    epochs: int = 10, max_steps: int | None = None, val_every: int | None = None, seed: int = 0,
    device: str | torch.device | None = None, options: TrainOptions | None = None,
) -> History:
    """Train ``model`` on ``train_data`` with ``recipe`` (optimiser, schedule, batch, loss; :data:`RECIPE`
    by default, :data:`~latentseg.training.recipe.PLAIN` is the article's) for ``epochs``, or
    ``max_steps`` if fewer (the schedule runs over them), validating on ``val_data`` after each epoch
    and every ``val_every`` steps. Items are ``(image C×H×W, mask H×W)``; mask value 255 is ignored.
    ``seed`` fixes the shuffling and any randomness in the model; ``options`` (:class:`TrainOptions`)
    how it runs. A non-finite loss raises :class:`NonFiniteLoss` before any weight changes; Ctrl-C
    stops at the end of the step with :class:`TrainingInterrupted`. Under ``torchrun`` each process
    trains a replica on its shard of every batch; rank 0 alone validates and logs.
    """
    options = options or TrainOptions()
    train_data = _checked(model, train_data, val_data, recipe, options, seed, (epochs, max_steps, val_every))
    seed_everything(seed + distributed.rank())
    run = _start(model, recipe, pick_device(device), options, seed)
    loader = _train_loader(train_data, recipe.batch_size, seed, options.num_workers)
    total = min(max_steps or epochs * len(loader), epochs * len(loader))
    history, stopping = History(), ""
    with _progress_bar(total, options) as bar, _stop_at_step_end() as ctrl_c, _contiguous_after(run):
        for epoch in range(1, epochs + 1):
            loader.sampler.set_epoch(epoch)  # a fresh shuffle each epoch, seeded by seed and epoch
            for images, masks, *instances in loader:
                start = options.clock()
                _set_learning_rate(run.optimizers, learning_rate_factor(recipe.schedule, run.done(total)))
                images, masks, instances = run.batch(images, masks, instances, epoch)
                loss = training_loss(model, images, masks, recipe, run.amp_dtype, instances, net=run.net)
                loss_value = _finite(loss, run, epoch)  # stops before a NaN reaches the weights
                for optimizer in run.optimizers:
                    optimizer.zero_grad(set_to_none=True)
                run.scaler.scale(loss).backward()  # loss scaling for fp16; a plain backward() otherwise
                for optimizer in run.optimizers:
                    run.scaler.step(optimizer)
                run.scaler.update()
                run.count(loss_value, len(images), options.clock() - start)
                bar.update(1)
                bar.set_postfix(epoch=epoch, loss=f"{loss_value:.3f}", refresh=False)
                stopping = run.stopping(total, ctrl_c.requested)
                if stopping:
                    break
                if val_every is not None and run.step % val_every == 0 and run.step % len(loader):
                    run.record(history, epoch, val_data)
            run.record(history, epoch, val_data)
            if stopping == "interrupted":
                raise TrainingInterrupted(history, run.step, epoch)
            if stopping:
                break
    return history


@dataclass
class _Run:
    """What the loop carries from step to step besides the model: the wrapper that trains it, the
    optimisers and loss scaler, the batch augmentations, and the counters since the last record."""

    model: nn.Module
    net: nn.Module
    optimizers: list[torch.optim.Optimizer]
    scaler: torch.amp.GradScaler
    device: torch.device
    amp_dtype: torch.dtype | None
    channels_last: bool
    options: TrainOptions
    jitter: ColourJitter | None = None
    refill: TextureRefill | None = None
    step: int = 0
    seconds: float = 0.0
    loss_sum: float = 0.0
    seen: int = 0

    def done(self, total_steps: int) -> float:
        """The share of the run done: of the steps, or of the clock budget if that is further along."""
        if self.options.max_seconds is None:
            return self.step / total_steps
        return max(self.step / total_steps, self.seconds / self.options.max_seconds)

    def batch(self, images: torch.Tensor, masks: torch.Tensor, instances: list[torch.Tensor],
              epoch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """A loaded batch checked, augmented as the recipe asks and moved to the device."""
        check_finite(f"train_data: the images of step {self.step + 1} (epoch {epoch})", images)
        if self.refill is not None:
            images = self.refill(images, masks)
        images, masks = images.to(self.device, non_blocking=True), masks.to(self.device, non_blocking=True)
        ids = instances[0].to(self.device, non_blocking=True) if instances else None
        if self.jitter is not None:
            images = self.jitter(images)
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return images, masks, ids

    def count(self, loss: float, batch_size: int, seconds: float) -> None:
        self.loss_sum += loss * batch_size
        self.seen += batch_size
        self.step += 1
        self.seconds += seconds

    def stopping(self, total_steps: int, interrupted: bool) -> str:
        """``"interrupted"`` (Ctrl-C), ``"out of budget"`` (steps or seconds) or ``""``; every rank agrees."""
        out_of_budget = self.step >= total_steps or (self.options.max_seconds is not None
                                                     and self.seconds > self.options.max_seconds)
        out_of_budget, interrupted = distributed.sum_across([float(out_of_budget), float(interrupted)], self.device)
        return "interrupted" if interrupted else "out of budget" if out_of_budget else ""

    def record(self, history: History, epoch: int, val_data: Dataset | None) -> None:
        """Append the mean train loss since the last record and, on rank 0, validation to ``history``."""
        total_loss, total_seen = distributed.sum_across([self.loss_sum, float(self.seen)], self.device)
        self.loss_sum, self.seen = 0.0, 0
        if not distributed.is_main():
            return
        entry: dict[str, float] = {"epoch": epoch, "step": self.step, "train_loss": total_loss / max(total_seen, 1)}
        if val_data is not None:
            val_loss, metrics = validation_pass(self.model, in_order(val_data, 64), self.device)
            entry.update(val_loss=val_loss, val_miou=metrics.miou, val_pixel_accuracy=metrics.pixel_accuracy)
        entry["seconds"] = self.seconds
        history.records.append(entry)
        if self.options.verbose:
            tqdm.write("  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in entry.items()))


def _start(model: nn.Module, recipe: Recipe, device: torch.device, options: TrainOptions, seed: int) -> _Run:
    """Move ``model`` to ``device`` in train mode, wrap it (data-parallel under torchrun, then
    compiled), and build its optimisers, loss scaler and augmentations."""
    amp_dtype = resolve_precision(options.precision, device)
    channels_last = device.type == "cuda" if options.channels_last is None else options.channels_last
    model.to(device).train()
    if channels_last:
        model.to(memory_format=torch.channels_last)
    net = training_forward(model)
    if distributed.world_size() > 1:
        if device.type == "cuda":  # batch statistics over the global batch, as in one process
            net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
        net = DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
    if options.compile:
        net = torch.compile(net)
    # one fused AdamW kernel for all parameters instead of a dozen small ops per tensor
    optimizers = build_optimizers(model, recipe.optimizer, recipe.lr, recipe.weight_decay,
                                  fused=device.type in ("cpu", "cuda"), muon_momentum=recipe.muon_momentum)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    rank_seed = seed + distributed.rank()
    jitter = ColourJitter(seed=rank_seed) if recipe.colour_jitter else None
    refill = TextureRefill(recipe.texture_refill, seed=rank_seed) if recipe.texture_refill else None
    return _Run(model, net, optimizers, scaler, device, amp_dtype, channels_last, options, jitter, refill)


def _set_learning_rate(optimizers: list[torch.optim.Optimizer], factor: float) -> None:
    for group in (g for opt in optimizers for g in opt.param_groups):
        group["lr"] = group["peak_lr"] * factor


def _finite(loss: torch.Tensor, run: _Run, epoch: int) -> float:
    """The loss as a float (one device sync per step); :class:`NonFiniteLoss` on every rank if any rank's is not finite."""
    value = loss.item()
    diverged = not math.isfinite(value)
    if distributed.world_size() > 1:
        diverged = distributed.any_across(diverged, run.device)  # every rank stops, or the others hang
    if diverged:
        raise NonFiniteLoss(f"training: the loss became {value} at step {run.step + 1} (epoch {epoch}); "
                            "lower the learning rate (lr) or check the data. Training stopped; nothing was saved "
                            "from this run")
    return value


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


def check_training_length(epochs: object, max_steps: object = None, val_every: object = None) -> None:
    """``epochs`` a positive int, ``max_steps`` and ``val_every`` None or positive ints; else an error naming it."""
    check_positive_int("epochs", epochs)
    for name, value in (("val_every", val_every), ("max_steps", max_steps)):
        if value is not None:
            check_positive_int(name, value)


def _checked(model: nn.Module, train_data: Dataset, val_data: Dataset | None, recipe: Recipe, options: TrainOptions,
             seed: int, lengths: tuple[int, int | None, int | None]) -> Dataset:
    """``fit``'s arguments checked (``lengths``: epochs, max_steps, val_every), each error naming its
    argument; ``train_data`` with instance ids for a model whose experts own objects."""
    if not isinstance(recipe, Recipe):
        raise TypeError(f"recipe: expected a latentseg Recipe, got {type(recipe).__name__}")
    if not isinstance(options, TrainOptions):
        raise TypeError(f"options: expected a latentseg TrainOptions, got {type(options).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise TypeError(f"seed: expected an int ≥ 0, got {type(seed).__name__} {seed!r}")
    check_training_length(*lengths)
    if len(train_data) == 0:
        raise ValueError("train_data: expected at least one example, got an empty data set")
    for name, data in (("train_data", train_data), ("val_data", val_data)):
        check_data(name, data, num_classes_of(model))
    return _with_instances(train_data, model.config.num_latents) if getattr(model, "owns_objects", False) else train_data


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


@contextmanager
def _progress_bar(total: int, options: TrainOptions) -> Iterator[tqdm]:
    bar = tqdm(total=total, desc="training", unit="batch", disable=not (options.progress and distributed.is_main()))
    try:
        yield bar
    finally:
        bar.close()


@contextmanager
def _contiguous_after(run: _Run) -> Iterator[None]:
    """A model trained in channels-last memory goes back to contiguous memory when training ends."""
    try:
        yield
    finally:
        if run.channels_last:
            run.model.to(memory_format=torch.contiguous_format)


class _CtrlC:
    requested = False


@contextmanager
def _stop_at_step_end() -> Iterator[_CtrlC]:
    """While training, Ctrl-C (SIGINT) asks to stop at the end of the current step instead of breaking
    into it (``.requested``); a second Ctrl-C interrupts at once. Only in the main thread, where signals arrive."""
    ctrl_c = _CtrlC()
    if threading.current_thread() is not threading.main_thread():
        yield ctrl_c
        return
    previous = signal.getsignal(signal.SIGINT)

    def ask_to_stop(signum, frame) -> None:  # noqa: ANN001 - the signal module's signature
        if ctrl_c.requested:
            raise KeyboardInterrupt
        ctrl_c.requested = True
        tqdm.write("stopping at the end of this step (Ctrl-C again to stop at once)")

    signal.signal(signal.SIGINT, ask_to_stop)
    try:
        yield ctrl_c
    finally:
        signal.signal(signal.SIGINT, previous)
