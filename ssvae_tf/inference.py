"""Latent codes by optimisation: a generic batched Adam search, and semi-amortised inference.

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

from collections.abc import Callable

import numpy as np
import tensorflow as tf

from ssvae_tf._checks import check_positive_int
from ssvae_tf._progress import ticker

Objective = Callable[[tf.Tensor], tf.Tensor]
#: Adam's step size on ``z`` for :func:`refine_latents` (measured on the 64 px line models:
#: 0.05 lowers the statistics VAE's error by half in 100 steps; docs/reproduction.md).
DEFAULT_REFINE_LEARNING_RATE = 0.05
#: Images per refinement batch: each batch is one compiled search.
REFINE_BATCH = 250


def latent_search(loss: Objective, z0: np.ndarray, steps: int, learning_rate: float,
                  tick: Callable[[], None] = lambda: None) -> tuple[np.ndarray, np.ndarray]:
    """Minimise ``loss`` (``(n, d) -> (n,)``, independent per row) with Adam from ``z0`` ``(n, d)``.

    All rows step together in one compiled step; the values stay on the
    device until the end.  A generic helper: it compiles its step on every
    call (:func:`ssvae_tf.design.design` uses its cached ``LatentSearch`` instead).

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


def latent_objective(decode: Callable[[tf.Tensor], tf.Tensor], objective: Objective,
                     prior_weight: float) -> Objective:
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
            z_mean, _ = latent_search(map_objective(model, batch), z_mean, steps, learning_rate, tick)
        codes.append(z_mean)
    return np.concatenate(codes) if codes else np.zeros((0, model.latent_dim), np.float32)
