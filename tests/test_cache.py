from dataclasses import replace

import pytest
import torch

from latentseg import PLAIN, SegmentationModel, synthetic_shapes
from latentseg.training import cache
from latentseg.training.cache import cache_root, cached_fit


def _model():
    torch.manual_seed(0)
    return SegmentationModel(feature_dim=16, latent_dim=16, num_latents=4, num_heads=2, num_classes=4)


@pytest.fixture(scope="module")
def data():
    return synthetic_shapes(16, size=32, seed=0, split="train"), synthetic_shapes(8, size=32, seed=0, split="val")


def _run(folder, data, **overrides):
    model = _model()
    options = {"recipe": PLAIN, "epochs": 1, "seed": 0, "device": "cpu", "cache_dir": folder, "progress": False}
    history = cached_fit(model, *data, **{**options, **overrides})
    return model, history, torch.rand(3)


def test_the_second_call_reads_back_what_the_first_trained(tmp_path, data, monkeypatch):
    trained, history, after_training = _run(tmp_path, data)
    assert len(list(tmp_path.glob("*.pt"))) == 1 and len(history) == 1

    def no_training(*args, **kwargs):
        raise AssertionError("a cached run must not train again")

    monkeypatch.setattr(cache, "fit", no_training)
    reloaded, again, after_reading = _run(tmp_path, data)
    for name, tensor in trained.state_dict().items():
        assert torch.equal(tensor, reloaded.state_dict()[name]), name
    assert again.records == history.records
    assert torch.equal(after_training, after_reading), "the random generators end the same either way"
    assert not reloaded.training


def test_anything_that_decides_the_result_is_a_new_key(tmp_path, data):
    _run(tmp_path, data)
    _run(tmp_path, data, seed=1)
    _run(tmp_path, data, epochs=2)
    _run(tmp_path, (data[0], None))
    _run(tmp_path, data, recipe=replace(PLAIN, lr=PLAIN.lr / 2))
    assert len(list(tmp_path.glob("*.pt"))) == 5


def test_a_damaged_cache_file_is_trained_again_and_replaced(tmp_path, data, capsys):
    trained, _, _ = _run(tmp_path, data)
    (path,) = tmp_path.glob("*.pt")
    path.write_bytes(path.read_bytes()[:200])
    retrained, history, _ = _run(tmp_path, data)
    assert "ignoring" in capsys.readouterr().out and len(history) == 1
    for name, tensor in trained.state_dict().items():
        assert torch.equal(tensor, retrained.state_dict()[name]), "training is deterministic on one machine"
    torch.load(path, weights_only=True)  # replaced whole


def test_data_that_cannot_be_keyed_is_refused_by_name(tmp_path, data):
    with pytest.raises(TypeError, match="train_data: cached_fit keys on the data's contents.*got list"):
        cached_fit(_model(), list(data[0]), recipe=PLAIN, epochs=1, cache_dir=tmp_path)


def test_the_cache_lives_beside_the_data_unless_told(monkeypatch, tmp_path):
    monkeypatch.delenv("LATENTSEG_CACHE", raising=False)
    monkeypatch.setenv("LATENTSEG_DATA", str(tmp_path / "data"))
    assert cache_root() == tmp_path / "data" / "fits"
    monkeypatch.setenv("LATENTSEG_CACHE", str(tmp_path / "models"))
    assert cache_root() == tmp_path / "models" and cache_root(tmp_path / "x") == tmp_path / "x"
