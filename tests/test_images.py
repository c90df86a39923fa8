"""Reading image and mask files: bit depth, EXIF orientation, images too large to read whole."""

import numpy as np
import pytest
import torch
from PIL import Image

from latentseg.data.images import image_file_size, read_image, read_mask


def test_16_bit_grey_is_scaled_by_its_bit_depth(tmp_path):
    gradient = np.linspace(0, 65535, 256 * 16).astype(np.uint16).reshape(16, 256)
    Image.fromarray(gradient).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    image = read_image(tmp_path / "deep.png")
    assert image.shape == (3, 16, 256) and torch.equal(image[0], image[2]), "grey repeated over RGB"
    assert float(image.mean()) == pytest.approx(0.5, abs=1e-3), "not clipped to white"
    assert len(image[0].unique()) > 4000, "every level kept, not 17"
    assert float(image.max()) == 1.0 and float(image.min()) == 0.0
    assert read_image(tmp_path / "deep.png", channels=1).shape == (1, 16, 256)


def test_8_bit_images_read_as_before(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (10, 12, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "rgb.png")
    torch.testing.assert_close(read_image(tmp_path / "rgb.png"), torch.from_numpy(pixels).permute(2, 0, 1).float() / 255)


def test_float_images_outside_unit_range_are_refused(tmp_path):
    Image.fromarray(np.full((4, 4), 3.5, dtype=np.float32)).save(tmp_path / "f.tif")
    with pytest.raises(ValueError, match=r"f.tif is a F image with values outside \[0, 1\]"):
        read_image(tmp_path / "f.tif")


def test_exif_orientation_is_applied_to_images_masks_and_sizes(tmp_path):
    stored = np.zeros((20, 30, 3), dtype=np.uint8)
    stored[:, :5] = 255  # a white band on the left of the stored pixels
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    Image.fromarray(stored).save(tmp_path / "photo.jpg", exif=exif, quality=95)
    image = read_image(tmp_path / "photo.jpg")
    assert image.shape == (3, 30, 20), "width and height as a viewer shows them"
    assert image[:, :5].mean() > 0.9 and image[:, -5:].mean() < 0.1, "the band is on top once turned"
    assert image_file_size(tmp_path / "photo.jpg") == (30, 20)
    mask = Image.fromarray(np.zeros((20, 30), dtype=np.uint8))
    mask.save(tmp_path / "mask.png", exif=exif)
    assert read_mask(tmp_path / "mask.png").shape == (30, 20)


def test_an_image_too_large_to_read_whole_names_its_size_and_can_be_read_shrunk(tmp_path, monkeypatch):
    Image.fromarray(np.full((300, 400, 3), 128, dtype=np.uint8)).save(tmp_path / "huge.jpg")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 20_000)  # 400×300 is then "too large", as 20000×15000 is
    with pytest.raises(ValueError, match=r"huge.jpg is 400×300 pixels \(0 megapixels\), above the 0-megapixel limit"
                                         r".*--max-size"):
        read_image(tmp_path / "huge.jpg")
    small = read_image(tmp_path / "huge.jpg", max_side=100)
    assert max(small.shape[1:]) <= 100 and small.shape[2] > small.shape[1]
    assert Image.MAX_IMAGE_PIXELS == 20_000, "the limit is restored"
