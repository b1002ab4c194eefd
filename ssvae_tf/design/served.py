"""Design with a decoder alone, e.g. one served over gRPC: images but no gradients through it.

``latent`` there is a derivative-free evolution strategy over ``z``
(:func:`latent_evolution`, one decoder request per generation), ``refine``
adds pixel iterations here, ``encode`` needs the served encoder too, and
``pixel`` needs no decoder at all (:func:`~ssvae_tf.design.design`'s).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ssvae_tf._checks import check_positive_int
from ssvae_tf._progress import ticker
from ssvae_tf.design.defaults import (
    DECODER_METHODS,
    DEFAULT_GENERATIONS,
    DEFAULT_METHOD,
    DEFAULT_POPULATION,
    DEFAULT_PRIOR_WEIGHT,
    DEFAULT_REFINE_STEPS,
    DEFAULT_SEED,
    REFINE_STARTS,
)
from ssvae_tf.design.latent import encode_latents
from ssvae_tf.design.methods import (
    Start,
    StartFunction,
    check_slices_method,
    checked_settings,
    design,
    iterations,
    method_named,
    run_method,
)
from ssvae_tf.design.objective import compiled_objective, design_options, stats_error, target_tensors
from ssvae_tf.design.results import Designs
from ssvae_tf.design.targets import TargetStatistics, as_target, check_image_count
from ssvae_tf.stats.two_point import StatsOptions

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


def decoded(decode: Callable[[np.ndarray], Any], z: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``decode(z)`` as float32 ``(m, *shape, 1)``, or a one-line ``ValueError`` for another shape."""
    images = np.asarray(decode(z), np.float32)
    if images.shape != (len(z), *shape, 1):
        raise ValueError(f"the decoder answered {len(z)} latent vectors with shape {images.shape}; the target "
                         f"needs ({len(z)}, {', '.join(map(str, shape))}, 1): a decoder of the target's size")
    return images


def decoder_starts(decode: Callable[[np.ndarray], Any], encode: Callable[[np.ndarray], Any] | None,
                   latent_dim: int | None) -> dict[str, StartFunction]:
    """The starts through a decoder without gradients: its encoder's posterior (``encode``), or the
    evolution strategy over ``z`` (``latent``, :func:`latent_evolution`)."""

    def from_encoder(target, settings, options, rng, tick) -> Start:
        latents = encode_latents(encode, target, settings["n"], rng)
        return decoded(decode, latents, target.shape), latents, {}, {}

    def evolution(target, settings, options, rng, tick) -> Start:
        compiled = compiled_objective(target.shape, options)
        reference, weights = target_tensors(target, options)
        prior_weight = settings["prior_weight"]

        def loss(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            stats = compiled.values(decoded(decode, z, target.shape), reference, weights).numpy().astype(np.float64)
            return stats + prior_weight * np.square(z.astype(np.float64)).sum(axis=1), stats

        z0 = rng.standard_normal((settings["n"], latent_dim)).astype(np.float32)
        found = latent_evolution(loss, z0, settings["steps"], settings["population"], rng, tick=tick)
        return (decoded(decode, found["z"], target.shape), found["z"],
                {"latent": found["total"], "latent_objective": found["objective"]},
                {"latent": found["clock"], "latent_objective": found["clock"]})

    return {"encode": from_encoder, "latent": evolution}


def design_with_decoder(
    decode: Callable[[np.ndarray], Any] | None,
    latent_dim: int | None,
    target: np.ndarray | TargetStatistics,
    method: str = DEFAULT_METHOD,
    n: int = 8,
    generations: int | None = None,
    population: int = DEFAULT_POPULATION,
    seed: int = DEFAULT_SEED,
    stats_options: StatsOptions | dict | None = None,
    prior_weight: float = DEFAULT_PRIOR_WEIGHT,
    refine_steps: int = DEFAULT_REFINE_STEPS,
    encode: Callable[[np.ndarray], Any] | None = None,
    progress: bool = False,
) -> Designs:
    """Design with a decoder that gives images but no gradients, e.g. one served over gRPC.

    ``decode``: ``z`` float32 ``(m, latent_dim)`` -> images ``(m, *spatial, 1)``
    in [0, 1] (``SSVAEClient(...).decode``, or ``model.decode``); ``encode``:
    images -> ``(z_mean, z_log_var)`` (``SSVAEClient.encode``), for ``encode``
    only.  The statistics are computed here, so only latent vectors and images
    cross the wire.

    * ``encode``: as :func:`~ssvae_tf.design.design`'s (one encoder and one decoder request).
    * ``latent``: :func:`latent_evolution` over ``J(D(z)) + prior_weight * ||z||^2``,
      ``n`` restarts from prior draws, ``population`` candidates per restart
      and generation, all of a generation in one decoder request.
    * ``refine``: that search, then ``refine_steps`` L-BFGS-B iterations on the
      pixels of each design, here (they need no decoder).
    * ``pixel``: :func:`~ssvae_tf.design.design`'s (no decoder; ``generations`` are its L-BFGS-B iterations).

    ``Designs.history["latent"]`` holds each restart's best so far per
    generation (with the prior term), ``"latent_objective"`` its ``J``.

    Raises:
        ValueError: (one line) for a bad setting or target, a missing encoder or
            decoder, or a decoder whose images are not of the target's size.
    """
    chosen = method_named(method, DECODER_METHODS)
    if not chosen.needs_model:
        return design(None, target, method, n=n, steps=generations, seed=seed, stats_options=stats_options,
                      progress=progress)
    generations = DEFAULT_GENERATIONS if generations is None else generations
    settings = {**checked_settings(chosen, n, generations, seed, prior_weight, None, refine_steps, REFINE_STARTS[0],
                                   steps_name="generations"),
                "population": check_positive_int(population, "population")}
    target = as_target(target)
    check_slices_method(chosen, target)
    check_image_count(n, "n", target.shape)
    options = design_options(stats_options, target.shape)
    if decode is None:
        raise ValueError(f"method {method!r} needs a decoder; only 'pixel' designs without one")
    start = chosen.start_of(settings["refine_from"])
    if start == "encode" and encode is None:
        raise ValueError("method 'encode' needs an encoder (encode=...) besides the decoder")
    if start == "latent":
        latent_dim = check_positive_int(latent_dim, "latent_dim")
    tick = ticker(iterations(chosen, settings), progress)
    started = time.perf_counter()
    images, latents, history, clock = run_method(chosen, decoder_starts(decode, encode, latent_dim), target,
                                                 settings, options, tick)
    final = compiled_objective(target.shape, options).of(images, target, options)
    seconds = time.perf_counter() - started
    return Designs(images, stats_error(target, images), final, seconds, method, latents, history,
                   {**settings, "stats_options": options.to_json(), "search": "evolution strategy (no gradients)"},
                   clock)
