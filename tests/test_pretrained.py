"""The checkpoints that ship with the package: checked by their file's digest, read like any other."""

import hashlib
import shutil

import pytest
import torch

import latentseg.pretrained as pretrained
from latentseg import synthetic_shapes


@pytest.mark.parametrize("name", sorted(pretrained.PRETRAINED))
def test_every_shipped_checkpoint_loads_and_says_how_it_was_made(name):
    model, info = pretrained.load_pretrained(name)
    meta = info["metadata"]
    assert meta["command"].startswith("python -m latentseg train") and len(str(meta["commit"]).rstrip("+")) == 40
    assert not str(meta["commit"]).endswith("+"), "trained from committed source"
    images = synthetic_shapes(2, size=64, split="test").images
    assert model(images).shape == (2, model.num_classes, 64, 64)


def test_a_damaged_or_unknown_checkpoint_is_refused(tmp_path, monkeypatch):
    name, (filename, digest) = next(iter(pretrained.PRETRAINED.items()))
    copy = tmp_path / filename
    shutil.copy(pretrained.WEIGHTS / filename, copy)
    monkeypatch.setattr(pretrained, "WEIGHTS", tmp_path)
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == digest
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="the file is damaged or was replaced"):
        pretrained.load_pretrained(name)
    copy.unlink()
    with pytest.raises(FileNotFoundError, match="is missing from this installation"):
        pretrained.load_pretrained(name)
    with pytest.raises(ValueError, match="name: expected one of the shipped checkpoints"):
        pretrained.load_pretrained("imagenet")
    assert torch.get_num_threads() >= 1


@pytest.mark.parametrize("name, device, error, message", [
    (["x"], "cpu", ValueError, "name: expected one of the shipped checkpoints .* got \\['x'\\]"),
    ("experts-crowded", "tpu", ValueError, "device: expected 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got 'tpu'"),
    ("experts-crowded", "meta", ValueError, "got 'meta'"),
    ("experts-crowded", ["cpu"], ValueError, "got \\['cpu'\\]"),
])
def test_load_pretrained_names_a_bad_name_or_device(name, device, error, message):
    from latentseg.pretrained import load_pretrained

    with pytest.raises(error, match=message):
        load_pretrained(name, device=device)
