"""Reading stored values from user files: NumPy stacks (.npy/.npz) and
PNG/TIFF images (a multi-page TIFF is one volume).

These functions return values as stored (dtype and range untouched, except
that RGB(A) is converted to a gray float in [0, 1]); ``sources.ReadOptions``
turns them into model images and checks them.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import PIL.Image
import skimage.color
import skimage.io
import tifffile

from ssvae_tf._checks import with_channel_axis

IMAGE_SUFFIXES = (".png", ".tif", ".tiff")
TIFF_SUFFIXES = (".tif", ".tiff")
NPZ_KEY = "images"
#: The TIFF axis that holds samples (colour channels) in ``tifffile``'s axes strings.
_SAMPLES = "S"
_CROP_HINT = "(or train on random crops: --patch-size N)"


def _npz_key(keys: list[str], path: Path) -> str:
    """The array to use from an .npz file: ``images``, else its only array."""
    if NPZ_KEY in keys:
        return NPZ_KEY
    if len(keys) == 1:
        return keys[0]
    raise ValueError(
        f"{path} holds arrays {sorted(keys)}; expected one named {NPZ_KEY!r} or a single array"
    )


def _check_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".npz"):
        raise ValueError(f"{path} is not a .npy or .npz file")
    if not path.is_file():
        raise ValueError(f"{path} does not exist")
    return suffix


def load_stored(path: str | Path) -> np.ndarray:
    """The array of a .npy file (memory-mapped read-only) or .npz file (key ``images``, or its only array,
    read into memory) exactly as stored: shape and dtype untouched (``load_array`` reads it as a stack).

    Raises:
        ValueError: for a missing/unreadable file or an ambiguous .npz.
    """
    path = Path(path)
    suffix = _check_suffix(path)
    try:
        if suffix == ".npy":
            return np.load(path, mmap_mode="r")
        npz = np.load(path)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise ValueError(f"cannot read {path}: {error}") from error
    with npz:
        return npz[_npz_key(list(npz.files), path)]


def stored_shape(path: str | Path) -> tuple[int, ...]:
    """Shape of the array in a .npy/.npz file, read from its header only.

    Returns the stored shape as is (before any channel axis is added).
    """
    path = Path(path)
    if _check_suffix(path) == ".npy":
        return tuple(load_stored(path).shape)
    try:
        with zipfile.ZipFile(path) as archive:
            members = [name[: -len(".npy")] for name in archive.namelist() if name.endswith(".npy")]
            with archive.open(_npz_key(members, path) + ".npy") as member:
                version = np.lib.format.read_magic(member)
                read_header = (
                    np.lib.format.read_array_header_1_0
                    if version == (1, 0)
                    else np.lib.format.read_array_header_2_0
                )
                shape, _, _ = read_header(member)
    except (OSError, zipfile.BadZipFile, EOFError) as error:
        raise ValueError(f"cannot read {path}: {error}") from error
    return tuple(shape)


def load_array(path: str | Path) -> np.ndarray:
    """Load a stack of images from a .npy or .npz file, values as stored.

    A .npy file is memory-mapped read-only (``mmap_mode="r"``), so large sets
    stay on disk; an .npz file is read into memory (key ``images``, or its only
    array). Values are not checked here: ``ReadOptions.check`` does that.

    Args:
        path: file holding an array (n, *spatial) or (n, *spatial, 1), with 2 or
            3 spatial axes.

    Returns:
        Array (n, *spatial, 1) in the stored dtype (a memmap for .npy).

    Raises:
        ValueError: for a missing/unreadable file, an ambiguous .npz or a wrong rank.
    """
    path = Path(path)
    return with_channel_axis(load_stored(path), str(path))


def list_image_files(folder: str | Path) -> list[Path]:
    """Sorted paths of the .png/.tif/.tiff files (any letter case) directly in ``folder``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder")
    files = sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )
    if not files:
        raise ValueError(f"no .png/.tif/.tiff images in {folder}")
    return files


def unit_scale(dtype: np.dtype) -> int:
    """The stored value that means 1.0 (white): an integer dtype's max, else 1."""
    return int(np.iinfo(dtype).max) if np.issubdtype(dtype, np.integer) else 1


def to_unit_range(values: np.ndarray) -> np.ndarray:
    """Integers divided by their dtype's max, bool to 0/1, floats unchanged; as float32."""
    return (values / unit_scale(values.dtype)).astype(np.float32)


def _is_tiff(path: Path) -> bool:
    return path.suffix.lower() in TIFF_SUFFIXES


def _tiff_spatial(shape: tuple[int, ...], axes: str, path: Path) -> tuple[int, ...]:
    """Spatial shape of a TIFF series: (H, W) for one page, (D, H, W) for a stack of pages.

    ``shape`` and ``axes`` are ``tifffile``'s; the samples axis is not spatial
    and page axes of size 1 are dropped.
    """
    sides = [side for side, axis in zip(shape, axes) if axis != _SAMPLES]
    pages = [side for side in sides[:-2] if side != 1]
    if len(sides) < 2 or len(pages) > 1:
        raise ValueError(
            f"{path} holds a TIFF series of shape {tuple(shape)} (axes {axes}); expected one "
            "page (a 2-D image) or one stack of pages (a volume)"
        )
    return tuple(pages + sides[-2:])


def _cannot_read(path: Path, error: Exception) -> ValueError:
    return ValueError(f"cannot read image {path}: {error}")


def image_file_shape(path: str | Path) -> tuple[int, ...]:
    """Spatial shape (H, W) or (D, H, W) of a PNG/TIFF file, from its header only."""
    path = Path(path)
    try:
        if not _is_tiff(path):
            with PIL.Image.open(path) as image:
                width, height = image.size
                return height, width
        with tifffile.TiffFile(path) as tiff:
            shape, axes = tiff.series[0].shape, tiff.series[0].axes
    except Exception as error:  # the imaging libraries raise many unrelated types
        raise _cannot_read(path, error) from error
    return _tiff_spatial(shape, axes, path)


def _tiff_values(raw: np.ndarray, axes: str, path: Path) -> tuple[np.ndarray, int]:
    """A TIFF series' values as (*spatial[, samples]), and its number of spatial axes."""
    spatial = _tiff_spatial(raw.shape, axes, path)
    if _SAMPLES not in axes:
        return raw.reshape(spatial), len(spatial)
    raw = np.moveaxis(raw, axes.index(_SAMPLES), -1)
    return raw.reshape(spatial + raw.shape[-1:]), len(spatial)


def _to_gray(raw: np.ndarray, rank: int, path: Path) -> np.ndarray:
    """Stored values (*spatial[, channels]) with ``rank`` spatial axes -> (*spatial).

    One channel or gray+alpha keeps the stored values; RGB(A) becomes a gray
    float32 in [0, 1] (integers scaled first, alpha ignored).
    """
    if raw.ndim == rank:
        return raw
    if raw.ndim == rank + 1 and raw.shape[-1] in (1, 2):
        return raw[..., 0]
    if raw.ndim == rank + 1 and raw.shape[-1] in (3, 4):
        return skimage.color.rgb2gray(to_unit_range(raw[..., :3])).astype(np.float32)
    raise ValueError(
        f"{path} has shape {raw.shape}; expected a gray, RGB or RGBA image or volume"
    )


def read_file(path: str | Path) -> np.ndarray:
    """Read a PNG/TIFF file as stored gray values (H, W), or (D, H, W) for a multi-page TIFF.

    Single-channel values keep their stored dtype; RGB(A) is converted to gray
    float32 in [0, 1].

    Raises:
        ValueError: naming the file if it cannot be read or has an unsupported shape.
    """
    path = Path(path)
    try:
        if _is_tiff(path):
            with tifffile.TiffFile(path) as tiff:
                raw, axes = tiff.series[0].asarray(), tiff.series[0].axes
        else:
            raw, axes = np.asarray(skimage.io.imread(path)), None
    except Exception as error:  # the imaging plugins raise many unrelated types
        raise _cannot_read(path, error) from error
    values, rank = (raw, 2) if axes is None else _tiff_values(raw, axes, path)
    return _to_gray(values, rank, path)


def _check_shapes(files: list[Path], shapes: list[tuple[int, ...]], same_size: bool) -> None:
    """Raise naming the first file whose shape does not fit the first file's."""
    first_file, first = files[0], shapes[0]
    for path, shape in zip(files, shapes):
        if len(shape) != len(first):
            raise ValueError(
                f"{path} has shape {shape}, but {first_file} has shape {first}; a folder must "
                "hold only 2-D images or only volumes (multi-page TIFFs)"
            )
        if same_size and shape != first:
            raise ValueError(
                f"{path} has shape {shape}, but {first_file} has shape {first}; all images in "
                f"a folder must have the same shape {_CROP_HINT}"
            )


def scan_folder(folder: str | Path, same_size: bool = True) -> tuple[list[Path], list[tuple[int, ...]]]:
    """The image files of ``folder`` and their shapes ``(*spatial, 1)``, from headers only.

    Args:
        folder: folder of PNG/TIFF images (see ``list_image_files``).
        same_size: require every file to have the first file's shape.

    Raises:
        ValueError: naming the first file whose shape does not fit the first
            file's: another number of spatial axes, or (with ``same_size``)
            other sides.
    """
    files = list_image_files(folder)
    shapes = [image_file_shape(path) + (1,) for path in files]
    _check_shapes(files, shapes, same_size)
    return files, shapes
