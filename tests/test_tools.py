"""The maintainers' scripts in tools/: they refuse what they cannot do in one line, exit status 2."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

TOOLS = Path(__file__).parent.parent / "tools"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: tools/check-gpu would run for real")
def test_check_gpu_refuses_in_one_line_without_cuda(tmp_path):
    report = tmp_path / "report.txt"
    done = subprocess.run([str(TOOLS / "check-gpu"), str(report)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stdout == "" and done.stderr.count("\n") == 1 and "no CUDA device" in done.stderr
    assert not report.exists(), "no report is written for a run that did not happen"


@pytest.mark.parametrize("seed", ["one", "-1", ""])
def test_check_claims_refuses_a_seed_that_is_not_a_number(seed):
    done = subprocess.run([str(TOOLS / "check-claims"), seed], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "a seed is a non-negative integer" in done.stderr and done.stdout == ""


def test_ci_runs_the_notebooks_again_as_a_learner_after_the_main_suite():
    """After the suite, CI runs every notebook in Colab's versions under another seed, one CPU thread (another
    order of sums, as on another machine) and the learner's steps."""
    lines = (TOOLS.parent / ".ci" / "run").read_text().splitlines()
    learner = next(line for line in lines if line.endswith("tools/test-colab-env"))
    assert lines.index(learner) > lines.index("python3 -m pytest")
    assert "OMP_NUM_THREADS=1" in learner and "LATENTSEG_SEED=1" in learner and "LATENTSEG_LEARNER_STEPS=1" in learner


@pytest.mark.parametrize("run", ["1/0", "1/x", "2/-1"])
def test_check_claims_refuses_a_thread_count_that_is_not_positive(run):
    done = subprocess.run([str(TOOLS / "check-claims"), run], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "a thread count is a positive integer" in done.stderr and done.stdout == ""


def test_check_claims_runs_a_second_thread_count():
    """By default one of check-claims' runs uses one CPU thread."""
    text = (TOOLS / "check-claims").read_text()
    assert "runs=(1/1 2)" in text and "OMP_NUM_THREADS=$threads" in text


def test_claims_stats_records_every_assert_and_goes_on(tmp_path):
    """The instrumented notebook records both sides of each comparison, whether the assert held, and
    runs past a failed assert; asserts inside functions are left alone."""
    import nbformat

    sys.path.insert(0, str(TOOLS))
    from claims_stats import instrument, summarise

    log = tmp_path / "log.jsonl"
    source = ("x = 0.25\nfor k in range(2):\n    assert x + k > 0.5, 'above a half'\n"
              "def f():\n    assert False\nassert abs(x - 0.2) < 0.1 and x < 1\nprint('ran on')")
    notebook = instrument(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)]), log)
    namespace = {}
    for cell in notebook.cells:
        exec(cell.source, namespace)
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["holds"] for r in records] == [False, True, True]
    assert records[0]["message"] == "above a half" and records[0]["values"] == {"x + k": 0.25}
    assert records[1]["values"] == {"x + k": 1.25}
    assert records[2]["values"] == {"abs(x - 0.2)": pytest.approx(0.05), "x": 0.25}
    table = summarise([{"notebook": "nb", "seed": 0, "threads": 1, "seconds": 3.0, "error": None, "records": records}])
    assert "| nb | above a half | `x + k > 0.5` | 0/1 | 0/1 |" in table
