"""Design microstructures whose two-point statistics match a target: in a trained decoder's latent
space, or pixel by pixel (the MCRpy-style baseline).

**Target.**  An image ``(H, W, 1)`` or volume ``(D, H, W, 1)`` in [0, 1]
(:func:`target_from_image`), or statistics alone (:func:`target_statistics`:
a volume fraction, optionally with a correlation length), both held as a
:class:`TargetStatistics`: the periodic autocorrelation ``S*`` of the
**black phase** (grey level 0, phase 0 of :class:`~ssvae_tf.stats.two_point.StatsOptions`,
the paper's line phase) at every lag, zero lag centred, of the target's hard
indicator (``x < 0.5``), and which lags count.  ``S*(0)`` is the target's
black volume fraction.

**Objective** (what every search minimises, per design ``x``)::

    J(x) = mean over lags r in W of (S(x)(r) - S*(r))^2 / S*(0)^2

``S(x)``: the differentiable autocorrelation of ``x``'s black phase that the
statistics options give (the soft indicator, ``eps = 0.25``, by default);
``W``: the target's lags, within ``|r_d| <= cutoff`` per axis when the options
set an integer ``cutoff`` (MCRpy's lag window).  Dividing by the target's
volume fraction squared (at least one pixel's worth, ``1 / N``) makes ``J``
free of the volume fraction's scale, so one ``prior_weight`` suits every
target.

**Methods** (:data:`METHODS`):

* ``encode``: design 0 decodes the target's posterior mean ``z_mean``; designs
  ``1..n-1`` decode posterior samples ``z_mean + exp(z_log_var / 2) * eps``
  (seeded), all in one decoder call.  Needs a target image.
* ``latent``: minimise ``J(D(z)) + prior_weight * ||z||^2`` over ``z`` with Adam,
  ``n`` restarts drawn from the prior ``N(0, I)`` optimised as one batch in one
  ``tf.function`` step (no host round trip per step); each restart keeps the
  best ``z`` it has visited.
* ``refine``: ``latent`` (or ``encode``, ``refine_from``), then
  ``refine_steps`` pixel iterations (as ``pixel``) warm-started from ``D(z)``.
* ``pixel``: the pixel-space baseline in MCRpy's style (Seibert et al. 2022):
  L-BFGS-B (``scipy.optimize``) on the pixels, bounded to [0, 1], one design
  at a time, gradients from the library's float32 statistics wrapped as
  float64.  Needs no model.  It starts from uniform noise on
  :data:`PIXEL_START` (mid grey), not on [0, 1]: the soft indicator is flat at
  0 and nearly so at 1, so pixels that reach a bound early stay there, and
  from [0, 1] the search stalls at 100x the statistics error or more
  (measured on 16-32 px random fields and lines, 200 iterations).

**Compiled once.**  The latent step (:class:`LatentSearch`) and the objective
with its gradient (:class:`CompiledObjective`) take the target, the prior
weight and the learning rate as tensors, and are cached per model, shape,
restart count and statistics options (:func:`latent_searcher`,
:func:`compiled_objective`, least recently used dropped beyond
:data:`SEARCH_CACHE_SIZE`): only the first design of a model and size traces
graphs, so the time of later designs is the search's alone.

**A decoder alone** (:func:`design_with_decoder`): a decoder served over gRPC
gives images but no gradients, so ``latent`` there is a derivative-free
evolution strategy over ``z`` (:func:`latent_evolution`, one decoder request
per generation), ``refine`` adds pixel iterations here, ``encode`` needs the
served encoder too.

**Realism** (:func:`realism`): statistics no search optimises, on the hard
phases: volume fraction, chord lengths (:func:`chord_lengths`), connected
components (:func:`component_sizes`).

**Error** (:func:`stats_error`): the evaluation's metric
(``ssvae_tf.evaluation.metrics``): the mean over the target's lags of the
squared difference between the target's hard and the design's soft
autocorrelation of the black phase, unnormalised.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tensorflow as tf

from ssvae_tf._checks import check_positive_int, is_int, is_real
from ssvae_tf._progress import ticker
from ssvae_tf.inference import Objective
from ssvae_tf.evaluation.metrics import line_statistics, stats_mse
from ssvae_tf.stats.two_point import StatsOptions

#: The design methods, in order of cost.
METHODS = ("encode", "latent", "refine", "pixel")
#: Iterations of each method's search when ``steps`` is not given: Adam steps (``latent``, and
#: ``refine``'s latent start) or L-BFGS-B iterations per design (``pixel``, MCRpy's default 500).
DEFAULT_STEPS = {"encode": 0, "latent": 200, "refine": 200, "pixel": 500}
#: Shortest side of a target image or volume, in pixels.
MIN_TARGET_SIDE = 4
#: Range of the uniform noise that ``pixel`` starts from (grey levels).
PIXEL_START = (0.4, 0.6)
#: Weight of ``||z||^2`` in the latent objective, and Adam's step size, when not given.  ``J`` of good
#: designs is 1e-3 to 1e-1, and the trained models' posteriors sit far from ``N(0, I)`` (``|z_mean|``
#: 6-15 for the line, random-field and real 2-D models: the KL weight is small), so a weight of 1e-3
#: (about 0.05-0.2 at those ``|z|``) held the search off the data: on 64 px targets its error stayed
#: 10-100x above the one reached with 1e-5 (benchmarks/bench_design.py, docs/design.md).
DEFAULT_PRIOR_WEIGHT, DEFAULT_LEARNING_RATE = 1e-5, 0.1
#: Where ``refine`` starts its pixel iterations.
REFINE_STARTS = ("latent", "encode")
#: Indicators with a gradient, which a search can follow.
_DIFFERENTIABLE_KINDS = ("soft", "linear")



# --------------------------------------------------------------------------- #
# Targets
# --------------------------------------------------------------------------- #
@dataclass(frozen=True, eq=False)
class TargetStatistics:
    """What a design should match.

    Attributes:
        stats: float32 ``(*spatial)``: the periodic autocorrelation of the
            black phase's hard indicator at every lag, zero lag at index
            ``side // 2`` per axis (``line_statistics(.., "hard")``).
        lags: bool ``(*spatial)``: the lags that count (all of them for an
            image; only the zero lag for a bare volume fraction).
        image: the target image or volume ``(*spatial, 1)`` in [0, 1], or
            ``None`` for statistics alone.
        description: the target in words, for reports.
    """

    stats: np.ndarray
    lags: np.ndarray
    image: np.ndarray | None = None
    description: str = ""

    def __post_init__(self):
        object.__setattr__(self, "stats", np.asarray(self.stats, np.float32))
        object.__setattr__(self, "lags", np.asarray(self.lags, bool))
        if self.stats.ndim not in (2, 3) or self.lags.shape != self.stats.shape:
            raise ValueError(f"target statistics need 2 or 3 spatial axes and a lag mask of their shape, got "
                             f"stats {self.stats.shape} and lags {self.lags.shape}")
        if not self.lags[_zero_lag(self.shape)]:
            raise ValueError("the target's lags must include the zero lag (its volume fraction)")
        if not np.isfinite(self.stats[self.lags]).all():
            raise ValueError("the target statistics contain NaN or Inf values at lags that count; expected "
                             "finite numbers")

    @property
    def shape(self) -> tuple[int, ...]:
        """Spatial shape ``(H, W)`` or ``(D, H, W)``."""
        return tuple(self.stats.shape)

    @property
    def volume_fraction(self) -> float:
        """Fraction of black (phase-0) pixels: the zero lag of ``stats``."""
        return float(self.stats[_zero_lag(self.shape)])


def _zero_lag(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Index of the zero lag in a centred map of ``shape``."""
    return tuple(side // 2 for side in shape)


def _size(shape: tuple[int, ...]) -> str:
    """``(32, 32)`` -> ``"32x32 px image"``, ``(16, 16, 16)`` -> ``"16x16x16 voxel volume"``."""
    return "x".join(str(side) for side in shape) + (" px image" if len(shape) == 2 else " voxel volume")


def single_image(image: Any, what: str = "target") -> np.ndarray:
    """One image or volume as float32 ``(*spatial, 1)``, checked.

    Accepts ``(H, W)``, ``(H, W, 1)``, ``(D, H, W)``, ``(D, H, W, 1)`` or a
    stack of one, ``(1, *spatial, 1)``; every side at least :data:`MIN_TARGET_SIDE`
    (so a stack of a few images is not taken for a thin volume).

    Raises:
        ValueError: naming ``what`` for another shape, a non-numeric dtype,
            NaN/Inf or values outside [0, 1].
    """
    array = np.asarray(image)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{what} has dtype {array.dtype}; expected numbers in [0, 1]")
    spatial = array
    if spatial.ndim in (4, 5) and spatial.shape[0] == 1 and spatial.shape[-1] == 1:
        spatial = spatial[0]
    if spatial.ndim in (3, 4) and spatial.shape[-1] == 1:
        spatial = spatial[..., 0]
    if spatial.ndim not in (2, 3) or min(spatial.shape) < MIN_TARGET_SIDE:
        raise ValueError(f"{what} has shape {array.shape}; expected one image (H, W[, 1]) or volume (D, H, W[, 1]), "
                         f"sides >= {MIN_TARGET_SIDE}")
    values = spatial.astype(np.float32)
    if not np.isfinite(values).all():
        raise ValueError(f"{what} contains NaN or Inf values; expected numbers in [0, 1]")
    if values.min() < 0 or values.max() > 1:
        raise ValueError(f"{what} has values in [{values.min():g}, {values.max():g}]; expected values in [0, 1]")
    return values[..., np.newaxis]


def target_from_image(image: Any, what: str = "target") -> TargetStatistics:
    """The statistics of a target image or volume (see :func:`single_image` for the shapes accepted).

    Every lag counts; the image is kept (``encode`` needs it).
    """
    image = single_image(image, what)
    stats = line_statistics(image[np.newaxis], "hard")[0]
    return TargetStatistics(stats, np.ones(stats.shape, bool), image,
                            f"{what} ({_size(stats.shape)}, black fraction {stats[_zero_lag(stats.shape)]:.3f})")


def target_statistics(
    volume_fraction: float,
    correlation_length: float | tuple[float, ...] | None = None,
    shape: tuple[int, ...] = (64, 64),
    n_fields: int = 64,
    seed: int = 0,
) -> TargetStatistics:
    """Target statistics from scalars.

    ``volume_fraction`` is the fraction of **black** (phase-0, grey level 0)
    pixels, the phase the statistics describe.

    * Without ``correlation_length`` only the volume fraction is asked for:
      the target constrains the zero lag alone (``S*(0) = volume_fraction``),
      and the arrangement is left to the search (in latent space: to what the
      decoder learnt).
    * With ``correlation_length`` (px, one number or one per axis), the target
      is the mean hard autocorrelation, every lag, of ``n_fields`` thresholded
      Gaussian random fields (:func:`ssvae_tf.data.generate_random_fields`:
      white noise smoothed by a Gaussian of that standard deviation, its
      lowest ``volume_fraction`` black), so ``S*(0)`` is the volume fraction
      to within half a pixel (``0.5 / prod(shape)``), and ``S*`` falls towards
      ``volume_fraction^2`` over a few correlation lengths (its mean over all
      lags is ``S*(0)^2``: every field has the same number of black pixels).

    Args:
        shape: spatial shape ``(H, W)`` or ``(D, H, W)`` (a model's image shape).
        n_fields, seed: how many random fields are averaged, and their seed.

    Raises:
        ValueError: for a volume fraction outside (0, 1) (all black or all
            white leaves nothing to design), a bad shape or correlation length.
    """
    if not is_real(volume_fraction) or not 0 < volume_fraction < 1:
        raise ValueError(f"volume_fraction must be a number in (0, 1) (the fraction of black pixels), got "
                         f"{volume_fraction!r}: no structure has that fraction and two phases")
    if not isinstance(shape, (tuple, list)) or len(shape) not in (2, 3) or not all(
            is_int(side) and side >= MIN_TARGET_SIDE for side in shape):
        raise ValueError(f"shape must have 2 or 3 sides, each an int >= {MIN_TARGET_SIDE}, got {shape!r}")
    shape = tuple(int(side) for side in shape)
    if correlation_length is None:
        stats = np.zeros(shape, np.float32)
        lags = np.zeros(shape, bool)
        stats[_zero_lag(shape)], lags[_zero_lag(shape)] = volume_fraction, True
        return TargetStatistics(stats, lags, None, f"black fraction {volume_fraction:g}")
    from ssvae_tf.data import generate_random_fields

    # the generator makes the largest values white (phase 1): 1 - fraction white leaves fraction black
    fields = generate_random_fields(check_positive_int(n_fields, "n_fields"), shape, 1.0 - float(volume_fraction),
                                    correlation_length, seed=seed, progress=False)
    stats = line_statistics(fields.images, "hard").mean(axis=0)
    return TargetStatistics(stats, np.ones(shape, bool), None,
                            f"black fraction {volume_fraction:g}, correlation length {correlation_length} px "
                            f"(mean of {len(fields)} random fields)")


def as_target(target: np.ndarray | TargetStatistics) -> TargetStatistics:
    """``target`` itself, or the statistics of a target image (:func:`target_from_image`)."""
    return target if isinstance(target, TargetStatistics) else target_from_image(target)


def check_fits(model, shape: tuple[int, ...], what: str = "target") -> None:
    """Raise ``ValueError`` unless ``model`` takes one-channel images of spatial ``shape``."""
    expected = tuple(model.image_shape)
    if expected != (*shape, 1):
        channels = "" if expected[-1] == 1 else f" with {expected[-1]} channels"
        raise ValueError(f"{what} is a {_size(tuple(shape))} but the model takes {_size(expected[:-1])}s"
                         f"{channels}; expected a {what} of the model's size")


# --------------------------------------------------------------------------- #
# Objective and error
# --------------------------------------------------------------------------- #
def design_options(stats_options: StatsOptions | dict | None = None) -> StatsOptions:
    """The statistics options of a design objective, checked: the periodic autocorrelation of phase 0
    of two phases, with a differentiable indicator (default: :class:`StatsOptions`' defaults, the
    evaluation's soft indicator); ``cutoff`` may set a lag window."""
    options = StatsOptions.from_json(stats_options)
    if (options.correlations != ((0, 0),) or options.n_phases != 2 or not options.periodic
            or options.kind not in _DIFFERENTIABLE_KINDS):
        raise ValueError(
            "design matches the periodic autocorrelation of the black phase with a differentiable indicator: "
            f"stats_options needs correlations ((0, 0),), n_phases 2, periodic True and kind in "
            f"{_DIFFERENTIABLE_KINDS}, got correlations {options.correlations}, n_phases {options.n_phases}, "
            f"periodic {options.periodic}, kind {options.kind!r}")
    return options


def _lag_weights(target: TargetStatistics, cutoff) -> np.ndarray:
    """float32 ``(*spatial)``: ``1 / (count * S*(0)^2)`` on the lags of the objective (the target's,
    within ``|r_d| <= cutoff``), 0 elsewhere."""
    counted = target.lags.copy()
    if cutoff != "full":
        for axis, side in enumerate(target.shape):
            lag = np.abs(np.arange(side) - side // 2)
            counted &= np.expand_dims(lag <= cutoff, [a for a in range(len(target.shape)) if a != axis])
    scale = max(target.volume_fraction, 1.0 / np.prod(target.shape)) ** 2
    return (counted / (counted.sum() * scale)).astype(np.float32)


def stats_objective(target: TargetStatistics, stats_options: StatsOptions | dict | None = None) -> Objective:
    """The design objective ``J`` (module doc) as a TensorFlow function.

    Returns:
        ``objective(images)``: float32 ``(n, *spatial, 1)`` in [0, 1] -> float32
        ``(n,)``, differentiable, usable inside ``tf.function``.
    """
    options = design_options(stats_options)
    reference, weights = _target_tensors(target, options)
    core = _objective_core(options, len(target.shape))

    def objective(images: tf.Tensor) -> tf.Tensor:
        return core(images, reference, weights)

    return objective


def _target_tensors(target: TargetStatistics, options: StatsOptions) -> tuple[tf.Tensor, tf.Tensor]:
    """The target's side of ``J``: its statistics ``S*`` and the lag weights, float32 ``(*spatial)`` each."""
    return (tf.constant(target.stats.astype(np.float32)),
            tf.constant(_lag_weights(target, options.cutoff)))


def _objective_core(options: StatsOptions, rank: int) -> Callable[[tf.Tensor, tf.Tensor, tf.Tensor], tf.Tensor]:
    """``J`` with the target as arguments: ``(images, reference, weights) -> (n,)``, so one compiled
    function serves every target of a shape (see :class:`CompiledObjective`)."""
    every_lag = options.replace(cutoff="full")
    axes = list(range(1, rank + 1))

    def objective(images: tf.Tensor, reference: tf.Tensor, weights: tf.Tensor) -> tf.Tensor:
        stats = every_lag.statistics(images)[..., 0]
        return tf.reduce_sum(weights * tf.square(stats - reference), axis=axes)

    return objective


def stats_error(target: TargetStatistics, images: np.ndarray) -> np.ndarray:
    """The evaluation's statistics error of each design against the target: float64 ``(n,)``.

    Mean over the target's lags of the squared difference between its hard
    and the design's soft black-phase autocorrelation (``stats_mse`` of
    ``line_statistics``), unnormalised: 0 for a perfect match.
    """
    soft = line_statistics(images, "soft")
    return stats_mse(target.stats[target.lags][np.newaxis], soft[:, target.lags])


# --------------------------------------------------------------------------- #
# Searches
# --------------------------------------------------------------------------- #
# ------------------------------------------------------------ compiled and cached
#: Most compiled searches and objectives kept (least recently used dropped first).  Each holds its
#: graphs and a few variables of ``(n, latent_dim)``; a latent search also holds its model.
SEARCH_CACHE_SIZE = 16
#: Adam's constants (Keras' defaults, which :func:`~ssvae_tf.inference.latent_search` uses).
_ADAM = (0.9, 0.999, 1e-7)

_SEARCHES: OrderedDict[tuple, Any] = OrderedDict()


def _options_key(options: StatsOptions) -> str:
    return json.dumps(options.to_json(), sort_keys=True)


def _cached(key: tuple, build: Callable[[], Any]) -> Any:
    """The cached value of ``key``, built (and the least recently used dropped) when absent."""
    if key in _SEARCHES:
        _SEARCHES.move_to_end(key)
        return _SEARCHES[key]
    value = _SEARCHES[key] = build()
    while len(_SEARCHES) > SEARCH_CACHE_SIZE:
        _SEARCHES.popitem(last=False)
    return value


def clear_search_cache() -> None:
    """Forget every compiled search and objective (:func:`latent_searcher`, :func:`compiled_objective`)."""
    _SEARCHES.clear()


def _spec(shape: tuple[int | None, ...]) -> tf.TensorSpec:
    return tf.TensorSpec(shape, tf.float32)


class CompiledObjective:
    """``J`` for one spatial shape and statistics options, compiled once, the target passed in.

    Attributes:
        values: ``(images (b, *spatial, 1), reference, weights) -> (b,)``, any batch size ``b``.
        value_and_gradient: ``(image (1, *spatial, 1), reference, weights) -> (J, dJ/dimage)``.
        traces: how often either has been traced (1 each once warm, whatever the target).
    """

    def __init__(self, shape: tuple[int, ...], options: StatsOptions):
        self.shape, self.traces = tuple(shape), 0
        core = _objective_core(options, len(shape))
        target = [_spec(self.shape), _spec(self.shape)]

        @tf.function(input_signature=[_spec((None, *self.shape, 1)), *target])
        def values(images, reference, weights):
            self.traces += 1
            return core(images, reference, weights)

        @tf.function(input_signature=[_spec((1, *self.shape, 1)), *target])
        def value_and_gradient(image, reference, weights):
            self.traces += 1
            with tf.GradientTape() as tape:
                tape.watch(image)
                value = core(image, reference, weights)[0]
            return value, tape.gradient(value, image)

        self.values, self.value_and_gradient = values, value_and_gradient


def compiled_objective(shape: tuple[int, ...], stats_options: StatsOptions | dict | None = None) -> CompiledObjective:
    """The cached :class:`CompiledObjective` of ``shape`` and the options (:func:`design_options`)."""
    options = design_options(stats_options)
    return _cached(("objective", tuple(shape), _options_key(options)), lambda: CompiledObjective(shape, options))


class LatentSearch:
    """Adam over ``z`` for one model, spatial shape, restart count ``n`` and statistics options, compiled once.

    Minimises ``J(decode(z)) + prior_weight * ||z||^2`` for ``n`` restarts as
    one batch; the target, the prior weight and the learning rate are
    arguments of the compiled step (tensors), so a new target, seed, weight,
    rate or step count reuses the graph: :func:`design` gets these from
    :func:`latent_searcher`, and designs per second count no tracing once it is
    warm.  Not thread-safe (its variables hold one search at a time).

    Attributes:
        traces: how often the step and the final evaluation have been traced
            (2 once warm, whatever was searched since).
    """

    def __init__(self, decode: Callable[[tf.Tensor], tf.Tensor], latent_dim: int, n: int, shape: tuple[int, ...],
                 options: StatsOptions):
        self.latent_dim, self.n, self.shape, self.traces = int(latent_dim), int(n), tuple(shape), 0
        core = _objective_core(options, len(shape))
        zeros = tf.zeros((self.n, self.latent_dim))
        self._z, self._m, self._v, self._best_z = (tf.Variable(zeros, trainable=False) for _ in range(4))
        self._best = tf.Variable(tf.fill([self.n], np.inf), trainable=False)
        self._t = tf.Variable(0.0, trainable=False)
        beta_1, beta_2, epsilon = _ADAM
        arguments = [_spec(self.shape), _spec(self.shape), _spec(())]

        def evaluate(reference, weights, prior_weight):
            """``(total, J)`` at the current ``z``, each ``(n,)``, the best kept."""
            stats = core(decode(self._z), reference, weights)
            total = stats + prior_weight * tf.reduce_sum(tf.square(self._z), axis=1)
            self._best_z.assign(tf.where((total < self._best)[:, None], self._z, self._best_z))
            self._best.assign(tf.minimum(total, self._best))
            return total, stats

        @tf.function(input_signature=[*arguments, _spec(())])
        def step(reference, weights, prior_weight, learning_rate):
            self.traces += 1
            with tf.GradientTape() as tape:
                tape.watch(self._z)
                total, stats = evaluate(reference, weights, prior_weight)
                summed = tf.reduce_sum(total)
            gradient = tape.gradient(summed, self._z)
            t = self._t.assign_add(1.0)
            m = self._m.assign_add((gradient - self._m) * (1.0 - beta_1))
            v = self._v.assign_add((tf.square(gradient) - self._v) * (1.0 - beta_2))
            alpha = learning_rate * tf.sqrt(1.0 - beta_2 ** t) / (1.0 - beta_1 ** t)
            self._z.assign_sub(alpha * m / (tf.sqrt(v) + epsilon))
            return total, stats

        @tf.function(input_signature=arguments)
        def finish(reference, weights, prior_weight):
            self.traces += 1
            return evaluate(reference, weights, prior_weight)

        self._step, self._finish = step, finish

    def run(self, z0: np.ndarray, reference: tf.Tensor, weights: tf.Tensor, prior_weight: float,
            learning_rate: float, steps: int, tick: Callable[[], None] = lambda: None) -> dict[str, np.ndarray]:
        """Search from ``z0`` ``(n, latent_dim)`` for ``steps`` Adam steps.

        Returns:
            ``z``: float32 ``(n, latent_dim)``, each restart's best point;
            ``total`` and ``objective``: float64 ``(steps + 1, n)``, the loss
            with and without the prior term at every iterate (row 0: at
            ``z0``); ``clock``: float64 ``(steps + 1, n)``, seconds since the
            search started when each row was known.
        """
        z0 = np.asarray(z0, np.float32)
        if z0.shape != (self.n, self.latent_dim):
            raise ValueError(f"z0 has shape {z0.shape}; this search takes ({self.n}, {self.latent_dim})")
        started = time.perf_counter()
        self._z.assign(z0)
        self._best_z.assign(z0)
        for variable in (self._m, self._v):
            variable.assign(tf.zeros_like(variable))
        self._best.assign(tf.fill([self.n], np.inf))
        self._t.assign(0.0)
        prior, rate = tf.constant(prior_weight, tf.float32), tf.constant(learning_rate, tf.float32)
        rows, clock = [], []
        for _ in range(steps):
            rows.append(self._step(reference, weights, prior, rate))
            clock.append(time.perf_counter() - started)
            tick()
        rows.append(self._finish(reference, weights, prior))
        z = self._best_z.numpy()
        clock.append(time.perf_counter() - started)
        totals, objectives = (tf.stack([row[i] for row in rows]).numpy().astype(np.float64) for i in (0, 1))
        return {"z": z, "total": totals, "objective": objectives,
                "clock": np.repeat(np.asarray(clock)[:, None], self.n, axis=1)}


def latent_searcher(model, shape: tuple[int, ...], n: int,
                    stats_options: StatsOptions | dict | None = None) -> LatentSearch:
    """The cached :class:`LatentSearch` of ``model`` (its ``decode`` and ``latent_dim``), ``shape``,
    ``n`` restarts and the statistics options (:func:`design_options`).  The cache holds the model
    (so its ``id`` is not reused while cached); :func:`clear_search_cache` empties it."""
    options = design_options(stats_options)
    key = ("latent", id(model), tuple(shape), int(n), int(model.latent_dim), _options_key(options))
    searcher = _cached(key, lambda: (model, LatentSearch(model.decode, model.latent_dim, n, shape, options)))
    return searcher[1]


def _lbfgsb(value_and_gradient: Callable[[np.ndarray], tuple[Any, Any]], starts: np.ndarray, steps: int,
            tick: Callable[[], None]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """L-BFGS-B from each start, one at a time: ``(images, history, clock)`` (see :func:`pixel_search`);
    ``clock``: seconds since that design's search started when each row of ``history`` was known."""
    from scipy.optimize import Bounds, minimize

    shape = starts.shape[1:]

    def evaluate(flat: np.ndarray) -> tuple[float, np.ndarray]:
        value, gradient = value_and_gradient(flat.reshape(1, *shape).astype(np.float32))
        return float(value), np.asarray(gradient).ravel().astype(np.float64)

    images = np.empty(starts.shape, np.float32)
    history, clock = np.empty((steps + 1, len(starts))), np.empty((steps + 1, len(starts)))
    for i, start in enumerate(np.asarray(starts, np.float64)):
        started = time.perf_counter()
        trace = [evaluate(start.ravel())[0]]
        times = [time.perf_counter() - started]

        def record(intermediate_result) -> None:
            trace.append(float(intermediate_result.fun))
            times.append(time.perf_counter() - started)
            tick()

        if steps:
            result = minimize(evaluate, start.ravel(), jac=True, method="L-BFGS-B", bounds=Bounds(0.0, 1.0),
                              callback=record, options={"maxiter": steps, "ftol": 0.0, "gtol": 0.0})
            start = result.x
        images[i] = start.reshape(shape)
        for _ in range(steps + 1 - len(trace)):  # stopped early: hold the last value, finish its ticks
            trace.append(trace[-1])
            times.append(times[-1])
            tick()
        history[:, i], clock[:, i] = trace, times
    return images, history, clock


def pixel_search(objective: Objective, starts: np.ndarray, steps: int,
                 tick: Callable[[], None] = lambda: None) -> tuple[np.ndarray, np.ndarray]:
    """Minimise ``objective`` over the pixels of each start ``(n, *spatial, 1)``, bounded to [0, 1].

    L-BFGS-B (``scipy.optimize.minimize``), at most ``steps`` iterations per
    design, one design at a time; value and gradient come from one compiled
    float32 TensorFlow call, handed to SciPy as float64.  No tolerance stops
    it early: it runs its ``steps`` unless the line search can make no progress.
    A generic helper: it compiles ``objective`` on every call (:func:`design`
    uses the cached :func:`compiled_objective` instead).

    Returns:
        ``(images, history)``: float32 ``(n, *spatial, 1)`` and float64
        ``(steps + 1, n)``, the objective at the start and after each
        iteration (a design that stopped early keeps its last value).
    """
    shape = starts.shape[1:]

    @tf.function(input_signature=[tf.TensorSpec((1, *shape), tf.float32)])
    def value_and_gradient(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            value = objective(x)[0]
        return value, tape.gradient(value, x)

    images, history, _ = _lbfgsb(lambda x: [t.numpy() for t in value_and_gradient(x)], starts, steps, tick)
    return images, history



# --------------------------------------------------------------------------- #
# The entry point
# --------------------------------------------------------------------------- #
@dataclass(frozen=True, eq=False)
class Designs:
    """What :func:`design` found.

    Attributes:
        images: float32 ``(n, *spatial, 1)`` in [0, 1].
        stats_error: float64 ``(n,)``, the evaluation's statistics error
            against the target (:func:`stats_error`).
        objective: float64 ``(n,)``, the objective ``J`` of each design (module
            doc; without the prior term).
        seconds: wall time of the search, from the first model or
            statistics call to the designs in memory, graph tracing included
            (it dominates tiny problems; the compiled searches are cached, see
            :func:`latent_searcher`, so only a model's, shape's or ``n``'s first
            search traces).
        method: one of :data:`METHODS`.
        latents: float32 ``(n, latent_dim)``, the latent vectors decoded
            (``refine``: before its pixel iterations), or ``None`` (``pixel``).
        history: the objective at every iterate of each search, per phase:
            ``"latent"`` (with the prior term) and ``"latent_objective"``
            (``J`` alone), and/or ``"pixel"``, each float64
            ``(iterations + 1, n)``; empty for ``encode``.  A derivative-free
            latent search (:func:`design_with_decoder`) records each restart's
            best so far, one row per generation.
        settings: the settings used, JSON types.
        clock: per phase of ``history``, float64 of its shape: seconds since
            that phase's search started when each row was known (``"pixel"``:
            since that design's own L-BFGS-B began; designs run one after
            another).
    """

    images: np.ndarray
    stats_error: np.ndarray
    objective: np.ndarray
    seconds: float
    method: str
    latents: np.ndarray | None = None
    history: dict[str, np.ndarray] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    clock: dict[str, np.ndarray] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Everything but the arrays of images, latents and history, as JSON types."""
        return {
            "method": self.method,
            "n": len(self.images),
            "seconds": self.seconds,
            "seconds_per_design": self.seconds / len(self.images),
            "stats_error": self.stats_error.tolist(),
            "stats_error_mean": float(self.stats_error.mean()),
            "stats_error_median": float(np.median(self.stats_error)),
            "stats_error_min": float(self.stats_error.min()),
            "objective": self.objective.tolist(),
            "settings": self.settings,
        }


def _check_choice(value: str, choices: tuple[str, ...], name: str) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def _check_count(value: Any, name: str) -> int:
    if not is_int(value) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


def _check_positive(value: Any, name: str, allow_zero: bool = False) -> float:
    if not is_real(value) or not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be a finite number {'>=' if allow_zero else '>'} 0, got {value!r}")
    return float(value)


def _checked_settings(method: str, n: int, steps: int | None, seed: int, prior_weight: float,
                      learning_rate: float, refine_steps: int, refine_from: str) -> dict[str, Any]:
    """:func:`design`'s settings, checked, as JSON types (``steps`` resolved to the method's default)."""
    _check_choice(method, METHODS, "method")
    _check_choice(refine_from, REFINE_STARTS, "refine_from")
    return {
        "n": check_positive_int(n, "n"),
        "steps": _check_count(DEFAULT_STEPS[method] if steps is None else steps, "steps"),
        "seed": _check_count(seed, "seed"),
        "prior_weight": _check_positive(prior_weight, "prior_weight", allow_zero=True),
        "learning_rate": _check_positive(learning_rate, "learning_rate"),
        "refine_steps": _check_count(refine_steps, "refine_steps"),
        "refine_from": refine_from,
    }


def _starting_point(method: str, settings: dict[str, Any]) -> str:
    """How a method's designs begin: ``"pixel"`` (random pixels), ``"encode"`` or ``"latent"``."""
    return settings["refine_from"] if method == "refine" else method


def _iterations(method: str, settings: dict[str, Any]) -> int:
    """Iterations a search will take at most, for its progress bar: Adam steps plus L-BFGS-B iterations."""
    latent = settings["steps"] if _starting_point(method, settings) == "latent" else 0
    pixel = {"pixel": settings["steps"], "refine": settings["refine_steps"]}.get(method, 0)
    return latent + settings["n"] * pixel


def _encode_latents(encode: Callable[[np.ndarray], Any], target: TargetStatistics, n: int,
                    rng: np.random.Generator) -> np.ndarray:
    """``(n, latent_dim)``: the target's posterior mean, then ``n - 1`` posterior samples (``encode``:
    images -> ``(z_mean, z_log_var)``, e.g. ``model.encode`` or a served encoder)."""
    if target.image is None:
        raise ValueError(f"method 'encode' needs a target image; the target is statistics only "
                         f"({target.description}): use latent, refine or pixel")
    z_mean, z_log_var = (np.asarray(t, np.float32) for t in encode(target.image[np.newaxis]))
    noise = rng.standard_normal((n - 1, z_mean.shape[1])).astype(np.float32)
    return np.concatenate([z_mean, z_mean + np.exp(0.5 * z_log_var) * noise])


def _pixel_phase(target: TargetStatistics, options: StatsOptions, starts: np.ndarray, steps: int,
                 tick: Callable[[], None]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """L-BFGS-B on the pixels of ``starts`` with the cached compiled objective: ``(images, history, clock)``."""
    compiled = compiled_objective(target.shape, options)
    reference, weights = _target_tensors(target, options)

    def value_and_gradient(x: np.ndarray):
        value, gradient = compiled.value_and_gradient(x, reference, weights)
        return value.numpy(), gradient.numpy()

    return _lbfgsb(value_and_gradient, starts, steps, tick)


def _search(model, target: TargetStatistics, method: str, settings: dict[str, Any], options: StatsOptions,
            tick: Callable[[], None]) -> tuple[np.ndarray, np.ndarray | None, dict[str, np.ndarray],
                                               dict[str, np.ndarray]]:
    """Run ``method``: ``(images, latents, history, clock)`` as :class:`Designs` holds them."""
    rng = np.random.default_rng(settings["seed"])
    n, start = settings["n"], _starting_point(method, settings)
    history, clock, latents = {}, {}, None
    if start == "pixel":
        images = rng.uniform(*PIXEL_START, size=(n, *target.shape, 1)).astype(np.float32)
    else:
        if start == "encode":
            latents = _encode_latents(model.encode, target, n, rng)
        else:
            z0 = rng.standard_normal((n, model.latent_dim)).astype(np.float32)
            searcher = latent_searcher(model, target.shape, n, options)
            found = searcher.run(z0, *_target_tensors(target, options), settings["prior_weight"],
                                 settings["learning_rate"], settings["steps"], tick)
            latents, history["latent"], history["latent_objective"] = found["z"], found["total"], found["objective"]
            clock["latent"] = clock["latent_objective"] = found["clock"]
        images = np.asarray(model.decode(latents), np.float32)
    if method in ("pixel", "refine"):
        pixel_steps = settings["steps" if method == "pixel" else "refine_steps"]
        images, history["pixel"], clock["pixel"] = _pixel_phase(target, options, images, pixel_steps, tick)
    return images, latents, history, clock


def design(
    model,
    target: np.ndarray | TargetStatistics,
    method: str = "latent",
    n: int = 16,
    steps: int | None = None,
    seed: int = 0,
    stats_options: StatsOptions | dict | None = None,
    prior_weight: float = DEFAULT_PRIOR_WEIGHT,
    learning_rate: float = DEFAULT_LEARNING_RATE,
    refine_steps: int = 50,
    refine_from: str = "latent",
    progress: bool = False,
) -> Designs:
    """Find ``n`` structures whose statistics match ``target`` (methods, objective, error: module doc).

    Args:
        model: a :class:`~ssvae_tf.model.SpatialStatsVAE` whose images have the
            target's size, or ``None`` for ``pixel`` (which ignores it).
        target: an image or volume ``(*spatial, 1)`` in [0, 1]
            (:func:`single_image` lists the shapes accepted), or
            :class:`TargetStatistics` (:func:`target_statistics`).
        method: one of :data:`METHODS`.
        n: designs.
        steps: iterations of the search: Adam steps (``latent``, and
            ``refine`` from ``latent``) or L-BFGS-B iterations per design
            (``pixel``); default :data:`DEFAULT_STEPS`.  ``encode`` takes none.
        seed: seed of the starts (prior draws, posterior noise, random pixels), >= 0.
        stats_options: the objective's statistics (:func:`design_options`).
        prior_weight: weight of ``||z||^2`` in the latent objective (default
            :data:`DEFAULT_PRIOR_WEIGHT`).
        learning_rate: Adam's step size, in latent units (default :data:`DEFAULT_LEARNING_RATE`).
        refine_steps: L-BFGS-B iterations per design after ``refine``'s start.
        refine_from: ``refine``'s start, one of :data:`REFINE_STARTS`.
        progress: show a progress bar on a terminal.

    Raises:
        ValueError: (one line) for a bad target, a target of another size or
            dimensionality than the model's, a missing model, or a bad setting.
    """
    settings = _checked_settings(method, n, steps, seed, prior_weight, learning_rate, refine_steps, refine_from)
    target = as_target(target)
    options = design_options(stats_options)
    if _starting_point(method, settings) != "pixel":
        if model is None:
            raise ValueError(f"method {method!r} needs a model; only 'pixel' designs without one")
        check_fits(model, target.shape)
    tick = ticker(_iterations(method, settings), progress)
    started = time.perf_counter()
    images, latents, history, clock = _search(model, target, method, settings, options, tick)
    final = compiled_objective(target.shape, options).values(images, *_target_tensors(target, options))
    seconds = time.perf_counter() - started
    return Designs(images, stats_error(target, images), final.numpy().astype(np.float64), seconds, method, latents,
                   history, {**settings, "stats_options": options.to_json()}, clock)


def refine_designs(start: Designs, target: np.ndarray | TargetStatistics, refine_steps: int = 50,
                   stats_options: StatsOptions | dict | None = None, progress: bool = False) -> Designs:
    """``refine`` from designs already found: ``refine_steps`` L-BFGS-B iterations on the pixels of
    each of ``start``'s images (what :func:`design`'s ``refine`` does after its latent or encode start).

    Returns:
        :class:`Designs` of method ``"refine"``: ``seconds`` adds the pixel
        iterations' to ``start``'s, ``latents``, ``history`` and ``clock`` keep
        ``start``'s phases and add ``"pixel"``.
    """
    refine_steps = _check_count(refine_steps, "refine_steps")
    target = as_target(target)
    options = design_options(stats_options)
    images = np.asarray(start.images, np.float32)
    if images.shape[1:] != (*target.shape, 1):
        raise ValueError(f"the designs have shape {images.shape[1:]} but the target needs "
                         f"{(*target.shape, 1)}; expected designs of the target's size")
    started = time.perf_counter()
    tick = ticker(len(images) * refine_steps, progress)
    images, pixel_history, pixel_clock = _pixel_phase(target, options, images, refine_steps, tick)
    final = compiled_objective(target.shape, options).values(images, *_target_tensors(target, options))
    seconds = start.seconds + time.perf_counter() - started
    return Designs(images, stats_error(target, images), final.numpy().astype(np.float64), seconds, "refine",
                   start.latents, {**start.history, "pixel": pixel_history},
                   {**start.settings, "refine_steps": refine_steps, "refine_from": start.method,
                    "stats_options": options.to_json()},
                   {**start.clock, "pixel": pixel_clock})


def interpolate(model, a: Any, b: Any, frames: int = 8) -> np.ndarray:
    """Decode the straight line between the posterior means of images ``a`` and ``b``.

    Args:
        model: a :class:`~ssvae_tf.model.SpatialStatsVAE`.
        a, b: images or volumes of the model's size (:func:`single_image`).
        frames: points on the line, both ends included (>= 2).

    Returns:
        float32 ``(frames, *spatial, 1)``: ``decode((1 - t) z_a + t z_b)`` for
        ``t`` evenly spaced in [0, 1].
    """
    frames = check_positive_int(frames, "frames")
    if frames < 2:
        raise ValueError(f"frames must be >= 2 (both ends), got {frames}")
    ends = []
    for image, what in ((a, "first image"), (b, "second image")):
        image = single_image(image, what)
        check_fits(model, image.shape[:-1], what)
        ends.append(image)
    z_mean, _ = model.encode(np.stack(ends))
    t = np.linspace(0.0, 1.0, frames, dtype=np.float32)[:, None]
    return np.asarray(model.decode((1.0 - t) * z_mean[0] + t * z_mean[1]), np.float32)


# --------------------------------------------------------------------------- #
# Design with a decoder alone (served): no gradients through it
# --------------------------------------------------------------------------- #
#: What a decoder without gradients supports (e.g. one served over gRPC: ``SSVAEClient.decode``):
#: ``encode`` (with an encoder), ``latent`` by a derivative-free search, ``refine`` (that search,
#: then pixel iterations here), and ``pixel`` (no decoder at all).
DECODER_METHODS = ("encode", "latent", "refine", "pixel")
#: Generations of the derivative-free latent search when ``generations`` is not given.
DEFAULT_GENERATIONS = 60
#: Step size of the derivative-free search: start, growth on success, shrinkage on failure, bounds.
ES_SIGMA, ES_GROW, ES_SHRINK, ES_SIGMA_BOUNDS = 0.5, 1.25, 0.7, (1e-3, 2.0)


def latent_evolution(loss: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]], z0: np.ndarray, generations: int,
                     population: int, rng: np.random.Generator, sigma: float = ES_SIGMA,
                     tick: Callable[[], None] = lambda: None) -> dict[str, np.ndarray]:
    """A derivative-free search over ``z``: a (1+lambda) evolution strategy per restart, with
    success-based step sizes (Rechenberg's rule, in its "grow on success, shrink on failure" form).

    Each restart ``k`` keeps its best point ``z_k`` and a step size ``s_k``; a
    generation draws ``population`` candidates ``z_k + s_k * N(0, I)`` for
    every restart, evaluates all ``n * population`` of them in **one** call of
    ``loss`` (one decoder request when the decoder is served), moves each
    restart to its best candidate if that improves on ``z_k`` (then
    ``s_k *= ES_GROW``, else ``s_k *= ES_SHRINK``, within ``ES_SIGMA_BOUNDS``).

    Args:
        loss: ``z`` ``(m, d)`` -> ``(total, J)``, float64 ``(m,)`` each (what is minimised, and the
            statistics part of it, recorded).
        z0: ``(n, d)`` starts (restarts).

    Returns:
        ``z`` float32 ``(n, d)``, each restart's best; ``total``, ``objective``
        and ``clock``: float64 ``(generations + 1, n)``, the best so far after
        each generation (row 0: at ``z0``) and the seconds since the start when
        it was known.
    """
    z = np.asarray(z0, np.float32).copy()
    n, d = z.shape
    started = time.perf_counter()
    best_total, best_stats = loss(z)
    steps = np.full(n, float(sigma))
    totals, objectives, clock = [best_total.copy()], [best_stats.copy()], [time.perf_counter() - started]
    low, high = ES_SIGMA_BOUNDS
    for _ in range(generations):
        candidates = (z[:, None] + steps[:, None, None] * rng.standard_normal((n, population, d))).astype(np.float32)
        total, stats = (values.reshape(n, population) for values in loss(candidates.reshape(n * population, d)))
        best = np.argmin(total, axis=1)
        chosen = total[np.arange(n), best]
        improved = chosen < best_total
        z[improved] = candidates[improved, best[improved]]
        best_stats = np.where(improved, stats[np.arange(n), best], best_stats)
        best_total = np.where(improved, chosen, best_total)
        steps = np.clip(np.where(improved, steps * ES_GROW, steps * ES_SHRINK), low, high)
        totals.append(best_total.copy())
        objectives.append(best_stats.copy())
        clock.append(time.perf_counter() - started)
        tick()
    return {"z": z, "total": np.stack(totals), "objective": np.stack(objectives),
            "clock": np.repeat(np.asarray(clock)[:, None], n, axis=1)}


def _decoded(decode: Callable[[np.ndarray], Any], z: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``decode(z)`` as float32 ``(m, *shape, 1)``, or a one-line ``ValueError`` for another shape."""
    images = np.asarray(decode(z), np.float32)
    if images.shape != (len(z), *shape, 1):
        raise ValueError(f"the decoder answered {len(z)} latent vectors with shape {images.shape}; the target "
                         f"needs ({len(z)}, {', '.join(map(str, shape))}, 1): a decoder of the target's size")
    return images


def design_with_decoder(
    decode: Callable[[np.ndarray], Any] | None,
    latent_dim: int | None,
    target: np.ndarray | TargetStatistics,
    method: str = "latent",
    n: int = 8,
    generations: int | None = None,
    population: int = 16,
    seed: int = 0,
    stats_options: StatsOptions | dict | None = None,
    prior_weight: float = DEFAULT_PRIOR_WEIGHT,
    refine_steps: int = 50,
    encode: Callable[[np.ndarray], Any] | None = None,
    progress: bool = False,
) -> Designs:
    """Design with a decoder that gives images but no gradients, e.g. one served over gRPC.

    ``decode``: ``z`` float32 ``(m, latent_dim)`` -> images ``(m, *spatial, 1)``
    in [0, 1] (``SSVAEClient(...).decode``, or ``model.decode``); ``encode``:
    images -> ``(z_mean, z_log_var)`` (``SSVAEClient.encode``), for ``encode``
    only.  The statistics are computed here, so only latent vectors and images
    cross the wire.

    * ``encode``: as :func:`design`'s (one encoder and one decoder request).
    * ``latent``: :func:`latent_evolution` over ``J(D(z)) + prior_weight * ||z||^2``,
      ``n`` restarts from prior draws, ``population`` candidates per restart
      and generation, all of a generation in one decoder request.
    * ``refine``: that search, then ``refine_steps`` L-BFGS-B iterations on the
      pixels of each design, here (they need no decoder).
    * ``pixel``: :func:`design`'s (no decoder; ``generations`` are its L-BFGS-B iterations).

    ``Designs.history["latent"]`` holds each restart's best so far per
    generation (with the prior term), ``"latent_objective"`` its ``J``.

    Raises:
        ValueError: (one line) for a bad setting or target, a missing encoder or
            decoder, or a decoder whose images are not of the target's size.
    """
    _check_choice(method, DECODER_METHODS, "method")
    if method == "pixel":
        return design(None, target, "pixel", n=n, steps=generations, seed=seed, stats_options=stats_options,
                      progress=progress)
    settings = _checked_settings(method, n, 0, seed, prior_weight, 1.0, refine_steps, "latent")
    settings.pop("learning_rate")
    settings["steps"] = _check_count(DEFAULT_GENERATIONS if generations is None else generations, "generations")
    settings["population"] = check_positive_int(population, "population")
    target = as_target(target)
    options = design_options(stats_options)
    if decode is None:
        raise ValueError(f"method {method!r} needs a decoder; only 'pixel' designs without one")
    if method == "encode" and encode is None:
        raise ValueError("method 'encode' needs an encoder (encode=...) besides the decoder")
    if method != "encode":
        latent_dim = check_positive_int(latent_dim, "latent_dim")
    compiled = compiled_objective(target.shape, options)
    reference, weights = _target_tensors(target, options)
    rng = np.random.default_rng(settings["seed"])
    n = settings["n"]
    generations = settings["steps"] if method != "encode" else 0
    tick = ticker(generations + (n * refine_steps if method == "refine" else 0), progress)
    history, clock = {}, {}
    started = time.perf_counter()
    if method == "encode":
        latents = _encode_latents(encode, target, n, rng)
    else:
        def loss(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            stats = compiled.values(_decoded(decode, z, target.shape), reference, weights).numpy().astype(np.float64)
            return stats + prior_weight * np.square(z.astype(np.float64)).sum(axis=1), stats

        z0 = rng.standard_normal((n, latent_dim)).astype(np.float32)
        found = latent_evolution(loss, z0, generations, settings["population"], rng, tick=tick)
        latents, history["latent"], history["latent_objective"] = found["z"], found["total"], found["objective"]
        clock["latent"] = clock["latent_objective"] = found["clock"]
    images = _decoded(decode, latents, target.shape)
    if method == "refine":
        images, history["pixel"], clock["pixel"] = _pixel_phase(target, options, images, refine_steps, tick)
    final = compiled.values(images, reference, weights).numpy().astype(np.float64)
    seconds = time.perf_counter() - started
    return Designs(images, stats_error(target, images), final, seconds, method, latents, history,
                   {**settings, "stats_options": options.to_json(), "search": "evolution strategy (no gradients)"},
                   clock)


# --------------------------------------------------------------------------- #
# Statistics no search sees (realism checks)
# --------------------------------------------------------------------------- #
def phase_mask(images: np.ndarray, phase: int = 0) -> np.ndarray:
    """Boolean ``(n, *spatial)``: the pixels of ``phase`` of ``(n, *spatial, 1)`` images, hard
    (0: black, below 0.5; 1: white, 0.5 and above), as the target's statistics read them."""
    if phase not in (0, 1):
        raise ValueError(f"phase must be 0 (black) or 1 (white), got {phase!r}")
    black = np.asarray(images)[..., 0] < 0.5
    return black if phase == 0 else ~black


def chord_lengths(images: np.ndarray, phase: int = 0) -> list[np.ndarray]:
    """Per image or volume ``(n, *spatial, 1)``: the lengths (px) of every chord of ``phase``.

    A chord is a maximal run of pixels of the phase along a line parallel to
    an axis; every line of every axis counts, and a run ends at the border (no
    periodic wrap: targets are crops).  Their histogram is the chord-length
    distribution (number-weighted); weighting each chord by its length gives
    the lineal-path-like length-weighted one.

    Returns:
        ``n`` int64 arrays of lengths (empty for an image without the phase).
    """
    masks = phase_mask(images, phase)
    out = []
    for mask in masks:
        lengths = []
        for axis in range(mask.ndim):
            rows = np.moveaxis(mask, axis, -1).reshape(-1, mask.shape[axis])
            edges = np.diff(np.pad(rows.astype(np.int8), ((0, 0), (1, 1))), axis=1)
            lengths.append(np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1))
        out.append(np.concatenate(lengths).astype(np.int64))
    return out


def component_sizes(images: np.ndarray, phase: int = 0) -> list[np.ndarray]:
    """Per image or volume ``(n, *spatial, 1)``: the sizes (px) of the connected components of ``phase``
    (``scipy.ndimage.label``: neighbours share a face; no periodic wrap), largest first."""
    from scipy import ndimage

    out = []
    for mask in phase_mask(images, phase):
        labels, count = ndimage.label(mask)
        out.append(np.sort(np.bincount(labels.ravel(), minlength=count + 1)[1:])[::-1].astype(np.int64))
    return out


def _chord_distance(lengths: np.ndarray, reference: np.ndarray) -> float:
    """Wasserstein-1 distance (px) between two samples of chord lengths; an empty sample counts as length 0."""
    from scipy.stats import wasserstein_distance

    if len(lengths) == 0 or len(reference) == 0:
        return float(np.mean(lengths) if len(lengths) else np.mean(reference) if len(reference) else 0.0)
    return float(wasserstein_distance(lengths, reference))


def realism(target_image: Any, images: np.ndarray) -> dict[str, np.ndarray]:
    """How designs compare with the target image on statistics no search optimises: float64 ``(n,)`` each.

    Everything on the hard phases (black below 0.5), so grey designs are read
    as they would be thresholded.

    * ``volume_fraction``, ``volume_fraction_error``: the black fraction, and
      its absolute difference from the target's;
    * ``chord_distance``: Wasserstein-1 distance (px) between the design's and
      the target's chord-length distributions (:func:`chord_lengths`), the
      mean over the two phases;
    * ``components``, ``component_count_error``: connected black components
      (:func:`component_sizes`) and ``|log(count / target's count)|`` (counts
      of at least 1);
    * ``mean_component_size``, ``component_size_error``: their mean size (px)
      and ``|log(size / target's size)|``.

    The target's own values are in ``target_*`` entries (float64 ``(1,)``).
    """
    target = single_image(target_image)[np.newaxis]
    images = np.asarray(images, np.float32)
    chords = {phase: (chord_lengths(target, phase)[0], chord_lengths(images, phase)) for phase in (0, 1)}
    distance = np.mean([[_chord_distance(lengths, reference) for lengths in designs]
                        for reference, designs in chords.values()], axis=0)
    sizes = component_sizes(images)
    (target_sizes,) = component_sizes(target)
    count = np.array([len(s) for s in sizes], np.float64)
    mean_size = np.array([s.mean() if len(s) else 0.0 for s in sizes], np.float64)
    target_count, target_size = float(len(target_sizes)), float(target_sizes.mean() if len(target_sizes) else 0.0)
    fraction = phase_mask(images).mean(axis=tuple(range(1, images.ndim - 1))).astype(np.float64)
    target_fraction = float(phase_mask(target).mean())
    return {
        "volume_fraction": fraction,
        "volume_fraction_error": np.abs(fraction - target_fraction),
        "chord_distance": distance.astype(np.float64),
        "components": count,
        "component_count_error": np.abs(np.log(np.maximum(count, 1) / max(target_count, 1))),
        "mean_component_size": mean_size,
        "component_size_error": np.abs(np.log(np.maximum(mean_size, 1) / max(target_size, 1))),
        "target_volume_fraction": np.array([target_fraction]),
        "target_components": np.array([target_count]),
        "target_mean_component_size": np.array([target_size]),
    }
