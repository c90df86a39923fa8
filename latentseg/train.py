"""Training and evaluation loops: AdamW, cross-entropy, validation every epoch, seeded shuffling."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from .checks import check_positive_float, check_positive_int
from .device import pick_device, seed_everything
from .metrics import IGNORE_INDEX, ConfusionMatrix, Metrics


@dataclass
class History:
    """One record per epoch: ``epoch``, ``train_loss``, ``val_loss``, ``val_miou``, ``val_pixel_accuracy``, ``seconds``."""

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


def fit(
    model: nn.Module,
    train_data: Dataset,
    val_data: Dataset | None = None,
    *,
    epochs: int = 10,
    batch_size: int = 32,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    device: str | torch.device | None = None,
    seed: int = 0,
    max_seconds: float | None = None,
    progress: bool = True,
    verbose: bool = False,
) -> History:
    """Train ``model`` with AdamW and pixel-wise cross-entropy; validate after every epoch.

    ``train_data`` and ``val_data`` yield ``(image 3×H×W, mask H×W)``; mask value 255 is ignored.
    ``seed`` fixes the shuffling (and any randomness inside the model), so two runs from the same
    initial weights give the same losses. ``max_seconds`` stops early, after the batch that crosses
    it (the epoch is then validated as usual), which makes the result depend on the machine's speed.
    ``verbose`` prints one line per epoch.
    """
    check_positive_int("epochs", epochs)
    check_positive_int("batch_size", batch_size)
    check_positive_float("lr", lr)
    if max_seconds is not None:
        check_positive_float("max_seconds", max_seconds)
    if len(train_data) == 0:
        raise ValueError("train_data: expected at least one example, got an empty data set")
    num_classes = _num_classes(model)
    data_classes = getattr(train_data, "num_classes", num_classes)
    if data_classes != num_classes:
        raise ValueError(f"train_data: model has num_classes={num_classes} but the data has {data_classes} classes")

    device = pick_device(device)
    seed_everything(seed)
    model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    history = History()
    start = time.perf_counter()
    steps_per_epoch = -(-len(train_data) // batch_size)
    bar = tqdm(total=epochs * steps_per_epoch, desc="training", unit="batch", disable=not progress)
    for epoch in range(1, epochs + 1):
        loss_sum, seen, out_of_time = 0.0, 0, False
        for images, masks in _loader(train_data, batch_size, shuffle=True, seed=seed * 1000 + epoch):
            images, masks = images.to(device), masks.to(device)
            loss = F.cross_entropy(model(images), masks, ignore_index=IGNORE_INDEX)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * images.shape[0]
            seen += images.shape[0]
            bar.update(1)
            bar.set_postfix(epoch=epoch, loss=f"{loss.item():.3f}", refresh=False)
            out_of_time = max_seconds is not None and time.perf_counter() - start > max_seconds
            if out_of_time:
                break
        record = {"epoch": epoch, "train_loss": loss_sum / seen}
        if val_data is not None:
            val_loss, metrics = _validate(model, _loader(val_data, 64, shuffle=False), device)
            record.update(val_loss=val_loss, val_miou=metrics.miou, val_pixel_accuracy=metrics.pixel_accuracy)
        record["seconds"] = time.perf_counter() - start
        history.records.append(record)
        if verbose:
            tqdm.write("  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in record.items()))
        if out_of_time:
            break
    bar.close()
    return history
