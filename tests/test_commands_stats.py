"""``ssvae stats`` and ``ssvae sample`` (``ssvae_tf.commands.stats``): their tables, prior samples, files end to
end on tiny data and one-line errors.  16 px, a few images."""

import csv
import json
import re

import numpy as np
import pytest

from ssvae_tf.commands.base import ArgumentParser
from ssvae_tf.commands.cli import main
from ssvae_tf.commands.stats import (
    COMMANDS,
    MAX_SAMPLES,
    SAMPLE_FILES,
    STATS_FILES,
    check_sample_count,
    radial_table,
    sample_prior,
    volume_fraction_table,
)
from ssvae_tf.model import build_vae
from ssvae_tf.run_dir import RunDir
from ssvae_tf.settings import TrainConfig
from ssvae_tf.stats.summary import characterise
from test_stats_summary import SIDE, binary_images, periodic_autocorrelation


# ------------------------------------------------------------------ tables
def test_tables_hold_every_number():
    stats = characterise(binary_images(3))
    rows = list(csv.DictReader(volume_fraction_table(stats).splitlines()))
    assert [int(row["image"]) for row in rows] == [0, 1, 2]
    np.testing.assert_allclose([float(row["phase_1"]) for row in rows], stats.volume_fractions[:, 1])
    table = list(csv.DictReader(radial_table({"a": stats, "b": stats}).splitlines()))
    assert len(table) == SIDE // 2 + 1 and {"r_px", "a_phase_0_mean", "b_phase_1_p95", "a_phase_0_p5"} <= set(table[0])
    np.testing.assert_allclose([float(row["a_phase_0_std"]) for row in table], stats.radial[:, 0].std(axis=0))


# ------------------------------------------------------------------ samples
@pytest.fixture(scope="module")
def model():
    return build_vae((SIDE, SIDE, 1), latent_dim=2, depth=2, filters=4, hidden_units=8, seed=0)


def test_prior_samples_are_the_models_own_draws_in_batches(model):
    samples = sample_prior(model, 7, seed=3, batch_size=3)
    assert samples.shape == (7, SIDE, SIDE, 1) and samples.dtype == np.float32
    np.testing.assert_allclose(samples, model.sample(7, seed=3), atol=1e-6)
    assert not np.allclose(samples, sample_prior(model, 7, seed=4))
    for n in (0, -1, 2.5, MAX_SAMPLES + 1):
        with pytest.raises(ValueError, match=f"from 1 to {MAX_SAMPLES}, got"):
            sample_prior(model, n)
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        sample_prior(model, 1, seed=-1)
    noisy = build_vae((SIDE, SIDE, 1), latent_dim=2, depth=2, filters=4, hidden_units=8, seed=0, upsampling="upsample",
                      decoder_noise=0.5)
    samples = sample_prior(noisy, 7, seed=3, batch_size=3)  # the noise restarts from the seed, batch by batch
    np.testing.assert_array_equal(samples, sample_prior(noisy, 7, seed=3, batch_size=3))
    np.testing.assert_array_equal(samples, noisy.sample(7, seed=3, batch_size=3))
    np.testing.assert_array_equal(sample_prior(noisy, 2, seed=3), noisy.sample(2, seed=3))  # one batch
    assert not np.allclose(samples, sample_prior(noisy, 7, seed=4, batch_size=3))
    with pytest.raises(ValueError, match=r"from 1 to 32 of 256x256x256 voxel volumes \(at most 2 GiB\), got 33"):
        check_sample_count(33, (256, 256, 256, 1))


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
    # the realism descriptors of the same images, by their definition
    descriptors = record["descriptors"]
    assert descriptors["n_images"] == 6
    assert descriptors["volume_fraction"]["mean"] == pytest.approx(black.mean(), abs=1e-6)
    changes = (np.diff((images[..., 0] < 0.5).astype(int), axis=1) != 0).sum(axis=(1, 2)) / SIDE**2
    assert descriptors["perimeter_axis0"]["mean"] == pytest.approx(changes.mean(), abs=1e-9)
    assert {"binary_share", "anisotropy", "components", "euler_number",
            "percolating_fraction_axis1"} <= set(descriptors)
    assert "realism (black at 0.5, mean of 6 images): volume fraction" in printed


def test_stats_with_a_pixel_size_give_every_length_in_its_unit(tmp_path, capsys):
    common = ["microstructure", "--image-size", "16", "--n-images", "4", "--quiet"]
    run_command("stats", *common, "--out", str(tmp_path / "px"))
    run_command("stats", *common, "--out", str(tmp_path / "um"), "--pixel-size", "0.5", "um")
    printed = capsys.readouterr().out.split("tables, figures")[1]
    px, um = (json.loads((tmp_path / name / "stats.json").read_text()) for name in ("px", "um"))
    assert "pixel_size" not in px and um["pixel_size"] == {"value": 0.5, "unit": "um"}
    for in_px, in_um in zip(px["phases"], um["phases"]):
        assert in_um["correlation_length_um"] == pytest.approx(0.5 * in_px["correlation_length_px"])
        assert len(in_um["correlation_length_axes_um"]) == 2
        assert in_um["correlation_length_axes_um"] == pytest.approx(
            [0.5 * length for length in in_px["correlation_length_axes_px"]])
    for axis in (0, 1):
        for key in ("mean", "std", "min", "max"):
            assert um["descriptors"][f"perimeter_axis{axis}_per_um"][key] == pytest.approx(
                px["descriptors"][f"perimeter_axis{axis}"][key] / 0.5)
    assert um["descriptors"]["components"] == px["descriptors"]["components"]  # counts have no unit
    radii = [float(row["r_um"]) for row in read_rows(tmp_path / "um" / "radial_s2.csv")]
    assert radii == [0.5 * float(row["r_px"]) for row in read_rows(tmp_path / "px" / "radial_s2.csv")]
    assert re.search(r"correlation length [\d.]+ um; along each axis [\d.]+ / [\d.]+ um", printed)
    assert " per um, anisotropy" in printed


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


def fake_run(root, config: TrainConfig, image_shape, decoded_shape=None) -> RunDir:
    """A run directory holding an untrained tiny model and the settings of ``config`` (what
    ``ssvae train`` leaves, without the training)."""
    model = build_vae(image_shape, latent_dim=2, depth=2, filters=2, hidden_units=8, seed=0,
                      decoded_shape=decoded_shape)
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
    # the realism table: samples against the training data, beside two halves of the data
    from ssvae_tf.stats.morphology import realism_table

    realism = record["realism"]
    assert realism["n_data_images"] == 6 and realism["n_samples"] == 5
    expected_rows = realism_table(training, samples)
    for key, row in expected_rows.items():
        for column, value in row.items():
            assert realism["rows"][key][column] == (pytest.approx(value) if np.isfinite(value) else None)
    assert record["descriptors"]["n_images"] == 5
    assert "| volume_fraction |" in printed and "real vs real" in printed


def test_sample_of_a_volume_run(tmp_path):
    run = fake_run(tmp_path / "run", TrainConfig(data="microstructure", dims=3, image_size=SIDE, n_images=3,
                                                 validation_split=0.0), (SIDE, SIDE, SIDE, 1))
    out = tmp_path / "samples"
    run_command("sample", "--model", str(run.model_file), "--n", "2", "--out", str(out), "--quiet")
    assert np.load(out / "samples.npy").shape == (2, SIDE, SIDE, SIDE, 1)
    record = json.loads((out / "sample.json").read_text())
    assert record["n_data_images"] == 3 and record["samples"]["spatial_shape"] == [SIDE] * 3
    assert {"perimeter_axis2", "chords_phase1_axis2"} <= set(record["realism"]["rows"])


def test_sample_of_a_model_from_slices_draws_volumes_and_compares_their_slices_with_the_micrographs(tmp_path):
    config = TrainConfig(data="lines", image_size=SIDE, n_images=4, validation_split=0.0, from_slices=True)
    run = fake_run(tmp_path / "run", config, (SIDE, SIDE, 1), decoded_shape=(SIDE, SIDE, SIDE, 1))
    out = tmp_path / "samples"
    run_command("sample", "--model", str(run.model_file), "--n", "2", "--out", str(out), "--quiet")
    assert np.load(out / "samples.npy").shape == (2, SIDE, SIDE, SIDE, 1) and (out / "samples_001.tif").exists()
    record = json.loads((out / "sample.json").read_text())
    assert record["image_shape"] == [SIDE, SIDE, SIDE, 1]
    assert record["samples"]["spatial_shape"] == [SIDE, SIDE]  # the volumes' slices, against the micrographs
    assert record["samples"]["n_images"] == 2 * 3 * SIDE
    assert {"perimeter_axis1", "percolating_fraction_axis1"} <= set(record["realism"]["rows"])
    assert "perimeter_axis2" in record["descriptors"]  # the volumes' own descriptors


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
    # the codes come from the mixture fitted to the training codes; --prior standard decodes N(0, I)
    from ssvae_tf.run_dir import load_model

    model = load_model(tmp_path / "run")
    assert record["prior"] == "fitted" and model.latent_prior is not None
    np.testing.assert_allclose(np.load(tmp_path / "out" / "samples.npy"), model.sample(4, seed=0), atol=1e-6)
    assert main(["sample", "--model", str(tmp_path / "run"), "--n", "4", "--prior", "standard",
                 "--out", str(tmp_path / "standard"), "--quiet"]) == 0
    assert json.loads((tmp_path / "standard" / "sample.json").read_text())["prior"] == "standard"
    np.testing.assert_allclose(np.load(tmp_path / "standard" / "samples.npy"),
                               model.sample(4, seed=0, prior="standard"), atol=1e-6)


def test_every_option_has_help():
    """(That building the parsers imports no TensorFlow is test_cli's check of every command.)"""
    parsers = [ArgumentParser() for _ in COMMANDS]
    for command, parser in zip(COMMANDS, parsers):
        command.configure(parser)
    flat = " ".join(" ".join(parser.format_help() for parser in parsers).split())
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


def test_a_full_disk_leaves_no_partial_report_and_says_so_in_one_line(lines_run, tmp_path, capsys, monkeypatch):
    import errno
    import os

    from matplotlib.figure import Figure

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    out = tmp_path / "stats"
    out.mkdir()
    (out / "mine.txt").write_text("kept")
    monkeypatch.setattr(Figure, "savefig", no_space)  # the fourth file: three tables were written before it
    assert main(["stats", "microstructure", "--image-size", "16", "--n-images", "4", "--out", str(out), "--quiet"]) == 2
    assert capsys.readouterr().err == f"ssvae: error: no space left on device writing {out / 'autocorrelation.png'}\n"
    assert os.listdir(out) == ["mine.txt"]
    monkeypatch.setattr(np, "save", no_space)
    samples = tmp_path / "samples"
    assert main(["sample", "--model", str(lines_run.path), "--n", "2", "--out", str(samples), "--quiet"]) == 2
    assert capsys.readouterr().err == f"ssvae: error: no space left on device writing {samples / 'samples.npy'}\n"
    assert not samples.exists()
