"""Per-image errors of reconstructions, as the paper measures them (paper.md section 4).

Images are ``(n, H, W, 1)`` and volumes ``(n, D, H, W, 1)`` floats in [0, 1];
line images have **black (0) lines on a white (1) background**.  "Black" in
any image or volume, original or reconstruction, is the paper's: a value below
:data:`~ssvae_tf.stats.phases.PAPER_BLACK_LEVEL` (0.05); every metric here is
one value per image or volume.
"""

from __future__ import annotations

import numpy as np

from ssvae_tf.stats.phases import PAPER_BLACK_LEVEL, black_mask
from ssvae_tf.stats.two_point import StatsOptions, batch_size_for


def _black_count(images: np.ndarray) -> np.ndarray:
    """Black pixels (voxels, below the paper's level) per image or volume ``(n, *spatial, 1)``: float64 ``(n,)``."""
    mask = black_mask(images, PAPER_BLACK_LEVEL)
    return mask.sum(axis=tuple(range(1, mask.ndim))).astype(np.float64)


def line_statistics(images: np.ndarray, kind: str, batch_size: int | None = None) -> np.ndarray:
    """Periodic autocorrelation of the black phase at every lag, zero lag centred.

    Args:
        images: ``(n, *spatial, 1)`` in [0, 1], 2-D images or volumes.
        kind: ``"hard"`` (binary indicator; for originals) or ``"soft"`` (the
            paper's soft indicator, :class:`StatsOptions`' default ``eps``; for
            reconstructions).
        batch_size: images per FFT batch (bounds memory; default :func:`batch_size_for` them).

    Returns:
        float32 ``(n, *spatial)``, unnormalised (the zero lag is the black volume fraction).
    """
    images = np.asarray(images, dtype=np.float32)
    options = StatsOptions(kind=kind)  # the black phase's periodic autocorrelation, every lag
    batch_size = batch_size or batch_size_for(images.shape[1:])
    parts = [options.statistics(images[start:start + batch_size]).numpy()[..., 0]
             for start in range(0, len(images), batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0, *images.shape[1:-1]), np.float32)


def pixel_mse(originals: np.ndarray, reconstructions: np.ndarray) -> np.ndarray:
    """Mean squared pixel (voxel) difference per image or volume ``(n, *spatial, 1)``: float64 ``(n,)``."""
    diff = np.asarray(originals, np.float64) - np.asarray(reconstructions, np.float64)
    return np.mean(np.square(diff), axis=tuple(range(1, diff.ndim)))


def stats_mse(original_stats: np.ndarray, reconstruction_stats: np.ndarray) -> np.ndarray:
    """Mean over lags of the squared statistics difference per image: float64 ``(n,)``.

    The paper compares the hard statistics of the original with the soft
    statistics of the reconstruction (see :func:`line_statistics`).
    """
    diff = np.asarray(original_stats, np.float64) - np.asarray(reconstruction_stats, np.float64)
    return np.mean(np.square(diff), axis=tuple(range(1, diff.ndim)))


def volume_fraction_difference(originals: np.ndarray, reconstructions: np.ndarray) -> np.ndarray:
    """``|#black(original) - #black(reconstruction)| / #black(original)`` in %, float64 ``(n,)``.

    Counts black pixels (voxels) over every spatial axis of ``(n, *spatial, 1)``;
    ``nan`` where the original has no black pixel.
    """
    black_orig = _black_count(originals)
    black_rec = _black_count(reconstructions)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(black_orig > 0, 100.0 * np.abs(black_orig - black_rec) / black_orig, np.nan)
