"""Benchmarks, on top of everything else: throughput and memory (:mod:`.throughput`), the timed race
of the models (:mod:`.race`), and the text tables ``python -m latentseg bench`` prints (:mod:`.report`)."""

from .race import TARGET_MIOU, BenchConfig, race_one, run_bench, summarise_runs, train_for_budget
from .report import bench_report
from .throughput import activation_memory_mb, attention_comparison, inference_rates, throughput

__all__ = ["TARGET_MIOU", "BenchConfig", "race_one", "run_bench", "summarise_runs", "train_for_budget", "bench_report",
           "activation_memory_mb", "attention_comparison", "inference_rates", "throughput"]
