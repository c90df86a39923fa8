"""Real-image data: the Pets loader (on a stand-in in its layout), downloads, folder data sets, augmentation."""

import io
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from latentseg import download as dl
from latentseg.augment import RandomHorizontalFlip, RandomResizedCrop, Resize, resize_pair, train_transform
from latentseg.download import data_root, extract, file_md5
from latentseg.fixtures import write_folder_layout, write_pets_archives, write_pets_layout
from latentseg.folder import folder_dataset, read_mask
from latentseg.pets import oxford_pets
from latentseg.sources import load_splits, parse_source


@pytest.fixture(scope="module")
def pets_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_pets_layout(root, num_trainval=40, num_test=20)
    return root


@pytest.fixture
def archives(tmp_path):
    files = write_pets_archives(tmp_path / "server", num_trainval=10, num_test=5)
    return {name: (path.as_uri(), file_md5(path)) for name, path in files.items()}


def _everything_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


# --- Oxford-IIIT Pet ----------------------------------------------------------------------------------------

def test_pets_splits_classes_and_trimap_mapping(pets_root):
    train, val, test = (oxford_pets(s, root=pets_root) for s in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (36, 4, 20)  # every 10th trainval image is validation
    assert not {p for p, _ in train.pairs} & {p for p, _ in val.pairs}
    assert train.class_names == ("background", "pet")
    sizes = set()
    for k in range(6):
        image, mask = train[k]
        assert image.dtype == torch.float32 and image.shape[0] == 3 and mask.shape == image.shape[1:]
        assert set(mask.unique().tolist()) <= {0, 1, 255} and {0, 1, 255} & set(mask.unique().tolist()) >= {0, 255}
        sizes.add(tuple(mask.shape))
    assert len(sizes) > 1, "the stand-in, like the real set, has several image sizes"
    # the raw trimap says 1 = pet, 2 = background, 3 = border
    raw = read_mask(train.pairs[0][1])
    mapped = train[0][1]
    assert torch.equal(mapped == 1, raw == 1) and torch.equal(mapped == 0, raw == 2) and torch.equal(mapped == 255, raw == 3)
    with_border = oxford_pets("train", root=pets_root, border="class")
    assert with_border.class_names == ("background", "pet", "border")
    assert torch.equal(with_border[0][1] == 2, raw == 3)


def test_pets_root_from_the_environment(pets_root, monkeypatch):
    monkeypatch.setenv("LATENTSEG_DATA", str(pets_root))
    assert data_root() == pets_root
    assert data_root("/somewhere/else") == Path("/somewhere/else")
    assert len(oxford_pets("test")) == 20
    monkeypatch.delenv("LATENTSEG_DATA")
    assert data_root() == Path.home() / ".cache" / "latentseg"


def test_pets_bad_arguments(pets_root):
    with pytest.raises(ValueError, match="split"):
        oxford_pets("trainval", root=pets_root)
    with pytest.raises(ValueError, match="border"):
        oxford_pets("train", root=pets_root, border="pet")


def test_pets_download_checks_unpacks_and_cleans_up(tmp_path, archives, monkeypatch):
    root = tmp_path / "cache"
    test = oxford_pets("test", root=root, archives=archives)
    assert len(test) == 5 and test[0][0].shape[0] == 3
    base = root / "oxford-iiit-pet"
    assert sorted(p.name for p in base.iterdir()) == ["annotations", "images"], "archives and temporaries are gone"

    def no_network(url):
        raise AssertionError("an unpacked data set must not be downloaded again")

    monkeypatch.setattr(dl, "_open", no_network)
    assert len(oxford_pets("train", root=root, archives=archives)) == 9


def test_pets_checksum_mismatch_leaves_nothing(tmp_path, archives):
    url, _ = archives["images"]
    wrong = {"images": (url, "0" * 32), "annotations": archives["annotations"]}
    with pytest.raises(ValueError, match="MD5"):
        oxford_pets("train", root=tmp_path / "cache", archives=wrong)
    assert _everything_under(tmp_path / "cache") == []


def test_pets_interrupted_download_is_retried_cleanly(tmp_path, archives, monkeypatch):
    real_open = dl._open

    class Interrupted(io.RawIOBase):
        def __init__(self, data):
            self.data, self.sent = data, 0

        def readable(self):
            return True

        def readinto(self, buffer):
            if self.sent > len(self.data) // 2:
                raise ConnectionResetError("connection reset by peer")
            n = min(len(buffer), 1024)
            buffer[:n] = self.data[self.sent:self.sent + n]
            self.sent += n
            return n

    def flaky(url):
        with real_open(url) as response:
            return io.BufferedReader(Interrupted(response.read()))

    monkeypatch.setattr(dl, "_open", flaky)
    root = tmp_path / "cache"
    with pytest.raises(FileNotFoundError, match="download failed"):
        oxford_pets("train", root=root, archives=archives)
    assert _everything_under(root) == []
    monkeypatch.setattr(dl, "_open", real_open)
    assert len(oxford_pets("train", root=root, archives=archives)) == 9


def test_pets_offline_says_what_to_download_and_where(tmp_path, monkeypatch):
    def offline(url):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(dl, "_open", offline)
    with pytest.raises(FileNotFoundError) as err:
        oxford_pets("train", root=tmp_path / "cache")
    message = str(err.value)
    assert "images.tar.gz" in message and str(tmp_path / "cache" / "oxford-iiit-pet") in message
    assert "LATENTSEG_DATA" in message
    with pytest.raises(FileNotFoundError, match="download=False"):
        oxford_pets("train", root=tmp_path / "cache", download=False)
    assert _everything_under(tmp_path / "cache") == []


def test_a_truncated_archive_is_not_unpacked(tmp_path, archives):
    archive = Path(archives["images"][0].removeprefix("file://"))
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(ValueError, match="cannot unpack"):
        extract(broken, tmp_path / "out", "images")
    assert _everything_under(tmp_path / "out") == []


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
    root = write_folder_layout(tmp_path / "mine", num_images=20)
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
        write_folder_layout(tmp_path / split, num_images=n, seed=len(split))
    assert [len(folder_dataset(tmp_path, s)) for s in ("train", "val", "test")] == [6, 2, 3]


def test_folder_mismatched_names(tmp_path):
    root = write_folder_layout(tmp_path, num_images=4)
    (root / "masks" / "img_002.png").rename(root / "masks" / "other.png")
    with pytest.raises(ValueError) as err:
        folder_dataset(root)
    assert "img_002.png" in str(err.value) and "other.png" in str(err.value)


def test_folder_mismatched_sizes(tmp_path):
    root = write_folder_layout(tmp_path, num_images=4)
    Image.fromarray(np.zeros((30, 40), np.uint8)).save(root / "masks" / "img_001.png")
    with pytest.raises(ValueError, match="img_001.png.*40×30"):
        folder_dataset(root)


def test_folder_out_of_range_and_rgb_masks(tmp_path):
    root = write_folder_layout(tmp_path, num_images=4, size=32)
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

def _coded_pair(height=60, width=90):
    """A mask of 5×5 blocks of classes 0–3 (asymmetric), and an image whose colour spells each pixel's class."""
    g = torch.Generator().manual_seed(0)
    blocks = torch.randint(0, 4, (height // 5 + 1, width // 5 + 1), generator=g)
    mask = blocks.repeat_interleave(5, 0).repeat_interleave(5, 1)[:height, :width]
    palette = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    return palette[mask].permute(2, 0, 1).contiguous(), mask


def _class_from_colour(image):
    palette = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    return ((image.permute(1, 2, 0)[..., None, :] - palette) ** 2).sum(-1).argmin(-1)


def test_augmentation_keeps_image_and_mask_aligned():
    torch.manual_seed(0)
    image, mask = _coded_pair()
    transform = train_transform(48)
    for _ in range(20):
        out_image, out_mask = transform(image, mask)
        assert out_image.shape == (3, 48, 48) and out_mask.shape == (48, 48) and out_mask.dtype == torch.int64
        agreement = (_class_from_colour(out_image) == out_mask).float().mean()
        assert agreement > 0.9, "image and mask went through the same crop and flip"
    # the check above would catch a misalignment: flipping only the mask breaks it
    out_image, out_mask = RandomHorizontalFlip(p=1.0)(image, mask)
    assert (_class_from_colour(out_image) == mask.flip(-1)).all()
    assert (_class_from_colour(out_image) == mask).float().mean() < 0.6


def test_masks_stay_class_indices_and_ignore_survives():
    image, mask = _coded_pair()
    mask = mask.clone()
    mask[:10] = 255
    for transform in (Resize((37, 53)), RandomResizedCrop(40), Resize(200)):
        out_image, out_mask = transform(image, mask)
        assert set(out_mask.unique().tolist()) <= {0, 1, 2, 3, 255}
        assert out_image.min() >= 0 and out_image.max() <= 1
    assert resize_pair(image, mask, (60, 90))[1] is mask, "no resampling at the same size"
    with pytest.raises(ValueError, match="image, mask"):
        resize_pair(image, mask[:-1], 32)
    with pytest.raises(ValueError, match="scale"):
        RandomResizedCrop(32, scale=(0.5, 1.5))


def test_random_resized_crop_is_seeded_and_varies():
    image, mask = _coded_pair()
    crop = RandomResizedCrop(32)
    torch.manual_seed(3)
    first = [crop.window(60, 90) for _ in range(5)]
    torch.manual_seed(3)
    assert first == [crop.window(60, 90) for _ in range(5)]
    assert len(set(first)) > 1
    for top, left, h, w in first:
        assert 0 <= top and top + h <= 60 and 0 <= left and left + w <= 90


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
