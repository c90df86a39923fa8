"""Training and evaluation loops: AdamW, cross-entropy, validation every epoch, seeded shuffling;
mixed precision, compilation, channels-last and data-parallel training as options."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm.auto import tqdm

from . import distributed
from .checks import check_finite_non_negative, check_positive_float, check_positive_int
from .device import pick_device, seed_everything
from .losses import segmentation_loss
from .metrics import IGNORE_INDEX, ConfusionMatrix, Metrics
from .optim import OPTIMIZERS, build_optimizers


@dataclass
class History:
    """One record per epoch and every ``val_every`` steps.

    Keys: ``epoch``, ``step``, ``train_loss``, ``val_loss``, ``val_miou``, ``val_pixel_accuracy``, ``seconds``.
    """

    records: list[dict[str, float]] = field(default_factory=list)

    def __getitem__(self, key: str) -> list[float]:
        return [r[key] for r in self.records]

    def __len__(self) -> int:
        return len(self.records)

    @property
    def last(self) -> dict[str, float]:
        return self.records[-1]


def _num_classes(model: nn.Module) -> int:
    config = getattr(model, "config", None)
    if config is None:
        raise TypeError("model: expected a latentseg model with a .config (num_classes), got "
                        f"{type(model).__name__}")
    return config.num_classes


def _loader(data: Dataset, batch_size: int, shuffle: bool, seed: int = 0) -> DataLoader:
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(data, batch_size=batch_size, shuffle=shuffle, generator=generator, drop_last=False)


@torch.no_grad()
def _validate(model: nn.Module, loader: DataLoader, device: torch.device) -> tuple[float, Metrics]:
    was_training = model.training
    model.eval()
    confusion = ConfusionMatrix(_num_classes(model))
    loss_sum, pixels = 0.0, 0
    for images, masks in loader:
        images, masks = images.to(device), masks.to(device)
        logits = model(images)
        valid = int((masks != IGNORE_INDEX).sum())
        loss_sum += float(F.cross_entropy(logits, masks, ignore_index=IGNORE_INDEX, reduction="sum"))
        pixels += valid
        confusion.update(logits.argmax(1), masks)
    model.train(was_training)
    return loss_sum / max(pixels, 1), confusion.compute()


def evaluate(model: nn.Module, data: Dataset, batch_size: int = 64, device: str | torch.device | None = None) -> Metrics:
    """Pixel accuracy, per-class IoU and mIoU of ``model`` on ``data`` (pairs ``3×H×W``, ``H×W``)."""
    check_positive_int("batch_size", batch_size)
    device = pick_device(device)
    model.to(device)
    return _validate(model, _loader(data, batch_size, shuffle=False), device)[1]


SCHEDULES = ("constant", "cosine", "wsd")


def learning_rate_factor(schedule: str, progress: float, warmup: float = 0.05, decay: float = 0.5) -> float:
    """Multiplier of the base learning rate at ``progress`` ∈ [0, 1] of training.

    ``constant``: 1. The others start with a linear warm-up over the first ``warmup`` share and end at
    1 %: ``cosine`` decays along a half cosine from the end of the warm-up; ``wsd`` (warm-up, stable,
    decay) holds the peak and decays linearly over the last ``decay`` share. A short budget is spent
    best by moving fast and ending with small, careful steps; ``wsd`` moves fast for longer (with
    Muon it gained about 0.005 mIoU over ``cosine`` at 800 steps, notebook 06).
    """
    if schedule == "constant":
        return 1.0
    progress = min(max(progress, 0.0), 1.0)
    if progress < warmup:
        return max(progress / warmup, 0.01)
    if schedule == "wsd":
        return max(min(1.0, (1 - progress) / decay), 0.01)
    return max(0.5 * (1 + math.cos(math.pi * (progress - warmup) / (1 - warmup))), 0.01)


PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def _native_bf16() -> bool:
    """Whether this GPU computes bf16 in hardware (Ampere and newer); older ones, such as Colab's T4,
    only emulate it, slowly, so ``auto`` picks fp16 there."""
    try:
        return torch.cuda.is_bf16_supported(including_emulation=False)
    except TypeError:  # torch before 2.4 has no such argument and does not count emulation
        return torch.cuda.is_bf16_supported()


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``precision`` on ``device``, or ``None`` for full fp32.

    ``auto`` is bf16 on a CUDA GPU that computes it natively, fp16 on an older one (e.g. a T4), and
    fp32 elsewhere (CPU autocast rarely pays off, and MPS support varies). ``fp16`` needs CUDA;
    ``bf16`` also runs on CPU.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision: expected one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if _native_bf16() else torch.float16
    if precision == "fp16" and device.type != "cuda":
        raise ValueError(f"precision: fp16 autocast needs a CUDA device, got {device}; use bf16 or fp32")
    if precision == "bf16" and device.type not in ("cuda", "cpu"):
        raise ValueError(f"precision: bf16 autocast runs on CUDA or CPU, got {device}")
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def autocast_to(device_type: str, amp_dtype: torch.dtype | None) -> torch.autocast:
    """Autocast to ``amp_dtype`` on ``device_type``; a no-op context when ``amp_dtype`` is ``None`` (fp32)."""
    return torch.autocast(device_type, dtype=amp_dtype or torch.bfloat16, enabled=amp_dtype is not None)


def training_loss(
    model: nn.Module, net: nn.Module, images: torch.Tensor, masks: torch.Tensor, dice_weight: float = 0.0,
    amp_dtype: torch.dtype | None = None, edge_weight: float = 0.0,
) -> torch.Tensor:
    """The loss of one training step: :func:`~latentseg.losses.segmentation_loss` of ``net(images)``
    (``images`` ``B×C×H×W``, ``masks`` ``B×H×W``) with ``dice_weight`` and ``edge_weight``, forward under
    autocast to ``amp_dtype`` if given, plus the training-only terms of models that have them
    (``model.auxiliary_loss``). ``net`` is ``model`` or a wrapper of it (compiled, data-parallel)."""
    with autocast_to(images.device.type, amp_dtype):
        logits = net(images)
    loss = segmentation_loss(logits, masks, dice_weight, edge_weight=edge_weight)
    auxiliary = model.auxiliary_loss(masks) if hasattr(model, "auxiliary_loss") else None
    return loss if auxiliary is None else loss + auxiliary.float()


def _train_loader(data: Dataset, batch_size: int, seed: int, rank: int, world: int, num_workers: int = 0) -> DataLoader:
    """Each epoch a fresh seeded shuffle, split into ``world`` interleaved shards; this process gets
    shard ``rank``. With one process this is exactly ``shuffle=True`` with a seeded generator, and
    ``world`` processes with batch ``b`` see together what one process with batch ``world·b`` sees.

    With ``num_workers`` > 0, worker ``i`` seeds torch with the loader's base seed + ``i``, and the base
    seed is drawn from the global generator that ``fit`` has seeded: augmentations are still repeatable
    (but not the same as with ``num_workers=0``)."""
    sampler = DistributedSampler(data, num_replicas=world, rank=rank, shuffle=True, seed=seed * 1000)
    return DataLoader(data, batch_size=batch_size, sampler=sampler, drop_last=False, num_workers=num_workers,
                      persistent_workers=num_workers > 0)


def fit(
    model: nn.Module,
    train_data: Dataset,
    val_data: Dataset | None = None,
    *,
    epochs: int = 10,
    batch_size: int = 32,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    optimizer: str = "adamw",
    muon_momentum: float = 0.95,
    dice_weight: float = 0.0,
    edge_weight: float = 0.0,
    schedule: str = "constant",
    device: str | torch.device | None = None,
    seed: int = 0,
    max_seconds: float | None = None,
    val_every: int | None = None,
    precision: str = "auto",
    compile: bool = False,
    channels_last: bool | None = None,
    num_workers: int = 0,
    progress: bool = True,
    verbose: bool = False,
) -> History:
    """Train ``model`` on pixel-wise cross-entropy (plus ``dice_weight`` × a soft Dice loss; with
    ``edge_weight`` > 0, pixels at class boundaries count ``1 + edge_weight`` times in the cross-entropy:
    :mod:`latentseg.losses`); validate after every epoch (validation loss: plain cross-entropy).

    ``optimizer`` is ``adamw`` (every parameter) or ``muon`` (Muon for the hidden weight matrices,
    AdamW for the rest; :func:`latentseg.optim.build_optimizers`), both with peak learning rate ``lr``;
    ``muon_momentum`` is Muon's momentum.
    :data:`latentseg.bench.RECIPE` holds the settings ``train`` and ``bench`` use: ``fit(..., **RECIPE)``.

    ``train_data`` and ``val_data`` yield ``(image 3×H×W, mask H×W)``; mask value 255 is ignored.
    ``seed`` fixes the shuffling (and any randomness inside the model), so two runs from the same
    initial weights give the same losses. ``schedule`` is ``constant``, ``cosine`` or ``wsd``
    (:func:`learning_rate_factor`). ``max_seconds`` stops early, after the batch that crosses it
    (then validates as usual); the schedule then runs on the clock, so a short budget still ends
    with small steps. Either makes the result depend on the machine's speed.
    ``val_every`` also validates every that many steps. ``seconds`` in the history counts training
    only, not validation. ``verbose`` prints one line per record.

    Speed: ``precision`` (:func:`resolve_precision`; ``auto`` = bf16 on CUDA, fp32 on CPU) runs the
    forward pass under autocast, with loss scaling for fp16; ``compile`` trains through
    ``torch.compile(model)``; ``channels_last`` (default: on for CUDA) stores images and
    convolution weights NHWC. Validation always runs in fp32. ``num_workers`` loads (decodes,
    augments) training batches in that many background processes: worth it for photos read from
    disk, not for the in-memory synthetic set.

    Under ``torchrun`` (see :mod:`latentseg.distributed`) the model is wrapped in
    ``DistributedDataParallel``, each process trains on its shard with ``batch_size`` images per step
    (the global batch is ``batch_size × processes``) and its own seed ``seed + rank``; only rank 0
    validates, logs and returns a history with validation figures. Dice overlaps and the weights of
    the boundary-weighted cross-entropy are then summed within each process's batch, not the global one.
    """
    check_positive_int("epochs", epochs)
    check_positive_int("batch_size", batch_size)
    if not isinstance(num_workers, int) or isinstance(num_workers, bool) or num_workers < 0:
        raise ValueError(f"num_workers: expected an integer ≥ 0, got {num_workers!r}")
    check_positive_float("lr", lr)
    check_finite_non_negative("dice_weight", dice_weight)
    check_finite_non_negative("edge_weight", edge_weight)
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer: expected one of {OPTIMIZERS}, got {optimizer!r}")
    if not (isinstance(muon_momentum, (int, float)) and 0 <= muon_momentum < 1):
        raise ValueError(f"muon_momentum: expected a number in [0, 1), got {muon_momentum!r}")
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule: expected one of {SCHEDULES}, got {schedule!r}")
    if max_seconds is not None:
        check_positive_float("max_seconds", max_seconds)
    if val_every is not None:
        check_positive_int("val_every", val_every)
    if len(train_data) == 0:
        raise ValueError("train_data: expected at least one example, got an empty data set")
    num_classes = _num_classes(model)
    data_classes = getattr(train_data, "num_classes", num_classes)
    if data_classes != num_classes:
        raise ValueError(f"train_data: model has num_classes={num_classes} but the data has {data_classes} classes")

    device = pick_device(device)
    amp_dtype = resolve_precision(precision, device)
    channels_last = device.type == "cuda" if channels_last is None else channels_last
    rank, world = distributed.rank(), distributed.world_size()
    main = rank == 0
    seed_everything(seed + rank)
    model.to(device).train()
    if channels_last:
        model.to(memory_format=torch.channels_last)
    net: nn.Module = model
    if world > 1:
        if device.type == "cuda":  # batch statistics over the global batch, as in one process
            net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
        net = DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
    if compile:
        net = torch.compile(net)
    # one fused AdamW kernel for all parameters instead of a dozen small ops per tensor: ~10 ms a step on 2 CPU cores
    optimizers = build_optimizers(model, optimizer, lr, weight_decay, fused=device.type in ("cpu", "cuda"),
                                  muon_momentum=muon_momentum)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    history = History()
    loader = _train_loader(train_data, batch_size, seed, rank, world, num_workers)
    steps_per_epoch = len(loader)
    total_steps = epochs * steps_per_epoch
    bar = tqdm(total=total_steps, desc="training", unit="batch", disable=not (progress and main))
    train_seconds, step, loss_sum, seen = 0.0, 0, 0.0, 0

    def record(epoch: int) -> None:
        nonlocal loss_sum, seen
        total_loss, total_seen = distributed.sum_across([loss_sum, float(seen)], device)
        loss_sum, seen = 0.0, 0
        if not main:
            return
        entry: dict[str, float] = {"epoch": epoch, "step": step, "train_loss": total_loss / max(total_seen, 1)}
        if val_data is not None:
            val_loss, metrics = _validate(model, _loader(val_data, 64, shuffle=False), device)
            entry.update(val_loss=val_loss, val_miou=metrics.miou, val_pixel_accuracy=metrics.pixel_accuracy)
        entry["seconds"] = train_seconds
        history.records.append(entry)
        if verbose:
            tqdm.write("  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in entry.items()))

    out_of_time = False
    for epoch in range(1, epochs + 1):
        loader.sampler.set_epoch(epoch)
        for images, masks in loader:
            tick = time.perf_counter()
            done = step / total_steps
            if max_seconds is not None:
                done = max(done, train_seconds / max_seconds)
            factor = learning_rate_factor(schedule, done)
            for group in (g for opt in optimizers for g in opt.param_groups):
                group["lr"] = group["peak_lr"] * factor
            images, masks = images.to(device, non_blocking=True), masks.to(device, non_blocking=True)
            if channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            loss = training_loss(model, net, images, masks, dice_weight, amp_dtype, edge_weight)
            for opt in optimizers:
                opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            for opt in optimizers:
                scaler.step(opt)
            scaler.update()
            loss_value = loss.item()  # one device sync per step
            loss_sum += loss_value * images.shape[0]
            seen += images.shape[0]
            step += 1
            train_seconds += time.perf_counter() - tick
            bar.update(1)
            bar.set_postfix(epoch=epoch, loss=f"{loss_value:.3f}", refresh=False)
            out_of_time = max_seconds is not None and train_seconds > max_seconds
            if world > 1 and max_seconds is not None:
                out_of_time = distributed.any_across(out_of_time, device)  # every rank stops at the same step
            if out_of_time:
                break
            if val_every is not None and step % val_every == 0 and step % steps_per_epoch:
                record(epoch)
        record(epoch)
        if out_of_time:
            break
    bar.close()
    if channels_last:
        model.to(memory_format=torch.contiguous_format)
    return history
