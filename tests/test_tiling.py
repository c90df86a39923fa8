"""Large images: windows that cover the image, class maps and objects stitched across their borders, the
count warning, and bad window settings named by flag."""

import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from test_cli import cli

from latentseg.data.shapes import synthetic_shapes
from latentseg.inference import predict_image, predict_image_instances
from latentseg.models.experts import Instances
from latentseg.pretrained import load_pretrained, pretrained_path
from latentseg.tiling import Tiling, predict_tiled_instances, predict_tiled_logits, starts_and_cores
from latentseg.training.panoptic import connected_instances


class ComponentsOracle:
    """A stand-in for an experts model whose answer is exact: each connected bright region of channel 0
    is one object of class 1, numbered 1, 2, … per window."""

    min_size = 4
    owns_objects = True

    def __init__(self, experts: int = 64) -> None:
        self.config = SimpleNamespace(num_latents=experts, in_channels=3)

    def parameters(self):
        return iter([torch.zeros(1)])

    def predict_instances(self, x: torch.Tensor) -> Instances:
        foreground = (x[:, 0] > 0.5).long()
        ids = connected_instances(foreground)
        objects = [[{"id": int(i), "class": 1, "score": 0.9, "pixels": int((window == i).sum()), "expert": 0}
                    for i in window.unique().tolist() if i > 0] for window in ids]
        return Instances(foreground, ids, objects)


def random_squares(height: int, width: int, count: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    image = torch.zeros(1, 3, height, width)
    for _ in range(count):
        side = int(torch.randint(3, 30, (1,), generator=g))
        top, left = (int(torch.randint(0, n - 3, (1,), generator=g)) for n in (height, width))
        image[0, 0, top:top + side, left:left + side] = 1
    return image


@pytest.mark.parametrize("length, window, overlap", [(64, 64, 16), (65, 64, 16), (200, 64, 16), (500, 64, 0), (97, 32, 31)])
def test_windows_cover_the_side_share_the_overlap_and_their_cores_split_it(length, window, overlap):
    spans = starts_and_cores(length, window, overlap)
    starts = [start for start, _ in spans]
    assert starts[0] == 0 and starts[-1] + min(window, length) == length
    assert all(nxt - start <= window - overlap for start, nxt in zip(starts, starts[1:], strict=False))
    cores = [core for _, core in spans]
    assert cores[0][0] == 0 and cores[-1][1] == length
    assert all(a[1] == b[0] for a, b in zip(cores, cores[1:], strict=False)), "the cores tile the side once"
    assert all(start <= lo < hi <= start + window for start, (lo, hi) in spans), "a core lies inside its window"


def separate_squares(height: int, width: int, largest: int, seed: int = 0) -> torch.Tensor:
    """An image ``1×3×H×W`` of squares of side 3..``largest`` that never touch, one in each cell of a grid."""
    g = torch.Generator().manual_seed(seed)
    image, cell = torch.zeros(1, 3, height, width), largest + 2
    for top in range(0, height - cell + 1, cell):
        for left in range(0, width - cell + 1, cell):
            side = int(torch.randint(3, largest + 1, (), generator=g))
            r, c = (int(torch.randint(1, cell - side, (), generator=g)) for _ in range(2))
            image[0, 0, top + r:top + r + side, left + c:left + c + side] = 1
    return image


@pytest.mark.parametrize("window, overlap", [(64, 16), (48, 24), (40, 20), (64, 32)])
def test_stitched_objects_are_the_image_objects_across_every_window_border(window, overlap):
    image = separate_squares(200, 230, overlap)  # no object larger than the overlap
    truth = connected_instances((image[:, 0] > 0.5).long())[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing reaches a window's inner edge
        classes, ids, objects = predict_tiled_instances(ComponentsOracle(), image, window, overlap)
    pairs = torch.stack([truth.flatten(), ids.flatten()], 1).unique(dim=0)
    assert len(objects) == len(truth.unique()) - 1 and len(pairs) == len(objects) + 1, "one id per object, no piece left"
    assert torch.equal(classes, (truth > 0).long())
    assert sorted(o["id"] for o in objects) == list(range(1, len(objects) + 1))
    assert all(o["pixels"] == int((ids == o["id"]).sum()) for o in objects)
    cut = predict_tiled_instances(ComponentsOracle(), image, window, 0)[2]
    assert len(cut) > len(objects), "windows that share no pixels leave an object across their border in pieces"


def test_an_object_larger_than_the_overlap_is_warned_about():
    image = torch.zeros(1, 3, 128, 128)
    image[0, 0, 20:60, 40:80] = 1  # 40 pixels, across the border of windows of 64 that share 16
    with pytest.warns(UserWarning, match=r"image: 2 of 2 objects reach the edge .* larger than the overlap \(16 pixels\)"):
        _, ids, objects = predict_tiled_instances(ComponentsOracle(), image, 64, 16)
    assert len(objects) == 2, "seen by no window whole, it stays in two pieces"


def test_a_window_holding_as_many_objects_as_experts_is_named_in_a_warning():
    image = random_squares(128, 128, 60, seed=3)
    with pytest.warns(UserWarning, match=r"image: \d+ of 9 windows found 3 or more objects, as many as a model of 4 experts"):
        predict_tiled_instances(ComponentsOracle(experts=4), image, 64, 32)


def test_windows_aligned_with_scenes_give_each_scene_its_own_answer():
    """The shipped crowded model on a 3×3 mosaic of its 64×64 scenes, windows on the scenes' borders
    (overlap 0): every scene's objects exactly as when it is predicted alone, one id each."""
    model, _ = load_pretrained("experts-crowded")
    scenes = synthetic_shapes(9, size=64, seed=5, split="test", crowded=True).images
    mosaic = scenes.view(3, 3, 3, 64, 64).permute(2, 0, 3, 1, 4).reshape(1, 3, 192, 192)
    _, ids, objects = predict_tiled_instances(model, mosaic, 64, 0)
    alone = model.predict_instances(scenes)
    assert len(objects) == sum(len(o) for o in alone.objects)
    for k in range(9):
        r, c = divmod(k, 3)
        tile = ids[r * 64:(r + 1) * 64, c * 64:(c + 1) * 64]
        pairs = torch.stack([alone.instances[k].flatten(), tile.flatten()], 1).unique(dim=0)
        assert len(pairs) == len(alone.objects[k]) + 1 and torch.equal(tile > 0, alone.instances[k] > 0)


def test_predict_image_instances_by_windows_counts_beyond_the_experts():
    image = separate_squares(160, 160, 20, seed=1)[0]  # objects no larger than the default overlap (20)
    oracle = ComponentsOracle(experts=8)
    _, ids, objects = predict_image_instances(oracle, image, tiling=Tiling(window=40))
    truth = connected_instances((image[None, 0] > 0.5).long())[0]
    assert len(objects) == len(truth.unique()) - 1 > 8, "more objects than the model has experts"
    with pytest.raises(ValueError, match="window: 200 is larger than image"):
        predict_image_instances(oracle, image, tiling=Tiling(window=200, strict=True))


@pytest.mark.parametrize("window, overlap, message", [
    (0, None, "window: expected a positive"), (64, 40, "overlap: expected at most half the window (32), got 40"),
    (64, -1, "overlap: expected an int ≥ 0"),
])
def test_bad_tilings_are_named(window, overlap, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Tiling(window, overlap)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        predict_tiled_instances(ComponentsOracle(), torch.zeros(1, 3, 100, 100), window, overlap or 0)


def test_a_window_far_from_the_training_size_is_warned_about(tmp_path):
    Image.fromarray(np.zeros((80, 90, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    result = cli("predict", pretrained_path("experts-crowded"), tmp_path / "a.png", "--out", tmp_path / "o", "--instances",
                 "--window", "16")
    assert "warning: --window: 16 is far from the size the model was trained at (64)" in result.stderr


@pytest.mark.parametrize("flags, message", [
    (["--overlap", "8"], "--overlap: without --instances, class maps are predicted by windows only when you give"),
    (["--window", "100"], "--window: 100 is larger than"),
    (["--instances", "--window", "48", "--overlap", "48"], "--overlap: expected at most half the window (24), got 48"),
    (["--instances", "--window", "2"], "--window: expected at least the model's smallest input side"),
    (["--instances", "--window", "100"], "--window: 100 is larger than"),
    (["--instances", "--window", "0"], "--window: expected a positive integer"),
])
def test_bad_window_flags_are_one_line_and_exit_2(tmp_path, flags, message):
    Image.fromarray(np.zeros((80, 90, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    result = cli("predict", pretrained_path("experts-crowded"), tmp_path / "a.png", "--out", tmp_path / "o", *flags,
                 check=False)
    assert result.returncode == 2 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_predict_cuts_a_large_image_into_training_size_windows(tmp_path):
    scenes = synthetic_shapes(4, size=64, seed=2, split="test", crowded=True).images
    mosaic = scenes.view(2, 2, 3, 64, 64).permute(2, 0, 3, 1, 4).reshape(3, 128, 128)
    Image.fromarray((mosaic.permute(1, 2, 0) * 255).round().byte().numpy()).save(tmp_path / "big.png")
    cli("predict", pretrained_path("experts-crowded"), tmp_path / "big.png", "--out", tmp_path / "o", "--instances")
    ids = np.asarray(Image.open(tmp_path / "o" / "big_instances.png"))
    alone = sum(len(o) for o in load_pretrained("experts-crowded")[0].predict_instances(scenes).objects)
    assert len(np.unique(ids)) - 1 >= alone - 2, "by windows of 64: about the objects of the four scenes"


class WhereAmI(torch.nn.Module):
    """A per-pixel model whose logits also say where its input started: channel 0 is the pixel's own
    brightness, channel 1 the window's mean brightness (the same for every pixel of one input)."""

    min_size = 4
    config = SimpleNamespace(in_channels=3)

    def forward(self, x):
        own = x[:, :1]
        return torch.cat([own, own.mean((2, 3), keepdim=True).expand_as(own)], 1)


def test_class_logits_by_windows_take_each_pixel_from_its_windows_core():
    x = torch.rand(1, 3, 70, 100)
    logits = predict_tiled_logits(WhereAmI(), x, 40, 10)
    torch.testing.assert_close(logits[:, :1], x[:, :1], msg="a per-pixel answer is the same by windows")
    rows, cols = starts_and_cores(70, 40, 10), starts_and_cores(100, 40, 10)
    for top, (r0, r1) in rows:
        for left, (c0, c1) in cols:
            window_mean = x[0, 0, top:top + 40, left:left + 40].mean()
            assert torch.allclose(logits[0, 1, r0:r1, c0:c1], window_mean), "the core's window answers there"


def test_class_maps_by_windows_laid_on_scene_borders_are_the_scenes_own():
    model, _ = load_pretrained("improved-varied")
    scenes = synthetic_shapes(4, size=64, seed=3, split="test").images
    mosaic = scenes.view(2, 2, 3, 64, 64).permute(2, 0, 3, 1, 4).reshape(3, 128, 128)
    alone = model.predict(scenes).view(2, 2, 64, 64).permute(0, 2, 1, 3).reshape(128, 128)
    tiled = predict_image(model, mosaic, tiling=Tiling(64, 0))
    assert (tiled == alone).float().mean() > 0.999
    assert torch.equal(predict_image(model, scenes[0], tiling=Tiling(64)), model.predict(scenes[:1])[0]), \
        "an image of one window is predicted whole"
