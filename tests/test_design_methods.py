"""The design methods (``ssvae_tf.design.methods``, ``latent``, ``pixel``): known answers, monotone
searches, 2-D and 3-D, the compiled searches' cache (no retracing), the one Adam against Keras', and
what each method refuses.  Tiny untrained models, 16 px."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from design_helpers import SIDE, band, soft_black, tiny_model
from ssvae_tf.design import (
    DEFAULT_PRIOR_WEIGHT,
    compiled_objective,
    design,
    interpolate,
    latent_searcher,
    refine_designs,
    stats_objective,
    target_from_image,
    target_statistics,
)
from ssvae_tf.design.objective import lag_weights
from ssvae_tf.inference import latent_objective
from ssvae_tf.model import build_vae


@pytest.fixture(scope="module")
def model():
    return tiny_model()


def test_pixel_search_finds_a_binary_target_from_a_random_start():
    designs = design(None, band(), "pixel", n=2, steps=40, seed=0)
    start = designs.history["pixel"][0]
    assert designs.images.shape == (2, SIDE, SIDE, 1) and designs.latents is None
    assert 0 <= designs.images.min() and designs.images.max() <= 1
    assert np.all(designs.objective < 1e-2 * start)
    assert designs.stats_error.min() < 1e-6  # a known answer: the band (shifted) itself
    assert np.all(np.diff(designs.history["pixel"], axis=0) <= 1e-9)  # L-BFGS-B never goes uphill
    np.testing.assert_allclose(designs.objective, designs.history["pixel"][-1], rtol=1e-5)


def test_encode_decodes_the_posterior_mean_then_posterior_samples(model):
    designs = design(model, band(), "encode", n=3, seed=0)
    z_mean, _ = model.encode(band()[np.newaxis])
    np.testing.assert_allclose(designs.images[:1], model.decode(z_mean).numpy(), atol=1e-6)
    np.testing.assert_allclose(designs.latents[0], z_mean.numpy()[0])
    assert designs.images.shape == (3, SIDE, SIDE, 1) and not np.allclose(designs.latents[1], designs.latents[2])
    assert designs.history == {} and designs.seconds > 0


def test_latent_search_descends_and_keeps_each_restarts_best(model):
    designs = design(model, band(), "latent", n=3, steps=30, learning_rate=0.02, seed=0)
    history = designs.history["latent"]
    assert history.shape == (31, 3)
    assert np.all(history[-1] < history[0])
    assert np.mean(np.diff(history.mean(axis=1)) <= 0) >= 0.8  # monotone, up to Adam's wobble
    loss = latent_objective(model.decode, stats_objective(target_from_image(band())), DEFAULT_PRIOR_WEIGHT)
    kept = loss(designs.latents)
    np.testing.assert_allclose(kept.numpy(), history.min(axis=0), rtol=1e-5)
    np.testing.assert_allclose(designs.images, model.decode(designs.latents).numpy(), atol=1e-6)


def test_refine_lowers_the_error_of_its_start(model):
    start = design(model, band(), "encode", n=2, seed=0)
    refined = design(model, band(), "refine", n=2, refine_from="encode", refine_steps=10, seed=0)
    np.testing.assert_allclose(refined.latents, start.latents)
    assert np.all(refined.stats_error < 0.5 * start.stats_error)
    assert set(refined.history) == {"pixel"} and refined.history["pixel"].shape == (11, 2)


def test_designs_in_3d_and_an_interpolation():
    model = build_vae((SIDE, SIDE, SIDE, 1), latent_dim=2, depth=2, filters=2, hidden_units=8, seed=0)
    volume = band((SIDE, SIDE, SIDE))
    designs = design(model, volume, "latent", n=2, steps=3, seed=0)
    assert designs.images.shape == (2, SIDE, SIDE, SIDE, 1) and designs.stats_error.shape == (2,)
    pixel = design(None, volume, "pixel", n=1, steps=3, seed=0)
    assert pixel.objective[0] < pixel.history["pixel"][0, 0]
    frames = interpolate(model, volume, np.zeros_like(volume), frames=3)
    assert frames.shape == (3, SIDE, SIDE, SIDE, 1)
    ends, _ = model.encode(np.stack([volume, np.zeros_like(volume)]))
    np.testing.assert_allclose(frames[[0, -1]], model.decode(ends).numpy(), atol=1e-6)


def test_a_volume_fraction_alone_is_matched_at_the_zero_lag(model):
    target = target_statistics(0.25, shape=(SIDE, SIDE))
    designs = design(model, target, "latent", n=2, steps=5, seed=0)
    zero_lag = np.mean(soft_black(designs.images[0]) ** 2)
    assert designs.stats_error[0] == pytest.approx((zero_lag - 0.25) ** 2, rel=1e-4)


def test_refining_found_designs_equals_the_refine_method(model):
    latent = design(model, band(), "latent", n=2, steps=3, seed=0)
    refined = refine_designs(latent, band(), refine_steps=4)
    direct = design(model, band(), "refine", n=2, steps=3, refine_steps=4, seed=0)
    np.testing.assert_allclose(refined.images, direct.images, atol=1e-5)
    assert refined.method == "refine" and set(refined.history) == {"latent", "latent_objective", "pixel"}
    assert refined.seconds > latent.seconds and refined.clock["pixel"].shape == (5, 2)
    assert np.all(refined.stats_error <= latent.stats_error + 1e-9)


# ------------------------------------------------------ compiled searches, cached
def test_a_second_design_reuses_the_compiled_latent_step(model):
    first = design(model, band(), "latent", n=3, steps=4, seed=0)
    design(None, band(), "pixel", n=1, steps=2, seed=0)
    searcher = latent_searcher(model, (SIDE, SIDE), 3)
    objective = compiled_objective((SIDE, SIDE))
    traced = (searcher.traces, objective.traces, searcher.step.experimental_get_tracing_count())
    assert traced[0] == 2 and traced[2] == 1  # the step and the final evaluation, once each
    # another target, seed, step count, prior weight and learning rate: the same graphs
    other = band(rows=slice(2, 9))
    second = design(model, other, "latent", n=3, steps=6, seed=1, prior_weight=0.01, learning_rate=0.1)
    design(None, other, "pixel", n=1, steps=2, seed=0)
    assert (searcher.traces, objective.traces, searcher.step.experimental_get_tracing_count()) == traced
    assert second.history["latent"].shape == (7, 3) and not np.allclose(first.latents, second.latents)
    assert latent_searcher(model, (SIDE, SIDE), 3) is searcher  # and a new n is a new search
    assert latent_searcher(model, (SIDE, SIDE), 4) is not searcher
    assert np.all(np.diff(second.clock["latent"][:, 0]) >= 0) and second.clock["latent"].shape == (7, 3)


def keras_adam_search(loss, z0: np.ndarray, steps: int, learning_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """The reference: ``keras.optimizers.Adam`` on ``loss`` ``(n, d) -> (n,)`` from ``z0``, keeping each
    row's best; ``(best z, loss at every iterate (steps + 1, n))``."""
    z = tf.Variable(np.asarray(z0, np.float32))
    best_z, best = z.numpy().copy(), np.full(len(z0), np.inf, np.float32)
    optimizer = keras.optimizers.Adam(learning_rate)
    history = []
    for _ in range(steps + 1):
        with tf.GradientTape() as tape:
            values = loss(z)
            total = tf.reduce_sum(values)
        values = values.numpy()
        best_z = np.where((values < best)[:, None], z.numpy(), best_z)
        best = np.minimum(values, best)
        history.append(values)
        if len(history) <= steps:
            optimizer.apply_gradients([(tape.gradient(total, z), z)])
    return best_z, np.stack(history).astype(np.float64)


def test_the_cached_search_takes_kerass_adam_steps(model):
    """The one compiled Adam over ``z`` (``ssvae_tf.inference.LatentAdam``) equals ``keras.optimizers.Adam``."""
    target = target_from_image(band())
    z0 = np.random.default_rng(3).standard_normal((2, 2)).astype(np.float32)
    loss = latent_objective(model.decode, stats_objective(target), 1e-3)
    expected_z, expected_history = keras_adam_search(loss, z0, steps=5, learning_rate=0.05)
    found = latent_searcher(model, (SIDE, SIDE), 2).run(
        z0, [target.stats, lag_weights(target, "full"), 1e-3], 0.05, 5)
    total, objective = found["history"]
    np.testing.assert_allclose(found["z"], expected_z, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(total, expected_history, rtol=1e-4)
    assert np.all(total >= objective)  # the prior term is >= 0


# --------------------------------------------------------------- bad input
def test_methods_refuse_what_they_cannot_use(model):
    with pytest.raises(ValueError, match="method 'latent' needs a model"):
        design(None, band(), "latent")
    with pytest.raises(ValueError, match="'encode' needs a target image"):
        design(model, target_statistics(0.3, shape=(SIDE, SIDE)), "encode")
    with pytest.raises(ValueError, match="method must be one of"):
        design(model, band(), "anneal")
    with pytest.raises(ValueError, match="kind in"):
        design(None, band(), "pixel", stats_options={"kind": "hard"})
    with pytest.raises(ValueError, match="steps must be an integer >= 0, got -1"):
        design(None, band(), "pixel", steps=-1)


def slice_target(per_plane: bool = False):
    """A 12^3 volume's target from 12 px micrographs of blobs: one for all planes, or one per plane."""
    from ssvae_tf.design import target_from_slices

    rng = np.random.default_rng(5)
    images = [(np.roll(band((12, 12), slice(2, 6)), rng.integers(12), axis=1)[..., 0]
               * (rng.random((12, 12)) < 0.9)) for _ in range(3 if per_plane else 1)]
    return target_from_slices(images)


@pytest.mark.parametrize("per_plane", [False, True])
def test_a_volume_from_slices_reports_the_slice_distance_and_each_planes_error(per_plane):
    from ssvae_tf.stats.two_point import StatsOptions

    target = slice_target(per_plane)
    designs = design(None, target, "pixel", n=2, steps=30, seed=1)
    assert designs.images.shape == (2, 12, 12, 12, 1) and designs.plane_errors.shape == (2, 3)
    slices = np.repeat(target.slices[np.newaxis], 2, axis=0)  # (n, 3, N, N, 1): a crop per plane
    distance = StatsOptions(metric="mse").slice_distance(slices, designs.images).numpy()
    np.testing.assert_allclose(designs.stats_error, distance, rtol=1e-4)
    np.testing.assert_allclose(designs.plane_errors.mean(axis=1), designs.stats_error, rtol=1e-12)
    # J is that distance over the volume fraction squared
    np.testing.assert_allclose(designs.objective, distance / target.volume_fraction**2, rtol=1e-3)
    history = designs.history["pixel"]
    assert np.all(np.diff(history, axis=0) <= 1e-9) and np.all(history[-1] < 0.2 * history[0])
    assert designs.to_json()["plane_errors"] == designs.plane_errors.tolist()


def test_a_stack_of_the_micrograph_has_no_error_in_the_plane_of_the_micrograph():
    """A known answer: a volume whose every z-slice is the micrograph has, in the xy plane, the mean of
    its slices' statistics, the micrograph's own: error 0 there, not in the other planes."""
    from ssvae_tf.design import target_from_slices
    from ssvae_tf.design.objective import plane_errors

    image = slice_target().slices[0]
    stack = np.repeat(image[np.newaxis], 12, axis=0)[np.newaxis]  # (1, 12, 12, 12, 1)
    errors = plane_errors(target_from_slices([image]), stack)
    assert errors[0, 0] < 1e-12 and np.all(errors[0, 1:] > 1e-4)


def test_the_latent_methods_refuse_a_volume_from_slices(model):
    target = slice_target()
    for method in ("latent", "encode", "refine"):
        with pytest.raises(ValueError, match=f"method '{method}' cannot design a volume from 2-D slices yet"):
            design(model, target, method, n=1, steps=1)
