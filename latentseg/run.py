"""A whole training run, as ``python -m latentseg train`` makes it and a notebook or script can call it:
data by source name, the model by zoo name, the recipe, ``fit``, the test metrics, and a run folder
(``model.pt``, ``history.json``, ``predictions.png``) swapped in whole, or, after Ctrl-C, the model
trained so far in ``<out>-interrupted`` with the run folder left as it was.

Under ``torchrun`` every process calls :func:`train_run`; only rank 0 tests, prints and writes.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .checkpoint import save_checkpoint
from .data.sources import SHAPE_SOURCES, DataSplits, load_splits, parse_source
from .device import PRECISIONS, pick_device, seed_everything
from .files import check_run_folder, run_folder, write_text_atomic
from .models import build_model
from .models.base import Segmenter, count_parameters
from .training import History, Recipe, TrainingInterrupted, distributed, evaluate, evaluate_instances, fit, recipe_for
from .training.loop import check_training_length

RUN_FILES = ("model.pt", "history.json", "predictions.png")


@dataclass
class TrainingRun:
    """What :func:`train_run` returns: the trained ``model`` (on the CPU, eval mode), its ``history``,
    the test ``metrics`` (``Metrics.to_dict`` with class names), the ``data`` it used, the run folder
    ``out`` (``None`` when nothing was written) and the training ``seconds``."""

    model: Segmenter
    history: History
    metrics: dict[str, Any]
    data: DataSplits
    out: Path | None
    seconds: float


def default_image_size(data: str) -> int:
    """64 for the synthetic shapes, 128 for real images: what ``train`` uses when no size is given."""
    return 64 if parse_source(data)[0] in SHAPE_SOURCES else 128


def train_run(
    out: str | os.PathLike | None = Path("runs") / "latest", *, model: str = "improved", data: str = "synthetic",
    epochs: int = 3, seed: int = 0, recipe: Recipe | None = None, image_size: int | None = None,
    train_size: int | None = None, val_size: int | None = None, test_size: int | None = None,
    data_root: str | os.PathLike | None = None, model_config: dict[str, Any] | None = None,
    device: str | torch.device | None = None, max_seconds: float | None = None, precision: str = "auto",
    compile: bool = False, channels_last: bool | None = None, num_workers: int = 0, quiet: bool = False,
    metadata: dict[str, Any] | None = None,
) -> TrainingRun:
    """Train the zoo model ``model`` on the data source ``data`` (:func:`~latentseg.data.load_splits`)
    for ``epochs`` with ``recipe`` (default :func:`~latentseg.training.recipe_for` the data), test it,
    and write the run folder ``out`` (``None``: write nothing). ``model_config`` overrides fields of
    the model's config. Everything is checked, the output folder included, before data is read.
    It prints what it trains, the test metrics and what it wrote; ``quiet`` leaves out the progress bar
    and the per-epoch lines.

    ``metadata`` (plain values) is stored in the checkpoint beside the run's own (the command line
    stores its command and the source's git commit there).

    Ctrl-C stops at the end of a step: the model trained so far goes to ``<out>-interrupted`` and
    :class:`~latentseg.training.TrainingInterrupted` is raised again, with ``out_folder`` set to it.
    """
    _check_run_arguments(out, seed, recipe, model_config, epochs, precision, max_seconds, num_workers)
    recipe = recipe or recipe_for(parse_source(data)[0])
    main, world = distributed.is_main(), distributed.world_size()
    say = print if main else (lambda *a, **k: None)
    if main and out is not None:  # a folder that cannot take the model is found before training
        check_run_folder(out, RUN_FILES)
        check_run_folder(_interrupted_folder(Path(out)), RUN_FILES)  # where Ctrl-C would keep the model
    device = pick_device(device)
    seed_everything(seed)  # the same initial weights in every process
    size = image_size or default_image_size(data)
    splits = load_splits(data, size, seed, train_size, val_size, test_size, data_root)
    net = build_model(model, num_classes=len(splits.class_names), **(model_config or {}))
    if net.owns_objects:  # it is tested on objects too: every split must carry them, known before training
        lacking = [name for name in ("train", "val", "test") if not getattr(getattr(splits, name), "has_instances", False)]
        if lacking:
            raise ValueError(f"data: the {model} model learns and is tested on objects, but the {', '.join(lacking)} "
                             f"split(s) of {data} carry no instance ids (a folder needs instances/ in each split)")
    processes = f", {world} processes × batch {recipe.batch_size}" if world > 1 else ""
    say(f"training the {model} model ({count_parameters(net):,} parameters) on {splits.description}, "
        f"{epochs} epochs, device {device}{processes}")
    metadata = {**(metadata or {}), "model": model, "data": data, "image_size": size, "seed": seed, "epochs": epochs,
                "train_size": len(splits.train), "processes": world, **recipe.to_dict()}
    start = time.perf_counter()
    try:
        history = fit(net, splits.train, splits.val, recipe=recipe, epochs=epochs, device=device, seed=seed,
                      max_seconds=max_seconds, precision=precision, compile=compile, channels_last=channels_last,
                      num_workers=num_workers, progress=main and not quiet, verbose=main and not quiet)
    except TrainingInterrupted as stop:
        if main and out is not None:
            stop.out_folder = _write_interrupted(Path(out), net, splits, metadata, stop, time.perf_counter() - start)
        raise
    seconds = time.perf_counter() - start
    if not main:
        distributed.barrier()  # wait while rank 0 tests and writes
        return TrainingRun(net.cpu().eval(), history, {}, splits, None, seconds)
    metrics = evaluate(net, splits.test, device=device).to_dict(splits.class_names)
    if net.owns_objects:
        panoptic = evaluate_instances(net, splits.test, device=device).to_dict()
        metrics |= {k: panoptic[k] for k in ("pq", "sq", "rq", "pq_all", "per_class_pq")}
    say(f"trained in {seconds:.1f} s; test split ({len(splits.test)} images):")
    say(metrics_text(metrics))
    if out is not None:
        metadata |= {"train_seconds": seconds, "history": history.records, "test_metrics": metrics}
        with run_folder(out) as staging:  # the folder holds the previous run or this one, never a mix
            _write_run(staging, net, splits, metadata, history.records, pictures=True)
        say(f"wrote {', '.join(str(Path(out) / name) for name in RUN_FILES)}")
    distributed.barrier()
    return TrainingRun(net.cpu().eval(), history, metrics, splits, None if out is None else Path(out), seconds)


def _check_run_arguments(out: object, seed: object, recipe: object, model_config: object, epochs: object,
                         precision: object, max_seconds: object, num_workers: object) -> None:
    """What :func:`train_run` is given, checked before any data is read; each error names its argument."""
    if out is not None and not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"out: expected a folder path (str or os.PathLike) or None, got {type(out).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise TypeError(f"seed: expected an int ≥ 0, got {type(seed).__name__} {seed!r}")
    if recipe is not None and not isinstance(recipe, Recipe):
        raise TypeError(f"recipe: expected a latentseg Recipe (RECIPE.replace(...) or Recipe.from_dict(...)), "
                        f"got {type(recipe).__name__}")
    if model_config is not None:
        if not isinstance(model_config, dict):
            raise TypeError(f"model_config: expected a dict of config fields, got {type(model_config).__name__}")
        fixed = sorted({"num_classes"} & set(model_config))
        if fixed:
            raise ValueError(f"model_config: {fixed[0]} comes from the data and cannot be set, got {model_config[fixed[0]]!r}")
    check_training_length(epochs, max_seconds, num_workers)
    if precision not in PRECISIONS:
        raise ValueError(f"precision: expected one of {PRECISIONS}, got {precision!r}")


def metrics_text(metrics: dict[str, Any]) -> str:
    """mIoU, pixel accuracy and the IoU of each class (``Metrics.to_dict`` with class names), and the
    panoptic quality where there is one, as lines."""
    lines = [f"mIoU {metrics['miou']:.4f}   pixel accuracy {metrics['pixel_accuracy']:.4f}"]
    if "pq" in metrics:
        lines[0] += f"   PQ {metrics['pq']:.4f} (SQ {metrics['sq']:.4f} × RQ {metrics['rq']:.4f}, over things)"
    for k, (name, iou) in enumerate(zip(metrics["class_names"], metrics["per_class_iou"], strict=True)):
        line = f"  IoU {name:<12} {'n/a' if iou is None else f'{iou:.4f}'}"
        if metrics.get("per_class_pq") and metrics["per_class_pq"][k] is not None:
            line += f"   PQ {metrics['per_class_pq'][k]['pq']:.4f}"
        lines.append(line)
    return "\n".join(lines)


def _write_run(folder: Path, model: Segmenter, data: DataSplits, metadata: dict, records: list[dict],
               pictures: bool) -> None:
    from .analysis.plots import plot_predictions, save_figure

    save_checkpoint(folder / "model.pt", model.cpu(), data.class_names, metadata)
    write_text_atomic(folder / "history.json", json.dumps(records, indent=1))
    if pictures:
        shown = data.test_examples(8)
        save_figure(plot_predictions(shown.images, shown.masks, model.predict(shown.images), data.class_names),
                    folder / "predictions.png")


def _interrupted_folder(out: Path) -> Path:
    return out.with_name(out.name + "-interrupted")


def _write_interrupted(out: Path, model: Segmenter, data: DataSplits, metadata: dict, stop: TrainingInterrupted,
                       seconds: float) -> Path:
    """Keep the model trained so far in ``<out>-interrupted``; ``out`` stays as it was."""
    folder = _interrupted_folder(out)
    metadata = metadata | {"train_seconds": seconds, "history": stop.history.records, "interrupted_at_step": stop.step}
    with run_folder(folder) as staging:
        _write_run(staging, model, data, metadata, stop.history.records, pictures=False)
    return folder
