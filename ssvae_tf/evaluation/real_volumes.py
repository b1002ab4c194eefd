"""A model's volumes against real 3-D data: prior samples compared with random crops of real volumes on
the full 3-D two-point statistics and the realism descriptors, each beside the spread between two
disjoint sets of real crops (issue 23: ``ssvae evaluate --volumes``; ``experiments/from_slices.py``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ssvae_tf.data.sources import ReadOptions
from ssvae_tf.evaluation.metrics import line_statistics
from ssvae_tf.stats.morphology import format_realism_table, realism_table


def read_volumes(path: str | Path, reading: ReadOptions) -> np.ndarray:
    """The real volumes in the ``.npy`` file ``path``, one ``(D, H, W)`` volume or ``(n, D, H, W)``, read
    with ``reading`` (a run's recorded reading: its resolved threshold and median): float32
    ``(n, D, H, W, 1)`` in [0, 1].

    Raises:
        ValueError: (one line) if the file is not a ``.npy`` array of one of those shapes, or its
            values do not fit ``reading``.
    """
    try:
        values = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ValueError(f"--volumes {path}: cannot read it as a .npy array ({error}); expected a .npy file "
                         "of one (D, H, W) volume or (n, D, H, W) volumes") from None
    if values.ndim not in (3, 4):
        raise ValueError(f"--volumes {path} holds an array of shape {values.shape}; expected one (D, H, W) "
                         "volume or (n, D, H, W) volumes")
    return convert_volumes(values, reading, f"--volumes {path}")


def convert_volumes(values: np.ndarray, reading: ReadOptions, what: str) -> np.ndarray:
    """Stored volumes, one ``(D, H, W)`` or ``(n, D, H, W)``, read with ``reading`` (the median filter over
    the three spatial axes, then the threshold): float32 ``(n, D, H, W, 1)`` in [0, 1]; errors name ``what``."""
    values = np.asarray(values)
    stack = (values if values.ndim == 4 else values[np.newaxis])[..., np.newaxis]
    return reading.convert(stack, what, stacked=True).astype(np.float32)


#: Disjoint pairs of real sets the real-vs-real yardstick is averaged over.  The error between two sets of
#: ``n`` real crops is one draw of a noisy quantity: on the isotropic field of docs/3d-from-2d.md (32^3 crops,
#: n = 64) 30 draws spanned 4.2e-6 to 3.0e-4 around a mean of 5.7e-5, so one pair put a model's ratio anywhere
#: from a fifth of the one the mean gives to 13 times it; the mean of 32 pairs moved by about 12 % between seeds.
YARDSTICK_PAIRS = 32


def _corners(volumes: np.ndarray, shape: tuple[int, int, int], n: int, seed: int) -> list[tuple[int, ...]]:
    """``n`` crop origins ``(volume, z, y, x)`` drawn uniformly by ``np.random.default_rng(seed)``, one after
    another (the first ``k`` of ``n`` are the ``k`` of a draw of ``k``)."""
    room = np.array(volumes.shape[1:4]) - np.array(shape) + 1
    if np.any(room < 1):
        raise ValueError(f"the real volumes are {tuple(volumes.shape[1:4])} voxels, smaller than the model's "
                         f"{tuple(shape)} volumes; expected volumes of at least {tuple(shape)}")
    rng = np.random.default_rng(seed)
    return [(rng.integers(len(volumes)), *rng.integers(0, room)) for _ in range(n)]


def _cut(volumes: np.ndarray, shape: tuple[int, int, int], corners: list[tuple[int, ...]]) -> np.ndarray:
    d, h, w = shape
    return np.stack([volumes[i, z:z + d, y:y + h, x:x + w] for i, z, y, x in corners])


def random_crops(volumes: np.ndarray, shape: tuple[int, int, int], n: int, seed: int) -> np.ndarray:
    """``n`` random crops of ``shape`` ``(d, h, w)`` from ``volumes`` ``(m, D, H, W, 1)``, each from a
    volume and a corner drawn uniformly by ``np.random.default_rng(seed)``: float32 ``(n, d, h, w, 1)``.

    Raises:
        ValueError: (one line) if the volumes are smaller than ``shape`` along an axis.
    """
    volumes = np.asarray(volumes, np.float32)
    return _cut(volumes, shape, _corners(volumes, shape, n, seed))


def _mean_autocorrelation(volumes: np.ndarray) -> np.ndarray:
    """float64 ``(D, H, W)``: the mean over ``volumes`` ``(n, D, H, W, 1)`` of the hard periodic
    autocorrelation of the black phase at every 3-D lag."""
    return line_statistics(volumes, "hard").astype(np.float64).mean(axis=0)


@dataclass(frozen=True)
class RealSets:
    """Real crops to compare ``n`` generated volumes with, and the real-vs-real yardstick at that set size.

    The 3-D statistics error between two sets of volumes is the mean over every lag of the squared
    difference between their mean hard autocorrelations of the black phase (periodic, every 3-D lag,
    including those in no coordinate plane), unnormalised: the per-volume ``stats_mse`` of sets.

    Attributes:
        real: ``(n, D, H, W, 1)``, the first set of real crops (the realism table's real column, the figures).
        reference: ``(n, D, H, W, 1)``, a disjoint set (the realism table's real-vs-real spread; the
            micrographs a model from slices is given).
        means: float64 ``(pairs, D, H, W)``, the mean hard autocorrelation of each of ``pairs`` sets of ``n``
            real crops, ``real``'s first.
        spread: the mean over ``pairs`` disjoint pairs of sets of ``n`` real crops of their statistics
            error: the expected error between two real sets of that size (the yardstick).
    """

    real: np.ndarray
    reference: np.ndarray
    means: np.ndarray
    spread: float

    def statistics_error(self, volumes: np.ndarray) -> float:
        """The statistics error of ``volumes`` ``(n, D, H, W, 1)`` against each real set of :attr:`means`,
        averaged: the expectation of one set's, with ``pairs`` times less of the real sets' noise."""
        return float(np.mean(np.square(self.means - _mean_autocorrelation(volumes))))


def real_crop_sets(volumes: np.ndarray, shape: tuple[int, int, int], n: int, seed: int,
                   pairs: int = YARDSTICK_PAIRS) -> RealSets:
    """``pairs`` pairs of disjoint sets of ``n`` random crops of ``shape`` from ``volumes``
    ``(m, D, H, W, 1)`` (:func:`random_crops` of ``2 n pairs``, ``2 n`` per pair, alternately in each pair);
    the first pair is kept as :attr:`RealSets.real` and :attr:`RealSets.reference`, the others only as their
    mean autocorrelations, so memory holds one pair at a time.

    Raises:
        ValueError: (one line) if the volumes are smaller than ``shape`` along an axis, or ``pairs < 1``.
    """
    if pairs < 1:
        raise ValueError(f"pairs must be at least 1, got {pairs}")
    volumes = np.asarray(volumes, np.float32)
    corners = _corners(volumes, shape, 2 * n * pairs, seed)
    kept, means, errors = [], [], []
    for k in range(pairs):
        crops = _cut(volumes, shape, corners[2 * n * k:2 * n * (k + 1)])
        real, reference = crops[0::2], crops[1::2]
        mean, other = _mean_autocorrelation(real), _mean_autocorrelation(reference)
        means.append(mean)
        errors.append(float(np.mean(np.square(mean - other))))
        if k == 0:
            kept = [real, reference]
    return RealSets(*kept, np.stack(means), float(np.mean(errors)))


@dataclass(frozen=True)
class RealComparison:
    """A model's prior samples against real crops.

    Attributes:
        real, reference: two disjoint sets of real crops ``(n, D, H, W, 1)``.
        samples: ``(n, D, H, W, 1)``, the model's volumes in [0, 1].
        seconds_per_volume: wall time of sampling, per volume (s).
        statistics_error: :meth:`RealSets.statistics_error` of the samples (against every real set).
        real_statistics_error: :attr:`RealSets.spread`, the expected error between two real sets of the
            samples' size (the yardstick).
        realism: :func:`~ssvae_tf.stats.morphology.realism_table` of ``real`` and the samples, with
            ``reference`` as the second real set.
    """

    real: np.ndarray
    reference: np.ndarray
    samples: np.ndarray
    seconds_per_volume: float
    statistics_error: float
    real_statistics_error: float
    realism: dict[str, dict[str, float]]

    @property
    def statistics_ratio(self) -> float:
        """``statistics_error / real_statistics_error``: 1 when the samples are as close as real crops."""
        return self.statistics_error / self.real_statistics_error if self.real_statistics_error > 0 else float("nan")

    def record(self) -> dict[str, Any]:
        """The numbers as plain JSON (no arrays): ``n``, ``shape``, the errors, their ratio, the
        seconds per volume and the realism table."""
        return {"n": len(self.samples), "shape": list(self.samples.shape[1:4]),
                "seconds_per_volume": self.seconds_per_volume, "statistics_error": self.statistics_error,
                "real_statistics_error": self.real_statistics_error, "statistics_ratio": self.statistics_ratio,
                "realism": self.realism}


def compare_samples(model, sets: RealSets, seed: int = 0, prior: str = "fitted") -> RealComparison:
    """Draw ``len(sets.real)`` volumes from ``model``'s ``prior`` (``model.sample``, ``seed``: the mixture
    fitted to its training codes, or N(0, I)) and compare them with the real ``sets``."""
    n = len(sets.real)
    started = time.perf_counter()
    samples = np.asarray(model.sample(n, seed=seed, prior=prior), np.float32)
    return compare_volumes(samples, sets, (time.perf_counter() - started) / max(n, 1))


def compare_volumes(volumes: np.ndarray, sets: RealSets, seconds_per_volume: float) -> RealComparison:
    """Generated ``volumes`` ``(n, D, H, W, 1)`` (a model's samples, or a pixel search's designs, made in
    ``seconds_per_volume`` each) against the real ``sets`` of ``n`` crops: the statistics error against
    every real set beside the expected real-vs-real one, the realism table against the first."""
    volumes = np.asarray(volumes, np.float32)
    return RealComparison(sets.real, sets.reference, volumes, seconds_per_volume, sets.statistics_error(volumes),
                          sets.spread, realism_table(sets.real, volumes, reference=sets.reference))


def volume_shape(model) -> tuple[int, int, int]:
    """The ``(D, H, W)`` of the volumes ``model`` draws.

    Raises:
        ValueError: (one line) if it draws 2-D images (neither a 3-D model nor a model from slices).
    """
    decoded = tuple(model.decoded_shape)
    if len(decoded) != 4:
        raise ValueError(f"--volumes compares volumes, but this model draws {decoded[:-1]} images; expected a "
                         "model from slices (--from-slices) or a 3-D model")
    return decoded[:3]


def compare_with_volumes(model, path: str | Path, reading: ReadOptions, n: int, seed: int = 0) -> RealComparison:
    """:func:`compare_samples` of ``n`` prior samples of ``model`` against ``n`` random crops of the real
    volumes in ``path`` (:func:`read_volumes` with ``reading``; :func:`real_crop_sets` with ``seed``)."""
    shape = volume_shape(model)
    return compare_samples(model, real_crop_sets(read_volumes(path, reading), shape, n, seed), seed)


def real_volumes_table(comparison: RealComparison) -> str:
    """Markdown: the 3-D statistics error of the samples beside the real-vs-real one, then every
    :func:`~ssvae_tf.stats.morphology.realism_table` row (:func:`~ssvae_tf.stats.morphology.format_realism_table`)."""
    return (f"| 3-D statistics error | samples vs real | real vs real | ratio |\n|---|---|---|---|\n"
            f"| mean squared difference per lag | {comparison.statistics_error:.3g} | "
            f"{comparison.real_statistics_error:.3g} | {comparison.statistics_ratio:.2f} |\n\n"
            + format_realism_table(comparison.realism))
