"""Per-image errors of reconstructions, as the paper measures them (paper.md section 4).

Images are ``(n, H, W, 1)`` and volumes ``(n, D, H, W, 1)`` floats in [0, 1];
line images have **black (0) lines on a white (1) background**.  "Black" in
any image or volume, original or reconstruction, is the paper's: a value below
:data:`~ssvae_tf.stats.phases.PAPER_BLACK_LEVEL` (0.05); every metric here is
one value per image or volume.  :func:`binarised_metrics` is not the paper's
protocol: it reads both images at :data:`~ssvae_tf.stats.phases.PHASE_THRESHOLD`
(0.5) with the realism metrics of :mod:`ssvae_tf.stats.morphology`.
"""

from __future__ import annotations

import numpy as np

from ssvae_tf.stats.morphology import binary_share, chord_length_histograms, fidelity_descriptors, histogram_distance
from ssvae_tf.stats.phases import PAPER_BLACK_LEVEL, black_mask
from ssvae_tf.stats.two_point import StatsOptions, batch_size_for


def _black_share(images: np.ndarray) -> np.ndarray:
    """Share (0-1) of black pixels (voxels, below the paper's level) per image or volume ``(n, *spatial, 1)``:
    float64 ``(n,)``."""
    mask = black_mask(images, PAPER_BLACK_LEVEL)
    return mask.mean(axis=tuple(range(1, mask.ndim)), dtype=np.float64)


def relative_error_pct(values: np.ndarray, references: np.ndarray) -> np.ndarray:
    """``100 |value - reference| / reference`` per item, float64 ``(n,)``; NaN where the reference is 0."""
    values, references = np.asarray(values, np.float64), np.asarray(references, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(references > 0, 100.0 * np.abs(values - references) / references, np.nan)


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

    Counts black pixels (voxels) over every spatial axis of ``(n, *spatial, 1)``, as shares of the
    image's pixels, so that an ``(n, N, N, 1)`` micrograph compares with the ``(n, N, N, N, 1)`` volume
    drawn from it (a model from slices); ``nan`` where the original has no black pixel.
    """
    return relative_error_pct(_black_share(reconstructions), _black_share(originals))


def _chord_distances(images: np.ndarray, references: np.ndarray) -> np.ndarray:
    """Per image pair: the mean over both phases and every axis of :func:`histogram_distance` between
    their chord-length histograms (px), float64 ``(n,)``."""
    distances = []
    for phase in (0, 1):
        first, second = chord_length_histograms(images, phase), chord_length_histograms(references, phase)
        distances.append([[histogram_distance(a, b) for a, b in zip(pair_a, pair_b)]
                          for pair_a, pair_b in zip(first, second)])
    return np.mean(np.array(distances, np.float64), axis=(0, 2))


def descriptor_errors(first: dict[str, np.ndarray], second: dict[str, np.ndarray], prefix: str
                      ) -> dict[str, np.ndarray]:
    """Volume-fraction error (points) and perimeter error (%) of the ``second`` descriptors against the
    ``first`` (:func:`~ssvae_tf.stats.morphology.fidelity_descriptors`' keys, ``(n,)`` each; the perimeter
    summed over each side's ``perimeter_axis*`` keys), per item, under ``prefix``: float64 ``(n,)`` each."""
    perimeters = [sum(d[key] for key in d if key.startswith("perimeter_axis")) for d in (first, second)]
    return {f"{prefix}volume_fraction_error_points": 100.0 * np.abs(second["volume_fraction"]
                                                                     - first["volume_fraction"]),
            f"{prefix}perimeter_error_pct": relative_error_pct(perimeters[1], perimeters[0])}


def _paired_errors(originals: np.ndarray, others: np.ndarray, prefix: str) -> dict[str, np.ndarray]:
    """Volume-fraction error (points), perimeter error (%) and chord distance (px) of ``others`` against
    ``originals``, per image, binarised at ``PHASE_THRESHOLD``, under ``prefix``."""
    return {**descriptor_errors(fidelity_descriptors(originals), fidelity_descriptors(others), prefix),
            f"{prefix}chord_distance": _chord_distances(others, originals)}


def binarised_metrics(originals: np.ndarray, reconstructions: np.ndarray) -> dict[str, np.ndarray]:
    """Realism of each reconstruction binarised at ``PHASE_THRESHOLD`` (0.5), not the paper's protocol:
    name -> float64 ``(n,)``.

    For ``(n, *spatial, 1)`` originals and their reconstructions:

    * ``binarised_volume_fraction_error_points``: ``100 |phi_rec - phi_orig|``, phi the black share
      (percentage points);
    * ``binarised_perimeter_error_pct``: ``100 |P_rec - P_orig| / P_orig``, P the specific perimeter
      (surface) summed over the axes (:func:`~ssvae_tf.stats.morphology.specific_perimeter`); NaN where
      the original has none;
    * ``binarised_chord_distance``: chord-length distance (px, mean over both phases and every axis);
    * ``real_pair_*``: the same three between each original and the next one (``i + 1`` mod ``n``), the
      real-vs-real yardstick: the error of a "reconstruction" that is another real crop;
    * ``binary_share_pct``, ``binary_share_original_pct``: plainly binary pixels (< 0.05 or > 0.95) of
      the grey reconstruction and of the original, in %;
    * ``binarised_{name}_original``, ``binarised_{name}_reconstruction`` for ``name`` in
      :func:`~ssvae_tf.stats.morphology.fidelity_descriptors` (``volume_fraction``,
      ``perimeter_axis{a}``, ``anisotropy``): what the per-crop fidelity correlates.
    """
    originals = np.asarray(originals, np.float32)
    reconstructions = np.asarray(reconstructions, np.float32)
    metrics = {**_paired_errors(originals, reconstructions, "binarised_"),
               **_paired_errors(originals, np.roll(originals, -1, axis=0), "real_pair_"),
               "binary_share_pct": 100.0 * binary_share(reconstructions),
               "binary_share_original_pct": 100.0 * binary_share(originals)}
    for which, images in (("original", originals), ("reconstruction", reconstructions)):
        metrics.update({f"binarised_{name}_{which}": values for name, values in fidelity_descriptors(images).items()})
    return metrics
