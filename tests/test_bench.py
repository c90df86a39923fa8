"""Benchmark arithmetic, with the clock taken out: what is timed, and what is made of the times."""

import sys

import pytest
import torch

from latentseg.bench import inference_rates, summarise_runs
from latentseg.bench.race import seconds_to_reach
from latentseg.models import build_model

throughput = sys.modules["latentseg.bench.throughput"]  # the module, which the package's `throughput` function hides


def test_inference_rates_time_every_model_side_by_side_in_eval_mode(monkeypatch):
    models = {name: build_model(name, num_classes=4) for name in ("article", "unet")}
    calls = []

    def fake_time_steps(steps, repeats, device):
        assert repeats == 3 and set(steps) == {"article", "unet"}, "both models timed in one interleaved call"
        for step in steps.values():
            calls.append(step())
        return {"article": 0.5, "unet": 0.25}

    monkeypatch.setattr(throughput, "time_steps", fake_time_steps)
    rates = inference_rates(models, size=16, batch_size=2, repeats=3)
    assert rates == {"article": 4.0, "unet": 8.0}, "images per second: the batch over the median seconds"
    assert calls == [None, None] and not any(model.training for model in models.values()), "eval mode, no grad"
    with pytest.raises(ValueError, match="size"):
        inference_rates(models, size=0)


def test_summary_is_mean_and_sample_std_over_runs():
    runs = [{"test_miou": 0.5, "steps": 10}, {"test_miou": 0.7, "steps": 10}, {"test_miou": 0.9, "steps": 13}]
    summary = summarise_runs(runs)
    assert summary["test_miou"] == pytest.approx({"mean": 0.7, "std": 0.2})
    assert summary["steps"] == pytest.approx({"mean": 11.0, "std": 3 ** 0.5})
    assert summarise_runs(runs[:1])["test_miou"] == {"mean": 0.5, "std": 0.0}


def test_seconds_to_reach_is_the_first_validation_at_the_target():
    records = [{"seconds": 1.0, "val_miou": 0.5}, {"seconds": 2.0, "val_miou": 0.91}, {"seconds": 3.0, "val_miou": 0.95}]
    assert seconds_to_reach(records, 0.9) == 2.0 and seconds_to_reach(records, 0.99) is None
    assert seconds_to_reach([{"seconds": 1.0, "train_loss": 0.1}], 0.5) is None, "no validation, no time"


def test_the_same_models_are_timed_in_throughput_and_side_by_side(monkeypatch):
    from latentseg.bench.race import throughput_rows
    from latentseg.training import RECIPE

    monkeypatch.setattr(throughput, "time_steps", lambda steps, repeats, device: {name: 0.1 for name in steps})
    monkeypatch.setattr("latentseg.bench.race.inference_rates",
                        lambda built, size, batch, repeats, device, precision: {"article": 10.0, "unet": 30.0})
    rows = throughput_rows(["article", "unet"], [16], RECIPE.replace(batch_size=2), 1, "cpu", "auto", seed=0)
    assert [r["inference_ratio_to_article"] for r in rows] == [1.0, 3.0]
    assert [r["train_images_per_s"] for r in rows] == pytest.approx([20.0, 20.0]), "batch 2 over 0.1 s"
    assert rows[0]["params"] == sum(p.numel() for p in build_model("article", num_classes=4).parameters())
    assert torch.get_num_threads() >= 1
