"""The design methods run: one dispatcher over the method table, and :func:`design`,
:func:`refine_designs`, :func:`interpolate` on top.

A method (:data:`~ssvae_tf.design.defaults.METHOD_TABLE`) is a start and,
perhaps, pixel iterations after it.  :func:`run_method` looks the start up in
a table of start functions (:func:`model_starts` for a model;
:func:`~ssvae_tf.design.served.decoder_starts` for a decoder alone), then runs
the pixel iterations (:func:`~ssvae_tf.design.pixel.pixel_phase`) the method
asks for.  The methods, in order of cost:

* ``encode``: decode the target's posterior mean and samples (:mod:`ssvae_tf.design.latent`).
* ``latent``: Adam over ``z`` on ``J(D(z)) + prior_weight * ||z||^2`` (:mod:`ssvae_tf.design.latent`).
* ``refine``: ``latent`` (or ``encode``, ``refine_from``), then ``refine_steps``
  pixel iterations (as ``pixel``) warm-started from ``D(z)``.
* ``pixel``: the pixel-space baseline (:mod:`ssvae_tf.design.pixel`); needs no model.  It also
  designs volumes from 2-D micrographs (:class:`~ssvae_tf.design.targets.SliceTargets`), the only
  method that does so far: the others would need a model of volumes trained from slices.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ssvae_tf._checks import check_count, check_positive_int, check_positive_real
from ssvae_tf._progress import ticker
from ssvae_tf.design.defaults import (
    DEFAULT_FRAMES,
    DEFAULT_LEARNING_RATE,
    DEFAULT_METHOD,
    DEFAULT_N,
    DEFAULT_PRIOR_WEIGHT,
    DEFAULT_REFINE_STEPS,
    DEFAULT_SEED,
    METHOD_TABLE,
    METHODS,
    MIN_FRAMES,
    REFINE_STARTS,
    Method,
)
from ssvae_tf.design.latent import encode_latents, latent_searcher
from ssvae_tf.design.objective import design_options, objective_for, plane_errors, stats_error, target_tensors
from ssvae_tf.design.pixel import noise_starts, pixel_phase
from ssvae_tf.design.results import Designs
from ssvae_tf.design.targets import (
    SliceTargets,
    TargetStatistics,
    as_target,
    check_fits,
    check_image_count,
    single_image,
)
from ssvae_tf.stats.two_point import StatsOptions

#: What a start returns: ``(images (n, *spatial, 1), latents (n, latent_dim) or None, history, clock)``
#: (:class:`Designs`' fields).
Start = tuple[np.ndarray, np.ndarray | None, dict[str, np.ndarray], dict[str, np.ndarray]]
#: A start: ``(target, settings, options, rng, tick) -> Start``.
StartFunction = Callable[[TargetStatistics, dict[str, Any], StatsOptions, np.random.Generator,
                          Callable[[], None]], Start]
#: The starts that iterate ``steps`` times (the others take none).
ITERATIVE_STARTS = ("latent",)


def method_named(name: str, choices: tuple[str, ...] = METHODS) -> Method:
    """The :class:`~ssvae_tf.design.defaults.Method` called ``name``, or ``ValueError`` naming the choices."""
    if name not in choices:
        raise ValueError(f"method must be one of {choices}, got {name!r}")
    return METHOD_TABLE[name]


def checked_settings(method: Method, n: int, steps: int | None, seed: int, prior_weight: float,
                     learning_rate: float | None, refine_steps: int, refine_from: str,
                     steps_name: str = "steps") -> dict[str, Any]:
    """A design's settings, checked, as JSON types: ``steps`` resolved to the method's default (and
    called ``steps_name`` in errors), ``learning_rate`` left out when ``None`` (a search without one)."""
    if refine_from not in REFINE_STARTS:
        raise ValueError(f"refine_from must be one of {REFINE_STARTS}, got {refine_from!r}")
    settings = {
        "n": check_positive_int(n, "n"),
        "steps": check_count(method.default_steps if steps is None else steps, steps_name),
        "seed": check_count(seed, "seed"),
        "prior_weight": check_positive_real(prior_weight, "prior_weight", allow_zero=True),
    }
    if learning_rate is not None:
        settings["learning_rate"] = check_positive_real(learning_rate, "learning_rate")
    return {**settings, "refine_steps": check_count(refine_steps, "refine_steps"), "refine_from": refine_from}


def check_slices_method(method: Method, target: TargetStatistics | SliceTargets) -> None:
    """One-line ``ValueError`` when ``method`` needs a model and ``target`` asks for a volume from 2-D slices:
    only ``pixel`` designs those for now (a latent search would need a model of volumes trained from slices)."""
    if method.needs_model and target.planes:
        raise ValueError(f"method {method.name!r} cannot design a volume from 2-D slices yet: it needs a model of "
                         "volumes trained from slices; expected method 'pixel'")


def iterations(method: Method, settings: dict[str, Any]) -> int:
    """Iterations a method will take at most, for its progress bar: its start's steps plus L-BFGS-B
    iterations per design."""
    start = settings["steps"] if method.start_of(settings["refine_from"]) in ITERATIVE_STARTS else 0
    pixel = settings[method.pixel_iterations] if method.pixel_iterations else 0
    return start + settings["n"] * pixel


def run_method(method: Method, starts: Mapping[str, StartFunction], target: TargetStatistics,
               settings: dict[str, Any], options: StatsOptions, tick: Callable[[], None]) -> Start:
    """The one dispatcher: ``method``'s start from ``starts``, then the pixel iterations it asks for.

    Returns:
        ``(images, latents, history, clock)`` as :class:`Designs` holds them.
    """
    rng = np.random.default_rng(settings["seed"])
    images, latents, history, clock = starts[method.start_of(settings["refine_from"])](
        target, settings, options, rng, tick)
    if method.pixel_iterations:
        images, history["pixel"], clock["pixel"] = pixel_phase(target, options, images,
                                                               settings[method.pixel_iterations], tick)
    return images, latents, history, clock


def model_starts(model) -> dict[str, StartFunction]:
    """The starts with ``model`` (``None``: the pixel start alone): random pixels, its encoder, or Adam
    over ``z`` through its decoder (:func:`~ssvae_tf.design.latent.latent_searcher`)."""

    def decode(latents: np.ndarray) -> np.ndarray:
        return np.asarray(model.decode(latents), np.float32)

    def pixel(target, settings, options, rng, tick) -> Start:
        return noise_starts(settings["n"], target.shape, rng), None, {}, {}

    def encode(target, settings, options, rng, tick) -> Start:
        latents = encode_latents(model.encode, target, settings["n"], rng)
        return decode(latents), latents, {}, {}

    def latent(target, settings, options, rng, tick) -> Start:
        n = settings["n"]
        z0 = rng.standard_normal((n, model.latent_dim)).astype(np.float32)
        found = latent_searcher(model, target.shape, n, options).run(
            z0, [*target_tensors(target, options), settings["prior_weight"]], settings["learning_rate"],
            settings["steps"], tick)
        total, objective = found["history"]
        return (decode(found["z"]), found["z"], {"latent": total, "latent_objective": objective},
                {"latent": found["clock"], "latent_objective": found["clock"]})

    return {"pixel": pixel} if model is None else {"pixel": pixel, "encode": encode, "latent": latent}


def design(
    model,
    target: np.ndarray | TargetStatistics | SliceTargets,
    method: str = DEFAULT_METHOD,
    n: int = DEFAULT_N,
    steps: int | None = None,
    seed: int = DEFAULT_SEED,
    stats_options: StatsOptions | dict | None = None,
    prior_weight: float = DEFAULT_PRIOR_WEIGHT,
    learning_rate: float = DEFAULT_LEARNING_RATE,
    refine_steps: int = DEFAULT_REFINE_STEPS,
    refine_from: str = REFINE_STARTS[0],
    progress: bool = False,
) -> Designs:
    """Find ``n`` structures whose statistics match ``target`` (methods: module doc; objective and
    error: :mod:`ssvae_tf.design.objective`).

    Args:
        model: a :class:`~ssvae_tf.model.SpatialStatsVAE` whose images have the
            target's size, or ``None`` for ``pixel`` (which ignores it).
        target: an image or volume ``(*spatial, 1)`` in [0, 1]
            (:func:`~ssvae_tf.design.targets.single_image` lists the shapes accepted), or
            :class:`~ssvae_tf.design.targets.TargetStatistics` (:func:`~ssvae_tf.design.targets.target_statistics`),
            or :class:`~ssvae_tf.design.targets.SliceTargets` for volumes from 2-D micrographs
            (:func:`~ssvae_tf.design.targets.target_from_slices`; ``pixel`` only).
        method: one of :data:`~ssvae_tf.design.defaults.METHODS`.
        n: designs.
        steps: iterations of the search: Adam steps (``latent``, and
            ``refine`` from ``latent``) or L-BFGS-B iterations per design
            (``pixel``); default :data:`~ssvae_tf.design.defaults.DEFAULT_STEPS`.
            ``encode`` takes none.
        seed: seed of the starts (prior draws, posterior noise, random pixels), >= 0.
        stats_options: the objective's statistics (:func:`~ssvae_tf.design.objective.design_options`).
        prior_weight: weight of ``||z||^2`` in the latent objective.
        learning_rate: Adam's step size, in latent units.
        refine_steps: L-BFGS-B iterations per design after ``refine``'s start.
        refine_from: ``refine``'s start, one of :data:`~ssvae_tf.design.defaults.REFINE_STARTS`.
        progress: show a progress bar on a terminal.

    Raises:
        ValueError: (one line) for a bad target, a target of another size or
            dimensionality than the model's, a missing model, or a bad setting.
    """
    chosen = method_named(method)
    settings = checked_settings(chosen, n, steps, seed, prior_weight, learning_rate, refine_steps, refine_from)
    target = as_target(target)
    check_image_count(n, "n", target.shape)
    options = design_options(stats_options, target.shape)
    check_slices_method(chosen, target)
    if chosen.needs_model:
        if model is None:
            raise ValueError(f"method {method!r} needs a model; only 'pixel' designs without one")
        check_fits(model, target.shape)
    tick = ticker(iterations(chosen, settings), progress)
    started = time.perf_counter()
    images, latents, history, clock = run_method(chosen, model_starts(model), target, settings, options, tick)
    final = objective_for(target, options).of(images, target, options)
    seconds = time.perf_counter() - started
    return Designs(images, stats_error(target, images), final, seconds, method, latents, history,
                   {**settings, "stats_options": options.to_json()}, clock,
                   plane_errors(target, images) if target.planes else None)


def refine_designs(start: Designs, target: np.ndarray | TargetStatistics, refine_steps: int = DEFAULT_REFINE_STEPS,
                   stats_options: StatsOptions | dict | None = None, progress: bool = False) -> Designs:
    """``refine`` from designs already found: ``refine_steps`` L-BFGS-B iterations on the pixels of
    each of ``start``'s images (what :func:`design`'s ``refine`` does after its latent or encode start).

    Returns:
        :class:`Designs` of method ``"refine"``: ``seconds`` adds the pixel
        iterations' to ``start``'s, ``latents``, ``history`` and ``clock`` keep
        ``start``'s phases and add ``"pixel"``.
    """
    refine_steps = check_count(refine_steps, "refine_steps")
    target = as_target(target)
    options = design_options(stats_options, target.shape)
    images = np.asarray(start.images, np.float32)
    if images.shape[1:] != (*target.shape, 1):
        raise ValueError(f"the designs have shape {images.shape[1:]} but the target needs "
                         f"{(*target.shape, 1)}; expected designs of the target's size")
    started = time.perf_counter()
    tick = ticker(len(images) * refine_steps, progress)
    images, pixel_history, pixel_clock = pixel_phase(target, options, images, refine_steps, tick)
    final = objective_for(target, options).of(images, target, options)
    seconds = start.seconds + time.perf_counter() - started
    return Designs(images, stats_error(target, images), final, seconds, "refine",
                   start.latents, {**start.history, "pixel": pixel_history},
                   {**start.settings, "refine_steps": refine_steps, "refine_from": start.method,
                    "stats_options": options.to_json()},
                   {**start.clock, "pixel": pixel_clock})


def interpolate(model, a: Any, b: Any, frames: int = DEFAULT_FRAMES) -> np.ndarray:
    """Decode the straight line between the posterior means of images ``a`` and ``b``.

    Args:
        model: a :class:`~ssvae_tf.model.SpatialStatsVAE`.
        a, b: images or volumes of the model's size (:func:`~ssvae_tf.design.targets.single_image`).
        frames: points on the line, both ends included: from 2 to the most images of the model's size one
            interpolation may output (:func:`~ssvae_tf.design.targets.check_image_count`).

    Returns:
        float32 ``(frames, *spatial, 1)``: ``decode((1 - t) z_a + t z_b)`` for
        ``t`` evenly spaced in [0, 1].
    """
    frames = check_image_count(frames, "frames", tuple(model.image_shape[:-1]), low=MIN_FRAMES)
    ends = []
    for image, what in ((a, "first image"), (b, "second image")):
        image = single_image(image, what)
        check_fits(model, image.shape[:-1], what)
        ends.append(image)
    z_mean, _ = model.encode(np.stack(ends))
    t = np.linspace(0.0, 1.0, frames, dtype=np.float32)[:, None]
    return np.asarray(model.decode((1.0 - t) * z_mean[0] + t * z_mean[1]), np.float32)
