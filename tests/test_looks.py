"""The synthetic shapes' looks: in the varied look, appearance says nothing of the class, nor of shape
versus background; every shape stays visible; the classic look keeps its shortcut for the lesson."""

import pytest
import torch

from latentseg import synthetic_shapes
from latentseg.data.looks import MIN_CONTRAST, _contrasting, luminance


def _saturation_and_value(images):
    high, low = images.max(1).values, images.min(1).values
    return (high - low) / high.clamp_min(1e-6), high


@pytest.fixture(scope="module")
def varied():
    return synthetic_shapes(2000, size=32, seed=11)  # about 5,000 shapes


def test_appearance_is_independent_of_the_class_and_of_shape_versus_background(varied):
    saturation, value = _saturation_and_value(varied.images)
    means = {k: (float(saturation[varied.masks == k].mean()), float(value[varied.masks == k].mean()))
             for k in range(4)}
    for k in (1, 2, 3):  # each shape class against the others and against the background
        for j in range(4):
            assert abs(means[k][0] - means[j][0]) < 0.05, (k, j, means)
            assert abs(means[k][1] - means[j][1]) < 0.06, (k, j, means)
    spread = torch.quantile(saturation[varied.masks > 0][:100_000], torch.tensor([0.05, 0.95]))
    assert spread[0] < 0.15 and spread[1] > 0.85, "grey to vivid shapes"


def test_the_classic_look_gives_shapes_away_by_saturation():
    data = synthetic_shapes(200, size=32, seed=11, look="classic")
    saturation, _ = _saturation_and_value(data.images)
    assert saturation[data.masks > 0].median() > 0.7 > 0.35 > saturation[data.masks == 0].median()


def test_every_shape_stands_out_from_the_background_around_it(varied):
    images, masks = varied.images[:300], varied.masks[:300]
    luma = luminance(images)
    near_shapes = torch.nn.functional.max_pool2d((masks > 0).float()[:, None], 3, 1, 1)[:, 0] > 0
    contrast = torch.tensor([abs(float(luma[i][masks[i] > 0].mean() - luma[i][(masks[i] == 0) & near_shapes[i]].mean()))
                             for i in range(len(images))])
    # the mean over an image's shapes against the ring of background around them: patterns, and a dark and
    # a light shape in one image, blur each shape's own margin, so the typical image must clear it
    assert torch.quantile(contrast, 0.5) > MIN_CONTRAST and (contrast > 0.05).float().mean() > 0.9


def test_the_contrast_rule_holds_for_every_shape_colour():
    g = torch.Generator().manual_seed(0)
    under = torch.rand(500, 4, generator=g)  # the background's mean luminance behind each of 4 shapes
    colours = _contrasting(torch.rand(500, 4, 3, generator=g), under, g)
    assert ((colours @ torch.tensor([0.299, 0.587, 0.114]) - under).abs() >= MIN_CONTRAST - 1e-6).all()


def test_some_backgrounds_hold_edges_as_strong_as_a_shapes(varied):
    """Two-colour stripes, checks and gradients: a strong edge inside the background is no sign of a shape."""
    luma = luminance(varied.images[:400])
    background = varied.masks[:400] == 0
    step = (luma[:, :, 1:] - luma[:, :, :-1]).abs() * (background[:, :, 1:] & background[:, :, :-1])
    strong = (step > 0.3).flatten(1).sum(1)  # background pixels next to a luminance step of 0.3 or more
    assert 0.05 < (strong > 20).float().mean() < 0.5


def test_an_outline_is_the_rim_of_its_shape_one_or_two_pixels_wide():
    from latentseg.data.looks import _rims

    region = torch.zeros(2, 9, 9, dtype=torch.bool)
    region[:, 2:7, 2:7] = True
    rims = _rims(region, torch.tensor([1, 2]))
    assert rims[0].sum() == 16 and rims[1].sum() == 24 and not rims[:, 4, 4].any() and (rims <= region).all()


def _share_of_strong_steps_on_edges(data):
    """Of the horizontal luminance steps of 0.3 or more, the share that crosses a shape's edge."""
    luma = luminance(data.images)
    strong = (luma[:, :, 1:] - luma[:, :, :-1]).abs() > 0.3
    across = data.masks[:, :, 1:] != data.masks[:, :, :-1]
    return float((strong & across).sum() / strong.sum())


def test_in_the_texture_look_a_strong_step_is_no_sign_of_an_edge():
    data = synthetic_shapes(400, size=32, seed=3, look="texture")
    assert torch.equal(data.masks, synthetic_shapes(400, size=32, seed=3, look="varied").masks), "the same shapes"
    # edges are 4 % of the steps; in the varied look they hold about half the strong ones, here few
    assert _share_of_strong_steps_on_edges(data) < 0.15 < 0.35 < _share_of_strong_steps_on_edges(
        synthetic_shapes(400, size=32, seed=3, look="varied"))
    saturation, value = _saturation_and_value(data.images)
    inside, outside = data.masks > 0, data.masks == 0
    assert abs(float(saturation[inside].mean() - saturation[outside].mean())) < 0.05
    assert abs(float(value[inside].mean() - value[outside].mean())) < 0.05


def test_texture_twins_share_the_backgrounds_colours():
    """Half the shapes reuse the background's two colours: a model cannot tell them apart by colour."""
    from latentseg.data.looks import paint_texture

    top = torch.zeros(200, 32, 32, dtype=torch.long)
    top[:, 8:24, 8:24] = 1
    images = paint_texture(top, 1, torch.Generator().manual_seed(0))
    inside, outside = images[:, :, 10:22, 10:22].flatten(2), images[:, :, :, :4].flatten(2)
    colours_in = torch.stack([inside.amin(2), inside.amax(2)], 1)  # 200×2×3: the two colours (± noise)
    colours_out = torch.stack([outside.amin(2), outside.amax(2)], 1)
    same = ((colours_in - colours_out).abs().amax((1, 2)) < 0.12).float().mean()
    assert 0.35 < same < 0.65


def test_the_mixed_look_draws_each_image_in_one_of_two_looks():
    mixed = synthetic_shapes(64, size=32, seed=5, look="mixed")
    varied = synthetic_shapes(64, size=32, seed=5, look="varied")
    assert torch.equal(mixed.masks, varied.masks)
    with pytest.raises(ValueError, match="look: expected one of"):
        synthetic_shapes(4, size=32, look="textures")
