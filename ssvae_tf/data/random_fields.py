"""Two-phase microstructures from thresholded Gaussian random fields (2-D and 3-D).

A field is white Gaussian noise smoothed, periodically, by a Gaussian kernel
(applied in Fourier space) and thresholded at its own quantile, so each image
has exactly the target fraction of phase-1 pixels (up to rounding to a whole
pixel). Images wrap around at their edges.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ssvae_tf._checks import check_positive_int, is_int, is_real
from ssvae_tf._progress import progress_range


@dataclass(frozen=True, eq=False)
class RandomFieldImages:
    """A set of two-phase random-field images.

    Attributes:
        images: float32 (n, *shape, 1); 1.0 = phase 1, 0.0 = phase 0.
        volume_fraction: float32 (n,), realised fraction of phase-1 pixels.
        correlation_length: float32 (n_spatial,), kernel std dev per axis in pixels.
    """

    images: np.ndarray
    volume_fraction: np.ndarray
    correlation_length: np.ndarray

    def __len__(self) -> int:
        return len(self.images)


def _check_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    if (
        not isinstance(shape, (tuple, list))
        or len(shape) not in (2, 3)
        or not all(is_int(side) and side >= 4 for side in shape)
    ):
        raise ValueError(f"shape must have 2 or 3 sides, each an int >= 4, got {shape!r}")
    return tuple(int(side) for side in shape)


def _check_volume_fraction(volume_fraction: float | tuple[float, float]) -> tuple[float, float]:
    """Return the range ``(lo, hi)`` of target fractions; a scalar gives ``lo == hi``."""
    pair = (volume_fraction, volume_fraction) if is_real(volume_fraction) else volume_fraction
    if (
        not isinstance(pair, (tuple, list))
        or len(pair) != 2
        or not all(is_real(v) and 0 < v < 1 for v in pair)
        or pair[0] > pair[1]
    ):
        raise ValueError(
            "volume_fraction must be a number in (0, 1) or a pair 0 < lo <= hi < 1, "
            f"got {volume_fraction!r}"
        )
    return float(pair[0]), float(pair[1])


def _check_correlation_length(
    correlation_length: float | tuple[float, ...], n_axes: int
) -> np.ndarray:
    lengths = (correlation_length,) * n_axes if is_real(correlation_length) else correlation_length
    if (
        not isinstance(lengths, (tuple, list))
        or len(lengths) != n_axes
        or not all(is_real(v) and np.isfinite(v) and v > 0 for v in lengths)
    ):
        raise ValueError(
            f"correlation_length must be a finite number > 0 or {n_axes} finite numbers > 0 (one per "
            f"spatial axis, px), got {correlation_length!r}"
        )
    return np.asarray(lengths, dtype=np.float64)


def _kernel_spectrum(shape: tuple[int, ...], lengths: np.ndarray) -> np.ndarray:
    """Fourier transform, on the ``rfftn`` grid of ``shape``, of a unit-mass periodic
    Gaussian with std dev ``lengths[d]`` px along axis ``d``: exp(-2 pi^2 sigma^2 k^2)."""
    freqs = [np.fft.fftfreq(side) for side in shape[:-1]] + [np.fft.rfftfreq(shape[-1])]
    grids = np.meshgrid(*freqs, indexing="ij", sparse=True)
    exponent = sum((2 * np.pi**2 * sigma**2) * k**2 for sigma, k in zip(lengths, grids))
    return np.exp(-exponent)


def _threshold(field: np.ndarray, target: float) -> np.ndarray:
    """Set the round(target * N) largest values of ``field`` to 1 and the rest to 0 (float32)."""
    flat = field.ravel()
    n_ones = round(target * flat.size)
    phase = np.zeros(flat.size, dtype=np.float32)
    phase[np.argsort(flat, kind="stable")[flat.size - n_ones:]] = 1.0
    return phase.reshape(field.shape)


def generate_random_fields(
    n: int,
    shape: tuple[int, ...] = (64, 64),
    volume_fraction: float | tuple[float, float] = 0.5,
    correlation_length: float | tuple[float, ...] = 4.0,
    seed: int = 0,
    progress: bool = True,
) -> RandomFieldImages:
    """Generate ``n`` periodic two-phase images by thresholding Gaussian random fields.

    Args:
        n: number of images, >= 1.
        shape: spatial shape, 2 or 3 sides of at least 4 px.
        volume_fraction: target fraction of phase-1 pixels in (0, 1), or a pair
            ``(lo, hi)`` from which each image draws its target uniformly.
        correlation_length: std dev in pixels of the smoothing Gaussian; one
            number (isotropic) or one per spatial axis (anisotropic).
        seed: seed of ``numpy.random.default_rng``; equal seeds give equal sets.
        progress: show a progress bar (for n >= 200).

    Returns:
        ``RandomFieldImages`` with images of shape (n, *shape, 1); each realised
        volume fraction is within half a pixel (0.5 / prod(shape)) of its target.
    """
    n = check_positive_int(n, "n")
    shape = _check_shape(shape)
    vf_lo, vf_hi = _check_volume_fraction(volume_fraction)
    lengths = _check_correlation_length(correlation_length, len(shape))
    spectrum = _kernel_spectrum(shape, lengths)
    axes = tuple(range(len(shape)))
    rng = np.random.default_rng(seed)
    images = np.empty((n, *shape, 1), dtype=np.float32)
    for i in progress_range(n, progress):
        target = rng.uniform(vf_lo, vf_hi) if vf_hi > vf_lo else vf_lo
        noise = rng.standard_normal(shape)
        field = np.fft.irfftn(np.fft.rfftn(noise) * spectrum, s=shape, axes=axes)
        images[i, ..., 0] = _threshold(field, target)
    volume_fraction_out = images.mean(axis=tuple(range(1, images.ndim)), dtype=np.float64)
    return RandomFieldImages(
        images, volume_fraction_out.astype(np.float32), lengths.astype(np.float32)
    )
