"""Evaluation of volumes ``(n, D, H, W, 1)``: per-volume metrics against NumPy definitions, the 3-D
figure helpers against NumPy slicing, and ``compare_runs`` end to end on tiny 3-D runs."""

import numpy as np
import pytest
from test_figures import OPTIONS, assert_png_at_least, binary_images

import ssvae_tf.figures as figures_module
from ssvae_tf.evaluation import (
    line_statistics,
    measure_lines,
    nearest_neighbours,
    pixel_mse,
    read_metrics_csv,
    stats_mse,
    volume_fraction_difference,
)
from ssvae_tf.figures import centred_autocorrelation, mid_slices, plot_reconstructions
from ssvae_tf.stats.two_point import radial_average

SPATIAL = (6, 8, 10)


def _black_volume_fraction_difference(originals: np.ndarray, reconstructions: np.ndarray) -> np.ndarray:
    """The metric's definition, one volume at a time: |#black(o) - #black(r)| / #black(o) in %."""
    return np.array([100.0 * abs(np.sum(o < 0.05) - np.sum(r < 0.05)) / np.sum(o < 0.05)
                     for o, r in zip(originals, reconstructions)])


def test_volume_metrics_are_one_value_per_volume():
    originals = binary_images((4, *SPATIAL, 1))
    reconstructions = np.random.default_rng(1).random(originals.shape).astype(np.float32)
    np.testing.assert_allclose(volume_fraction_difference(originals, reconstructions),
                               _black_volume_fraction_difference(originals, reconstructions))
    np.testing.assert_allclose(pixel_mse(originals, reconstructions),
                               [np.mean((o - r) ** 2) for o, r in zip(originals, reconstructions)], rtol=1e-6)
    stats = line_statistics(originals, "hard")
    assert stats.shape == (4, *SPATIAL)
    assert stats_mse(stats, line_statistics(reconstructions, "soft")).shape == (4,)
    assert line_statistics(originals[:0], "hard").shape == (0, *SPATIAL)


def test_nearest_neighbours_of_volumes_match_a_loop():
    queries, references = binary_images((3, *SPATIAL, 1), 2), binary_images((5, *SPATIAL, 1), 3)
    indices, mse = nearest_neighbours(queries, references)
    loop = np.array([[np.mean((q - r) ** 2) for r in references] for q in queries])
    np.testing.assert_array_equal(indices, loop.argmin(axis=1))
    np.testing.assert_allclose(mse, loop.min(axis=1), atol=1e-12)


def test_lines_are_not_measured_in_volumes():
    with pytest.raises(ValueError, match=r"needs 2-D images \(n, H, W, 1\), got shape \(2, 6, 8, 10, 1\)"):
        measure_lines(binary_images((2, *SPATIAL, 1)))


def test_mid_slices_are_the_middle_planes_and_the_zero_lag_planes():
    volume = np.arange(np.prod(SPATIAL)).reshape(SPATIAL)
    z, y, x = mid_slices(volume)
    np.testing.assert_array_equal(z, volume[3])
    np.testing.assert_array_equal(y, volume[:, 4])
    np.testing.assert_array_equal(x, volume[:, :, 5])
    black = 1.0 - binary_images((1, *SPATIAL, 1))[0, ..., 0]
    autocorrelation = np.fft.fftshift(np.fft.ifftn(np.abs(np.fft.fftn(black)) ** 2).real) / black.size
    centred = centred_autocorrelation(1.0 - black[None, ..., None], OPTIONS.replace(kind="hard"))[0]
    for plane, index in zip(mid_slices(centred), ((3,), (slice(None), 4), (slice(None), slice(None), 5))):
        np.testing.assert_allclose(plane, autocorrelation[index], atol=1e-6)
    with pytest.raises(ValueError, match=r"expected a volume \(D, H, W\), got shape \(8, 10\)"):
        mid_slices(volume[0])


def test_volume_figure_draws_mid_slices_and_3d_radial_profiles(monkeypatch):
    volumes = binary_images((2, *SPATIAL, 1))
    reconstructions = np.random.default_rng(1).random(volumes.shape).astype(np.float32)
    drawn = []
    monkeypatch.setattr(figures_module, "save_figure", lambda fig, path: drawn.append(fig))
    plot_reconstructions(volumes, reconstructions, OPTIONS, "unused.png")
    (fig,) = drawn
    shown = [image.get_array() for ax in fig.axes for image in ax.get_images()]
    profiles = [line.get_ydata() for ax in fig.axes for line in ax.get_lines()]
    texts = {ax.get_xlabel() for ax in fig.axes} | {ax.get_ylabel() for ax in fig.axes}
    assert len(shown) == 2 * 2 * 6  # examples x (input, reconstruction) x (3 slices + 3 lag planes)
    for j, (volume, reconstruction) in enumerate(zip(volumes, reconstructions)):
        block = shown[12 * j:12 * (j + 1)]
        expected = [*mid_slices(volume[..., 0]), *mid_slices(reconstruction[..., 0])]
        for got, want in zip(block[:3] + block[6:9], expected):
            np.testing.assert_array_equal(got, want)
    maps = centred_autocorrelation(volumes, OPTIONS)
    radii, profile = radial_average(maps)
    np.testing.assert_allclose(profiles[0], profile[0][radii <= min(SPATIAL) // 2])
    assert {"x [voxels]", "lag z [voxels]", "|r| [voxels]"} <= texts


# ------------------------------------------------------------------ end to end on tiny 3-D runs
N_EVALUATED = 2


@pytest.fixture(scope="module")
def volume_report(tmp_path_factory):
    """Tiny SS-VAE and baseline runs on 20 random 16^3 volumes (``.npy``), and their report."""
    from conftest import TINY

    from ssvae_tf.data import generate_random_fields
    from ssvae_tf.evaluation import compare_runs
    from ssvae_tf.settings import TrainConfig
    from ssvae_tf.training import train

    root = tmp_path_factory.mktemp("volume-runs")
    np.save(root / "volumes.npy", generate_random_fields(20, (16, 16, 16), seed=0, progress=False).images[..., 0])
    settings = {**TINY.to_json(), "data": str(root / "volumes.npy"), "image_size": None}
    with pytest.MonkeyPatch.context() as patch:  # no reconstructions.png: slow in 3-D, tested above
        patch.setattr(figures_module, "plot_reconstructions", lambda *args, **kwargs: None)
        train(TrainConfig(**settings), root / "ss", verbose=0, tensorboard=False)
        train(TrainConfig(**{**settings, "baseline": True}), root / "base", verbose=0, tensorboard=False)
    comparison = compare_runs(root / "ss", root / "base", root / "report", n_images=N_EVALUATED, progress=False)
    return root, comparison


@pytest.mark.slow
def test_compare_runs_on_volumes_writes_the_report_and_figures(volume_report):
    root, comparison = volume_report
    out = root / "report"
    for label in ("ss-vae", "baseline"):
        assert_png_at_least(out / f"pairs_{label}.png", width_in=12, height_in=3 * N_EVALUATED)
        assert_png_at_least(out / f"nearest_{label}.png", width_in=N_EVALUATED * 1.5, height_in=6)
    assert_png_at_least(out / "error_histograms.png", width_in=8, height_in=6)
    assert not (out / "line_counts.png").exists()
    report = (out / "report.md").read_text()
    assert "20 volumes of 16x16x16 voxels" in report and "the first 2 validation volumes" in report
    assert "Line count" not in report and "three orthogonal mid-slices" in report
    assert comparison.ratio is not None and comparison.summaries["ss-vae"]["n"] == N_EVALUATED


@pytest.mark.slow
def test_volume_metrics_csv_matches_numpy_on_the_evaluated_volumes(volume_report):
    from ssvae_tf.evaluation import reconstruct
    from ssvae_tf.evaluation.runs import evaluation_data, load_run

    root, _ = volume_report
    evaluations = {e.label: e for e in read_metrics_csv(root / "report" / "metrics.csv")}
    assert set(evaluations) == {"baseline", "ss-vae"}
    for label, path in (("ss-vae", "ss"), ("baseline", "base")):
        metrics = evaluations[label].metrics
        assert not any(name.startswith(("n_lines", "orientation")) for name in metrics)
        assert all(values.shape == (N_EVALUATED,) for values in metrics.values())
        run = load_run(root / path)
        data = evaluation_data(run, N_EVALUATED, progress=False)
        recon = reconstruct(run.model, data.validation)
        np.testing.assert_allclose(metrics["volume_fraction_diff_pct"],
                                   _black_volume_fraction_difference(data.validation, recon), rtol=1e-5)
        np.testing.assert_allclose(metrics["pixel_mse"], np.mean((data.validation - recon) ** 2, axis=(1, 2, 3, 4)),
                                   rtol=1e-4)
