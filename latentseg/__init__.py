"""latentseg: semantic segmentation with latent attention and expert segmentation.

The package in wings: :mod:`latentseg.models` (the article's model, the improved one, the U-Net),
:mod:`latentseg.data` (synthetic shapes, folders, Pets), :mod:`latentseg.training` (the recipe, the
loop, losses, optimisers, metrics), and on top :mod:`latentseg.analysis` (probes, specialisation,
plots, widgets), :mod:`latentseg.bench`, whole runs (:mod:`latentseg.run`, :mod:`latentseg.inference`) and
the command line (:mod:`latentseg.cli`), which only parses.
"""

from . import _starting  # first: quiet Ctrl-C while a command starts (see the module)
from .checkpoint import load_checkpoint, save_checkpoint
from .data import SHAPE_CLASSES, SegmentationData, folder_dataset, load_splits, noise_data, oxford_pets, synthetic_shapes
from .device import pick_device, seed_everything
from .inference import predict_files, predict_image
from .models import (
    ExpertSegmentation,
    LatentAttention,
    ModelConfig,
    SegmentationModel,
    SegmentationOutput,
    SimpleEncoder,
    build_model,
    count_parameters,
)
from .run import RunConfig, TrainingRun, train_run
from .training import PLAIN, RECIPE, ConfusionMatrix, History, Metrics, Recipe, TrainOptions, cached_fit, evaluate, fit

__version__ = "0.1.0"
REPO = "latentseg/latentseg"  # GitHub owner/name: the one place notebooks' badges and install cells come from
REPO_URL = f"https://github.com/{REPO}"

__all__ = [
    "SimpleEncoder", "LatentAttention", "ExpertSegmentation", "SegmentationModel", "SegmentationOutput",
    "ModelConfig", "count_parameters", "build_model", "SegmentationData", "synthetic_shapes", "noise_data",
    "SHAPE_CLASSES", "fit", "TrainOptions", "cached_fit", "evaluate", "History", "Recipe", "RECIPE", "PLAIN",
    "ConfusionMatrix", "Metrics", "save_checkpoint", "load_checkpoint", "pick_device", "seed_everything", "oxford_pets",
    "folder_dataset", "load_splits", "train_run", "RunConfig", "TrainingRun", "predict_image", "predict_files",
]

_starting.restore_ctrl_c()
