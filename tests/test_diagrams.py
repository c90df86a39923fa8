import matplotlib.pyplot as plt
import pytest
import torch

from latentseg import SegmentationModel
from latentseg.analysis.diagrams import model_shapes, plot_architecture
from latentseg.models import build_model


def _texts(fig):
    text = " | ".join(t.get_text() for t in fig.axes[0].texts)
    plt.close(fig)
    return text


def test_the_diagram_prints_the_shapes_of_a_real_forward_pass():
    model = SegmentationModel(num_classes=4)
    assert model_shapes(model, 128) == {"image": (3, 128, 128), "grid": (32, 32), "tokens": (1024, 64),
                                        "experts": (16, 64), "coarse": (4, 32, 32), "logits": (4, 128, 128)}
    text = _texts(plot_architecture(model, image_size=128))
    assert "N=1024 tokens" in text and "16×1024 weights" in text and "1024×16 weights" in text and "4×128×128" in text
    improved = _texts(plot_architecture(build_model("improved", num_classes=3, num_latents=8), torch.rand(3, 64, 64),
                                           highlight="expert segmentation"))
    assert "(2 rounds)" in improved and "M=8 experts" in improved and "3×16×16" in improved


def test_an_unknown_step_is_refused_by_name():
    with pytest.raises(ValueError, match="highlight: expected one of .*'encoder'.*got 'decoder'"):
        plot_architecture(SegmentationModel(num_classes=4), highlight="decoder")
