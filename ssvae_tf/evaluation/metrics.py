"""Per-image errors of reconstructions, as the paper measures them (paper.md section 4).

Images are ``(n, H, W, 1)`` floats in [0, 1] with **black (0) lines on a white
(1) background**.  "Black" in any image is a value below ``BLACK_THRESHOLD``.
"""

from __future__ import annotations

import numpy as np

from ssvae_tf.spatial_stats import StatsOptions

#: Pixels darker than this count as line (black) pixels, in originals and reconstructions.
BLACK_THRESHOLD = 0.05
_STATS_BATCH = 256


def black_mask(images: np.ndarray) -> np.ndarray:
    """Boolean ``(n, H, W)``: the black (line) pixels of ``(n, H, W, 1)`` images."""
    return np.asarray(images)[..., 0] < BLACK_THRESHOLD


def line_statistics(images: np.ndarray, kind: str, batch_size: int = _STATS_BATCH) -> np.ndarray:
    """Periodic autocorrelation of the black phase at every lag, zero lag centred.

    Args:
        images: ``(n, H, W, 1)`` in [0, 1].
        kind: ``"hard"`` (binary indicator; for originals) or ``"soft"`` (the
            paper's soft indicator, :class:`StatsOptions`' default ``eps``; for
            reconstructions).
        batch_size: images per FFT batch (bounds memory).

    Returns:
        float32 ``(n, H, W)``, unnormalised (the zero lag is the black volume fraction).
    """
    images = np.asarray(images, dtype=np.float32)
    options = StatsOptions(kind=kind)  # the black phase's periodic autocorrelation, every lag
    parts = [options.statistics(images[start:start + batch_size]).numpy()[..., 0]
             for start in range(0, len(images), batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0, *images.shape[1:3]), np.float32)


def pixel_mse(originals: np.ndarray, reconstructions: np.ndarray) -> np.ndarray:
    """Mean squared pixel difference per image: float64 ``(n,)``."""
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

    ``nan`` where the original has no black pixel.
    """
    black_orig = black_mask(originals).sum(axis=(1, 2)).astype(np.float64)
    black_rec = black_mask(reconstructions).sum(axis=(1, 2)).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(black_orig > 0, 100.0 * np.abs(black_orig - black_rec) / black_orig, np.nan)
