"""The paper's synthetic line images, with the geometry scaled to any image size.

At 224 x 224 px (the paper's size) each image is a white canvas holding 1-4
black lines, all vertical or all horizontal; a line is 112-223 px long and
5-9 px wide, and parallel lines whose extents overlap keep at least 10 px
apart. At other sizes every length is scaled by ``s = side / 224``: the side
along which the lines run for lengths, the perpendicular side for widths and
spacing (rounded to whole pixels, at least 1 px).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ssvae_tf._checks import check_positive_int, is_int
from ssvae_tf._progress import progress_range
from ssvae_tf.paper import PAPER_SIZE

VERTICAL = 0
HORIZONTAL = 1

#: Line counts of the paper's data set.
PAPER_LINES = (1, 4)
#: Line counts of the harder set in the authors' repository.
HARD_LINES = (3, 7)

_PAPER_LENGTH = (112, 223)
_PAPER_WIDTH = (5, 9)
_PAPER_GAP = 10
_TRIES_PER_LINE = 50
_MAX_REDRAWS = 100
_MIN_SIDE, _MAX_SIDE = 16, 1024

#: A line as half-open extents (along0, along1, across0, across1) in px.
_Line = tuple[int, int, int, int]


@dataclass(frozen=True, eq=False)
class LineImages:
    """A set of line images with their labels.

    Attributes:
        images: float32 (n, H, W, 1); 0.0 on lines (black), 1.0 on background (white).
        n_lines: int64 (n,), number of lines drawn in each image.
        orientation: int64 (n,), ``VERTICAL`` (0) or ``HORIZONTAL`` (1).
        volume_fraction: float32 (n,), fraction of line (0-valued) pixels.
    """

    images: np.ndarray
    n_lines: np.ndarray
    orientation: np.ndarray
    volume_fraction: np.ndarray

    def __len__(self) -> int:
        return len(self.images)


@dataclass(frozen=True)
class _Geometry:
    """Line geometry in a frame whose axis 0 runs along the lines (all in px)."""

    along: int
    across: int
    length: tuple[int, int]
    width: tuple[int, int]
    min_gap: int

    @classmethod
    def scaled(cls, along: int, across: int) -> _Geometry:
        s_along, s_across = along / PAPER_SIZE, across / PAPER_SIZE
        return cls(
            along=along,
            across=across,
            length=tuple(max(1, round(v * s_along)) for v in _PAPER_LENGTH),
            width=tuple(max(1, round(v * s_across)) for v in _PAPER_WIDTH),
            min_gap=max(1, round(_PAPER_GAP * s_across)),
        )


def _image_shape(shape: int | tuple[int, int]) -> tuple[int, int]:
    sides = (shape, shape) if is_int(shape) else shape
    if (
        not isinstance(sides, (tuple, list))
        or len(sides) != 2
        or not all(is_int(v) and _MIN_SIDE <= v <= _MAX_SIDE for v in sides)
    ):
        raise ValueError(
            f"shape must be an int or a pair (H, W) of ints in "
            f"[{_MIN_SIDE}, {_MAX_SIDE}], got {shape!r}"
        )
    return int(sides[0]), int(sides[1])


def _line_range(n_lines: tuple[int, int]) -> tuple[int, int]:
    if (
        not isinstance(n_lines, (tuple, list))
        or len(n_lines) != 2
        or not all(is_int(v) for v in n_lines)
        or not 1 <= n_lines[0] <= n_lines[1]
    ):
        raise ValueError(f"n_lines must be a pair 1 <= lo <= hi, got {n_lines!r}")
    return int(n_lines[0]), int(n_lines[1])


def _conflicts(line: _Line, other: _Line, min_gap: int) -> bool:
    """Whether two lines ``(a0, a1, p0, p1)`` (half-open along/across extents) are too close.

    Extents along the lines that overlap or merely abut count as overlapping,
    so lines placed end to end cannot touch either.
    """
    a0, a1, p0, p1 = line
    b0, b1, q0, q1 = other
    if a0 > b1 or b0 > a1:
        return False
    return max(q0 - p1, p0 - q1) < min_gap


def _place_lines(
    rng: np.random.Generator, geometry: _Geometry, count: int
) -> list[_Line] | None:
    """Place ``count`` lines, or return None if one of them finds no room."""
    placed: list[_Line] = []
    for _ in range(count):
        for _ in range(_TRIES_PER_LINE):
            length = int(rng.integers(geometry.length[0], geometry.length[1] + 1))
            width = int(rng.integers(geometry.width[0], geometry.width[1] + 1))
            a0 = int(rng.integers(0, geometry.along - length + 1))
            p0 = int(rng.integers(0, geometry.across - width + 1))
            line = (a0, a0 + length, p0, p0 + width)
            if not any(_conflicts(line, other, geometry.min_gap) for other in placed):
                placed.append(line)
                break
        else:
            return None
    return placed


def _draw(rng: np.random.Generator, geometry: _Geometry, count: int) -> np.ndarray:
    """Return a float32 (along, across) canvas with ``count`` lines, redrawing on failure."""
    for _ in range(_MAX_REDRAWS):
        lines = _place_lines(rng, geometry, count)
        if lines is not None:
            canvas = np.ones((geometry.along, geometry.across), dtype=np.float32)
            for a0, a1, p0, p1 in lines:
                canvas[a0:a1, p0:p1] = 0.0
            return canvas
    raise ValueError(
        f"could not place {count} lines across {geometry.across} px after {_MAX_REDRAWS} "
        "redraws; use a larger shape or fewer lines (n_lines)"
    )


def generate_lines(
    n: int,
    shape: int | tuple[int, int] = 64,
    n_lines: tuple[int, int] = PAPER_LINES,
    seed: int = 0,
    progress: bool = True,
    *,
    image_size: int | tuple[int, int] | None = None,
) -> LineImages:
    """Generate ``n`` line images with the paper's geometry scaled to ``shape``.

    Each image gets one orientation (vertical or horizontal, equally likely) and
    a line count drawn uniformly from ``n_lines = (lo, hi)``. Each line is tried
    up to 50 times (random length, width and position inside the canvas) and
    rejected when its gap to an accepted line with overlapping extent is below
    the scaled 10 px; if a line finds no room the image is redrawn with the same
    orientation and count.

    Args:
        n: number of images, >= 1.
        shape: side in pixels, or ``(H, W)``; each side in [16, 1024] (the same name as
            ``generate_random_fields``' spatial shape).
        n_lines: inclusive range of the number of lines per image.
        seed: seed of ``numpy.random.default_rng``; equal seeds give equal sets.
        progress: show a progress bar (for n >= 200).
        image_size: the old name of ``shape``, deprecated (a ``DeprecationWarning``).

    Returns:
        ``LineImages`` with images of shape (n, H, W, 1).

    Raises:
        ValueError: on invalid arguments, or when ``hi`` lines do not fit at this size.
    """
    if image_size is not None:
        warnings.warn("generate_lines(image_size=...) is deprecated; pass shape=... (the name "
                      "generate_random_fields uses)", DeprecationWarning, stacklevel=2)
        shape = image_size
    n = check_positive_int(n, "n")
    height, width = _image_shape(shape)
    lo, hi = _line_range(n_lines)
    geometries = {
        VERTICAL: _Geometry.scaled(along=height, across=width),
        HORIZONTAL: _Geometry.scaled(along=width, across=height),
    }
    rng = np.random.default_rng(seed)
    images = np.empty((n, height, width, 1), dtype=np.float32)
    counts = np.empty(n, dtype=np.int64)
    orientations = np.empty(n, dtype=np.int64)
    for i in progress_range(n, progress):
        orientation = int(rng.integers(0, 2))
        count = int(rng.integers(lo, hi + 1))
        canvas = _draw(rng, geometries[orientation], count)
        images[i, ..., 0] = canvas if orientation == VERTICAL else canvas.T
        counts[i], orientations[i] = count, orientation
    volume_fraction = (1.0 - images.mean(axis=(1, 2, 3), dtype=np.float64)).astype(np.float32)
    return LineImages(images, counts, orientations, volume_fraction)
