"""Instance ids in the data: every source carries them, consistent with its class masks, and they move
with the masks through every transform."""

import hashlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from latentseg import SegmentationData, synthetic_shapes
from latentseg.data.dataset import check_instances
from latentseg.data.folder import folder_dataset, write_shapes_folder
from latentseg.data.shifted import shifted_shapes
from latentseg.data.transforms import train_transform
from latentseg.training.panoptic import oracle_panoptic


def _touching_same_class_pairs(masks, instances):
    """Per image, pairs of different objects of one class that are 4-neighbours somewhere."""
    pairs = 0
    for mask, ids in zip(masks, instances, strict=True):
        for a, b, c, d in ((ids[:, :-1], ids[:, 1:], mask[:, :-1], mask[:, 1:]), (ids[:-1], ids[1:], mask[:-1], mask[1:])):
            touching = (a > 0) & (b > 0) & (a != b) & (c == d)
            pairs += len({tuple(sorted(p)) for p in zip(a[touching].tolist(), b[touching].tolist(), strict=True)})
    return pairs


def test_every_shape_is_one_object_of_one_class():
    data = synthetic_shapes(64, size=48, seed=2)
    check_instances("instances", data.instances, data.masks)
    assert torch.equal(data.instances > 0, data.masks > 0), "every shape pixel belongs to an object, no other"
    assert 1 <= int(data.instances.flatten(1).max(1).values.min()) and int(data.instances.max()) <= 4
    assert data.with_instances()[3][2].shape == (48, 48) and len(data[3]) == 2, "pairs unless asked for instances"


def test_crowded_scenes_touch_and_a_class_map_cannot_count_them():
    usual, crowded = synthetic_shapes(128, seed=0, split="test"), synthetic_shapes(128, seed=0, split="test", crowded=True)
    objects = crowded.instances.flatten(1).max(1).values
    assert 3 <= int(objects.min()) and int(objects.max()) == 7
    assert _touching_same_class_pairs(crowded.masks, crowded.instances) > 2 * _touching_same_class_pairs(
        usual.masks, usual.instances) > 0
    ceiling = oracle_panoptic(crowded.masks, crowded.instances, 4).pq
    assert ceiling < oracle_panoptic(usual.masks, usual.instances, 4).pq - 0.2, "perfect classes + components fall short"
    digest = hashlib.sha256(crowded.masks[:16].to(torch.uint8).numpy().tobytes()).hexdigest()[:16]
    assert digest == PINNED_CROWDED, "the same crowded scenes on every machine"


PINNED_CROWDED = "c374ee45ac12760d"


def test_the_shifted_set_carries_objects_and_its_crowded_scenes_too():
    for crowded in (False, True):
        data = shifted_shapes(24, size=48, seed=1, crowded=crowded)
        check_instances("instances", data.instances, data.masks)
        assert torch.equal(data.instances > 0, data.masks > 0)
    crowded = shifted_shapes(24, size=48, seed=1, crowded=True)
    assert int(crowded.instances.flatten(1).max(1).values.min()) >= 3
    assert _touching_same_class_pairs(crowded.masks, crowded.instances) > 0


@pytest.mark.parametrize(("ids", "words"), [
    ([[0, 1, 1], [0, 0, 0]], "image 0, object 1 spans classes 1 and 2"),
    ([[2, 0, 0], [0, 0, 0]], "image 0 has objects [2] on background pixels"),
    ([[0, 70000, 70000], [0, 0, 0]], "expected ids in [0, 65535]"),
])
def test_instance_ids_that_break_the_rules_are_named(ids, words):
    masks = torch.tensor([[[0, 1, 2], [0, 0, 0]]])
    with pytest.raises(ValueError, match=words.replace("[", r"\[").replace("]", r"\]")):
        SegmentationData(torch.zeros(1, 3, 2, 3), masks, ("bg", "a", "b"), torch.tensor([ids]))
    with pytest.raises(TypeError, match="integer tensor"):
        check_instances("instances", torch.zeros(1, 2, 3), masks)


def test_transforms_move_instances_with_the_mask():
    data = synthetic_shapes(4, size=48, seed=0)
    image, mask, ids = data.with_instances()[1]
    torch.manual_seed(3)
    image2, planes = train_transform(32)(image, torch.stack([mask, ids]))
    assert planes.shape == (2, 32, 32)
    assert torch.equal(planes[1] > 0, planes[0] > 0), "ids land where the shapes land"
    check_instances("instances", planes[1], planes[0])


def _folder_with_instances(root, num_images=10):
    """write_shapes_folder's layout with instances/ beside masks/."""
    root = write_shapes_folder(root, num_images=num_images, size=32)
    (root / "instances").mkdir()
    shapes = synthetic_shapes(num_images, size=32, seed=0, split="train")
    for k in range(num_images):
        Image.fromarray(shapes.instances[k].numpy().astype(np.uint16)).save(root / "instances" / f"img_{k:03d}.png")
    return root


def test_a_folder_with_instances_reads_them_and_names_broken_files(tmp_path):
    root = _folder_with_instances(tmp_path / "data")
    train = folder_dataset(root, "train")
    image, mask, ids = train.with_instances()[0]
    assert train.has_instances and ids.dtype == torch.int64 and torch.equal(ids > 0, mask > 0)
    memory = folder_dataset(root, "test").in_memory(16)
    assert memory.instances.shape == (1, 16, 16) and torch.equal(memory.instances > 0, memory.masks > 0)
    assert [m.stem for _, m in folder_dataset(root, "test").pairs] == ["img_001"], "the fixed shuffle's test image"
    Image.fromarray(np.zeros((8, 8), dtype=np.uint16)).save(root / "instances" / "img_001.png")
    with pytest.raises(ValueError, match=r"instances: .*img_001.png is 8×8 but its image .*img_001.png is 32×32"):
        folder_dataset(root, "test")
    (root / "instances" / "img_001.png").unlink()
    with pytest.raises(ValueError, match="instances/ holds no file for 1 images"):
        folder_dataset(root, "test")
    two_classes = np.zeros((32, 32), dtype=np.uint8)
    two_classes[4:12, 4:12], two_classes[4:12, 12:20] = 1, 2
    Image.fromarray(two_classes).save(root / "masks" / "img_001.png")
    Image.fromarray((two_classes > 0).astype(np.uint16)).save(root / "instances" / "img_001.png")  # one id over both
    with pytest.raises(ValueError, match=r"instances: .*img_001.png: image 0, object 1 spans classes 1 and 2"):
        folder_dataset(root, "test").read(0)


def test_downsampled_ids_stay_ids():
    ids = torch.tensor([[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 0, 0], [3, 3, 0, 0]])
    small = F.interpolate(ids[None, None].float(), size=(2, 2), mode="nearest-exact")[0, 0].long()
    assert small.tolist() == [[1, 2], [3, 0]]


def test_the_most_objects_of_one_image_is_counted_for_every_kind_of_data(tmp_path):
    from latentseg.data.dataset import SegmentationDataset
    from latentseg.data.nuclei import AugmentedSlices

    data = synthetic_shapes(40, size=32, seed=1, split="train", crowded=True)
    counts = [len(ids.unique()) - 1 for ids in data.instances]
    assert data.most_objects() == max(counts) > 1
    assert SegmentationDataset.most_objects(data) == max(counts), "the protocol's item-by-item count agrees"
    assert AugmentedSlices(data, train_transform(16)).most_objects() == max(counts), "counted before cropping"
    files = folder_dataset(_folder_with_instances(tmp_path / "shapes"), "train")
    assert files.most_objects() == max(len(ids.unique()) - 1 for _, _, ids in files.with_instances()) > 0
    with pytest.raises(ValueError, match="carries none"):
        SegmentationData(data.images, data.masks, data.class_names).most_objects()


def test_experts_are_chosen_from_the_densest_training_image(tmp_path):
    from latentseg.run import _experts_for, experts_for

    assert [experts_for(n) for n in (0, 7, 9, 10, 20, 40)] == [16, 16, 16, 24, 32, 64]
    data = synthetic_shapes(8, size=32, seed=0, split="train", crowded=True)
    cropped = folder_dataset(_folder_with_instances(tmp_path / "shapes"), "train", transform=train_transform(16))
    lines = []
    torch.manual_seed(0)
    expected = torch.rand(1)
    torch.manual_seed(0)
    assert _experts_for(cropped, None, lines.append) == 16
    assert torch.equal(torch.rand(1), expected), "counting leaves the random state (the initial weights) as it was"
    assert _experts_for(data, None, lines.append) == experts_for(data.most_objects())
    assert f"for up to {data.most_objects()} objects in one training image" in lines[-1]
    with pytest.warns(UserWarning, match=r"num_latents: 2 experts, each owning at most one object .* give 16 or more"):
        assert _experts_for(data, 2, lines.append) == 2
