"""What a design run returns: :class:`Designs`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True, eq=False)
class Designs:
    """What :func:`~ssvae_tf.design.design` found.

    Attributes:
        images: float32 ``(n, *spatial, 1)`` in [0, 1].
        stats_error: float64 ``(n,)``, the evaluation's statistics error
            against the target (:func:`~ssvae_tf.design.objective.stats_error`).
        objective: float64 ``(n,)``, the objective ``J`` of each design
            (:mod:`ssvae_tf.design.objective`; without the prior term).
        seconds: wall time of the search, from the first model or
            statistics call to the designs in memory, graph tracing included
            (it dominates tiny problems; the compiled searches are cached, see
            :func:`~ssvae_tf.design.latent.latent_searcher`, so only a model's,
            shape's or ``n``'s first search traces).
        method: one of :data:`~ssvae_tf.design.defaults.METHODS`.
        latents: float32 ``(n, latent_dim)``, the latent vectors decoded
            (``refine``: before its pixel iterations), or ``None`` (``pixel``).
        history: the objective at every iterate of each search, per phase:
            ``"latent"`` (with the prior term) and ``"latent_objective"``
            (``J`` alone), and/or ``"pixel"``, each float64
            ``(iterations + 1, n)``; empty for ``encode``.  A derivative-free
            latent search (:func:`~ssvae_tf.design.served.design_with_decoder`)
            records each restart's best so far, one row per generation.
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
    plane_errors: np.ndarray | None = None

    def to_json(self) -> dict[str, Any]:
        """Everything but the arrays of images, latents and history, as JSON types (``plane_errors`` when
        there are some)."""
        planes = {} if self.plane_errors is None else {"plane_errors": self.plane_errors.tolist()}
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
            **planes,
        }
