"""Data for ssvae-tf: the paper's line images, Gaussian random-field
microstructures, loaders for user images and tf.data pipelines.

All images are float32 stacks (n, *spatial, 1) with values in [0, 1].
"""

from .lines import HARD_LINES, HORIZONTAL, PAPER_LINES, VERTICAL, LineImages, generate_lines
from .loaders import list_image_files, load_array, read_image, stored_shape
from .pipeline import count_of, image_shape_of, make_dataset, split_indices
from .random_fields import RandomFieldImages, generate_random_fields

__all__ = [
    "HARD_LINES",
    "HORIZONTAL",
    "PAPER_LINES",
    "VERTICAL",
    "LineImages",
    "RandomFieldImages",
    "count_of",
    "generate_lines",
    "generate_random_fields",
    "image_shape_of",
    "list_image_files",
    "load_array",
    "make_dataset",
    "read_image",
    "split_indices",
    "stored_shape",
]
