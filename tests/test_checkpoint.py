import pytest
import torch

from latentseg import SegmentationModel, load_checkpoint, save_checkpoint
from latentseg.files import atomic_path
from latentseg.models import MODELS, build_model, model_name


def test_round_trip(tmp_path, tiny_model):
    path = save_checkpoint(tmp_path / "m.pt", tiny_model, ["a", "b", "c", "d"], {"epochs": 3})
    model, info = load_checkpoint(path)
    x = torch.rand(2, 3, 20, 24)
    tiny_model.eval()
    torch.testing.assert_close(model(x), tiny_model(x))
    assert info["class_names"] == ["a", "b", "c", "d"] and info["metadata"] == {"epochs": 3}
    assert model.config == tiny_model.config
    # a plain weights-only load works too: nothing but tensors and plain values inside
    raw = torch.load(path, weights_only=True)
    assert set(raw) >= {"config", "state_dict"}
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint: no file at"):
        load_checkpoint(tmp_path / "nope.pt")


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_file(tmp_path, tiny_model, damage):
    path = save_checkpoint(tmp_path / "m.pt", tiny_model)
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"not a checkpoint" * 10, "empty": b""}[damage])
    with pytest.raises(ValueError, match="is not a readable latentseg checkpoint"):
        load_checkpoint(path)


def test_foreign_and_mismatched_files(tmp_path, tiny_model):
    torch.save({"weights": torch.zeros(3)}, tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match="not a latentseg checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    path = save_checkpoint(tmp_path / "m.pt", tiny_model)
    payload = torch.load(path, weights_only=True)
    payload["config"]["num_latents"] = 7
    torch.save(payload, path)
    with pytest.raises(ValueError, match="does not match its config.*latent_attn.latents"):
        load_checkpoint(path)
    payload["config"]["num_heads"] = 5
    torch.save(payload, path)
    with pytest.raises(ValueError, match="invalid model config.*divisible"):
        load_checkpoint(path)


def test_pickled_code_is_refused(tmp_path):
    """weights_only=True: a checkpoint that would run code on load is rejected, not executed."""
    torch.save({"format": "latentseg-checkpoint", "payload": print}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="not a readable latentseg checkpoint"):
        load_checkpoint(tmp_path / "evil.pt")


def test_failed_save_leaves_nothing_behind(tmp_path, tiny_model, monkeypatch):
    save_checkpoint(tmp_path / "m.pt", tiny_model)
    before = (tmp_path / "m.pt").read_bytes()

    def broken_save(obj, f, *a, **k):
        open(f, "wb").write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(tmp_path / "m.pt", SegmentationModel(num_classes=4))
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]
    assert (tmp_path / "m.pt").read_bytes() == before


def test_atomic_path_replaces_only_on_success(tmp_path):
    target = tmp_path / "out.txt"
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError
    assert target.read_text() == "new" and len(list(tmp_path.iterdir())) == 1


def test_save_checks_arguments(tmp_path, tiny_model):
    with pytest.raises(ValueError, match="class_names: expected 4 names, got 2"):
        save_checkpoint(tmp_path / "m.pt", tiny_model, ["a", "b"])
    with pytest.raises(TypeError, match="model: expected one of the latentseg models"):
        save_checkpoint(tmp_path / "m.pt", torch.nn.Linear(2, 2))


def test_version_1_checkpoint_of_the_improved_model_keeps_its_dilation(tmp_path, small_improved):
    """Checkpoints written before ``dilation_growth`` existed were built with growth 2; they must not load
    silently into today's default (the weights have the same shapes either way)."""
    old = small_improved(dilation_growth=2).eval()
    path = save_checkpoint(tmp_path / "old.pt", old)
    payload = torch.load(path, weights_only=True)
    payload["version"] = 1
    del payload["config"]["dilation_growth"]
    torch.save(payload, path)
    loaded, info = load_checkpoint(path)
    assert loaded.config.dilation_growth == 2 and info["config"]["dilation_growth"] == 2
    x = torch.rand(1, 3, 32, 32)
    assert torch.equal(old(x), loaded(x))
    payload["version"] = 3
    torch.save(payload, path)
    with pytest.raises(ValueError, match="has version 3, this latentseg reads 1 and 2"):
        load_checkpoint(path)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_checkpoint_round_trip_for_every_model(tmp_path, name):
    torch.manual_seed(0)
    model = build_model(name, num_classes=4).eval()
    save_checkpoint(tmp_path / "m.pt", model, metadata={"note": name})
    loaded, info = load_checkpoint(tmp_path / "m.pt")
    assert info["model"] == name == model_name(loaded) and type(loaded) is type(model)
    x = torch.rand(1, 3, 32, 32)
    assert torch.equal(model(x), loaded(x))
