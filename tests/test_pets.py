"""The Oxford-IIIT Pet loader, on a stand-in in its layout, and its verified, atomic download."""

import io
import urllib.error
from pathlib import Path

import pytest
import torch

from latentseg.data import download as dl
from latentseg.data.download import data_root, extract
from latentseg.data.folder import read_mask
from latentseg.data.pets import oxford_pets


def _everything_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


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


def test_pets_offline_with_a_damaged_archive_in_place_says_the_checksum_failed(tmp_path, monkeypatch):
    def offline(url):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(dl, "_open", offline)
    base = tmp_path / "cache" / "oxford-iiit-pet"
    base.mkdir(parents=True)
    (base / "images.tar.gz").write_bytes(b"the first megabytes of a download that broke off")
    for download in (True, False):
        with pytest.raises(FileNotFoundError, match=r"images.tar.gz already there failed its checksum \(MD5 [0-9a-f]{32}, "
                                                    r"expected 5c4f3ee8e5d25df40f4fd59a7f44e54c"):
            oxford_pets("train", root=tmp_path / "cache", download=download)


def test_the_download_shows_progress(tmp_path, archives, capsys):
    url, md5 = archives["annotations"]
    dl.download(url, tmp_path / "annotations.tar.gz", md5)
    assert "downloading annotations.tar.gz" in capsys.readouterr().err
