"""Using a trained model on one image: sizes, downscaling, and input that would give a wrong answer."""

import pytest
import torch

from latentseg import build_model, synthetic_shapes
from latentseg.inference import predict_image


def test_predict_image_at_any_size_and_downscaled(tiny_model):
    image = torch.rand(3, 50, 70)
    assert predict_image(tiny_model, image).shape == (50, 70)
    assert predict_image(tiny_model, image, max_size=16).shape == (50, 70), "logits come back at the image's size"


def test_non_finite_pixels_are_refused_not_turned_into_background(tiny_model):
    image = torch.rand(3, 20, 20)
    image[1, 4, 4] = float("inf")
    with pytest.raises(ValueError, match="image: expected finite values, got 1 NaN or infinite of 1200"):
        predict_image(tiny_model, image)


def test_max_size_below_what_the_model_reads_is_named(tiny_model):
    with pytest.raises(ValueError, match="max_size: expected at least the model's smallest input side 4, got 2"):
        predict_image(tiny_model, torch.rand(3, 20, 20), max_size=2)


@pytest.mark.parametrize("name", ["article", "improved", "unet"])
def test_every_entry_point_refuses_a_nan_image_the_same_way(name):
    from latentseg.models import build_model

    model = build_model(name, num_classes=4)
    x = torch.rand(1, 3, 32, 32)
    x[0, 0, 0, 0] = float("nan")
    for entry, argument in ((model, x), (model.predict, x), (lambda image: predict_image(model, image), x[0])):
        with pytest.raises(ValueError, match="expected finite values, got 1 NaN or infinite of 3072"):
            entry(argument)


def test_a_large_photo_is_read_at_the_size_it_is_predicted_at(tiny_model, tmp_path, monkeypatch):
    """One size for reading and predicting: an image above the size Pillow reads whole is read shrunk to
    ``max_size`` (no refusal), predicted at that size, and its mask written at the file's own size."""
    import numpy as np
    from PIL import Image

    from latentseg.inference import predict_files

    Image.fromarray(np.random.default_rng(0).integers(0, 255, (120, 90, 3), dtype=np.uint8)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 2000)  # 10,800 pixels: above twice the limit, a "bomb"
    seen = []
    monkeypatch.setattr(tiny_model, "forward", lambda x, forward=tiny_model.forward: seen.append(x.shape) or forward(x))
    lines = []
    masks = predict_files(tiny_model, [tmp_path / "big.png"], tmp_path / "out", max_size=32, report=lines.append)
    assert seen == [(1, 3, 32, 24)], "read shrunk to 32 on the longer side, predicted at that size"
    monkeypatch.undo()
    assert np.asarray(Image.open(masks[0])).shape == (120, 90) and "90×120" in lines[0]


def test_a_failed_prediction_removes_what_it_wrote(tiny_model, tmp_path):
    from PIL import Image

    from latentseg.inference import predict_files

    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    Image.new("RGB", (3, 3)).save(tmp_path / "b.png")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("kept")
    with pytest.raises(ValueError, match="H, W ≥ 4"):
        predict_files(tiny_model, [tmp_path / "a.png", tmp_path / "b.png"], tmp_path / "out")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["mine.txt"], "a.png's mask removed, the folder kept"
    with pytest.raises(ValueError, match="H, W ≥ 4"):
        predict_files(tiny_model, [tmp_path / "a.png", tmp_path / "b.png"], tmp_path / "new")
    assert not (tmp_path / "new").exists(), "a folder it created is removed"


def test_instance_maps_of_one_image_come_back_at_its_size_with_counted_objects():
    from latentseg.inference import predict_image_instances
    from latentseg.pretrained import load_pretrained

    model, _ = load_pretrained("experts-crowded")
    image = synthetic_shapes(1, size=64, split="test", crowded=True).images[0]
    big = torch.nn.functional.interpolate(image[None], size=(128, 96), mode="bilinear", align_corners=False)[0]
    classes, ids, objects = predict_image_instances(model, big, max_size=64)
    assert classes.shape == ids.shape == (128, 96) and objects
    assert [o["pixels"] for o in objects] == [int((ids == o["id"]).sum()) for o in objects]
    assert all((classes[ids == o["id"]] == o["class"]).all() for o in objects), "an object's pixels carry its class"
    with pytest.raises(ValueError, match="expected a model whose experts own objects"):
        predict_image_instances(build_model("unet", num_classes=4), image)
