"""``ssvae evaluate`` end to end on tiny runs, its errors, and the training presets."""

import argparse
import json
import shutil

import pytest

from ssvae_tf.evaluate_command import configure_evaluate, run_evaluate
from ssvae_tf.presets import preset, scaled_beta
from ssvae_tf.training import TrainConfig, train

TINY = TrainConfig(data="lines", image_size=32, n_images=48, epochs=1, batch_size=16, filters=4,
                   hidden_units=16, latent_dim=2, seed=0)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    train(TINY, root / "ss", verbose=0)
    train(TrainConfig(**{**TINY.__dict__, "baseline": True}), root / "base", verbose=0)
    return root


def _evaluate(*argv):
    parser = argparse.ArgumentParser()
    configure_evaluate(parser)
    run_evaluate(parser.parse_args(list(argv)))


def test_evaluate_writes_every_file(runs, tmp_path, capsys):
    out = tmp_path / "report"
    _evaluate("--model", str(runs / "ss"), "--baseline", str(runs / "base"), "--out", str(out),
              "--n-images", "10", "--quiet")
    expected = {"report.md", "metrics.csv", "pairs_ss-vae.png", "pairs_baseline.png", "nearest_ss-vae.png",
                "nearest_baseline.png", "volume_fraction.png", "line_counts.png", "error_histograms.png"}
    assert expected <= {p.name for p in out.iterdir()}
    report = (out / "report.md").read_text()
    assert "| metric | paper baseline | paper ss-vae | our baseline | our ss-vae |" in report
    assert "SS-VAE / baseline statistics error" in report and "## Line counts, ss-vae" in report
    rows = (out / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("model,data_index,pixel_mse,stats_mse,volume_fraction_diff_pct")
    assert len(rows) == 1 + 2 * 10   # 48 images, 30 % = 14 validation, the first 10 per model
    assert "| stats MSE mean / median |" in capsys.readouterr().out


def test_a_run_without_a_model_is_one_clear_error(runs, tmp_path):
    empty = tmp_path / "unfinished"
    empty.mkdir()
    shutil.copy(runs / "ss" / "config.json", empty / "config.json")
    with pytest.raises(ValueError, match="holds no model.keras") as error:
        _evaluate("--model", str(empty), "--out", str(tmp_path / "r"))
    assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match="is not a directory"):
        _evaluate("--model", str(tmp_path / "missing"), "--out", str(tmp_path / "r"))


def copy_run_with(source, destination, **settings):
    """A copy of a run directory whose recorded training settings are changed."""
    shutil.copytree(source, destination)
    record = json.loads((destination / "config.json").read_text())
    record["settings"].update(settings)
    (destination / "config.json").write_text(json.dumps(record))
    return destination


def test_mismatched_image_size_is_one_clear_error(runs, tmp_path):
    moved = copy_run_with(runs / "ss", tmp_path / "moved", image_size=48)
    with pytest.raises(ValueError, match=r"images of \(48, 48, 1\) but its model expects \(32, 32, 1\)"):
        _evaluate("--model", str(moved), "--out", str(tmp_path / "r"))


def test_runs_on_different_data_are_refused(runs, tmp_path):
    other = copy_run_with(runs / "base", tmp_path / "other", seed=1)
    with pytest.raises(ValueError, match="other data"):
        _evaluate("--model", str(runs / "ss"), "--baseline", str(other), "--out", str(tmp_path / "r"))


def test_presets():
    paper = preset("paper")
    assert (paper.image_size, paper.beta, paper.alpha, paper.latent_dim, paper.batch_size, paper.seed) == (
        224, 1.0, 1.0, 9, 32, 125)
    assert preset("paper", baseline=True).epochs == 400 and paper.epochs == 1500
    assert preset("ours").beta == scaled_beta(64) == 0.001
    assert preset("ours", image_size=32).beta == scaled_beta(32) == 0.00025
    assert scaled_beta(128) == 0.004
    assert preset("ours", baseline=True, data="lines-hard").loss_weights == (0.0, 0.001, 1.0)
    with pytest.raises(ValueError, match="preset must be one of"):
        preset("mine")
    with pytest.raises(ValueError, match="unknown TrainConfig fields"):
        preset("ours", epoch=3)
