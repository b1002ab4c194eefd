"""Semi-amortised inference: the objective against an independent computation, the refinement's
guarantees, batching, and ``ssvae evaluate --refine-steps``."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import ssvae_tf.inference as inference
from ssvae_tf.inference import map_objective, refine_latents
from ssvae_tf.model import build_vae

SHAPE = (16, 16, 1)
TINY = dict(latent_dim=3, depth=2, filters=4, hidden_units=16)


def bands(n=12, seed=0):
    """Binary images, each with one black horizontal band of 2-5 px at a random row."""
    rng = np.random.default_rng(seed)
    images = np.ones((n, *SHAPE), np.float32)
    for image in images:
        start = rng.integers(0, 10)
        image[start:start + rng.integers(2, 6)] = 0.0
    return images


@pytest.fixture(scope="module")
def statistics_model():
    keras.utils.set_random_seed(0)
    # both reconstruction terms (a tiny statistics-only model decodes a flat white image, where z has no gradient)
    model = build_vae(SHAPE, beta=0.01, gamma=1.0, seed=0, stats_options={"scale": 0.3}, **TINY)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.fit(bands(48), batch_size=16, epochs=3, verbose=0)
    return model


def test_the_pixel_objective_is_the_squared_error_plus_the_prior_term():
    model = build_vae(SHAPE, alpha=0.0, gamma=1.0, beta=0.2, seed=1, **TINY)
    x = bands(4)
    z = np.random.default_rng(2).standard_normal((4, 3)).astype(np.float32)
    decoded = model.decode(z).numpy().astype(np.float64)
    expected = np.sum((x - decoded) ** 2, axis=(1, 2, 3)) + 0.5 * 0.2 * np.sum(z.astype(np.float64) ** 2, axis=1)
    np.testing.assert_allclose(map_objective(model, x)(tf.constant(z)).numpy(), expected, rtol=1e-5)


def test_the_objective_is_the_training_loss_at_the_posterior_mean(statistics_model):
    x = bands(8, seed=3)
    z_mean = statistics_model.encode(x)[0]
    reconstruction = statistics_model.reconstruction_loss(x, statistics_model.decode(z_mean)).numpy()
    logged = statistics_model.evaluate(x, batch_size=8, verbose=0, return_dict=True)
    # test steps decode z_mean
    assert reconstruction.mean() == pytest.approx(logged["stats_loss"] + logged["data_loss"], rel=1e-4)
    prior = 0.5 * 0.01 * np.sum(z_mean.numpy() ** 2, axis=1)
    np.testing.assert_allclose(map_objective(statistics_model, x)(z_mean).numpy(), reconstruction + prior,
                               rtol=1e-5)


def test_refinement_starts_at_the_encoder_and_never_ends_above_it(statistics_model):
    x = bands(10, seed=4)
    z_mean = statistics_model.encode(x)[0].numpy()
    np.testing.assert_array_equal(refine_latents(statistics_model, x, steps=0), z_mean)
    refined = refine_latents(statistics_model, x, steps=30)
    objective = map_objective(statistics_model, x)
    before, after = objective(tf.constant(z_mean)).numpy(), objective(tf.constant(refined)).numpy()
    assert np.all(after <= before * (1 + 1e-6)) and after.mean() < 0.99 * before.mean()


def test_each_image_is_refined_alone_whatever_the_batches(statistics_model, monkeypatch):
    """Rows do not interact (Adam is per coordinate), so splitting into batches changes nothing."""
    x = bands(9, seed=5)
    whole = refine_latents(statistics_model, x, steps=5)
    monkeypatch.setattr(inference, "REFINE_BATCH", 4)
    np.testing.assert_allclose(refine_latents(statistics_model, x, steps=5), whole, atol=1e-5)


def test_a_bad_step_count_is_named(statistics_model):
    with pytest.raises(ValueError, match="steps must be an integer >= 1, got -3"):
        refine_latents(statistics_model, bands(2), steps=-3)


@pytest.mark.slow
def test_evaluate_refine_steps_reports_the_refined_protocol(tiny_runs, tmp_path):
    from conftest import run_command

    out = tmp_path / "refined"
    run_command("evaluate", "--model", str(tiny_runs / "ss"), "--out", str(out), "--n-images", "4",
                "--refine-steps", "3", "--quiet")
    report = (out / "report.md").read_text()
    assert "after 3 Adam steps" in report and "not the paper's protocol" in report
