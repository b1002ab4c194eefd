"""Volumes as multi-page TIFF files that Fiji/ImageJ, napari or Pillow open: uint8, one page per slice along
axis 0 (z), uncompressed, written with the other files of a set (:func:`ssvae_tf._io.write_files`: all or none).

A batch of volumes ``(n, D, H, W, 1)`` becomes one file per volume, ``<stem>_000.tif``, ``<stem>_001.tif``,
... (at least three digits, more when ``n`` needs them), beside the ``<stem>.npy`` that holds them all: each
file opens as one z-stack, with no hyperstack metadata to interpret.  Grey levels ``x`` in [0, 1] are stored
as ``round(255 x)``; :func:`ssvae_tf.data.read_image` reads them back as ``value / 255``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

#: Suffix of the volume files.
TIFF_SUFFIX = ".tif"


def volume_pages(volume: np.ndarray):
    """Pillow images of ``volume`` ``(D, H, W)`` or ``(D, H, W, 1)`` in [0, 1]: one 8-bit grey page per
    slice along axis 0, values ``round(255 x)`` (clipped to [0, 1] first)."""
    from PIL import Image

    volume = np.asarray(volume)
    if volume.ndim == 4 and volume.shape[-1] == 1:
        volume = volume[..., 0]
    if volume.ndim != 3:
        raise ValueError(f"a TIFF volume needs shape (D, H, W) or (D, H, W, 1), got {volume.shape}")
    pixels = np.round(np.clip(volume, 0.0, 1.0) * 255).astype(np.uint8)
    return [Image.fromarray(page) for page in pixels]


def save_volume_tiff(path: str | os.PathLike, volume: np.ndarray) -> None:
    """Write ``volume`` (:func:`volume_pages`) to the multi-page TIFF ``path``, uncompressed (as is: the
    writers of :func:`volume_tiff_writers` give it a temporary path)."""
    first, *rest = volume_pages(volume)
    first.save(path, format="TIFF", save_all=True, append_images=rest, compression="raw")


def tiff_names(stem: str, n: int) -> list[str]:
    """``["<stem>_000.tif", ...]``: the files of ``n`` volumes (at least three digits)."""
    digits = max(3, len(str(n - 1)))
    return [f"{stem}_{i:0{digits}d}{TIFF_SUFFIX}" for i in range(n)]


def volume_tiff_writers(stem: str, arrays: np.ndarray) -> dict[str, Callable[[Path], None]]:
    """For a batch of volumes ``(n, D, H, W, 1)``: ``{"<stem>_000.tif": write(tmp), ...}``, one TIFF per
    volume, to add to a set of files written together (:func:`ssvae_tf._io.write_files`); for anything
    else (a batch of 2-D images) none."""
    arrays = np.asarray(arrays)
    if arrays.ndim != 5:
        return {}
    return {name: (lambda tmp, volume=volume: save_volume_tiff(tmp, volume))
            for name, volume in zip(tiff_names(stem, len(arrays)), arrays)}
