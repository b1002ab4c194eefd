"""The VAE: shapes, the loss it reports against an independent NumPy computation,
training lowers the loss, every weight matters, and the .keras round trip."""

import keras
import numpy as np
import pytest

from ssvae_tf.model import SpatialStatsVAE, build_decoder, build_encoder, build_vae

TINY = dict(latent_dim=3, depth=2, filters=4, hidden_units=16)


def stripes(n=48, size=16, seed=0):
    """Binary images with one black horizontal or vertical band each."""
    rng = np.random.default_rng(seed)
    images = np.ones((n, size, size, 1), np.float32)
    for i in range(n):
        start, width = rng.integers(0, size - 6), rng.integers(2, 6)
        if i % 2:
            images[i, start : start + width] = 0.0
        else:
            images[i, :, start : start + width] = 0.0
    return images


@pytest.mark.parametrize("image_shape", [(16, 16, 1), (20, 36, 1), (16, 24, 16, 1), (32, 32, 2)])
def test_encoder_decoder_shapes(image_shape):
    encoder = build_encoder(image_shape, **TINY)
    decoder = build_decoder(image_shape, **TINY)
    x = np.random.default_rng(0).random((2, *image_shape)).astype(np.float32)
    z_mean, z_log_var = encoder(x)
    assert z_mean.shape == z_log_var.shape == (2, 3)
    images = decoder(z_mean).numpy()
    assert images.shape == (2, *image_shape)
    assert images.min() > 0 and images.max() < 1


def numpy_loss_terms(model, x):
    """Loss terms of the deterministic (z = z_mean) pass, computed in NumPy."""
    z_mean, z_log_var = (t.numpy().astype(np.float64) for t in model.encode(x))
    x_hat = model.decode(z_mean.astype(np.float32)).numpy().astype(np.float64)
    kl = -0.5 * np.sum(1 + z_log_var - z_mean**2 - np.exp(z_log_var), axis=1)
    sse_pixels = np.sum((x - x_hat) ** 2, axis=(1, 2, 3))

    def soft_autocorrelation(images):
        m0 = np.exp(-(images[..., 0] ** 2) / (2 * 0.25**2))
        power = np.abs(np.fft.fft2(m0)) ** 2
        return np.fft.ifft2(power).real / m0[0].size

    stats_sse = np.sum((soft_autocorrelation(x) - soft_autocorrelation(x_hat)) ** 2, axis=(1, 2))
    return stats_sse, kl, sse_pixels


@pytest.mark.parametrize("alpha, beta, gamma", [(1.0, 1.0, 0.0), (0.0, 0.5, 1.0), (3.0, 0.0, 2.0)])
def test_reported_loss_is_the_weighted_sum_of_independently_computed_terms(alpha, beta, gamma):
    x = stripes(8)
    model = build_vae((16, 16, 1), alpha=alpha, beta=beta, gamma=gamma, seed=0, **TINY)
    model.compile(optimizer="adam")
    logs = model.evaluate(x, batch_size=8, verbose=0, return_dict=True)
    stats_sse, kl, pixels = numpy_loss_terms(model, x)
    assert logs["stats_loss"] == pytest.approx(alpha * stats_sse.mean(), rel=1e-3, abs=1e-9)
    assert logs["kl_loss"] == pytest.approx(beta * kl.mean(), rel=1e-3, abs=1e-7)
    assert logs["data_loss"] == pytest.approx(gamma * pixels.mean(), rel=1e-3, abs=1e-7)
    assert logs["loss"] == pytest.approx(alpha * stats_sse.mean() + beta * kl.mean() + gamma * pixels.mean(),
                                         rel=1e-3)
    # unweighted measures do not depend on the weights
    assert logs["stats_distance"] == pytest.approx(stats_sse.mean() / 256, rel=1e-3)
    assert logs["pixel_mse"] == pytest.approx(pixels.mean() / 256, rel=1e-3)


@pytest.mark.slow
def test_prior_stats_distance_compares_decoded_prior_samples_with_the_data():
    import tensorflow as tf

    x = stripes(8)
    model = build_vae((16, 16, 1), seed=5, **TINY)
    model.compile(optimizer="adam")
    logs = model.evaluate(x, batch_size=8, verbose=0, return_dict=True)
    z = tf.random.stateless_normal([8, 3], seed=[5, 1])
    generated = model.decode(z).numpy().astype(np.float64)

    def mean_soft_autocorrelation(images):
        m0 = np.exp(-(images[..., 0] ** 2) / (2 * 0.25**2))
        return (np.fft.ifft2(np.abs(np.fft.fft2(m0)) ** 2).real / 256).mean(axis=0)

    expected = np.mean((mean_soft_autocorrelation(generated) - mean_soft_autocorrelation(x)) ** 2)
    assert logs["prior_stats_distance"] == pytest.approx(expected, rel=1e-3)
    history = model.fit(x, batch_size=8, epochs=1, validation_data=(x,), verbose=0).history
    assert "val_prior_stats_distance" in history and "prior_stats_distance" not in history


@pytest.mark.slow
def test_unweighted_stats_distance_ignores_scale_metric_and_window():
    x = stripes(8)
    reports = []
    for options in [{}, {"scale": 0.1, "metric": "l2"}, {"metric": "mse"}, {"window_sigma": 3.0, "cutoff": 7}]:
        keras.utils.set_random_seed(0)
        model = build_vae((16, 16, 1), stats_options=options, seed=0, **TINY)
        model.compile(optimizer="adam")
        reports.append(model.evaluate(x, batch_size=8, verbose=0, return_dict=True)["stats_distance"])
    full_lags = reports[:3]
    assert full_lags == pytest.approx([full_lags[0]] * 3, rel=1e-4)
    assert reports[3] > 0


@pytest.mark.parametrize("weights", [dict(alpha=1.0, gamma=0.0), dict(alpha=0.0, gamma=1.0)])
@pytest.mark.slow
def test_training_lowers_the_loss(weights):
    x = stripes(64)
    # scale: the paper's normalisation by the largest volume fraction (stripes: <= 5/16)
    model = build_vae((16, 16, 1), latent_dim=3, depth=2, filters=8, hidden_units=32, seed=0, beta=0.1,
                      stats_options={"scale": 0.3}, **weights)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    before = model.evaluate(x, batch_size=32, verbose=0, return_dict=True)
    model.fit(x, batch_size=16, epochs=15, verbose=0)
    after = model.evaluate(x, batch_size=32, verbose=0, return_dict=True)
    assert after["loss"] < 0.7 * before["loss"]
    target = "stats_distance" if weights["alpha"] else "pixel_mse"
    assert after[target] < before[target]


@pytest.mark.slow
def test_3d_training_lowers_the_loss():
    """A tiny 3-D VAE trains through the 3-D statistics loss (its FFTs have gradients)."""
    x = (np.random.default_rng(0).random((8, 16, 16, 16, 1)) > 0.5).astype(np.float32)
    keras.utils.set_random_seed(0)
    model = build_vae((16, 16, 16, 1), latent_dim=2, depth=2, filters=4, hidden_units=8, beta=0.001, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    before = model.evaluate(x, batch_size=8, verbose=0, return_dict=True)
    history = model.fit(x, batch_size=2, epochs=5, verbose=0).history
    after = model.evaluate(x, batch_size=8, verbose=0, return_dict=True)
    assert np.all(np.isfinite(history["loss"]))
    assert after["loss"] < 0.98 * before["loss"]
    assert after["stats_distance"] < before["stats_distance"]


def test_each_weight_changes_the_gradient():
    import tensorflow as tf

    x = tf.constant(stripes(8))
    gradients = {}
    for name, weights in {"stats": (1, 0, 0), "kl": (0, 1, 1e-9), "data": (0, 0, 1)}.items():
        keras.utils.set_random_seed(0)
        alpha, beta, gamma = weights
        model = build_vae((16, 16, 1), alpha=alpha or 1e-9, beta=beta, gamma=gamma, seed=0, **TINY)
        with tf.GradientTape() as tape:
            loss = model._loss_terms(x, training=False)["loss"]
        gradients[name] = np.concatenate(
            [g.numpy().ravel() for g in tape.gradient(loss, model.encoder.trainable_weights)])
    for a, b in [("stats", "kl"), ("stats", "data"), ("kl", "data")]:
        cosine = gradients[a] @ gradients[b] / np.linalg.norm(gradients[a]) / np.linalg.norm(gradients[b])
        assert cosine < 0.99, (a, b)


@pytest.mark.slow
def test_keras_round_trip_gives_identical_outputs(tmp_path):
    x = stripes(16)
    model = build_vae((16, 16, 1), alpha=2.0, beta=0.5, gamma=0.1, data_loss="bce",
                      stats_options={"correlations": [(0, 0), (0, 1)], "cutoff": 5, "window_sigma": 2.0},
                      seed=3, shift_augment=True, **TINY)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(x, batch_size=8, epochs=1, verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, SpatialStatsVAE)
    np.testing.assert_array_equal(loaded(x).numpy(), model(x).numpy())
    for a, b in zip(loaded.encode(x), model.encode(x)):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert loaded.stats_options == model.stats_options
    assert (loaded.alpha, loaded.beta, loaded.gamma, loaded.data_loss) == (2.0, 0.5, 0.1, "bce")
    assert loaded.shift_augment
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations) == 2
    loaded.fit(x, batch_size=8, epochs=1, verbose=0)


@pytest.mark.parametrize("shift_augment", [False, True])
@pytest.mark.slow
def test_fit_under_xla(shift_augment):
    x = stripes(16)
    model = build_vae((16, 16, 1), seed=0, shift_augment=shift_augment, **TINY)
    model.compile(optimizer="adam", jit_compile=True)
    history = model.fit(x, batch_size=8, epochs=2, validation_data=(x,), verbose=0).history
    assert model.jit_compile
    assert np.all(np.isfinite(history["loss"])) and np.isfinite(history["val_stats_distance"][-1])


def test_shift_augment_shifts_training_batches_only():
    import tensorflow as tf

    x = stripes(16)
    model = build_vae((16, 16, 1), seed=0, shift_augment=True, **TINY)
    model.compile(optimizer="adam")
    seen = []
    loss_terms = model._loss_terms
    model._loss_terms = lambda images, training: seen.append(np.asarray(images)) or loss_terms(images, training)
    model.train_step(tf.constant(x))
    model.test_step(tf.constant(x))
    trained_on, validated_on = seen
    np.testing.assert_array_equal(validated_on, x)
    assert not np.array_equal(trained_on, x)
    for original, shifted in zip(x, trained_on):  # each one a circular roll of its original
        rolls = [np.roll(original, (-dy, -dx), axis=(0, 1)) for dy in range(16) for dx in range(16)]
        assert any(np.array_equal(shifted, roll) for roll in rolls)


def test_sample_is_seeded():
    model = build_vae((16, 16, 1), seed=0, **TINY)
    a, b, c = model.sample(4, seed=1), model.sample(4, seed=1), model.sample(4, seed=2)
    assert a.shape == (4, 16, 16, 1)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(image_shape=(8, 8, 1)), "between 16 and 256"),
        (dict(image_shape=(64, 64)), "image_shape must be"),
        (dict(depth=9), "depth must be between"),
        (dict(alpha=0.0, gamma=0.0), "nothing would be reconstructed"),
        (dict(beta=-1.0), "beta must be"),
        (dict(data_loss="l1"), "data_loss must be"),
        (dict(stats_options={"cutof": 3}), "unknown statistics options"),
        (dict(stats_options={"correlations": [(0, 2)]}), "out of range"),
    ],
)
def test_bad_configuration_is_a_clear_value_error(kwargs, message):
    arguments = {**TINY, "image_shape": (16, 16, 1), **kwargs}
    with pytest.raises(ValueError, match=message):
        build_vae(**arguments)
