"""``ssvae evaluate`` end to end on tiny runs, and its errors."""

import json
import shutil

import pytest
from conftest import run_command

pytestmark = pytest.mark.slow  # end to end: every test evaluates trained runs


@pytest.fixture
def runs(tiny_runs):
    return tiny_runs


def _evaluate(*argv):
    run_command("evaluate", *argv)


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
    assert "95 % bootstrap CI over the 10 evaluated images, 2000 resamples" in report
    assert "`lines`, 48 images of 32x32 px" in report and "Line count and orientation are measured" in report
    assert "decode each image's posterior mean z_mean (the paper's protocol)" in report
    rows = (out / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("model,data_index,pixel_mse,stats_mse,volume_fraction_diff_pct")
    assert len(rows) == 1 + 2 * 10   # 48 images, 30 % = 14 validation, the first 10 per model
    assert "| stats MSE mean / median |" in capsys.readouterr().out


def test_metrics_csv_reads_back_and_redraws_the_metric_figures(runs, tmp_path):
    from ssvae_tf.evaluation import compare_runs, read_metrics_csv, redraw_metric_figures, summarise

    out = tmp_path / "report"
    comparison = compare_runs(runs / "ss", runs / "base", out, n_images=10, progress=False)
    read_back = {evaluation.label: summarise(evaluation) for evaluation in read_metrics_csv(out / "metrics.csv")}
    assert set(read_back) == set(comparison.summaries)
    low, high = comparison.ratio_ci
    assert low <= comparison.ratio <= high
    assert f"**{comparison.ratio:.2f}x** [{low:.2f}, {high:.2f}]" in (out / "report.md").read_text()
    for label, summary in comparison.summaries.items():
        assert summary["stats_mse_mean_ci_low"] <= summary["stats_mse_mean"] <= summary["stats_mse_mean_ci_high"]
        for key, value in summary.items():
            assert read_back[label][key] == pytest.approx(value, rel=1e-5, nan_ok=True), (label, key)
    for name in ("error_histograms.png", "volume_fraction.png", "line_counts.png"):
        (out / name).unlink()
    redraw_metric_figures(out)
    assert all((out / name).read_bytes()[:4] == b"\x89PNG"
               for name in ("error_histograms.png", "volume_fraction.png", "line_counts.png"))


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


def test_a_pixel_size_puts_the_reports_lengths_in_its_unit(runs, tmp_path, capsys):
    out = tmp_path / "report"
    _evaluate("--model", str(runs / "ss"), "--out", str(out), "--n-images", "4", "--quiet", "--pixel-size", "5", "nm")
    report = (out / "report.md").read_text()
    assert "Lengths: 1 px = 5 nm; the figures' lags and radii and the chord lengths below are in nm" in report
    assert "| chord-length distance (nm) |" in report and "(px)" not in report.split("## Binarised")[1].split("\n\n")[1]
    assert "| chord-length distance (nm) |" in capsys.readouterr().out
    assert (out / "pairs_ss-vae.png").read_bytes()[:4] == b"\x89PNG"
