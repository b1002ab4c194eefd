"""Outputs that are phases (issue 22): the binariness term and share, the perimeter term, the binary
Concrete, straight-through and softmax outputs, the ``upsample`` decoder; each against a NumPy definition,
and each through ``.keras`` and the SavedModel export."""

import numpy as np
import pytest
import tensorflow as tf

import keras
from ssvae_tf.export import export_for_serving
from ssvae_tf.model import (LinearUpsample, PhaseOutput, PixelShuffle, binariness, binary_share, build_decoder,
                            build_vae, soft_perimeter)
from ssvae_tf.schedules import LossSchedule
from ssvae_tf.stats.morphology import specific_perimeter
from ssvae_tf.stats.two_point import StatsOptions

SHAPE, LATENT = (16, 16, 1), 3
TINY = dict(latent_dim=LATENT, depth=2, filters=4, hidden_units=16, seed=0)


def tiny_vae(**kwargs):
    return build_vae(SHAPE, **{**TINY, **kwargs})


def images(n=8, seed=0):
    return (np.random.default_rng(seed).random((n, *SHAPE)) > 0.5).astype("float32")


def logits_of(model, z):
    return keras.Function(model.decoder.input, model.decoder.layers[-1].input)(z).numpy()


def test_binariness_and_binary_share_match_a_pixel_loop():
    p = np.random.default_rng(1).random((3, 5, 4, 1)).astype("float32")
    p[0, 0, 0, 0], p[1, 1, 1, 0] = 0.0, 0.97
    expected_grey = [sum(v * (1 - v) for v in image.ravel()) for image in p]
    expected_share = [np.mean([(v < 0.05) or (v > 0.95) for v in image.ravel()]) for image in p]
    np.testing.assert_allclose(binariness(p).numpy(), expected_grey, rtol=1e-5)
    np.testing.assert_allclose(binary_share(p).numpy(), expected_share)
    softmax = np.random.default_rng(2).dirichlet([0.2] * 3, size=(2, 4, 4)).astype("float32")
    np.testing.assert_allclose(binariness(softmax).numpy(), (1 - (softmax**2).sum(-1)).sum((1, 2)), rtol=1e-5)
    np.testing.assert_allclose(binary_share(softmax).numpy(), (softmax.max(-1) > 0.95).mean((1, 2)))


def test_binary_weight_ramps_in_linearly_from_binary_start():
    schedule = LossSchedule(binary_weight=2.0, binary_start=0.5)
    assert schedule.changes and not LossSchedule().changes
    values = [float(schedule.binary_factor(p)) for p in (0.0, 0.25, 0.5, 0.75, 1.0)]
    np.testing.assert_allclose(values, [0, 0, 0, 1.0, 2.0], atol=1e-6)
    assert float(LossSchedule().binary_factor(1.0)) == 0.0
    for bad in (dict(binary_weight=-1.0), dict(binary_start=1.0), dict(binary_start=-0.1),
                dict(temperature_start=0.0), dict(hard_from=1.5)):
        with pytest.raises(ValueError):
            LossSchedule(**bad)


def test_temperature_falls_geometrically_and_hardening_starts_at_hard_from():
    schedule = LossSchedule(temperature_start=1.0, hard_from=0.5)
    np.testing.assert_allclose([float(schedule.temperature(p, 0.01)) for p in (0, 0.5, 1)], [1, 0.1, 0.01],
                               rtol=1e-5)
    assert float(LossSchedule().temperature(0.0, 0.3)) == pytest.approx(0.3)
    assert [bool(schedule.hard(p)) for p in (0.0, 0.49, 0.5, 1.0)] == [False, False, True, True]
    assert not bool(LossSchedule().hard(1.0))


def test_binary_loss_is_the_weighted_greyness_of_the_reconstructions():
    model = tiny_vae(schedule=dict(binary_weight=0.5))
    model.compile(optimizer="adam")
    x = images()
    logs = model.evaluate(x, batch_size=8, verbose=0, return_dict=True)  # outside fit: progress 1, full weight
    x_hat = model.predict(x, verbose=0)
    assert logs["binary_loss"] == pytest.approx(0.5 * np.mean((x_hat * (1 - x_hat)).sum((1, 2, 3))), rel=1e-4)
    assert logs["binary_share"] == pytest.approx(np.mean((x_hat < 0.05) | (x_hat > 0.95)), abs=1e-6)
    assert logs["loss"] == pytest.approx(logs["stats_loss"] + logs["kl_loss"] + logs["binary_loss"], rel=1e-5)
    plain = tiny_vae()
    plain.compile(optimizer="adam")
    assert "binary_loss" not in plain.evaluate(x, verbose=0, return_dict=True)  # off: not a term


def neighbour_loop(image, axis):
    """Sum over the neighbour pairs (x, x + e_axis) inside ``image`` (spatial..., channels) of the squared
    channel differences, one pair at a time."""
    total, spatial = 0.0, image.shape[:-1]
    for index in np.ndindex(*spatial):
        ahead = list(index)
        ahead[axis] += 1
        if ahead[axis] < spatial[axis]:
            total += float(((image[index] - image[tuple(ahead)]) ** 2).sum())
    return total


@pytest.mark.parametrize("shape", [(5, 4, 1), (3, 4, 5, 1)])
def test_soft_perimeter_is_the_specific_perimeter_of_binary_images_and_a_pair_loop_of_grey_ones(shape):
    rng = np.random.default_rng(3)
    binary = (rng.random((4, *shape)) > 0.5).astype("float32")
    np.testing.assert_allclose(soft_perimeter(binary).numpy(), specific_perimeter(binary), rtol=1e-6)
    grey = rng.random((2, *shape)).astype("float32")
    expected = [[neighbour_loop(image, a) / np.prod(shape[:-1]) for a in range(len(shape) - 1)] for image in grey]
    np.testing.assert_allclose(soft_perimeter(grey).numpy(), expected, rtol=1e-5)
    one_hot = np.concatenate([binary, 1 - binary], axis=-1)  # two softmax channels: each pair counted once
    np.testing.assert_allclose(soft_perimeter(one_hot).numpy(), specific_perimeter(binary), rtol=1e-6)


def test_perimeter_weight_ramps_in_with_the_binariness_term():
    schedule = LossSchedule(perimeter_weight=2.0, binary_start=0.5)
    assert schedule.changes
    values = [float(schedule.perimeter_factor(p)) for p in (0.0, 0.5, 0.75, 1.0)]
    np.testing.assert_allclose(values, [0, 0, 1.0, 2.0], atol=1e-6)
    with pytest.raises(ValueError, match="perimeter_weight"):
        LossSchedule(perimeter_weight=-0.5)


def test_perimeter_loss_is_the_weighted_squared_perimeter_error_per_axis():
    scale = 0.5
    model = tiny_vae(schedule=dict(perimeter_weight=2.0), stats_options=dict(scale=scale))
    model.compile(optimizer="adam")
    x = images()
    logs = model.evaluate(x, batch_size=8, verbose=0, return_dict=True)  # outside fit: progress 1, full weight
    x_hat = model.predict(x, verbose=0)
    pixels = np.prod(SHAPE[:-1])
    per_axis = [[(neighbour_loop(r, a) - neighbour_loop(o, a)) / pixels for a in range(2)] for r, o in zip(x_hat, x)]
    expected = 2.0 * np.mean([pixels * sum((d / (2 * scale)) ** 2 for d in row) for row in per_axis])
    assert logs["perimeter_loss"] == pytest.approx(expected, rel=1e-4)
    assert logs["loss"] == pytest.approx(logs["stats_loss"] + logs["kl_loss"] + logs["perimeter_loss"], rel=1e-5)
    assert "perimeter_loss" in model.console_metrics and "perimeter_loss" not in tiny_vae().console_metrics


def test_a_model_from_slices_holds_each_volume_axis_to_the_crops_of_the_planes_containing_it():
    model = build_vae(SHAPE, **TINY, decoded_shape=(16, 16, 16, 1), schedule=dict(perimeter_weight=1.0))
    rng = np.random.default_rng(4)
    volumes = rng.random((2, 16, 16, 16, 1)).astype("float32")
    planes = (rng.random((2, 3, 16, 16, 1)) > 0.5).astype("float32")  # normal to z, y, x: axes (y,x) (z,x) (z,y)
    pixels = 16 * 16

    def expected(crop_of_plane):
        error = 0.0
        for axis, (k1, a1, k2, a2) in enumerate([(1, 0, 2, 0), (0, 0, 2, 1), (0, 1, 1, 1)]):
            target = (neighbour_loop(crop_of_plane(k1), a1) + neighbour_loop(crop_of_plane(k2), a2)) / (2 * pixels)
            error += ((neighbour_loop(volumes[0], axis) / 16**3 - target) / 2) ** 2
        return pixels * error

    term = model.perimeter_term(planes[:, 0], volumes, tf.constant(planes)).numpy()
    assert term[0] == pytest.approx(expected(lambda k: planes[0, k]), rel=1e-4)
    isotropic = model.perimeter_term(tf.constant(planes[:, 0]), volumes).numpy()  # one crop for every plane
    assert isotropic[0] == pytest.approx(expected(lambda k: planes[0, 0]), rel=1e-4)


def test_concrete_output_decodes_the_tempered_sigmoid_and_samples_bernoulli_in_training():
    model = tiny_vae(output="concrete", temperature=0.2, schedule=dict(temperature_start=1.0))
    z = np.random.default_rng(3).standard_normal((4, LATENT)).astype("float32")
    logits = logits_of(model, z)
    np.testing.assert_allclose(model.decode(z).numpy(), 1 / (1 + np.exp(-logits / 0.2)), rtol=1e-5, atol=1e-6)
    # near T = 0 a relaxed sample is a Bernoulli draw: P(x_hat > 1/2) = sigmoid(logits)
    draws = np.stack([model.training_output(tf.constant(logits), 1.0).numpy() for _ in range(400)])
    cold = build_vae(SHAPE, **TINY, output="concrete", temperature=1e-3)
    cold.decoder.set_weights(model.decoder.get_weights())
    cold_draws = np.stack([cold.training_output(tf.constant(logits), 1.0).numpy() for _ in range(400)])
    assert ((cold_draws < 0.01) | (cold_draws > 0.99)).mean() > 0.95
    np.testing.assert_allclose((cold_draws > 0.5).mean(0), 1 / (1 + np.exp(-logits)), atol=0.1)
    assert draws.min() >= 0 and draws.max() <= 1 and draws.std(0).mean() > 0  # noisy, in [0, 1]


def test_straight_through_is_soft_then_hard_with_the_sigmoid_s_gradient():
    model = tiny_vae(output="straight_through", schedule=dict(hard_from=0.5))
    logits = tf.constant(np.random.default_rng(4).standard_normal((2, *SHAPE)).astype("float32"))
    sigmoid = 1 / (1 + np.exp(-logits.numpy()))
    np.testing.assert_allclose(model.training_output(logits, 0.25).numpy(), sigmoid, rtol=1e-5)
    with tf.GradientTape() as tape:
        tape.watch(logits)
        hard = model.training_output(logits, 0.75)
        total = tf.reduce_sum(hard * tf.range(hard.shape[1], dtype=tf.float32)[:, None, None])
    np.testing.assert_array_equal(hard.numpy(), (logits.numpy() > 0).astype("float32"))
    gradient = tape.gradient(total, logits).numpy()
    np.testing.assert_allclose(gradient, sigmoid * (1 - sigmoid) * np.arange(16)[:, None, None], rtol=1e-4,
                               atol=1e-6)
    z = np.zeros((1, LATENT), "float32")
    assert set(np.unique(model.decode(z).numpy())) <= {0.0, 1.0}  # decoded images are the hard indicator
    with pytest.raises(ValueError, match="hard_from"):
        tiny_vae(output="straight_through")


@pytest.mark.slow
def test_softmax_output_is_the_expected_phase_level_and_feeds_its_channels_to_the_statistics():
    options = StatsOptions(n_phases=3, correlations=((0, 0), (2, 2)))
    model = tiny_vae(output="softmax", stats_options=options)
    model.compile(optimizer="adam")
    z = np.random.default_rng(5).standard_normal((2, LATENT)).astype("float32")
    logits = logits_of(model, z).astype("float64")
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    np.testing.assert_allclose(model.decode(z).numpy()[..., 0], probs @ np.array([0, 0.5, 1]), rtol=1e-5)
    labels = np.random.default_rng(6).integers(0, 3, (4, *SHAPE)) / 2.0
    logs = model.evaluate(labels.astype("float32"), verbose=0, return_dict=True)
    z_mean = model.encode(labels.astype("float32"))[0]
    probs = tf.nn.softmax(logits_of(model, z_mean))
    expected = options.replace(kind=None).distance(options.indicators(labels.astype("float32")), probs)
    assert logs["stats_loss"] == pytest.approx(float(tf.reduce_mean(expected)), rel=1e-4)
    assert np.isfinite(model.fit(labels.astype("float32"), epochs=1, verbose=0).history["loss"]).all()
    with pytest.raises(ValueError, match="K > 2"):
        build_decoder(SHAPE, LATENT, depth=2, filters=4, output="softmax", n_phases=2)


def test_upsample_decoder_is_one_convolution_and_a_linear_x2_per_level():
    decoder = build_decoder(SHAPE, LATENT, depth=2, filters=4, upsampling="upsample")
    kinds = [type(layer).__name__ for layer in decoder.layers]
    assert kinds.count("LinearUpsample") == 2 and "Conv2DTranspose" not in kinds and "Add" not in kinds
    assert decoder.output_shape == (None, *SHAPE)


@pytest.mark.parametrize("periodic", [False, True])
def test_linear_upsample_matches_a_loop_and_bilinear_resizing(periodic):
    a = np.random.default_rng(7).random((2, 4, 5, 3)).astype("float32")
    out = LinearUpsample(periodic)(a).numpy()
    expected = np.empty((2, 8, 10, 3), "float32")
    for i in range(8):
        for j in range(10):
            value = 0.0
            for (ii, wi) in (((i // 2), 0.75), ((i // 2) + (1 if i % 2 else -1), 0.25)):
                for (jj, wj) in (((j // 2), 0.75), ((j // 2) + (1 if j % 2 else -1), 0.25)):
                    ii_, jj_ = (ii % 4, jj % 5) if periodic else (min(max(ii, 0), 3), min(max(jj, 0), 4))
                    value = value + wi * wj * a[:, ii_, jj_]
            expected[:, i, j] = value
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    if not periodic:  # the same as bilinear resizing with pixel centres
        np.testing.assert_allclose(out, tf.image.resize(a, (8, 10), "bilinear").numpy(), atol=1e-5)
    volume = np.random.default_rng(8).random((1, 2, 3, 4, 1)).astype("float32")
    assert LinearUpsample(periodic)(volume).shape == (1, 4, 6, 8, 1)


def test_pixel_shuffle_matches_a_loop_in_2d_and_3d_and_depth_to_space():
    rng = np.random.default_rng(3)
    for spatial in ((3, 4), (2, 3, 2)):
        rank, channels = len(spatial), 2
        a = rng.random((2, *spatial, 2**rank * channels)).astype("float32")
        out = PixelShuffle()(a).numpy()
        expected = np.empty((2, *(2 * s for s in spatial), channels), "float32")
        for index in np.ndindex(*expected.shape[1:-1]):
            offset = np.ravel_multi_index([i % 2 for i in index], [2] * rank)  # row-major over (d_1..d_rank)
            low = tuple(i // 2 for i in index)
            expected[(slice(None), *index)] = a[(slice(None), *low)][:, offset * channels:(offset + 1) * channels]
        np.testing.assert_array_equal(out, expected)
        if rank == 2:
            np.testing.assert_array_equal(out, tf.nn.depth_to_space(a, 2).numpy())


@pytest.mark.parametrize("shape", [(16, 16, 1), (16, 16, 16, 1)])
def test_subpixel_decoder_starts_as_nearest_neighbour_logits_and_can_draw_one_pixel_lines(shape):
    decoder = build_decoder(shape, LATENT, depth=2, filters=4, upsampling="subpixel", padding="circular")
    assert decoder.output_shape == (None, *shape)
    kinds = [type(layer).__name__ for layer in decoder.layers]
    assert kinds.count("LinearUpsample") == 1 and kinds.count("PixelShuffle") == 1
    logits = keras.Function(decoder.input, decoder.layers[-1].input)(
        np.random.default_rng(0).normal(size=(3, LATENT)).astype("float32")).numpy()
    # ICNR: every 2x2(x2) block of the logits is one value at the start (no checkerboard) ...
    blocks = logits.reshape(3, *(n for s in shape[:-1] for n in (s // 2, 2)), 1)
    block_max = blocks.max(axis=tuple(range(2, 2 + 2 * (len(shape) - 1), 2)), keepdims=True)
    np.testing.assert_allclose(blocks, np.broadcast_to(block_max, blocks.shape), atol=1e-6)
    # ... and after training its offsets differ: the one-pixel line on odd rows is in reach of the sub-pixel
    # kernels, which a nearest-neighbour or linear x2 of the same features cannot draw
    to_image = decoder.get_layer("to_image")
    kernel, bias = to_image.get_weights()
    half = len(bias) // 2  # row-major offsets (d_1, ..., d_rank): the second half has d_1 = 1
    bias[:half], bias[half:] = -5.0, 5.0  # odd first coordinates lit
    to_image.set_weights([np.zeros_like(kernel), bias])
    drawn = decoder(np.zeros((1, LATENT), "float32")).numpy()[0, ..., 0]
    expected = np.zeros(shape[:-1]) + (np.arange(shape[0]) % 2).reshape(-1, *[1] * (len(shape) - 2))
    np.testing.assert_allclose(drawn, 1 / (1 + np.exp(-5 * (2 * expected - 1))), rtol=1e-5)


def test_a_phase_output_survives_a_keras_file(tmp_path):
    model = tiny_vae(output="concrete", temperature=0.3, upsampling="subpixel")
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    x = images(2)
    assert loaded.output_kind == "concrete" and loaded.decoder.layers[-1].temperature == 0.3
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("settings", [
    dict(output="concrete", schedule=dict(temperature_start=1.0, binary_weight=0.1), upsampling="subpixel"),
    dict(output="straight_through", schedule=dict(hard_from=0.5), upsampling="upsample"),
    dict(output="softmax", stats_options=StatsOptions(n_phases=3)),
])
def test_phase_outputs_survive_keras_files_and_export(settings, tmp_path):
    model = tiny_vae(**settings)
    model.compile(optimizer="adam")
    x = images(4)
    model.fit(x, epochs=1, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.output_kind == model.output_kind and loaded.schedule == model.schedule
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    result = export_for_serving(model, tmp_path / "export")
    z = model.encode(x)[0]
    served = tf.saved_model.load(str(result.decoder_path)).signatures["serving_default"](z=z)["images"].numpy()
    np.testing.assert_allclose(served, model.decoder(z).numpy(), atol=1e-6)
    assert served.min() >= 0 and served.max() <= 1
    assert isinstance(model.decoder.layers[-1], PhaseOutput)

