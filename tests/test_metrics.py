import math

import pytest
import torch

from latentseg import ConfusionMatrix


def test_known_confusion():
    target = torch.tensor([[0, 0, 1, 1], [2, 2, 2, 255]])
    pred = torch.tensor([[0, 1, 1, 1], [2, 2, 0, 0]])
    cm = ConfusionMatrix(3)
    cm.update(pred, target)
    m = cm.compute()
    assert m.confusion == [[1, 1, 0], [0, 2, 0], [1, 0, 2]]
    assert m.pixel_accuracy == pytest.approx(5 / 7)
    # IoU: class 0: 1/(2+2-1)=1/3, class 1: 2/(2+3-2)=2/3, class 2: 2/(3+2-2)=2/3
    assert m.per_class_iou == pytest.approx([1 / 3, 2 / 3, 2 / 3])
    assert m.miou == pytest.approx(5 / 9)


def test_absent_class_is_left_out_of_the_mean():
    cm = ConfusionMatrix(4)
    cm.update(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 1]))
    m = cm.compute()
    assert m.per_class_iou == [1.0, 1.0, None, None] and m.miou == 1.0


def test_perfect_and_empty():
    assert math.isnan(ConfusionMatrix(2).compute().miou)
    with pytest.raises(ValueError, match="target: expected class indices in \\[0, 2\\)"):
        ConfusionMatrix(2).update(torch.tensor([0, 1]), torch.tensor([0, 5]))
    with pytest.raises(ValueError, match="prediction: expected shape"):
        ConfusionMatrix(2).update(torch.tensor([0]), torch.tensor([0, 1]))
