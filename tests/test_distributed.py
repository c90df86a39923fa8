"""torchrun data-parallel training: 2 CPU processes (gloo) against 1 process with the same global batch."""

import json
import subprocess
import sys

import torch

DATA = ["--model", "article", "--train-size", "64", "--val-size", "8", "--test-size", "8", "--image-size", "32",
        "--epochs", "2", "--quiet", "--device", "cpu", "--dice-weight", "0", "--edge-weight", "0", "--no-colour-jitter"]
# Plain cross-entropy, no colour jitter (each process draws its own): a mean over pixels splits exactly across
# processes. Dice and the boundary weight do not (each process scores overlaps, or sums the weights it divides
# by, within its own half batch), so with either the runs differ by more than rounding.
# Tolerance: the two runs add the same gradients in a different order (an all-reduce of two half-batch
# means instead of one mean), so they differ by float rounding, which 16 Adam steps amplify a little.
LOSS_RTOL, WEIGHT_ATOL = 1e-5, 1e-3


def _train(out, *launcher, batch):
    result = subprocess.run([*launcher, "-m", "latentseg", "train", *DATA, "--batch-size", str(batch), "--out", str(out)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_two_processes_match_one_with_the_same_global_batch(tmp_path):
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    two = _train(tmp_path / "two", *torchrun, batch=4)
    one = _train(tmp_path / "one", sys.executable, batch=8)
    assert "processes ×" not in one

    assert "2 processes × batch 4" in two
    assert two.count("trained in") == 1 and two.count("wrote ") == 1, "only rank 0 logs, tests and writes"
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["history.json", "model.pt", "predictions.png"]

    a = torch.load(tmp_path / "two" / "model.pt", weights_only=True)
    b = torch.load(tmp_path / "one" / "model.pt", weights_only=True)
    assert a["metadata"]["processes"] == 2 and b["metadata"]["processes"] == 1
    history_a = json.loads((tmp_path / "two" / "history.json").read_text())
    history_b = json.loads((tmp_path / "one" / "history.json").read_text())
    assert [r["step"] for r in history_a] == [r["step"] for r in history_b] == [8, 16]
    for ra, rb in zip(history_a, history_b, strict=True):
        assert abs(ra["train_loss"] - rb["train_loss"]) <= LOSS_RTOL * rb["train_loss"]
        assert abs(ra["val_loss"] - rb["val_loss"]) <= 1e-3 * rb["val_loss"]
    for name, weight in a["state_dict"].items():
        torch.testing.assert_close(weight, b["state_dict"][name], rtol=0, atol=WEIGHT_ATOL, msg=name)
    assert history_a[0]["train_loss"] != history_a[1]["train_loss"], "it trained"


def test_the_experts_model_trains_data_parallel_matching_in_each_process(tmp_path):
    """Each process matches its own images' objects; the run ends with one checkpoint, written by rank 0."""
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    flags = ["--model", "experts", "--latent-dim", "16", "--num-heads", "2", "--num-latents", "8", "--train-size", "32",
             "--val-size", "4", "--test-size", "4", "--image-size", "32", "--epochs", "1", "--quiet", "--device", "cpu",
             "--batch-size", "4", "--out", str(tmp_path / "run")]
    result = subprocess.run([*torchrun, "-m", "latentseg", "train", *flags], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 processes × batch 4" in result.stdout and result.stdout.count("wrote ") == 1
    saved = torch.load(tmp_path / "run" / "model.pt", weights_only=True)
    assert saved["model"] == "experts" and saved["metadata"]["processes"] == 2
    assert [r["step"] for r in saved["metadata"]["history"]] == [4]
