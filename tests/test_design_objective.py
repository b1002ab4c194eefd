"""The design objective and error (``ssvae_tf.design.objective``) against NumPy definitions, and the
latent objective's gradient against finite differences."""

import numpy as np
import pytest
import tensorflow as tf

from design_helpers import SIDE, band, numpy_autocorrelation, soft_black, tiny_model
from ssvae_tf.design import stats_error, stats_objective, target_from_image
from ssvae_tf.inference import latent_objective


def test_objective_and_error_follow_their_definitions():
    target = target_from_image(band())
    images = np.random.default_rng(0).uniform(size=(2, SIDE, SIDE, 1)).astype(np.float32)
    soft = np.stack([numpy_autocorrelation(soft_black(image)) for image in images])
    squared = (soft - target.stats) ** 2
    np.testing.assert_allclose(stats_error(target, images), squared.mean(axis=(1, 2)), rtol=1e-5)
    fraction = target.volume_fraction
    np.testing.assert_allclose(stats_objective(target)(images).numpy(), squared.mean(axis=(1, 2)) / fraction**2,
                               rtol=1e-4)
    window = np.zeros((SIDE, SIDE), bool)
    window[SIDE // 2 - 2:SIDE // 2 + 3, SIDE // 2 - 2:SIDE // 2 + 3] = True  # |r_d| <= 2
    windowed = stats_objective(target, {"cutoff": 2})(images).numpy()
    np.testing.assert_allclose(windowed, squared[:, window].mean(axis=1) / fraction**2, rtol=1e-4)
    assert stats_error(target, band()[np.newaxis])[0] < 1e-7  # the target itself: hard and soft agree


def test_latent_gradient_agrees_with_finite_differences():
    model = tiny_model()
    loss = latent_objective(model.decode, stats_objective(target_from_image(band())), prior_weight=1e-3)
    rng = np.random.default_rng(1)
    z = tf.constant(rng.standard_normal((3, 2)).astype(np.float32))
    direction = rng.standard_normal((3, 2)).astype(np.float32)
    with tf.GradientTape() as tape:
        tape.watch(z)
        total = tf.reduce_sum(loss(z))
    analytic = float(tf.reduce_sum(tape.gradient(total, z) * direction))
    h = 0.03
    numeric = float(tf.reduce_sum(loss(z + h * direction)) - tf.reduce_sum(loss(z - h * direction))) / (2 * h)
    assert numeric == pytest.approx(analytic, rel=0.02)
