"""Statistics of a data set and of prior samples (``ssvae_tf.characterise``, ``ssvae stats``, ``ssvae sample``):
volume fractions, mean autocorrelations and radial S2 against NumPy definitions and analytic cases, 2-D and
3-D, the commands' files end to end on tiny data and their one-line errors.  16 px, a few images."""

import csv
import json
import math
import re
import subprocess
import sys

import numpy as np
import pytest

from ssvae_tf import characterise as ch
from ssvae_tf.commands.stats import COMMANDS, SAMPLE_FILES, STATS_FILES
from ssvae_tf.commands.cli import main
from ssvae_tf.commands.base import ArgumentParser
from ssvae_tf.model import build_vae
from ssvae_tf.run_dir import RunDir
from ssvae_tf.settings import TrainConfig
from ssvae_tf.stats.two_point import radial_average

SIDE = 16


# ------------------------------------------------------------ definitions
def periodic_autocorrelation(indicator: np.ndarray) -> np.ndarray:
    """``mean_x m(x) m(x + r)`` over every periodic lag by rolling, zero lag at ``side // 2``."""
    out = np.empty(indicator.shape)
    for index in np.ndindex(indicator.shape):
        lag = tuple(i - side // 2 for i, side in zip(index, indicator.shape))
        shifted = np.roll(indicator, tuple(-d for d in lag), axis=tuple(range(indicator.ndim)))
        out[index] = np.mean(indicator * shifted)
    return out


def windowed_autocorrelation(indicator: np.ndarray, cutoff: int) -> np.ndarray:
    """Non-periodic 2-D autocorrelation by a loop over pixels: the mean of ``m(x) m(x + r)`` over the
    placements with both points inside, lags ``-cutoff..cutoff``."""
    rows, columns = indicator.shape
    out = np.zeros((2 * cutoff + 1, 2 * cutoff + 1))
    for dy in range(-cutoff, cutoff + 1):
        for dx in range(-cutoff, cutoff + 1):
            total, count = 0.0, 0
            for y in range(rows):
                for x in range(columns):
                    if 0 <= y + dy < rows and 0 <= x + dx < columns:
                        total += indicator[y, x] * indicator[y + dy, x + dx]
                        count += 1
            out[dy + cutoff, dx + cutoff] = total / count
    return out


def shell_means(stats_map: np.ndarray, radii) -> list[float]:
    """The mean of a centred map over the lags ``r`` with ``round(|r|) == radius``, by a loop."""
    values: dict[int, list[float]] = {}
    for index in np.ndindex(stats_map.shape):
        length = math.sqrt(sum((i - side // 2) ** 2 for i, side in zip(index, stats_map.shape)))
        values.setdefault(int(round(length)), []).append(stats_map[index])
    return [float(np.mean(values[int(r)])) for r in radii]


def binary_images(n: int, shape=(SIDE, SIDE), fraction: float = 0.4, seed: int = 0) -> np.ndarray:
    """``(n, *shape, 1)`` of 0 (black, about ``fraction``) and 1."""
    rng = np.random.default_rng(seed)
    return (rng.uniform(size=(n, *shape, 1)) >= fraction).astype(np.float32)


def checkerboard(shape=(SIDE, SIDE)) -> np.ndarray:
    return (np.indices(shape).sum(axis=0) % 2).astype(np.float32)[..., None]


# ------------------------------------------------------------ volume fractions
def test_volume_fractions_are_the_mean_of_each_phase():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, size=(4, SIDE, SIDE))
    images = (labels / 2.0).astype(np.float32)[..., None]  # phase h at grey level h / 2
    fractions = ch.volume_fractions(images, n_phases=3)
    expected = np.stack([(labels == h).mean(axis=(1, 2)) for h in range(3)], axis=1)
    np.testing.assert_allclose(fractions, expected, atol=1e-12)
    grey = rng.uniform(size=(3, SIDE, SIDE, 1)).astype(np.float32)  # grey: black below 0.5
    np.testing.assert_allclose(ch.volume_fractions(grey)[:, 0], (grey[..., 0] < 0.5).mean(axis=(1, 2)))
    np.testing.assert_allclose(ch.volume_fractions(grey).sum(axis=1), 1.0)


# ---------------------------------------------------------- autocorrelations
def test_mean_autocorrelation_is_the_mean_of_the_brute_force_maps():
    images = binary_images(3)
    stats = ch.characterise(images, batch_size=2)  # two batches
    for phase, indicator in ((0, images[..., 0] == 0), (1, images[..., 0] == 1)):
        maps = np.stack([periodic_autocorrelation(m.astype(np.float64)) for m in indicator])
        np.testing.assert_allclose(stats.mean_maps[phase], maps.mean(axis=0), atol=2e-6)
        # every image's radial curve is the shell mean of its own map, up to half the side
        assert list(stats.radii) == list(range(SIDE // 2 + 1))
        for image, stats_map in enumerate(maps):
            np.testing.assert_allclose(stats.radial[image, phase], shell_means(stats_map, stats.radii), atol=2e-6)
    np.testing.assert_allclose(stats.volume_fractions[:, 0], (images[..., 0] == 0).mean(axis=(1, 2)))
    assert stats.n_images == 3 and stats.n_phases == 2 and stats.unit == "px"


def test_non_periodic_statistics_count_the_placements_inside():
    images = binary_images(2, fraction=0.3, seed=2)
    stats = ch.characterise(images, periodic=False, cutoff=3)
    expected = np.mean([windowed_autocorrelation((image[..., 0] == 0).astype(float), 3) for image in images], axis=0)
    assert stats.mean_maps.shape == (2, 7, 7) and list(stats.radii) == [0, 1, 2, 3]
    np.testing.assert_allclose(stats.mean_maps[0], expected, atol=2e-6)
    np.testing.assert_allclose(ch.autocorrelations(images, periodic=False, cutoff=3)[..., 0].mean(axis=0), expected,
                               atol=2e-6)


def test_volumes_have_3d_maps_and_radial_curves_over_3d_lags():
    volumes = binary_images(2, shape=(6, 6, 6), seed=3)
    stats = ch.characterise(volumes)
    maps = np.stack([periodic_autocorrelation((v[..., 0] == 0).astype(float)) for v in volumes])
    assert stats.mean_maps.shape == (2, 6, 6, 6) and stats.unit == "voxels"
    np.testing.assert_allclose(stats.mean_maps[0], maps.mean(axis=0), atol=2e-6)
    np.testing.assert_allclose(stats.radial_mean[0], shell_means(maps.mean(axis=0), stats.radii), atol=2e-6)


# ---------------------------------------------------------------- radial S2
def test_radial_s2_of_a_checkerboard_is_known():
    # S2 of black: 1/2 at even lags (dy + dx), 0 at odd ones.  Shell 1: four odd lags and the four
    # diagonals (|r| = 1.41, even); shell 2: (0, 2)-type even lags and eight (1, 2)-type odd ones.
    images = np.stack([checkerboard(), 1 - checkerboard()])
    stats = ch.characterise(images)
    np.testing.assert_allclose(stats.radial_mean[0, :3], [0.5, 0.25, 1 / 6], atol=1e-6)
    np.testing.assert_allclose(stats.fraction_mean, [0.5, 0.5])
    low, high = stats.radial_band  # both images have the same statistics: no spread
    np.testing.assert_allclose(low, stats.radial_mean, atol=1e-6)
    np.testing.assert_allclose(high, stats.radial_mean, atol=1e-6)


def test_a_single_phase_image_is_fully_correlated():
    stats = ch.characterise(np.zeros((2, SIDE, SIDE, 1), np.float32))
    np.testing.assert_allclose(stats.volume_fractions, [[1, 0], [1, 0]])
    np.testing.assert_allclose(stats.radial_mean[0], 1.0, atol=1e-6)
    np.testing.assert_allclose(stats.radial_mean[1], 0.0, atol=1e-6)
    assert np.isnan(stats.correlation_lengths).all()
    assert "undefined" in stats.describe()[0]
    summary = stats.summary()["phases"][0]
    assert summary["volume_fraction_mean"] == 1.0 and summary["correlation_length_px"] is None


def test_band_curves_and_batches_agree_with_their_definitions():
    images = binary_images(7, seed=4)
    stats = ch.characterise(images)
    low, high = stats.radial_band
    np.testing.assert_allclose(low, np.percentile(stats.radial, 5, axis=0))
    np.testing.assert_allclose(high, np.percentile(stats.radial, 95, axis=0))
    assert np.all(low <= stats.radial_mean + 1e-12) and np.all(stats.radial_mean <= high + 1e-12)
    radii, profiles = radial_average(stats.mean_maps)  # the mean curve is the curve of the mean map
    np.testing.assert_allclose(stats.radial_mean, profiles[:, :len(stats.radii)], atol=1e-12)
    batched = ch.characterise(iter([images[:3], images[3:]]))
    np.testing.assert_allclose(batched.mean_maps, stats.mean_maps, atol=1e-7)
    np.testing.assert_allclose(batched.radial, stats.radial, atol=1e-7)
    # hard periodic S2 averages to the square volume fraction over every lag
    np.testing.assert_allclose(stats.mean_maps.reshape(2, -1).mean(axis=1), stats.asymptotes, atol=1e-6)


def test_correlation_length_of_an_exponential_decay():
    radii = np.arange(12.0)
    length, fraction = 2.5, 0.3
    profile = fraction**2 + (fraction - fraction**2) * np.exp(-radii / length)
    # g(2) = e^-0.8 and g(3) = e^-1.2 bracket 1/e: the straight line between them crosses it here
    g2, g3 = np.exp(-2 / length), np.exp(-3 / length)
    expected = 2 + (g2 - np.exp(-1)) / (g2 - g3)
    assert ch.correlation_length(radii, profile, fraction**2) == pytest.approx(expected, rel=1e-9)
    assert abs(expected - length) < 0.1
    assert math.isnan(ch.correlation_length(radii[:2], profile[:2], fraction**2))  # never decays enough
    assert math.isnan(ch.correlation_length(radii, np.full(12, 0.09), 0.09))


def test_statistics_distance_compares_the_mean_maps():
    data, other = ch.characterise(binary_images(4, seed=5)), ch.characterise(binary_images(3, fraction=0.6, seed=6))
    same = ch.statistics_distance(data, data)
    assert same["stats_mse"] == 0 and same["stats_relative"] == 0 and same["volume_fraction_difference"] == [0, 0]
    distance = ch.statistics_distance(other, data)
    diff = other.mean_maps - data.mean_maps
    assert distance["stats_mse"] == pytest.approx(np.mean(diff**2))
    assert distance["stats_mse_per_phase"][0] == pytest.approx(np.mean(diff[0] ** 2))
    assert distance["stats_relative"] == pytest.approx(np.linalg.norm(diff) / np.linalg.norm(data.mean_maps))
    assert distance["volume_fraction_difference"][0] == pytest.approx(other.fraction_mean[0] - data.fraction_mean[0])
    with pytest.raises(ValueError, match="cannot compare"):
        ch.statistics_distance(ch.characterise(binary_images(1, shape=(8, 8))), data)


def test_tables_hold_every_number():
    stats = ch.characterise(binary_images(3))
    rows = list(csv.DictReader(ch.volume_fraction_table(stats).splitlines()))
    assert [int(row["image"]) for row in rows] == [0, 1, 2]
    np.testing.assert_allclose([float(row["phase_1"]) for row in rows], stats.volume_fractions[:, 1])
    table = list(csv.DictReader(ch.radial_table({"a": stats, "b": stats}).splitlines()))
    assert len(table) == SIDE // 2 + 1 and {"r_px", "a_phase_0_mean", "b_phase_1_p95", "a_phase_0_p5"} <= set(table[0])
    np.testing.assert_allclose([float(row["a_phase_0_std"]) for row in table], stats.radial[:, 0].std(axis=0))


def test_bad_images_are_one_line():
    with pytest.raises(ValueError, match="no images"):
        ch.characterise(np.zeros((0, SIDE, SIDE, 1), np.float32))
    with pytest.raises(ValueError, match="one shape"):
        ch.characterise(iter([binary_images(1), binary_images(1, shape=(8, 8))]))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ch.characterise(np.full((1, SIDE, SIDE, 1), 2.0, np.float32))


# ------------------------------------------------------------------ samples
@pytest.fixture(scope="module")
def model():
    return build_vae((SIDE, SIDE, 1), latent_dim=2, depth=2, filters=4, hidden_units=8, seed=0)


def test_prior_samples_are_the_models_own_draws_in_batches(model):
    samples = ch.sample_prior(model, 7, seed=3, batch_size=3)
    assert samples.shape == (7, SIDE, SIDE, 1) and samples.dtype == np.float32
    np.testing.assert_allclose(samples, model.sample(7, seed=3), atol=1e-6)
    assert not np.allclose(samples, ch.sample_prior(model, 7, seed=4))
    for n in (0, -1, 2.5, ch.MAX_SAMPLES + 1):
        with pytest.raises(ValueError, match=f"from 1 to {ch.MAX_SAMPLES}, got"):
            ch.sample_prior(model, n)
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        ch.sample_prior(model, 1, seed=-1)
    with pytest.raises(ValueError, match=r"from 1 to 32 of 256x256x256 voxel volumes \(at most 2 GiB\), got 33"):
        ch.check_sample_count(33, (256, 256, 256, 1))


# ------------------------------------------------------------------ commands
def run_command(name: str, *argv: str) -> None:
    """Run ``ssvae NAME`` as the CLI parses it, errors propagating."""
    command = next(c for c in COMMANDS if c.name == name)
    parser = ArgumentParser(prog=f"ssvae {name}")
    command.configure(parser)
    command.run(parser.parse_args(list(argv)))


def read_rows(path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_stats_of_a_built_in_set_writes_every_file(tmp_path, capsys):
    from ssvae_tf.training import training_source

    out = tmp_path / "stats"
    run_command("stats", "microstructure", "--image-size", "16", "--n-images", "6", "--out", str(out), "--quiet")
    assert sorted(p.name for p in out.iterdir()) == sorted(STATS_FILES)
    images = training_source(TrainConfig(data="microstructure", image_size=16, n_images=6), progress=False)
    black = (images[..., 0] < 0.5).mean(axis=(1, 2))
    rows = read_rows(out / "volume_fractions.csv")
    np.testing.assert_allclose([float(r["phase_0"]) for r in rows], black, atol=1e-6)
    record = json.loads((out / "stats.json").read_text())
    assert record["n_images"] == 6 and record["data"] == "microstructure" and record["indicator"] == "hard"
    assert record["phases"][0]["volume_fraction_mean"] == pytest.approx(black.mean(), abs=1e-6)
    assert record["phases"][0]["volume_fraction_std"] == pytest.approx(black.std(), abs=1e-6)
    maps = np.load(out / "autocorrelation.npy")
    assert maps.shape == (2, SIDE, SIDE)
    expected = np.mean([periodic_autocorrelation((i[..., 0] < 0.5).astype(float)) for i in images], axis=0)
    np.testing.assert_allclose(maps[0], expected, atol=2e-6)
    assert len(read_rows(out / "radial_s2.csv")) == SIDE // 2 + 1
    printed = capsys.readouterr().out
    assert "6 of 16x16 px" in printed and "phase 0 (black): volume fraction" in printed


def test_stats_of_label_images_on_a_path_non_periodic(tmp_path):
    labels = np.random.default_rng(7).integers(0, 3, size=(3, SIDE, SIDE)).astype(np.uint8)
    np.save(tmp_path / "labels.npy", labels)
    out = tmp_path / "stats"
    run_command("stats", "--data", str(tmp_path / "labels.npy"), "--phases", "3", "--no-periodic", "--cutoff", "3",
                "--out", str(out))
    rows = read_rows(out / "volume_fractions.csv")
    for h in range(3):
        np.testing.assert_allclose([float(r[f"phase_{h}"]) for r in rows], (labels == h).mean(axis=(1, 2)))
    assert np.load(out / "autocorrelation.npy").shape == (3, 7, 7)
    table = read_rows(out / "radial_s2.csv")
    assert [float(r["r_px"]) for r in table] == [0, 1, 2, 3] and "phase_2_p95" in table[0]
    record = json.loads((out / "stats.json").read_text())
    assert record["periodic"] is False and record["cutoff"] == 3 and record["reading"]["phases"] == 3
    assert [p["name"] for p in record["phases"]] == ["phase 0 (black)", "phase 1 (grey 0.5)", "phase 2 (white)"]


def test_stats_of_crops_thresholded(tmp_path):
    grey = np.random.default_rng(8).uniform(size=(2, 32, 32)).astype(np.float32)
    np.save(tmp_path / "grey.npy", grey)
    out = tmp_path / "stats"
    run_command("stats", str(tmp_path / "grey.npy"), "--patch-size", "16", "--crops-per-epoch", "5",
                "--threshold", "0.7", "--out", str(out))
    rows = read_rows(out / "volume_fractions.csv")
    assert len(rows) == 5
    fractions = np.array([float(r["phase_0"]) for r in rows])
    assert np.all(fractions > 0.5)  # about 70 % of the pixels are at most 0.7: black after the threshold
    assert json.loads((out / "stats.json").read_text())["reading"]["threshold"] == 0.7


def test_stats_of_volumes(tmp_path):
    out = tmp_path / "stats"
    run_command("stats", "microstructure", "--dims", "3", "--image-size", "16", "--n-images", "2", "--out", str(out),
                "--quiet")
    assert np.load(out / "autocorrelation.npy").shape == (2, SIDE, SIDE, SIDE)
    assert [float(r["r_voxels"]) for r in read_rows(out / "radial_s2.csv")] == list(range(SIDE // 2 + 1))
    record = json.loads((out / "stats.json").read_text())
    assert record["spatial_shape"] == [SIDE] * 3 and "correlation_length_voxels" in record["phases"][0]
    assert (out / "autocorrelation.png").stat().st_size > 0


def _one_line_error(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("ssvae: error: ")
    return err


@pytest.mark.parametrize("argv, message", [
    (["stats", "no/such/data.npy"], "data no/such/data.npy does not exist"),
    (["stats"], "no data given"),
    (["stats", "lines", "--data", "microstructure"], "two data sets given"),
    (["stats", "lines", "--phases", "1"], "phases must be an integer >= 2"),
    (["stats", "lines", "--phases", "3", "--threshold", "0.5"], "label images .* are not thresholded"),
    (["stats", "lines", "--dims", "3"], "2-D line images"),
])
def test_stats_bad_input_is_one_line(argv, message, tmp_path, capsys):
    err = _one_line_error([*argv, "--out", str(tmp_path / "never")], capsys)
    assert re.search(message, err), err
    assert not (tmp_path / "never").exists()


def test_stats_of_a_path_refuses_another_image_size(tmp_path, capsys):
    np.save(tmp_path / "images.npy", binary_images(2))
    err = _one_line_error(["stats", str(tmp_path / "images.npy"), "--image-size", "32", "--out", str(tmp_path / "o")],
                          capsys)
    assert "image_size=32 does not match" in err


def fake_run(root, config: TrainConfig, image_shape) -> RunDir:
    """A run directory holding an untrained tiny model and the settings of ``config`` (what
    ``ssvae train`` leaves, without the training)."""
    model = build_vae(image_shape, latent_dim=2, depth=2, filters=2, hidden_units=8, seed=0)
    run = RunDir(root)
    run.save_model(model)
    run.write_settings(config, image_shape, config.n_images, model.stats_options.to_json())
    return run


@pytest.fixture(scope="module")
def lines_run(tmp_path_factory):
    return fake_run(tmp_path_factory.mktemp("sample-run") / "run",
                    TrainConfig(data="lines", image_size=SIDE, n_images=8, validation_split=0.25), (SIDE, SIDE, 1))


def test_sample_writes_samples_and_their_distance_to_the_training_data(lines_run, tmp_path, capsys):
    from ssvae_tf.run_dir import load_model
    from ssvae_tf.training import run_data

    out = tmp_path / "samples"
    run_command("sample", "--model", str(lines_run.path), "--n", "5", "--seed", "2", "--out", str(out), "--quiet")
    assert sorted(p.name for p in out.iterdir()) == sorted(SAMPLE_FILES)
    model = load_model(lines_run.path)
    samples = np.load(out / "samples.npy")
    assert samples.shape == (5, SIDE, SIDE, 1)
    np.testing.assert_allclose(samples, model.sample(5, seed=2), atol=1e-6)
    record = json.loads((out / "sample.json").read_text())
    training = run_data(lines_run.settings(), progress=False).training_images()
    assert record["n"] == 5 and record["seed"] == 2 and record["n_data_images"] == len(training) == 6
    # the distance by its definition: hard indicators, brute-force maps, mean over lags and both phases
    def mean_maps(images):
        return np.stack([np.mean([periodic_autocorrelation((np.rint(i[..., 0]) == h).astype(float)) for i in images],
                                 axis=0) for h in (0, 1)])
    expected = np.mean((mean_maps(samples) - mean_maps(training)) ** 2)
    assert record["distance"]["stats_mse"] == pytest.approx(expected, rel=1e-4, abs=1e-9)
    options = model.stats_options
    loss_style = np.mean((options.statistics(samples).numpy().mean(axis=0)
                          - options.statistics(training).numpy().mean(axis=0)) ** 2)
    assert record["prior_stats_distance"] == pytest.approx(loss_style, rel=1e-4)
    table = read_rows(out / "radial_s2.csv")
    assert {"data_phase_0_mean", "samples_phase_0_p95"} <= set(table[0]) and len(table) == SIDE // 2 + 1
    printed = capsys.readouterr().out
    assert "5 prior samples" in printed and "statistics distance to the 6 training images" in printed


def test_sample_of_a_volume_run(tmp_path):
    run = fake_run(tmp_path / "run", TrainConfig(data="microstructure", dims=3, image_size=SIDE, n_images=3,
                                                 validation_split=0.0), (SIDE, SIDE, SIDE, 1))
    out = tmp_path / "samples"
    run_command("sample", "--model", str(run.model_file), "--n", "2", "--out", str(out), "--quiet")
    assert np.load(out / "samples.npy").shape == (2, SIDE, SIDE, SIDE, 1)
    record = json.loads((out / "sample.json").read_text())
    assert record["n_data_images"] == 3 and record["samples"]["spatial_shape"] == [SIDE] * 3


def test_sample_bad_input_is_one_line(lines_run, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    huge = RunDir(tmp_path / "huge")  # a run of large volumes: 33 samples would take over 2 GiB
    huge.write_settings(TrainConfig(data="microstructure", dims=3), (256, 256, 256, 1), 1, {})
    huge.model_file.write_bytes(b"")
    moved = RunDir(tmp_path / "moved")
    np.save(tmp_path / "gone.npy", binary_images(2))
    moved.write_settings(TrainConfig(data=str(tmp_path / "gone.npy")), (SIDE, SIDE, 1), 2, {})
    moved.model_file.write_bytes(b"")
    (tmp_path / "gone.npy").unlink()
    model = str(lines_run.path)
    cases = [
        (["--model", str(tmp_path / "empty"), "--n", "2"], "holds no model.keras"),
        (["--model", str(tmp_path / "nowhere"), "--n", "2"], "does not exist"),
        (["--model", model, "--n", "0"], "from 1 to 100000, got 0"),
        (["--model", model, "--n", "1000000000"], "from 1 to 100000, got 1000000000"),
        (["--model", model, "--n", "2", "--seed", "-1"], "--seed must be an integer >= 0"),
        (["--model", str(huge.path), "--n", "33"], "from 1 to 32 of 256x256x256 voxel volumes"),
        (["--model", str(moved.path), "--n", "2"], "no longer exists; pass --data PATH"),
        (["--model", model, "--n", "2", "--data", str(tmp_path / "gone.npy")], "--data .* does not exist"),
    ]
    for argv, message in cases:
        err = _one_line_error(["sample", *argv, "--out", str(tmp_path / "never")], capsys)
        assert re.search(message, err), err
    assert not (tmp_path / "never").exists()


@pytest.mark.slow
def test_sample_from_a_trained_run(tmp_path):
    from ssvae_tf.training import train

    config = TrainConfig(data="lines", image_size=SIDE, n_images=32, epochs=1, batch_size=16, filters=4,
                         hidden_units=8, latent_dim=2, seed=0)
    train(config, tmp_path / "run", verbose=0)
    assert main(["sample", "--model", str(tmp_path / "run"), "--n", "4", "--out", str(tmp_path / "out"),
                 "--quiet"]) == 0
    record = json.loads((tmp_path / "out" / "sample.json").read_text())
    assert record["n_data_images"] == 22 and np.isfinite(record["distance"]["stats_mse"])
    assert np.load(tmp_path / "out" / "samples.npy").shape == (4, SIDE, SIDE, 1)


def test_the_parsers_are_light_and_every_option_has_help():
    code = ("import sys; from ssvae_tf.commands.base import ArgumentParser; "
            "from ssvae_tf.commands.stats import COMMANDS; ps = [ArgumentParser() for _ in COMMANDS]; "
            "[c.configure(p) for c, p in zip(COMMANDS, ps)]; print(' '.join(p.format_help() for p in ps)); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'matplotlib'}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
    flat = " ".join(result.stdout.split())
    for option in ("--phases", "--threshold", "--patch-size", "--dims", "--no-periodic", "--cutoff", "--n-images",
                   "--model", "--n N", "--seed"):
        assert option in flat


def test_both_commands_are_registered_and_every_option_shows_its_default():
    import argparse

    from ssvae_tf.commands.cli import build_parser

    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    for name in ("stats", "sample"):
        subparser = subparsers[name]
        for action in subparser._actions:
            if isinstance(action, argparse._HelpAction) or not action.option_strings:
                continue
            shown = subparser._get_formatter()._get_help_string(action)
            flag = action.nargs == 0 and action.default in (False, argparse.SUPPRESS)
            assert action.help and (flag or action.required or "default" in shown), f"{name} {action.option_strings}"
