import pytest
import torch

from latentseg import Recipe, fit
from latentseg.data import synthetic_shapes
from latentseg.data.refill import TextureRefill
from latentseg.labels import IGNORE_INDEX
from latentseg.models import build_model


@pytest.fixture(scope="module")
def shapes():
    return synthetic_shapes(16, size=32, seed=3)


def _changed(before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    return (before != after).any(1)  # B×H×W


def test_refill_nothing_or_everything(shapes):
    images, masks = shapes.images, shapes.masks
    assert torch.equal(TextureRefill(p=0.0)(images, masks), images)
    assert torch.equal(TextureRefill(p=1.0, regions=0.0)(images, masks), images)
    repainted = TextureRefill(p=1.0, regions=1.0)(images, masks)
    assert repainted.shape == images.shape and repainted.min() >= 0 and repainted.max() <= 1
    assert _changed(images, repainted).float().mean() > 0.99


def test_refill_paints_each_region_whole_or_not_at_all(shapes):
    images, masks = shapes.images, shapes.masks
    changed = _changed(images, TextureRefill(p=1.0, regions=0.5, seed=1)(images, masks))
    shares = [changed[i][masks[i] == c].float().mean().item()
              for i in range(len(masks)) for c in masks[i].unique().tolist()]
    assert all(share == 0 or share > 0.99 for share in shares)
    assert 0.2 < sum(share > 0 for share in shares) / len(shares) < 0.8  # about half the regions


def test_refill_repaints_about_p_of_the_images(shapes):
    images, masks = shapes.images.repeat(8, 1, 1, 1), shapes.masks.repeat(8, 1, 1)
    changed = _changed(images, TextureRefill(p=0.25, seed=2)(images, masks)).flatten(1).any(1)
    assert 0.12 < changed.float().mean() < 0.38


def test_refill_puts_steps_of_colour_inside_regions_not_on_their_edges(shapes):
    """Repainted, a region is a two-colour pattern: most strong steps of brightness lie inside regions."""
    images, masks = shapes.images, shapes.masks

    def edge_share_of_steps(x: torch.Tensor) -> float:
        luma = x.mean(1)
        steps = (luma[:, :, 1:] - luma[:, :, :-1]).abs() > 0.15
        edges = masks[:, :, 1:] != masks[:, :, :-1]
        return ((steps & edges).sum() / steps.sum()).item()

    assert edge_share_of_steps(TextureRefill(p=1.0, regions=1.0, seed=4)(images, masks)) < 0.6 * edge_share_of_steps(images)


def test_refill_is_seeded_and_paints_ignored_pixels_as_background(shapes):
    images, masks = shapes.images[:4], shapes.masks[:4].clone()
    first = TextureRefill(p=1.0, seed=5)(images, masks)
    assert torch.equal(first, TextureRefill(p=1.0, seed=5)(images, masks))
    assert not torch.equal(first, TextureRefill(p=1.0, seed=6)(images, masks))
    masks[:, :2] = IGNORE_INDEX
    assert _changed(images, TextureRefill(p=1.0, regions=1.0)(images, masks)).float().mean() > 0.99


@pytest.mark.parametrize("kwargs, message", [({"p": 1.5}, "p: expected a probability"),
                                             ({"regions": -0.1}, "regions: expected a probability"),
                                             ({"p": True}, "p: expected a probability")])
def test_refill_refuses_bad_probabilities(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TextureRefill(**kwargs)


def test_refill_refuses_wrong_shapes(shapes):
    with pytest.raises(ValueError, match="images, masks: expected B×3×H×W and B×H×W"):
        TextureRefill()(shapes.images[:2], shapes.masks[:3])


def test_recipe_checks_texture_refill_and_fit_uses_it(shapes):
    with pytest.raises(ValueError, match=r"texture_refill: expected a probability in \[0, 1\], got 2"):
        Recipe(texture_refill=2)

    def trained(share: float) -> torch.Tensor:
        torch.manual_seed(0)
        model = build_model("improved", num_classes=4)
        fit(model, shapes, recipe=Recipe(texture_refill=share, batch_size=8), epochs=1, seed=0, device="cpu")
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    assert torch.equal(trained(0.5), trained(0.5))
    assert not torch.equal(trained(0.5), trained(0.0))
