"""Files of ``ssvae encode`` / ``ssvae decode``: image stacks and latent vectors in, arrays and PNGs out.

Every output appears whole or not at all (written under a temporary name, then renamed).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import skimage.io

from ssvae_tf._io import atomic_write, write_files
from ssvae_tf.volume_tiff import volume_tiff_writers

#: Array in an ``.npz`` of latent vectors (as ``ssvae encode`` writes it).
LATENT_KEY = "z_mean"
#: Array in an ``.npz`` of images (as the training data loader reads it).
IMAGES_KEY = "images"


def check_suffix(path: str | os.PathLike, allowed: tuple[str, ...], flag: str) -> Path:
    """``path`` if its suffix is one of ``allowed``, else ``ValueError`` naming ``flag``."""
    path = Path(path)
    if path.suffix.lower() not in allowed:
        raise ValueError(f"{flag} {path} must end in {' or '.join(allowed)}")
    return path


def read_images(path: str | os.PathLike) -> np.ndarray:
    """The image array of an ``.npy``, or of an ``.npz`` (array ``images``, or its only array), as stored.

    Its layout and values are checked by :meth:`serving.client.SSVAEClient.encode` against the served
    model: ``(n, H, W)``, ``(n, H, W, 1)`` or a single ``(H, W)`` (volumes ``(n, D, H, W)``,
    ``(n, D, H, W, 1)`` or ``(D, H, W)``), finite values in [0, 1].
    """
    return _read_array(path, IMAGES_KEY, "images")


def _read_array(path: str | os.PathLike, key: str, what: str) -> np.ndarray:
    """The array of an ``.npy``, or the array ``key`` (or the only one) of an ``.npz``; one-line ``ValueError``s."""
    path = check_suffix(path, (".npy", ".npz"), f"{what} file")
    if not path.is_file():
        raise ValueError(f"{what} file {path} does not exist")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"cannot read {path}: {' '.join(str(error).split())}") from None
    if isinstance(loaded, np.ndarray):
        return loaded
    with loaded:
        if key not in loaded.files and len(loaded.files) != 1:
            raise ValueError(f"{path} holds arrays {sorted(loaded.files)}; expected {key!r} or a single array")
        try:
            return loaded[key if key in loaded.files else loaded.files[0]]
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
            raise ValueError(f"cannot read {path}: {' '.join(str(error).split())}") from None


def read_latents(path: str | os.PathLike) -> np.ndarray:
    """Latent vectors ``(n, latent_dim)`` from ``.npy``, or ``.npz`` (``z_mean`` or its only array)."""
    z = _read_array(path, LATENT_KEY, "latent")
    if z.ndim != 2 or z.shape[0] == 0:
        raise ValueError(f"{path} holds an array of shape {z.shape}; expected latent vectors (n, latent_dim)")
    return z


def save_array(path: str | os.PathLike, array: np.ndarray) -> Path:
    """``np.save`` atomically."""
    return atomic_write(path, lambda tmp: np.save(tmp, array))


def save_images(path: str | os.PathLike, images: np.ndarray) -> list[Path]:
    """``np.save`` decoded ``images`` to ``path``; for volumes ``(n, D, H, W, 1)`` also one multi-page TIFF
    per volume beside it, ``<stem>_000.tif``, ... (:mod:`ssvae_tf.volume_tiff`); all or none.  Returns the
    paths written."""
    path = Path(path)
    return write_files(path.parent, {path.name: lambda tmp: np.save(tmp, images),
                                     **volume_tiff_writers(path.stem, images)})


def save_arrays(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    """``np.savez`` atomically."""
    return atomic_write(path, lambda tmp: np.savez(tmp, **arrays))


def save_pngs(folder: str | os.PathLike, images: np.ndarray) -> list[Path]:
    """One 8-bit PNG per image, ``00000.png``, ``00001.png``, ..., in a new ``folder``.

    Args:
        images: ``(n, H, W, C)`` in [0, 1], C = 1 (gray), 3 (RGB) or 4 (RGBA).

    The folder must not exist yet, or be empty: it is written beside under a
    temporary name and renamed when complete.
    """
    folder = Path(folder)
    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
        raise ValueError(f"PNG output needs 2-D images (n, H, W, 1|3|4), got shape {images.shape}; "
                         "write an .npy file instead")
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ValueError(f"PNG folder {folder} exists and is not empty; choose a new folder")
    folder.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.round(np.clip(images, 0.0, 1.0) * 255).astype(np.uint8)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        for i, image in enumerate(pixels):
            skimage.io.imsave(tmp / f"{i:05d}.png", image[..., 0] if image.shape[-1] == 1 else image,
                              check_contrast=False)
        if folder.exists():
            folder.rmdir()
        os.rename(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return sorted(folder.iterdir())
