"""The Gaussian mixture fitted to a model's codes: checked against the formulas written out by hand."""

import doctest
import math

import numpy as np
import pytest

from ssvae_tf import latent_prior
from ssvae_tf.latent_prior import GaussianMixture, fit_gaussian_mixture


def test_doctests():
    assert doctest.testmod(latent_prior).failed == 0


def gaussian_density(x: np.ndarray, mean: np.ndarray, covariance: np.ndarray) -> float:
    """N(x | mean, covariance) by the textbook formula."""
    d = len(mean)
    centred = x - mean
    return float(np.exp(-0.5 * centred @ np.linalg.inv(covariance) @ centred)
                 / math.sqrt((2 * math.pi) ** d * np.linalg.det(covariance)))


def test_the_log_density_is_the_weighted_sum_of_the_components_densities():
    rng = np.random.default_rng(0)
    trils = np.stack([np.tril(rng.normal(size=(3, 3))) for _ in range(2)])
    trils[:, range(3), range(3)] = np.abs(trils[:, range(3), range(3)]) + 0.5
    mixture = GaussianMixture(np.array([0.3, 0.7]), rng.normal(size=(2, 3)), trils)
    points = rng.normal(size=(5, 3))
    expected = [math.log(sum(w * gaussian_density(x, m, t @ t.T)
                             for w, m, t in zip(mixture.weights, mixture.means, mixture.scale_trils)))
                for x in points]
    np.testing.assert_allclose(mixture.log_density(points), expected, rtol=1e-10)


def test_one_component_is_the_codes_mean_and_covariance():
    codes = np.random.default_rng(1).normal(size=(400, 3)) @ np.array([[1, 0, 0], [0.5, 2, 0], [0, 0.3, 0.2]])
    mixture = fit_gaussian_mixture(codes, components=1)
    np.testing.assert_allclose(mixture.weights, [1.0])
    np.testing.assert_allclose(mixture.means[0], codes.mean(axis=0), atol=1e-12)
    jitter = latent_prior.COVARIANCE_JITTER * codes.var(axis=0).mean()
    np.testing.assert_allclose(mixture.scale_trils[0] @ mixture.scale_trils[0].T,
                               np.cov(codes, rowvar=False, bias=True) + jitter * np.eye(3), rtol=1e-9)


def test_two_separated_clusters_are_found_with_their_weights_and_shapes():
    rng = np.random.default_rng(2)
    first = rng.multivariate_normal([-4, 0], [[1.0, 0.6], [0.6, 0.5]], 3000)
    second = rng.multivariate_normal([4, 1], [[0.2, 0.0], [0.0, 2.0]], 1000)
    mixture = fit_gaussian_mixture(np.concatenate([first, second]), components=2, seed=0)
    order = np.argsort(mixture.means[:, 0])
    np.testing.assert_allclose(mixture.weights[order], [0.75, 0.25], atol=0.01)
    np.testing.assert_allclose(mixture.means[order], [first.mean(0), second.mean(0)], atol=0.02)
    for k, cluster in zip(order, (first, second)):
        np.testing.assert_allclose(mixture.scale_trils[k] @ mixture.scale_trils[k].T,
                                   np.cov(cluster, rowvar=False), atol=0.05)


def test_draws_follow_the_weights_and_the_standard_mixture_is_the_generators_normals():
    mixture = GaussianMixture(np.array([0.2, 0.8]), np.array([[-10.0], [10.0]]), np.ones((2, 1, 1)) * 0.1)
    draws = mixture.sample(5000, np.random.default_rng(3))
    assert draws.shape == (5000, 1) and draws.dtype == np.float32
    assert np.mean(draws < 0) == pytest.approx(0.2, abs=0.02)
    np.testing.assert_array_equal(GaussianMixture.standard(4).sample(6, np.random.default_rng(5)),
                                  np.random.default_rng(5).standard_normal((6, 4)).astype(np.float32))


def test_json_round_trip_and_refusals():
    mixture = fit_gaussian_mixture(np.random.default_rng(4).normal(size=(50, 2)), components=3)
    again = GaussianMixture.from_json(mixture.to_json())
    for name in ("weights", "means", "scale_trils"):
        np.testing.assert_allclose(getattr(again, name), getattr(mixture, name))
    record = mixture.to_json()
    for bad, message in (({"weights": [1.0]}, "must hold 'weights', 'means' and 'scale_trils'"),
                         ({**record, "weights": [1.0]}, r"weights \(K,\), means \(K, d\)"),
                         ({**record, "weights": [0.5, 0.5, 0.0]}, "positive weights"),
                         ({**record, "scale_trils": np.transpose(mixture.scale_trils, (0, 2, 1)).tolist()},
                          "lower-triangular")):
        with pytest.raises(ValueError, match=message):
            GaussianMixture.from_json(bad)


@pytest.mark.parametrize("codes", [np.zeros((1, 2)), np.zeros(5), np.array([[0.0, np.nan], [1.0, 1.0]])])
def test_fit_refuses_codes_it_cannot_fit(codes):
    with pytest.raises(ValueError, match="codes must be a finite"):
        fit_gaussian_mixture(codes)


def test_more_components_than_codes_gives_one_per_code_and_identical_codes_stay_invertible():
    mixture = fit_gaussian_mixture(np.ones((3, 2)), components=10)
    assert len(mixture.weights) == 3 and np.all(np.isfinite(mixture.scale_trils))
