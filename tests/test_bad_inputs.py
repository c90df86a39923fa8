"""Bad input to the Python API, one row each: the call, the exception it raises and the words its message
must hold (what was expected, what came). The next bad input a user finds joins the table in one line.
The command line's table is ``test_cli_errors.py::test_bad_training_values_are_refused_up_front``."""

import pytest
import torch
from PIL import Image

from latentseg import PLAIN, evaluate, fit, synthetic_shapes
from latentseg.bench import BenchConfig
from latentseg.inference import predict_files, predict_image
from latentseg.models import build_model
from latentseg.pretrained import load_pretrained
from latentseg.run import RunConfig, train_run
from latentseg.training import TrainOptions

QUIET = TrainOptions(progress=False)

TINY = dict(feature_dim=8, latent_dim=8, num_latents=2, num_heads=2)


def tiny(num_classes: int = 4):
    return build_model("article", num_classes=num_classes, **TINY)


def shapes_with(**change):
    """Eight 16×16 shapes with one field changed: ``mask=v`` puts class ``v`` in one pixel, ``uint8`` stores bytes."""
    data = synthetic_shapes(8, size=16)
    if "mask" in change:
        data.masks[0, 0, 0] = change["mask"]
    if change.get("uint8"):
        data.images = (data.images * 255).to(torch.uint8)
    return data


def fit_once(data):
    return fit(tiny(), data, recipe=PLAIN, epochs=1, options=QUIET)


CASES = [  # id, call(tmp_path, image file), exception, words
    ("train_run seed as text", lambda t, f: RunConfig(seed="0"), TypeError, "seed: expected an int ≥ 0, got str '0'"),
    ("train_run recipe as dict", lambda t, f: RunConfig(recipe={"lr": 1}), TypeError,
     "recipe: expected a latentseg Recipe"),
    ("train_run num_classes", lambda t, f: RunConfig(model_config={"num_classes": 9}), ValueError,
     "model_config: num_classes comes from the data and cannot be set, got 9"),
    ("train_run out as int", lambda t, f: train_run(123), TypeError, "out: expected a folder path"),
    ("predict_files model None", lambda t, f: predict_files(None, [f], t / "o"), TypeError,
     "model: expected a latentseg model (load_checkpoint or build_model), got NoneType"),
    ("predict_files model as path", lambda t, f: predict_files("model.pt", [f], t / "o"), TypeError,
     "model: expected a latentseg model"),
    ("predict_files max_size 0", lambda t, f: predict_files(tiny(), [f], t / "o", max_size=0), ValueError,
     "max_size: expected a positive int, got 0"),
    ("predict_files out None", lambda t, f: predict_files(tiny(), [f], None), TypeError,
     "out: expected the path of a folder to write into, got NoneType"),
    ("predict_files no images", lambda t, f: predict_files(tiny(), [], t / "o"), ValueError,
     "images: expected at least one image file or folder, got none"),
    ("predict_image negative size", lambda t, f: predict_image(tiny(), torch.rand(3, 16, 16), size=(-1, 5)), ValueError,
     "got (-1, 5)"),
    ("predict_image zero size", lambda t, f: predict_image(tiny(), torch.rand(3, 16, 16), size=(0, 0)), ValueError,
     "got (0, 0)"),
    ("load_pretrained a list", lambda t, f: load_pretrained(["x"]), ValueError,
     "name: expected one of the shipped checkpoints"),
    ("load_pretrained on a tpu", lambda t, f: load_pretrained("experts-crowded", device="tpu"), ValueError,
     "device: expected 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got 'tpu'"),
    ("predict with meta weights", lambda t, f: tiny().to("meta").predict(torch.rand(1, 3, 16, 16)), ValueError,
     "model: its weights are on the meta device"),
    ("fit on class -1", lambda t, f: fit_once(shapes_with(mask=-1)), ValueError,
     "train_data: masks: expected class indices 0–3 (or 255, ignored), got [-1]"),
    ("fit on class 9", lambda t, f: fit_once(shapes_with(mask=9)), ValueError, "got [9]"),
    ("fit on uint8 images", lambda t, f: fit_once(shapes_with(uint8=True)), TypeError,
     "train_data: images: expected floats in [0, 1], got dtype torch.uint8"),
    ("evaluate with too few classes", lambda t, f: evaluate(tiny(num_classes=2), shapes_with()), ValueError,
     "data: the model has num_classes=2 but the data has 4 classes"),
    ("RunConfig unknown model", lambda t, f: RunConfig(model="bogus"), ValueError, "model: expected one of"),
    ("RunConfig data None", lambda t, f: RunConfig(data=None), TypeError, "data: expected a source name"),
    ("RunConfig negative size", lambda t, f: RunConfig(image_size=-64), ValueError, "image_size: expected a positive"),
    ("train_run metadata list", lambda t, f: train_run(None, metadata=[1]), TypeError, "metadata: expected a dict"),
    ("fit seed as text", lambda t, f: fit(tiny(), shapes_with(), seed="0", options=QUIET), TypeError, "seed: expected an int"),
    ("TrainOptions progress 'no'", lambda t, f: TrainOptions(progress="no"), TypeError,
     "progress: expected True or False, got str 'no'"),
    ("BenchConfig nan budget", lambda t, f: BenchConfig(budget_s=float("nan")), ValueError, "budget_s: expected seconds"),
    ("BenchConfig models as text", lambda t, f: BenchConfig(models="experts"), TypeError, "models: expected a list"),
    ("BenchConfig precision", lambda t, f: BenchConfig(precision="x"), ValueError, "precision: expected one of"),
    ("BenchConfig zero steps", lambda t, f: BenchConfig(steps=0), ValueError, "steps: expected a positive"),
    ("BenchConfig seeds as text", lambda t, f: BenchConfig(seeds="01"), TypeError, "seeds: expected ints ≥ 0"),
    ("predict_files tiling 64", lambda t, f: predict_files(tiny(), [f], t / "o", tiling=64), TypeError,
     "tiling: expected a latentseg Tiling"),
    ("predict_files colour 'no'", lambda t, f: predict_files(tiny(), [f], t / "o", colour="no"), TypeError,
     "colour: expected True or False"),
    ("predict_files one class name", lambda t, f: predict_files(tiny(), [f], t / "o", class_names=["a"]), ValueError,
     "class_names: expected 4 names, one per class of the model, got 1"),
]


@pytest.mark.parametrize(("call", "error", "words"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_input_is_named_with_what_was_expected(tmp_path, call, error, words):
    image = tmp_path / "a.png"
    Image.new("RGB", (16, 16)).save(image)
    with pytest.raises(error) as raised:
        call(tmp_path, image)
    assert words in str(raised.value)
    assert not (tmp_path / "o").exists() and not (tmp_path / "run").exists(), "nothing is written before the refusal"
