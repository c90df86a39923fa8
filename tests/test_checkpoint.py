import os
import stat
import tempfile

import pytest
import torch

from latentseg import SegmentationModel, load_checkpoint, save_checkpoint
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


def test_save_checks_arguments(tmp_path, tiny_model):
    with pytest.raises(ValueError, match=r"class_names: expected 4 names \(str\), got \[.a., .b.\]"):
        save_checkpoint(tmp_path / "m.pt", tiny_model, ["a", "b"])
    with pytest.raises(TypeError, match="model: expected one of the latentseg models"):
        save_checkpoint(tmp_path / "m.pt", torch.nn.Linear(2, 2))


def test_a_checkpoint_of_another_version_is_refused_in_one_line(tmp_path, tiny_model):
    path = save_checkpoint(tmp_path / "old.pt", tiny_model)
    payload = torch.load(path, weights_only=True)
    for version in (3, 5, "4"):
        payload["version"] = version
        torch.save(payload, path)
        with pytest.raises(ValueError, match=f"has version {version!r}, this latentseg reads version 4; train the model"):
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


def test_a_checkpoint_saved_before_a_field_was_added_loads_as_it_was_trained(tmp_path):
    torch.manual_seed(0)
    model = build_model("experts", num_classes=4, masked_attention=False).eval()
    path = save_checkpoint(tmp_path / "old.pt", model)
    payload = torch.load(path, weights_only=True)
    del payload["config"]["masked_attention"]  # as the experts checkpoints shipped before it existed
    torch.save(payload, path)
    loaded, _ = load_checkpoint(path)
    assert build_model("experts", num_classes=4).config.masked_attention, "new models read by masks"
    assert not loaded.config.masked_attention and loaded.token_embed is None, "the old file, as it was trained"
    x = torch.rand(1, 3, 32, 32)
    assert torch.equal(model(x), loaded(x))


def test_a_damaged_checkpoint_is_refused_by_its_digest(tmp_path, tiny_model):
    path = save_checkpoint(tmp_path / "m.pt", tiny_model)
    payload = torch.load(path, weights_only=True)
    assert len(payload["weights_sha256"]) == 64 and payload["version"] == 4
    payload["state_dict"]["encoder.conv1.weight"][0, 0, 0, 0] += 1900.0  # what flipped bytes do to a weight
    torch.save(payload, path)
    with pytest.raises(ValueError, match=r"m.pt is damaged: its weights do not match the SHA-256 digest"):
        load_checkpoint(path)
    payload.pop("weights_sha256")
    torch.save(payload, path)
    with pytest.raises(ValueError, match="is damaged"):
        load_checkpoint(path)  # a file without its digest is damaged too


def test_bytes_flipped_in_the_file_never_load_silently(tmp_path, tiny_model):
    path = save_checkpoint(tmp_path / "m.pt", tiny_model)
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 200] = bytes(b ^ 0xFF for b in data[middle:middle + 200])
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="is damaged|is not a readable latentseg checkpoint"):
        load_checkpoint(path)


def test_metadata_that_cannot_be_read_back_is_refused_before_writing(tmp_path, tiny_model):
    with pytest.raises(TypeError, match=r"metadata\['when'\]: expected plain values .* got PosixPath"):
        save_checkpoint(tmp_path / "m.pt", tiny_model, metadata={"when": tmp_path})
    with pytest.raises(TypeError, match=r"metadata\['runs'\]\[1\]: expected plain values .* got Tensor"):
        save_checkpoint(tmp_path / "m.pt", tiny_model, metadata={"runs": [1, torch.zeros(2)]})
    with pytest.raises(ValueError, match="class_names: expected 4 names"):
        save_checkpoint(tmp_path / "m.pt", tiny_model, class_names=[1, 2, 3, 4])
    assert list(tmp_path.iterdir()) == []
    save_checkpoint(tmp_path / "m.pt", tiny_model, metadata={"a": [1, 2.5, None, "x", (True, {"b": 1})]})
    assert load_checkpoint(tmp_path / "m.pt")[1]["metadata"]["a"][4] == (True, {"b": 1})


def test_not_a_checkpoint_path_and_text_files(tmp_path):
    with pytest.raises(TypeError, match="checkpoint: expected a file path .* got NoneType"):
        load_checkpoint(None)
    (tmp_path / "notes.txt").write_text("eeeeeeeee these are my notes\n" * 20)
    with pytest.raises(ValueError, match="notes.txt is not a readable latentseg checkpoint"):
        load_checkpoint(tmp_path / "notes.txt")


def test_saving_onto_a_folder_or_into_a_read_only_one_names_the_path(tmp_path, tiny_model):
    (tmp_path / "model.pt").mkdir()
    with pytest.raises(IsADirectoryError, match=r"model.pt: is a folder; expected the path of a file"):
        save_checkpoint(tmp_path / "model.pt", tiny_model)


def test_a_folder_that_refuses_writes_is_named_with_the_reason(tmp_path, tiny_model, monkeypatch):
    # as root every folder is writable, so the refusal is simulated where the file is created
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(PermissionError, match=r"m.pt: cannot write in .* \(Permission denied\)"):
        save_checkpoint(tmp_path / "m.pt", tiny_model)


def test_written_files_get_the_umask_mode_not_0600(tmp_path, tiny_model):
    old = os.umask(0o022)
    try:
        path = save_checkpoint(tmp_path / "m.pt", tiny_model)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def _tampered(path, **changes):
    """The checkpoint at ``path`` with ``changes`` to its payload and its digest recomputed, so it loads."""
    from latentseg.checkpoint import weights_digest

    payload = torch.load(path, weights_only=True)
    payload.update(changes)
    if all(isinstance(v, torch.Tensor) for v in payload["state_dict"].values()):
        payload["weights_sha256"] = weights_digest(payload["state_dict"])
    torch.save(payload, path)
    return path


@pytest.mark.parametrize("change, message", [
    (lambda state: {"state_dict": {"x": 1}}, "entries are not all tensors: \\['x'\\]"),
    (lambda state: {"metadata": "a string"}, "holds metadata of type str, expected a dict"),
    (lambda state: {"class_names": ["a", "b"]}, "names 2 classes for a model of 4"),
    (lambda state: {"state_dict": {k: v.fill_(float("nan")) if k == "encoder.conv1.weight" else v
                                   for k, v in state.items()}}, "NaN or infinite weights in \\['encoder.conv1.weight'\\]"),
])
def test_a_checkpoint_that_loads_but_cannot_be_right_is_refused(tmp_path, tiny_model, change, message):
    """Digest recomputed, so the file is not 'damaged': the contents themselves are refused in one line."""
    path = save_checkpoint(tmp_path / "m.pt", tiny_model)
    _tampered(path, **change(torch.load(path, weights_only=True)["state_dict"]))
    with pytest.raises(ValueError, match=message):
        load_checkpoint(path)


def test_a_foreign_pickle_is_refused_without_torchs_advice_to_load_it_unsafely(tmp_path, recwarn):
    import fractions
    import pickle

    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"x": fractions.Fraction(1, 2)}, protocol=4))
    with pytest.raises(ValueError) as refused:
        load_checkpoint(path)
    message = str(refused.value)
    assert "safe load (weights_only=True) refuses" in message and "weights_only=False" not in message
    assert not [w for w in recwarn if "pickle protocol" in str(w.message)], "no torch warnings before the error"
