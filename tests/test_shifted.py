"""The shifted test set: its own drawing code and looks, the same classes, loaded like any source."""

import pytest
import torch

from latentseg import SHAPE_CLASSES
from latentseg.data.shifted import shifted_shapes
from latentseg.data.sources import load_splits, load_test


def test_shifted_shapes_are_seeded_and_do_not_depend_on_the_set_size():
    a, b = shifted_shapes(6, size=32, seed=1), shifted_shapes(3, size=32, seed=1)
    assert torch.equal(a.images[:3], b.images) and torch.equal(a.masks[:3], b.masks)
    assert not torch.equal(a.images, shifted_shapes(6, size=32, seed=2).images)
    assert a.images.shape == (6, 3, 32, 32) and 0 <= a.images.min() and a.images.max() <= 1
    assert a.class_names == SHAPE_CLASSES


def test_every_class_is_drawn():
    freq = shifted_shapes(60, size=32).class_frequencies()
    assert 0.6 < freq[0] < 0.95 and (freq[1:] > 0.02).all()


def test_a_source_for_testing_only():
    test = load_test("shifted", 32, seed=0, test_size=5)
    assert len(test) == 5 and torch.equal(test.images, shifted_shapes(5, 32).images)
    with pytest.raises(ValueError, match="'shifted' is a test set only"):
        load_splits("shifted", 32)
    classic = load_splits("classic", 32, train_size=4, val_size=2, test_size=2)
    assert "classic look" in classic.description


def test_a_texture_version_drawn_by_its_own_code():
    plain, texture = shifted_shapes(8, size=32, seed=1), shifted_shapes(8, size=32, seed=1, texture=True)
    assert not torch.equal(plain.images, texture.images) and texture.instances is not None
    assert torch.equal(texture.images[:4], shifted_shapes(4, size=32, seed=1, texture=True).images)
    assert torch.equal(load_test("shifted-texture", 32, seed=1, test_size=8).images, texture.images)
    with pytest.raises(ValueError, match="'shifted-texture' is a test set only.*train on 'textured'"):
        load_splits("shifted-texture", 32)
    textured = load_splits("textured", 32, train_size=4, val_size=2, test_size=2)
    assert "mixed look" in textured.description
