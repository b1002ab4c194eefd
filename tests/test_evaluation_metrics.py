"""Evaluation metrics against hand-built images and brute-force definitions."""

import numpy as np
import pytest

from ssvae_tf.data import HARD_LINES, HORIZONTAL, VERTICAL, generate_lines
from ssvae_tf.evaluation import (
    UNKNOWN,
    comparison_table,
    confusion_table,
    line_statistics,
    measure_lines,
    nearest_neighbours,
    pixel_mse,
    stats_mse,
    summarise,
    volume_fraction_difference,
)
from ssvae_tf.evaluation.evaluate import Evaluation


def _canvas(size=32):
    return np.ones((size, size), dtype=np.float32)


def _stack(*canvases):
    return np.stack(canvases)[..., None]


def _two_vertical_lines():
    """Lines in columns 5-7 (rows 2-29) and 15-16 (all rows): 84 + 64 black pixels."""
    image = _canvas()
    image[2:30, 5:8] = 0.0
    image[:, 15:17] = 0.0
    return image


def test_hand_built_lines_are_counted_and_oriented():
    vertical = _two_vertical_lines()
    broken = _canvas()
    broken[0:11, 20:23] = 0.0          # one line broken in two fragments
    broken[14:32, 20:23] = 0.02
    blurry = np.full((32, 32), 0.6, np.float32)
    blurry[3:29, 4:6] = 0.01           # grey background, dark line
    speck = _canvas()
    speck[10, 10] = 0.0                # below the minimum area: not a line
    three = _canvas()
    for row in (3, 12, 25):
        three[row:row + 2, 1:30] = 0.0
    measured = measure_lines(_stack(vertical, vertical.T, broken, blurry, speck, _canvas(), three))
    assert measured.n_lines.tolist() == [2, 2, 1, 1, 0, 0, 3]
    assert measured.orientation.tolist() == [VERTICAL, HORIZONTAL, VERTICAL, VERTICAL, UNKNOWN, UNKNOWN,
                                             HORIZONTAL]


@pytest.mark.parametrize("size, n_lines", [(64, (1, 4)), (64, HARD_LINES), (32, (1, 4))])
def test_line_measurement_agrees_with_the_generator_labels(size, n_lines):
    lines = generate_lines(600, size, n_lines=n_lines, seed=3, progress=False)
    measured = measure_lines(lines.images)
    assert np.mean(measured.n_lines == lines.n_lines) >= 0.99
    assert np.mean(measured.orientation == lines.orientation) >= 0.99


def test_volume_fraction_difference_and_pixel_mse_by_hand():
    original = _two_vertical_lines()            # 148 black pixels
    recon = original.copy()
    recon[:, 15:17] = 0.5                       # 64 black pixels lost
    recon[0, 0] = 0.04                          # one gained (below 0.05 counts as black)
    vf = volume_fraction_difference(_stack(original, _canvas()), _stack(recon, _canvas()))
    assert vf[0] == pytest.approx(100 * 63 / 148)
    assert np.isnan(vf[1])                      # no black pixel in the original
    expected_mse = (64 * 0.25 + 0.96 ** 2) / 1024
    assert pixel_mse(_stack(original), _stack(recon))[0] == pytest.approx(expected_mse)


def _brute_force_autocorrelation(black: np.ndarray) -> np.ndarray:
    """f(r) = mean_x m(x) m(x + r), periodic, zero lag centred (fftshift layout)."""
    h, w = black.shape
    out = np.empty((h, w))
    for dy in range(-(h // 2), h - h // 2):
        for dx in range(-(w // 2), w - w // 2):
            shifted = np.roll(black, (-dy, -dx), axis=(0, 1))
            out[dy + h // 2, dx + w // 2] = np.mean(black * shifted)
    return out


def test_statistics_match_a_brute_force_definition():
    rng = np.random.default_rng(0)
    original = (rng.random((2, 8, 8, 1)) > 0.3).astype(np.float32)
    recon = rng.random((2, 8, 8, 1)).astype(np.float32)
    hard = line_statistics(original, "hard")
    soft = line_statistics(recon, "soft")
    for i in range(2):
        expected_hard = _brute_force_autocorrelation(1.0 - original[i, ..., 0])
        expected_soft = _brute_force_autocorrelation(np.exp(-recon[i, ..., 0] ** 2 / (2 * 0.25 ** 2)))
        np.testing.assert_allclose(hard[i], expected_hard, atol=1e-6)
        np.testing.assert_allclose(soft[i], expected_soft, atol=1e-6)
        assert stats_mse(hard, soft)[i] == pytest.approx(np.mean((expected_hard - expected_soft) ** 2), rel=1e-4)


def test_nearest_neighbours_match_a_brute_force_loop(monkeypatch):
    rng = np.random.default_rng(1)
    queries, references = rng.random((23, 5, 4)), rng.random((37, 5, 4))
    references[7] = queries[3]                   # an exact match
    monkeypatch.setattr("ssvae_tf.evaluation.neighbours._MATRIX_ELEMENTS", 100)  # several blocks
    index, mse = nearest_neighbours(queries, references)
    for i, q in enumerate(queries):
        distances = [np.mean((q - r) ** 2) for r in references]
        assert index[i] == int(np.argmin(distances))
        assert mse[i] == pytest.approx(min(distances), abs=1e-12)
    assert index[3] == 7 and mse[3] == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="reference"):
        nearest_neighbours(queries, rng.random((3, 6)))


def test_summaries_and_tables():
    n_lines = np.array([1, 2, 3, 4])
    metrics = {
        "pixel_mse": np.array([0.1, 0.2, 0.3, 0.4]), "stats_mse": np.array([1e-5, 2e-5, 3e-5, 6e-5]),
        "volume_fraction_diff_pct": np.array([10.0, 20.0, np.nan, 30.0]),
        "n_lines_original": n_lines, "n_lines_reconstruction": np.array([1, 2, 2, 4]),
        "n_lines_nn_stats": np.array([1, 1, 1, 1]),
        "orientation_original": np.zeros(4, int), "orientation_reconstruction": np.array([0, 0, 0, 1]),
    }
    evaluation = Evaluation("ss-vae", None, None, metrics, None, None)
    summary = summarise(evaluation)
    assert summary["stats_mse_mean"] == pytest.approx(3e-5)
    assert summary["stats_mse_median"] == pytest.approx(2.5e-5)
    assert summary["volume_fraction_diff_mean"] == pytest.approx(20.0)
    assert (summary["line_count_pct"], summary["orientation_pct"], summary["nn_stats_line_count_pct"]) == (
        75.0, 75.0, 25.0)
    assert "| 3 | 0 | 1 | 0 | 0 |" in confusion_table(evaluation)
    table = comparison_table({"ss-vae": summary}, "lines")
    low, high = summary["stats_mse_mean_ci_low"], summary["stats_mse_mean_ci_high"]
    assert 1e-5 <= low < 3e-5 < high <= 6e-5
    assert ("| stats MSE mean / median | 5.87e-05 / 2.74e-05 | 2.91e-05 / 1.74e-05 | "
            f"3.00e-05 [{low:.2e}, {high:.2e}] / 2.50e-05 |") in table
    low, high = summary["line_count_pct_ci_low"], summary["line_count_pct_ci_high"]
    assert f"| line count correct | — | 63 % | 75 % [{low:.0f}, {high:.0f}] |" in table


def test_binarised_metrics_read_both_images_at_the_phase_threshold():
    from ssvae_tf.evaluation import binarised_metrics

    original = np.ones((8, 8, 1), np.float32)
    original[2:4] = 0.0  # a black band of 2 rows: black share 0.25, perimeter 2 changes x 8 columns / 64 px
    grey = np.full((8, 8, 1), 0.6, np.float32)
    grey[2:6] = 0.3  # a grey band of 4 rows: black at 0.5, never plainly binary
    other = np.ones((8, 8, 1), np.float32)  # a blank "real" neighbour
    m = binarised_metrics(np.stack([original, other]), np.stack([grey, other]))
    assert m["binarised_volume_fraction_error_points"].tolist() == pytest.approx([25.0, 0.0])
    assert m["binarised_perimeter_error_pct"][0] == 0.0 and np.isnan(m["binarised_perimeter_error_pct"][1])
    assert m["binary_share_pct"].tolist() == [0.0, 100.0]
    assert m["binary_share_original_pct"].tolist() == [100.0, 100.0]
    # the real-vs-real yardstick pairs each original with the next one
    assert m["real_pair_volume_fraction_error_points"].tolist() == pytest.approx([25.0, 25.0])
    # chords of the black band: 2 px (vertical) and 8 px (horizontal); of the grey band's black: 4 and 8
    assert m["binarised_chord_distance"][0] > 0 and m["binarised_chord_distance"][1] == 0.0
    assert m["binarised_volume_fraction_original"].tolist() == [0.25, 0.0]
    assert m["binarised_anisotropy_reconstruction"][0] == 1.0
    assert {f"binarised_perimeter_axis{a}_{which}" for a in (0, 1)
            for which in ("original", "reconstruction")} <= set(m)
