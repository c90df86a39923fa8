"""The race: every model trained on the same data (synthetic shapes, or the real ``nuclei`` stack)
with the same recipe for the same budget, then tested; with the throughput rows and the attention
timings, what ``bench`` reports."""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch.utils.data import Dataset

from ..analysis.robustness import robustness_report
from ..analysis.specialisation import specialisation_report
from ..checks import check_choice, check_number, check_optional_positive_int, check_positive_float, check_positive_int
from ..data.dataset import SegmentationData
from ..data.looks import LOOKS
from ..data.shapes import SHAPE_CLASSES, synthetic_shapes
from ..data.shifted import shifted_shapes
from ..data.sources import SHIFTED_TEST_SIZE, load_splits
from ..device import PRECISIONS, pick_device
from ..models import MODELS, build_model, has_config_field
from ..models.base import Segmenter, count_parameters
from ..training.evaluation import evaluate, evaluate_instances
from ..training.loop import TrainOptions, fit
from ..training.recipe import RECIPE, Recipe, recipe_for
from .baselines import nuclei_baselines, shape_baselines
from .sizes import LARGE_KEYS, large_image_report
from .throughput import attention_comparison, inference_rates, throughput

TARGET_MIOU = 0.90
#: what the race trains on: the synthetic shapes, in the usual scenes or crowded ones (scored also on the
#: shifted set drawn the same way, greyscale copies and hue rotations), or the real microscopy stack
#: (scored on its z-block test split, nucleus IoU beside mIoU); panoptic quality on all of them
RACE_DATA = ("synthetic", "crowded", "nuclei")
SPECIALISATION_KEYS = ("routing_entropy", "routing_entropy_ratio", "nmi", "ari", "duplicate_pairs", "mean_latent_cosine",
                       "experts_used", "duplicate_pairs_used")


def summarise_runs(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean and sample standard deviation (0 for one run) over runs of ``test_miou``, the robustness
    figures, ``steps`` and, for latent models, the specialisation figures."""
    keys = ("test_miou", "nucleus_iou", "shifted_miou", "greyscale_miou", "texture_miou", "hue_agreement", "pq", "sq", "rq",
            "shifted_pq", "steps", *LARGE_KEYS)
    values: dict[str, list[float]] = {k: [r[k] for r in runs] for k in keys if k in runs[0]}
    if "specialisation" in runs[0]:
        values.update({k: [r["specialisation"][k] for r in runs] for k in SPECIALISATION_KEYS})
    summary = {}
    for key, v in values.items():
        mean = sum(v) / len(v)
        std = (sum((x - mean) ** 2 for x in v) / (len(v) - 1)) ** 0.5 if len(v) > 1 else 0.0
        summary[key] = {"mean": mean, "std": std}
    return summary


def seconds_to_reach(records: list[dict[str, float]], target: float) -> float | None:
    """Training seconds at the first validation with ``val_miou ≥ target``, or ``None`` if never."""
    return next((r["seconds"] for r in records if r.get("val_miou", 0.0) >= target), None)


def train_for_budget(
    model: Segmenter, train: Dataset, val: Dataset, test: Dataset, budget_s: float | None = None, *,
    steps: int | None = None, recipe: Recipe = RECIPE, val_every: int = 50, seed: int = 0, device: str | None = None,
) -> dict[str, Any]:
    """Train ``model`` with ``recipe`` for ``budget_s`` seconds (validation not counted; the schedule
    on the clock) or for ``steps`` steps (the same model on every machine): exactly one of them.

    Returns ``test_miou``, ``test_per_class_iou``, ``train_seconds``, ``steps``, ``seconds_to_target``
    (first validation at ``TARGET_MIOU`` or above, else ``None``), ``curve`` (``[[seconds, val mIoU], …]``) and
    ``step_curve`` (``[[step, val mIoU], …]``).
    """
    if (budget_s is None) == (steps is None):
        raise ValueError(f"budget_s, steps: expected exactly one, got budget_s={budget_s}, steps={steps}")
    if budget_s is not None:
        check_positive_float("budget_s", budget_s)
    history = fit(model, train, val, recipe=recipe, epochs=1_000_000, max_steps=steps, val_every=val_every, seed=seed,
                  device=device, options=TrainOptions(max_seconds=budget_s, progress=False))
    metrics = evaluate(model, test, device=device)
    return {
        "test_miou": metrics.miou,
        "test_per_class_iou": metrics.per_class_iou,
        "train_seconds": history.last["seconds"],
        "steps": history.last["step"],
        "seconds_to_target": seconds_to_reach(history.records, TARGET_MIOU),
        "curve": [[r["seconds"], r["val_miou"]] for r in history.records],
        "step_curve": [[r["step"], r["val_miou"]] for r in history.records],
    }


def applied_config(name: str, model_config: dict[str, Any] | None) -> dict[str, Any]:
    """The fields of ``model_config`` that the zoo model ``name``'s config has (e.g. ``texture_energy``
    and ``encoder_blocks``: improved and experts); the others do not apply to it."""
    return {k: v for k, v in (model_config or {}).items() if has_config_field(name, k)}


def bench_model(name: str, num_classes: int, model_config: dict[str, Any] | None = None) -> Segmenter:
    """A new zoo model with the fields of ``model_config`` that it has (:func:`applied_config`); the
    other models are raced as they are."""
    return build_model(name, num_classes=num_classes, **applied_config(name, model_config))


def throughput_rows(models: list[str], sizes: list[int] | tuple[int, ...], recipe: Recipe, repeats: int,
                    device: str | None, precision: str, seed: int,
                    model_config: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """:func:`~latentseg.bench.throughput.throughput` of each model at each size; with several models,
    inference is timed again side by side (:func:`inference_rates`), so that the ratio to the article's
    model (``inference_ratio_to_article``) survives the machine's drift."""
    rows = []
    built: dict[int, dict[str, Segmenter]] = {size: {} for size in sizes}
    for name in models:
        for size in sizes:
            torch.manual_seed(seed)
            model = built[size][name] = bench_model(name, len(SHAPE_CLASSES), model_config)
            rows.append({"model": name, "size": size, "batch_size": recipe.batch_size,
                         **throughput(model, size, recipe.batch_size, repeats, device, precision, recipe=recipe)})
    if len(models) > 1:
        for size in sizes:
            rates = inference_rates(built[size], size, recipe.batch_size, 4 * repeats, device, precision)
            for row in (r for r in rows if r["size"] == size):
                row["inference_images_per_s"] = rates[row["model"]]
    article_rate = {r["size"]: r["inference_images_per_s"] for r in rows if r["model"] == "article"}
    for row in rows:
        base = article_rate.get(row["size"])
        row["inference_ratio_to_article"] = row["inference_images_per_s"] / base if base else None
    return rows


def race_one(name: str, seed: int, config: BenchConfig, device: str | None = None) -> dict[str, Any]:
    """One model (:func:`bench_model`) trained once as ``config`` says (:class:`BenchConfig`: for
    ``budget_s`` seconds or ``steps`` steps), then scored on data it did not train on, with the
    specialisation figures for a model that has experts.

    ``data="synthetic"``: the shapes of ``seed`` in ``look`` (images per split as ``config`` gives them; the
    ``mixed`` look is tested on the varied look's test split, so that its test column compares with
    the varied look's), scored also by :func:`~latentseg.analysis.robustness.robustness_report` (the
    shifted set and its texture version, greyscale copies, hue rotations). ``data="nuclei"``: the
    microscopy stack's z-block splits (the same for every seed;
    ``seed`` changes initialisation, shuffling and augmentation), with ``nucleus_iou``.
    """
    data, look, image_size, sizes = config.data, config.look, config.image_size, config.split_sizes
    if data == "nuclei":
        splits = load_splits("nuclei", image_size, seed)
        train, val, test, class_names = splits.train, splits.val, splits.test, splits.class_names
    else:
        looks = {"train": look, "val": look, "test": "varied" if look == "mixed" else look}
        train, val, test = (synthetic_shapes(sizes[split], image_size, seed, split, look=looks[split],
                                             crowded=data == "crowded") for split in ("train", "val", "test"))
        class_names = SHAPE_CLASSES
    torch.manual_seed(seed)
    model = bench_model(name, len(class_names), config.model_config)
    budget_s = None if config.steps else config.budget_s
    run = {"seed": seed, "params": count_parameters(model), **train_for_budget(
        model, train, val, test, budget_s, steps=config.steps, recipe=config.recipe or recipe_for(data),
        val_every=config.val_every, seed=seed, device=device)}
    run |= panoptic_report(model, test, "", device)
    if data == "nuclei":
        run["nucleus_iou"] = run["test_per_class_iou"][class_names.index("nucleus")]
    else:
        shifted, texture = _shifted_sets(sizes["shifted"], image_size, seed, data == "crowded")
        run |= robustness_report(model, test, shifted, device, texture) | panoptic_report(model, shifted, "shifted_", device)
    if data == "crowded":  # counted in images larger than the training size, by windows
        run |= large_image_report(model, seed, image_size, device)
    if model.has_experts:  # do its latents act as experts?
        report = specialisation_report(model.cpu(), test.images[:200], test.masks[:200])
        run["specialisation"] = {k: report[k] for k in SPECIALISATION_KEYS}
    return run


@functools.lru_cache(maxsize=4)  # seeds are the inner loop of a race
def _shifted_sets(count: int, image_size: int, seed: int, crowded: bool) -> tuple[SegmentationData, SegmentationData]:
    """The shifted set and its texture version for one seed, drawn once for all the models raced on it."""
    return (shifted_shapes(count, image_size, seed, crowded=crowded),
            shifted_shapes(count, image_size, seed, crowded=crowded, texture=True))


def panoptic_report(model: Segmenter, data: SegmentationData, prefix: str, device: str | None) -> dict[str, Any]:
    """``pq``, ``sq``, ``rq`` and ``per_class_pq`` of ``model`` on ``data`` (its own instance map, or
    connected components of its class map: :func:`~latentseg.training.evaluation.evaluate_instances`), each
    key prefixed with ``prefix``."""
    result = evaluate_instances(model, data, device=device).to_dict()
    return {prefix + k: result[k] for k in ("pq", "sq", "rq", "per_class_pq")}


@dataclass(frozen=True)
class BenchConfig:
    """One ``bench`` run, field by field as its flags (``budget_s`` is ``--budget``).

    Throughput of each of ``models`` at each of ``sizes`` (``repeats`` timed steps, autocast
    ``precision``), attention alone at each of ``attention_sizes``, then the race: each model trained
    for ``budget_s`` seconds, or ``steps`` steps when given (``budget_s=0`` and no ``steps`` skip it),
    with ``recipe`` (default :func:`~latentseg.training.recipe.recipe_for` ``data``), validated every
    ``val_every`` steps, once per seed of ``seeds`` (default ``[seed]``), on ``data`` at ``image_size``:
    ``train_size`` synthetic images in ``look``, tested on ``test_size`` of them and ``shifted_size``
    shifted ones, or the nuclei stack's splits (the sizes do not apply). ``model_config`` sets config
    fields (e.g. ``{"texture_energy": True}``) in the models that have them (:func:`bench_model`).
    Checked when made, each error naming its field.
    """

    models: tuple[str, ...] = tuple(MODELS)
    budget_s: float = 60.0
    steps: int | None = None
    seed: int = 0
    seeds: tuple[int, ...] | None = None
    data: str = "synthetic"
    look: str = "varied"
    image_size: int = 64
    train_size: int = 4000
    val_size: int = 200
    test_size: int = 500
    shifted_size: int = SHIFTED_TEST_SIZE
    val_every: int = 50
    recipe: Recipe | None = None
    model_config: dict[str, Any] | None = None
    sizes: tuple[int, ...] = (64,)
    repeats: int = 5
    precision: str = "auto"
    attention_sizes: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.models, str) or not self.models:
            raise TypeError(f"models: expected a list of names from {sorted(MODELS)}, got {self.models!r}")
        for name in self.models:
            check_choice("models", name, sorted(MODELS))
        check_number("budget_s", self.budget_s, "seconds ≥ 0 (0 skips training)")
        check_choice("data", self.data, RACE_DATA)
        check_choice("look", self.look, LOOKS)
        check_choice("precision", self.precision, PRECISIONS)
        check_optional_positive_int("steps", self.steps)
        for name in ("image_size", "train_size", "val_size", "test_size", "shifted_size", "val_every", "repeats"):
            check_positive_int(name, getattr(self, name))
        for name, values in (("seed", [self.seed]), ("seeds", self.seeds)):
            if values is not None and (isinstance(values, str) or not values or any(
                    isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in values)):
                raise TypeError(f"{name}: expected ints ≥ 0, got {values!r}")
        for name in ("sizes", "attention_sizes"):
            for size in getattr(self, name):
                check_positive_int(name, size)
        if self.seeds is not None and len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds: expected different seeds (one seed twice is one run, not a spread), "
                             f"got {list(self.seeds)}")

    @property
    def split_sizes(self) -> dict[str, int]:
        return {"train": self.train_size, "val": self.val_size, "test": self.test_size, "shifted": self.shifted_size}


def run_bench(config: BenchConfig | None = None, device: str | None = None) -> dict[str, Any]:
    """Every model of ``config`` (:class:`BenchConfig`) in one run: throughput at each size
    (:func:`throughput_rows`), attention alone at each attention size
    (:func:`~latentseg.bench.throughput.attention_comparison`, token grids of 1/4 the image side),
    then the race (:func:`race_one` per model and seed).

    With several seeds ``training[name]`` holds the first run's fields, every run under ``runs`` and ``summary``
    (:func:`summarise_runs`). Returns a JSON-ready dict: ``device``, ``threads``, ``torch``, ``budget_s``, ``data``,
    ``image_size``, ``train_size``, ``model_config`` (each model's fields that ``model_config`` set), ``target_miou``,
    ``recipe``, ``rows``, ``attention``, ``training``.
    """
    config = config or BenchConfig()
    models, seeds = list(config.models), list(config.seeds or [config.seed])
    recipe = config.recipe or recipe_for(config.data)
    config = replace(config, recipe=recipe)
    rows = throughput_rows(models, config.sizes, recipe, config.repeats, device, config.precision, config.seed,
                           config.model_config)
    attention = (attention_comparison(config.attention_sizes, recipe.batch_size, config.repeats, device)
                 if config.attention_sizes else None)
    training = {}
    for name in models if config.budget_s > 0 or config.steps else []:
        runs = [race_one(name, s, config, device) for s in seeds]
        training[name] = {**runs[0], "runs": runs, "summary": summarise_runs(runs)}
    baselines = (nuclei_baselines(config.image_size) if config.data == "nuclei"
                 else shape_baselines(config.data, config.split_sizes, config.image_size, seeds[0], config.look))
    return {
        **({"baselines": baselines} if baselines else {}),
        "device": str(pick_device(device)), "threads": torch.get_num_threads(), "torch": torch.__version__,
        "budget_s": None if config.steps else config.budget_s, "steps": config.steps, "data": config.data,
        "look": config.look, "image_size": config.image_size,
        "model_config": {name: c for name in models if (c := applied_config(name, config.model_config))},
        "train_size": baselines["train_slices"] if config.data == "nuclei" else config.train_size,
        "target_miou": TARGET_MIOU,
        "recipe": recipe.to_dict(), "rows": rows, "attention": attention, "training": training,
    }
