"""A Gaussian mixture over a trained model's latent codes, to draw samples from where its codes are.

A VAE's KL term pulls the codes towards the prior N(0, I) only as hard as its weight ``beta``, and at the
weights that keep reconstructions sharp the codes of the training images sit far from it: shifted by
up to two units, spread from 0.1 to 2 per dimension (docs/3d-from-2d.md).  Decoding N(0, I) then draws
codes the decoder never saw.  Fitting a density to the codes after training and sampling it instead
("ex-post density estimation", Ghosh et al., *From Variational to Deterministic Autoencoders*, ICLR 2020,
who fit a 10-component Gaussian mixture) draws from where the decoder was trained.

>>> rng = np.random.default_rng(0)
>>> codes = np.concatenate([rng.normal(-3, 0.1, (200, 2)), rng.normal(3, 0.1, (200, 2))])
>>> mixture = fit_gaussian_mixture(codes, components=2, seed=0)
>>> np.round(np.sort(mixture.means[:, 0]), 1).tolist(), np.round(mixture.weights, 1).tolist()
([-3.0, 3.0], [0.5, 0.5])
>>> bool(np.all(np.abs(np.abs(mixture.sample(100, rng)) - 3) < 1))
True
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from ssvae_tf._checks import check_count, check_positive_int

#: The densities a model samples codes from: the mixture fitted to its training codes, or N(0, I).
PRIORS = ("fitted", "standard")
#: How figures name the codes of each prior.
PRIOR_CODES_LABELS = {"fitted": "z from the mixture fitted to the training codes", "standard": "z ~ N(0, I)"}
#: Components of the mixture ``ssvae train`` fits (Ghosh et al.'s 10).
DEFAULT_COMPONENTS = 10
#: Added to every covariance's diagonal, in units of the codes' mean variance: keeps a component of a
#: few near-identical codes invertible.
COVARIANCE_JITTER = 1e-4


@dataclasses.dataclass(frozen=True)
class GaussianMixture:
    """Weights ``(K,)`` (summing to 1), means ``(K, d)`` and the lower Cholesky factors ``(K, d, d)`` of
    the covariances of ``K`` Gaussian components in ``d`` dimensions (float64)."""

    weights: np.ndarray
    means: np.ndarray
    scale_trils: np.ndarray

    @classmethod
    def standard(cls, dimensions: int, components: int = 1) -> "GaussianMixture":
        """N(0, I) in ``dimensions`` dimensions, written as ``components`` equal components."""
        return cls(np.full(components, 1.0 / components), np.zeros((components, dimensions)),
                   np.tile(np.eye(dimensions), (components, 1, 1)))

    def to_json(self) -> dict[str, Any]:
        """The mixture as plain JSON lists (a model's config carries it)."""
        return {"weights": self.weights.tolist(), "means": self.means.tolist(),
                "scale_trils": self.scale_trils.tolist()}

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> "GaussianMixture":
        """The mixture of :meth:`to_json`'s ``record``.

        Raises:
            ValueError: for arrays of mismatched shapes, weights that are not positive, or factors that are
                not lower triangular with a positive diagonal.
        """
        try:
            weights, means, trils = (np.asarray(record[key], np.float64) for key in ("weights", "means", "scale_trils"))
        except (KeyError, TypeError, ValueError):
            raise ValueError("a latent prior must hold 'weights', 'means' and 'scale_trils' arrays") from None
        k, d = means.shape if means.ndim == 2 else (0, 0)
        if k == 0 or weights.shape != (k,) or trils.shape != (k, d, d):
            raise ValueError(f"a latent prior of K components in d dimensions holds weights (K,), means (K, d) and "
                             f"scale_trils (K, d, d); got {weights.shape}, {means.shape} and {trils.shape}")
        diagonals = np.diagonal(trils, axis1=1, axis2=2)
        if not (np.all(weights > 0) and np.all(diagonals > 0) and np.allclose(trils, np.tril(trils))
                and np.all(np.isfinite(means))):
            raise ValueError("a latent prior needs positive weights and lower-triangular scale factors with a "
                             "positive diagonal")
        return cls(weights / weights.sum(), means, trils)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` draws: float32 ``(n, d)``; a component by its weight, then its Gaussian (one component: the
        generator's ``standard_normal((n, d))`` scaled and shifted, so :meth:`standard` draws exactly those)."""
        n = check_count(n, "n")
        chosen = (np.zeros(n, int) if len(self.weights) == 1
                  else rng.choice(len(self.weights), size=n, p=self.weights / self.weights.sum()))
        noise = rng.standard_normal((n, self.means.shape[1]))
        return (self.means[chosen] + np.einsum("nij,nj->ni", self.scale_trils[chosen], noise)).astype(np.float32)

    def log_density(self, points: np.ndarray) -> np.ndarray:
        """The mixture's log density at ``points`` ``(n, d)``: float64 ``(n,)``."""
        return _logsumexp(np.log(self.weights) + _component_log_densities(self, np.asarray(points, np.float64)))


def _component_log_densities(mixture: GaussianMixture, points: np.ndarray) -> np.ndarray:
    """``log N(x_n | mean_k, cov_k)``: ``(n, K)``."""
    d = points.shape[1]
    columns = []
    for mean, tril in zip(mixture.means, mixture.scale_trils):
        whitened = np.linalg.solve(tril, (points - mean).T)  # L y = x - m
        columns.append(-0.5 * (whitened**2).sum(axis=0) - np.log(np.diag(tril)).sum() - 0.5 * d * math.log(2 * math.pi))
    return np.stack(columns, axis=1)


def _logsumexp(values: np.ndarray) -> np.ndarray:
    """``log(sum(exp(values), axis=1))`` without overflow: ``(n,)``."""
    top = values.max(axis=1, keepdims=True)
    return (top + np.log(np.exp(values - top).sum(axis=1, keepdims=True)))[:, 0]


def fit_gaussian_mixture(codes: np.ndarray, components: int = DEFAULT_COMPONENTS, seed: int = 0,
                         iterations: int = 200, tolerance: float = 1e-5) -> GaussianMixture:
    """A full-covariance Gaussian mixture fitted to ``codes`` ``(n, d)`` by expectation-maximisation.

    ``min(components, n)`` components, started from k-means++ picks of the codes (``seed``) with the codes'
    covariance each, iterated until the mean log-likelihood gains less than ``tolerance`` (nats per code)
    or ``iterations`` pass.  Each covariance gets :data:`COVARIANCE_JITTER` x the codes' mean variance on
    its diagonal.

    Raises:
        ValueError: for codes that are not a finite ``(n, d)`` array with ``n >= 2``.
    """
    codes = np.asarray(codes, np.float64)
    if codes.ndim != 2 or len(codes) < 2 or not np.all(np.isfinite(codes)):
        raise ValueError(f"codes must be a finite (n, d) array with n >= 2, got shape {codes.shape}")
    components = min(check_positive_int(components, "components"), len(codes))
    n, d = codes.shape
    rng = np.random.default_rng(seed)
    jitter = COVARIANCE_JITTER * max(float(codes.var(axis=0).mean()), 1e-12) * np.eye(d)
    means = _kmeans_plus_plus(codes, components, rng)
    covariance = np.cov(codes, rowvar=False).reshape(d, d) + jitter
    mixture = GaussianMixture(np.full(components, 1.0 / components), means,
                              np.tile(np.linalg.cholesky(covariance), (components, 1, 1)))
    previous = -np.inf
    for _ in range(iterations):
        joint = np.log(mixture.weights) + _component_log_densities(mixture, codes)  # E step
        total = _logsumexp(joint)
        responsibilities = np.exp(joint - total[:, None])
        counts = responsibilities.sum(axis=0) + 1e-12  # M step
        means = responsibilities.T @ codes / counts[:, None]
        trils = []
        for k in range(components):
            centred = codes - means[k]
            covariance = (responsibilities[:, k, None] * centred).T @ centred / counts[k] + jitter
            trils.append(np.linalg.cholesky(covariance))
        mixture = GaussianMixture(counts / counts.sum(), means, np.stack(trils))
        likelihood = float(total.mean())
        if likelihood - previous < tolerance:
            break
        previous = likelihood
    return mixture


def _kmeans_plus_plus(points: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` of ``points`` ``(n, d)``, each drawn with probability proportional to its squared distance
    from the nearest one drawn before (Arthur & Vassilvitskii, 2007): ``(k, d)``."""
    chosen = [points[rng.integers(len(points))]]
    for _ in range(1, k):
        distances = np.min([((points - centre) ** 2).sum(axis=1) for centre in chosen], axis=0)
        total = distances.sum()
        chosen.append(points[rng.choice(len(points), p=distances / total)] if total > 0
                      else points[rng.integers(len(points))])
    return np.stack(chosen)
