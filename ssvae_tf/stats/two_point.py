"""Differentiable two-point spatial statistics computed with FFTs.

Conventions (the same as PyMKS's ``correlations_multiple``):

* A microstructure is given by its *microstructure function*: phase indicators
  ``m`` of shape ``(batch, *spatial, n_states)``, channels last, spatial rank 2
  or 3, float32.
* The two-point statistic of states ``(a, b)`` at lag ``r`` is
  ``S_ab(r) = sum_x m_a(x) * m_b(x + r) / norm(r)``, where ``norm`` is the
  number of pixels (periodic) or the number of valid placements of the vector
  ``r`` inside the image (non-periodic, ``prod_d (N_d - |r_d|)``).
* Results are centred: the zero lag sits in the middle of a window of side
  ``2 * cutoff + 1`` per spatial axis; ``cutoff`` defaults to
  ``(min(spatial) - 1) // 2`` and larger values are clipped to it.  For
  periodic statistics ``cutoff="full"`` keeps every lag, arranged as
  ``numpy.fft.fftshift`` does (zero lag at index ``N // 2``).

Everything is float32, built from ``tf.signal`` real FFTs, differentiable, and
usable inside ``tf.function`` (unknown batch size) and under XLA.  The real
FFTs (``rfft2d``/``rfft3d`` and their inverses) carry their own gradient, the
exact adjoint (TensorFlow registers none for ``rfft3d`` and a costly one for
``rfft2d``).  Internally only the indicators of the states the requested
correlations use are built, one ``(batch, *spatial)`` map per state with the
spatial axes last, so no transpose or gather runs, and an autocorrelation's
spectrum is the real ``|F|^2``.  Value checks (NaN, range, labels) run only on
concrete (eager) inputs so that graphs stay free of host round trips.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Union

import numpy as np
import tensorflow as tf

from ssvae_tf._checks import (
    check_bool,
    check_positive_int,
    check_positive_real,
    check_share,
    is_real,
    options_from_record,
)

Cutoff = Union[int, str, None]
Correlations = Sequence[Sequence[int]]

MICROSTRUCTURE_KINDS = ("linear", "soft", "hard")
DISTANCE_METRICS = ("l2", "sse", "mse")
#: Most images per batch of the FFTs (and of a model's predictions): :func:`batch_size_for`.
_MAX_BATCH = 256
#: Most pixels (voxels) per batch: 256 images of 224 x 224 px, 49 volumes of 64^3 voxels.
_BATCH_PIXELS = 256 * 224 * 224


# --------------------------------------------------------------------------- #
# Validation helpers
# --------------------------------------------------------------------------- #
def _is_concrete(x: tf.Tensor) -> bool:
    """True when ``x`` holds values we may inspect (eager, not a graph tensor)."""
    return tf.executing_eagerly() and hasattr(x, "numpy")


def _as_float_tensor(x, name: str) -> tf.Tensor:
    x = tf.convert_to_tensor(x)
    if not (x.dtype.is_floating or x.dtype.is_integer or x.dtype == tf.bool):
        raise ValueError(f"{name} must be a real-valued array, got dtype {x.dtype.name}")
    x = tf.cast(x, tf.float32)
    if _is_concrete(x) and not bool(tf.reduce_all(tf.math.is_finite(x))):
        raise ValueError(f"{name} contains NaN or Inf values; expected finite numbers")
    return x


def _spatial_rank(x: tf.Tensor, name: str) -> int:
    rank = x.shape.rank
    if rank not in (4, 5):
        raise ValueError(
            f"{name} must have shape (batch, *spatial, channels) with 2 or 3 spatial "
            f"axes, got shape {tuple(x.shape)}"
        )
    if any(d is None for d in x.shape[1:]):
        raise ValueError(f"{name} needs static spatial and channel sizes, got {tuple(x.shape)}")
    return rank - 2


def _check_same_shape(x: tf.Tensor, y: tf.Tensor) -> None:
    """``x`` and ``y`` hold as many images of one shape (batch sizes unknown while tracing pass)."""
    batches = (x.shape[0], y.shape[0])
    if x.shape[1:] != y.shape[1:] or (None not in batches and batches[0] != batches[1]):
        raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")


def _check_range(x: tf.Tensor, name: str) -> None:
    if _is_concrete(x) and x.shape.num_elements():
        lo, hi = float(tf.reduce_min(x)), float(tf.reduce_max(x))
        if lo < 0.0 or hi > 1.0:
            raise ValueError(f"{name} values must lie in [0, 1], found range [{lo:g}, {hi:g}]")


def _as_pairs(correlations: Correlations) -> tuple[tuple[int, int], ...]:
    try:
        pairs = tuple((int(a), int(b)) for a, b in correlations)
    except (TypeError, ValueError):
        raise ValueError(
            f"correlations must be a sequence of (a, b) index pairs, got {correlations!r}"
        ) from None
    if not pairs:
        raise ValueError("correlations must name at least one (a, b) pair, got an empty sequence")
    return pairs


def _resolve_correlations(correlations: Correlations, n_states: int) -> tuple[tuple[int, int], ...]:
    pairs = _as_pairs(correlations)
    for a, b in pairs:
        if not (0 <= a < n_states and 0 <= b < n_states):
            raise ValueError(
                f"correlation ({a}, {b}) is out of range: state indices must be in "
                f"[0, {n_states - 1}] for {n_states} states"
            )
    return pairs


def _check_cutoff(cutoff: Cutoff, periodic: bool) -> None:
    if isinstance(cutoff, str):
        if cutoff != "full":
            raise ValueError(f'cutoff must be a non-negative integer, None or "full", got {cutoff!r}')
        if not periodic:
            raise ValueError('cutoff="full" is only defined for periodic statistics (periodic=True)')
    elif cutoff is not None and (
        isinstance(cutoff, (bool, np.bool_)) or not isinstance(cutoff, (int, np.integer)) or cutoff < 0
    ):
        raise ValueError(f'cutoff must be a non-negative integer, None or "full", got {cutoff!r}')


def _resolve_cutoff(cutoff: Cutoff, spatial: tuple[int, ...], periodic: bool) -> list[tuple[int, int]]:
    """Per-axis inclusive lag ranges ``(lo, hi)`` kept in the centred window."""
    _check_cutoff(cutoff, periodic)
    if cutoff == "full":
        return [(-(n // 2), (n - 1) // 2) for n in spatial]
    max_cutoff = (min(spatial) - 1) // 2
    c = max_cutoff if cutoff is None else min(int(cutoff), max_cutoff)
    return [(-c, c)] * len(spatial)


# --------------------------------------------------------------------------- #
# Microstructure function
# --------------------------------------------------------------------------- #
def _check_indicator(kind: str, n_phases: int, eps: float) -> None:
    if kind not in MICROSTRUCTURE_KINDS:
        raise ValueError(f"kind must be one of {MICROSTRUCTURE_KINDS}, got {kind!r}")
    check_positive_int(n_phases, "n_phases", minimum=2)
    if kind == "linear" and n_phases != 2:
        raise ValueError(f'kind="linear" is defined for n_phases=2 only, got n_phases={n_phases}')
    if kind == "soft" and not isinstance(eps, tf.Tensor) and not (
        isinstance(eps, (int, float, np.floating)) and eps > 0
    ):
        raise ValueError(f"eps must be positive, got {eps!r}")


#: Phase indicators of single states, ``{state: float32 (batch, *spatial)}``: the
#: form every computation below works on.  Only the states a statistic uses are
#: built, with the spatial axes last as the FFTs want them, so there is no
#: channels-last stack to transpose or gather from.
StateMaps = dict


def _phase_maps(images, n_phases: int, kind: str, eps, phases: Sequence[int] | None = None) -> StateMaps:
    """Indicators of the listed ``phases`` (default: every one, in order) of ``images`` ``(batch, *spatial, 1)``.

    Validates as :func:`microstructure_function` documents.
    """
    _check_indicator(kind, n_phases, eps)
    raw = tf.convert_to_tensor(images)
    x = _as_float_tensor(raw, "images")
    _spatial_rank(x, "images")
    if x.shape[-1] != 1:
        raise ValueError(f"images must have exactly 1 channel, got shape {tuple(x.shape)}")
    x = tf.squeeze(x, axis=-1)  # a reshape: no copy
    if kind == "hard" and raw.dtype.is_integer:
        if _is_concrete(x) and x.shape.num_elements():
            lo, hi = int(tf.reduce_min(x)), int(tf.reduce_max(x))
            if lo < 0 or hi >= n_phases:
                raise ValueError(
                    f"labels must lie in [0, {n_phases - 1}] for n_phases={n_phases}, found range [{lo}, {hi}]"
                )
        labels = x
    else:
        _check_range(x, "images")
        # the nearest phase level (ssvae_tf.stats.phases); a value exactly halfway rounds to the even
        # level, so two phases put 0.5 itself in black here, in white in phases.black_mask
        labels = tf.round(x * (n_phases - 1)) if kind == "hard" else None
    if kind == "soft":
        # exp(-(x - level)^2 / (2 eps^2)) as exp((x - level)^2 * coefficient)
        if isinstance(eps, (int, float, np.integer, np.floating)):
            coefficient = -0.5 / float(eps) ** 2
        else:
            coefficient = -0.5 / tf.square(tf.cast(eps, tf.float32))

    def indicator(phase: int) -> tf.Tensor:
        if kind == "hard":
            return tf.cast(tf.equal(labels, float(phase)), tf.float32)
        if kind == "linear":
            return x if phase == 1 else 1.0 - x
        level = phase / (n_phases - 1)
        return tf.exp(tf.square(x if level == 0 else x - level) * coefficient)

    return {int(phase): indicator(int(phase)) for phase in (range(n_phases) if phases is None else phases)}


def _state_maps(m: tf.Tensor, states) -> StateMaps:
    """The listed states of channels-last indicators ``m`` ``(batch, *spatial, n_states)``."""
    if m.shape[-1] == 1:
        return {int(s): tf.squeeze(m, axis=-1) for s in states}
    return {int(s): m[..., s] for s in states}


def _stack_last(maps: Sequence[tf.Tensor]) -> tf.Tensor:
    """``(batch, *spatial)`` tensors -> ``(batch, *spatial, n)`` (a reshape for one tensor)."""
    return tf.expand_dims(maps[0], -1) if len(maps) == 1 else tf.stack(list(maps), axis=-1)


def microstructure_function(
    images, n_phases: int = 2, kind: str = "linear", eps: float = 0.25
) -> tf.Tensor:
    """Phase indicators of grey-level or labelled images.

    Args:
        images: ``(batch, *spatial, 1)``; values in [0, 1] for ``linear`` and
            ``soft``; integer labels in ``[0, n_phases)`` (or values in [0, 1],
            rounded to the nearest of ``n_phases`` equally spaced levels) for
            ``hard``.
        n_phases: number of phases; phase ``h`` is the grey level
            ``h / (n_phases - 1)`` (phase 0 is black, the last phase white).
        kind: ``"linear"`` (two phases only: ``m1 = x``, ``m0 = 1 - x``, exact
            for binary images and differentiable), ``"soft"`` (the paper's
            differentiable soft equality ``m_h = exp(-(x - level_h)^2 /
            (2 eps^2))``) or ``"hard"`` (one-hot, not differentiable).
        eps: width of the soft equality, in grey levels (a scalar tensor too,
            e.g. annealed during training; then it is not checked).

    Returns:
        float32 ``(batch, *spatial, n_phases)``.
    """
    return _stack_last(list(_phase_maps(images, n_phases, kind, eps).values()))


# --------------------------------------------------------------------------- #
# FFT machinery
# --------------------------------------------------------------------------- #
_RFFT = {2: tf.signal.rfft2d, 3: tf.signal.rfft3d}
_IRFFT = {2: tf.signal.irfft2d, 3: tf.signal.irfft3d}


def _rfft_weights(fft_shape: Sequence[int]) -> np.ndarray:
    """How many times each column of a half spectrum (last axis, length
    ``fft_shape[-1] // 2 + 1``) occurs in the full spectrum: 1 for the zero and
    Nyquist frequencies, 2 for the others (float64 ``(K,)``)."""
    last = int(fft_shape[-1])
    weights = np.full(last // 2 + 1, 2.0)
    weights[0] = 1.0
    if last % 2 == 0:
        weights[-1] = 1.0
    return weights


def _rfft(x: tf.Tensor, rank: int) -> tf.Tensor:
    """Half spectrum (complex64) of real ``x`` over its last ``rank`` axes, with a cheap gradient.

    ``rfft2d``/``rfft3d`` forward.  The gradient is the adjoint of the real
    FFT, ``N * irfft(G / w)`` (``N`` the transform size, ``w`` the
    :func:`_rfft_weights` of the last axis): one inverse FFT and one scaling,
    where TensorFlow's registered ``rfft2d`` gradient also builds a dense
    ``H x H`` DFT matrix, tiles it over the batch and multiplies it with two
    columns, and ``rfft3d`` has no gradient at all.  Differentiable again
    (the gradient is :func:`_irfft`).
    """
    shape = x.shape[-rank:].as_list()
    to_gradient = (float(np.prod(shape)) / _rfft_weights(shape)).astype(np.complex64)

    @tf.custom_gradient
    def forward(t):
        def gradient(g):
            return _irfft(g * to_gradient, rank, shape)
        return _RFFT[rank](t, fft_length=shape), gradient

    return forward(x)


def _irfft(spectrum: tf.Tensor, rank: int, fft_shape: Sequence[int]) -> tf.Tensor:
    """Inverse of :func:`_rfft`: half spectra -> float32 ``(..., *fft_shape)``.

    Its gradient is the adjoint, ``w * rfft(g) / N`` (see :func:`_rfft`).
    """
    shape = [int(n) for n in fft_shape]
    to_gradient = (_rfft_weights(shape) / float(np.prod(shape))).astype(np.complex64)

    @tf.custom_gradient
    def inverse(t):
        def gradient(g):
            return _rfft(g, rank) * to_gradient
        return _IRFFT[rank](t, fft_length=shape), gradient

    return inverse(spectrum)


@tf.custom_gradient
def _power(z: tf.Tensor) -> tf.Tensor:
    """``|z|^2`` (float32) of complex64 ``z``; the gradient ``2 g z`` is one product instead of
    the real/imag/square chain's five passes over the spectrum."""
    def gradient(g):
        return z * tf.cast(2.0 * g, z.dtype)
    return tf.square(tf.math.real(z)) + tf.square(tf.math.imag(z)), gradient


@tf.custom_gradient
def _as_complex(x: tf.Tensor) -> tf.Tensor:
    """float32 ``x`` as complex64 (imaginary part 0).  Its gradient is ``tf.math.real`` of the incoming
    one, as ``tf.cast``'s registered gradient computes it, without that cast's warning ("casting
    complex64 to float32 discards the imaginary part") on every step."""
    def gradient(g):
        return tf.math.real(g)
    return tf.cast(x, tf.complex64), gradient


def _used_states(pairs) -> list[int]:
    return sorted({s for pair in pairs for s in pair})


def _fft_shape(spatial, lag_ranges, periodic: bool) -> list[int]:
    """Transform size: the image (periodic) or zero-padded so no kept lag wraps around."""
    return list(spatial) if periodic else [n + hi for n, (_, hi) in zip(spatial, lag_ranges)]


def _spectra(maps: StateMaps, rank: int, fft_shape: list[int]) -> StateMaps:
    """Half spectrum of every state map, zero-padded to ``fft_shape`` first."""
    spectra = {}
    for state, m in maps.items():
        spatial = m.shape[1:].as_list()
        if spatial != fft_shape:
            m = tf.pad(m, [[0, 0]] + [[0, f - n] for f, n in zip(fft_shape, spatial)])
        spectra[state] = _rfft(m, rank)
    return spectra


def _correlation_spectrum(spectra: StateMaps, a: int, b: int) -> tf.Tensor:
    """``conj(F_a) * F_b``: the real power spectrum ``|F_a|^2`` (float32) when ``a == b``, else
    complex64."""
    if a == b:
        return _power(spectra[a])
    return tf.math.conj(spectra[a]) * spectra[b]


def _window(corr: tf.Tensor, lag_ranges, rank: int) -> tf.Tensor:
    """Lags ``lo..hi`` of each uncentred spatial axis of ``(batch, *spatial)``, zero lag centred.

    A window that keeps most of the transform is one ``roll`` (then a slice);
    a small one is gathered from its slices, reading only what it keeps.
    """
    lengths = corr.shape[1:].as_list()
    kept = [hi - lo + 1 for lo, hi in lag_ranges]
    if 2 * np.prod(kept) > np.prod(lengths):
        corr = tf.roll(corr, shift=[-lo for lo, _ in lag_ranges], axis=list(range(1, rank + 1)))
        return corr if kept == lengths else corr[(slice(None),) + tuple(slice(0, k) for k in kept)]
    for axis, (lo, hi) in enumerate(lag_ranges, start=1):
        length = corr.shape[axis]
        negative = [slice(None)] * (rank + 1)
        positive = [slice(None)] * (rank + 1)
        negative[axis] = slice(length + lo, length)
        positive[axis] = slice(0, hi + 1)
        corr = tf.concat([corr[tuple(negative)], corr[tuple(positive)]], axis=axis)
    return corr


def _placements(spatial, lag_ranges, periodic: bool) -> np.ndarray:
    """Normaliser of every kept lag: pixel count or valid vector placements."""
    if periodic:
        return np.full([hi - lo + 1 for lo, hi in lag_ranges], float(np.prod(spatial)))
    counts = [n - np.abs(np.arange(lo, hi + 1)) for n, (lo, hi) in zip(spatial, lag_ranges)]
    return np.prod(np.meshgrid(*counts, indexing="ij"), axis=0).astype(np.float64)


def _pair_statistics(maps: StateMaps, pairs, periodic: bool, lag_ranges, rank: int) -> list[tf.Tensor]:
    """Centred statistics ``(batch, *window)`` of every pair, from the state maps."""
    spatial = next(iter(maps.values())).shape[1:].as_list()
    fft_shape = _fft_shape(spatial, lag_ranges, periodic)
    spectra = _spectra(maps, rank, fft_shape)
    # periodic: one pixel count for every lag
    inverse_scale = 1.0 / float(np.prod(spatial)) if periodic else (
        1.0 / _placements(spatial, lag_ranges, periodic)).astype(np.float32)
    stats = []
    for a, b in pairs:
        spectrum = _correlation_spectrum(spectra, a, b)
        if a == b:
            spectrum = _as_complex(spectrum)
        corr = _irfft(spectrum, rank, fft_shape)
        stats.append(_window(corr, lag_ranges, rank) * inverse_scale)
    return stats


def two_point_stats(
    x, correlations: Correlations = ((0, 0),), periodic: bool = True, cutoff: Cutoff = None
) -> tf.Tensor:
    """Centred two-point statistics of a microstructure function.

    Args:
        x: float ``(batch, *spatial, n_states)`` phase indicators (see
            :func:`microstructure_function`), 2 or 3 spatial axes.
        correlations: ``(a, b)`` state pairs; ``(a, a)`` is an autocorrelation.
        periodic: periodic boundaries (divide by the pixel count) or
            zero-padded non-periodic statistics (divide by the number of valid
            placements of each lag vector).
        cutoff: largest lag kept per axis, in pixels (see the module doc).

    Returns:
        float32 ``(batch, *window, n_correlations)``, window side
        ``2 * cutoff + 1`` with the zero lag in the middle.

    A worked example: a 3x3 image whose two top-left pixels are black
    (phase 0).  Times the 9 pixels, the periodic autocorrelation of the black
    phase counts the black pairs ``(x, x + r)`` at each lag ``r = (dy, dx)``:
    2 at the zero lag (the black pixels themselves), 1 one step to the left
    or right, none in the rows above and below.

    >>> import numpy as np
    >>> image = np.array([[0, 0, 1],
    ...                   [1, 1, 1],
    ...                   [1, 1, 1]], np.float32)
    >>> m = microstructure_function(image[None, :, :, None], kind="hard")
    >>> m.shape
    TensorShape([1, 3, 3, 2])
    >>> s = two_point_stats(m, [(0, 0)], periodic=True, cutoff=1)
    >>> s.shape
    TensorShape([1, 3, 3, 1])
    >>> (s[0, :, :, 0].numpy() * 9).round().astype(int)
    array([[0, 0, 0],
           [1, 2, 1],
           [0, 0, 0]])
    """
    x = _as_float_tensor(x, "x")
    rank = _spatial_rank(x, "x")
    pairs = _resolve_correlations(correlations, x.shape[-1])
    periodic = check_bool(periodic, "periodic")
    lag_ranges = _resolve_cutoff(cutoff, tuple(x.shape[1:-1]), periodic)
    maps = _state_maps(x, _used_states(pairs))
    return _stack_last(_pair_statistics(maps, pairs, periodic, lag_ranges, rank))


# --------------------------------------------------------------------------- #
# Distance between the statistics of two batches
# --------------------------------------------------------------------------- #
def _lag_window(radius_squared: np.ndarray, sigma: float, floor: float) -> np.ndarray:
    """The lag window at lags of squared length ``radius_squared`` (px^2), any shape:
    ``floor + (1 - floor) exp(-|r|^2 / (2 sigma^2))``, float64."""
    return floor + (1.0 - floor) * np.exp(-np.asarray(radius_squared, np.float64) / (2.0 * sigma**2))


def _gaussian_window(lag_ranges, sigma: float, floor: float) -> np.ndarray:
    grids = np.meshgrid(*[np.arange(lo, hi + 1) for lo, hi in lag_ranges], indexing="ij")
    return _lag_window(sum(g.astype(np.float64) ** 2 for g in grids), sigma, floor)


def _parseval_pair_sse(sx: StateMaps, sy: StateMaps, pairs, rank: int, spatial) -> list[tf.Tensor]:
    """Per pair, the sum over all periodic lags of the squared statistics difference
    of two batches' half spectra ``sx`` (reference) and ``sy``: ``(batch,)`` each.

    By Parseval, ``sum_r (f_x - f_y)^2 = sum_k |P_x - P_y|^2 / N^3`` with
    ``P = conj(F_a) F_b``: no inverse FFT is needed.  An autocorrelation's ``P``
    is the real ``|F_a|^2``.
    """
    weights = (_rfft_weights(spatial) / float(np.prod(spatial)) ** 3).astype(np.float32)
    axes = list(range(1, rank + 1))
    sse = []
    for a, b in pairs:
        diff = _correlation_spectrum(sy, a, b) - _correlation_spectrum(sx, a, b)
        squared = tf.square(diff) if a == b else _power(diff)
        sse.append(tf.reduce_sum(squared * weights, axis=axes))
    return sse


def _lag_weights(spatial, fft_shape, lag_ranges, periodic: bool, window_sigma: float | None,
                 window_floor: float) -> np.ndarray:
    """Weight of every uncentred lag of an inverse FFT of size ``fft_shape`` in a sum of squared
    statistics: ``(window(r) / norm(r))^2`` on the kept lags, 0 elsewhere (float32).

    Summing ``corr^2 * weights`` over the uncentred correlation equals summing the
    squared (windowed) centred statistics, with no window gathered or
    normaliser divided.
    """
    kept = 1.0 / _placements(spatial, lag_ranges, periodic)
    if window_sigma is not None:
        kept = kept * _gaussian_window(lag_ranges, float(window_sigma), float(window_floor))
    weights = np.zeros(fft_shape)
    weights[np.ix_(*[np.arange(lo, hi + 1) % n for (lo, hi), n in zip(lag_ranges, fft_shape)])] = kept**2
    return weights.astype(np.float32)


def _pair_sse(mx: StateMaps, my: StateMaps, pairs, periodic: bool, cutoff: Cutoff,
              window_sigma: float | None, window_floor: float, rank: int) -> list[tf.Tensor]:
    """Per pair, the (windowed) sum over kept lags of the squared statistics difference of
    state maps ``my`` and the reference ``mx`` (no gradient): ``(batch,)`` each.

    The statistics are linear in the spectrum ``conj(F_a) F_b``, so the
    difference is taken there and inverted once per pair (or, over every
    periodic lag without a window, summed by Parseval with no inverse FFT).
    """
    mx = {state: tf.stop_gradient(m) for state, m in mx.items()}
    spatial = next(iter(my.values())).shape[1:].as_list()
    if periodic and cutoff == "full" and window_sigma is None:
        sx, sy = _spectra(mx, rank, spatial), _spectra(my, rank, spatial)
        return _parseval_pair_sse(sx, sy, pairs, rank, spatial)
    lag_ranges = _resolve_cutoff(cutoff, tuple(spatial), periodic)
    fft_shape = _fft_shape(spatial, lag_ranges, periodic)
    weights = _lag_weights(spatial, fft_shape, lag_ranges, periodic, window_sigma, window_floor)
    sx, sy = _spectra(mx, rank, fft_shape), _spectra(my, rank, fft_shape)
    sse = []
    for a, b in pairs:
        diff = _correlation_spectrum(sy, a, b) - _correlation_spectrum(sx, a, b)
        if a == b:
            diff = _as_complex(diff)
        corr = _irfft(diff, rank, fft_shape)  # N x (S_y - S_x) before normalising, every lag
        sse.append(tf.reduce_sum(tf.square(corr) * weights, axis=list(range(1, rank + 1))))
    return sse


def _is_positive_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
        and bool(np.isfinite(value)) and value > 0


def _check_comparison(metric: str, scale: float, window_sigma: float | None, window_floor: float) -> None:
    if metric not in DISTANCE_METRICS:
        raise ValueError(f"metric must be one of {DISTANCE_METRICS}, got {metric!r}")
    if not _is_positive_number(scale):
        raise ValueError(f"scale must be a positive finite number, got {scale!r}")
    if window_sigma is not None and not _is_positive_number(window_sigma):
        raise ValueError(f"window_sigma must be a positive number or None, got {window_sigma!r}")
    if not (is_real(window_floor) and 0 <= window_floor < 1):
        raise ValueError(f"window_floor must be a number in [0, 1), got {window_floor!r}")
    if window_floor > 0 and window_sigma is None:
        raise ValueError(f"window_floor is the lag window's value far from the zero lag; it needs window_sigma, "
                         f"got window_floor={window_floor!r} with window_sigma=None")


def _safe_sqrt(x: tf.Tensor) -> tf.Tensor:
    """``sqrt`` whose gradient at 0 is 0 instead of infinite."""
    positive = x > 0
    return tf.where(positive, tf.sqrt(tf.where(positive, x, 1.0)), 0.0)


def _distance_maps(x, y, correlations, kind, n_phases, eps):
    """Checked inputs of a distance: ``(mx, my, pairs, rank, spatial)``, the state maps of the
    states the correlations use."""
    images = (x, y)  # as given: integer labels stay labels for kind="hard"
    x, y = _as_float_tensor(x, "x"), _as_float_tensor(y, "y")
    rank = _spatial_rank(x, "x")
    _spatial_rank(y, "y")
    _check_same_shape(x, y)
    pairs = _resolve_correlations(correlations, x.shape[-1] if kind is None else n_phases)
    states = _used_states(pairs)
    if kind is None:
        mx, my = _state_maps(x, states), _state_maps(y, states)
    else:
        mx, my = (_phase_maps(i, n_phases, kind, eps, states) for i in images)
    return mx, my, pairs, rank, tuple(x.shape[1:-1])


def spatial_stats_distance(
    x,
    y,
    *,
    correlations: Correlations = ((0, 0),),
    periodic: bool = True,
    cutoff: Cutoff = None,
    kind: str | None = "soft",
    n_phases: int = 2,
    eps: float = 0.25,
    metric: str = "sse",
    scale: float = 1.0,
    window_sigma: float | None = None,
    window_floor: float = 0.0,
) -> tf.Tensor:
    """Per-sample distance between the two-point statistics of two batches.

    ``x`` is the reference (e.g. the training images): its statistics get no
    gradient.  ``y`` is compared with it (e.g. the reconstructions).

    Args:
        x, y: images ``(batch, *spatial, 1)`` in [0, 1], turned into phase
            indicators with :func:`microstructure_function` (``kind``,
            ``n_phases``, ``eps``); with ``kind=None`` they already are phase
            indicators ``(batch, *spatial, n_states)``.
        correlations, periodic, cutoff: as in :func:`two_point_stats`.
        metric: ``"l2"`` (the paper's ``||f(x) - f(y)||_2``), ``"sse"`` (sum of
            squares over lags and correlations, what the authors trained with)
            or ``"mse"`` (mean of squares).
        scale: the statistics are divided by this constant first (the paper
            normalises by the largest line volume fraction of the data set).
        window_sigma: if given, the difference is weighted by a Gaussian
            ``exp(-|r|^2 / (2 sigma^2))`` of the lag ``r`` (pixels), the
            paper's "filtered" loss.
        window_floor: the window's value far from the zero lag, in [0, 1)
            (needs ``window_sigma``): the difference is weighted by
            ``floor + (1 - floor) exp(-|r|^2 / (2 sigma^2))``, so the long
            lags, whose sum is ``N <m>^2`` and pins the volume fraction, keep
            a weight of ``floor^2`` each in the squares.

    Returns:
        float32 ``(batch,)``.

    With ``periodic=True``, ``cutoff="full"`` and no window, the sum over lags
    is taken in Fourier space (Parseval), which skips the inverse FFT.  Only
    the indicators of the states the correlations use are computed.
    """
    _check_comparison(metric, scale, window_sigma, window_floor)
    mx, my, pairs, rank, spatial = _distance_maps(x, y, correlations, kind, n_phases, eps)
    periodic = check_bool(periodic, "periodic")
    _check_cutoff(cutoff, periodic)
    sse = tf.add_n(_pair_sse(mx, my, pairs, periodic, cutoff, window_sigma, window_floor, rank))
    if float(scale) != 1.0:
        sse = sse / float(scale) ** 2
    if metric == "sse":
        return sse
    if metric == "mse":
        return sse / float(n_lags(spatial, periodic, cutoff) * len(pairs))
    return _safe_sqrt(sse)


def axis_slice(x: tf.Tensor, axis: int, start: int, size: int) -> tf.Tensor:
    """``x[..., start:start + size, ...]`` along ``axis`` (the other axes whole): a slice, no gather."""
    begin, sizes = [0] * len(x.shape), [-1] * len(x.shape)
    begin[axis], sizes[axis] = start, size
    return tf.slice(x, begin, sizes)


def shift_aligned_sse(x, y) -> tf.Tensor:
    """Pixel sum of squares after the best periodic shift: ``min_s sum_p (x(p) - y(p + s))^2``.

    ``x``, ``y``: float ``(batch, *spatial, channels)``, 2 or 3 spatial axes;
    returns float32 ``(batch,)``.  Computed as ``sum x^2 + sum y^2 - 2 max_s
    C(s)`` with the periodic cross-correlation ``C(s) = sum_p x(p) y(p + s)``
    (summed over channels) from real FFTs, so every shift is tried at the cost
    of one correlation.  Unchanged when ``y`` is shifted periodically, like
    periodic statistics, yet it ties the relative positions of features to
    ``x``'s, with the full pixel gradient.

    >>> import numpy as np
    >>> x = np.zeros((1, 8, 8, 1), np.float32); x[0, 2, :, 0] = 1.0   # a line in row 2
    >>> float(shift_aligned_sse(x, np.roll(x, 3, axis=1))[0])          # the same line, moved
    0.0
    """
    x, y = _as_float_tensor(x, "x"), _as_float_tensor(y, "y")
    rank = _spatial_rank(x, "x")
    _check_same_shape(x, y)
    spatial = x.shape[1:-1].as_list()
    def channels_first(t):  # (batch, channels, *spatial); one channel is a reshape, not a transpose
        if t.shape[-1] == 1:
            return tf.expand_dims(tf.squeeze(t, axis=-1), 1)
        return tf.transpose(t, [0, rank + 1, *range(1, rank + 1)])

    fx, fy = (_rfft(channels_first(t), rank) for t in (x, y))
    cross = tf.reduce_sum(_irfft(tf.math.conj(fx) * fy, rank, spatial), axis=1)  # (batch, *spatial)
    axes = list(range(1, rank + 2))
    best = tf.reduce_max(tf.reshape(cross, [tf.shape(cross)[0], -1]), axis=1)
    return tf.reduce_sum(tf.square(x), axis=axes) + tf.reduce_sum(tf.square(y), axis=axes) - 2.0 * best


#: The coordinate planes of a volume ``(z, y, x)`` = axes (0, 1, 2), in :func:`coordinate_planes`' order:
#: normal to z (rows y, columns x), to y (rows z, columns x), to x (rows z, columns y).  A micrograph for a
#: plane has its rows and columns along those axes.
PLANE_NAMES = ("xy", "xz", "yz")


def plane_axes(normal: int) -> tuple[int, int]:
    """The volume axes ``(rows, columns)`` of the coordinate plane normal to axis ``normal`` (0, 1 or 2), in
    their order, as :func:`coordinate_planes` and a plane's micrographs hold them.

    >>> [plane_axes(normal) for normal in range(3)]
    [(1, 2), (0, 2), (0, 1)]
    """
    rows, columns = (axis for axis in range(3) if axis != normal)
    return rows, columns


@dataclass(frozen=True, eq=False)
class IsotropicLags:
    """The lags of a cube window of centred 3-D statistics that lie in no coordinate plane, within the
    radius ``R`` the window holds in every direction, and how an isotropic material's statistics there
    follow from a plane's (:func:`isotropic_lags`).

    Attributes:
        shells: float32 ``(R + 1, A * A)``: row ``k`` averages a plane window's flattened lags with
            ``round(|r|) == k``: ``shells @ plane`` is the plane's radial profile ``S(k)``, ``k = 0..R``.
        off_plane: int32 ``(n,)``: flat indices into the ``A^3`` window of the lags with no zero component
            and ``|r| <= R``.
        lower, upper, weight: int32, int32, float32 ``(n,)``: ``|r| = lower + weight``, ``upper =
            min(lower + 1, R)``; an isotropic material's statistic at that lag is the profile interpolated
            linearly, ``(1 - weight) S(lower) + weight S(upper)``.
        radius: float32 ``(n,)``: ``|r|`` in pixels.
    """

    shells: np.ndarray
    off_plane: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    weight: np.ndarray
    radius: np.ndarray


def coordinate_planes(stats: tf.Tensor, lag_ranges: Sequence[tuple[int, int]]) -> tf.Tensor:
    """The lags of centred 3-D statistics that lie in the three coordinate planes.

    Args:
        stats: centred statistics ``(batch, A, B, C, n)`` of volumes (:func:`two_point_stats`) whose
            window is a cube, ``A == B == C``.
        lag_ranges: the window's inclusive lag range ``(lo, hi)`` per axis; its zero lag is at index
            ``-lo``.

    Returns:
        ``(batch, 3, A, A, n)``: plane ``k`` holds the lags with no component along axis ``k``, the other
        two axes in their order: ``0`` the ``(axis 1, axis 2)`` lags, ``1`` ``(axis 0, axis 2)``,
        ``2`` ``(axis 0, axis 1)``.

    For a volume that is statistically homogeneous, a plane's lags are the mean of the 2-D statistics
    of the slices parallel to it: ``S(0, dy, dx) = mean_z S_z(dy, dx)`` with ``S_z`` the statistics of
    slice ``z``, exactly for periodic statistics.  So a volume can be compared with 2-D micrographs
    plane by plane (issue 23).
    """
    planes = [tf.gather(stats, -lo, axis=axis) for axis, (lo, _) in enumerate(lag_ranges, start=1)]
    return tf.stack(planes, axis=1)


@functools.lru_cache(maxsize=16)
def isotropic_lags(lag_ranges: tuple[tuple[int, int], ...]) -> IsotropicLags:
    """How the radially averaged statistics of an ``A x A`` plane window extend to the lags of an
    ``A x A x A`` window that lie in no coordinate plane, for an isotropic material (:class:`IsotropicLags`).

    Args:
        lag_ranges: the cube window's inclusive lag range ``(lo, hi)`` per axis (three equal ranges); its
            zero lag is at index ``-lo``.

    Only radii up to ``R = min(-lo, hi)`` are used: every lag with ``round(|r|) <= R`` lies inside the
    window, so each shell of the plane is whole.

    >>> lags = isotropic_lags(((-2, 1),) * 3)   # a 4^3 window: R = 1
    >>> lags.shells.shape, lags.off_plane.tolist(), lags.lower.tolist(), lags.upper.tolist()
    ((2, 16), [], [], [])
    >>> lags = isotropic_lags(((-3, 2),) * 3)   # a 6^3 window: R = 2, the 8 lags (+-1, +-1, +-1)
    >>> len(lags.off_plane), int(lags.lower[0]), int(lags.upper[0]), round(float(lags.weight[0]), 3)
    (8, 1, 2, 0.732)
    """
    (lo, hi), *rest = lag_ranges
    if len(lag_ranges) != 3 or any(tuple(other) != (lo, hi) for other in rest):
        raise ValueError(f"isotropic lags need a cube window of three equal lag ranges, got {lag_ranges}")
    radius_max = min(-lo, hi)
    lags = np.arange(lo, hi + 1, dtype=np.float64)
    plane_radius = np.hypot(*np.meshgrid(lags, lags, indexing="ij")).ravel()
    shell = np.rint(plane_radius)
    shells = np.stack([shell == k for k in range(radius_max + 1)]).astype(np.float64)
    shells /= shells.sum(axis=1, keepdims=True)
    grid = np.meshgrid(lags, lags, lags, indexing="ij")
    radius = np.sqrt(sum(g**2 for g in grid)).ravel()
    off_plane = np.flatnonzero(np.all([g.ravel() != 0 for g in grid], axis=0) & (radius <= radius_max))
    lower = np.floor(radius[off_plane]).astype(np.int32)
    return IsotropicLags(shells=shells.astype(np.float32), off_plane=off_plane.astype(np.int32), lower=lower,
                         upper=np.minimum(lower + 1, radius_max).astype(np.int32),
                         weight=(radius[off_plane] - lower).astype(np.float32),
                         radius=radius[off_plane].astype(np.float32))


def n_lags(spatial_shape: Sequence[int], periodic: bool = True, cutoff: Cutoff = None) -> int:
    """Number of lags in the window :func:`two_point_stats` returns for this shape."""
    lag_ranges = _resolve_cutoff(cutoff, tuple(int(n) for n in spatial_shape), check_bool(periodic, "periodic"))
    return int(np.prod([hi - lo + 1 for lo, hi in lag_ranges]))


def _average_pool_2x(m: tf.Tensor) -> tf.Tensor:
    """``(batch, *spatial)`` -> ``(batch, *spatial // 2)``: means of 2 x 2 (x 2) blocks."""
    rank = m.shape.rank - 1
    pool = tf.nn.avg_pool2d if rank == 2 else tf.nn.avg_pool3d
    return tf.squeeze(pool(tf.expand_dims(m, -1), ksize=2, strides=2, padding="VALID"), axis=-1)


def _zero_lag(maps: StateMaps, pairs) -> list[tf.Tensor]:
    """Zero-lag statistic ``mean_x m_a(x) m_b(x)`` of each correlation, ``(batch,)`` each,
    floored at 1e-3 (it divides), without gradient."""
    axes = list(range(1, next(iter(maps.values())).shape.rank))
    return [tf.maximum(tf.stop_gradient(tf.reduce_mean(maps[a] * maps[b], axis=axes)), 1e-3) for a, b in pairs]


def _level_sse(mx: StateMaps, my: StateMaps, options: "StatsOptions", full_zero_lag: list[tf.Tensor],
               rank: int) -> tf.Tensor:
    """Sum over lags and correlations of the squared statistics difference of pooled state
    maps ``mx`` (reference) and ``my``: ``(batch,)``.

    Both statistics are divided by the reference's zero lag at this level and
    multiplied by its zero lag at full resolution (``full_zero_lag``, one
    ``(batch,)`` per correlation), so every level has the full-resolution zero
    lag, then divided by ``options.scale`` as level 0 is.
    """
    pairs = options.correlations
    sse = _pair_sse(mx, my, pairs, options.periodic, options.cutoff, None, 0.0, rank)
    factors = [full / (zero * float(options.scale)) for full, zero in zip(full_zero_lag, _zero_lag(mx, pairs))]
    return tf.add_n([tf.square(factor) * value for factor, value in zip(factors, sse)])


# --------------------------------------------------------------------------- #
# The options of a statistics loss, as one value
# --------------------------------------------------------------------------- #
#: Methods whose Python branches depend only on shapes and options, not on tensor values, are traced as
#: written: AutoGraph's conversion of these methods, cached across the test suite's many graphs, once passed
#: ``eps`` twice to ``plane_statistics`` inside an XLA function.
_plain_python = tf.autograph.experimental.do_not_convert


@dataclass(frozen=True)
class StatsOptions:
    """Which two-point statistics a loss compares, and how: one validated value.

    The defaults are the paper's loss as the authors' code computes it: the
    soft indicator (``eps = 0.25``) of the black phase, its periodic
    autocorrelation over every lag, the sum of squared differences.

    Attributes:
        correlations: ``(a, b)`` state pairs (see :func:`two_point_stats`).
        periodic, cutoff: as in :func:`two_point_stats`; ``cutoff="full"``
            keeps every periodic lag.
        kind: phase indicator of :func:`microstructure_function` (``"soft"``,
            ``"linear"``, ``"hard"``), or ``None`` for images that already are
            phase indicators ``(batch, *spatial, n_states)``.
        n_phases, eps: as in :func:`microstructure_function`.
        metric, scale, window_sigma, window_floor: as in :func:`spatial_stats_distance`.
        levels: resolutions the distance compares (``metric="sse"`` only).
            Level 0 is the images' statistics as above; level ``l >= 1``
            average-pools the phase indicators by ``2**l`` per axis first and
            normalises the statistics of both images by the reference's own
            zero-lag value at that level (per image and correlation), expressed
            in the full-resolution zero lag, so a coarse level's blurred
            autocorrelation counts like the sharp one; the squared differences
            of all levels add up.  Coarse levels see the arrangement of large
            features (where the lines are) that fine lags drown (the
            multigrid idea of MCRpy, Seibert et al. 2022).  ``statistics``
            always returns level 0.
        isotropy: weight, in :meth:`slice_distance`, of the volume's lags in no coordinate plane against
            the radially averaged statistics of the micrographs (an isotropic material, whose statistics
            depend on ``|r|`` only; :func:`isotropic_lags`), in units of one plane's distance (0: off).
            A slice shows none of these lags: without it they are free.
        symmetric_targets: in :meth:`slice_statistics` of one crop for all three planes (an isotropic
            material), average the crop's statistics over the square's 8 rotations and reflections.  One
            crop's statistics are anisotropic by chance, and no volume can show the same anisotropic
            statistics in its three planes (a crop stretched along its rows by ``a`` asks for ``y = a x`` in
            the x-y plane, ``z = a x`` in the x-z plane and ``z = a y`` in the y-z plane); an isotropic
            material's have those symmetries.
        target_shrink: in :meth:`slice_distance`, each crop's statistics moved towards the batch's mean
            statistics, ``mean + target_shrink * (crop - mean)`` (1: the crop's own).  A volume's every slice
            is held to its crop's statistics, so the volume copies the crop's chance volume fraction, and one
            N x N crop's varies more than an N^3 crop's (2.4x the standard deviation on the isotropic field
            of docs/3d-from-2d.md); a shrink near the ratio of the two variances poses it as a real volume
            around the crop would.

    Everything is checked once, here; a bad value raises ``ValueError``
    naming it.  ``to_json``/``from_json`` give the form stored in a run's
    ``config.json`` and in ``.keras`` files.

    >>> options = StatsOptions(scale=0.05)
    >>> options.replace(cutoff=3).cutoff
    3
    >>> StatsOptions.from_json(options.to_json()) == options
    True
    """

    correlations: tuple[tuple[int, int], ...] = ((0, 0),)
    periodic: bool = True
    cutoff: Cutoff = "full"
    kind: str | None = "soft"
    n_phases: int = 2
    eps: float = 0.25
    metric: str = "sse"
    scale: float = 1.0
    window_sigma: float | None = None
    window_floor: float = 0.0
    levels: int = 1
    isotropy: float = 0.0
    symmetric_targets: bool = False
    target_shrink: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "correlations", _as_pairs(self.correlations))
        object.__setattr__(self, "periodic", check_bool(self.periodic, "periodic"))
        _check_cutoff(self.cutoff, self.periodic)
        if self.kind is not None:
            _check_indicator(self.kind, self.n_phases, self.eps)
            _resolve_correlations(self.correlations, self.n_phases)
        elif any(a < 0 or b < 0 for a, b in self.correlations):
            raise ValueError(f"correlation indices must be >= 0, got {self.correlations}")
        _check_comparison(self.metric, self.scale, self.window_sigma, self.window_floor)
        check_positive_int(self.levels, "levels")
        if self.levels > 1 and self.metric != "sse":
            raise ValueError(f'levels > 1 adds squared differences: it needs metric="sse", got {self.metric!r}')
        check_positive_real(self.isotropy, "isotropy", allow_zero=True)
        object.__setattr__(self, "symmetric_targets", check_bool(self.symmetric_targets, "symmetric_targets"))
        object.__setattr__(self, "target_shrink", check_share(self.target_shrink, "target_shrink"))

    def replace(self, **changes) -> "StatsOptions":
        """A copy with ``changes`` (field names), validated again."""
        return dataclasses.replace(self, **changes)

    def indicators(self, images, eps: float | tf.Tensor | None = None) -> tf.Tensor:
        """Phase indicators ``(batch, *spatial, n_phases)`` of ``images`` ``(batch, *spatial, 1)``
        (the images themselves when ``kind`` is ``None``); ``eps`` overrides the soft
        indicator's width, e.g. with an annealed scalar tensor."""
        if self.kind is None:
            return _as_float_tensor(images, "images")
        return microstructure_function(images, self.n_phases, self.kind, self.eps if eps is None else eps)

    def statistics(self, images, **changes) -> tf.Tensor:
        """Centred statistics ``(batch, *window, n_correlations)`` of ``images`` as the loss sees
        them; ``changes`` override fields first, e.g. ``cutoff=0``."""
        options = self.replace(**changes) if changes else self
        return options._statistics_at(images, None)

    def distance(self, x, y, eps: float | tf.Tensor | None = None) -> tf.Tensor:
        """:func:`spatial_stats_distance` of reference ``x`` and ``y`` with these options, summed
        over the ``levels``: ``(batch,)``.  ``eps`` overrides the soft indicator's width."""
        arguments = self._distance_arguments()
        if eps is not None:
            arguments["eps"] = eps
        if self.levels == 1:
            return spatial_stats_distance(x, y, **arguments)
        mx, my, pairs, rank, _ = _distance_maps(x, y, self.correlations, self.kind, self.n_phases,
                                                arguments["eps"])
        sse = _pair_sse(mx, my, pairs, self.periodic, self.cutoff, self.window_sigma, self.window_floor, rank)
        total = tf.add_n(sse) / float(self.scale) ** 2
        full_zero_lag = _zero_lag(mx, pairs)
        for _ in range(1, self.levels):
            mx = {state: _average_pool_2x(m) for state, m in mx.items()}
            my = {state: _average_pool_2x(m) for state, m in my.items()}
            total += _level_sse(mx, my, self, full_zero_lag, rank)
        return total

    def lag_mse(self, x, y, distance: tf.Tensor | None = None) -> tf.Tensor:
        """Per-sample mean squared statistics difference per lag and correlation, ``(batch,)``.

        Unscaled and unwindowed, so it compares across runs whatever ``scale``
        and ``metric`` are.  Pass ``distance = self.distance(x, y)`` when it
        is at hand: without a window it is derived from it, with no second FFT.
        """
        if distance is None or self.window_sigma is not None or self.levels > 1:
            return self.replace(metric="mse", scale=1.0, window_sigma=None, window_floor=0.0, levels=1).distance(x, y)
        squared = tf.square(distance) if self.metric == "l2" else distance
        spatial = tuple(tf.convert_to_tensor(x).shape[1:-1])
        per_value = 1.0 if self.metric == "mse" else 1.0 / self.n_values(spatial)
        return squared * (per_value * self.scale**2)

    @_plain_python
    def plane_statistics(self, volumes, eps: float | tf.Tensor | None = None) -> tf.Tensor:
        """The statistics of ``volumes`` ``(batch, N, N, N, 1)`` at the lags in their three coordinate
        planes (:func:`coordinate_planes`): ``(batch, 3, *window, n_correlations)``, each plane's window
        what :meth:`statistics` gives for ``N x N`` images.  ``eps`` overrides the indicator's width."""
        return coordinate_planes(*self._volume_statistics(volumes, eps))

    def _volume_statistics(self, volumes, eps: float | tf.Tensor | None) -> tuple[tf.Tensor, list[tuple[int, int]]]:
        """The centred statistics of cubes ``volumes`` ``(batch, N, N, N, C)`` and their window's lag ranges."""
        volumes = _as_float_tensor(volumes, "volumes")
        spatial = tuple(volumes.shape[1:-1])
        if len(spatial) != 3 or len(set(spatial)) != 1:
            raise ValueError(f"plane statistics need cubes (batch, N, N, N, channels), got {tuple(volumes.shape)}")
        return self._statistics_at(volumes, eps), _resolve_cutoff(self.cutoff, spatial, self.periodic)

    @_plain_python
    def slice_distance(self, slices, volumes, eps: float | tf.Tensor | None = None) -> tf.Tensor:
        """How far the coordinate planes of ``volumes`` ``(batch, N, N, N, 1)`` are from the 2-D
        statistics of ``slices``, ``(batch,)``: the mean over the three planes of this metric between
        plane ``k``'s statistics (:meth:`plane_statistics`) and the statistics of the micrograph crops for
        that plane; with ``isotropy > 0``, plus ``isotropy`` times the same for the lags in no plane against
        the crops' radial profile (:func:`isotropic_lags`; the mean over them, counted as one plane's).

        ``slices``: ``(batch, N, N, 1)``, one crop per volume for all three planes (an isotropic
        material), or ``(batch, 3, N, N, 1)``, a crop per plane in :func:`coordinate_planes`' order
        (normal to axis 0, 1, 2; the isotropic profile is their mean).  The crops are the reference: no
        gradient; with ``target_shrink < 1`` each crop's statistics are first moved towards the batch's mean.
        ``scale``, ``metric`` and ``window_sigma`` as in :meth:`distance`; ``levels`` must be 1.
        """
        if self.levels != 1:
            raise ValueError(f"slice_distance compares one resolution; expected levels=1, got {self.levels}")
        stats, lag_ranges = self._volume_statistics(volumes, eps)
        planes = coordinate_planes(stats, lag_ranges)
        side = tuple(stats.shape[2:4])  # a plane's window
        target = tf.stop_gradient(self.slice_statistics(slices, eps))
        if self.target_shrink < 1:
            mean = tf.reduce_mean(target, axis=0, keepdims=True)
            target = mean + self.target_shrink * (target - mean)
        if target.shape[2:] != planes.shape[2:]:
            raise ValueError(f"slices of {tuple(slices.shape)} and volumes of {tuple(volumes.shape)} have "
                             "different sides; expected N x N crops for N^3 volumes")
        squared = tf.square(planes - target)
        if self.window_sigma is not None:
            window = _gaussian_window(lag_ranges[1:], float(self.window_sigma), float(self.window_floor))
            squared = squared * (window[..., np.newaxis] ** 2).astype(np.float32)
        sse = tf.reduce_mean(tf.reduce_sum(squared, axis=[2, 3, 4]), axis=1)
        if self.isotropy > 0:
            sse += self.isotropy * self._off_plane_sse(stats, target, lag_ranges)
        sse = sse / float(self.scale) ** 2
        if self.metric == "sse":
            return sse
        if self.metric == "mse":
            return sse / float(np.prod(side) * len(self.correlations))
        return _safe_sqrt(sse)

    def _off_plane_sse(self, stats: tf.Tensor, target: tf.Tensor, lag_ranges) -> tf.Tensor:
        """The squared difference between the volumes' statistics ``stats`` ``(batch, A, A, A, n)`` at the
        lags in no coordinate plane and the radial profile of the micrographs' statistics ``target``
        ``(batch, planes, A, A, n)`` (their mean over the planes) interpolated there (:func:`isotropic_lags`):
        the mean over those lags (windowed as the planes are), times a plane's ``A * A * n`` values,
        ``(batch,)``."""
        lags = isotropic_lags(tuple(lag_ranges))
        if len(lags.off_plane) == 0:
            raise ValueError(f"isotropy compares the lags in no coordinate plane within the window's radius; "
                             f"volumes of {tuple(stats.shape[1:4])} lags have none: expected sides of at least 6")
        side, n = stats.shape[1], stats.shape[-1]
        volume = tf.gather(tf.reshape(stats, [-1, side**3, n]), lags.off_plane, axis=1)
        profile = tf.einsum("kl,bln->bkn", lags.shells, tf.reshape(tf.reduce_mean(target, axis=1), [-1, side**2, n]))
        weight = lags.weight[:, np.newaxis]
        expected = tf.gather(profile, lags.lower, axis=1) * (1.0 - weight) + tf.gather(profile, lags.upper, axis=1) * weight
        squared = tf.square(volume - expected)
        if self.window_sigma is not None:
            window = _lag_window(lags.radius**2, float(self.window_sigma), float(self.window_floor))
            squared = squared * (window[:, np.newaxis] ** 2).astype(np.float32)
        return tf.reduce_mean(squared, axis=[1, 2]) * float(side**2 * n)

    @_plain_python
    def slice_statistics(self, slices, eps: float | tf.Tensor | None = None) -> tf.Tensor:
        """The statistics of micrograph crops as :meth:`slice_distance` compares them with a volume's
        planes: ``(batch, 1, *window, n)`` for crops ``(batch, N, N, C)`` (one for all three planes),
        ``(batch, 3, *window, n)`` for crops ``(batch, 3, N, N, C)`` (one per plane); with
        ``symmetric_targets`` a crop for all three planes gives the mean statistics of its 8 rotations and
        reflections."""
        slices = _as_float_tensor(slices, "slices")
        if slices.shape.rank == 4:
            if not self.symmetric_targets:
                return self._statistics_at(slices, eps)[:, tf.newaxis]
            turns = [tf.image.rot90(slices, k) for k in range(4)]
            views = tf.concat([*turns, *(tf.transpose(turn, [0, 2, 1, 3]) for turn in turns)], axis=0)
            stats = self._statistics_at(views, eps)
            return tf.reduce_mean(tf.reshape(stats, [8, -1, *stats.shape[1:]]), axis=0)[:, tf.newaxis]
        if slices.shape.rank != 5 or slices.shape[1] != 3:
            raise ValueError(f"slices must be (batch, N, N, C) or (batch, 3, N, N, C), got {tuple(slices.shape)}")
        stats = self._statistics_at(tf.reshape(slices, [-1, *slices.shape[2:]]), eps)
        return tf.reshape(stats, [-1, 3, *stats.shape[1:]])

    @_plain_python
    def _statistics_at(self, images, eps: float | tf.Tensor | None) -> tf.Tensor:
        """:meth:`statistics` with the indicator's width ``eps`` (a number or a scalar tensor; ``None``:
        the options' own)."""
        if self.kind is None:
            return two_point_stats(images, self.correlations, self.periodic, self.cutoff)
        pairs = self.correlations
        maps = _phase_maps(images, self.n_phases, self.kind, self.eps if eps is None else eps, _used_states(pairs))
        spatial = tuple(next(iter(maps.values())).shape[1:])
        lag_ranges = _resolve_cutoff(self.cutoff, spatial, self.periodic)
        return _stack_last(_pair_statistics(maps, pairs, self.periodic, lag_ranges, len(spatial)))

    def n_values(self, spatial_shape: Sequence[int]) -> int:
        """Number of statistics compared for images of ``spatial_shape``: lags x correlations."""
        return n_lags(spatial_shape, self.periodic, self.cutoff) * len(self.correlations)

    def _distance_arguments(self) -> dict:
        """The fields :func:`spatial_stats_distance` takes (all but ``levels`` and the slices' ``isotropy``,
        ``symmetric_targets`` and ``target_shrink``)."""
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)
                if field.name not in ("levels", "isotropy", "symmetric_targets", "target_shrink")}

    def to_json(self) -> dict:
        """Plain JSON types: the form stored in ``config.json`` and ``.keras`` files."""
        record = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        record["correlations"] = [list(pair) for pair in self.correlations]
        return record

    @classmethod
    def from_json(cls, record: "Mapping | StatsOptions | None") -> "StatsOptions":
        """Options from :meth:`to_json`'s form, or a partial dict of fields (the rest default).

        Raises:
            ValueError: on an unknown field, naming it and the known ones.
        """
        return options_from_record(cls, record, "statistics options")


# --------------------------------------------------------------------------- #
# Radial profile of centred statistics (NumPy, for figures and reports)
# --------------------------------------------------------------------------- #
def radial_average(stats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Radially averaged centred statistics: ``S(|r|)`` per map.

    Args:
        stats: ``(n, *window)``, ``n`` centred maps with 2 or 3 spatial axes
            (one correlation each, e.g. ``statistics(...)[..., 0]``).  The
            first axis is always the batch axis: pass ``maps[None]`` for a
            single map.  Along a spatial axis of side ``s`` index ``i`` is the
            lag ``i - s // 2`` pixels, so the zero lag sits at index
            ``s // 2`` (what :func:`two_point_stats` returns, with any
            ``cutoff`` including ``"full"``).

    Returns:
        ``(radii, profile)``, both float64: ``radii`` ``(R,)`` the distinct
        values of ``round(|r|)`` in pixels, ascending (``|r|`` is never a
        half-integer, so the rounding has no ties), and ``profile`` ``(n, R)``
        the mean of each map over the lags ``r`` with ``round(|r|) == radius``.

    A 3x3 map, 1 at the zero lag and 0.5 at its four neighbours: the four
    diagonal lags (``|r| = 1.41``) also round to radius 1.

    >>> import numpy as np
    >>> stats = np.array([[[0.0, 0.5, 0.0],
    ...                    [0.5, 1.0, 0.5],
    ...                    [0.0, 0.5, 0.0]]])
    >>> radii, profile = radial_average(stats)
    >>> radii
    array([0., 1.])
    >>> profile
    array([[1.  , 0.25]])
    """
    stats = np.asarray(stats, dtype=np.float64)
    if stats.ndim not in (3, 4):
        raise ValueError(
            f"stats must have shape (n, *window) with 2 or 3 spatial axes, got shape {stats.shape}"
        )
    lags = np.meshgrid(*[np.arange(side) - side // 2 for side in stats.shape[1:]], indexing="ij")
    shells = np.rint(np.sqrt(sum(lag.astype(np.float64) ** 2 for lag in lags))).ravel()
    radii, shell_index = np.unique(shells, return_inverse=True)
    n, n_radii = len(stats), len(radii)
    bins = (shell_index[None, :] + n_radii * np.arange(n)[:, None]).ravel()
    sums = np.bincount(bins, weights=stats.reshape(-1), minlength=n * n_radii).reshape(n, n_radii)
    return radii, sums / np.bincount(shell_index, minlength=n_radii)


def batch_size_for(item_shape: tuple[int, ...]) -> int:
    """Images or volumes of ``item_shape`` ``(*spatial, channels)`` per batch (bounds memory): up to 256,
    fewer where 256 would hold more than 256 x 224 x 224 pixels (voxels)."""
    return int(np.clip(_BATCH_PIXELS // max(1, int(np.prod(item_shape[:-1]))), 1, _MAX_BATCH))
