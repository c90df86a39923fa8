"""Device choice, seeding and the precision a device computes in."""

import random

import numpy as np
import pytest
import torch

from latentseg.device import pick_device, resolve_precision, seed_everything


def test_auto_picks_what_is_there_and_names_what_is_not(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device() == pick_device("auto") == torch.device("cpu")
    assert pick_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="device: cuda was asked for, but"):
        pick_device("cuda")
    with pytest.raises(ValueError, match="device: mps was asked for, but Apple's MPS is not available"):
        pick_device("mps")
    with pytest.raises(ValueError, match="device: expected 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got 'gpu-please'"):
        pick_device("gpu-please")


def test_auto_prefers_cuda_then_mps(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device() == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device() == torch.device("cuda")


def test_precision_choices(monkeypatch):
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert resolve_precision("auto", cpu) is None, "auto stays fp32 on a CPU"
    assert resolve_precision("fp32", cpu) is None
    assert resolve_precision("bf16", cpu) is torch.bfloat16
    with pytest.raises(ValueError, match="fp16 autocast needs a CUDA device"):
        resolve_precision("fp16", cpu)
    with pytest.raises(ValueError, match="precision: expected one of"):
        resolve_precision("half", cpu)
    monkeypatch.setattr("latentseg.device._native_bf16", lambda: True)
    assert resolve_precision("auto", cuda) is torch.bfloat16, "bf16 where the GPU computes it"
    monkeypatch.setattr("latentseg.device._native_bf16", lambda: False)
    assert resolve_precision("auto", cuda) is torch.float16, "fp16 on a GPU without native bf16 (a T4)"


def test_seed_everything_fixes_python_numpy_and_torch():
    draws = []
    for _ in range(2):
        seed_everything(7)
        draws.append((random.random(), float(np.random.rand()), float(torch.rand(1))))
    assert draws[0] == draws[1]
    seed_everything(8)
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) != draws[0]
