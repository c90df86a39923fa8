"""Training: the recipe (:mod:`.recipe`), the loop (:mod:`.loop`), scoring (:mod:`.evaluation`), a cache of trained
models (:mod:`.cache`), losses, optimisers, schedules, metrics, panoptic quality (:mod:`.panoptic`),
and data-parallel training under torchrun (:mod:`.distributed`)."""

from .cache import cached_fit
from .evaluation import evaluate, evaluate_instances
from .loop import History, NonFiniteLoss, TrainingInterrupted, TrainOptions, fit, training_loss
from .losses import segmentation_loss
from .metrics import ConfusionMatrix, Metrics
from .panoptic import PanopticMetrics, PanopticQuality, connected_instances
from .recipe import PLAIN, RECIPE, Recipe, recipe_for

__all__ = ["cached_fit", "History", "NonFiniteLoss", "TrainingInterrupted", "TrainOptions", "evaluate",
           "evaluate_instances", "fit", "training_loss", "segmentation_loss", "ConfusionMatrix", "Metrics", "PLAIN",
           "RECIPE", "Recipe", "recipe_for", "PanopticMetrics", "PanopticQuality", "connected_instances"]
