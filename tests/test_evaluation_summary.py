"""Bootstrap confidence intervals of the summaries against independent definitions (normal theory, a
per-resample loop), their place in the comparison table, and the learning-curve figure."""

import numpy as np
import pytest
from PIL import Image

from ssvae_tf.evaluation import (
    bootstrap_interval,
    comparison_table,
    paired_ratio_interval,
    stats_ratio,
    stats_ratio_interval,
    summarise,
)
from ssvae_tf.evaluation import figures as evaluation_figures
from ssvae_tf.evaluation import summary as summary_module
from ssvae_tf.evaluation.evaluate import Evaluation
from ssvae_tf.figures import FIGURE_DPI

MEANS_AND_PERCENTAGES = ("stats_mse_mean", "pixel_mse_mean", "volume_fraction_diff_mean", "orientation_pct",
                         "line_count_pct", "nn_stats_line_count_pct")


def loop_interval(values, statistic, n_resamples=2000, confidence=0.95, seed=0):
    """The percentile bootstrap written as a loop, one resample (n draws with replacement) at a time."""
    rng = np.random.default_rng(seed)
    statistics = [statistic(values[rng.integers(0, len(values), len(values))]) for _ in range(n_resamples)]
    tail = (1 - confidence) / 2
    return tuple(np.quantile(statistics, [tail, 1 - tail]))


def test_mean_interval_of_normal_samples_matches_normal_theory():
    values = np.random.default_rng(3).normal(5.0, 2.0, 400)
    mean, standard_error = values.mean(), values.std(ddof=1) / np.sqrt(len(values))
    low, high = bootstrap_interval(values)
    # Monte Carlo error of a 2.5 % quantile of 2000 resamples: about 0.06 standard errors (5 sigma).
    assert low == pytest.approx(mean - 1.96 * standard_error, abs=0.3 * standard_error)
    assert high == pytest.approx(mean + 1.96 * standard_error, abs=0.3 * standard_error)


@pytest.mark.parametrize("statistic", [np.mean, np.median])
def test_interval_matches_a_loop_and_contains_the_statistic(statistic):
    values = np.random.default_rng(4).lognormal(0.0, 1.0, 57)   # skewed, like the per-image errors
    low, high = bootstrap_interval(values, statistic, n_resamples=500, confidence=0.9, seed=7)
    np.testing.assert_allclose((low, high), loop_interval(values, statistic, 500, 0.9, 7), rtol=1e-12)
    assert low < statistic(values) < high


def test_interval_is_seeded_and_does_not_depend_on_the_block_size(monkeypatch):
    values = np.random.default_rng(5).random(300)
    first = bootstrap_interval(values, seed=11)
    assert bootstrap_interval(values, seed=11) == first
    assert bootstrap_interval(values, seed=12) != first
    monkeypatch.setattr(summary_module, "_INDEX_BLOCK_ELEMENTS", 7 * 300 + 5)  # 7 rows per block
    assert bootstrap_interval(values, seed=11) == first


def test_constant_values_give_a_zero_width_interval():
    low, high = bootstrap_interval(np.full(50, 0.1))
    assert low == high == pytest.approx(0.1, rel=1e-12)


def test_non_finite_values_are_dropped_and_booleans_are_fractions():
    values = np.array([0.2, np.nan, 0.5, np.inf, 0.9, -np.inf, 0.4])
    assert bootstrap_interval(values) == bootstrap_interval(values[np.isfinite(values)])
    assert np.isnan(bootstrap_interval(np.array([np.nan, np.inf]))).all()
    correct = np.random.default_rng(6).random(200) < 0.7
    low, high = bootstrap_interval(correct)
    assert (low, high) == bootstrap_interval(correct.astype(float))
    assert 0.0 <= low < correct.mean() < high <= 1.0


@pytest.mark.parametrize("arguments, message", [({"n_resamples": 0}, "n_resamples"),
                                                ({"confidence": 1.0}, "confidence")])
def test_bad_resampling_arguments_are_refused(arguments, message):
    with pytest.raises(ValueError, match=message):
        bootstrap_interval(np.ones(3), **arguments)
    with pytest.raises(ValueError, match=message):
        paired_ratio_interval(np.ones(3), np.ones(3), **arguments)


def test_paired_ratio_of_identical_arrays_is_exactly_one():
    values = np.random.default_rng(7).lognormal(size=100)
    assert paired_ratio_interval(values, values) == (1.0, 1.0)


def test_paired_ratio_matches_a_loop_that_resamples_both_arrays_alike():
    rng = np.random.default_rng(8)
    denominator = rng.lognormal(size=40)
    numerator = 0.5 * denominator * rng.lognormal(0.0, 0.3, 40)
    pairs = np.stack([numerator, denominator], axis=1)
    expected = loop_interval(pairs, lambda p: p[:, 0].mean() / p[:, 1].mean(), n_resamples=300, seed=2)
    low, high = paired_ratio_interval(numerator, denominator, n_resamples=300, seed=2)
    np.testing.assert_allclose((low, high), expected, rtol=1e-12)
    assert low < numerator.mean() / denominator.mean() < high


def test_pairing_narrows_the_interval_of_correlated_errors():
    rng = np.random.default_rng(9)
    difficulty = rng.lognormal(0.0, 1.0, 300)           # some images are hard for both models
    baseline = difficulty * rng.lognormal(0.0, 0.2, 300)
    ours = 0.5 * difficulty * rng.lognormal(0.0, 0.2, 300)
    paired = paired_ratio_interval(ours, baseline)
    unpaired = paired_ratio_interval(rng.permutation(ours), baseline)
    assert paired[1] - paired[0] < 0.5 * (unpaired[1] - unpaired[0])
    assert paired[0] < ours.mean() / baseline.mean() < paired[1]


def test_paired_ratio_drops_images_missing_either_value_and_refuses_unpaired_arrays():
    numerator, denominator = np.array([1.0, 2.0, np.nan, 4.0, 3.0]), np.array([2.0, np.inf, 1.0, 3.0, 5.0])
    keep = [0, 3, 4]
    assert paired_ratio_interval(numerator, denominator) == paired_ratio_interval(numerator[keep],
                                                                                  denominator[keep])
    with pytest.raises(ValueError, match="one length"):
        paired_ratio_interval(np.ones(4), np.ones(5))


def line_evaluation(label: str, n: int = 60, seed: int = 0, scale: float = 1.0) -> Evaluation:
    """An ``Evaluation`` of ``n`` images with every metric the summaries read (no images)."""
    rng = np.random.default_rng(seed)
    lines = rng.integers(1, 5, n)
    metrics = {
        "pixel_mse": rng.random(n) * 0.1, "stats_mse": scale * rng.lognormal(-10.0, 0.5, n),
        "volume_fraction_diff_pct": np.append(rng.random(n - 1) * 30, np.nan),
        "n_lines_original": lines, "n_lines_reconstruction": lines + (rng.random(n) < 0.3),
        "n_lines_nn_stats": rng.integers(1, 5, n),
        "orientation_original": np.zeros(n, int), "orientation_reconstruction": (rng.random(n) < 0.1).astype(int),
    }
    return Evaluation(label, None, None, metrics, None, None)


def test_summary_gives_every_mean_and_percentage_an_interval_in_its_units():
    evaluation = line_evaluation("ss-vae")
    summary = summarise(evaluation)
    for key in MEANS_AND_PERCENTAGES:
        assert summary[f"{key}_ci_low"] <= summary[key] <= summary[f"{key}_ci_high"], key
    m = evaluation.metrics
    assert (summary["stats_mse_mean_ci_low"], summary["stats_mse_mean_ci_high"]) == bootstrap_interval(m["stats_mse"])
    correct = m["n_lines_reconstruction"] == m["n_lines_original"]
    assert (summary["line_count_pct_ci_low"], summary["line_count_pct_ci_high"]) == pytest.approx(
        tuple(100 * end for end in bootstrap_interval(correct)))
    assert not any(key.startswith(("n_ci", "stats_mse_median_ci")) for key in summary)
    without_lines = Evaluation("baseline", None, None, {key: m[key] for key in
                                                         ("pixel_mse", "stats_mse", "volume_fraction_diff_pct")},
                               None, None)
    assert "orientation_pct_ci_low" not in summarise(without_lines)


def test_ratio_interval_pairs_the_two_models_per_image():
    ours, baseline = line_evaluation("ss-vae", seed=1, scale=0.5), line_evaluation("baseline", seed=1)
    evaluations = {"baseline": baseline, "ss-vae": ours}
    low, high = stats_ratio_interval(evaluations)
    assert (low, high) == paired_ratio_interval(ours.metrics["stats_mse"], baseline.metrics["stats_mse"])
    assert low == pytest.approx(0.5) and high == pytest.approx(0.5)   # the same images, errors halved
    ratio = stats_ratio({label: summarise(e) for label, e in evaluations.items()})
    assert low == pytest.approx(ratio) == pytest.approx(high)
    assert stats_ratio_interval({"ss-vae": ours}) is None


def test_table_shows_intervals_for_our_columns_only():
    summary = {"stats_mse_mean": 2.57e-5, "stats_mse_mean_ci_low": 2.41e-5, "stats_mse_mean_ci_high": 2.74e-5,
               "stats_mse_median": 1.07e-5, "line_count_pct": 48.2, "line_count_pct_ci_low": 45.1,
               "line_count_pct_ci_high": 51.4, "volume_fraction_diff_mean": 20.0,
               "volume_fraction_diff_mean_ci_low": float("nan"), "volume_fraction_diff_mean_ci_high": 30.0}
    table = comparison_table({"ss-vae": summary}, "lines")
    assert "| stats MSE mean / median | 5.87e-05 / 2.74e-05 | 2.91e-05 / 1.74e-05 | " \
           "2.57e-05 [2.41e-05, 2.74e-05] / 1.07e-05 |" in table
    assert "| line count correct | — | 63 % | 48 % [45, 51] |" in table
    assert "| 20 % / — |" in table                     # an interval with a NaN end is left out
    assert "| orientation correct | — | 98 % | — |" in table
    plain = {key: value for key, value in summary.items() if "_ci_" not in key}
    assert "| — | 63 % | 48 % |" in comparison_table({"ss-vae": plain}, "lines")


def test_learning_curves_write_a_png(tmp_path):
    histories = {"ss-vae seed 0": {"val_stats_distance": [3e-4, 1e-4, 5e-5], "loss": [3.0, 2.0, 1.0]},
                 "baseline seed 0": {"val_stats_distance": [4e-4, 3e-4, 2.5e-4]}}
    path = tmp_path / "learning_curves.png"
    evaluation_figures.plot_learning_curves(histories, path)
    with Image.open(path) as image:
        assert image.format == "PNG" and image.info["dpi"][0] == pytest.approx(FIGURE_DPI, abs=0.1)
        assert image.width >= 6 * FIGURE_DPI


def test_learning_curves_draw_one_log_line_per_run_with_the_metric(tmp_path, monkeypatch):
    drawn = []
    monkeypatch.setattr(evaluation_figures, "save_figure", lambda fig, path: drawn.append(fig))
    histories = {"ss-vae seed 0": {"val_stats_distance": [3e-4, 1e-4, 5e-5]},
                 "baseline seed 0": {"val_stats_distance": [4e-4, 3e-4]},
                 "no validation": {"loss": [1.0, 0.5]}}
    evaluation_figures.plot_learning_curves(histories, tmp_path / "curves.png", title="lines")
    (ax,) = drawn[0].axes
    assert [line.get_label() for line in ax.get_lines()] == ["ss-vae seed 0", "baseline seed 0"]
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(ax.get_lines()[1].get_ydata(), [4e-4, 3e-4])
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "epoch"
    assert ax.get_ylabel() == "validation statistics MSE per lag" and ax.get_title() == "lines"
    assert ax.get_legend() is not None
    evaluation_figures.plot_learning_curves(histories, tmp_path / "loss.png", metric="loss")
    assert drawn[1].axes[0].get_ylabel() == "loss"


def test_learning_curves_without_the_metric_name_it():
    with pytest.raises(ValueError, match="'val_loss'"):
        evaluation_figures.plot_learning_curves({"ss-vae": {"loss": [1.0]}}, "unused.png", metric="val_loss")


def test_binarised_summary_correlates_descriptors_and_tables_them_beside_the_yardstick():
    from ssvae_tf.evaluation import binarised_table, correlation_interval, summarise_binarised
    from ssvae_tf.stats.morphology import pearson

    rng = np.random.default_rng(3)
    n = 40
    fraction = rng.random(n)
    metrics = {f"{prefix}{error}": rng.random(n) * 10 for prefix in ("binarised_", "real_pair_")
               for error in ("volume_fraction_error_points", "perimeter_error_pct", "chord_distance")}
    metrics.update(binary_share_pct=rng.random(n) * 100, binary_share_original_pct=np.full(n, 100.0),
                   binarised_volume_fraction_original=fraction,
                   binarised_volume_fraction_reconstruction=fraction + 0.1 * rng.random(n),
                   binarised_anisotropy_original=rng.random(n), binarised_anisotropy_reconstruction=np.full(n, 0.5))
    summary = summarise_binarised(metrics)
    assert summary["fidelity_volume_fraction"] == pytest.approx(
        np.corrcoef(fraction, metrics["binarised_volume_fraction_reconstruction"])[0, 1])
    assert summary["fidelity_anisotropy"] == 0.0  # the same value for every input follows none
    low, high = summary["fidelity_volume_fraction_ci_low"], summary["fidelity_volume_fraction_ci_high"]
    assert low <= summary["fidelity_volume_fraction"] <= high
    assert (low, high) == correlation_interval(fraction, metrics["binarised_volume_fraction_reconstruction"])
    assert summary["binarised_chord_distance_mean"] == pytest.approx(metrics["binarised_chord_distance"].mean())
    assert summary["binary_share_original_pct_mean"] == 100.0
    table = binarised_table({"baseline": summary, "ss-vae": summary, "other": {"n": 1.0}})
    assert table.splitlines()[0] == "| metric | our baseline | our ss-vae | real vs real |"
    assert "| fidelity r, volume fraction |" in table and "| volume-fraction error (points) |" in table
    assert binarised_table({"baseline": {"n": 1.0}}) == ""
    assert np.isnan(pearson(np.ones(3), np.arange(3)))


def test_binarised_summary_compares_the_sets_means():
    from ssvae_tf.evaluation import binarised_table, summarise_binarised

    rng = np.random.default_rng(4)
    n = 30
    metrics = {f"{prefix}{error}": rng.random(n) for prefix in ("binarised_", "real_pair_")
               for error in ("volume_fraction_error_points", "perimeter_error_pct", "chord_distance")}
    original = {"volume_fraction": rng.random(n), "perimeter_axis0": 0.1 + rng.random(n),
                "perimeter_axis1": 0.2 + rng.random(n)}
    # reconstructions: 2 points darker, perimeters shuffled and 1.5x (so each image's error is large, the bias 50 %)
    order = rng.permutation(n)
    metrics.update(binary_share_pct=np.full(n, 99.0), binary_share_original_pct=np.full(n, 100.0))
    for name, values in original.items():
        metrics[f"binarised_{name}_original"] = values
        metrics[f"binarised_{name}_reconstruction"] = (values + 0.02 if name == "volume_fraction"
                                                       else 1.5 * values[order])
    summary = summarise_binarised(metrics)
    assert summary["set_volume_fraction_difference_points"] == pytest.approx(2.0)
    assert summary["set_perimeter_difference_pct"] == pytest.approx(50.0)
    assert summary["set_perimeter_difference_pct_ci_low"] <= 50.0 <= summary["set_perimeter_difference_pct_ci_high"]
    table = binarised_table({"ss-vae": summary})
    assert "| set: mean perimeter, reconstructions vs originals | +50 %" in table
    assert "| set: mean volume fraction, reconstructions - originals (points) | +2.0" in table


def test_summaries_without_binarised_metrics_are_unchanged():
    summary = summarise(line_evaluation("ss-vae"))
    assert not any(key.startswith(("binarised_", "fidelity_", "real_pair_", "binary_share")) for key in summary)


def test_the_binarised_table_gives_chord_lengths_in_the_pixel_size():
    from ssvae_tf.evaluation import binarised_table
    from ssvae_tf.stats.units import PixelSize

    summary = {"binarised_volume_fraction_error_points_mean": 1.0, "binarised_chord_distance_mean": 1.5,
               "binarised_chord_distance_mean_ci_low": 1.0, "binarised_chord_distance_mean_ci_high": 2.0,
               "real_pair_chord_distance_mean": 0.5, "binarised_perimeter_error_pct_mean": 10.0}
    rows = {line.split(" | ")[0]: line for line in binarised_table({"ss-vae": summary}).splitlines()}
    assert rows["| chord-length distance (px)"].endswith("| 1.50 [1.00, 2.00] | 0.50 |")
    rows = {line.split(" | ")[0]: line
            for line in binarised_table({"ss-vae": summary}, PixelSize(4, "nm")).splitlines()}
    assert rows["| chord-length distance (nm)"].endswith("| 6.00 [4.00, 8.00] | 2.00 |")
    assert rows["| perimeter error"].endswith("| 10 % | — |")  # a ratio: no unit to convert
