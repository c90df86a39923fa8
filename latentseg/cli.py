"""Command line: ``python -m latentseg train | evaluate | predict | bench``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

from .bench import BenchConfig, bench_report, run_bench
from .bench.race import RACE_DATA
from .checkpoint import load_checkpoint
from .checks import check_number, check_positive_float, check_positive_int
from .data.download import DATA_ENV
from .data.looks import LOOKS
from .data.nuclei import IMAGE_FILE, LABEL_FILE
from .data.nuclei import INSTALL as NUCLEI_INSTALL
from .data.sources import Source, load_test
from .device import PRECISIONS, pick_device
from .files import check_out_folder, write_text_atomic
from .inference import predict_files
from .models import MODELS, has_config_field
from .run import RunConfig, default_image_size, metrics_text, test_scores, train_run
from .tiling import Tiling
from .training import RECIPE, Recipe, TrainingInterrupted, TrainOptions, distributed, recipe_for
from .training.optim import OPTIMIZERS
from .training.schedules import SCHEDULES

DEFAULT_OUT = Path("runs") / "latest"
LATENT_FLAGS = ("feature-dim", "latent-dim", "num-latents", "num-heads")
POSITIONAL = ("images", "checkpoint")  # arguments without a flag: named as they are
INTERRUPTED = 130  # the exit status of a program stopped by Ctrl-C (128 + SIGINT)


class _Parser(argparse.ArgumentParser):
    """argparse with one line for a bad option: ``python -m latentseg train: error: …``, exit 2."""

    def error(self, message: str):  # noqa: ANN201 - argparse's signature
        self.exit(2, f"{self.prog}: error: {message}\n")


def _number(kind: type, check, what: str):
    """An argparse type: ``kind(text)`` accepted by ``check`` (a :mod:`latentseg.checks` function), or
    one line saying ``what`` was expected."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        try:
            return kind(check("value", value))
        except (ValueError, TypeError):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text}") from None
    parse.__name__ = what  # argparse names the type in some messages
    return parse


POSITIVE_INT = _number(int, check_positive_int, "a positive integer")
COUNT = _number(int, lambda name, v: check_number(name, v, ok=lambda n: n >= 0), "an integer ≥ 0")
POSITIVE = _number(float, check_positive_float, "a finite number > 0")
NON_NEGATIVE = _number(float, check_number, "a finite number ≥ 0")
MAX_SEED, MIN_IMAGE, MAX_IMAGE = 2**63 - 1, 16, 4096


def _within(low: int, high: int):
    def check(name: str, value: int) -> int:
        if not low <= value <= high:
            raise ValueError(f"{name}: expected {low} to {high}, got {value}")
        return value
    return check


SEED = _number(int, _within(0, MAX_SEED), "an integer from 0 to 2**63 − 1")
IMAGE_SIZE = _number(int, _within(MIN_IMAGE, MAX_IMAGE), f"an image side from {MIN_IMAGE} to {MAX_IMAGE} pixels")

#: config fields that only some models have (improved, experts): the flag, its argparse options
TRUNK_FLAGS = {
    "texture-energy": {"action": "store_true", "default": None,
                       "help": "improved and experts models: add texture-energy features (filters, rectified and "
                               "pooled) to the 1/4-resolution features, so that a change of pattern is an edge"},
    "encoder-blocks": {"type": POSITIVE_INT, "default": None, "metavar": "N",
                       "help": "improved and experts models: residual blocks at 1/4 resolution (default: the model's "
                               "own, 2); more see wider windows of pattern, each costs time per step"},
    "rounds": {"type": POSITIVE_INT, "default": None, "metavar": "N",
               "help": "improved and experts models: times the latents read the pixels (default: the model's own: "
                       "improved 2, experts 3); each round costs time per step, and the experts predict their objects "
                       "after each"},
    "masked-attention": {"action": argparse.BooleanOptionalAction, "default": None,
                         "help": "experts model: each expert reads only the tokens inside the mask it predicts "
                                 "(Mask2Former's masked attention; default on, --no-masked-attention reads every token)"},
    "mask-points": {"type": POSITIVE_INT, "default": None, "metavar": "N",
                    "help": "experts model: random pixels per image on which the matched mask losses are computed "
                            f"(default: the model's own, {MODELS['experts'].config_class.mask_points}; as many as the "
                            "image has pixels: every pixel)"},
    "mask-dim": {"type": POSITIVE_INT, "default": None, "metavar": "E",
                 "help": "experts model: width of the embeddings whose dot products give each expert's mask "
                         f"(default: the model's own, {MODELS['experts'].config_class.mask_dim}); wider costs time per step"},
}


def _add_recipe_arguments(parser: argparse.ArgumentParser, batch_help: str) -> None:
    """The fields of :class:`~latentseg.training.Recipe`, :data:`RECIPE`'s values as defaults (train and bench)."""
    parser.add_argument("--batch-size", type=POSITIVE_INT, default=RECIPE.batch_size, help=batch_help)
    parser.add_argument("--lr", type=POSITIVE, default=RECIPE.lr, help="peak learning rate (both optimisers)")
    parser.add_argument("--optimizer", default=RECIPE.optimizer, choices=list(OPTIMIZERS),
                        help="muon: Muon for hidden weight matrices, AdamW for the rest; adamw: AdamW for everything")
    parser.add_argument("--muon-momentum", type=NON_NEGATIVE, default=RECIPE.muon_momentum,
                        help="Muon's momentum (0.95 is usual; short runs do better with less)")
    parser.add_argument("--weight-decay", type=NON_NEGATIVE, default=RECIPE.weight_decay, help="decoupled weight decay")
    parser.add_argument("--dice-weight", type=NON_NEGATIVE, default=RECIPE.dice_weight,
                        help="loss = cross-entropy + this × soft Dice (0: cross-entropy alone)")
    parser.add_argument("--edge-weight", type=NON_NEGATIVE, default=RECIPE.edge_weight,
                        help="pixels at class boundaries count 1 + this in the cross-entropy (0: all alike)")
    parser.add_argument("--colour-jitter", action=argparse.BooleanOptionalAction, default=None,
                        help="random hue, saturation, brightness, contrast, greyscale, channel order and inversion of "
                             "every training batch (masks untouched); default on, off for nuclei")
    parser.add_argument("--texture-refill", type=NON_NEGATIVE, default=RECIPE.texture_refill, metavar="SHARE",
                        help="the share of training images repainted with two-colour patterns from their class maps, "
                             "so that only a change of pattern outlines a shape (0 to 1; default 0)")
    parser.add_argument("--schedule", default=RECIPE.schedule, choices=list(SCHEDULES),
                        help="learning-rate schedule (on the clock under a time budget): wsd holds the peak, then "
                             "decays linearly over the second half")


def _recipe(args: argparse.Namespace) -> Recipe:
    """The recipe given (or defaulted, :func:`~latentseg.training.recipe.recipe_for` the data) on the
    command line; a bad value is named by its flag."""
    given = vars(args)
    if given.get("colour_jitter") is None:
        data = getattr(args, "data", None) or "synthetic"
        given = {**given, "colour_jitter": recipe_for(Source.parse(data).kind).colour_jitter}
    try:
        return Recipe.from_dict(given)
    except (ValueError, TypeError) as err:
        field, _, rest = str(err).partition(": ")
        raise ValueError(f"--{field.replace('_', '-')}: {rest}") from None


def _trunk_config(args: argparse.Namespace) -> dict[str, int | bool]:
    """The :data:`TRUNK_FLAGS` given on the command line (absent: ``None``), as config fields."""
    given = {field: getattr(args, field) for field in (flag.replace("-", "_") for flag in TRUNK_FLAGS)}
    return {field: value for field, value in given.items() if value is not None}


def _overrides(args: argparse.Namespace) -> dict[str, int | bool]:
    """Config fields given on the command line; the U-Net has no latents, so it refuses them, and only
    the models whose config has a :data:`TRUNK_FLAGS` field take that flag."""
    given = {flag: getattr(args, flag.replace("-", "_")) for flag in LATENT_FLAGS}
    given = {flag: value for flag, value in given.items() if value is not None}
    if given and not MODELS[args.model].has_experts:
        latent = sorted(name for name, model in MODELS.items() if model.has_experts)
        raise ValueError(f"--{next(iter(given))}: applies to the latent models ({', '.join(latent)}), not to {args.model}")
    trunk = _trunk_config(args)
    for field in trunk:
        if not has_config_field(args.model, field):
            able = sorted(name for name in MODELS if has_config_field(name, field))
            models = "model" if len(able) == 1 else "models"
            raise ValueError(f"--{field.replace('_', '-')}: applies to the {' and '.join(able)} {models}, not to {args.model}")
    return {flag.replace("-", "_"): value for flag, value in given.items()} | trunk


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps")


NUCLEI_FILES = f"{IMAGE_FILE} and {LABEL_FILE}"


def _add_train_parser(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("train", help="train on the built-in synthetic shapes; save checkpoint, picture, history",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    t.add_argument("--model", default="improved", choices=sorted(MODELS),
                   help="improved: the latent-expert model of notebooks 05–06; experts: its experts also own objects (instance "
                        "maps; needs data with instance ids); article: the article's; unet: the baseline")
    t.add_argument("--data", default="synthetic", metavar="synthetic|crowded|classic|textured|nuclei|pets|folder:PATH",
                   help="built-in shapes (crowded: 3–7 touching shapes; classic: saturated shapes on grey, where colour "
                        "gives them away; textured: half the images outlined only by a change of pattern); nuclei: real "
                        f"fluorescence microscopy (`{NUCLEI_INSTALL}`); Oxford-IIIT Pet (downloaded once, about "
                        "800 MB); or PATH with images/ and masks/ (or train/, val/, test/)")
    t.add_argument("--data-root", type=Path, default=None,
                   help=f"where pets is cached (default ${DATA_ENV}, then ~/.cache/latentseg); for nuclei, a folder "
                        f"holding {NUCLEI_FILES} (default: the installed package)")
    t.add_argument("--epochs", type=POSITIVE_INT, default=3)
    t.add_argument("--train-size", type=POSITIVE_INT, default=None,
                   help="training images; default 4000 synthetic, every image of real data")
    t.add_argument("--val-size", type=POSITIVE_INT, default=None,
                   help="validation images (checked every epoch); default 300 synthetic, all of real data")
    t.add_argument("--test-size", type=POSITIVE_INT, default=None,
                   help="test images (final metrics); default 500 synthetic, all real")
    t.add_argument("--image-size", type=IMAGE_SIZE, default=None,
                   help="side of the square training images; default 64 synthetic, 128 real (resized and cropped)")
    _add_recipe_arguments(t, "per process (under torchrun the global batch is this × processes); on a CPU small "
                             "batches give more updates per second")
    t.add_argument("--max-seconds", type=POSITIVE, default=None, help="stop training after this many seconds")
    t.add_argument("--seed", type=SEED, default=0, help="fixes data, initialisation and shuffling")
    for flag in LATENT_FLAGS:
        t.add_argument(f"--{flag}", type=POSITIVE_INT, default=None, help="latent models only; default: the model's own")
    for flag, options in TRUNK_FLAGS.items():
        t.add_argument(f"--{flag}", **options)
    t.add_argument("--precision", default="auto", choices=list(PRECISIONS),
                   help="autocast dtype; auto: bf16 on CUDA (fp16 on GPUs without bf16), fp32 on CPU")
    t.add_argument("--compile", action="store_true", help="train through torch.compile (slow start, faster steps on GPU)")
    t.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                   help="NHWC images and conv weights; default on for CUDA, off elsewhere")
    t.add_argument("--num-workers", type=COUNT, default=0,
                   help="background processes that read and augment training batches (real photos on a GPU: 4–8)")
    t.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for model.pt, predictions.png, history.json")
    t.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    _add_common(t)


def _add_evaluate_parser(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser("evaluate", help="metrics of a checkpoint on a synthetic test split",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    e.add_argument("checkpoint", type=Path)
    e.add_argument("--data", default=None, metavar="synthetic|classic|shifted|shifted-texture|nuclei|pets|folder:PATH",
                   help="default: the data the checkpoint was trained on; shifted: shapes drawn with another look, "
                        "which no model trains on; shifted-texture: the same code, shapes outlined only by a change "
                        "of pattern")
    e.add_argument("--data-root", type=Path, default=None,
                   help=f"where pets is cached (default ${DATA_ENV}); for nuclei, a folder holding {NUCLEI_FILES}")
    e.add_argument("--seed", type=SEED, default=0, help="chooses the synthetic test split (disjoint from training)")
    e.add_argument("--num-images", type=POSITIVE_INT, default=None, help="default 500 synthetic, every test image of real data")
    e.add_argument("--image-size", type=IMAGE_SIZE, default=None, help="default: the size the checkpoint was trained at")
    e.add_argument("--batch-size", type=POSITIVE_INT, default=64)
    e.add_argument("--json", action="store_true", help="print one JSON object of metrics")
    e.add_argument("--any-class-names", action="store_true",
                   help="score a model on data whose class names differ from those it was trained on (by index)")
    _add_common(e)


def _add_predict_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="write one PNG mask of class indices per input image (and instance maps)",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("checkpoint", type=Path)
    p.add_argument("images", type=Path, nargs="+",
                   help="PNG/JPEG images of any size (at least 4×4), or folders of them (read in name order)")
    p.add_argument("--out", type=Path, required=True, help="folder for the masks (<stem>.png)")
    p.add_argument("--max-size", type=POSITIVE_INT, default=None,
                   help="read and predict every image at most this many pixels on its longer side (the mask is "
                        "written at the image's own size); default: the training size for a model trained on real "
                        "photos, 1024 otherwise")
    p.add_argument("--colour", action="store_true", help="also write <stem>_colour.png, a coloured mask to look at")
    p.add_argument("--instances", action="store_true",
                   help="also write <stem>_instances.png (16-bit instance ids, 0 = none) and <stem>.json (each object's "
                        "id, class, score and pixels); for the experts model, whose experts own objects")
    p.add_argument("--window", type=POSITIVE_INT, default=None,
                   help="an image larger than this (as read, see --max-size) is predicted in overlapping windows of "
                        "this side, each pixel from the window whose centre is nearest; with --instances each object "
                        "comes whole from the window nearest its centre, so an image may hold more objects than the "
                        "model has experts. Default: the "
                        "whole image for class maps, the size the model was trained at for --instances")
    p.add_argument("--overlap", type=COUNT, default=None,
                   help="with --window or --instances: pixels neighbouring windows share (default and most: half the "
                        "window; an object is seen whole when the overlap is at least its size)")
    _add_common(p)


def _add_bench_parser(sub: argparse._SubParsersAction) -> None:
    b = sub.add_parser("bench", help="throughput, memory, and mIoU within a training-time budget, per model",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    b.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    b.add_argument("--budget", type=NON_NEGATIVE, default=60.0,
                   help="training seconds per model (validation not counted); 0 skips training")
    b.add_argument("--steps", type=POSITIVE_INT, default=None,
                   help="train each model for this many steps instead of --budget seconds: the same models on any "
                        "machine")
    b.add_argument("--data", default="synthetic", choices=list(RACE_DATA),
                   help="race on the synthetic shapes, on crowded scenes of them (3–7 touching shapes) or on the real "
                        "microscopy stack (z-block test split, nucleus IoU beside mIoU); panoptic quality on each")
    b.add_argument("--look", default="varied", choices=list(LOOKS),
                   help="the synthetic shapes' look to train and test on (classic: colour gives shapes away; "
                        "texture: only a change of pattern outlines a shape; mixed: varied and texture images, "
                        "tested on the varied look)")
    b.add_argument("--shifted-size", type=POSITIVE_INT, default=200,
                   help="images of the shifted test set (other drawing code, other looks) each model is scored on")
    b.add_argument("--sizes", type=IMAGE_SIZE, nargs="+", default=[64], help="image sizes for the throughput rows")
    for flag, options in TRUNK_FLAGS.items():
        b.add_argument(f"--{flag}", **{**options, "help": options["help"] + " (the other models as they are)"})
    _add_recipe_arguments(b, "for training and throughput")
    b.add_argument("--repeats", type=POSITIVE_INT, default=5, help="timed steps per throughput figure")
    b.add_argument("--precision", default="auto", choices=list(PRECISIONS),
                   help="autocast for the throughput rows; auto: bf16 on CUDA, fp32 on CPU")
    b.add_argument("--attention-sizes", type=POSITIVE_INT, nargs="*", default=[64, 128, 256],
                   help="image sizes whose (size/4)² tokens time one attention layer: SDPA vs nn.MultiheadAttention "
                        "vs full self-attention (none: skip)")
    b.add_argument("--image-size", type=IMAGE_SIZE, default=None,
                   help="images of the training race; default 64 synthetic, 128 nuclei")
    b.add_argument("--train-size", type=POSITIVE_INT, default=4000)
    b.add_argument("--val-size", type=POSITIVE_INT, default=200, help="validated every --val-every steps")
    b.add_argument("--test-size", type=POSITIVE_INT, default=500)
    b.add_argument("--val-every", type=POSITIVE_INT, default=50)
    b.add_argument("--seed", type=SEED, default=0)
    b.add_argument("--seeds", type=SEED, nargs="+", default=None,
                   help="train every model once per seed and report mean ± std (default: --seed only)")
    b.add_argument("--out", type=Path, default=Path("runs") / "bench", help="folder for bench.json and bench.png")
    _add_common(b)


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m latentseg", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="{train,evaluate,predict,bench}",
                                parser_class=_Parser)
    for add in (_add_train_parser, _add_evaluate_parser, _add_predict_parser, _add_bench_parser):
        add(sub)
    return parser


def _train(args: argparse.Namespace) -> int:
    """Train (:func:`latentseg.run.train_run`); under torchrun every process runs this."""
    recipe = _recipe(args)  # bad values are refused, by flag, before anything else
    overrides = _overrides(args)
    device = distributed.setup(args.device) or pick_device(args.device)
    config = _fields_from(RunConfig, args, recipe=recipe, model_config=overrides)
    options = _fields_from(TrainOptions, args, progress=not args.quiet, verbose=not args.quiet)
    try:
        train_run(args.out, config, device=device, options=options,
                  metadata={"command": "python -m latentseg " + " ".join(sys.argv[1:]), "commit": _source_commit()})
    except TrainingInterrupted as stop:
        if distributed.is_main():
            print(f"interrupted at step {stop.step} (epoch {stop.epoch}): the model trained so far is in "
                  f"{stop.out_folder / 'model.pt'}; {args.out} is as it was", file=sys.stderr)
        return INTERRUPTED
    finally:
        distributed.shutdown()
    return 0


def _fields_from(kind: type, args: argparse.Namespace, **given: object) -> Any:
    """A ``kind`` dataclass (:class:`~latentseg.run.RunConfig`, :class:`~latentseg.training.TrainOptions`)
    made from the flags of the same names, and ``given`` values for fields that no flag fills as is."""
    flags = {f.name: getattr(args, f.name) for f in dataclasses.fields(kind) if hasattr(args, f.name)}
    return kind(**(flags | given))


def _source_commit() -> str | None:
    """The git commit of the package's source (``+`` if it has uncommitted changes), or ``None`` outside a checkout."""
    folder = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "."], cwd=folder, capture_output=True, text=True,
                               timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode:
        return None
    return head.stdout.strip() + ("+" if dirty.stdout.strip() else "")


def _evaluate(args: argparse.Namespace) -> int:
    model, info = load_checkpoint(args.checkpoint)
    metadata = info["metadata"] or {}
    source = args.data or metadata.get("data", "synthetic")
    size = args.image_size or metadata.get("image_size") or default_image_size(source)
    test = load_test(source, size, args.seed, args.num_images, args.data_root)
    class_names = tuple(test.class_names)
    trained_on = tuple(info["class_names"] or ())
    if model.num_classes != len(class_names):
        raise ValueError(f"checkpoint: the {source} data has {len(class_names)} classes ({', '.join(class_names)}), "
                         f"but the model predicts {model.num_classes}")
    if trained_on and trained_on != class_names and not args.any_class_names:
        raise ValueError(f"checkpoint: the model was trained on the classes {', '.join(trained_on)}, but the {source} "
                         f"data names {', '.join(class_names)}; pass --any-class-names to score it by index anyway")
    metrics = test_scores(model, test, class_names, objects=getattr(test, "has_instances", False), device=args.device,
                          batch_size=args.batch_size)  # objects too where the data has them: panoptic quality
    metrics.update(checkpoint=str(args.checkpoint), data=source, split="test", seed=args.seed, num_images=len(test),
                   image_size=size)
    if args.json:
        print(json.dumps(metrics))
    else:
        print(f"{args.checkpoint}: {source} test split ({len(test)} images at {size}×{size})")
        print(metrics_text(metrics))
    return 0


def _predict(args: argparse.Namespace) -> int:
    model, info = load_checkpoint(args.checkpoint, device=pick_device(args.device))
    if args.max_size is not None and args.max_size < model.min_size:
        raise ValueError(f"--max-size: expected at least the model's smallest input side {model.min_size}, "
                         f"got {args.max_size}")
    metadata = info["metadata"] or {}
    real = not Source.parse(metadata.get("data", "synthetic")).shapes
    max_size = args.max_size or (metadata.get("image_size", 1024) if real else 1024)
    if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < model.min_size:
        raise ValueError(f"checkpoint: {args.checkpoint} records image_size {max_size!r}, not a size this model reads; "
                         "give --max-size")
    predict_files(model, args.images, args.out, max_size=max_size, colour=args.colour, instances=args.instances,
                  class_names=info["class_names"], report=print, tiling=_tiling(args, metadata, model.min_size))
    return 0


def _tiling(args: argparse.Namespace, metadata: dict, min_size: int) -> Tiling | None:
    """``--window``/``--overlap`` for ``predict``: class maps are predicted whole unless ``--window`` is
    given; objects (``--instances``) by default in windows of the training size."""
    if not args.instances and args.window is None:
        if args.overlap is not None:
            raise ValueError("--overlap: without --instances, class maps are predicted by windows only when you give "
                             "--window; add it, or leave --overlap out")
        return None
    window, trained = args.window or metadata.get("image_size"), metadata.get("image_size")
    if args.window is not None and args.window < min_size:
        raise ValueError(f"--window: expected at least the model's smallest input side {min_size}, got {args.window}")
    if args.window is not None and isinstance(trained, int) and not trained / 2 <= args.window <= 2 * trained:
        warnings.warn(f"--window: {args.window} is far from the size the model was trained at ({trained}): smaller windows "
                      "cut more objects, larger ones hold more than the experts can own", UserWarning, stacklevel=2)
    if window is None and args.overlap is not None:
        raise ValueError("--overlap: this checkpoint does not record the size it was trained at; give --window too")
    return None if window is None else Tiling(window, args.overlap, strict=args.window is not None)


def _bench(args: argparse.Namespace) -> int:
    from .analysis.plots import plot_curves, save_figure

    check_out_folder(args.out)
    config = _fields_from(BenchConfig, args, budget_s=args.budget, recipe=_recipe(args), model_config=_trunk_config(args),
                          image_size=args.image_size or default_image_size(args.data))
    result = run_bench(config, args.device)
    print(bench_report(result))
    write_text_atomic(args.out / "bench.json", json.dumps(result, indent=1))
    if not result["training"]:
        print(f"wrote {args.out / 'bench.json'} (no training: --budget 0)")
        return 0
    curves = {name: t["curve"] for name, t in result["training"].items()}
    save_figure(plot_curves(curves, target=result["target_miou"]), args.out / "bench.png")
    print(f"wrote {args.out / 'bench.json'}, {args.out / 'bench.png'}")
    return 0


COMMANDS = {"train": _train, "evaluate": _evaluate, "predict": _predict, "bench": _bench}


def _named_by_flag(message: str, args: argparse.Namespace) -> str:
    """``message`` with a leading config or argument name (``encoder_blocks: …``) given as the user's
    flag (``--encoder-blocks: …``)."""
    field, sep, rest = message.partition(": ")
    if sep and field.isidentifier() and field in vars(args) and field not in POSITIONAL:
        return f"--{field.replace('_', '-')}: {rest}"
    return message


def main(argv: list[str] | None = None) -> int:
    """Run one command; an error is one line on stderr and exit status 2, Ctrl-C exit status 130."""
    args = _build_parser().parse_args(argv)
    warnings.showwarning = lambda message, *_, **__: print(f"warning: {message}", file=sys.stderr)  # one line each
    try:
        return COMMANDS[args.command](args)
    except (ValueError, TypeError, OSError, ImportError) as err:
        print(f"error: {_named_by_flag(str(err), args)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted: {args.command} stopped; files it writes are written whole or not at all", file=sys.stderr)
        return INTERRUPTED
