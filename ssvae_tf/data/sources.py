"""Uniform access to image sources: in-memory arrays, memmapped .npy files,
.npz files and folders of PNG/TIFF images.

Images come out as float32 (*spatial, 1) in [0, 1]. Memmapped arrays and
folders are "streamed": read one image at a time by index.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np

from ssvae_tf._checks import check_values, stack_layout, with_channel_axis
from .loaders import list_image_files, load_array, read_image, stored_shape

#: What ``make_dataset`` and friends accept: an array (n, *spatial[, 1]),
#: a .npy/.npz path or a folder of images.
Source = Union[np.ndarray, str, os.PathLike]

_ARRAY_NAME = "source array"


@dataclass(frozen=True, eq=False)
class ArraySource:
    """A stack (n, *spatial, 1) in memory or memory-mapped (then streamed)."""

    array: np.ndarray

    @property
    def count(self) -> int:
        return len(self.array)

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape[1:])

    @property
    def streamed(self) -> bool:
        return isinstance(self.array, np.memmap)

    def read(self, index: int) -> np.ndarray:
        """Image ``index`` as float32 (*spatial, 1)."""
        return np.asarray(self.array[index], dtype=np.float32)

    def take(self, indices: np.ndarray) -> np.ndarray:
        """Images at ``indices`` as one float32 array (k, *spatial, 1), read into memory."""
        return np.asarray(self.array[indices], dtype=np.float32)


@dataclass(frozen=True, eq=False)
class FolderSource:
    """2-D images in files of one shape, always streamed."""

    files: list[Path]
    image_shape: tuple[int, ...]

    @property
    def count(self) -> int:
        return len(self.files)

    @property
    def streamed(self) -> bool:
        return True

    def read(self, index: int) -> np.ndarray:
        """Image ``index`` as float32 (H, W, 1); ValueError if its shape differs
        from the first image's."""
        path = self.files[index]
        image = read_image(path)
        if image.shape != self.image_shape:
            raise ValueError(
                f"{path} has shape {image.shape}, but {self.files[0]} has shape "
                f"{self.image_shape}; all images in a folder must have the same shape"
            )
        return image


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


def _folder_source(folder: Path) -> FolderSource:
    files = list_image_files(folder)
    return FolderSource(files, read_image(files[0]).shape)


def open_source(source: Source) -> ArraySource | FolderSource:
    """Open ``source`` for reading, checking its layout and (for arrays) its values.

    Arrays and .npy/.npz files are value-checked chunk by chunk now; folder
    images are checked as they are read.
    """
    if isinstance(source, np.ndarray):
        array = with_channel_axis(source, _ARRAY_NAME)
        check_values(array, _ARRAY_NAME)
        return ArraySource(array)
    path = _as_path(source)
    if path.is_dir():
        return _folder_source(path)
    return ArraySource(load_array(path))


def describe(source: Source) -> tuple[int, tuple[int, ...]]:
    """``(count, image_shape)`` of ``source`` without reading all of it.

    ``image_shape`` is ``(*spatial, 1)``. Only array headers are read; for a
    folder the files are listed and the first image is read.
    """
    if isinstance(source, np.ndarray):
        shape, what = source.shape, _ARRAY_NAME
    else:
        path = _as_path(source)
        if path.is_dir():
            folder = _folder_source(path)
            return folder.count, folder.image_shape
        shape, what = stored_shape(path), str(path)
    image_shape, _ = stack_layout(shape, what)
    return int(shape[0]), image_shape
