"""The VAE: shapes, the loss it reports against an independent NumPy computation,
training lowers the loss, every weight matters, and the .keras round trip."""

import re
import sys

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
    model._loss_terms = lambda images, training, plane_targets=None: (seen.append(np.asarray(images))
                                                                      or loss_terms(images, training))
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


def test_sample_draws_the_fitted_latent_prior_which_a_saved_model_keeps(tmp_path):
    from ssvae_tf.latent_prior import GaussianMixture

    model = build_vae((16, 16, 1), seed=0, **TINY)
    d = TINY["latent_dim"]
    standard = np.random.default_rng(1).standard_normal((3, d)).astype(np.float32)
    np.testing.assert_array_equal(model.prior_codes(3, seed=1), standard)  # no fitted prior: N(0, I)
    far = GaussianMixture(np.array([1.0]), np.full((1, d), 7.0), np.eye(d)[None] * 0.01)
    model.latent_prior = far
    np.testing.assert_allclose(model.prior_codes(3, seed=1), 7.0 + 0.01 * standard, rtol=1e-6)
    np.testing.assert_array_equal(model.prior_codes(3, seed=1, prior="standard"), standard)
    np.testing.assert_allclose(model.sample(3, seed=1), np.asarray(model.decode(7.0 + 0.01 * standard)), atol=1e-6)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(loaded.prior_codes(3, seed=1), model.prior_codes(3, seed=1))
    with pytest.raises(ValueError, match=r"prior must be one of \('fitted', 'standard'\), got 'normal'"):
        model.sample(2, prior="normal")
    with pytest.raises(ValueError, match=f"GaussianMixture over the {d} latent dimensions"):
        model.latent_prior = GaussianMixture.standard(d + 1)


def test_sample_takes_a_count_and_zero_gives_an_empty_stack_of_the_image_shape():
    model = build_vae((16, 16, 1), seed=0, **TINY)
    empty = model.sample(0)
    assert empty.shape == (0, 16, 16, 1) and empty.dtype == np.float32
    assert model.sample(np.int64(2)).shape == (2, 16, 16, 1)
    for bad in (2.5, "3", -1, True):
        with pytest.raises(ValueError, match=rf"n must be an integer >= 0, got {bad!r}"):
            model.sample(bad)


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
        # wrong types are named too, not an obscure TypeError from inside the layers (issue 24)
        (dict(latent_dim="4"), r"latent_dim must be an integer >= 1, got '4'"),
        (dict(hidden_units=2.5), r"hidden_units must be an integer >= 1, got 2.5"),
        (dict(image_shape=None), r"image_shape must be integers .*, got None"),
        (dict(image_shape="16x16"), r"image_shape must be integers .*, got '16x16'"),
        (dict(image_shape=(16.0, 16, 1)), r"image_shape must be integers"),
        (dict(beta="x"), r"beta must be a finite number >= 0, got 'x'"),
    ],
)
def test_bad_configuration_is_a_clear_value_error(kwargs, message):
    arguments = {**TINY, "image_shape": (16, 16, 1), **kwargs}
    with pytest.raises(ValueError, match=message):
        build_vae(**arguments)


# ------------------------------------------------- decoders, padding, schedules
def test_circular_pad_wraps_like_numpy():
    from ssvae_tf.model import wrap_pad

    x = np.arange(2 * 5 * 4 * 3, dtype=np.float32).reshape(2, 5, 4, 3)
    expected = np.pad(x, [(0, 0), (2, 2), (2, 2), (0, 0)], mode="wrap")
    np.testing.assert_array_equal(np.asarray(wrap_pad(x, 2)), expected)


@pytest.mark.parametrize("image_shape", [(16, 16, 1), (20, 36, 1), (16, 24, 16, 1)])
@pytest.mark.parametrize("padding", ["zeros", "circular"])
def test_resize_decoder_and_circular_encoder_shapes(image_shape, padding):
    encoder = build_encoder(image_shape, padding=padding, **TINY)
    decoder = build_decoder(image_shape, upsampling="resize", padding=padding, **TINY)
    x = np.random.default_rng(0).random((2, *image_shape)).astype(np.float32)
    z_mean, _ = encoder(x)
    images = decoder(z_mean).numpy()
    assert images.shape == (2, *image_shape) and images.min() > 0 and images.max() < 1


def _from_feature_map(decoder):
    """The decoder's layers after its dense part: feature map -> image."""
    return keras.Model(decoder.get_layer("reshape").output, decoder.output)


def test_resize_decoder_leaves_no_checkerboard_where_transposed_convolutions_do():
    # A constant feature map is a flat image for nearest-neighbour upsampling and wrapped 3x3
    # convolutions; uneven transposed-convolution overlap stamps a periodic pattern on it (Odena et
    # al. 2016), of period 2**depth px after depth stride-2 layers.
    keras.utils.set_random_seed(0)
    shape = (32, 32, 1)
    flat = np.full((1, 4, 4, 32), 0.5, np.float32)
    resize = _from_feature_map(build_decoder(shape, latent_dim=3, depth=3, filters=8, upsampling="resize",
                                             padding="circular"))(flat).numpy()
    transpose = _from_feature_map(build_decoder(shape, latent_dim=3, depth=3, filters=8))(flat).numpy()
    assert resize.std() < 1e-5
    assert transpose[0, 8:-8, 8:-8, 0].std() > 1e-3  # away from the zero-padded edges


@pytest.mark.parametrize("spatial", [(5, 6), (3, 4, 5)])
@pytest.mark.parametrize("periodic", [False, True])
def test_upsampled_conv_is_the_convolution_of_the_linear_x2_computed_at_the_low_resolution(spatial, periodic):
    from ssvae_tf.model import CircularPad, LinearUpsample, UpsampledConv

    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, *spatial, 3)).astype(np.float32)
    folded = UpsampledConv(4, periodic=periodic, activation="relu")
    folded.build(x.shape)
    folded.bias.assign(rng.normal(size=4).astype(np.float32))
    conv = keras.layers.Conv2D if len(spatial) == 2 else keras.layers.Conv3D
    conv = conv(4, 3, padding="valid" if periodic else "same", activation="relu")
    upsampled = LinearUpsample(periodic)(x)
    upsampled = CircularPad(1)(upsampled) if periodic else upsampled
    conv.build(upsampled.shape)
    conv.set_weights(folded.get_weights())  # the same kernel (3, ..., 3, in, out) and bias
    expected, out = conv(upsampled).numpy(), folded(x).numpy()
    assert out.shape == (2, *(2 * s for s in spatial), 4) and out.dtype == np.float32
    # wrapped around: the same everywhere; zero-padded: the edges see the edge repeated, not zeros
    inside = (slice(None),) * (1 if periodic else 0) + (slice(None), *[slice(1, -1)] * len(spatial))
    np.testing.assert_allclose(out[inside], expected[inside], atol=1e-5)


def test_the_3d_upsample_decoder_computes_each_x2_and_the_convolution_after_it_at_the_low_resolution():
    from ssvae_tf.model import FOLD_MIN_SIDE, CircularPad, LinearUpsample, UpsampledConv

    shape, architecture = (16, 16, 16, 1), dict(latent_dim=3, depth=3, filters=4, hidden_units=16)
    decoder = build_decoder(shape, upsampling="upsample", padding="circular", **architecture)
    # 2^3 -> 4^3 at full resolution (below FOLD_MIN_SIDE); 4^3 -> 8^3 and the logits' 8^3 -> 16^3 folded
    assert FOLD_MIN_SIDE == 4
    assert [layer.name for layer in decoder.layers if isinstance(layer, LinearUpsample)] == ["resize_2"]
    assert [layer.name for layer in decoder.layers if isinstance(layer, UpsampledConv)] == ["up_0", "to_image"]
    assert decoder.get_layer("up_0").kernel.shape == (3, 3, 3, 8, 4)
    # the decoder unfolded: each linear x2 at the higher resolution, then the 3x3x3 convolution there
    h = decoder.get_layer("up_1").output
    for folded, activation in (("up_0", "relu"), ("to_image", "sigmoid")):
        weights = decoder.get_layer(folded).get_weights()
        conv = keras.layers.Conv3D(weights[0].shape[-1], 3, padding="valid", activation=activation)
        h = conv(CircularPad(1)(LinearUpsample(periodic=True)(h)))
        conv.set_weights(weights)
    unfolded = keras.Model(decoder.input, h)
    z = np.random.default_rng(0).normal(size=(2, 3)).astype(np.float32)
    images = decoder(z)
    assert images.shape == (2, *shape) and images.dtype == "float32"
    np.testing.assert_allclose(images.numpy(), unfolded(z).numpy(), atol=1e-6)
    flat = build_decoder((16, 16, 1), upsampling="upsample", **architecture)  # 2-D keeps its decoder
    assert sum(isinstance(layer, LinearUpsample) for layer in flat.layers) == 3
    assert not any(isinstance(layer, UpsampledConv) for layer in flat.layers)


def test_noise_injection_adds_one_standard_normal_image_per_call_in_units_of_the_features_rms():
    from ssvae_tf.model import NoiseInjection

    layer = NoiseInjection(0.5, seed=3)
    x = np.full((4, 16, 16, 16, 3), 3.0, np.float32)  # root-mean-square 3
    layer.build(x.shape)
    layer.scale.assign(np.array([0.0, 1.0, -2.0], np.float32))
    first, second = layer(x).numpy() - x, layer(x).numpy() - x
    np.testing.assert_array_equal(first[..., 0], 0.0)
    np.testing.assert_allclose(first[..., 2], -2.0 * first[..., 1], atol=1e-5)  # one image for every channel
    assert abs(first[..., 1].mean()) < 0.05 and abs(first[..., 1].std() - 3.0) < 0.05
    assert not np.allclose(first, second)  # fresh noise at every call


@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
def test_a_decoder_pushed_below_zero_draws_the_bias_with_relu_and_still_learns_with_leaky_relu(tmp_path, activation):
    """Every feature map of the decoder pushed below zero: ReLUs output 0 there, so the image is the logits'
    bias (one grey level) and the loss's gradient reaches no weight but that bias; leaky ReLUs keep both."""
    import tensorflow as tf

    x = tf.constant((np.random.default_rng(0).random((2, 16, 16, 1)) < 0.4).astype(np.float32))
    model = build_vae((16, 16, 1), upsampling="upsample", seed=0, decoder_activation=activation, **TINY)
    expand = model.decoder.get_layer("expand")
    expand.bias.assign(np.full(expand.bias.shape, -100.0, np.float32))
    with tf.GradientTape() as tape:
        loss = model._loss_terms(x, training=False)["loss"]
    weights = model.decoder.trainable_weights
    gradients = {weight.path: np.abs(g.numpy()).max() for weight, g in zip(weights, tape.gradient(loss, weights))}
    z = np.random.default_rng(1).normal(size=(2, TINY["latent_dim"])).astype(np.float32)
    images = model.decoder(z).numpy()
    if activation == "relu":
        assert {path for path, g in gradients.items() if g > 0} == {"to_image/bias"}
        bias = model.decoder.get_layer("to_image").bias.numpy()[0]
        np.testing.assert_allclose(images, 1 / (1 + np.exp(-bias)), rtol=1e-6)
    else:
        assert min(gradients.values()) > 0 and images.std() > 0
    model.save(tmp_path / "model.keras")
    np.testing.assert_allclose(keras.saving.load_model(tmp_path / "model.keras").decoder(z).numpy(), images,
                               rtol=1e-5, atol=1e-6)


def test_a_decoder_with_noise_draws_each_code_differently_and_survives_a_keras_file(tmp_path):
    from ssvae_tf.model import NoiseInjection

    shape = (16, 16, 16, 1)
    volumes = (np.random.default_rng(2).random((4, *shape)) < 0.4).astype(np.float32)
    model = build_vae(shape, upsampling="upsample", padding="circular", seed=0, decoder_noise=0.2, **TINY)
    noise_layers = [layer for layer in model.decoder.layers if isinstance(layer, NoiseInjection)]
    assert [layer.name for layer in noise_layers] == ["noise_1"]  # every level but the finest
    np.testing.assert_allclose(noise_layers[0].scale.numpy(), 0.2)  # the starting scale asked for
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=True)
    history = model.fit(volumes, epochs=1, batch_size=4, shuffle=False, verbose=0).history
    assert np.isfinite(history["loss"]).all()
    z = np.zeros((2, TINY["latent_dim"]), np.float32)
    assert not np.allclose(model.decoder(z).numpy(), model.decoder(z).numpy())
    np.testing.assert_array_equal(model.sample(2, seed=5), model.sample(2, seed=5))
    with pytest.raises(ValueError, match="noise goes into the level convolutions"):
        build_decoder(shape, upsampling="transpose", noise=0.5, **TINY)
    with pytest.raises(ValueError, match="needs depth >= 2, got depth=1"):
        build_decoder(shape, upsampling="upsample", noise=0.5, **{**TINY, "depth": 1})
    with pytest.raises(ValueError, match="the noise's starting scale .* got True"):
        build_decoder(shape, upsampling="upsample", noise=True, **TINY)
    with pytest.raises(ValueError, match="noise must be a finite number >= 0, got -0.1"):
        build_decoder(shape, upsampling="upsample", noise=-0.1, **TINY)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_array_equal(loaded.decoder.get_layer("noise_1").scale.numpy(),
                                  model.decoder.get_layer("noise_1").scale.numpy())


def test_a_3d_upsample_vae_trains_under_xla_and_survives_a_keras_file(tmp_path):
    shape = (16, 16, 16, 1)
    volumes = (np.random.default_rng(2).random((4, *shape)) < 0.4).astype(np.float32)
    model = build_vae(shape, upsampling="upsample", padding="circular", seed=0, **TINY)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=True)
    history = model.fit(volumes, epochs=1, batch_size=4, shuffle=False, verbose=0).history
    assert np.isfinite(history["loss"]).all()
    np.testing.assert_allclose(_output_bias(model), [np.log(0.4 / 0.6)], atol=0.1)  # from the data's mean
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(loaded(volumes).numpy(), model(volumes).numpy(), atol=1e-6)


def test_gaussian_blur_matches_a_wrapped_convolution_loop():
    import tensorflow as tf

    from ssvae_tf.model import gaussian_blur

    x = np.random.default_rng(1).random((2, 12, 10, 2)).astype(np.float32)
    sigma = 1.2
    radius = int(np.ceil(3 * sigma))
    taps = np.exp(-np.arange(-radius, radius + 1) ** 2 / (2 * sigma**2))
    taps /= taps.sum()
    expected = np.zeros_like(x, dtype=np.float64)
    for a, wa in enumerate(taps):
        for b, wb in enumerate(taps):
            expected += wa * wb * np.roll(x, (radius - a, radius - b), axis=(1, 2))
    np.testing.assert_allclose(gaussian_blur(tf.constant(x), sigma).numpy(), expected, atol=1e-5)


def _at_progress(model, progress, steps=100):
    """Put ``model`` ``progress`` of the way through a fit of ``steps`` steps."""
    model.schedule_steps.assign(steps)
    model.optimizer.iterations.assign(int(progress * steps))


def test_scheduled_terms_follow_the_progress():
    from ssvae_tf.model import gaussian_blur

    x = stripes(8)
    schedule = dict(kl="warmup", kl_ramp=0.5, anchor=0.2, anchor_sigma=1.0, anchor_until=0.5)
    model = build_vae((16, 16, 1), beta=0.3, seed=0, schedule=schedule, **TINY)
    model.compile(optimizer="adam")
    model.optimizer.build(model.trainable_variables)
    stats_sse, kl, _ = numpy_loss_terms(model, x)
    blurred = [gaussian_blur(image, 1.0).numpy() for image in (x, model(x).numpy())]
    anchor_sse = np.sum((blurred[0] - blurred[1]) ** 2, axis=(1, 2, 3)).mean()
    for progress, kl_factor, anchor_weight in [(0.25, 0.5, 0.1), (0.75, 1.0, 0.0)]:
        _at_progress(model, progress)
        logs = model.evaluate(x, batch_size=8, verbose=0, return_dict=True)
        assert logs["kl_loss"] == pytest.approx(0.3 * kl_factor * kl.mean(), rel=1e-3)
        assert logs["anchor_loss"] == pytest.approx(anchor_weight * anchor_sse, rel=1e-3, abs=1e-7)
        assert logs["loss"] == pytest.approx(stats_sse.mean() + 0.3 * kl_factor * kl.mean()
                                             + anchor_weight * anchor_sse, rel=1e-3)


def test_an_aligned_anchor_compares_blurred_images_after_the_best_shift():
    from ssvae_tf.model import gaussian_blur
    from ssvae_tf.stats.two_point import shift_aligned_sse

    x = stripes(8)
    model = build_vae((16, 16, 1), seed=0, schedule=dict(anchor=0.2, anchor_aligned=True, anchor_until=1.0), **TINY)
    model.compile(optimizer="adam")
    model.optimizer.build(model.trainable_variables)
    _at_progress(model, 0.5)
    logs = model.evaluate(x, batch_size=8, verbose=0, return_dict=True)
    blurred = [gaussian_blur(image, 1.0) for image in (x, model(x).numpy())]
    assert logs["anchor_loss"] == pytest.approx(0.1 * shift_aligned_sse(*blurred).numpy().mean(), rel=1e-3)


def test_free_bits_floor_each_dimension_s_batch_mean_kl():
    x = stripes(8)
    model = build_vae((16, 16, 1), beta=1.0, seed=0, schedule={"free_bits": 0.05}, **TINY)
    model.compile(optimizer="adam")
    z_mean, z_log_var = (t.numpy().astype(np.float64) for t in model.encode(x))
    per_dim = (-0.5 * (1 + z_log_var - z_mean**2 - np.exp(z_log_var))).mean(axis=0)
    logs = model.evaluate(x, batch_size=8, verbose=0, return_dict=True)
    assert logs["kl_loss"] == pytest.approx(np.maximum(per_dim, 0.05).sum(), rel=1e-3)
    assert np.maximum(per_dim, 0.05).sum() > per_dim.sum()  # the floor is active here


def test_annealed_eps_sharpens_the_indicator_of_the_loss_only():
    import tensorflow as tf

    from ssvae_tf.stats.two_point import StatsOptions

    x = stripes(8)
    model = build_vae((16, 16, 1), seed=0, schedule={"eps_start": 0.4}, stats_options={"eps": 0.1}, **TINY)
    model.compile(optimizer="adam")
    model.optimizer.build(model.trainable_variables)
    _at_progress(model, 0.5)
    logs = model.evaluate(x, batch_size=8, verbose=0, return_dict=True)
    x_hat = model(x)
    at_half = StatsOptions(eps=0.25).distance(tf.constant(x), x_hat).numpy()  # 0.4 -> 0.1, half way: 0.25
    assert logs["stats_loss"] == pytest.approx(at_half.mean(), rel=1e-3)
    reported = StatsOptions(eps=0.1).lag_mse(tf.constant(x), x_hat).numpy()  # the run's own eps
    assert logs["stats_distance"] == pytest.approx(reported.mean(), rel=1e-3)


def test_fit_tells_the_schedule_its_length_and_ends_at_full_progress():
    x = stripes(24)
    model = build_vae((16, 16, 1), seed=0, schedule={"kl": "cyclical", "kl_cycles": 2}, **TINY)
    model.compile(optimizer="adam")
    model.fit(x, batch_size=8, epochs=2, verbose=0)
    assert int(model.schedule_steps.numpy()) == 6 and float(model.progress()) == 1.0


def test_latent_usage_counts_active_units_over_the_whole_validation_pass():
    x = stripes(40)
    model = build_vae((16, 16, 1), seed=0, **TINY)
    model.compile(optimizer="adam")
    logs = model.evaluate(x, batch_size=16, verbose=0, return_dict=True)  # 3 batches, the last short
    z_mean, z_log_var = (t.numpy().astype(np.float64) for t in model.encode(x))
    assert logs["active_units"] == np.sum(z_mean.var(axis=0) > 0.01)
    per_dim = (-0.5 * (1 + z_log_var - z_mean**2 - np.exp(z_log_var))).mean(axis=0)
    np.testing.assert_allclose([logs[f"kl_dim_{d}"] for d in range(3)], per_dim, rtol=1e-4)


def test_an_anchor_needs_a_statistics_loss_and_room_for_its_blur():
    with pytest.raises(ValueError, match="alpha is 0"):
        build_vae((16, 16, 1), alpha=0.0, gamma=1.0, schedule={"anchor": 0.1}, **TINY)
    with pytest.raises(ValueError, match="anchor_sigma=6 px is too wide"):
        build_vae((16, 16, 1), schedule={"anchor": 0.1, "anchor_sigma": 6}, **TINY)


def test_fit_refuses_an_array_holding_nan():
    model = build_vae((16, 16, 1), latent_dim=2, depth=2, filters=4, hidden_units=8)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    images = np.full((4, 16, 16, 1), 0.5, np.float32)
    images[1, 2, 3, 0] = np.nan
    before = [w.numpy().copy() for w in model.weights]
    with pytest.raises(ValueError, match=r"x holds 1 NaN or infinite value\(s\)"):
        model.fit(images, epochs=1, verbose=0)
    assert all(np.array_equal(b, w.numpy()) for b, w in zip(before, model.weights))


def _output_bias(model) -> np.ndarray:
    return model.decoder.get_layer("to_image").bias.numpy()


@pytest.mark.parametrize("as_dataset", [False, True])
def test_fit_starts_the_output_at_the_data_s_mean_grey_level(as_dataset):
    import tensorflow as tf

    images = (np.random.default_rng(0).random((40, 16, 16, 1)) < 0.85).astype(np.float32)
    model = build_vae((16, 16, 1), latent_dim=2, depth=2, filters=4, hidden_units=8)
    model.compile(optimizer=keras.optimizers.Adam(0.0))  # the weights stay where they start
    data = tf.data.Dataset.from_tensor_slices(images).batch(8) if as_dataset else images
    model.fit(data, epochs=1, batch_size=None if as_dataset else 8, shuffle=False, verbose=0)
    mean = images[:8].mean() if as_dataset else images.mean()  # a dataset's first batch, an array's first images
    np.testing.assert_allclose(_output_bias(model), [np.log(mean / (1 - mean))], rtol=1e-5)
    decoded = model.decode(np.zeros((1, 2), np.float32)).numpy()
    assert 0.6 < decoded.mean() < 0.95  # not the 0.5 of a zero bias


def test_the_output_bias_is_left_alone_after_the_first_step_and_for_a_softmax_output():
    images = np.ones((8, 16, 16, 1), np.float32)
    model = build_vae((16, 16, 1), latent_dim=2, depth=2, filters=4, hidden_units=8)
    model.compile(optimizer=keras.optimizers.Adam(0.0))
    model.optimizer.iterations.assign(3)  # a resumed run
    before = _output_bias(model).copy()
    model.fit(images, epochs=1, verbose=0)
    np.testing.assert_array_equal(_output_bias(model), before)
    from ssvae_tf.stats.two_point import StatsOptions

    softmax = build_vae((16, 16, 1), latent_dim=2, depth=2, filters=4, hidden_units=8, output="softmax",
                        stats_options=StatsOptions(n_phases=3, correlations=((0, 0),)))
    softmax.initialise_output_bias(images)
    assert not _output_bias(softmax).any()


@pytest.mark.parametrize("where", ["x", "validation_data"])
def test_fit_refuses_images_outside_0_1_naming_the_range_found(where):
    model = build_vae((16, 16, 1), latent_dim=2, depth=2, filters=4, hidden_units=8)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    grey = np.full((4, 16, 16, 1), 0.5, np.float32)
    eight_bit = np.random.default_rng(0).integers(0, 256, (4, 16, 16, 1)).astype(np.float32)
    eight_bit[0, 0, 0, 0], eight_bit[0, 0, 1, 0] = 0.0, 255.0
    before = [w.numpy().copy() for w in model.weights]
    arguments = dict(x=eight_bit) if where == "x" else dict(x=grey, validation_data=(eight_bit,))
    with pytest.raises(ValueError, match=rf"{where} holds values in \[0, 255\]; expected images in \[0, 1\]"):
        model.fit(**arguments, epochs=1, verbose=0)
    assert all(np.array_equal(b, w.numpy()) for b, w in zip(before, model.weights))


@pytest.mark.parametrize("terminal", [True, False])
def test_fit_shows_the_console_metrics_only_while_the_history_keeps_every_one(terminal, capsys, monkeypatch):
    """A progress bar per batch on a terminal, one line per epoch in a log; either with the few metrics
    people read, in order (no zero data_loss, no KL per dimension), while the history has them all."""
    monkeypatch.setattr(sys.stdout, "isatty", lambda: terminal)
    model = build_vae((16, 16, 1), seed=0, **TINY)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    images = stripes(12)
    history = model.fit(images[:8], validation_data=(images[8:],), batch_size=4, epochs=1).history
    out = capsys.readouterr().out
    assert ("1/2" in out) == terminal and "2/2" in out  # the bar moves per batch on a terminal only
    last = re.split(r"[\r\n]+", out.strip())[-1]
    assert re.findall(r"(\w+): ", last) == list(model.console_metrics) == [
        "loss", "stats_loss", "kl_loss", "stats_distance",
        "val_loss", "val_stats_loss", "val_kl_loss", "val_stats_distance", "val_active_units"]
    assert {"data_loss", "pixel_mse", "val_kl_dim_0", "val_prior_stats_distance"} <= set(history)


def test_the_console_metrics_follow_the_weights_and_the_output():
    baseline = build_vae((16, 16, 1), alpha=0.0, gamma=1.0, **TINY).console_metrics
    assert baseline[:4] == ("loss", "kl_loss", "data_loss", "stats_distance")
    binary = build_vae((16, 16, 1), output="concrete", schedule={"anchor": 1.0, "temperature_start": 1.0},
                       beta=0.0, **TINY).console_metrics
    assert binary[:5] == ("loss", "stats_loss", "anchor_loss", "stats_distance", "binary_share")
    assert binary[-2:] == ("val_binary_share", "val_active_units")


def test_batch_means_are_zero_for_an_empty_replica_batch_and_logs_weigh_images():
    import doctest

    import ssvae_tf.distribute
    import ssvae_tf.model

    for module in (ssvae_tf.model, ssvae_tf.distribute):
        assert doctest.testmod(module).failed == 0
    model = build_vae((16, 16, 1), latent_dim=2, depth=2, filters=4, hidden_units=8)
    logs = [model._log({"pixel_mse": keras.ops.convert_to_tensor(value)}, keras.ops.convert_to_tensor(n))
            for value, n in ((1.0, 3), (0.0, 1))]
    assert float(logs[-1]["pixel_mse"]) == pytest.approx(0.75)  # (3 x 1 + 1 x 0) / 4 images, not (1 + 0) / 2


def test_a_mixed_precision_volume_model_trains_in_16_bits_with_a_float32_loss():
    from ssvae_tf.settings import TrainConfig
    from ssvae_tf.training import build_model

    config = TrainConfig(data="microstructure", dims=3, image_size=16, filters=4, hidden_units=8, latent_dim=2,
                         mixed_precision=True)
    model = build_model(config, (16, 16, 16, 1), scale=0.5)
    volumes = np.random.default_rng(0).random((4, 16, 16, 16, 1)).astype(np.float32)
    history = model.fit(volumes, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all() and model.encoder.layers[1].compute_dtype == "bfloat16"


# ----------------------------------------------------------------- statistics-input encoder
def _numpy_centred_autocorrelation(indicator):
    """Brute force: S(r) = mean_x I(x) I(x + r) over periodic lags r, zero lag at the centre."""
    height, width = indicator.shape
    stats = np.zeros((height, width))
    for dy in range(height):
        for dx in range(width):
            stats[dy, dx] = np.mean(indicator * np.roll(indicator, (-dy, -dx), axis=(0, 1)))
    return np.roll(stats, (height // 2, width // 2), axis=(0, 1))


def test_statistics_input_is_the_black_phase_autocorrelation_over_the_scale():
    from ssvae_tf.model import StatisticsInput

    images = stripes(n=3, size=12, seed=4)
    out = StatisticsInput({"kind": "hard", "scale": 0.5})(images).numpy()
    assert out.shape == (3, 12, 12, 1) and out.dtype == np.float32
    for image, stats in zip(images, out):
        expected = _numpy_centred_autocorrelation((image[..., 0] < 0.5).astype(float)) / 0.5
        np.testing.assert_allclose(stats[..., 0], expected, atol=1e-6)


@pytest.mark.parametrize("image_shape", [(16, 16, 1), (16, 16, 16, 1)])
def test_a_statistics_encoder_gives_every_periodic_shift_the_same_code(image_shape):
    model = build_vae(image_shape, encoder_input="statistics", seed=0, **TINY)
    x = np.random.default_rng(1).random((3, *image_shape)).astype(np.float32)
    shifted = np.roll(x, (5, 3), axis=(1, 2))
    z, z_shifted = (model.encode(images)[0].numpy() for images in (x, shifted))
    np.testing.assert_allclose(z_shifted, z, atol=1e-5)
    image_model = build_vae(image_shape, seed=0, **TINY)
    assert np.abs(image_model.encode(shifted)[0].numpy() - image_model.encode(x)[0].numpy()).max() > 1e-3


def test_a_statistics_encoder_trains_and_survives_the_keras_round_trip(tmp_path):
    model = build_vae((16, 16, 1), encoder_input="statistics", beta=0.01, seed=0, **TINY)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    x = stripes()
    history = model.fit(x, batch_size=16, epochs=3, verbose=0).history
    assert history["stats_distance"][-1] < history["stats_distance"][0]
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.encode(x)[0].numpy(), model.encode(x)[0].numpy(), atol=1e-6)
    assert loaded.encoder.get_layer("statistics").options == model.stats_options.replace(cutoff="full")


def test_an_unknown_encoder_input_is_named():
    with pytest.raises(ValueError, match="encoder_input must be one of .*'pixels'"):
        build_vae((16, 16, 1), encoder_input="pixels", **TINY)


# ------------------------------------------------------------------ a model from slices (issue 23)
def slices_model(stats_options=None, **schedule):
    return build_vae((16, 16, 1), decoded_shape=(16, 16, 16, 1), seed=0, upsampling="upsample",
                     stats_options=stats_options, schedule=schedule or None, **TINY)


def test_a_model_from_slices_encodes_micrographs_and_draws_volumes():
    model = slices_model()
    assert model.from_slices and model.image_shape == (16, 16, 1) and model.decoded_shape == (16, 16, 16, 1)
    x = stripes(4)
    assert model(x).shape == (4, 16, 16, 16, 1)
    assert model.sample(3, seed=0).shape == (3, 16, 16, 16, 1) and model.sample(0).shape == (0, 16, 16, 16, 1)


def test_a_model_from_slices_reports_the_slice_distance_of_its_reconstructions():
    """val_stats_distance and val_stats_loss are the mean-square and summed slice distances of the
    deterministic reconstructions, computed again from the outside."""
    x = stripes(8)
    model = slices_model()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=False)
    logs = model.evaluate(x, batch_size=8, verbose=0, return_dict=True)
    volumes = model(x)
    expected_mse = model.stats_options.replace(metric="mse").slice_distance(x, volumes).numpy().mean()
    expected_sse = model.stats_options.slice_distance(x, volumes).numpy().mean()
    np.testing.assert_allclose(logs["stats_distance"], expected_mse, rtol=1e-4)
    np.testing.assert_allclose(logs["stats_loss"], model.alpha * expected_sse, rtol=1e-4)
    np.testing.assert_allclose(logs["pixel_mse"], np.mean((x - volumes.numpy()[:, 0]) ** 2), rtol=1e-4)


def test_a_model_from_slices_learns_from_plane_targets_and_survives_a_keras_round_trip(tmp_path):
    """The plane targets, not the encoder's input, are what the volumes learn: all-black crops for every
    plane turn the volumes black, though the input stripes are three-quarters white (the linear indicator:
    the soft one's gradient vanishes far from black)."""
    x = stripes(32)
    targets = np.zeros((32, 3, 16, 16, 1), np.float32)  # (batch, 3, N, N, 1): a crop per plane
    model = slices_model({"kind": "linear"}, binary_weight=0.05)
    model.compile(optimizer=keras.optimizers.Adam(3e-2), jit_compile=False)
    model.initialise_output_bias(x)
    grey_before = model(x[:4]).numpy().mean()
    history = model.fit(x, targets, batch_size=8, epochs=3, verbose=0, validation_data=(x[:8], targets[:8]))
    losses = history.history["stats_loss"]
    assert np.all(np.isfinite(losses)) and np.all(np.diff(losses) < 0)
    assert model(x[:4]).numpy().mean() < grey_before - 0.02
    model.save(tmp_path / "slices.keras")
    loaded = keras.saving.load_model(tmp_path / "slices.keras")
    assert loaded.from_slices
    np.testing.assert_allclose(loaded(x[:2]).numpy(), model(x[:2]).numpy(), atol=1e-6)


@pytest.mark.parametrize("decoded_shape, gamma, message", [
    ((16, 16, 32, 1), 0.0, "differ"),
    ((16, 16, 16, 1), 1.0, "gamma=0"),
])
def test_a_model_whose_shapes_do_not_pair_or_that_compares_pixels_with_a_volume_is_refused(decoded_shape, gamma,
                                                                                            message):
    with pytest.raises(ValueError, match=message):
        build_vae((16, 16, 1), decoded_shape=decoded_shape, gamma=gamma, **TINY)
