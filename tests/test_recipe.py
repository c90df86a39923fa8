"""The training recipe: one checked, frozen value that fit, the CLI, bench and checkpoints share."""

import dataclasses
import math

import pytest

from latentseg import PLAIN, RECIPE, Recipe, fit
from latentseg.training.loop import fit as loop_fit


def test_the_recipe_is_fits_default_and_plain_is_the_seeds_loop():
    assert fit is loop_fit
    import inspect

    assert inspect.signature(fit).parameters["recipe"].default is RECIPE
    assert (RECIPE.optimizer, RECIPE.schedule, RECIPE.batch_size) == ("muon", "wsd", 8)
    assert RECIPE.dice_weight > 0 and RECIPE.edge_weight > 0
    assert (PLAIN.optimizer, PLAIN.schedule, PLAIN.dice_weight, PLAIN.edge_weight) == ("adamw", "constant", 0, 0)


def test_replace_and_round_trip():
    changed = RECIPE.replace(lr=3e-3, batch_size=None)
    assert changed.lr == 3e-3 and changed.batch_size == RECIPE.batch_size and RECIPE.lr == 6e-3
    assert Recipe.from_dict({**changed.to_dict(), "epochs": 3, "model": "seed"}) == changed, "other keys are ignored"
    with pytest.raises(dataclasses.FrozenInstanceError):
        RECIPE.lr = 1.0
    with pytest.raises(ValueError, match=r"recipe: unknown keys \['learning_rate'\]"):
        RECIPE.replace(learning_rate=1e-3)


@pytest.mark.parametrize(("field", "value", "error", "words"), [
    ("lr", math.inf, ValueError, "lr: expected a finite number > 0, got inf"),
    ("lr", 0.0, ValueError, "lr: expected a finite number > 0, got 0.0"),
    ("lr", "fast", TypeError, "lr: expected a finite number > 0, got str 'fast'"),
    ("weight_decay", math.nan, ValueError, "weight_decay: expected a finite number ≥ 0, got nan"),
    ("weight_decay", -1.0, ValueError, "weight_decay: expected a finite number ≥ 0, got -1.0"),
    ("dice_weight", math.nan, ValueError, "dice_weight: expected a finite number ≥ 0, got nan"),
    ("edge_weight", -1, ValueError, "edge_weight: expected a finite number ≥ 0, got -1"),
    ("muon_momentum", 1.0, ValueError, r"muon_momentum: expected a number in \[0, 1\), got 1.0"),
    ("batch_size", 0, ValueError, "batch_size: expected a positive int, got 0"),
    ("optimizer", "lion", ValueError, "optimizer: expected one of"),
    ("schedule", "linear", ValueError, "schedule: expected one of"),
])
def test_bad_values_are_named(field, value, error, words):
    with pytest.raises(error, match=words):
        RECIPE.replace(**{field: value})


def test_recipe_for_turns_colour_jitter_off_only_where_brightness_is_the_signal():
    from latentseg.training import recipe_for

    assert recipe_for("synthetic") == RECIPE and recipe_for("folder") == RECIPE
    assert recipe_for("nuclei") == RECIPE.replace(colour_jitter=False)
