"""Data: the built-in synthetic shapes (:mod:`.shapes`, coloured by :mod:`.looks`), the shifted test
set drawn by other code (:mod:`.shifted`), image/mask folders (:mod:`.folder`),
Oxford-IIIT Pet (:mod:`.pets`, fetched by :mod:`.download`), joint transforms (:mod:`.transforms`),
colour jitter (:mod:`.colour`) and texture refill (:mod:`.refill`) for training batches,
file readers (:mod:`.images`), and one name per source for the command line (:mod:`.sources`)."""

from ..labels import IGNORE_INDEX
from .dataset import SegmentationData
from .folder import FileSegmentationData, folder_dataset, write_shapes_folder
from .images import read_image, read_mask
from .looks import LOOKS, MIN_CONTRAST
from .pets import oxford_pets
from .shapes import SHAPE_CLASSES, Shape, compose_shapes, noise_data, synthetic_shapes
from .shifted import shifted_shapes
from .sources import DataSplits, Source, load_splits, load_test, parse_source

__all__ = [
    "IGNORE_INDEX", "SegmentationData", "FileSegmentationData", "folder_dataset", "write_shapes_folder", "read_image",
    "read_mask", "oxford_pets", "SHAPE_CLASSES", "Shape", "compose_shapes", "noise_data", "synthetic_shapes",
    "DataSplits", "Source", "load_splits", "load_test", "parse_source", "LOOKS", "MIN_CONTRAST", "shifted_shapes",
]
