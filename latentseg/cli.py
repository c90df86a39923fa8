"""Command line: ``python -m latentseg train | evaluate | predict | bench``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from .bench import bench_report, run_bench
from .checkpoint import load_checkpoint, save_checkpoint
from .data.download import DATA_ENV
from .data.sources import load_splits, load_test, parse_source
from .device import PRECISIONS, pick_device, seed_everything
from .files import write_text_atomic
from .inference import predict_image, read_image, write_mask, write_png
from .models import MODELS, build_model
from .models.base import count_parameters
from .training import RECIPE, Recipe, distributed, evaluate, fit
from .training.optim import OPTIMIZERS
from .training.schedules import SCHEDULES

DEFAULT_OUT = Path("runs") / "latest"
LATENT_FLAGS = ("feature-dim", "latent-dim", "num-latents", "num-heads")


def _add_recipe_arguments(parser: argparse.ArgumentParser, batch_help: str) -> None:
    """The fields of :class:`~latentseg.training.Recipe`, :data:`RECIPE`'s values as defaults (train and bench)."""
    parser.add_argument("--batch-size", type=int, default=RECIPE.batch_size, help=batch_help)
    parser.add_argument("--lr", type=float, default=RECIPE.lr, help="peak learning rate (both optimisers)")
    parser.add_argument("--optimizer", default=RECIPE.optimizer, choices=list(OPTIMIZERS),
                        help="muon: Muon for hidden weight matrices, AdamW for the rest; adamw: AdamW for everything")
    parser.add_argument("--muon-momentum", type=float, default=RECIPE.muon_momentum,
                        help="Muon's momentum (0.95 is usual; short runs do better with less)")
    parser.add_argument("--weight-decay", type=float, default=RECIPE.weight_decay, help="decoupled weight decay")
    parser.add_argument("--dice-weight", type=float, default=RECIPE.dice_weight,
                        help="loss = cross-entropy + this × soft Dice (0: cross-entropy alone)")
    parser.add_argument("--edge-weight", type=float, default=RECIPE.edge_weight,
                        help="pixels at class boundaries count 1 + this in the cross-entropy (0: all alike)")
    parser.add_argument("--schedule", default=RECIPE.schedule, choices=list(SCHEDULES),
                        help="learning-rate schedule (on the clock under a time budget): wsd holds the peak, then "
                             "decays linearly over the second half")


def _recipe(args: argparse.Namespace) -> Recipe:
    """The recipe given (or defaulted) on the command line; a bad value is named in a ``ValueError``."""
    return Recipe.from_dict(vars(args))


def _overrides(args: argparse.Namespace) -> dict[str, int]:
    """Config fields given on the command line; the U-Net has no latents, so it refuses them."""
    given = {flag: getattr(args, flag.replace("-", "_")) for flag in LATENT_FLAGS}
    given = {flag: value for flag, value in given.items() if value is not None}
    if given and not MODELS[args.model].has_experts:
        latent = sorted(name for name, model in MODELS.items() if model.has_experts)
        raise ValueError(f"--{next(iter(given))}: applies to the latent models ({', '.join(latent)}), not to {args.model}")
    return {flag.replace("-", "_"): value for flag, value in given.items()}


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps")


def _add_train_parser(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("train", help="train on the built-in synthetic shapes; save checkpoint, picture, history",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    t.add_argument("--model", default="improved", choices=sorted(MODELS),
                   help="improved: the latent-expert model of notebook 06; seed: the article's; unet: the baseline")
    t.add_argument("--data", default="synthetic", metavar="synthetic|pets|folder:PATH",
                   help="built-in shapes; Oxford-IIIT Pet (downloaded once, about 800 MB); or PATH with images/ "
                        "and masks/ (or train/, val/, test/ each holding both)")
    t.add_argument("--data-root", type=Path, default=None,
                   help=f"where pets is cached; default ${DATA_ENV}, then ~/.cache/latentseg")
    t.add_argument("--epochs", type=int, default=3)
    t.add_argument("--train-size", type=int, default=None,
                   help="training images; default 4000 synthetic, every image of real data")
    t.add_argument("--val-size", type=int, default=None,
                   help="validation images (checked every epoch); default 300 synthetic, all of real data")
    t.add_argument("--test-size", type=int, default=None, help="test images (final metrics); default 500 synthetic, all real")
    t.add_argument("--image-size", type=int, default=None,
                   help="side of the square training images; default 64 synthetic, 128 real (resized and cropped)")
    _add_recipe_arguments(t, "per process (under torchrun the global batch is this × processes); on a CPU small "
                             "batches give more updates per second")
    t.add_argument("--max-seconds", type=float, default=None, help="stop training after this many seconds")
    t.add_argument("--seed", type=int, default=0, help="fixes data, initialisation and shuffling")
    for flag in LATENT_FLAGS:
        t.add_argument(f"--{flag}", type=int, default=None, help="latent models only; default: the model's own")
    t.add_argument("--precision", default="auto", choices=list(PRECISIONS),
                   help="autocast dtype; auto: bf16 on CUDA (fp16 on GPUs without bf16), fp32 on CPU")
    t.add_argument("--compile", action="store_true", help="train through torch.compile (slow start, faster steps on GPU)")
    t.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                   help="NHWC images and conv weights; default on for CUDA, off elsewhere")
    t.add_argument("--num-workers", type=int, default=0,
                   help="background processes that read and augment training batches (real photos on a GPU: 4–8)")
    t.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for model.pt, predictions.png, history.json")
    t.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    _add_common(t)


def _add_evaluate_parser(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser("evaluate", help="metrics of a checkpoint on a synthetic test split",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    e.add_argument("checkpoint", type=Path)
    e.add_argument("--data", default=None, metavar="synthetic|pets|folder:PATH",
                   help="default: the data the checkpoint was trained on")
    e.add_argument("--data-root", type=Path, default=None, help=f"where pets is cached; default ${DATA_ENV}")
    e.add_argument("--seed", type=int, default=0, help="chooses the synthetic test split (disjoint from training)")
    e.add_argument("--num-images", type=int, default=None, help="default 500 synthetic, every test image of real data")
    e.add_argument("--image-size", type=int, default=None, help="default: the size the checkpoint was trained at")
    e.add_argument("--batch-size", type=int, default=64)
    e.add_argument("--json", action="store_true", help="print one JSON object of metrics")
    _add_common(e)


def _add_predict_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="write one PNG mask of class indices per input image",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("checkpoint", type=Path)
    p.add_argument("images", type=Path, nargs="+", help="PNG/JPEG images of any size (at least 4×4)")
    p.add_argument("--out", type=Path, required=True, help="folder for the masks (<stem>.png)")
    p.add_argument("--max-size", type=int, default=None,
                   help="downscale longer sides above this for the forward pass; default: the training size for a "
                        "model trained on real photos, 1024 otherwise")
    p.add_argument("--color", action="store_true", help="also write <stem>_color.png, a coloured mask to look at")
    _add_common(p)


def _add_bench_parser(sub: argparse._SubParsersAction) -> None:
    b = sub.add_parser("bench", help="throughput, memory, and mIoU within a training-time budget, per model",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    b.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    b.add_argument("--budget", type=float, default=60.0,
                   help="training seconds per model (validation not counted); 0 skips training")
    b.add_argument("--sizes", type=int, nargs="+", default=[64], help="image sizes for the throughput rows")
    _add_recipe_arguments(b, "for training and throughput")
    b.add_argument("--repeats", type=int, default=5, help="timed steps per throughput figure")
    b.add_argument("--precision", default="auto", choices=list(PRECISIONS),
                   help="autocast for the throughput rows; auto: bf16 on CUDA, fp32 on CPU")
    b.add_argument("--attention-sizes", type=int, nargs="*", default=[64, 128, 256],
                   help="image sizes whose (size/4)² tokens time one attention layer: SDPA vs nn.MultiheadAttention "
                        "vs full self-attention (none: skip)")
    b.add_argument("--image-size", type=int, default=64, help="synthetic images for the training race")
    b.add_argument("--train-size", type=int, default=4000)
    b.add_argument("--val-size", type=int, default=200, help="validated every --val-every steps")
    b.add_argument("--test-size", type=int, default=500)
    b.add_argument("--val-every", type=int, default=50)
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--seeds", type=int, nargs="+", default=None,
                   help="train every model once per seed and report mean ± std (default: --seed only)")
    b.add_argument("--out", type=Path, default=Path("runs") / "bench", help="folder for bench.json and bench.png")
    _add_common(b)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m latentseg", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="{train,evaluate,predict,bench}")
    for add in (_add_train_parser, _add_evaluate_parser, _add_predict_parser, _add_bench_parser):
        add(sub)
    return parser


def _print_metrics(metrics: dict, class_names: list[str]) -> None:
    print(f"mIoU {metrics['miou']:.4f}   pixel accuracy {metrics['pixel_accuracy']:.4f}")
    for name, iou in zip(class_names, metrics["per_class_iou"], strict=True):
        print(f"  IoU {name:<12} {'n/a' if iou is None else f'{iou:.4f}'}")


def _image_size(data: str, given: int | None) -> int:
    return given or (64 if parse_source(data)[0] == "synthetic" else 128)


def _train(args: argparse.Namespace) -> int:
    """Train; under torchrun every process runs this, and only rank 0 prints, tests and writes."""
    device = distributed.setup(args.device) or pick_device(args.device)
    try:
        return _train_process(args, device)
    finally:
        distributed.shutdown()


def _train_process(args: argparse.Namespace, device: torch.device) -> int:
    from .analysis.plots import save_figure, show_predictions

    main, world = distributed.is_main(), distributed.world_size()
    say = print if main else (lambda *a, **k: None)
    recipe = _recipe(args)  # bad values are refused before any data is read
    seed_everything(args.seed)  # the same initial weights in every process
    size = _image_size(args.data, args.image_size)
    data = load_splits(args.data, size, args.seed, args.train_size, args.val_size, args.test_size, args.data_root)
    model = build_model(args.model, num_classes=len(data.class_names), **_overrides(args))
    processes = f", {world} processes × batch {args.batch_size}" if world > 1 else ""
    say(f"training the {args.model} model ({count_parameters(model):,} parameters) on {data.description}, "
        f"{args.epochs} epochs, device {device}{processes}")
    start = time.perf_counter()
    history = fit(model, data.train, data.val, recipe=recipe, epochs=args.epochs, device=device, seed=args.seed,
                  max_seconds=args.max_seconds, precision=args.precision, compile=args.compile,
                  channels_last=args.channels_last, num_workers=args.num_workers,
                  progress=not args.quiet and main, verbose=not args.quiet and main)
    seconds = time.perf_counter() - start
    if not main:
        distributed.barrier()  # wait while rank 0 tests and writes
        return 0
    metrics = evaluate(model, data.test, device=device).to_dict(data.class_names)
    print(f"trained in {seconds:.1f} s; test split ({len(data.test)} images):")
    _print_metrics(metrics, list(data.class_names))

    args.out.mkdir(parents=True, exist_ok=True)
    metadata = {"model": args.model, "data": args.data, "image_size": size, "seed": args.seed, "epochs": args.epochs,
                "train_size": len(data.train), "train_seconds": seconds, "processes": world,
                **recipe.to_dict(), "history": history.records, "test_metrics": metrics}
    save_checkpoint(args.out / "model.pt", model.cpu(), data.class_names, metadata)
    write_text_atomic(args.out / "history.json", json.dumps(history.records, indent=1))
    shown = data.test_examples(8)
    save_figure(show_predictions(shown.images, shown.masks, model.predict(shown.images), data.class_names),
                args.out / "predictions.png")
    print(f"wrote {args.out / 'model.pt'}, {args.out / 'predictions.png'}, {args.out / 'history.json'}")
    distributed.barrier()
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    model, info = load_checkpoint(args.checkpoint)
    metadata = info["metadata"] or {}
    source = args.data or metadata.get("data", "synthetic")
    size = args.image_size or metadata.get("image_size") or _image_size(source, None)
    test = load_test(source, size, args.seed, args.num_images, args.data_root)
    class_names = getattr(test, "class_names", None)
    if model.num_classes != len(class_names):
        raise ValueError(f"checkpoint: the {source} data has {len(class_names)} classes ({', '.join(class_names)}), "
                         f"but the model predicts {model.num_classes}")
    metrics = evaluate(model, test, batch_size=args.batch_size, device=args.device).to_dict(class_names)
    metrics.update(checkpoint=str(args.checkpoint), data=source, split="test", seed=args.seed, num_images=len(test),
                   image_size=size)
    if args.json:
        print(json.dumps(metrics))
    else:
        print(f"{args.checkpoint}: {source} test split ({len(test)} images at {size}×{size})")
        _print_metrics(metrics, list(class_names))
    return 0


def _predict(args: argparse.Namespace) -> int:
    from .analysis.plots import colorize

    stems = [path.stem for path in args.images]
    clashes = sorted({s for s in stems if stems.count(s) > 1})
    if clashes:
        raise ValueError(f"images: several inputs share a file stem, so their masks would overwrite each other: {clashes}")
    model, info = load_checkpoint(args.checkpoint, device=pick_device(args.device))
    metadata = info["metadata"] or {}
    real = parse_source(metadata.get("data", "synthetic"))[0] != "synthetic"
    max_size = args.max_size or (metadata.get("image_size", 1024) if real else 1024)
    images = [read_image(path, model.config.in_channels) for path in args.images]  # read all before writing any
    args.out.mkdir(parents=True, exist_ok=True)
    for path, image in zip(args.images, images, strict=True):
        mask = predict_image(model, image, max_size=max_size)
        write_mask(args.out / f"{path.stem}.png", mask)
        if args.color:
            write_png(args.out / f"{path.stem}_color.png", colorize(mask))
        counts = torch.bincount(mask.flatten(), minlength=model.num_classes).tolist()
        print(f"{path} → {args.out / (path.stem + '.png')}  {mask.shape[1]}×{mask.shape[0]}  pixels per class {counts}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from .analysis.plots import plot_curves, save_figure

    result = run_bench(args.models, args.budget, args.sizes, args.repeats, args.device, args.seed,
                       image_size=args.image_size, train_size=args.train_size, val_size=args.val_size,
                       test_size=args.test_size, val_every=args.val_every, precision=args.precision,
                       attention_sizes=args.attention_sizes, seeds=args.seeds, recipe=_recipe(args))
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


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (ValueError, TypeError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
