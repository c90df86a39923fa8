"""What every data set of the package is (:class:`SegmentationDataset`), the in-memory one every source can
become (:class:`SegmentationData`), and the check that instance ids fit their classes."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from ..labels import IGNORE_INDEX, MAX_INSTANCE_ID


class SegmentationDataset(Dataset):
    """The one protocol of the package's data sets: item ``i`` is ``(image 3×H×W float in [0, 1], mask
    H×W int64)``, or ``(image, mask, instances H×W)`` from the view :meth:`with_instances` gives, for
    a model that learns objects; ``class_names`` name the mask's values (255 is ignored).

    A subclass holds the items (``__len__``, ``__getitem__``), says whether it carries instance ids
    (``has_instances``), and keeps some of them (``select``); the rest is shared.
    """

    class_names: tuple[str, ...]
    yields_instances: bool = False

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def has_instances(self) -> bool:
        raise NotImplementedError

    def select(self, keep: torch.Tensor) -> SegmentationDataset:
        """The items at indices ``keep`` (a 1-D int64 tensor), in that order."""
        raise NotImplementedError

    def with_instances(self) -> SegmentationDataset:
        """The same data, items ``(image, mask, instances)``; a ``ValueError`` if it carries none."""
        if not self.has_instances:
            raise ValueError(f"data: expected instance ids (for a model that learns objects), and this "
                             f"{type(self).__name__} carries none{self._where_instances_go()}")
        view = self.select(torch.arange(len(self)))
        view.yields_instances = True
        return view

    def _where_instances_go(self) -> str:
        return ""

    def most_objects(self) -> int:
        """The most objects (distinct instance ids > 0) any one item holds: how many a model whose
        experts own one object each must be able to tell apart in one image."""
        return max((int(instances.unique().gt(0).sum()) for _, _, instances in self.with_instances()), default=0)

    def subset(self, limit: int | None) -> SegmentationDataset:
        """At most ``limit`` items, spread evenly over the set, so every part of it is represented."""
        if limit is None or limit >= len(self):
            return self
        if limit <= 0:
            raise ValueError(f"limit: expected a positive int, got {limit}")
        return self.select(torch.linspace(0, len(self) - 1, limit).round().long())


class SegmentationData(SegmentationDataset):
    """In-memory images ``N×3×H×W``, masks ``N×H×W`` and, optionally, instance ids ``N×H×W``.

    Item ``i`` is ``(3×H×W, H×W)``; :meth:`with_instances` gives a view whose items are
    ``(3×H×W, H×W, H×W)``, for training a model that learns objects. Instance ids number the objects
    of each image (0 = no object, any positive ids, at most 65535); every
    object lies in one class, never the background (class 0, which is *stuff*: one region, not
    objects). :func:`check_instances` says what is wrong with ids that break this.
    """

    def __init__(self, images: torch.Tensor, masks: torch.Tensor, class_names: tuple[str, ...],
                 instances: torch.Tensor | None = None) -> None:
        if images.dim() != 4 or masks.dim() != 3 or images.shape[0] != masks.shape[0]:
            raise ValueError(
                f"images, masks: expected N×C×H×W and N×H×W, got {tuple(images.shape)} and {tuple(masks.shape)}"
            )
        if images.shape[-2:] != masks.shape[-2:]:
            raise ValueError(f"masks: expected H×W {tuple(images.shape[-2:])} like images, got {tuple(masks.shape[-2:])}")
        if instances is not None:
            check_instances("instances", instances, masks)
        self.images = images
        self.masks = masks
        self.instances = instances
        self.class_names = tuple(class_names)
        self.yields_instances = False

    @property
    def has_instances(self) -> bool:
        return self.instances is not None

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        if self.yields_instances:
            return self.images[index], self.masks[index], self.instances[index]
        return self.images[index], self.masks[index]

    def with_instances(self) -> SegmentationData:
        """The same tensors (not copied), items ``(image, mask, instances)``; a ``ValueError`` if it carries none."""
        if self.instances is None:
            return super().with_instances()  # the error
        view = SegmentationData(self.images, self.masks, self.class_names)
        view.instances, view.yields_instances = self.instances, True
        return view

    def select(self, keep: torch.Tensor | slice) -> SegmentationData:
        """The pairs ``keep`` (indices or a slice), instances included."""
        instances = None if self.instances is None else self.instances[keep]
        selected = SegmentationData(self.images[keep], self.masks[keep], self.class_names, instances)
        selected.yields_instances = self.yields_instances
        return selected

    def most_objects(self) -> int:
        if self.instances is None:
            self.with_instances()  # the error
        if not len(self):
            return 0
        ids = self.instances.flatten(1).long()
        pairs = (torch.arange(len(self))[:, None] * (MAX_INSTANCE_ID + 1) + ids)[ids > 0].unique()  # (item, id) once
        return int(torch.bincount(pairs // (MAX_INSTANCE_ID + 1), minlength=len(self)).max()) if len(pairs) else 0

    def class_frequencies(self) -> torch.Tensor:
        """Share of pixels per class, ``K`` floats summing to 1."""
        counts = torch.bincount(self.masks.flatten(), minlength=self.num_classes).double()
        return counts / counts.sum()


def check_instances(name: str, instances: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Check instance ids ``N×H×W`` (or ``H×W``) against their class masks of the same shape: integers
    in ``[0, 65535]``, every object in one class and none in the background (class 0). Ignored pixels
    (255) may carry any id. Returns ``instances``; a ``ValueError`` naming ``name`` otherwise."""
    if not isinstance(instances, torch.Tensor) or instances.is_floating_point() or instances.dtype == torch.bool:
        got = instances.dtype if isinstance(instances, torch.Tensor) else type(instances).__name__
        raise TypeError(f"{name}: expected an integer tensor of instance ids, got {got}")
    if instances.shape != masks.shape:
        raise ValueError(f"{name}: expected the masks' shape {tuple(masks.shape)}, got {tuple(instances.shape)}")
    if instances.numel() and (int(instances.min()) < 0 or int(instances.max()) > MAX_INSTANCE_ID):
        raise ValueError(f"{name}: expected ids in [0, {MAX_INSTANCE_ID}] (0 = no object), got range "
                         f"[{int(instances.min())}, {int(instances.max())}]")
    images = instances.reshape(-1, *instances.shape[-2:])
    labels = masks.reshape(images.shape)
    counted = (images > 0) & (labels != IGNORE_INDEX)
    on_background = counted & (labels == 0)
    if on_background.any():
        image = int(on_background.flatten(1).any(1).nonzero()[0])
        ids = sorted(set(images[image][on_background[image]].tolist()))[:5]
        raise ValueError(f"{name}: image {image} has objects {ids} on background pixels (class 0 is stuff, not "
                         "objects); expected id 0 there")
    image_of = torch.arange(images.shape[0])[:, None, None].expand_as(images)
    key = (image_of[counted] * (MAX_INSTANCE_ID + 1) + images[counted]).long()
    classes = labels[counted].long()
    if key.numel():
        unique, slot = torch.unique(key, return_inverse=True)
        low = torch.full((len(unique),), 1 << 30, dtype=torch.long).scatter_reduce(0, slot, classes, "amin")
        high = torch.full((len(unique),), -1, dtype=torch.long).scatter_reduce(0, slot, classes, "amax")
        mixed = (low != high).nonzero()
        if len(mixed):
            k = int(unique[mixed[0, 0]])
            raise ValueError(f"{name}: image {k // (MAX_INSTANCE_ID + 1)}, object {k % (MAX_INSTANCE_ID + 1)} spans "
                             f"classes {int(low[mixed[0, 0]])} and {int(high[mixed[0, 0]])}; expected one class per "
                             "object")
    return instances
