"""Uniform access to image sources: in-memory arrays, memmapped .npy files,
.npz files and folders of PNG/TIFF images (a multi-page TIFF is a volume),
read as ``ReadOptions`` say.

Images come out as float32 (*spatial, 1) in [0, 1]. Memmapped arrays and
folders are "streamed": read one image (or one crop) at a time by index.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np
import scipy.ndimage
import skimage.filters

from ssvae_tf._checks import (
    check_median_side,
    is_int,
    is_real,
    options_from_record,
    stack_layout,
    with_channel_axis,
)
from .loaders import load_array, read_file, scan_folder, stored_shape, to_unit_range, unit_scale

#: What ``make_dataset`` and friends accept: an array (n, *spatial[, 1]),
#: a .npy/.npz path or a folder of images.
Source = Union[np.ndarray, str, os.PathLike]

OTSU = "otsu"
_ARRAY_NAME = "source array"
#: Otsu's threshold is found from at most this many evenly spaced images ...
_OTSU_IMAGES = 256
#: ... pooled in a histogram of this many equal bins over [0, 1].
_OTSU_BINS = 256
#: Elements examined at a time when scanning a (possibly memory-mapped) array.
_CHUNK_ELEMENTS = 1 << 24


def _chunks(values: np.ndarray):
    """``values`` (at least one axis, not empty) in pieces along its first axis, read into memory."""
    rows = max(1, _CHUNK_ELEMENTS // max(1, values[0].size))
    for start in range(0, len(values), rows):
        yield np.asarray(values[start:start + rows])


def _summary(values: np.ndarray, what: str, expected: str) -> tuple[float, float, bool]:
    """``(min, max, all values integral)`` of a non-empty bool/integer/float array, chunk by chunk.

    Raises:
        ValueError: naming ``what`` for another dtype or for NaN/Inf values.
    """
    if values.dtype.kind not in "biuf":
        raise ValueError(f"{what} has dtype {values.dtype}; expected a bool, integer or float dtype")
    lo, hi, integral = np.inf, -np.inf, True
    for chunk in _chunks(values):
        if chunk.dtype.kind == "f":
            if not np.isfinite(chunk).all():
                raise ValueError(f"{what} contains NaN or Inf values; expected {expected}")
            integral = integral and bool((chunk == np.round(chunk)).all())
        lo, hi = min(lo, float(chunk.min())), max(hi, float(chunk.max()))
    return lo, hi, integral


@dataclass(frozen=True)
class ReadOptions:
    """How stored values become model images: float32 (*spatial, 1) in [0, 1].

    Attributes:
        phases: ``K >= 2`` for label images: stored integers 0..K-1 (any
            integer dtype, bool for K = 2, or floats holding integral values)
            become the grey levels ``label / (K - 1)``. None: grey images, where
            integers are divided by their dtype's max, bool becomes 0/1 and
            floats must lie in [0, 1].
        threshold: ``"otsu"`` or a number in [0, 1]: grey images become binary
            0/1, 1 where the grey value is > threshold. ``"otsu"`` is replaced by
            a number found from the source by ``resolved``. Not with ``phases``.
        median: side in px (odd) of a median filter over the spatial axes of
            grey images, before the threshold (and before Otsu's search):
            removes the salt-and-pepper that thresholding a noisy micrograph
            leaves, as Fiji's "Despeckle" (3 px) does; edges reflected.  1:
            none.  Not with ``phases``.
    """

    phases: int | None = None
    threshold: float | str | None = None
    median: int = 1

    def __post_init__(self) -> None:
        if self.phases is not None:
            if not is_int(self.phases) or self.phases < 2:
                raise ValueError(f"phases must be an integer >= 2 or None, got {self.phases!r}")
            object.__setattr__(self, "phases", int(self.phases))
        if self.threshold is not None and self.threshold != OTSU:
            if not is_real(self.threshold) or not 0 <= self.threshold <= 1:
                raise ValueError(
                    f"threshold must be {OTSU!r}, a number in [0, 1] or None, got {self.threshold!r}"
                )
            object.__setattr__(self, "threshold", float(self.threshold))
        object.__setattr__(self, "median", check_median_side(self.median))
        if self.phases is not None and self.median > 1:
            raise ValueError(f"median={self.median} filters grey images; label images (phases={self.phases}) "
                             "are not filtered")
        if self.phases is not None and self.threshold is not None:
            raise ValueError(
                f"threshold={self.threshold!r} cannot go with phases={self.phases}: label images "
                "are not thresholded"
            )

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types: the form a run records (resolve ``"otsu"`` first to record its number)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, record: Mapping[str, Any] | ReadOptions | None) -> ReadOptions:
        """Options from :meth:`to_json`'s form, or a partial dict of fields (the rest default).

        Raises:
            ValueError: on an unknown field, naming it and the known ones.
        """
        return options_from_record(cls, record, "read options")

    def _expected(self, dtype: np.dtype) -> str:
        if self.phases is not None:
            return f"integer labels 0..{self.phases - 1} (phases={self.phases})"
        top = unit_scale(dtype)
        return f"values in [0, {top}]" + (f" for {dtype}" if top != 1 else "")

    def check(self, values: np.ndarray, what: str) -> None:
        """Raise ``ValueError`` naming ``what`` unless ``values`` (any shape) can be read as these
        options say; scanned in chunks along the first axis, so a memmap stays on disk."""
        if values.size == 0:
            return
        expected = self._expected(values.dtype)
        lo, hi, integral = _summary(values, what, expected)
        if self.phases is not None and not integral:
            raise ValueError(f"{what} has non-integral values in [{lo:g}, {hi:g}]; expected {expected}")
        top = unit_scale(values.dtype) if self.phases is None else self.phases - 1
        if lo < 0 or hi > top:
            raise ValueError(f"{what} has values in [{lo:g}, {hi:g}]; expected {expected}")

    @property
    def halo(self) -> int:
        """Px beyond a crop that its median filter reads: a crop read with them, filtered, then trimmed,
        equals the same crop of the filtered image."""
        return self.median // 2

    def convert(self, values: np.ndarray, what: str, stacked: bool = False, channel: bool = True) -> np.ndarray:
        """Stored ``values`` as float32 in [0, 1], checked first (see ``check``): one image
        ``(*spatial, 1)``, without its channel axis (``channel=False``), or a stack of them
        (``stacked=True``); the median filter runs over the spatial axes only.

        Raises:
            ValueError: naming ``what`` for invalid values, or if the threshold
                is still ``"otsu"`` (see ``resolved``).
        """
        if self.threshold == OTSU:
            raise ValueError(
                f"threshold={OTSU!r} must be resolved from the whole source (ReadOptions.resolved) "
                f"before reading {what}"
            )
        values = np.asarray(values)
        self.check(values, what)
        if self.phases is not None:
            return values.astype(np.float32) / np.float32(self.phases - 1)
        grey = to_unit_range(values)
        if self.median > 1:
            size = [1] * int(stacked) + [self.median] * (grey.ndim - int(stacked) - int(channel)) + [1] * int(channel)
            grey = scipy.ndimage.median_filter(grey, size=size, mode="reflect")
        return grey if self.threshold is None else (grey > self.threshold).astype(np.float32)

    def resolved(self, source: Source) -> ReadOptions:
        """These options with ``threshold="otsu"`` replaced by the number it stands for.

        Otsu's threshold (``skimage.filters.threshold_otsu``) of a 256-bin
        histogram over [0, 1] of at most 256 evenly spaced grey images of
        ``source`` (all of them if fewer): the upper edge of the bin it picks.
        Other options are returned as they are.
        """
        if self.threshold != OTSU:
            return self
        return open_source(source, self, same_size=False).options


def _crop_slices(corner: tuple[int, ...], size: int) -> tuple[slice, ...]:
    return tuple(slice(int(start), int(start) + size) for start in corner)


@dataclass(frozen=True, eq=False)
class ArraySource:
    """A stack (n, *spatial, 1) of stored values, in memory or memory-mapped (then streamed).

    Attributes:
        array: the stored values, checked against ``options``.
        options: how they are read (threshold already a number).
        name: what error messages call the stack (its file, or "source array").
    """

    array: np.ndarray
    options: ReadOptions
    name: str

    @property
    def count(self) -> int:
        return len(self.array)

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape[1:])

    @property
    def streamed(self) -> bool:
        return isinstance(self.array, np.memmap)

    def label(self, index: int) -> str:
        """Image ``index`` as error messages name it."""
        return f"{self.name} image {index}"

    def shape_of(self, index: int) -> tuple[int, ...]:
        """Shape (*spatial, 1) of image ``index``."""
        return self.image_shape

    def read(self, index: int) -> np.ndarray:
        """Image ``index`` as float32 (*spatial, 1)."""
        return self.options.convert(self.array[int(index)], self.label(index))

    def take(self, indices: np.ndarray) -> np.ndarray:
        """Images at ``indices`` as one float32 array (k, *spatial, 1), read into memory."""
        return self.options.convert(self.array[np.asarray(indices)], self.name, stacked=True)

    def crop(self, index: int, corner: tuple[int, ...], size: int) -> np.ndarray:
        """The float32 crop (size, ..., size, 1) of image ``index`` at spatial ``corner``;
        a memmap reads only the crop (and the median filter's :attr:`~ReadOptions.halo`)."""
        halo, sides = self.options.halo, self.image_shape[:-1]
        starts = [max(0, int(c) - halo) for c in corner]
        stops = [min(side, int(c) + size + halo) for c, side in zip(corner, sides)]
        read = self.options.convert(self.array[int(index)][tuple(map(slice, starts, stops))], self.label(index))
        return read[tuple(slice(int(c) - start, int(c) - start + size) for c, start in zip(corner, starts))]


@dataclass(frozen=True, eq=False)
class FolderSource:
    """2-D images or volumes in files, always streamed.

    Attributes:
        files: the image files, sorted.
        shapes: the shape (*spatial, 1) of each file, from its header.
        options: how they are read (threshold already a number).
    """

    files: list[Path]
    shapes: list[tuple[int, ...]]
    options: ReadOptions

    @property
    def count(self) -> int:
        return len(self.files)

    @property
    def image_shape(self) -> tuple[int | None, ...]:
        """The files' common shape (*spatial, 1); None for sides that differ between files."""
        return _common_shape(self.shapes)

    @property
    def streamed(self) -> bool:
        return True

    def label(self, index: int) -> str:
        """Image ``index`` as error messages name it: its file."""
        return str(self.files[int(index)])

    def shape_of(self, index: int) -> tuple[int, ...]:
        """Shape (*spatial, 1) of image ``index``."""
        return self.shapes[int(index)]

    def read(self, index: int) -> np.ndarray:
        """Image ``index`` as float32 (*spatial, 1), checked as it is read."""
        return read_image(self.files[int(index)], self.options)

    def take(self, indices: np.ndarray) -> np.ndarray:
        """Images at ``indices`` (all of one shape) as one float32 array (k, *spatial, 1)."""
        images = [self.read(index) for index in indices]
        return np.array(images, np.float32).reshape((-1, *self.image_shape))

    def crop(self, index: int, corner: tuple[int, ...], size: int) -> np.ndarray:
        """The float32 crop (size, ..., size, 1) of image ``index`` at spatial ``corner``."""
        return self.read(index)[_crop_slices(corner, size)]


OpenedSource = Union[ArraySource, FolderSource]


def _common_shape(shapes: list[tuple[int, ...]]) -> tuple[int | None, ...]:
    """The sides shared by all ``shapes`` (of one rank), None where they differ."""
    return tuple(sides[0] if len(set(sides)) == 1 else None for sides in zip(*shapes))


def read_image(path: str | Path, read: ReadOptions = ReadOptions()) -> np.ndarray:
    """Read one PNG/TIFF file as float32 (H, W, 1), or (D, H, W, 1) for a multi-page TIFF.

    Values are read as ``read`` says (by default uint8 is divided by 255,
    uint16 by 65535, bool becomes 0/1, floats must lie in [0, 1]); RGB(A) is
    converted to gray (alpha ignored).

    Raises:
        ValueError: naming the file if it cannot be read, has an unsupported
            shape, or holds values ``read`` refuses.
    """
    return read.convert(read_file(path), str(path), channel=False)[..., np.newaxis]


def _as_path(source: Source) -> Path:
    if not isinstance(source, (str, os.PathLike)):
        raise ValueError(
            "source must be a NumPy array, a .npy/.npz path or a folder of images, "
            f"got {type(source).__name__}"
        )
    path = Path(source)
    if not path.exists():
        raise ValueError(f"{path} does not exist")
    return path


def _array_source(array: np.ndarray, read: ReadOptions, name: str) -> ArraySource:
    array = with_channel_axis(array, name)
    read.check(array, name)
    return ArraySource(array, read, name)


def _open(source: Source, read: ReadOptions, same_size: bool) -> OpenedSource:
    if isinstance(source, np.ndarray):
        return _array_source(source, read, _ARRAY_NAME)
    path = _as_path(source)
    if path.is_dir():
        return FolderSource(*scan_folder(path, same_size), read)
    return _array_source(load_array(path), read, str(path))


def _grey_histogram(image: np.ndarray) -> np.ndarray:
    """int64 (256,) counts of grey values in [0, 1] over bins (k/256, (k+1)/256] (bin 0 also holds 0)."""
    bins = np.clip(np.ceil(image * _OTSU_BINS).astype(np.int64) - 1, 0, _OTSU_BINS - 1)
    return np.bincount(bins.ravel(), minlength=_OTSU_BINS)


def _otsu_threshold(source: OpenedSource) -> float:
    """Otsu's threshold of the pooled grey values of evenly spaced images of ``source``.

    ``threshold_otsu`` is given each bin's upper edge as its value: Otsu's
    criterion does not change when all values shift by half a bin, and the
    upper edge of the bin it picks keeps that whole bin (right-closed) in the
    lower class, so ``value > threshold`` splits exactly as Otsu's does.
    """
    if source.count == 0:
        raise ValueError("the source holds no images (n == 0); Otsu's threshold needs some")
    picks = np.unique(np.linspace(0, source.count - 1, min(source.count, _OTSU_IMAGES)).round())
    counts = sum(_grey_histogram(source.read(int(i))) for i in picks)
    if np.count_nonzero(counts) < 2:
        raise ValueError(
            f"threshold={OTSU!r} needs images with more than one grey level; the "
            f"{len(picks)} images examined have one"
        )
    upper_edges = np.arange(1, _OTSU_BINS + 1) / _OTSU_BINS
    return float(skimage.filters.threshold_otsu(hist=(counts, upper_edges)))


def open_source(source: Source, read: ReadOptions = ReadOptions(), same_size: bool = True) -> OpenedSource:
    """Open ``source`` for reading as ``read`` says, checking its layout.

    Arrays and .npy/.npz files are value-checked chunk by chunk now; folders
    have every file's shape checked from its header now and their values
    checked as they are read. ``threshold="otsu"`` is resolved to a number
    (see ``ReadOptions.resolved``).

    Args:
        source: see ``Source``.
        read: how stored values become images.
        same_size: require a folder's files to share one shape (else only
            their number of spatial axes).
    """
    otsu = read.threshold == OTSU
    opened = _open(source, dataclasses.replace(read, threshold=None) if otsu else read, same_size)
    if not otsu:
        return opened
    return dataclasses.replace(opened, options=dataclasses.replace(read, threshold=_otsu_threshold(opened)))


def describe(source: Source, same_size: bool = True) -> tuple[int, tuple[int | None, ...]]:
    """``(count, image_shape)`` of ``source`` without reading its values.

    ``image_shape`` is ``(*spatial, 1)``. Only headers are read (of every file
    in a folder). With ``same_size=False`` a folder's files may differ in
    size, and sides that differ are None.
    """
    if isinstance(source, np.ndarray):
        shape, what = source.shape, _ARRAY_NAME
    else:
        path = _as_path(source)
        if path.is_dir():
            files, shapes = scan_folder(path, same_size)
            return len(files), _common_shape(shapes)
        shape, what = stored_shape(path), str(path)
    image_shape, _ = stack_layout(shape, what)
    return int(shape[0]), image_shape
