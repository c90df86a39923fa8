"""What the command line does with bad input and interruptions: one line on stderr and exit status 2
(130 for Ctrl-C), found before long work starts, and nothing lost or mixed on disk."""

import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from test_cli import TINY, TINY_DATA, cli

from latentseg.data.folder import write_shapes_folder


def refused(*args, words: str) -> str:
    result = cli(*args, check=False)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert words in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    cli("train", *TINY, "--out", out)
    return out / "model.pt"


@pytest.mark.parametrize(("flags", "words"), [
    (["--lr", "inf"], "argument --lr: expected a finite number > 0, got inf"),
    (["--lr", "nan"], "argument --lr: expected a finite number > 0, got nan"),
    (["--weight-decay", "nan"], "argument --weight-decay: expected a finite number ≥ 0, got nan"),
    (["--weight-decay", "-1"], "argument --weight-decay: expected a finite number ≥ 0, got -1"),
    (["--muon-momentum", "1"], "--muon-momentum: expected a number in [0, 1), got 1.0"),
    (["--texture-refill", "2"], "--texture-refill: expected a probability in [0, 1], got 2.0"),
    (["--texture-energy"], "--texture-energy: applies to the experts and improved models, not to article"),
    (["--encoder-blocks", "4"], "--encoder-blocks: applies to the experts and improved models, not to article"),
    (["--rounds", "3"], "--rounds: applies to the experts and improved models, not to article"),
    (["--model", "improved", "--rounds", "17"], "--rounds: expected a positive int of at most 16"),
    (["--model", "improved", "--masked-attention"], "--masked-attention: applies to the experts model, not to improved"),
    (["--model", "improved", "--mask-points", "2048"], "--mask-points: applies to the experts model, not to improved"),
    (["--model", "experts", "--num-latents", "16", "--mask-points", "5000"],
     "--mask-points: expected a positive int of at most 4096"),
    (["--model", "improved", "--mask-dim", "64"], "--mask-dim: applies to the experts model, not to improved"),
    (["--model", "experts", "--mask-dim", "0"], "argument --mask-dim: expected a positive integer, got 0"),
    (["--encoder-blocks", "0"], "argument --encoder-blocks: expected a positive integer, got 0"),
    (["--model", "improved", "--encoder-blocks", "100000000"], "--encoder-blocks: expected a positive int of at most 64"),
    (["--image-size", "0"], "argument --image-size: expected an image side from 16 to 4096 pixels, got 0"),
    (["--seed", "99999999999999999999"], "argument --seed: expected an integer from 0 to 2**63 − 1, got 99999999999999999999"),
    (["--epochs", "0"], "argument --epochs: expected a positive integer, got 0"),
    (["--batch-size", "two"], "argument --batch-size: expected a positive integer, got 'two'"),
    (["--num-workers", "-1"], "argument --num-workers: expected an integer ≥ 0, got -1"),
])
def test_bad_training_values_are_refused_up_front(tmp_path, flags, words):
    refused("train", *TINY, *flags, "--out", tmp_path / "run", words=words)
    assert not (tmp_path / "run").exists()


def test_zero_never_silently_means_default(model_path, tmp_path):
    refused("evaluate", model_path, "--num-images", "0", words="argument --num-images: expected a positive integer")
    image = tmp_path / "a.png"
    Image.fromarray(np.zeros((20, 20, 3), dtype=np.uint8)).save(image)
    refused("predict", model_path, image, "--out", tmp_path / "m", "--max-size", "0",
            words="argument --max-size: expected a positive integer, got 0")
    refused("predict", model_path, image, "--out", tmp_path / "m", "--max-size", "2",
            words="--max-size: expected at least the model's smallest input side 4, got 2")


def test_a_text_file_is_not_a_checkpoint(tmp_path):
    (tmp_path / "notes.txt").write_text("e" * 500)
    refused("evaluate", tmp_path / "notes.txt", words="notes.txt is not a readable latentseg checkpoint")


def test_predict_out_that_is_a_file(model_path, tmp_path):
    image = tmp_path / "a.png"
    Image.fromarray(np.zeros((20, 20, 3), dtype=np.uint8)).save(image)
    (tmp_path / "taken").write_text("mine")
    refused("predict", model_path, image, "--out", tmp_path / "taken",
            words="taken: cannot write into it, it is a file, not a folder")
    assert (tmp_path / "taken").read_text() == "mine"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_device_that_is_not_there(tmp_path):
    refused("train", *TINY, "--device", "cuda", "--out", tmp_path, words="device: cuda was asked for, but")


@pytest.mark.parametrize("blocker", ["file", "folder named model.pt", "other files", "other files in run-interrupted"])
def test_train_out_that_cannot_take_the_run_is_found_before_training(tmp_path, blocker):
    out = tmp_path / "run"
    if blocker == "other files in run-interrupted":  # where Ctrl-C would keep the model: never replaced with these
        (tmp_path / "run-interrupted").mkdir()
        (tmp_path / "run-interrupted" / "notes.txt").write_text("mine")
        words = "run-interrupted: holds notes.txt, which are not a run's files"
    elif blocker == "file":
        out.write_text("mine")
        words = "run: is a file; expected a folder"
    elif blocker == "folder named model.pt":
        (out / "model.pt").mkdir(parents=True)
        words = "holds model.pt, which are not a run's files"
    else:
        out.mkdir()
        (out / "thesis.tex").write_text("mine")
        words = "holds thesis.tex, which are not a run's files"
    result = cli("train", *TINY, "--out", out, check=False)
    assert result.returncode == 2 and words in result.stderr and "training the" not in result.stdout, result.stderr


def test_a_new_run_replaces_the_old_one_whole(tmp_path):
    out = tmp_path / "run"
    cli("train", *TINY, "--out", out)
    first = (out / "model.pt").read_bytes()
    cli("train", *TINY, "--seed", "1", "--out", out)
    assert (out / "model.pt").read_bytes() != first
    assert sorted(p.name for p in out.iterdir()) == ["history.json", "model.pt", "predictions.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"], "no staging folders left behind"
    assert oct(os.stat(out / "model.pt").st_mode & 0o777) != oct(0o600), "files get the umask's mode"


def test_ctrl_c_stops_at_the_end_of_a_step_and_keeps_the_last_run(tmp_path):
    out = tmp_path / "run"
    cli("train", *TINY, "--out", out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    loud = [flag for flag in TINY if flag != "--quiet"]  # prints a line at the end of every epoch
    args = [sys.executable, "-u", "-m", "latentseg", "train", *loud, "--epochs", "500", "--out", str(out)]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert "training the" in process.stdout.readline()
    assert process.stdout.readline().startswith("epoch 1  step 2"), "into fit: a whole epoch of steps done"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    lines = stderr.strip().splitlines()
    assert "Traceback" not in stderr and lines[-1].startswith("interrupted at step "), stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before, "the previous run is intact"
    saved = torch.load(tmp_path / "run-interrupted" / "model.pt", weights_only=True)
    assert saved["metadata"]["interrupted_at_step"] >= 1


def test_many_classes_without_names_train_and_draw(tmp_path):
    root = write_shapes_folder(tmp_path / "data", num_images=10, size=32)
    (root / "classes.txt").unlink()
    for mask in (root / "masks").glob("*.png"):
        values = np.asarray(Image.open(mask)).copy()
        values[values == 3] = 9  # class 9, and no names: ten classes, more than the palette's eight colours
        Image.fromarray(values).save(mask)
    cli("train", f"--data=folder:{root}", *TINY_DATA, "--out", tmp_path / "run")
    assert torch.load(tmp_path / "run" / "model.pt", weights_only=True)["class_names"][9] == "class 9"
    assert (tmp_path / "run" / "predictions.png").stat().st_size > 0


def test_jpeg_masks_are_named_as_such(tmp_path):
    root = write_shapes_folder(tmp_path / "data", num_images=4, size=32)
    for mask in (root / "masks").glob("*.png"):
        Image.open(mask).save(mask.with_suffix(".jpg"))
        mask.unlink()
    refused("train", f"--data=folder:{root}", *TINY_DATA, "--out", tmp_path / "run",
            words="masks must be PNG files (lossless")


def test_evaluating_on_data_with_other_class_names_is_refused_unless_asked(model_path, tmp_path):
    root = write_shapes_folder(tmp_path / "pets", num_images=10, size=32)
    (root / "classes.txt").write_text("cat\ndog\nbird\nfish\n")
    refused("evaluate", model_path, f"--data=folder:{root}",
            words="trained on the classes background, circle, square, triangle, but the folder")
    assert "IoU fish" in cli("evaluate", model_path, f"--data=folder:{root}", "--any-class-names").stdout


def test_ctrl_c_while_starting_is_one_line_too(tmp_path):
    """Interrupted during the imports (torch takes a second or more to load): one line, exit 130."""
    import time

    process = subprocess.Popen([sys.executable, "-m", "latentseg", "train", "--out", str(tmp_path / "run")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130 and len(stderr.strip().splitlines()) == 1 and "interrupted" in stderr, stderr
    assert not (tmp_path / "run").exists()


def test_sizes_below_what_the_shapes_need_are_named_by_their_flag(model_path, tmp_path):
    refused("evaluate", model_path, "--image-size", "3", words="argument --image-size: expected an image side from 16")
    refused("bench", "--sizes", "2", "--out", tmp_path / "b", words="argument --sizes: expected an image side from 16")


def test_one_seed_twice_is_not_a_spread(tmp_path):
    refused("bench", "--seeds", "0", "0", "--steps", "1", "--out", tmp_path / "b",
            words="--seeds: expected different seeds (one seed twice is one run, not a spread), got [0, 0]")
