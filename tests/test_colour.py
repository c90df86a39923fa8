"""Colour changes of whole batches: hue rotation, greyscale, the training colour jitter."""

import torch

from latentseg.data.colour import ColourJitter, greyscale, rotate_hue


def test_colour_jitter_is_seeded_changes_colours_and_never_the_mask():
    images = torch.rand(16, 3, 12, 12)
    a, b = ColourJitter(seed=3)(images), ColourJitter(seed=3)(images)
    assert torch.equal(a, b) and not torch.equal(a, ColourJitter(seed=4)(images))
    assert a.shape == images.shape and 0 <= a.min() and a.max() <= 1 and not torch.allclose(a, images)
    mask = torch.randint(0, 4, (12, 12))
    image, same = ColourJitter(seed=0)(images[0], mask)
    assert same is mask and image.shape == (3, 12, 12)


def test_one_channel_images_get_what_a_grey_rgb_image_gets():
    """Hue, saturation, greyscale and channel order leave a grey RGB image grey; brightness, contrast and
    inversion are all a one-channel image gets, drawn in the same order: the two must agree exactly."""
    grey = 0.3 * torch.rand(32, 1, 12, 12)  # dark: an inverted copy is light
    one = ColourJitter(seed=5, p_invert=0.5)(grey)
    three = ColourJitter(seed=5, p_invert=0.5)(grey.expand(-1, 3, -1, -1).contiguous())
    assert one.shape == (32, 1, 12, 12)
    torch.testing.assert_close(three, one.expand(-1, 3, -1, -1), atol=1e-5, rtol=0)
    inverted = one.mean((1, 2, 3)) > 0.5
    assert 0 < int(inverted.sum()) < 32, "some images inverted, not all"


def test_jitter_of_a_single_image_matches_a_flat_image_by_hand():
    """Brightness scales, contrast stretches about the image mean, inversion flips: on a flat image
    contrast does nothing, so the output is ``b·v`` (or ``1 − b·v``), with ``b`` the drawn brightness."""
    jitter = ColourJitter(seed=1, p_grey=0, p_permute=0, p_invert=0)
    flat = torch.full((1, 1, 4, 4), 0.5)
    out = jitter(flat)
    assert torch.allclose(out, out[0, 0, 0, 0]) and 0.3 <= float(out[0, 0, 0, 0]) <= 0.7
    g = torch.Generator().manual_seed(1)
    torch.rand(1, generator=g), torch.rand(1, generator=g)  # hue and saturation are drawn first
    brightness = 0.6 + 0.8 * float(torch.rand(1, generator=g))
    assert float(out[0, 0, 0, 0]) == torch.tensor(0.5 * brightness).item()


def test_hue_rotation_keeps_greys_and_turns_full_circle():
    images = torch.rand(3, 3, 8, 8)
    torch.testing.assert_close(rotate_hue(images, 360.0), images, atol=1e-5, rtol=0)
    grey = greyscale(images)
    torch.testing.assert_close(rotate_hue(grey, torch.tensor([30.0, 120.0, 250.0])), grey, atol=1e-5, rtol=0)
    red = torch.zeros(1, 3, 1, 1)
    red[0, 0] = 1
    assert rotate_hue(red, 120.0).argmax(1).item() == 1, "red turns green at 120°"


def test_greyscale_is_rec601_luminance_on_every_channel():
    pixel = torch.tensor([1.0, 0.5, 0.0]).view(3, 1, 1)
    assert greyscale(pixel).flatten().tolist() == [torch.tensor(0.299 + 0.5 * 0.587).item()] * 3
