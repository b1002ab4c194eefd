"""Data for ssvae-tf: the paper's line images, Gaussian random-field
microstructures, loaders for user images (``ReadOptions`` says how stored
values become images) and tf.data pipelines of whole images or random crops
(``Patches``), split for a run by ``split_source``.

All images are float32 stacks (n, *spatial, 1) with values in [0, 1].
"""

from .lines import HARD_LINES, HORIZONTAL, PAPER_LINES, VERTICAL, LineImages, generate_lines
from .loaders import list_image_files, load_array, load_stored, read_file, stored_shape
from .pipeline import (
    DataSplit,
    Patches,
    count_of,
    image_shape_of,
    make_dataset,
    split_indices,
    split_source,
)
from .random_fields import RandomFieldImages, generate_random_fields
from .sources import ReadOptions, open_source, read_image

__all__ = [
    "DataSplit",
    "HARD_LINES",
    "HORIZONTAL",
    "PAPER_LINES",
    "VERTICAL",
    "LineImages",
    "Patches",
    "RandomFieldImages",
    "ReadOptions",
    "count_of",
    "generate_lines",
    "generate_random_fields",
    "image_shape_of",
    "list_image_files",
    "load_array",
    "load_stored",
    "make_dataset",
    "open_source",
    "read_file",
    "read_image",
    "split_indices",
    "split_source",
    "stored_shape",
]
