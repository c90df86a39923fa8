"""A whole training run, as ``python -m latentseg train`` makes it and a notebook or script can call it:
data by source name, the model by zoo name, the recipe, ``fit``, the test metrics, and a run folder
(``model.pt``, ``history.json``, ``predictions.png``) swapped in whole, or, after Ctrl-C, the model
trained so far in ``<out>-interrupted`` with the run folder left as it was.

Under ``torchrun`` every process calls :func:`train_run`; only rank 0 tests, prints and writes.
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from .checkpoint import save_checkpoint
from .checks import check_choice, check_optional_positive_int
from .data.sources import DataSplits, Source, load_splits
from .device import pick_device, seed_everything
from .files import check_run_folder, run_folder, write_text_atomic
from .models import MODELS, build_model
from .models.base import Segmenter, count_parameters
from .models.experts import ExpertsConfig
from .training import (
    History,
    Recipe,
    TrainingInterrupted,
    TrainOptions,
    distributed,
    evaluate,
    evaluate_instances,
    fit,
    recipe_for,
)
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
    return Source.parse(data).image_size


@dataclass(frozen=True)
class RunConfig:
    """What one training run trains, field by field as the ``train`` command's flags: the zoo
    ``model``, the data source ``data`` (:func:`~latentseg.data.load_splits`: images per split
    ``train_size``/``val_size``/``test_size``, side ``image_size``, default :func:`default_image_size`),
    ``epochs``, ``seed``, the ``recipe`` (default :func:`~latentseg.training.recipe_for` the data) and
    ``model_config``, fields of the model's config to override. Checked when made, each error naming its field."""

    model: str = "improved"
    data: str = "synthetic"
    epochs: int = 3
    seed: int = 0
    recipe: Recipe | None = None
    image_size: int | None = None
    train_size: int | None = None
    val_size: int | None = None
    test_size: int | None = None
    data_root: str | os.PathLike | None = None
    model_config: dict[str, Any] | None = None
    source: Source = field(init=False, repr=False, compare=False)  # ``data``, parsed once when made

    def __post_init__(self) -> None:
        check_choice("model", self.model, sorted(MODELS))
        if not isinstance(self.data, str):
            raise TypeError(f"data: expected a source name or 'folder:PATH', got {type(self.data).__name__}")
        object.__setattr__(self, "source", Source.parse(self.data))  # a bad --data is named before anything runs
        for name in ("image_size", "train_size", "val_size", "test_size"):
            check_optional_positive_int(name, getattr(self, name))
        if self.data_root is not None and not isinstance(self.data_root, (str, os.PathLike)):
            raise TypeError(f"data_root: expected a folder path, got {type(self.data_root).__name__}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise TypeError(f"seed: expected an int ≥ 0, got {type(self.seed).__name__} {self.seed!r}")
        if self.recipe is not None and not isinstance(self.recipe, Recipe):
            raise TypeError(f"recipe: expected a latentseg Recipe (RECIPE.replace(...) or Recipe.from_dict(...)), "
                            f"got {type(self.recipe).__name__}")
        if self.model_config is not None:
            if not isinstance(self.model_config, dict):
                raise TypeError(f"model_config: expected a dict of config fields, got {type(self.model_config).__name__}")
            if "num_classes" in self.model_config:
                raise ValueError("model_config: num_classes comes from the data and cannot be set, got "
                                 f"{self.model_config['num_classes']!r}")
        check_training_length(self.epochs)

    @property
    def size(self) -> int:
        """``image_size``, or the data source's default side."""
        return self.image_size or self.source.image_size


def train_run(out: str | os.PathLike | None = Path("runs") / "latest", config: RunConfig | None = None, *,
              device: str | torch.device | None = None, options: TrainOptions | None = None,
              metadata: dict[str, Any] | None = None) -> TrainingRun:
    """Train as ``config`` says (:class:`RunConfig`; default: the improved model on synthetic shapes),
    test the model, and write the run folder ``out`` (``None``: write nothing). ``options``
    (:class:`~latentseg.training.TrainOptions`) say how ``fit`` runs; by default it shows a progress bar
    and a line per record. Everything is checked, the output folder included, before data is read. It
    prints what it trains, the test metrics and what it wrote.

    ``metadata`` (plain values) is stored in the checkpoint beside the run's own (the command line
    stores its command and the source's git commit there).

    Ctrl-C stops at the end of a step: the model trained so far goes to ``<out>-interrupted`` and
    :class:`~latentseg.training.TrainingInterrupted` is raised again, with ``out_folder`` set to it.
    """
    config = config or RunConfig()
    _check_run_arguments(out, config, options, metadata)
    main, world = distributed.is_main(), distributed.world_size()
    options = options or TrainOptions(verbose=True)
    options = replace(options, progress=options.progress and main, verbose=options.verbose and main)
    data, epochs, seed, size = config.data, config.epochs, config.seed, config.size
    recipe = config.recipe or recipe_for(config.source.kind)
    say = print if main else (lambda *a, **k: None)
    if main and out is not None:  # a folder that cannot take the model is found before training
        check_run_folder(out, RUN_FILES)
        check_run_folder(_interrupted_folder(Path(out)), RUN_FILES)  # where Ctrl-C would keep the model
    device = pick_device(device)
    seed_everything(seed)  # the same initial weights in every process
    splits = load_splits(config.source, size, seed, config.train_size, config.val_size, config.test_size, config.data_root)
    net = _build(config, splits, say)
    processes = f", {world} processes × batch {recipe.batch_size}" if world > 1 else ""
    say(f"training the {config.model} model ({count_parameters(net):,} parameters) on {splits.description}, "
        f"{epochs} epochs, device {device}{processes}")
    metadata = {**(metadata or {}), "model": config.model, "data": data, "image_size": size, "seed": seed, "epochs": epochs,
                "train_size": len(splits.train), "processes": world, **recipe.to_dict()}
    start = time.perf_counter()
    try:
        history = fit(net, splits.train, splits.val, recipe=recipe, epochs=epochs, seed=seed, device=device,
                      options=options)
    except TrainingInterrupted as stop:
        if main and out is not None:
            stop.out_folder = _write_interrupted(Path(out), net, splits, metadata, stop, time.perf_counter() - start)
        raise
    seconds = time.perf_counter() - start
    if not main:
        distributed.barrier()  # wait while rank 0 tests and writes
        return TrainingRun(net.cpu().eval(), history, {}, splits, None, seconds)
    metrics = test_scores(net, splits.test, splits.class_names, objects=net.owns_objects, device=device)
    say(f"trained in {seconds:.1f} s; test split ({len(splits.test)} images):")
    say(metrics_text(metrics))
    if out is not None:
        metadata |= {"train_seconds": seconds, "history": history.records, "test_metrics": metrics}
        with run_folder(out) as staging:  # the folder holds the previous run or this one, never a mix
            _write_run(staging, net, splits, metadata, history.records, pictures=True)
        say(f"wrote {', '.join(str(Path(out) / name) for name in RUN_FILES)}")
    distributed.barrier()
    return TrainingRun(net.cpu().eval(), history, metrics, splits, None if out is None else Path(out), seconds)


def _build(config: RunConfig, splits: DataSplits, say: Callable[[str], None]) -> Segmenter:
    """The zoo model for the data's classes; one whose experts own objects only on data with instance ids,
    with experts enough for the densest training image unless the config names ``num_latents``."""
    overrides = dict(config.model_config or {})
    if MODELS[config.model].owns_objects:  # it is tested on objects too: every split must carry them
        lacking = [name for name in ("train", "val", "test") if not getattr(getattr(splits, name), "has_instances", False)]
        if lacking:
            raise ValueError(f"data: the {config.model} model learns and is tested on objects, but the {', '.join(lacking)} "
                             f"split(s) of {config.data} carry no instance ids (a folder needs instances/ in each split)")
        overrides["num_latents"] = _experts_for(splits.train, overrides.get("num_latents"), say)
    return build_model(config.model, num_classes=len(splits.class_names), **overrides)


def experts_for(most_objects: int, default: int = ExpertsConfig.num_latents) -> int:
    """Experts for images of up to ``most_objects`` objects: one each and one for the background, half
    again as many to spare (a forward pass misses objects when every expert is taken), rounded up to a
    multiple of 8; never fewer than ``default``."""
    return max(default, 8 * math.ceil(1.5 * (most_objects + 1) / 8))


def _experts_for(train: Dataset, given: int | None, say: Callable[[str], None]) -> int:
    """``given``, with a warning if the densest training image holds more objects than it can own;
    otherwise :func:`experts_for` the densest training image, said in one line."""
    with torch.random.fork_rng(devices=[]):  # counting reads augmented items: the model's initial weights stay
        most = train.most_objects()
    if given is not None:
        if most + 1 > given:
            warnings.warn(f"num_latents: {given} experts, each owning at most one object (one usually takes the "
                          f"background), and a training image holds {most} objects: give {experts_for(most)} or more",
                          UserWarning, stacklevel=4)
        return given
    chosen = experts_for(most)
    say(f"experts: {chosen}, for up to {most} objects in one training image (one expert each, one for the background, "
        "half again to spare)")
    return chosen


def test_scores(model: Segmenter, data: Dataset, class_names: tuple[str, ...] | list[str], *, objects: bool,
                device: str | torch.device | None = None, batch_size: int = 64) -> dict[str, Any]:
    """``Metrics.to_dict`` of ``model`` on ``data`` with ``class_names``, and with ``objects`` its
    panoptic quality (``pq``, ``sq``, ``rq``, ``pq_all``, ``per_class_pq``) on the data's instance ids."""
    metrics = evaluate(model, data, batch_size=batch_size, device=device).to_dict(class_names)
    if objects:
        panoptic = evaluate_instances(model, data, batch_size=batch_size, device=device).to_dict()
        metrics |= {k: panoptic[k] for k in ("pq", "sq", "rq", "pq_all", "per_class_pq")}
    return metrics


def _check_run_arguments(out: object, config: object, options: object, metadata: object) -> None:
    """What :func:`train_run` is given, checked before any data is read; each error names its argument."""
    if out is not None and not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"out: expected a folder path (str or os.PathLike) or None, got {type(out).__name__}")
    if not isinstance(config, RunConfig):
        raise TypeError(f"config: expected a latentseg RunConfig, got {type(config).__name__}")
    if options is not None and not isinstance(options, TrainOptions):
        raise TypeError(f"options: expected a latentseg TrainOptions, got {type(options).__name__}")
    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError(f"metadata: expected a dict of plain values, got {type(metadata).__name__}")


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
