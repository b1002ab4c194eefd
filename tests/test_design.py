"""Design in latent and pixel space (``ssvae_tf.design``, ``ssvae design``): target statistics, objective and
error against NumPy definitions, the four methods (known answers, monotone searches, gradients against finite
differences), 2-D and 3-D, the compiled searches' cache (no retracing), the derivative-free search with a
decoder alone, the realism statistics (chords, components) against hand counts, the command's files and its
one-line errors.  Tiny untrained models, 16 px."""

import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from ssvae_tf.commands.base import ArgumentParser
from ssvae_tf.design import (
    DEFAULT_LEARNING_RATE,
    DEFAULT_PRIOR_WEIGHT,
    DEFAULT_STEPS,
    METHODS,
    chord_lengths,
    compiled_objective,
    component_sizes,
    design,
    design_with_decoder,
    interpolate,
    latent_evolution,
    latent_searcher,
    realism,
    refine_designs,
    stats_error,
    stats_objective,
    target_from_image,
    target_statistics,
)
from ssvae_tf.commands.design import COMMANDS, DESIGN_FILES, INTERPOLATION_FILES
from ssvae_tf.inference import latent_objective, latent_search
from ssvae_tf.model import build_vae
from ssvae_tf.run_dir import RunDir

SIDE = 16
EPS = 0.25  # the soft indicator's width (StatsOptions' default)


def band(shape=(SIDE, SIDE), rows=slice(4, 8)) -> np.ndarray:
    """A white image or volume ``(*shape, 1)`` with a black band across ``rows`` of its second-last axis."""
    image = np.ones((*shape, 1), np.float32)
    image[(slice(None),) * (len(shape) - 2) + (rows,)] = 0.0
    return image


def numpy_autocorrelation(indicator: np.ndarray) -> np.ndarray:
    """Periodic autocorrelation by its definition, ``mean_x m(x) m(x + r)``, zero lag at ``side // 2``."""
    lags = np.stack(np.meshgrid(*[np.arange(side) - side // 2 for side in indicator.shape], indexing="ij"), -1)
    out = np.empty(indicator.shape)
    for index in np.ndindex(indicator.shape):
        shift = tuple(-lag for lag in lags[index])
        out[index] = np.mean(indicator * np.roll(indicator, shift, axis=tuple(range(indicator.ndim))))
    return out


def soft_black(image: np.ndarray) -> np.ndarray:
    """The paper's soft indicator of the black phase of ``(*spatial, 1)``: ``exp(-x^2 / (2 eps^2))``."""
    return np.exp(-np.asarray(image[..., 0], np.float64) ** 2 / (2 * EPS**2))


@pytest.fixture(scope="module")
def model():
    return build_vae((SIDE, SIDE, 1), latent_dim=2, depth=2, filters=4, hidden_units=8, seed=0)


@pytest.fixture(scope="module")
def run(model, tmp_path_factory):
    """A run directory holding the tiny model, and a target stack of one beside it."""
    root = tmp_path_factory.mktemp("design-run")
    RunDir(root / "run").save_model(model)
    np.save(root / "target.npy", band()[np.newaxis])
    return root


# ----------------------------------------------------------------- targets
def test_target_statistics_of_an_image_are_the_black_phase_autocorrelation():
    image = band()
    image[10, 3] = 0.3  # grey below 0.5 counts as black
    target = target_from_image(image)
    black = (image[..., 0] < 0.5).astype(np.float64)
    np.testing.assert_allclose(target.stats, numpy_autocorrelation(black), atol=1e-7)
    assert target.volume_fraction == pytest.approx(black.mean()) and target.lags.all()
    assert target.image.shape == (SIDE, SIDE, 1)


def test_a_volume_fraction_target_has_that_zero_lag_and_its_square_as_mean():
    fraction = 0.25  # 64 of 256 pixels: the random fields hit it exactly
    alone = target_statistics(fraction, shape=(SIDE, SIDE))
    assert alone.volume_fraction == fraction and alone.lags.sum() == 1 and alone.image is None
    fields = target_statistics(fraction, correlation_length=1.0, shape=(SIDE, SIDE), n_fields=32)
    assert fields.volume_fraction == pytest.approx(fraction, abs=0.5 / SIDE**2) and fields.lags.all()
    # every field holds 64 black pixels, so the mean over all lags is (64 / 256)^2
    assert fields.stats.mean() == pytest.approx(fraction**2, rel=1e-5)
    assert fields.stats.max() == fields.volume_fraction > fields.stats[SIDE // 2, SIDE // 2 + 1] > fields.stats[0, 0]
    volume = target_statistics(0.5, correlation_length=2.0, shape=(8, 8, 8), n_fields=4)
    assert volume.shape == (8, 8, 8) and volume.volume_fraction == pytest.approx(0.5, abs=0.5 / 8**3)


# ------------------------------------------------------- objective, error
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


# ----------------------------------------------------------------- methods
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


def test_latent_gradient_agrees_with_finite_differences(model):
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


# ------------------------------------------------------ compiled searches, cached
def test_a_second_design_reuses_the_compiled_latent_step(model):
    first = design(model, band(), "latent", n=3, steps=4, seed=0)
    design(None, band(), "pixel", n=1, steps=2, seed=0)
    searcher = latent_searcher(model, (SIDE, SIDE), 3)
    objective = compiled_objective((SIDE, SIDE))
    traced = (searcher.traces, objective.traces, searcher._step.experimental_get_tracing_count())
    assert traced[0] == 2 and traced[2] == 1  # the step and the final evaluation, once each
    # another target, seed, step count, prior weight and learning rate: the same graphs
    other = band(rows=slice(2, 9))
    second = design(model, other, "latent", n=3, steps=6, seed=1, prior_weight=0.01, learning_rate=0.1)
    design(None, other, "pixel", n=1, steps=2, seed=0)
    assert (searcher.traces, objective.traces, searcher._step.experimental_get_tracing_count()) == traced
    assert second.history["latent"].shape == (7, 3) and not np.allclose(first.latents, second.latents)
    assert latent_searcher(model, (SIDE, SIDE), 3) is searcher  # and a new n is a new search
    assert latent_searcher(model, (SIDE, SIDE), 4) is not searcher
    assert np.all(np.diff(second.clock["latent"][:, 0]) >= 0) and second.clock["latent"].shape == (7, 3)


def test_the_cached_search_takes_kerass_adam_steps(model):
    """The compiled step's hand-written Adam equals ``keras.optimizers.Adam`` on the same loss."""
    target = target_from_image(band())
    z0 = np.random.default_rng(3).standard_normal((2, 2)).astype(np.float32)
    loss = latent_objective(model.decode, stats_objective(target), 1e-3)
    expected_z, expected_history = latent_search(loss, z0, steps=5, learning_rate=0.05)
    found = latent_searcher(model, (SIDE, SIDE), 2).run(z0, tf.constant(target.stats),
                                                        tf.constant(_weights(target)), 1e-3, 0.05, 5)
    np.testing.assert_allclose(found["z"], expected_z, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(found["total"], expected_history, rtol=1e-4)
    assert np.all(found["total"] >= found["objective"])  # the prior term is >= 0


def _weights(target):
    from ssvae_tf.design import _lag_weights

    return _lag_weights(target, "full")


def test_refining_found_designs_equals_the_refine_method(model):
    latent = design(model, band(), "latent", n=2, steps=3, seed=0)
    refined = refine_designs(latent, band(), refine_steps=4)
    direct = design(model, band(), "refine", n=2, steps=3, refine_steps=4, seed=0)
    np.testing.assert_allclose(refined.images, direct.images, atol=1e-5)
    assert refined.method == "refine" and set(refined.history) == {"latent", "latent_objective", "pixel"}
    assert refined.seconds > latent.seconds and refined.clock["pixel"].shape == (5, 2)
    assert np.all(refined.stats_error <= latent.stats_error + 1e-9)


# ------------------------------------------------------ a decoder alone (served)
def test_the_evolution_strategy_finds_a_quadratics_minimum():
    centre = np.array([0.5, -1.0, 2.0])

    def loss(z):
        values = np.square(z - centre).sum(axis=1).astype(np.float64)
        return values, values

    found = latent_evolution(loss, np.zeros((3, 3), np.float32), generations=80, population=8,
                             rng=np.random.default_rng(0))
    assert found["total"].shape == (81, 3) and np.all(np.diff(found["total"], axis=0) <= 0)  # best so far
    np.testing.assert_allclose(found["z"], np.tile(centre, (3, 1)), atol=0.05)
    np.testing.assert_allclose(found["total"][-1], np.square(found["z"] - centre).sum(axis=1), rtol=1e-5)


def test_design_with_a_decoder_alone(model):
    decode = lambda z: model.decode(z).numpy()  # noqa: E731  (what a served decoder answers: arrays)
    found = design_with_decoder(decode, 2, band(), "latent", n=2, generations=6, population=4, seed=0)
    history = found.history["latent"]
    assert history.shape == (7, 2) and np.all(np.diff(history, axis=0) <= 0) and history[-1].max() < history[0].max()
    np.testing.assert_allclose(found.images, decode(found.latents), atol=1e-6)
    np.testing.assert_allclose(found.objective, found.history["latent_objective"][-1], rtol=1e-4)
    encoded = design_with_decoder(decode, None, band(), "encode", n=2, encode=model.encode, seed=0)
    np.testing.assert_allclose(encoded.images, design(model, band(), "encode", n=2, seed=0).images, atol=1e-6)
    refined = design_with_decoder(decode, 2, band(), "refine", n=2, generations=2, population=4, refine_steps=3)
    pixel = refined.history["pixel"]
    assert pixel.shape == (4, 2) and np.all(pixel[-1] <= pixel[0])
    with pytest.raises(ValueError, match="'encode' needs an encoder"):
        design_with_decoder(decode, 2, band(), "encode")
    with pytest.raises(ValueError, match=r"shape \(1, 8, 8, 1\); the target needs \(1, 16, 16, 1\)"):
        design_with_decoder(lambda z: np.zeros((len(z), 8, 8, 1)), 2, band(), "latent", n=1, generations=1)


# --------------------------------------------------------- realism statistics
def test_chord_lengths_count_runs_along_every_axis():
    image = np.ones((8, 8, 1), np.float32)
    image[2:5] = 0.0  # a black band of rows 2-4
    image[0, 0] = 0.2  # and one grey-black pixel
    black, white = chord_lengths(image[np.newaxis], 0)[0], chord_lengths(image[np.newaxis], 1)[0]
    # vertical: 8 columns hold the band (3), column 0 also the pixel (1); horizontal: 3 rows of 8 and the pixel
    assert sorted(black) == sorted([3] * 8 + [1] + [8] * 3 + [1])
    # white, vertical: rows 1 (column 0) or 0-1, and rows 5-7; horizontal: row 0 without its first pixel, rows 1, 5-7
    assert sorted(white) == sorted([1] + [2] * 7 + [3] * 8 + [7] + [8] * 4)
    volume = np.ones((4, 4, 4, 1), np.float32)
    volume[1:3, 1:3, 1:3] = 0.0  # a 2^3 cube
    assert sorted(chord_lengths(volume[np.newaxis])[0]) == [2] * 12
    assert len(chord_lengths(np.ones((1, 4, 4, 1), np.float32))[0]) == 0


def test_components_are_face_connected():
    image = np.ones((8, 8, 1), np.float32)
    image[0:2, 0:3] = 0.0  # 6 px
    image[2, 3] = 0.0  # touches the first only at a corner: its own component
    image[5:8, 5] = 0.0  # 3 px
    sizes = component_sizes(image[np.newaxis])[0]
    assert sizes.tolist() == [6, 3, 1]
    assert component_sizes(image[np.newaxis], phase=1)[0].tolist() == [64 - 10]


def test_realism_of_the_target_itself_is_perfect_and_noise_is_not():
    target = band()
    same = realism(target, target[np.newaxis])
    for key in ("volume_fraction_error", "chord_distance", "component_count_error", "component_size_error"):
        assert same[key][0] == pytest.approx(0.0, abs=1e-12), key
    assert same["target_components"][0] == 1 and same["volume_fraction"][0] == 0.25
    noise = (np.random.default_rng(0).uniform(size=(2, SIDE, SIDE, 1)) < 0.75).astype(np.float32)
    far = realism(target, noise)
    assert np.all(far["chord_distance"] > 1) and np.all(far["components"] > 5)
    assert np.all(far["volume_fraction_error"] < 0.1)  # noise of about the band's black fraction


# --------------------------------------------------------------- bad input
@pytest.mark.parametrize("target, message", [
    (band((32, 32)), "32x32 px image but the model takes 16x16 px images"),
    (band((SIDE, SIDE, SIDE)), "16x16x16 voxel volume but the model takes 16x16 px images"),
    (np.full((SIDE, SIDE, 1), np.nan, np.float32), "NaN"),
    (band() * 2.0, r"values in \[0, 2\]; expected values in \[0, 1\]"),
    (np.zeros((2, SIDE, SIDE, 1), np.float32), r"has shape \(2, 16, 16, 1\); expected one image"),
])
def test_a_bad_target_is_one_line(model, target, message):
    with pytest.raises(ValueError, match=message) as error:
        design(model, target, "latent", n=1, steps=1)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("arguments, message", [
    (dict(volume_fraction=0.0), r"volume_fraction must be a number in \(0, 1\).*got 0.0"),
    (dict(volume_fraction=1.0), r"in \(0, 1\).*got 1.0"),
    (dict(volume_fraction=0.3, correlation_length=-1.0), "correlation_length must be a number > 0"),
])
def test_unreachable_scalar_targets_are_one_line(arguments, message):
    with pytest.raises(ValueError, match=message):
        target_statistics(**arguments, shape=(SIDE, SIDE))


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


# ----------------------------------------------------------------- command
def run_design(*argv: str) -> None:
    """Run ``ssvae design`` as the CLI parses it, errors propagating."""
    (command,) = COMMANDS
    parser = ArgumentParser(prog=f"ssvae {command.name}")
    command.configure(parser)
    command.run(parser.parse_args(list(argv)))


def test_the_command_writes_every_file(run, tmp_path, capsys):
    out = tmp_path / "out"
    run_design("--model", str(run / "run"), "--target", str(run / "target.npy"), "--method", "latent", "--n", "3",
               "--steps", "4", "--out", str(out), "--quiet")
    assert sorted(p.name for p in out.iterdir()) == sorted(DESIGN_FILES)
    assert np.load(out / "designs.npy").shape == (3, SIDE, SIDE, 1)
    record = json.loads((out / "design.json").read_text())
    assert record["method"] == "latent" and len(record["stats_error"]) == 3 and record["seconds"] > 0
    assert record["settings"]["steps"] == 4 and record["target"]["volume_fraction"] == 0.25
    assert record["model"].endswith("run") and "designs in" in capsys.readouterr().out
    vf = tmp_path / "vf"
    run_design("--model", str(run / "run"), "--volume-fraction", "0.3", "--correlation-length", "2", "--n", "2",
               "--steps", "2", "--out", str(vf), "--quiet")
    assert json.loads((vf / "design.json").read_text())["target"]["volume_fraction"] == pytest.approx(0.3, abs=2e-3)
    strip = tmp_path / "strip"
    run_design("--model", str(run / "run"), "--interpolate", str(run / "target.npy"), str(run / "target.npy"),
               "--frames", "3", "--out", str(strip))
    assert sorted(p.name for p in strip.iterdir()) == sorted(INTERPOLATION_FILES)
    assert np.load(strip / "interpolation.npy").shape == (3, SIDE, SIDE, 1)


def test_the_command_errors_are_one_line(run, tmp_path):
    (tmp_path / "empty").mkdir()
    big = tmp_path / "big.npy"
    np.save(big, band((32, 32))[np.newaxis])
    cases = [
        (["--model", str(tmp_path / "empty"), "--target", str(run / "target.npy")], "neither a run directory"),
        (["--model", str(run / "run"), "--target", str(big)], "32x32 px image but the model takes 16x16"),
        (["--model", str(run / "run"), "--volume-fraction", "1.2"], r"in \(0, 1\)"),
        (["--target", str(run / "target.npy")], "--method latent needs --model RUN"),
        (["--model", str(run / "run"), "--target", str(run / "target.npy"), "--correlation-length", "2"],
         "give --volume-fraction too"),
    ]
    for argv, message in cases:
        with pytest.raises(ValueError, match=message) as error:
            run_design(*argv, "--out", str(tmp_path / "never"))
        assert "\n" not in str(error.value)
    assert not (tmp_path / "never").exists()


def test_the_parser_is_light_and_its_help_names_every_method_and_default_step():
    code = ("import sys; from ssvae_tf.commands.base import ArgumentParser; from ssvae_tf.commands.design import COMMANDS; "
            "p = ArgumentParser(); COMMANDS[0].configure(p); print(p.format_help()); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'matplotlib'}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    help_text, modules = result.stdout.rsplit("\n", 2)[0], result.stdout.strip().splitlines()[-1]
    assert modules == "[]"
    parser = ArgumentParser()
    COMMANDS[0].configure(parser)
    defaults = parser.parse_args(["--target", "t.png", "--out", "o"])
    assert (defaults.prior_weight, defaults.learning_rate) == (DEFAULT_PRIOR_WEIGHT, DEFAULT_LEARNING_RATE)
    flat = " ".join(help_text.split())
    assert all(method in flat for method in METHODS)
    assert all(f"{method} {steps}" in flat for method, steps in DEFAULT_STEPS.items() if steps)
