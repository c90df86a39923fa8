"""Folder data sets (your own images and masks), corrupt files, and load_splits on real-layout data."""


import numpy as np
import pytest
import torch
from PIL import Image
from standins import write_pets_layout

from latentseg.data.folder import folder_dataset, write_shapes_folder
from latentseg.data.pets import oxford_pets
from latentseg.data.sources import load_splits, parse_source


def test_corrupt_image_is_named(tmp_path):
    base = write_pets_layout(tmp_path, num_trainval=10, num_test=2)
    data = oxford_pets("train", root=tmp_path)
    data.pairs[2][0].write_bytes(b"\xff\xd8 this is not a JPEG")
    data[1]  # the others still load
    with pytest.raises(ValueError, match=data.pairs[2][0].name):
        data[2]
    (base / "images" / f"{data.pairs[3][0].stem}.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="missing"):
        oxford_pets("train", root=tmp_path)


# --- folder data sets ----------------------------------------------------------------------------------------

def test_folder_splits_and_class_names(tmp_path):
    root = write_shapes_folder(tmp_path / "mine", num_images=20)
    splits = {s: folder_dataset(root, s) for s in ("train", "val", "test")}
    assert [len(splits[s]) for s in ("train", "val", "test")] == [16, 2, 2]
    names = [{p.stem for p, _ in d.pairs} for d in splits.values()]
    assert not (names[0] & names[1] or names[0] & names[2] or names[1] & names[2])
    assert splits["train"].class_names == ("background", "circle", "square", "triangle")
    image, mask = splits["train"][0]
    assert image.shape == (3, 48, 48) and mask.dtype == torch.int64
    (root / "classes.txt").unlink()
    assert folder_dataset(root, "train").num_classes == 4, "inferred from the largest mask value"
    assert folder_dataset(root, "train", num_classes=6).num_classes == 6


def test_folder_with_split_subfolders(tmp_path):
    for split, n in (("train", 6), ("val", 2), ("test", 3)):
        write_shapes_folder(tmp_path / split, num_images=n, seed=len(split))
    assert [len(folder_dataset(tmp_path, s)) for s in ("train", "val", "test")] == [6, 2, 3]


def test_folder_mismatched_names(tmp_path):
    root = write_shapes_folder(tmp_path, num_images=4)
    (root / "masks" / "img_002.png").rename(root / "masks" / "other.png")
    with pytest.raises(ValueError) as err:
        folder_dataset(root)
    assert "img_002.png" in str(err.value) and "other.png" in str(err.value)


def test_folder_mismatched_sizes(tmp_path):
    root = write_shapes_folder(tmp_path, num_images=4)
    Image.fromarray(np.zeros((30, 40), np.uint8)).save(root / "masks" / "img_001.png")
    with pytest.raises(ValueError, match="img_001.png.*40×30"):
        folder_dataset(root)


def test_folder_out_of_range_and_rgb_masks(tmp_path):
    root = write_shapes_folder(tmp_path, num_images=4, size=32)
    bad = np.zeros((32, 32), np.uint8)
    bad[3, 3] = 7
    Image.fromarray(bad).save(root / "masks" / "img_000.png")
    data = folder_dataset(root, "train", val_fraction=0, test_fraction=0)
    index = [p.stem for p, _ in data.pairs].index("img_000")
    with pytest.raises(ValueError, match=r"img_000.png holds values \[7\]"):
        data[index]
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(root / "masks" / "img_000.png")
    with pytest.raises(ValueError, match="img_000.png is a RGB image"):
        data[index]


def test_folder_missing_or_empty(tmp_path):
    with pytest.raises(FileNotFoundError, match="no folder"):
        folder_dataset(tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match="images"):
        folder_dataset(tmp_path)
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    with pytest.raises(ValueError, match="no images"):
        folder_dataset(tmp_path)
    with pytest.raises(ValueError, match="data: expected"):
        parse_source("folders:/x")


# --- augmentation --------------------------------------------------------------------------------------------


# --- one loader for the command line and notebooks -----------------------------------------------------------

def test_load_splits_real_data_batches_and_limits(pets_root):
    splits = load_splits("pets", 40, root=pets_root, train_size=10, val_size=3, test_size=5)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (10, 3, 5)
    loader = torch.utils.data.DataLoader(splits.train, batch_size=4)
    images, masks = next(iter(loader))
    assert images.shape == (4, 3, 40, 40) and masks.shape == (4, 40, 40)
    assert splits.val.images.shape == (3, 3, 40, 40)
    shown = splits.test_examples(2)
    assert shown.images.shape == (2, 3, 40, 40)
    breeds = {p.stem.rsplit("_", 1)[0] for p, _ in splits.train.pairs}
    assert len(breeds) == 4, "a limit keeps images spread over the whole (breed-sorted) list"


@pytest.mark.parametrize("bad", ["rgb", "text"])
def test_a_bad_instance_file_is_named_as_instances_not_as_a_mask_or_image(tmp_path, bad):
    from PIL import Image

    from latentseg.data.folder import folder_dataset, write_shapes_folder

    root = write_shapes_folder(tmp_path / "shapes", num_images=4, size=32)
    (root / "instances").mkdir()
    for mask in sorted((root / "masks").iterdir()):
        Image.open(mask).save(root / "instances" / mask.name)
    first = sorted((root / "instances").iterdir())[0]
    if bad == "rgb":
        Image.new("RGB", (32, 32)).save(first)
    else:
        first.write_text("not an image")
    words = f"instances: (cannot read )?{first}" if bad == "text" else "instances: .* is a RGB image"
    with pytest.raises(ValueError, match=words):
        for split in ("train", "val", "test"):  # wherever the file fell
            data = folder_dataset(root, split=split)
            [data.read(k) for k in range(len(data))]


def test_an_empty_classes_file_is_named(tmp_path):
    from latentseg.data.folder import folder_dataset, write_shapes_folder

    root = write_shapes_folder(tmp_path / "shapes", num_images=4, size=32)
    (root / "classes.txt").write_text("\n")
    with pytest.raises(ValueError, match="classes: .*classes.txt names 0 classes"):
        folder_dataset(root, split="train")
