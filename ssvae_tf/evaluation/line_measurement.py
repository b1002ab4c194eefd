"""Automatic line count and orientation of line images (the paper judged these by hand).

Method, per image:

1. Black pixels: value < ``PAPER_BLACK_LEVEL`` (0.05, the paper's threshold; :mod:`ssvae_tf.stats.phases`).
2. Connected components of the black pixels (``skimage.measure.label``,
   8-connectivity); components smaller than ``MIN_AREA_FRACTION`` of the image
   (specks of a blurry reconstruction) are ignored.  The smallest line of the
   paper's geometry covers at least 0.78 % of the image at any size.
3. Orientation: the pooled within-component second moments of the black
   pixels.  A component spread more along the rows than along the columns is
   part of a vertical line; summing the scatter of every component (weighted
   by its area) gives the dominant direction of the whole image.  Within-
   component moments matter: several parallel vertical lines spread the black
   pixels across the columns too.
4. Line count: the components are projected onto the axis across the dominant
   direction; components whose across-extents overlap are fragments of one
   line and are merged (an interval sweep).  On the generator's originals
   every line is one component and parallel lines are at least the scaled
   10 px apart, so the count is exact; on reconstructions broken lines are
   counted once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skimage.measure import label

from ssvae_tf.data import HORIZONTAL, VERTICAL
from ssvae_tf._progress import progress_range
from ssvae_tf.stats.phases import PAPER_BLACK_LEVEL, black_mask

#: Orientation of an image without black pixels (or with no dominant direction).
UNKNOWN = -1
#: Components smaller than this fraction of the image are ignored as specks.
MIN_AREA_FRACTION = 0.002


@dataclass(frozen=True)
class LineMeasurement:
    """Measured lines of ``n`` images.

    Attributes:
        n_lines: int64 ``(n,)``, number of lines found (0 if no black pixels).
        orientation: int64 ``(n,)``, ``VERTICAL`` (0), ``HORIZONTAL`` (1) or ``UNKNOWN`` (-1).
    """

    n_lines: np.ndarray
    orientation: np.ndarray


def _component_table(components: np.ndarray, n_components: int) -> dict[str, np.ndarray]:
    """Per-component area, row/column scatter and row/column extents (index 0 = background)."""
    rows, cols = np.indices(components.shape)
    flat, rows, cols = components.ravel(), rows.ravel().astype(np.float64), cols.ravel().astype(np.float64)
    size = n_components + 1
    area = np.bincount(flat, minlength=size).astype(np.float64)
    table = {"area": area}
    for name, coord in (("row", rows), ("col", cols)):
        total = np.bincount(flat, coord, minlength=size)
        squares = np.bincount(flat, coord * coord, minlength=size)
        table[f"{name}_scatter"] = squares - total * total / np.maximum(area, 1.0)
        low = np.full(size, np.inf)
        high = np.full(size, -np.inf)
        np.minimum.at(low, flat, coord)
        np.maximum.at(high, flat, coord)
        table[f"{name}_extent"] = np.stack([low, high], axis=1)
    return table


def _count_merged(extents: np.ndarray) -> int:
    """Number of groups of overlapping closed intervals ``(k, 2)``."""
    if len(extents) == 0:
        return 0
    extents = extents[np.argsort(extents[:, 0])]
    groups, reach = 1, extents[0, 1]
    for start, end in extents[1:]:
        if start > reach:
            groups += 1
        reach = max(reach, end)
    return groups


def measure_image(mask: np.ndarray, min_area: int) -> tuple[int, int]:
    """``(n_lines, orientation)`` of one boolean ``(H, W)`` black-pixel mask."""
    components, n_components = label(mask, connectivity=2, return_num=True)
    if n_components == 0:
        return 0, UNKNOWN
    table = _component_table(components, n_components)
    keep = np.flatnonzero(table["area"] >= min_area)
    keep = keep[keep > 0]
    if len(keep) == 0:
        return 0, UNKNOWN
    row_scatter, col_scatter = table["row_scatter"][keep].sum(), table["col_scatter"][keep].sum()
    if row_scatter == col_scatter:
        return 0, UNKNOWN
    orientation = VERTICAL if row_scatter > col_scatter else HORIZONTAL
    across = table["col_extent" if orientation == VERTICAL else "row_extent"][keep]
    return _count_merged(across), orientation


def min_area_for(image_shape: tuple[int, ...]) -> int:
    """Smallest component area counted, in px, for images ``(H, W, ...)``."""
    return max(2, round(MIN_AREA_FRACTION * image_shape[0] * image_shape[1]))


def measure_lines(images: np.ndarray, min_area: int | None = None, progress: bool = False) -> LineMeasurement:
    """Line count and orientation of each of ``images`` ``(n, H, W, 1)`` in [0, 1].

    Args:
        images: black lines (< 0.05) on a lighter background.
        min_area: components with fewer pixels are ignored (default:
            :func:`min_area_for` the image size, 8 px at 64 x 64).
        progress: show a progress bar (for 200 images or more).

    Raises:
        ValueError: for anything but 2-D images (lines are 2-D; volumes have no line count).
    """
    masks = black_mask(images, PAPER_BLACK_LEVEL)
    if masks.ndim != 3:
        raise ValueError(f"line measurement needs 2-D images (n, H, W, 1), got shape {np.shape(images)}")
    min_area = min_area_for(masks.shape[1:]) if min_area is None else int(min_area)
    counts = np.empty(len(masks), dtype=np.int64)
    orientations = np.empty(len(masks), dtype=np.int64)
    for i in progress_range(len(masks), progress):
        counts[i], orientations[i] = measure_image(masks[i], min_area)
    return LineMeasurement(counts, orientations)
