import os

import pytest
import torch
from standins import write_pets_archives, write_pets_layout

from latentseg.data.download import file_md5

torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture
def tiny_model():
    torch.manual_seed(0)
    from latentseg import SegmentationModel

    return SegmentationModel(feature_dim=16, latent_dim=16, num_latents=4, num_heads=2, num_classes=4)


@pytest.fixture(scope="module")
def pets_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_pets_layout(root, num_trainval=40, num_test=20)
    return root


@pytest.fixture
def archives(tmp_path):
    files = write_pets_archives(tmp_path / "server", num_trainval=10, num_test=5)
    return {name: (path.as_uri(), file_md5(path)) for name, path in files.items()}


@pytest.fixture
def small_improved():
    """A factory of small improved models (seeded), ``small_improved(**config overrides)``."""
    from latentseg.models.improved import ImprovedSegmentationModel

    def build(**overrides):
        torch.manual_seed(0)
        return ImprovedSegmentationModel(stem_dim=4, mid_dim=8, feature_dim=16, latent_dim=16, num_latents=4,
                                         num_heads=2, **overrides)
    return build
