"""The Oxford-IIIT Pet data set (Parkhi et al., 2012): 7,349 photos of cats and dogs with trimaps.

Layout, as the two official archives unpack into ``<data root>/oxford-iiit-pet/``::

    images/<Breed_name>_<n>.jpg
    annotations/trainval.txt, test.txt      lines "<stem> <class id> <species> <breed id>", "#" comments
    annotations/trimaps/<stem>.png          1 = pet, 2 = background, 3 = the uncertain border

Classes: 0 background, 1 pet. The border is a band a few pixels wide around every pet where the
annotators could not decide; by default it is ignored (255) in the loss and in the metrics, which is
how the Pets segmentation results are usually reported. ``border="class"`` makes it class 2 instead.

Splits: ``test`` is the official test list; ``train`` and ``val`` divide the official trainval list,
every 10th image going to ``val``.
"""

from __future__ import annotations

import os
import urllib.error
from pathlib import Path

import torch

from .download import DATA_ENV, data_root, download, extract, file_md5
from .folder import FileSegmentationData

BASE_URL = "https://www.robots.ox.ac.uk/~vgg/data/pets/data"
# archive name → (URL, MD5) of the official files; MD5 is what the data set's users publish and check
PETS_ARCHIVES = {
    "images": (f"{BASE_URL}/images.tar.gz", "5c4f3ee8e5d25df40f4fd59a7f44e54c"),
    "annotations": (f"{BASE_URL}/annotations.tar.gz", "95a8c909bbe2e81eed6a22bccdf3f68f"),
}
FOLDER = "oxford-iiit-pet"
SPLITS = ("train", "val", "test")
BORDERS = ("ignore", "class")
TRIMAP_PET, TRIMAP_BACKGROUND, TRIMAP_BORDER = 1, 2, 3


def pets_folder(root: str | os.PathLike | None = None, download_missing: bool = True,
                archives: dict[str, tuple[str, str]] | None = None) -> Path:
    """The unpacked data set's folder, ``<root>/oxford-iiit-pet``, downloading what is missing.

    Each archive (about 790 MB of images, 19 MB of annotations) is fetched to a temporary file,
    checked against its MD5, unpacked into a temporary folder and renamed into place, then deleted;
    an interrupted run leaves no partial folder and simply starts that archive again.
    ``archives`` replaces the official ``{name: (url, md5)}`` (tests use ``file://`` copies).
    """
    base = data_root(root) / FOLDER
    archives = PETS_ARCHIVES if archives is None else archives
    for name, (url, md5) in archives.items():
        if (base / name).is_dir():
            continue
        archive = base / Path(url).name
        found = file_md5(archive) if archive.is_file() else None
        damaged = (f"; the {archive.name} already there failed its checksum (MD5 {found}, expected {md5}: a partial "
                   "or damaged copy, delete it)") if found not in (None, md5) else ""
        if not download_missing and found != md5:
            raise FileNotFoundError(_missing_message(base, name, url, "download=False" + damaged))
        try:
            download(url, archive, md5)
        except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
            raise FileNotFoundError(_missing_message(base, name, url, f"download failed: {err}{damaged}")) from err
        extract(archive, base, name)
        archive.unlink()
    return base


def _missing_message(base: Path, name: str, url: str, why: str) -> str:
    return (f"Oxford-IIIT Pet: {base / name} is missing and was not downloaded ({why}). Download {url} and put it "
            f"in {base} (it is checked and unpacked on the next run), or unpack it there yourself; set {DATA_ENV} "
            "or pass root= to use another data folder.")


def read_split_list(path: Path) -> list[str]:
    """Image stems of one official list file (first word of each line, ``#`` lines skipped)."""
    if not path.is_file():
        raise FileNotFoundError(f"Oxford-IIIT Pet: no list file at {path}")
    return [line.split()[0] for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


class TrimapToClasses:
    """Trimap values 1, 2, 3 → pet 1, background 0, border (255 ignored, or class 2)."""

    def __init__(self, border: str = "ignore") -> None:
        if border not in BORDERS:
            raise ValueError(f"border: expected one of {BORDERS}, got {border!r}")
        self.border = border

    def __call__(self, trimap: torch.Tensor) -> torch.Tensor:
        lookup = torch.full((256,), 254, dtype=torch.long)  # 254: out of range, reported by the data set
        lookup[TRIMAP_PET], lookup[TRIMAP_BACKGROUND] = 1, 0
        lookup[TRIMAP_BORDER] = 2 if self.border == "class" else 255
        return lookup[trimap.clamp(0, 255)]


def oxford_pets(
    split: str = "train",
    root: str | os.PathLike | None = None,
    transform=None,
    border: str = "ignore",
    download: bool = True,
    archives: dict[str, tuple[str, str]] | None = None,
) -> FileSegmentationData:
    """Oxford-IIIT Pet for segmentation: ``(image 3×H×W, mask H×W)`` pairs at their own sizes until
    ``transform`` (e.g. :func:`latentseg.data.transforms.train_transform`) brings them to one.

    ``root`` is the data folder (default ``$LATENTSEG_DATA``, then ``~/.cache/latentseg``).
    """
    if split not in SPLITS:
        raise ValueError(f"split: expected one of {SPLITS}, got {split!r}")
    mask_map = TrimapToClasses(border)
    base = pets_folder(root, download, archives)
    stems = read_split_list(base / "annotations" / ("test.txt" if split == "test" else "trainval.txt"))
    if split != "test":
        stems = [s for k, s in enumerate(stems) if (k % 10 == 9) == (split == "val")]
    pairs = [(base / "images" / f"{s}.jpg", base / "annotations" / "trimaps" / f"{s}.png") for s in stems]
    missing = [str(p) for pair in pairs for p in pair if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"Oxford-IIIT Pet: {len(missing)} listed files are missing, e.g. {missing[:3]}; "
                                f"delete {base} to download it again")
    names = ("background", "pet", "border") if border == "class" else ("background", "pet")
    return FileSegmentationData(pairs, names, transform, mask_map)
