"""Image/mask pairs on disk: read on access, checked, mapped to classes and brought to one size.

A folder data set is ``images/`` and ``masks/`` with matching file stems; a mask is a single-channel
PNG (greyscale or palette) whose pixel values are class indices, 255 meaning "ignore".
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from PIL import Image

from ..labels import IGNORE_INDEX
from .dataset import SegmentationData, SegmentationDataset, check_instances
from .images import image_file_size, read_image, read_mask
from .shapes import synthetic_shapes
from .transforms import Resize

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
SPLIT_FOLDERS = ("train", "val", "test")


class FileSegmentationData(SegmentationDataset):
    """Pairs of files, read when indexed; item ``i`` is ``(image 3×H×W in [0, 1], mask H×W int64)``.

    ``mask_map`` turns a file's raw values into class indices (e.g. Pets trimaps); values outside
    ``0..K-1`` other than 255 raise a ``ValueError`` naming the file. ``transform`` is a joint
    transform (:mod:`latentseg.data.transforms`) that also brings every pair to one size for batching.
    ``instance_files`` (one per pair) hold instance ids, 16-bit PNGs of the image's size
    (:func:`~latentseg.data.dataset.check_instances`); :meth:`with_instances` yields them as a third
    item, moved by the transform with the mask.
    """

    def __init__(
        self,
        pairs: Sequence[tuple[Path, Path]],
        class_names: Sequence[str],
        transform: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None = None,
        mask_map: Callable[[torch.Tensor], torch.Tensor] | None = None,
        instance_files: Sequence[Path] | None = None,
    ) -> None:
        if len(class_names) < 2:
            raise ValueError(f"class_names: expected at least 2 classes, got {list(class_names)}")
        if instance_files is not None and len(instance_files) != len(pairs):
            raise ValueError(f"instance_files: expected one per pair ({len(pairs)}), got {len(instance_files)}")
        self.pairs = [(Path(i), Path(m)) for i, m in pairs]
        self.class_names = tuple(class_names)
        self.transform = transform
        self.mask_map = mask_map
        self.instance_files = None if instance_files is None else [Path(f) for f in instance_files]
        self.yields_instances = False

    @property
    def has_instances(self) -> bool:
        return self.instance_files is not None

    def __len__(self) -> int:
        return len(self.pairs)

    def read(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Pair ``index`` as stored, before the transform: ``3×H×W``, ``H×W`` and its instance ids
        ``H×W`` (``None`` without instance files)."""
        image_path, mask_path = self.pairs[index]
        image, mask = read_image(image_path), read_mask(mask_path)
        _same_size(image_path, image, mask_path, mask, "mask")
        if self.mask_map is not None:
            mask = self.mask_map(mask)
        bad = (mask >= self.num_classes) & (mask != IGNORE_INDEX) | (mask < 0)
        if bad.any():
            values = sorted(set(mask[bad].unique().tolist()))[:5]
            raise ValueError(f"mask: {mask_path} holds values {values}, expected class indices 0..{self.num_classes - 1} "
                             f"({', '.join(self.class_names)}) or {IGNORE_INDEX} (ignore)")
        if self.instance_files is None:
            return image, mask, None
        path = self.instance_files[index]
        instances = read_mask(path, "instances")
        _same_size(image_path, image, path, instances, "instances")
        return image, mask, check_instances(f"instances: {path}", instances, mask)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        image, mask, instances = self.read(index)
        labels = torch.stack([mask, instances]) if self.yields_instances else mask
        if self.transform is not None:
            image, labels = self.transform(image, labels)
        return (image, *labels) if self.yields_instances else (image, labels)

    def select(self, keep: torch.Tensor) -> FileSegmentationData:
        """The pairs at indices ``keep``, with their instance files."""
        keep = [int(i) for i in keep]
        files = None if self.instance_files is None else [self.instance_files[i] for i in keep]
        copy = FileSegmentationData([self.pairs[i] for i in keep], self.class_names, self.transform, self.mask_map, files)
        copy.yields_instances = self.yields_instances
        return copy

    def _where_instances_go(self) -> str:
        folder = self.pairs[0][1].parent.parent if self.pairs else "no files"
        return f" (instances/<stem>.png beside masks/ in {folder})"

    def in_memory(self, size: int | Sequence[int]) -> SegmentationData:
        """Every pair resized to ``size`` and stacked (instance ids too, when there are any): a
        :class:`SegmentationData` for fast evaluation and plots."""
        if not self.pairs:
            raise ValueError("data: this split holds no images; give the folder more images or set the split's "
                             "fraction higher")
        resize = Resize(size)
        images, labels = [], []
        for i in range(len(self)):
            image, mask, instances = self.read(i)
            image, planes = resize(image, mask if instances is None else torch.stack([mask, instances]))
            images.append(image)
            labels.append(planes)
        labels = torch.stack(labels)
        if self.instance_files is None:
            return SegmentationData(torch.stack(images), labels, self.class_names)
        return SegmentationData(torch.stack(images), labels[:, 0], self.class_names, labels[:, 1])


def _same_size(image_path: Path, image: torch.Tensor, path: Path, labels: torch.Tensor, what: str) -> None:
    if image.shape[-2:] != labels.shape:
        raise ValueError(f"{what}: {path} is {labels.shape[1]}×{labels.shape[0]} but its image {image_path} is "
                         f"{image.shape[2]}×{image.shape[1]} (width×height); they must match")


def _files(folder: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() in suffixes and not path.name.startswith("."):
            if path.stem in files:
                raise ValueError(f"{folder.name}: two files share the stem {path.stem!r}: {files[path.stem].name}, {path.name}")
            files[path.stem] = path
    return files


def match_pairs(root: Path) -> list[tuple[Path, Path]]:
    """Sorted ``(image, mask)`` pairs of ``root/images`` and ``root/masks`` by stem; unmatched files are errors,
    and so are an image and its mask of different sizes (checked from the file headers)."""
    for name in ("images", "masks"):
        if not (root / name).is_dir():
            raise FileNotFoundError(f"data: expected a folder {root / name} (layout: images/<stem>.jpg|png, "
                                    "masks/<stem>.png)")
    images, masks = _files(root / "images", IMAGE_SUFFIXES), _files(root / "masks", (".png",))
    lossy = sorted(p.name for s, p in _files(root / "masks", IMAGE_SUFFIXES).items() if s in images and s not in masks)
    if lossy:
        raise ValueError(f"data: masks must be PNG files (lossless: JPEG changes class values at every edge), "
                         f"got {lossy[:5]} in {root / 'masks'}; save them as <stem>.png")
    no_mask = sorted(set(images) - set(masks))
    no_image = sorted(set(masks) - set(images))
    if no_mask or no_image:
        raise ValueError(f"data: in {root}, images without a mask: {[images[s].name for s in no_mask[:5]]}; "
                         f"masks without an image: {[masks[s].name for s in no_image[:5]]} (file stems must match)")
    if not images:
        raise ValueError(f"data: {root / 'images'} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    pairs = [(images[s], masks[s]) for s in sorted(images)]
    for image_path, mask_path in pairs:
        if image_file_size(image_path) != image_file_size(mask_path):
            (ih, iw), (mh, mw) = image_file_size(image_path), image_file_size(mask_path)
            raise ValueError(f"mask: {mask_path} is {mw}×{mh} but its image {image_path} is {iw}×{ih} (width×height)")
    return pairs


def read_class_names(root: Path, num_classes: int | None, pairs: Sequence[tuple[Path, Path]]) -> tuple[str, ...]:
    """Class names from ``root/classes.txt`` (one per line), else ``num_classes``, else 1 + the largest mask value."""
    names_file = root / "classes.txt"
    if names_file.is_file():
        names = tuple(line.strip() for line in names_file.read_text().splitlines() if line.strip())
        if len(names) < 2:
            raise ValueError(f"classes: {names_file} names {len(names)} classes; expected one name per line, "
                             "at least two (the background and one more)")
        if num_classes is not None and num_classes != len(names):
            raise ValueError(f"num_classes: {names_file} names {len(names)} classes, got num_classes={num_classes}")
        return names
    if num_classes is None:
        largest = max(int(m[m != IGNORE_INDEX].max(initial=0)) for m in (read_mask(p).numpy() for _, p in pairs))
        num_classes = max(largest + 1, 2)
    return tuple(f"class {k}" for k in range(num_classes))


def folder_dataset(
    root: str | os.PathLike, split: str = "train", num_classes: int | None = None, transform=None,
    val_fraction: float = 0.1, test_fraction: float = 0.1,
) -> FileSegmentationData:
    """Your own images and masks (and, optionally, instance ids). Layout, either

    - ``root/images/``, ``root/masks/``: split by a fixed shuffle of the sorted stems into
      ``val_fraction`` for ``val``, ``test_fraction`` for ``test`` and the rest for ``train``; or
    - ``root/train/``, ``root/val/``, ``root/test/``, each with ``images/`` and ``masks/``.

    ``root/classes.txt`` (optional) names the classes, one per line, in index order. An
    ``instances/`` folder beside ``masks/`` (optional) holds ``<stem>.png``, 16-bit instance ids (0 =
    no object, one class per object, none on class 0) for models that learn objects.
    """
    root = Path(root).expanduser()
    if split not in SPLIT_FOLDERS:
        raise ValueError(f"split: expected one of {SPLIT_FOLDERS}, got {split!r}")
    if not root.is_dir():
        raise FileNotFoundError(f"data: no folder at {root}")
    if (root / "train").is_dir():
        splits = {name: match_pairs(root / name) for name in SPLIT_FOLDERS if (root / name).is_dir()}
        if split not in splits:
            raise FileNotFoundError(f"data: {root} has split folders but no {root / split}")
        pairs, everything = splits[split], [pair for found in splits.values() for pair in found]
    else:
        if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
            raise ValueError(f"val_fraction, test_fraction: expected fractions summing below 1, got "
                             f"{val_fraction}, {test_fraction}")
        everything = match_pairs(root)
        order = torch.randperm(len(everything), generator=torch.Generator().manual_seed(0)).tolist()
        n_val = max(1, round(val_fraction * len(order))) if val_fraction else 0
        n_test = max(1, round(test_fraction * len(order))) if test_fraction else 0
        if len(order) - n_val - n_test < 1:
            raise ValueError(f"data: {root} has {len(order)} pairs, too few to split into train, val and test")
        chosen = {"val": order[:n_val], "test": order[n_val:n_val + n_test], "train": order[n_val + n_test:]}[split]
        pairs = [everything[i] for i in sorted(chosen)]
    # names come from every split, so train and test agree on the number of classes
    names = read_class_names(root, num_classes, everything)
    return FileSegmentationData(pairs, names, transform, instance_files=instance_files(pairs))


def instance_files(pairs: Sequence[tuple[Path, Path]]) -> list[Path] | None:
    """The instance-id files of ``pairs``: ``instances/<stem>.png`` beside each ``masks/`` folder, or
    ``None`` where there is no such folder. Where there is one, every image needs its file, of the
    image's size (checked from the file headers)."""
    folders = {mask.parent.parent / "instances" for _, mask in pairs}
    if not any(folder.is_dir() for folder in folders):
        return None
    files = [mask.parent.parent / "instances" / f"{mask.stem}.png" for _, mask in pairs]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise ValueError(f"data: instances/ holds no file for {len(missing)} images, e.g. {missing[:3]}; expected "
                         "one 16-bit PNG of instance ids per image (0 = no object), named like its mask")
    for (image, _), path in zip(pairs, files, strict=True):
        if image_file_size(image) != image_file_size(path, "instances"):
            (ih, iw), (h, w) = image_file_size(image), image_file_size(path, "instances")
            raise ValueError(f"instances: {path} is {w}×{h} but its image {image} is {iw}×{ih} (width×height)")
    return files


def write_shapes_folder(root: str | os.PathLike, num_images: int = 12, size: int = 48, seed: int = 0) -> Path:
    """Write synthetic shapes as a folder data set, ``root/images/*.png``, ``root/masks/*.png`` and
    ``classes.txt`` (four shape classes), in the layout :func:`folder_dataset` reads: a way to try the
    folder path before you have data of your own. Returns ``root``."""
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    data = synthetic_shapes(num_images, size=size, seed=seed, split="train")
    for k in range(num_images):
        image = (data.images[k] * 255).round().byte().permute(1, 2, 0).numpy()
        Image.fromarray(image).save(root / "images" / f"img_{k:03d}.png")
        Image.fromarray(data.masks[k].to(torch.uint8).numpy()).save(root / "masks" / f"img_{k:03d}.png")
    (root / "classes.txt").write_text("\n".join(data.class_names) + "\n")
    return root
