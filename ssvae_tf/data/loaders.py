"""Loading user images: NumPy stacks (.npy/.npz) and folders of PNG/TIFF files.

All loaders return values in [0, 1] and reject NaN/Inf or out-of-range data.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import skimage.color
import skimage.io

from ssvae_tf._checks import check_values, with_channel_axis

IMAGE_SUFFIXES = (".png", ".tif", ".tiff")
NPZ_KEY = "images"


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


def _raw_array(path: Path) -> np.ndarray:
    """The stored array: memory-mapped for .npy, read into memory for .npz."""
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
        return tuple(_raw_array(path).shape)
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
    """Load a stack of images from a .npy or .npz file.

    A .npy file is memory-mapped read-only (``mmap_mode="r"``), so large sets
    stay on disk; an .npz file is read into memory (key ``images``, or its only
    array). Values are checked chunk by chunk.

    Args:
        path: file holding an array (n, *spatial) or (n, *spatial, 1), with 2 or
            3 spatial axes and values in [0, 1].

    Returns:
        Array (n, *spatial, 1) in the stored dtype (a memmap for .npy).

    Raises:
        ValueError: for a missing/unreadable file, an ambiguous .npz, a wrong
            rank, NaN/Inf, or values outside [0, 1].
    """
    path = Path(path)
    array = with_channel_axis(_raw_array(path), str(path))
    check_values(array, str(path))
    return array


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


def _to_unit_range(image: np.ndarray) -> np.ndarray:
    """Integers scaled by their dtype's max, bool to 0/1, floats unchanged; as float32."""
    if np.issubdtype(image.dtype, np.integer):
        return (image / np.iinfo(image.dtype).max).astype(np.float32)
    return image.astype(np.float32)


def _to_gray(image: np.ndarray, path: Path) -> np.ndarray:
    """(H, W), (H, W, 1), gray+alpha (H, W, 2), RGB or RGBA image in [0, 1] -> (H, W)."""
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[-1] in (1, 2):
        return image[..., 0]
    if image.ndim == 3 and image.shape[-1] in (3, 4):
        return skimage.color.rgb2gray(image[..., :3]).astype(np.float32)
    raise ValueError(
        f"{path} has shape {image.shape}; expected a 2-D gray, RGB or RGBA image"
    )


def read_image(path: str | Path) -> np.ndarray:
    """Read one 2-D PNG/TIFF image as float32 (H, W, 1) in [0, 1].

    uint8 is divided by 255, uint16 by 65535 (any integer dtype by its max),
    bool becomes 0/1, floats must already lie in [0, 1]; RGB(A) is converted to
    gray (alpha ignored).

    Raises:
        ValueError: naming the file if it cannot be read, has an unsupported
            shape, or holds NaN/Inf or values outside [0, 1].
    """
    path = Path(path)
    try:
        raw = skimage.io.imread(path)
    except Exception as error:  # the imaging plugins raise many unrelated types
        raise ValueError(f"cannot read image {path}: {error}") from error
    image = _to_gray(_to_unit_range(np.asarray(raw)), path)[..., np.newaxis]
    check_values(image, str(path))
    return image
