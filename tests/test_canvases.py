"""Large test images: mosaics of crowded scenes, canvases of one background, and panoptic quality read by
windows (``evaluate_instances`` with a tiling, ``bench``'s large-image report)."""

import pytest
import torch
from torch import nn

from latentseg.bench.report import large_image_table
from latentseg.bench.sizes import LARGE_KEYS, large_image_report
from latentseg.data.canvases import crowded_canvases, scene_mosaics
from latentseg.data.dataset import SegmentationData
from latentseg.data.shapes import synthetic_shapes
from latentseg.models import build_model
from latentseg.pretrained import load_pretrained
from latentseg.tiling import Tiling
from latentseg.training.evaluation import evaluate_instances


def seam_step(images: torch.Tensor, masks: torch.Tensor, x: int) -> tuple[float, float]:
    """Mean colour step across column ``x`` and across the column before it, on background rows."""
    background = (masks[:, :, x - 2:x + 1] == 0).all(-1)
    across = (images[..., x] - images[..., x - 1]).abs().sum(1)[background].mean()
    before = (images[..., x - 1] - images[..., x - 2]).abs().sum(1)[background].mean()
    return float(across), float(before)


def test_mosaics_lay_scenes_row_by_row_and_keep_their_objects_apart():
    scenes = synthetic_shapes(8, 32, seed=0, split="test", crowded=True)
    mosaics = scene_mosaics(scenes, 2)
    assert mosaics.images.shape == (2, 3, 64, 64) and mosaics.class_names == scenes.class_names
    for k in range(8):
        n, (r, c) = divmod(k, 4)[0], divmod(k % 4, 2)
        place = (slice(r * 32, (r + 1) * 32), slice(c * 32, (c + 1) * 32))
        assert torch.equal(mosaics.images[n][(slice(None), *place)], scenes.images[k])
        assert torch.equal(mosaics.masks[n][place], scenes.masks[k])
        assert torch.equal(mosaics.instances[n][place] > 0, scenes.instances[k] > 0)
    objects = sum(len(scenes.instances[k].unique()) - 1 for k in range(8))
    assert sum(len(m.unique()) - 1 for m in mosaics.instances) == objects, "no two scenes' objects share an id"
    across, before = seam_step(mosaics.images, mosaics.masks, 32)
    assert across > 3 * before, "each scene keeps its own background: a step at every seam"


def test_canvases_spread_crowded_clusters_over_one_background():
    canvases = crowded_canvases(3, 128, seed=4, scene_size=32)
    assert canvases.images.shape == (3, 3, 128, 128) and canvases.instances.shape == (3, 128, 128)
    assert 0 <= canvases.images.min() and canvases.images.max() <= 1
    assert torch.equal(crowded_canvases(1, 128, seed=4, scene_size=32).images[0], canvases.images[0]), \
        "each canvas its own generator: the first is the same whatever the count"
    assert not torch.equal(crowded_canvases(1, 128, seed=5, scene_size=32).images[0], canvases.images[0])
    for ids, mask in zip(canvases.instances, canvases.masks, strict=True):
        assert torch.equal(ids > 0, mask > 0), "every shape pixel belongs to an object"
        assert all(len(mask[ids == i].unique()) == 1 for i in ids.unique()[1:]), "one class per object"
        assert len(ids.unique()) - 1 >= 16 * 2, "3–7 shapes in each of the 16 cells, a few covered"
    across, before = seam_step(canvases.images, canvases.masks, 32)
    assert across < 1.5 * before, "one background: no step where cells meet"


@pytest.mark.parametrize("kwargs, message", [
    ({"size": 100}, "size: expected a multiple of scene_size 64, got 100"),
    ({"scene_size": 8, "size": 64}, "scene_size: expected at least 16 pixels, got 8"),
    ({"num_images": 0}, "num_images: expected a positive"),
])
def test_bad_canvas_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        crowded_canvases(**{"num_images": 1, **kwargs})


def test_bad_mosaics_are_named():
    scenes = synthetic_shapes(6, 16, seed=0, crowded=True)
    with pytest.raises(ValueError, match="data: expected a multiple of grid² = 4 scenes, got 6"):
        scene_mosaics(scenes, 2)
    with pytest.raises(ValueError, match="without instances"):
        scene_mosaics(SegmentationData(scenes.images[:4], scenes.masks[:4], scenes.class_names), 2)


@pytest.mark.filterwarnings("ignore:image. .* objects reach the edge:UserWarning")  # windows sharing nothing: meant
def test_objects_read_by_windows_on_the_seams_score_as_the_scenes_alone():
    """The shipped crowded model on 2×2 mosaics, windows on the scenes' borders: each window is one
    scene, so panoptic quality on the mosaics is that of the scenes one by one."""
    model, _ = load_pretrained("experts-crowded")
    scenes = synthetic_shapes(8, 64, seed=3, split="test", crowded=True)
    alone = evaluate_instances(model, scenes)
    mosaics = scene_mosaics(scenes, 2)
    tiled = evaluate_instances(model, mosaics, tiling=Tiling(64, 0))
    assert tiled.pq == pytest.approx(alone.pq, abs=1e-9) and tiled.rq == pytest.approx(alone.rq, abs=1e-9)
    whole = evaluate_instances(model, mosaics)
    assert whole.pq < tiled.pq, "read whole, at four times the training size, it finds fewer objects"
    with pytest.raises(TypeError, match="tiling: expected a latentseg Tiling"):
        evaluate_instances(model, mosaics, tiling=64)


class WindowOnly(nn.Module):
    """A semantic stand-in that reads at most 32×32: foreground where channel 0 is bright."""

    min_size = 4

    def __init__(self) -> None:
        super().__init__()
        self.config = type("Config", (), {"num_classes": 2, "in_channels": 3})()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if max(x.shape[-2:]) > 32:
            raise ValueError("x: larger than this stand-in reads")
        return torch.stack([torch.zeros_like(x[:, 0]), x[:, 0] - 0.5], 1)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self(x).argmax(1)


def test_a_semantic_model_is_scored_by_windows_on_components_of_its_class_map():
    image, mask, ids = torch.zeros(1, 3, 64, 64), torch.zeros(1, 64, 64, dtype=torch.long), torch.zeros(1, 64, 64)
    for k, (top, left) in enumerate([(3, 3), (20, 40), (44, 10), (28, 26)], start=1):  # one across the windows' borders
        image[0, 0, top:top + 9, left:left + 9] = 1
        mask[0, top:top + 9, left:left + 9], ids[0, top:top + 9, left:left + 9] = 1, k
    data = SegmentationData(image, mask, ("background", "square"), ids.long())
    with pytest.raises(ValueError, match="larger than this stand-in reads"):
        evaluate_instances(WindowOnly(), data)
    assert evaluate_instances(WindowOnly(), data, tiling=Tiling(32)).pq == 1.0


@pytest.mark.filterwarnings("ignore:image. .* objects reach the edge:UserWarning")  # an untrained model's blobs
def test_the_large_image_report_scores_scenes_mosaics_and_canvases():
    torch.manual_seed(0)
    model = build_model("experts", num_classes=4, latent_dim=16, num_heads=2, num_latents=8)
    report = large_image_report(model, seed=0, scene_size=16, scenes=16)
    assert set(report) == {"scenes_pq", "mosaic4_pq", "canvas4_pq"}, "8×8 needs 64 scenes: left out"
    assert set(report) <= set(LARGE_KEYS) and all(0 <= v <= 1 for v in report.values())


def test_benchs_large_image_table_gives_each_pq_over_the_scenes():
    runs = {"experts": {"runs": [{"seed": 0, "scenes_pq": 0.7, "mosaic4_pq": 0.63, "canvas4_pq": 0.7, "mosaic8_pq": 0.56,
                                  "canvas8_pq": 0.35}]},
            "unet": {"runs": [{"seed": 0, "scenes_pq": 0.0, "mosaic4_pq": 0.0, "canvas4_pq": 0.1, "mosaic8_pq": 0.0,
                               "canvas8_pq": 0.0}]}}
    lines = large_image_table({"image_size": 64, "training": runs})
    assert "canvas 512" in lines[2] and lines[3].split()[4:] == ["0.6300", "0.90", "0.7000", "1.00", "0.5600", "0.80",
                                                                  "0.3500", "0.50"]
    assert lines[4].split().count("–") == 4, "no ratio over a PQ of 0"
    assert large_image_table({"image_size": 64, "training": {"unet": {"runs": [{"seed": 0, "pq": 0.2}]}}}) == []
