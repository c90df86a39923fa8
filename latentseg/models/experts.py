"""Experts that own objects: the improved model's latents, each also predicting one object — a class
(or *no object*) and a mask — as the queries of MaskFormer, Mask2Former and SAM's decoder do.

The trunk is :class:`~latentseg.models.improved.ImprovedSegmentationModel`'s, and its per-pixel class
head stays (it learns classes fast, and trains the trunk for them). On top:

- every expert's refined latent gives class logits ``K+1`` (the model's classes and *no object*) and
  a mask embedding ``E``;
- every pixel gets an embedding ``E`` from the skip path's full-resolution features plus its token
  after reading the experts (upsampled); an expert's mask is the dot product of its embedding with
  every pixel's, ``B×M×H×W`` logits;
- training matches experts to each image's objects one to one (:mod:`.matching`) after every round
  of reading (deep supervision: the same heads on the latents of each round);
- before each round, each expert predicts its mask over the tokens and reads only inside it (masked
  attention, Mask2Former's; ``masked_attention``), those token masks matched to objects too.

One forward pass gives a class map (the per-pixel head's) and, through
:meth:`ObjectExpertsModel.predict_instances`, an instance map: experts that name a class with
probability above ``score_threshold`` claim the pixels where their weighted mask is the highest of
all and above one half; an expert left with less than ``overlap_threshold`` of its own mask is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_image_batch, warn_outside_unit_range
from ..device import eval_mode
from .improved import ImprovedConfig, ImprovedSegmentationModel
from .matching import MatchWeights, matched_loss, object_targets


@dataclass(frozen=True)
class ExpertsConfig(ImprovedConfig):
    """:class:`~latentseg.models.improved.ImprovedConfig` with three ``rounds`` of reading (not two: one
    more matched prediction per step, docs/experiments.md), plus the object heads: ``mask_dim`` (``E``),
    the matching's weights (``class_weight``, ``mask_weight``, ``mask_dice_weight``,
    ``no_object_weight``) and ``mask_points`` (random pixels per image for the mask losses),
    ``object_weight`` (the matched losses against the per-pixel loss),
    ``deep_supervision`` (match after every round, not only the last), ``masked_attention`` (each
    expert reads only the tokens inside its current mask: :meth:`ObjectExpertsModel.reading_mask`; on by
    default, off in checkpoints saved before it existed: ``ADDED``), and
    inference's ``score_threshold`` and ``overlap_threshold``."""

    rounds: int = 3
    mask_dim: int = 32
    class_weight: float = 2.0
    mask_weight: float = 5.0
    mask_dice_weight: float = 5.0
    no_object_weight: float = 0.1
    mask_points: int = 2048
    object_weight: float = 0.25
    deep_supervision: bool = True
    masked_attention: bool = True
    score_threshold: float = 0.5
    overlap_threshold: float = 0.8
    ADDED: ClassVar[dict[str, Any]] = {"masked_attention": False}

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.skip:
            raise ValueError("skip: the experts model needs the skip path (its full-resolution pixel embeddings), "
                             "got skip=False")
        for name in ("score_threshold", "overlap_threshold"):
            if getattr(self, name) > 1:
                raise ValueError(f"{name}: expected a number in [0, 1], got {getattr(self, name)}")

    @property
    def match_weights(self) -> MatchWeights:
        return MatchWeights(self.class_weight, self.mask_weight, self.mask_dice_weight, self.no_object_weight,
                            self.mask_points)


class Instances(NamedTuple):
    """What :meth:`ObjectExpertsModel.predict_instances` returns for a batch of ``B`` images.

    - ``classes``: ``B×H×W`` int64 class map (0 where no expert claims a pixel);
    - ``instances``: ``B×H×W`` int64 instance ids, ``1, 2, …`` per image, 0 = no object;
    - ``objects``: per image, one dict per instance: ``id``, ``class`` (index), ``score`` (the
      expert's class probability), ``pixels`` and ``expert`` (which latent owns it).
    """

    classes: torch.Tensor
    instances: torch.Tensor
    objects: list[list[dict[str, Any]]]


class ObjectExpertsModel(ImprovedSegmentationModel):
    """Image ``B×C×H×W`` in ``[0, 1]`` → class logits ``B×K×H×W`` (as the improved model), plus one
    object per expert: :meth:`forward_with_extras` adds ``objects``, a list (one per round) of
    ``(class logits B×M×(K+1), mask logits B×M×H×W)``; :meth:`predict_instances` turns the last round
    into instance maps. ``forward(x)`` computes the class logits alone (no object heads)."""

    config_class = ExpertsConfig
    owns_objects = True
    adamw_only = (*ImprovedSegmentationModel.adamw_only, "object_classes", "pixel_embed", "context_embed", "token_embed")

    def __init__(self, config: ExpertsConfig | None = None, **overrides: Any) -> None:
        config = ExpertsConfig.merged(config, **overrides)
        super().__init__(ImprovedConfig(**{k: v for k, v in config.to_dict().items() if k in _IMPROVED_FIELDS}))
        self.config = c = config
        self.object_classes = nn.Linear(c.latent_dim, c.num_classes + 1)
        self.mask_embed = nn.Sequential(nn.Linear(c.latent_dim, c.latent_dim), nn.GELU(),
                                        nn.Linear(c.latent_dim, c.mask_dim))
        self.pixel_embed = nn.Conv2d(c.stem_dim, c.mask_dim, 1)
        # a 1×1 convolution commutes with bilinear upsampling: project the coarse tokens first, upsample E channels
        self.context_embed = nn.Conv2d(c.latent_dim, c.mask_dim, 1, bias=False)
        self.token_embed = nn.Linear(c.latent_dim, c.mask_dim) if c.masked_attention else None

    @property
    def has_auxiliary_loss(self) -> bool:
        return True

    def forward_with_extras(self, x: torch.Tensor, expert_mask: torch.Tensor | None = None
                            ) -> tuple[torch.Tensor, dict[str, Any]]:
        """As :meth:`ImprovedSegmentationModel.forward_with_extras`, plus ``objects``: per round of reading
        (the last only without ``deep_supervision``), class logits ``B×M×(K+1)`` and mask logits ``B×M×H×W``."""
        trunk = self.trunk(x, expert_mask, extras=True)
        rounds = trunk.rounds if self.config.deep_supervision else trunk.rounds[-1:]
        context = F.interpolate(self.context_embed(trunk.pixels), size=trunk.fine.shape[-2:], mode="bilinear",
                                align_corners=False)
        pixels = self.pixel_embed(trunk.fine) + context  # B×E×H×W
        extras = {**trunk.extras, "objects": [self.objects(latents, pixels, expert_mask) for latents in rounds]}
        if "reading" in extras:  # the masks each round read through, with the classes of the latents that made them
            entering = [self.latents.expand(x.shape[0], -1, -1), *trunk.rounds[:-1]]
            extras["reading"] = [(self.object_classes(latents), masks)
                                 for latents, masks in zip(entering, extras["reading"], strict=True)]
        return trunk.logits, extras

    def reading_mask(self, latents: torch.Tensor, tokens: torch.Tensor
                     ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """With ``masked_attention`` (Mask2Former's masked attention): each expert reads only the tokens
        where the mask its latent ``B×M×L`` predicts over the tokens ``B×N×L``,
        ``mask_embed(latent) · token_embed(token)``, is positive, and every token while that mask is
        empty. Returns that mask and the logits ``B×M×N`` (matched to objects in training, as the rounds'
        masks are); the decision is not differentiated. Without it, ``(None, None)``: every token."""
        if self.token_embed is None:
            return None, None
        logits = torch.einsum("bme,bne->bmn", self.mask_embed(latents), self.token_embed(tokens))
        keep = logits.detach() > 0
        return keep | ~keep.any(-1, keepdim=True), logits

    def objects(self, latents: torch.Tensor, pixels: torch.Tensor, expert_mask: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Class logits ``B×M×(K+1)`` and mask logits ``B×M×H×W`` of latents ``B×M×L`` over pixel
        embeddings ``B×E×H×W``; an expert switched off by ``expert_mask`` says *no object*."""
        classes = self.object_classes(latents)
        if expert_mask is not None:
            off = torch.zeros_like(classes)
            off[..., :-1] = float("-inf")
            classes = torch.where(expert_mask.to(classes.device)[None, :, None], classes, off)
        masks = torch.einsum("bme,behw->bmhw", self.mask_embed(latents), pixels)
        return classes, masks

    def auxiliary_loss(self, extras: dict[str, Any], masks: torch.Tensor,
                       instances: torch.Tensor | None = None) -> torch.Tensor:
        """The improved model's expert losses plus ``object_weight`` × the matched object losses of
        every round (:func:`~latentseg.models.matching.matched_loss`), and with ``masked_attention`` of
        every reading mask (at token resolution), averaged over them."""
        if instances is None:
            raise ValueError("instances: the experts model learns objects from instance ids, and this batch has "
                             "none; train it on data that carry instances (synthetic shapes, nuclei, or a folder with "
                             "instances/)")
        loss = super().auxiliary_loss(extras, masks)
        rounds = extras["objects"] + extras.get("reading", [])
        weights = self.config.match_weights
        sizes = dict.fromkeys(tuple(logits.shape[-2:]) for _, logits in rounds)  # in order, each once
        # the objects once per resolution: every round is scored on the same random pixels
        targets = {size: object_targets(masks, instances, size, weights.points) for size in sizes}
        matched = sum(matched_loss(classes, logits, targets[tuple(logits.shape[-2:])], weights)
                      for classes, logits in rounds)
        return loss + self.config.object_weight * matched / len(rounds)

    @torch.no_grad()
    def predict_instances(self, x: torch.Tensor, expert_mask: torch.Tensor | None = None) -> Instances:
        """Instance and class maps of images ``B×C×H×W`` (eval mode; the training mode is restored)."""
        check_image_batch("x", x, self.config.in_channels, self.min_size)
        warn_outside_unit_range("x", x)
        with eval_mode(self):
            _, extras = self.forward_with_extras(x, expert_mask)
        class_logits, mask_logits = extras["objects"][-1]
        maps = [self.merge_objects(c, m) for c, m in zip(class_logits, mask_logits, strict=True)]
        return Instances(torch.stack([m[0] for m in maps]), torch.stack([m[1] for m in maps]), [m[2] for m in maps])

    def merge_objects(self, class_logits: torch.Tensor, mask_logits: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor, list[dict[str, Any]]]:
        """One image's objects, ``M×(K+1)`` and ``M×H×W`` logits, merged into a class map, an instance
        map and the list of objects (Mask2Former's panoptic inference, background as the one stuff class)."""
        c = self.config
        probs = class_logits.float().softmax(-1)[:, :-1]  # M×K, without "no object"
        scores, labels = probs.max(-1)
        kept = (scores > c.score_threshold).nonzero().flatten()
        masks = mask_logits.float().sigmoid()  # M×H×W
        classes = torch.zeros(masks.shape[-2:], dtype=torch.long, device=masks.device)
        instances = torch.zeros_like(classes)
        objects: list[dict[str, Any]] = []
        if len(kept) == 0:
            return classes.cpu(), instances.cpu(), objects
        owner = kept[(scores[kept, None, None] * masks[kept]).argmax(0)]  # H×W: the expert each pixel goes to
        for expert in kept[scores[kept].argsort(descending=True)].tolist():
            own = masks[expert] >= 0.5
            claimed = own & (owner == expert)
            if not claimed.any() or claimed.sum() < c.overlap_threshold * own.sum():
                continue
            label = int(labels[expert])
            classes[claimed] = label
            if label != 0:  # the background is stuff: a region, not an object
                instances[claimed] = len(objects) + 1
                objects.append({"id": len(objects) + 1, "class": label, "score": float(scores[expert]),
                                "pixels": int(claimed.sum()), "expert": expert})
        return classes.cpu(), instances.cpu(), objects


_IMPROVED_FIELDS = set(ImprovedConfig.__dataclass_fields__)
