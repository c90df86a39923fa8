"""The training recipe: how a model is optimised, as one frozen value that ``fit``, ``train``,
``bench``, the notebooks and the checkpoints all read.

- :data:`RECIPE` is what ``python -m latentseg train`` and ``bench`` use, and ``fit``'s default:
  Muon for the hidden weight matrices and AdamW for the rest (:mod:`.optim`), with Muon's momentum at
  0.85 (the usual 0.95 averages over too many of a short run's few hundred steps); batch 8; peak
  learning rate 6·10⁻³, held, then decayed linearly over the second half (``wsd``, :mod:`.schedules`);
  cross-entropy plus soft Dice, with pixels on class boundaries counting 5 times (:mod:`.losses`);
  colour jitter on every batch.
- :data:`PLAIN` is the article's loop, AdamW on plain cross-entropy at a constant rate, no jitter.
  Notebooks 02–04 train with it because they teach the article's design and the loop itself;
  notebook 06 changes an AdamW recipe into :data:`RECIPE` one field at a time and measures each.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from ..checks import check_number, check_positive_float, check_positive_int
from .optim import OPTIMIZERS
from .schedules import SCHEDULES


@dataclass(frozen=True)
class Recipe:
    """Optimiser, schedule, batch and loss of a training run; every value is checked on creation.

    - ``optimizer``: ``muon`` or ``adamw``; ``lr``: peak learning rate (both optimisers);
      ``muon_momentum`` in ``[0, 1)``; ``weight_decay`` ≥ 0 (decoupled);
    - ``schedule``: ``constant``, ``cosine`` or ``wsd``; ``batch_size`` images per step (per process);
    - ``dice_weight``: loss = cross-entropy + this × soft Dice; ``edge_weight``: boundary pixels count
      ``1 + edge_weight`` times in the cross-entropy;
    - ``colour_jitter``: every training batch gets random hue, saturation, brightness, contrast,
      greyscale, channel order and inversion (:class:`latentseg.data.colour.ColourJitter`; masks
      untouched), so that colour cannot stand in for shape;
    - ``texture_refill``: the share of training images repainted with patterns from their class maps
      (:class:`latentseg.data.refill.TextureRefill`), so that steps of colour cannot stand in for edges.
    """

    optimizer: str = "muon"
    lr: float = 6e-3
    muon_momentum: float = 0.85
    weight_decay: float = 1e-4
    schedule: str = "wsd"
    batch_size: int = 8
    dice_weight: float = 1.0
    edge_weight: float = 4.0
    colour_jitter: bool = True
    texture_refill: float = 0.0

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer: expected one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule: expected one of {SCHEDULES}, got {self.schedule!r}")
        check_positive_int("batch_size", self.batch_size)
        check_positive_float("lr", self.lr)
        check_number("muon_momentum", self.muon_momentum, "a number in [0, 1)", lambda v: 0 <= v < 1)
        for name in ("weight_decay", "dice_weight", "edge_weight"):
            check_number(name, getattr(self, name))
        check_number("texture_refill", self.texture_refill, "a probability in [0, 1]", lambda v: 0 <= v <= 1)
        if not isinstance(self.colour_jitter, bool):
            raise TypeError(f"colour_jitter: expected True or False, got {self.colour_jitter!r}")

    def replace(self, **changes: Any) -> Recipe:
        """A copy with ``changes`` (recipe fields only; ``None`` keeps the current value)."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"recipe: unknown keys {unknown}; expected a subset of {sorted(known)}")
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recipe:
        """From a plain dict such as a checkpoint's metadata; keys that are not recipe fields are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


RECIPE = Recipe()
PLAIN = Recipe(optimizer="adamw", lr=3e-3, schedule="constant", batch_size=16, dice_weight=0.0, edge_weight=0.0,
               colour_jitter=False)

#: data where colour jitter is off by default: on the nuclei stack brightness is the signal (nuclei are
#: bright, background dark), and inverting or rescaling it only teaches the model to doubt it
NO_JITTER_DATA = ("nuclei",)


def recipe_for(data: str) -> Recipe:
    """:data:`RECIPE` for the data source ``data`` (a ``--data`` name): colour jitter off for
    :data:`NO_JITTER_DATA`, the rest unchanged. What ``train`` and ``bench`` default to."""
    return RECIPE.replace(colour_jitter=False) if data in NO_JITTER_DATA else RECIPE
