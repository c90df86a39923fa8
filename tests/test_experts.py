"""The experts model: matching experts to objects, its losses, and the instance maps it predicts."""

import math

import pytest
import torch

from latentseg.models import build_model
from latentseg.models.experts import ObjectExpertsModel
from latentseg.models.matching import (
    MatchWeights,
    batch_objects,
    image_objects,
    match,
    matched_loss,
    object_loss,
    object_targets,
    pairwise_mask_costs,
)
from latentseg.training import TrainOptions

QUIET = TrainOptions(progress=False)

SMALL = dict(stem_dim=4, mid_dim=8, feature_dim=16, latent_dim=16, num_latents=6, num_heads=2, mask_dim=8)


def _scene():
    """One 4×6 image: object 1 (class 1) on the left, object 2 (class 2) on the right, background between."""
    mask = torch.tensor([[1, 1, 0, 0, 2, 2]] * 4)
    ids = torch.tensor([[1, 1, 0, 0, 2, 2]] * 4)
    return mask, ids


def test_objects_of_an_image_are_the_background_then_each_instance():
    mask, ids = _scene()
    mask[0, 2] = 255  # ignored: in no object
    classes, regions = image_objects(mask, ids)
    assert classes.tolist() == [0, 1, 2]
    assert regions.sum((1, 2)).tolist() == [7, 8, 8] and not regions[:, 0, 2].any()
    padded_classes, padded = batch_objects(torch.stack([mask, torch.zeros_like(mask)]), torch.stack([ids, torch.zeros_like(ids)]))
    assert padded_classes.tolist() == [[0, 1, 2], [0, -1, -1]] and padded.shape == (2, 3, 4, 6)


def test_pairwise_costs_are_the_mean_bce_and_dice_of_each_pair_by_hand():
    logits = torch.tensor([[0.0, 0.0], [math.log(3), -math.log(3)]])  # p = (½, ½) and (¾, ¼)
    targets = torch.tensor([[1.0, 0.0]])
    bce, dice = pairwise_mask_costs(logits, targets, torch.ones(2))
    assert bce[:, 0].tolist() == pytest.approx([math.log(2), -math.log(3 / 4)])
    # Dice with +1 smoothing: 1 − (2·Σpt + 1) / (Σp + Σt + 1)
    assert dice[:, 0].tolist() == pytest.approx([1 - (2 * 0.5 + 1) / (1 + 1 + 1), 1 - (2 * 0.75 + 1) / (1 + 1 + 1)])
    masked, _ = pairwise_mask_costs(logits, targets, torch.tensor([1.0, 0.0]))
    assert masked[1, 0] == pytest.approx(-math.log(3 / 4)), "an invalid pixel counts in no cost"


def test_the_assignment_is_the_permutation_of_least_cost_and_leaves_extra_objects_out():
    cost = torch.tensor([[[5.0, 1.0, 9.0], [1.0, 5.0, 9.0]]])  # 2 experts, 3 objects
    (experts, objects), = match(cost, torch.tensor([[0, 1, 2]]))
    pairs = sorted(zip(experts.tolist(), objects.tolist(), strict=True))
    assert pairs == [(0, 1), (1, 0)], "object 2 left over: more objects than experts"
    (experts, objects), = match(cost, torch.tensor([[0, 1, -1]]))
    assert len(experts) == 2 and 2 not in objects.tolist(), "padding is never matched"


def test_the_loss_is_lowest_when_each_object_has_an_expert_that_predicts_it():
    mask, ids = _scene()
    classes, regions = image_objects(mask, ids)
    strong = 12.0 * (2 * regions.float() - 1)  # three experts with each object's exact mask
    good_classes = torch.full((5, 4), -6.0)
    good_classes[torch.arange(3), classes] = 6.0
    good_classes[3:, 3] = 6.0  # the rest say "no object"
    good_masks = torch.cat([strong, torch.full((2, 4, 6), -12.0)])
    perfect = object_loss(good_classes[None], good_masks[None], mask[None], ids[None], MatchWeights())
    shuffled = object_loss(good_classes[None], good_masks[[1, 2, 0, 3, 4]][None], mask[None], ids[None], MatchWeights())
    blank = object_loss(torch.zeros(1, 5, 4), torch.zeros(1, 5, 4, 6), mask[None], ids[None], MatchWeights())
    assert perfect < 0.05 < shuffled and perfect < blank


def test_instance_maps_from_hand_set_objects():
    model = ObjectExpertsModel(**SMALL, num_classes=3)
    mask, ids = _scene()
    classes, regions = image_objects(mask, ids)
    class_logits = torch.full((6, 4), -9.0)
    class_logits[torch.arange(3), classes] = 9.0
    class_logits[3:, 3] = 9.0
    class_logits[4] = torch.tensor([-9.0, 0.2, -9.0, 0.0])  # class 1 with p ≈ 0.55: kept, but its mask is someone else's
    mask_logits = torch.cat([9.0 * (2 * regions.float() - 1), torch.full((3, 4, 6), -9.0)])
    mask_logits[4] = mask_logits[1]
    classes_map, instances, objects = model.merge_objects(class_logits, mask_logits)
    assert classes_map.tolist() == mask.tolist()
    assert [o["class"] for o in objects] == [1, 2] and {o["expert"] for o in objects} == {1, 2}
    assert instances[0].tolist() == [objects[0]["id"]] * 2 + [0, 0] + [objects[1]["id"]] * 2
    assert all(o["pixels"] == 8 and o["score"] > 0.99 for o in objects), "the copy (expert 4) lost its pixels: dropped"


def test_forward_shapes_extras_and_switched_off_experts():
    torch.manual_seed(0)
    model = build_model("experts", num_classes=4, **SMALL).eval()
    x = torch.rand(2, 3, 32, 24)
    assert model(x).shape == (2, 4, 32, 24)
    logits, extras = model.forward_with_extras(x)
    assert len(extras["objects"]) == 3, "one prediction per round of reading (deep supervision), three rounds"
    classes, masks = extras["objects"][-1]
    assert classes.shape == (2, 6, 5) and masks.shape == (2, 6, 32, 24)
    off = torch.ones(6, dtype=torch.bool)
    off[2] = False
    classes_off, _ = model.forward_with_extras(x, off)[1]["objects"][-1]
    assert (classes_off[:, 2].softmax(-1)[:, -1] == 1).all(), "an expert switched off says no object"
    found = model.predict_instances(x)
    assert found.classes.shape == found.instances.shape == (2, 32, 24) and len(found.objects) == 2


def test_every_parameter_learns_and_a_batch_without_instances_is_refused():
    for texture_energy, masked in ((False, False), (True, False), (False, True)):  # texture and masks learn from objects
        torch.manual_seed(0)
        model = build_model("experts", num_classes=4, texture_energy=texture_energy, masked_attention=masked,
                            **SMALL).train()
        x, (mask, ids) = torch.rand(1, 3, 4, 6), _scene()
        logits, extras = model.forward_with_extras(x)
        loss = model.auxiliary_loss(extras, mask[None], ids[None]) + logits.sum() * 0
        loss.backward()
        silent = [name for name, p in model.named_parameters() if p.grad is None]
        assert silent == [] or all(n.startswith(("head.", "edge_head.")) for n in silent), silent
        assert (model.texture is not None) == texture_energy and (model.token_embed is not None) == masked
    with pytest.raises(ValueError, match="instances: the experts model learns objects from instance ids"):
        model.auxiliary_loss(extras, mask[None], None)


def test_masked_attention_reads_inside_each_experts_mask_and_learns_those_masks():
    torch.manual_seed(0)
    model = build_model("experts", num_classes=4, **{**SMALL, "rounds": 3}).train()  # masked by default
    x = torch.rand(2, 3, 32, 32)
    trunk = model.trunk(x, weights=True, extras=True)
    reading = trunk.extras["reading"]
    assert len(reading) == 3 and reading[-1].shape == (2, 6, 8, 8), "one mask per round, over the 8×8 tokens"
    keep = reading[-1].flatten(2) > 0
    keep |= ~keep.any(-1, keepdim=True)  # an expert whose mask is empty reads everything
    assert (trunk.latent_weights.masked_select(~keep[:, None]) == 0).all() and not keep.all(), "the last round, masked"
    logits, extras = model.forward_with_extras(x)
    assert [c.shape for c, _ in extras["reading"]] == [(2, 6, 5)] * 3, "each mask with its latent's classes"
    mask, ids = torch.zeros(2, 32, 32, dtype=torch.long), torch.zeros(2, 32, 32, dtype=torch.long)
    mask[:, 4:12, 4:12], ids[:, 4:12, 4:12] = 1, 1
    model.auxiliary_loss(extras, mask, ids).backward()
    assert model.token_embed.weight.grad.abs().sum() > 0, "the reading masks are matched to objects too"
    plain = build_model("experts", num_classes=4, masked_attention=False, **SMALL)
    assert plain.token_embed is None and "reading" not in plain.forward_with_extras(x)[1]


def test_the_rounds_share_one_draw_of_pixels_and_objects_per_resolution():
    torch.manual_seed(0)
    model = build_model("experts", num_classes=4, **{**SMALL, "rounds": 3, "mask_points": 100}).train()
    x, mask, ids = torch.rand(2, 3, 32, 32), torch.zeros(2, 32, 32, dtype=torch.long), torch.zeros(2, 32, 32, dtype=torch.long)
    mask[:, 4:12, 4:12], ids[:, 4:12, 4:12] = 1, 1
    mask[1, 20:30, 2:9], ids[1, 20:30, 2:9] = 2, 2
    _, extras = model.forward_with_extras(x)
    torch.manual_seed(5)
    loss = model.auxiliary_loss(extras, mask, ids)
    torch.manual_seed(5)
    weights = model.config.match_weights
    full = object_targets(mask, ids, (32, 32), weights.points)  # drawn first: the rounds' masks come first
    tokens = object_targets(mask, ids, (8, 8), weights.points)  # 64 pixels, fewer than 100: every one
    assert full.points.shape == (2, 100) and tokens.points is None and tokens.regions.shape == (2, 3, 64)
    rounds = [matched_loss(c, m, full, weights) for c, m in extras["objects"]]
    rounds += [matched_loss(c, m, tokens, weights) for c, m in extras["reading"]]
    expected = super(ObjectExpertsModel, model).auxiliary_loss(extras, mask) + model.config.object_weight * sum(rounds) / 6
    torch.testing.assert_close(loss, expected)
    other = object_targets(mask, ids, (32, 32), weights.points)
    assert not torch.equal(other.points, full.points), "a new draw each step"


def test_config_checks():
    with pytest.raises(ValueError, match="skip: the experts model needs the skip path"):
        build_model("experts", skip=False)
    with pytest.raises(ValueError, match=r"score_threshold: expected a number in \[0, 1\], got 2"):
        build_model("experts", score_threshold=2.0)


def test_images_with_more_objects_than_experts_are_counted_before_training(capsys):
    from latentseg import fit, synthetic_shapes

    torch.manual_seed(0)
    model = build_model("experts", num_classes=4, **{**SMALL, "num_latents": 3})
    data = synthetic_shapes(16, size=32)
    counts = torch.tensor([len(ids.unique()) for ids in data.instances])  # objects, the background included
    fit(model, data, epochs=1, max_steps=1, options=QUIET)
    out = capsys.readouterr().out
    over = int((counts > 3).sum())
    assert f"{over} images hold more objects than the model's 3 experts" in out
    assert f"the {int((counts - 3).clamp_min(0).sum())} objects left over in them are never learned" in out


def test_training_repeats_bit_for_bit():
    """Two runs of the same seed and steps (random pixel draws for the matching included) end on the same weights."""
    from latentseg import RECIPE, fit, synthetic_shapes

    data = synthetic_shapes(24, size=32, crowded=True)

    def trained():
        torch.manual_seed(0)
        model = build_model("experts", num_classes=4, **SMALL)
        fit(model, data, recipe=RECIPE.replace(batch_size=4), epochs=1, max_steps=5, seed=3, options=QUIET)
        return model.state_dict()

    first, second = trained(), trained()
    assert all(torch.equal(first[name], second[name]) for name in first)
