"""Seeded synthetic shapes with structure to learn, and the article's noise with none.

Images are float32 ``N×3×H×W`` in ``[0, 1]``; masks are int64 ``N×H×W`` class indices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..checks import check_positive_int
from .dataset import SegmentationData
from .looks import LOOKS, paint

SHAPE_CLASSES = ("background", "circle", "square", "triangle")
SPLITS = ("train", "val", "test")
_CHUNK = 256  # images drawn per generator
#: each look's range of shape radii, as fractions of the side (the faint look keeps its first range)
RADII = {"varied": (0.06, 0.24), "faint": (0.08, 0.20), "classic": (0.06, 0.24), "texture": (0.06, 0.24),
         "mixed": (0.06, 0.24)}
#: radii of crowded scenes (:func:`synthetic_shapes` with ``crowded=True``), smaller, so that 3–7 fit
CROWDED_RADII = (0.07, 0.16)
#: shapes per crowded scene, at most
CROWDED_SHAPES = 7
_MAX_SEED = 2**40


def split_seed(seed: int, split: str) -> int:
    """The generator seed of one split: ``3·seed + {train: 0, val: 1, test: 2}``.

    The map is one-to-one, so no split of any seed shares a generator with a split of another.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < _MAX_SEED:
        raise ValueError(f"seed: expected an int in [0, 2**40), got {seed!r}")
    if split not in SPLITS:
        raise ValueError(f"split: expected one of {SPLITS}, got {split!r}")
    return 3 * seed + SPLITS.index(split)


def _generator(seed: int, chunk: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 2**20 + chunk)


def _rasterise(
    classes: torch.Tensor, active: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor,
    angles: torch.Tensor, size: int,
) -> torch.Tensor:
    """Index of the topmost shape at each pixel, ``n×size×size`` (0 = background, s+1 = shape s).

    A square or triangle is the set of points whose projection on each of its outward edge normals
    is at most its inradius; a circle is a disc. Shapes share one area, so size says nothing of class.
    """
    coords = torch.arange(size, dtype=torch.float32) + 0.5
    dx = coords[None, None, None, :] - centres[..., 0, None, None]  # n×S×1×W
    dy = coords[None, None, :, None] - centres[..., 1, None, None]  # n×S×H×1
    inside_circle = dx**2 + dy**2 <= radii[..., None, None] ** 2
    sides = torch.where(classes == 2, 4, 3)  # squares 4 normals, triangles 3 (first one repeated)
    k = torch.arange(4)
    k = torch.where(k[None, None] < sides[..., None], k[None, None], 0)  # n×S×4
    phi = angles[..., None] + 2 * math.pi * k / sides[..., None]
    proj = dx[..., None] * torch.cos(phi)[:, :, None, None] + dy[..., None] * torch.sin(phi)[:, :, None, None]
    # Equal area with the circle: square half-side r·√π/2, equilateral triangle inradius r·√(π/(3√3)).
    inradius = radii * torch.where(classes == 2, math.sqrt(math.pi) / 2, math.sqrt(math.pi / (3 * math.sqrt(3))))
    inside_polygon = proj.amax(dim=-1) <= inradius[..., None, None]
    inside = torch.where((classes == 1)[..., None, None], inside_circle, inside_polygon) & active[..., None, None]
    order = torch.arange(1, classes.shape[1] + 1)[None, :, None, None]
    return (inside * order).amax(dim=1)  # later shapes are painted over earlier ones


def _shapes_chunk(n: int, size: int, max_shapes: int, look: str, g: torch.Generator,
                  crowded: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``n`` images ``n×3×H×W``, class maps and instance ids ``n×H×W`` (shape ``s`` is object ``s + 1``)."""
    if crowded:
        active, classes, centres, radii, angles = _crowded_layout(n, size, max_shapes, g)
    else:
        counts = torch.randint(1, max_shapes + 1, (n,), generator=g)
        active = torch.arange(max_shapes)[None] < counts[:, None]  # n×S
        classes = torch.randint(1, len(SHAPE_CLASSES), (n, max_shapes), generator=g)
        centres = (0.15 + 0.7 * torch.rand(n, max_shapes, 2, generator=g)) * size
        low, high = RADII[look]
        radii = (low + (high - low) * torch.rand(n, max_shapes, generator=g)) * size
        angles = 2 * math.pi * torch.rand(n, max_shapes, generator=g)
    top = _rasterise(classes, active, centres, radii, angles, size)  # n×H×W
    return paint(look, top, max_shapes, g), _masks(top, classes), top


def _crowded_layout(n: int, size: int, max_shapes: int, g: torch.Generator) -> tuple[torch.Tensor, ...]:
    """Crowded scenes: 3..``max_shapes`` shapes of radius :data:`CROWDED_RADII`, each after the first
    placed against an earlier one, its centre ``0.8–1.05 × (r₁ + r₂)`` away (touching or slightly
    overlapping), and half of them of that neighbour's class. Returns ``active``, ``classes``,
    ``centres``, ``radii``, ``angles`` as the generator's other layout does."""
    counts = torch.randint(3, max(3, max_shapes) + 1, (n,), generator=g)
    active = torch.arange(max_shapes)[None] < counts[:, None]
    classes = torch.randint(1, len(SHAPE_CLASSES), (n, max_shapes), generator=g)
    low, high = CROWDED_RADII
    radii = (low + (high - low) * torch.rand(n, max_shapes, generator=g)) * size
    angles = 2 * math.pi * torch.rand(n, max_shapes, generator=g)
    direction = 2 * math.pi * torch.rand(n, max_shapes, generator=g)
    gap = 0.8 + 0.25 * torch.rand(n, max_shapes, generator=g)
    neighbour = (torch.rand(n, max_shapes, generator=g) * torch.arange(max_shapes)).long()  # an earlier shape
    same = torch.rand(n, max_shapes, generator=g) < 0.5
    centres = torch.zeros(n, max_shapes, 2)
    centres[:, 0] = (0.3 + 0.4 * torch.rand(n, 2, generator=g)) * size
    rows = torch.arange(n)
    for s in range(1, max_shapes):
        j = neighbour[:, s]
        step = gap[:, s] * (radii[rows, j] + radii[:, s])
        offset = torch.stack([torch.cos(direction[:, s]), torch.sin(direction[:, s])], -1) * step[:, None]
        centres[:, s] = (centres[rows, j] + offset).clamp(0.1 * size, 0.9 * size)
        classes[:, s] = torch.where(same[:, s], classes[rows, j], classes[:, s])
    return active, classes, centres, radii, angles


def _masks(top: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """Class maps ``n×H×W`` from the topmost-shape index ``top`` and each shape's class ``n×S``."""
    pad = torch.zeros(classes.shape[0], 1, dtype=classes.dtype)
    return torch.gather(torch.cat([pad, classes], 1), 1, top.flatten(1)).view(top.shape)


@dataclass(frozen=True)
class Shape:
    """One shape to draw with :func:`compose_shapes`: ``kind`` is ``circle``, ``square`` or ``triangle``;
    ``x``, ``y`` (centre) and ``radius`` are fractions of the image side; ``angle`` is in degrees.

    ``radius`` is that of the circle of the same area (the generator draws 0.06–0.24; :data:`RADII`).
    """

    kind: str
    x: float = 0.5
    y: float = 0.5
    radius: float = 0.15
    angle: float = 0.0


def compose_shapes(shapes: list[Shape], size: int = 64, seed: int = 0, look: str = "varied") -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``shapes`` in order (later ones on top), coloured as the generator would in ``look``:
    image ``3×size×size`` in ``[0, 1]`` and mask ``size×size``."""
    if check_positive_int("size", size) < 16:
        raise ValueError(f"size: expected at least 16 pixels, got {size}")
    if not shapes:
        raise ValueError("shapes: expected at least one Shape, got none")
    for shape in shapes:
        if shape.kind not in SHAPE_CLASSES[1:]:
            raise ValueError(f"shapes: kind must be one of {SHAPE_CLASSES[1:]}, got {shape.kind!r}")
        if not 0 < shape.radius <= 0.5:
            raise ValueError(f"shapes: radius is a fraction of the image side in (0, 0.5], got {shape.radius}")
    g = _generator(split_seed(seed, "test"), 2**19)  # its own stream, apart from every chunk of the data sets
    n = len(shapes)
    classes = torch.tensor([[SHAPE_CLASSES.index(s.kind) for s in shapes]])
    centres = torch.tensor([[[s.x * size, s.y * size] for s in shapes]], dtype=torch.float32)
    radii = torch.tensor([[s.radius * size for s in shapes]], dtype=torch.float32)
    angles = torch.tensor([[math.radians(s.angle) for s in shapes]], dtype=torch.float32)
    top = _rasterise(classes, torch.ones(1, n, dtype=torch.bool), centres, radii, angles, size)
    return paint(look, top, n, g)[0], _masks(top, classes)[0]


def synthetic_shapes(
    num_images: int, size: int = 64, seed: int = 0, split: str = "train", max_shapes: int | None = None,
    look: str = "varied", crowded: bool = False,
) -> SegmentationData:
    """Seeded shapes; classes ``background, circle, square, triangle``, with instance ids.

    Each image holds 1..``max_shapes`` (default 4) shapes of random class, position, size (radius
    6–24 % of the image; :data:`RADII`) and rotation, painted in order so later shapes cover earlier
    ones, coloured in ``look`` (:mod:`latentseg.data.looks`: ``varied``, where appearance says
    nothing of the class or of shape versus background; ``faint``, its first version; ``classic``,
    where saturation does). The same ``(seed, split)`` gives the same shapes in ``varied`` and
    ``classic`` (``faint`` the same shapes at its own sizes) and the same data on every machine;
    ``train``, ``val`` and ``test`` use disjoint generator seeds (:func:`split_seed`).

    ``crowded`` draws 3..``max_shapes`` (default 7) smaller shapes that touch or overlap, same-class
    neighbours common (:func:`_crowded_layout`): scenes where a class map cannot count the objects.
    Every shape is one object, id ``s + 1`` for the ``s``-th drawn, also where a shape on top cuts it
    in two; a shape covered whole has no pixels and no id.
    """
    max_shapes = check_positive_int("max_shapes", max_shapes or (CROWDED_SHAPES if crowded else 4))
    check_positive_int("num_images", num_images)
    if look not in LOOKS:
        raise ValueError(f"look: expected one of {LOOKS}, got {look!r}")
    if check_positive_int("size", size) < 16:
        raise ValueError(f"size: expected at least 16 pixels, got {size}")
    base_seed = split_seed(seed, split)
    parts: list[tuple[torch.Tensor, ...]] = []
    for chunk, start in enumerate(range(0, num_images, _CHUNK)):
        n = min(_CHUNK, num_images - start)
        # always draw a whole chunk, so the first k images are the same whatever the set's size
        drawn = _shapes_chunk(_CHUNK, size, max_shapes, look, _generator(base_seed, chunk), crowded)
        parts.append(tuple(t[:n] for t in drawn))
    images, masks, instances = (torch.cat(t) for t in zip(*parts, strict=True))
    return SegmentationData(images, masks, SHAPE_CLASSES, instances)


def noise_data(
    num_images: int, size: int = 64, seed: int = 0, split: str = "train", num_classes: int = 2
) -> SegmentationData:
    """The article's data: ``randn`` images with ``randint`` labels. Nothing in it can be learned."""
    check_positive_int("num_images", num_images)
    check_positive_int("size", size)
    check_positive_int("num_classes", num_classes)
    g = _generator(split_seed(seed, split), 0)
    images = torch.randn(num_images, 3, size, size, generator=g)
    masks = torch.randint(0, num_classes, (num_images, size, size), generator=g)
    return SegmentationData(images, masks, tuple(f"class {k}" for k in range(num_classes)))
