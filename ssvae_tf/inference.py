"""Latent codes by optimisation: the one compiled, cached Adam search over ``z``, and semi-amortised inference.

:class:`LatentAdam` minimises any per-row loss of ``z`` ``(n, latent_dim)``
with Adam, all rows in one compiled step, keeping each row's best visited
point; the loss's inputs (a target, images, weights) are arguments of the
compiled step, so one trace serves every call of a shape.  Both the design's
latent search (:mod:`ssvae_tf.design.latent`) and :func:`refine_latents` run
on it, cached by :func:`cached` (least recently used dropped beyond
:data:`SEARCH_CACHE_SIZE`).

A VAE's encoder predicts each image's code in one pass (amortised inference);
the code it predicts need not be the best the decoder can use, and the
difference is the *amortisation gap* (Cremer, Li and Duvenaud, ICML 2018).
Semi-amortised inference (Kim et al., ICML 2018; Hjelm et al., NeurIPS 2016)
starts at the encoder's ``z_mean`` and takes gradient steps on each image's
own objective.  :func:`refine_latents` does this with the model's training
loss at its final settings, so the pixel baseline refines its pixel error
and the statistics VAE its statistics distance:

    L(z; x) = alpha * d(x, D(z)) + gamma * data(x, D(z)) + beta * ||z||^2 / 2

(``beta * ||z||^2 / 2`` is the prior's negative log density: each code is the
MAP estimate under the model, found locally from the encoder's guess).
The paper's protocol decodes ``z_mean`` unrefined (``refine_steps=0``).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from ssvae_tf._checks import check_positive_int
from ssvae_tf._progress import ticker

Objective = Callable[[tf.Tensor], tf.Tensor]
#: A loss of :class:`LatentAdam`: ``(z (n, d), arguments) -> tuple of float32 (n,)``; the first is minimised.
LatentLoss = Callable[[tf.Tensor, tuple], tuple]
#: Adam's constants ``(beta_1, beta_2, epsilon)``: Keras' defaults.
ADAM_CONSTANTS = (0.9, 0.999, 1e-7)
#: Adam's step size on ``z`` for :func:`refine_latents` (measured on the 64 px line models:
#: 0.05 lowers the statistics VAE's error by half in 100 steps; docs/reproduction.md).
DEFAULT_REFINE_LEARNING_RATE = 0.05
#: Images per refinement batch: each batch is one compiled search.
REFINE_BATCH = 250
#: Most compiled searches and objectives kept (least recently used dropped first).  Each holds its
#: graphs and a few variables of ``(n, latent_dim)``; a latent search also holds its model.
SEARCH_CACHE_SIZE = 16

_CACHE: OrderedDict[tuple, Any] = OrderedDict()


def cached(key: tuple, build: Callable[[], Any]) -> Any:
    """The cached value of ``key`` (compiled searches and objectives), built when absent; the least
    recently used entries beyond :data:`SEARCH_CACHE_SIZE` are dropped."""
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    value = _CACHE[key] = build()
    while len(_CACHE) > SEARCH_CACHE_SIZE:
        _CACHE.popitem(last=False)
    return value


def clear_search_cache() -> None:
    """Forget every compiled search and objective kept by :func:`cached`."""
    _CACHE.clear()


def float_spec(shape: Sequence[int | None]) -> tf.TensorSpec:
    """A float32 ``tf.TensorSpec`` of ``shape``."""
    return tf.TensorSpec(tuple(shape), tf.float32)


class LatentAdam:
    """Adam over ``z`` ``(n, latent_dim)`` for one loss, compiled once; each row keeps the best point it visits.

    ``loss(z, arguments)`` returns a tuple of float32 ``(n,)`` tensors: the
    first is minimised (rows independent: the step follows the gradient of
    their sum), all are recorded.  ``arguments`` are tensors of
    ``argument_specs``, passed to :meth:`run` with the learning rate, so a new
    target, weight, rate or step count reuses the graphs.  Not thread-safe
    (its variables hold one search at a time).

    Attributes:
        traces: how often the step and the final evaluation have been traced
            (2 once warm, whatever was searched since).
        step: the compiled Adam step.
    """

    def __init__(self, loss: LatentLoss, n: int, latent_dim: int, argument_specs: Sequence[tf.TensorSpec]):
        self.n, self.latent_dim, self.traces = int(n), int(latent_dim), 0
        zeros = tf.zeros((self.n, self.latent_dim))
        self._z, self._m, self._v, self._best_z = (tf.Variable(zeros, trainable=False) for _ in range(4))
        self._best = tf.Variable(tf.fill([self.n], np.inf), trainable=False)
        self._t = tf.Variable(0.0, trainable=False)
        beta_1, beta_2, epsilon = ADAM_CONSTANTS
        arguments = tuple(argument_specs)

        def evaluate(values: tuple) -> tuple:
            """``loss`` at the current ``z``, the best kept."""
            values = tuple(loss(self._z, values))
            self._best_z.assign(tf.where((values[0] < self._best)[:, None], self._z, self._best_z))
            self._best.assign(tf.minimum(values[0], self._best))
            return values

        @tf.function(input_signature=[arguments, float_spec(())])
        def step(values, learning_rate):
            self.traces += 1
            with tf.GradientTape() as tape:
                tape.watch(self._z)
                found = evaluate(values)
                summed = tf.reduce_sum(found[0])
            gradient = tape.gradient(summed, self._z)
            t = self._t.assign_add(1.0)
            m = self._m.assign_add((gradient - self._m) * (1.0 - beta_1))
            v = self._v.assign_add((tf.square(gradient) - self._v) * (1.0 - beta_2))
            alpha = learning_rate * tf.sqrt(1.0 - beta_2 ** t) / (1.0 - beta_1 ** t)
            self._z.assign_sub(alpha * m / (tf.sqrt(v) + epsilon))
            return found

        @tf.function(input_signature=[arguments])
        def finish(values):
            self.traces += 1
            return evaluate(values)

        self.step, self._finish = step, finish

    def run(self, z0: np.ndarray, arguments: Sequence[Any], learning_rate: float, steps: int,
            tick: Callable[[], None] = lambda: None) -> dict[str, Any]:
        """Search from ``z0`` ``(n, latent_dim)`` for ``steps`` Adam steps of ``learning_rate``.

        Returns:
            ``z``: float32 ``(n, latent_dim)``, each row's best point;
            ``history``: per value of the loss, float64 ``(steps + 1, n)`` at
            every iterate (row 0: at ``z0``); ``clock``: float64 ``(steps + 1,
            n)``, seconds since the search started when each row was known.
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
        arguments = tuple(tf.convert_to_tensor(value, tf.float32) for value in arguments)
        rate = tf.constant(learning_rate, tf.float32)
        rows, clock = [], []
        for _ in range(steps):
            rows.append(self.step(arguments, rate))
            clock.append(time.perf_counter() - started)
            tick()
        rows.append(self._finish(arguments))
        z = self._best_z.numpy()
        clock.append(time.perf_counter() - started)
        history = tuple(tf.stack([row[i] for row in rows]).numpy().astype(np.float64) for i in range(len(rows[0])))
        return {"z": z, "history": history, "clock": np.repeat(np.asarray(clock)[:, None], self.n, axis=1)}


def latent_objective(decode: Callable[[tf.Tensor], tf.Tensor], objective: Objective,
                     prior_weight: float | tf.Tensor) -> Objective:
    """``z`` ``(n, latent_dim)`` -> ``J(decode(z)) + prior_weight * ||z||^2``, float32 ``(n,)``."""

    def value(z: tf.Tensor) -> tf.Tensor:
        return objective(decode(z)) + prior_weight * tf.reduce_sum(tf.square(z), axis=1)

    return value


def map_objective(model, images: tf.Tensor) -> Objective:
    """``L(z; x)`` of the module doc for the images ``x`` ``(n, *spatial, channels)``: ``z`` ``(n,
    latent_dim)`` -> float32 ``(n,)``, each row scored against its own image."""
    images = tf.convert_to_tensor(images, tf.float32)
    return latent_objective(lambda z: tf.cast(model.decode(z), tf.float32),
                            lambda decoded: model.reconstruction_loss(images, decoded), 0.5 * model.beta)


def map_searcher(model, n: int) -> LatentAdam:
    """The cached :class:`LatentAdam` of :func:`map_objective` for ``model`` and batches of ``n``
    images (the images are the search's argument).  The cache holds the model, so its ``id`` is not
    reused while cached."""

    def loss(z: tf.Tensor, arguments: tuple) -> tuple:
        (images,) = arguments
        return (map_objective(model, images)(z),)

    key = ("map", id(model), int(n))
    build = lambda: (model, LatentAdam(loss, n, model.latent_dim, [float_spec((n, *model.image_shape))]))  # noqa: E731
    return cached(key, build)[1]


def refine_latents(model, images: np.ndarray, steps: int, learning_rate: float = DEFAULT_REFINE_LEARNING_RATE,
                   progress: bool = False) -> np.ndarray:
    """Semi-amortised codes of ``images``: the encoder's ``z_mean``, then ``steps`` Adam steps on
    each image's :func:`map_objective` (module doc).

    Args:
        model: a trained ``SpatialStatsVAE``.
        images: float32 ``(n, *spatial, channels)`` in [0, 1].
        steps: Adam steps per image (0: the encoder's ``z_mean``).
        learning_rate: Adam's step size on ``z``.
        progress: a progress bar over the steps of every batch of
            :data:`REFINE_BATCH` images (on a terminal).

    Returns:
        float32 ``(n, latent_dim)``: per image the best code visited, so its
        objective is never above that of ``z_mean``.
    """
    if steps != 0:
        check_positive_int(steps, "steps")
    images = np.asarray(images, np.float32)
    tick = ticker(-(-len(images) // REFINE_BATCH) * steps, progress)
    codes = []
    for start in range(0, len(images), REFINE_BATCH):
        batch = images[start:start + REFINE_BATCH]
        z_mean = np.asarray(model.encode(batch)[0], np.float32)
        if steps:
            z_mean = map_searcher(model, len(batch)).run(z_mean, [batch], learning_rate, steps, tick)["z"]
        codes.append(z_mean)
    return np.concatenate(codes) if codes else np.zeros((0, model.latent_dim), np.float32)
