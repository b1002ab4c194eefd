"""The latent starts of a design: Adam over ``z`` through a model's decoder, and the target's posterior.

**latent**: minimise ``J(D(z)) + prior_weight * ||z||^2`` over ``z`` with Adam
(:class:`ssvae_tf.inference.LatentAdam`, the one compiled Adam over ``z``),
``n`` restarts drawn from the prior ``N(0, I)`` optimised as one batch in one
``tf.function`` step (no host round trip per step); each restart keeps the
best ``z`` it has visited.  The target, the prior weight and the learning rate
are arguments of the compiled step, and the search is cached per model,
shape, restart count and statistics options (:func:`latent_searcher`), so only
the first design of a model and size traces graphs.

**encode**: design 0 decodes the target's posterior mean ``z_mean``; designs
``1..n-1`` decode posterior samples ``z_mean + exp(z_log_var / 2) * eps``
(seeded), all in one decoder call.  Needs a target image.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from ssvae_tf.design.objective import design_options, objective_core, options_key
from ssvae_tf.design.targets import TargetStatistics
from ssvae_tf.inference import LatentAdam, cached, float_spec
from ssvae_tf.stats.two_point import StatsOptions


def latent_searcher(model, shape: tuple[int, ...], n: int,
                    stats_options: StatsOptions | dict | None = None) -> LatentAdam:
    """The cached Adam search over ``z`` of ``model`` (its ``decode`` and ``latent_dim``), ``shape``,
    ``n`` restarts and the statistics options (:func:`~ssvae_tf.design.objective.design_options`).

    Its loss is ``(total, J)``, each ``(n,)``: ``total = J(decode(z)) + prior_weight * ||z||^2``
    is minimised; its arguments are the target's tensors and the prior weight, ``(reference,
    weights, prior_weight)`` (:func:`~ssvae_tf.design.objective.target_tensors`).  The cache holds
    the model (so its ``id`` is not reused while cached);
    :func:`~ssvae_tf.inference.clear_search_cache` empties it.
    """
    options = design_options(stats_options)
    core = objective_core(options, len(shape))

    def loss(z: tf.Tensor, arguments: tuple) -> tuple[tf.Tensor, tf.Tensor]:
        reference, weights, prior_weight = arguments
        stats = core(model.decode(z), reference, weights)
        return stats + prior_weight * tf.reduce_sum(tf.square(z), axis=1), stats

    def build() -> tuple[Any, LatentAdam]:
        specs = [float_spec(shape), float_spec(shape), float_spec(())]
        return model, LatentAdam(loss, n, model.latent_dim, specs)

    key = ("latent", id(model), tuple(shape), int(n), int(model.latent_dim), options_key(options))
    return cached(key, build)[1]


def encode_latents(encode: Callable[[np.ndarray], Any], target: TargetStatistics, n: int,
                   rng: np.random.Generator) -> np.ndarray:
    """``(n, latent_dim)``: the target's posterior mean, then ``n - 1`` posterior samples (``encode``:
    images -> ``(z_mean, z_log_var)``, e.g. ``model.encode`` or a served encoder)."""
    if target.image is None:
        raise ValueError(f"method 'encode' needs a target image; the target is statistics only "
                         f"({target.description}): use latent, refine or pixel")
    z_mean, z_log_var = (np.asarray(t, np.float32) for t in encode(target.image[np.newaxis]))
    noise = rng.standard_normal((n - 1, z_mean.shape[1])).astype(np.float32)
    return np.concatenate([z_mean, z_mean + np.exp(0.5 * z_log_var) * noise])
