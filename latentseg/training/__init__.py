"""Training: the recipe (:mod:`.recipe`), the loop and evaluation (:mod:`.loop`), a cache of trained
models (:mod:`.cache`), losses, optimisers, schedules, metrics, panoptic quality (:mod:`.panoptic`),
and data-parallel training under torchrun (:mod:`.distributed`)."""

from .cache import cached_fit
from .loop import History, NonFiniteLoss, TrainingInterrupted, evaluate, evaluate_instances, fit, training_loss
from .losses import segmentation_loss
from .metrics import ConfusionMatrix, Metrics
from .panoptic import PanopticMetrics, PanopticQuality, connected_instances
from .recipe import PLAIN, RECIPE, Recipe, recipe_for

__all__ = ["cached_fit", "History", "NonFiniteLoss", "TrainingInterrupted", "evaluate", "evaluate_instances", "fit",
           "training_loss", "segmentation_loss", "ConfusionMatrix", "Metrics", "PLAIN", "RECIPE", "Recipe", "recipe_for",
           "PanopticMetrics", "PanopticQuality", "connected_instances"]
