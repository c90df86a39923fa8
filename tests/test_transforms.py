"""Joint image/mask transforms: geometry applied to both alike, masks stay class indices."""


import pytest
import torch

from latentseg.data.transforms import RandomHorizontalFlip, RandomResizedCrop, Resize, resize_pair, train_transform


def _coded_pair(height=60, width=90):
    """A mask of 5×5 blocks of classes 0–3 (asymmetric), and an image whose colour spells each pixel's class."""
    g = torch.Generator().manual_seed(0)
    blocks = torch.randint(0, 4, (height // 5 + 1, width // 5 + 1), generator=g)
    mask = blocks.repeat_interleave(5, 0).repeat_interleave(5, 1)[:height, :width]
    palette = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    return palette[mask].permute(2, 0, 1).contiguous(), mask


def _class_from_colour(image):
    palette = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    return ((image.permute(1, 2, 0)[..., None, :] - palette) ** 2).sum(-1).argmin(-1)


def test_augmentation_keeps_image_and_mask_aligned():
    torch.manual_seed(0)
    image, mask = _coded_pair()
    transform = train_transform(48)
    for _ in range(20):
        out_image, out_mask = transform(image, mask)
        assert out_image.shape == (3, 48, 48) and out_mask.shape == (48, 48) and out_mask.dtype == torch.int64
        agreement = (_class_from_colour(out_image) == out_mask).float().mean()
        assert agreement > 0.9, "image and mask went through the same crop and flip"
    # the check above would catch a misalignment: flipping only the mask breaks it
    out_image, out_mask = RandomHorizontalFlip(p=1.0)(image, mask)
    assert (_class_from_colour(out_image) == mask.flip(-1)).all()
    assert (_class_from_colour(out_image) == mask).float().mean() < 0.6


def test_masks_stay_class_indices_and_ignore_survives():
    image, mask = _coded_pair()
    mask = mask.clone()
    mask[:10] = 255
    for transform in (Resize((37, 53)), RandomResizedCrop(40), Resize(200)):
        out_image, out_mask = transform(image, mask)
        assert set(out_mask.unique().tolist()) <= {0, 1, 2, 3, 255}
        assert out_image.min() >= 0 and out_image.max() <= 1
    assert resize_pair(image, mask, (60, 90))[1] is mask, "no resampling at the same size"
    with pytest.raises(ValueError, match="image, mask"):
        resize_pair(image, mask[:-1], 32)
    with pytest.raises(ValueError, match="scale"):
        RandomResizedCrop(32, scale=(0.5, 1.5))


def test_random_resized_crop_is_seeded_and_varies():
    image, mask = _coded_pair()
    crop = RandomResizedCrop(32)
    torch.manual_seed(3)
    first = [crop.window(60, 90) for _ in range(5)]
    torch.manual_seed(3)
    assert first == [crop.window(60, 90) for _ in range(5)]
    assert len(set(first)) > 1
    for top, left, h, w in first:
        assert 0 <= top and top + h <= 60 and 0 <= left and left + w <= 90
