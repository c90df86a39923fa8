"""latentseg: semantic segmentation with latent attention and expert segmentation."""

from .attention import ExpertSegmentation, LatentAttention
from .checkpoint import load_checkpoint, save_checkpoint
from .data import SHAPE_CLASSES, SegmentationData, noise_data, synthetic_shapes
from .device import pick_device, seed_everything
from .encoder import SimpleEncoder
from .folder import folder_dataset
from .metrics import ConfusionMatrix, Metrics
from .model import ModelConfig, SegmentationModel, SegmentationOutput, count_parameters
from .pets import oxford_pets
from .sources import load_splits
from .train import History, evaluate, fit

__version__ = "0.1.0"
REPO = "latentseg/latentseg"  # GitHub owner/name: the one place notebooks' badges and install cells come from
REPO_URL = f"https://github.com/{REPO}"

__all__ = [
    "SimpleEncoder", "LatentAttention", "ExpertSegmentation", "SegmentationModel", "SegmentationOutput",
    "ModelConfig", "count_parameters", "SegmentationData", "synthetic_shapes", "noise_data", "SHAPE_CLASSES",
    "fit", "evaluate", "History", "ConfusionMatrix", "Metrics", "save_checkpoint", "load_checkpoint",
    "pick_device", "seed_everything", "oxford_pets", "folder_dataset", "load_splits",
]
