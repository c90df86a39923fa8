import os

import pytest
import torch

from latentseg import synthetic_shapes
from latentseg.analysis.widgets import DIRECTIONS, PNG_DPI, ExpertExplorer
from latentseg.models import build_model

SMALL = {"improved": dict(stem_dim=4, mid_dim=8, feature_dim=16, latent_dim=16, num_latents=6, num_heads=2),
         "article": dict(feature_dim=16, latent_dim=16, num_latents=6, num_heads=2)}


@pytest.fixture(params=["improved", "article"])
def explorer(request):
    torch.manual_seed(0)
    model = build_model(request.param, num_classes=4, **SMALL[request.param])
    return ExpertExplorer(model, synthetic_shapes(5, size=32, split="test"))


def test_the_environment_is_the_one_claimed():
    """tools/test-colab-env runs these tests under Colab's ipywidgets; make sure it really does."""
    import ipywidgets

    expected = os.environ.get("LATENTSEG_EXPECT_IPYWIDGETS")
    assert expected in (None, ipywidgets.__version__), f"expected ipywidgets {expected}, got {ipywidgets.__version__}"


def test_first_view_is_drawn(explorer):
    assert explorer.picture.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert "mIoU" in explorer.scores.value and "routing entropy" in explorer.scores.value
    assert explorer.last_redraw_seconds > 0 and 0 <= explorer.view()["nmi"] <= 1


def test_image_slider_changes_image_and_picture(explorer):
    before, image = explorer.picture.value, explorer.image
    explorer.index.value = 3
    assert torch.equal(explorer.image, explorer.data.images[3]) and not torch.equal(image, explorer.image)
    assert explorer.picture.value != before


def test_new_image_and_composed_image(explorer):
    explorer.new_image.click()
    assert explorer.source == "new image"
    first = explorer.image.clone()
    explorer.new_image.click()
    assert not torch.equal(first, explorer.image)
    explorer.kinds[0].value, explorer.kinds[1].value, explorer.kinds[2].value = "triangle", "none", "none"
    explorer.compose.click()
    assert explorer.source == "composed" and set(explorer.mask.unique().tolist()) == {0, 3}
    explorer.xs[0].value = 0.8
    explorer.compose.click()
    columns = explorer.mask.eq(3).nonzero()[:, 1].float().mean()
    assert columns > 0.6 * explorer.size  # the triangle moved to the right


def test_expert_head_and_direction_change_the_attention_map(explorer):
    maps = [explorer.view()["attention"]]
    explorer.expert.value = 1
    maps.append(explorer.view()["attention"])
    explorer.head.value = 0
    maps.append(explorer.view()["attention"])
    explorer.direction.value = DIRECTIONS[1]
    maps.append(explorer.view()["attention"])
    for a, b in zip(maps, maps[1:], strict=False):
        assert not torch.allclose(a, b)
    assert torch.allclose(maps[2].sum(), torch.tensor(1.0), atol=1e-5)  # expert → pixels sums to 1 over pixels


def test_switching_experts_off_and_all_back_on(explorer):
    original = explorer.view()["prediction"].clone()
    logits_changed = False
    for k in range(3):
        explorer.enabled[k].value = False
        with torch.no_grad():
            x = explorer.image[None]
            logits_changed |= not torch.allclose(explorer.model(x), explorer.model(x, expert_mask=explorer.expert_mask))
    view = explorer.view()
    assert logits_changed and view["usage"][:3].sum() == 0  # switched-off experts win no position
    assert "experts off: 0, 1, 2" in explorer.scores.value
    explorer.all_on.click()
    assert explorer.expert_mask.all() and torch.equal(explorer.view()["prediction"], original)


def test_all_experts_off_is_refused_without_crashing(explorer):
    for box in explorer.enabled:
        box.value = False
    assert "at least one expert" in explorer.scores.value.lower()
    with pytest.raises(ValueError, match="at least one expert"):
        explorer.view()


def test_static_fallback_in_the_mimebundle(explorer):
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle and bundle["image/png"]
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == explorer.widget.model_id


def test_ipython_displays_the_widget_and_the_picture(explorer):
    """What IPython's formatter makes of the explorer: on ipywidgets 7 (Colab's) as on 8, the widget
    view and the PNG, never a bare ``<ExpertExplorer at 0x…>`` or a formatter error."""
    from IPython.core.formatters import DisplayFormatter

    data, _ = DisplayFormatter().format(explorer)
    assert {"application/vnd.jupyter.widget-view+json", "image/png", "text/plain"} <= set(data)
    assert explorer.widget.children[1].get_title(0) == "compose an image", "the accordion's title, on 7 and 8"


def _fraction(explorer, panel: int, col: float, row: float) -> tuple[float, float]:
    """Where data point (col, row) of a panel lies on the picture, as fractions from its top-left corner."""
    fig = explorer._figure
    x, y = fig.transFigure.inverted().transform(fig.axes[panel].transData.transform((col, row)))
    return x, 1 - y


def test_a_click_on_a_picture_probes_that_pixel(explorer):
    assert explorer.click(*_fraction(explorer, 3, 5, 25)) == "prediction" and explorer.probe == (25, 5)
    first = explorer.view()["probe_weights"]
    assert first.shape == (explorer.model.config.num_heads, explorer.model.config.num_latents)
    assert torch.allclose(first.sum(-1), torch.ones(len(first))), "each head's weights over the experts sum to 1"
    picture = explorer.picture.value
    assert explorer.click(*_fraction(explorer, 0, 28, 2)) == "attention" and explorer.probe == (2, 28)
    assert not torch.equal(first, explorer.view()["probe_weights"]) and explorer.picture.value != picture
    assert explorer.click(0.5, 0.01) is None, "a click on the title does nothing"


def test_a_click_on_a_bar_or_the_expert_map_shows_that_expert(explorer):
    explorer.direction.value = DIRECTIONS[1]
    assert explorer.click(*_fraction(explorer, 4, 3, 0.5)) == "usage"
    assert explorer.expert.value == 3 and explorer.direction.value == DIRECTIONS[0]
    assert explorer.click(*_fraction(explorer, 5, 1, 0.5)) == "probe" and explorer.expert.value == 1
    assert explorer.click(*_fraction(explorer, 1, 16, 16)) == "argmax expert"
    assert explorer.probe == (16, 16) and explorer.expert.value == explorer.view()["probe_winner"]


def test_a_browser_click_event_is_read_in_png_pixels(explorer):
    x, y = _fraction(explorer, 2, 20, 10)
    width, height = explorer._figure.get_size_inches() * PNG_DPI
    explorer._on_click({"type": "click", "dataX": x * width, "dataY": y * height})
    assert explorer.probe == (10, 20)


def test_unet_is_refused():
    with pytest.raises(TypeError, match="no experts"):
        ExpertExplorer(build_model("unet", num_classes=4), synthetic_shapes(2, size=32))


def test_an_experts_model_shows_its_objects_and_a_click_on_one_names_its_expert():
    from latentseg.analysis.plots import EXPLORER_PANELS
    from latentseg.analysis.widgets import OBJECT_MASK

    torch.manual_seed(0)
    model = build_model("experts", num_classes=4, **SMALL["improved"], mask_dim=8)

    def two_objects(latents, pixels, expert_mask=None):
        """Expert 2 claims a square on the left half, expert 4 a triangle on the right; the rest say no object."""
        b, m = latents.shape[:2]
        classes = torch.full((b, m, 5), -9.0)
        classes[:, :, 4] = 9.0
        classes[:, 2], classes[:, 4] = torch.tensor([-9.0, -9, 9, -9, -9]), torch.tensor([-9.0, -9, -9, 9, -9])
        masks = torch.full((b, m, *pixels.shape[-2:]), -9.0)
        masks[:, 2, :, :16], masks[:, 4, :, 16:] = 9.0, 9.0
        return classes, masks

    model.objects = two_objects
    explorer = ExpertExplorer(model, synthetic_shapes(3, size=32, split="test"))
    view = explorer.view()
    assert OBJECT_MASK in explorer.direction.options and view["owners"].shape == (32, 32)
    assert [(o["expert"], o["class"], o["pixels"]) for o in view["objects"]] == [(2, 2, 512), (4, 3, 512)]
    assert set(view["owners"].unique().tolist()) == {2, 4}
    assert "<th>object</th><th>expert</th>" in explorer.scores.value
    row, col, owner = 10, 25, 4
    ax = explorer._figure.axes[EXPLORER_PANELS.index("argmax expert")]
    x, y = explorer._figure.transFigure.inverted().transform(ax.transData.transform((col, row)))
    assert explorer.click(x, 1 - y) == "argmax expert"
    assert explorer.expert.value == owner and explorer.direction.value == OBJECT_MASK
    assert f"owned by expert {owner}" in explorer.scores.value
    assert explorer.view()["expert_mask"].shape == (32, 32)
