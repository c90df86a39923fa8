"""The maintainers' scripts in tools/: they refuse what they cannot do in one line, exit status 2."""

import subprocess
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


def test_ci_runs_the_claims_check_after_the_main_suite():
    lines = (TOOLS.parent / ".ci" / "run").read_text().splitlines()
    assert lines.index("tools/check-claims") > lines.index("python3 -m pytest")
