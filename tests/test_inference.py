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
    with pytest.raises(ValueError, match="H, W ≥ 4"):
        predict_files(tiny_model, [tmp_path / "a.png", tmp_path / "b.png"], tmp_path / "new" / "deeper")
    assert not (tmp_path / "new").exists(), "new parent folders are removed too"


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


def _images(folder, *names, size=8):
    from PIL import Image

    folder.mkdir(exist_ok=True)
    for name in names:
        Image.new("RGB", (size, size) if name != "tiny.png" else (1, 1), (40, 90, 200)).save(folder / name)
    return folder


def test_a_failed_prediction_keeps_what_an_earlier_run_wrote(tiny_model, tmp_path):
    """The rollback removes only what this run made: a mask an earlier run wrote under the same name stays."""
    from latentseg.inference import predict_files

    images = _images(tmp_path / "images", "a.png", "tiny.png")
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.png").write_bytes(b"an earlier run's mask")
    with pytest.raises(ValueError, match="tiny.png"):
        predict_files(tiny_model, [images], out)
    assert sorted(p.name for p in out.iterdir()) == ["a.png"] and (out / "a.png").read_bytes() == b"an earlier run's mask"


def test_ctrl_c_during_predict_leaves_the_folder_as_it_was(tiny_model, tmp_path, monkeypatch):
    import latentseg.inference as inference
    from latentseg.inference import predict_files

    images = _images(tmp_path / "images", "a.png", "b.png", "c.png")
    out = tmp_path / "out"
    out.mkdir()
    for name in ("a.png", "b.png", "notes.txt"):
        (out / name).write_text(f"earlier {name}")
    written, lines = [], []

    def interrupt_at_the_third(folder, files, *args, write=inference._write_outputs):
        if len(written) == 2:
            raise KeyboardInterrupt
        written.append(files[0])
        write(folder, files, *args)

    monkeypatch.setattr(inference, "_write_outputs", interrupt_at_the_third)
    with pytest.raises(KeyboardInterrupt):
        predict_files(tiny_model, [images], out, colour=True, report=lines.append)
    monkeypatch.undo()
    assert written == ["a.png", "b.png"] and lines == [], "no line reports a file that never landed"
    assert {p.name: p.read_text() for p in out.iterdir()} == {n: f"earlier {n}" for n in ("a.png", "b.png", "notes.txt")}
    masks = predict_files(tiny_model, [images], out, colour=True)
    assert [m.name for m in masks] == ["a.png", "b.png", "c.png"]
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "a_colour.png", "b.png", "b_colour.png", "c.png",
                                                     "c_colour.png", "notes.txt"], "no staging folder left behind"


def test_predicting_into_the_images_own_folder_never_overwrites_them(tiny_model, tmp_path):
    from latentseg.inference import predict_files

    photos = _images(tmp_path / "photos", "a.png")
    before = (photos / "a.png").read_bytes()
    with pytest.raises(ValueError, match="--out: writing a.png there would replace the input image"):
        predict_files(tiny_model, [photos], photos)
    assert (photos / "a.png").read_bytes() == before and sorted(p.name for p in photos.iterdir()) == ["a.png"]


@pytest.mark.parametrize("colour, instances, clash", [(True, False, "a_colour.png"), (False, True, "a_instances.png")])
def test_two_inputs_that_would_write_one_name_are_refused_naming_both(tiny_model, tmp_path, colour, instances, clash):
    from latentseg.inference import predict_files
    from latentseg.models import build_model

    model = build_model("experts", num_classes=4) if instances else tiny_model
    images = _images(tmp_path / "images", "a.png", clash)
    with pytest.raises(ValueError, match=f"a.png and .*{clash} would both write {clash}"):
        predict_files(model, [images], tmp_path / "out", colour=colour, instances=instances)
    assert not (tmp_path / "out").exists()


def test_predict_files_takes_one_path_alone_and_refuses_no_input(tiny_model, tmp_path):
    from latentseg.inference import predict_files

    images = _images(tmp_path / "images", "a.png")
    assert [m.name for m in predict_files(tiny_model, str(images / "a.png"), tmp_path / "one")] == ["a.png"]
    assert [m.name for m in predict_files(tiny_model, images, tmp_path / "folder")] == ["a.png"]
    with pytest.raises(ValueError, match="images: expected at least one image file or folder, got none"):
        predict_files(tiny_model, [], tmp_path / "none")
    assert not (tmp_path / "none").exists()
    for bad, message in ((None, "model: expected a latentseg model"), ("model.pt", "model: expected a latentseg model")):
        with pytest.raises(TypeError, match=message):
            predict_files(bad, [images], tmp_path / "x")
    with pytest.raises(TypeError, match="out: expected the path of a folder"):
        predict_files(tiny_model, [images], None)
    with pytest.raises(ValueError, match="max_size"):
        predict_files(tiny_model, [images], tmp_path / "x", max_size=0)


@pytest.mark.parametrize("scale, shift, hint", [(255, 0, "divide 0–255 images by 255"), (1, -5, "undo any normalisation")])
def test_pixels_outside_zero_one_get_a_warning_naming_the_range(tiny_model, scale, shift, hint):
    """A 0–255 float image, or a normalised one, changes the answer without an error: say so."""
    x = torch.rand(1, 3, 16, 16) * scale + shift
    with pytest.warns(UserWarning, match=f"x: pixel values are expected in \\[0, 1\\], got .*; {hint}"):
        tiny_model.predict(x)
    with pytest.warns(UserWarning, match="image: pixel values are expected in"):
        predict_image(tiny_model, x[0])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tiny_model.predict(torch.rand(1, 3, 16, 16))  # an image in [0, 1]: no warning


@pytest.mark.parametrize("size, error, message", [
    ((1, 10**9), ValueError, "size: expected \\(H, W\\) with 1 ≤ H, W ≤ 65,536"), ((-1, 5), ValueError, "got \\(-1, 5\\)"),
    ((0, 0), ValueError, "got \\(0, 0\\)"), ((5,), TypeError, "size: expected \\(H, W\\), two ints"),
    ((2.5, 3), TypeError, "two ints"),
])
def test_a_size_out_of_bounds_is_refused_before_anything_is_allocated(tiny_model, size, error, message):
    with pytest.raises(error, match=message):
        predict_image(tiny_model, torch.rand(3, 16, 16), size=size)


def test_a_config_count_past_its_bound_is_refused_before_building():
    with pytest.raises(ValueError, match="encoder_blocks: expected a positive int of at most 64, got 100000000"):
        build_model("improved", num_classes=4, encoder_blocks=100_000_000)
    with pytest.raises(ValueError, match="num_latents: expected a positive int of at most 4096"):
        build_model("article", num_classes=4, num_latents=10**6)


def test_as_many_objects_as_experts_is_never_silent(tmp_path, monkeypatch):
    """An experts model owns at most one object per expert: a count at that cap says objects may be missed,
    in one line naming the file and the number of experts."""
    from PIL import Image

    from latentseg.models import build_model
    from latentseg.models.experts import Instances

    model = build_model("experts", num_classes=4, num_latents=4)
    Image.new("RGB", (16, 16), (200, 40, 40)).save(tmp_path / "crowd.png")

    def crowded(x, expert_mask=None):  # four objects found: every expert owns one
        ids = (torch.arange(16) // 4 + 1).expand(16, 16)[None]  # four vertical bands, ids 1–4
        objects = [{"id": k, "class": 1, "score": 0.9, "pixels": 16, "expert": k - 1} for k in range(1, 5)]
        return Instances(torch.ones(1, 16, 16, dtype=torch.long), ids, [objects])

    monkeypatch.setattr(model, "predict_instances", crowded)
    from latentseg.inference import predict_files

    with pytest.warns(UserWarning, match="crowd.png: 4 objects found by a model of 4 experts"):
        predict_files(model, [tmp_path / "crowd.png"], tmp_path / "out", instances=True)


def test_an_image_out_of_range_is_warned_about_once_for_instances():
    from latentseg.inference import predict_image_instances

    model = build_model("experts", num_classes=4, feature_dim=16, latent_dim=16, num_latents=4, num_heads=2).eval()
    with pytest.warns(UserWarning) as caught:
        predict_image_instances(model, torch.rand(3, 32, 32) * 255)
    ranges = [str(w.message) for w in caught if "pixel values" in str(w.message)]
    assert len(ranges) == 1 and ranges[0].startswith("image: pixel values are expected in [0, 1]"), ranges
