"""Figures: the plotted statistics are the centred autocorrelation on centred lag axes, every
plotting function writes a PNG at ``FIGURE_DPI`` (2-D and 3-D images), comparisons share bins, and importing
the package leaves the user's Matplotlib backend alone (notebooks)."""

import subprocess
import sys

import matplotlib.image
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
import numpy as np
import pytest
from PIL import Image

from ssvae_tf.evaluation import figures as evaluation_figures
from ssvae_tf.evaluation.evaluate import Evaluation
from ssvae_tf.figures import (
    FIGURE_DPI,
    centred_autocorrelation,
    lag_extent,
    plot_reconstructions,
    shared_bins,
    wrap_label,
)
from ssvae_tf.stats.two_point import StatsOptions
from ssvae_tf.stats.units import PixelSize

OPTIONS = StatsOptions()


def read_png(path) -> tuple[np.ndarray, float]:
    """The PNG's pixels ``(height, width, 4)`` and the resolution it records, in dpi."""
    with Image.open(path) as image:
        dpi = image.info["dpi"][0]
    return matplotlib.image.imread(path), dpi


def assert_png_at_least(path, width_in: float, height_in: float) -> None:
    """A PNG at ``FIGURE_DPI``, at least ``width_in`` x ``height_in`` inches in pixels."""
    pixels, dpi = read_png(path)
    assert dpi == pytest.approx(FIGURE_DPI, abs=0.1)
    assert pixels.shape[1] >= width_in * FIGURE_DPI and pixels.shape[0] >= height_in * FIGURE_DPI
    assert pixels[..., :3].std() > 0.05  # something is drawn


def visible_tick_labels(axis) -> list[str]:
    """The major tick labels an axis shows inside its view, in order (after a draw)."""
    low, high = sorted(axis.get_view_interval())
    return [label.get_text() for location, label in zip(axis.get_ticklocs(), axis.get_ticklabels())
            if low <= location <= high and label.get_text()]


def binary_images(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random(shape) > 0.5).astype(np.float32)


def make_evaluation(label: str, spatial: tuple[int, ...] = (16, 16), n: int = 5, seed: int = 0) -> Evaluation:
    """An ``Evaluation`` of ``n`` random images with every metric the figures read."""
    rng = np.random.default_rng(seed)
    originals = binary_images((n, *spatial, 1), seed)
    lines = rng.integers(1, 5, n)
    metrics = {
        "pixel_mse": rng.random(n) * 0.05, "stats_mse": rng.random(n) * 1e-4,
        "volume_fraction_diff_pct": np.append(rng.random(n - 1) * 10, np.nan),
        "nn_pixel_index": rng.integers(0, n, n), "nn_pixel_mse": rng.random(n) * 0.05,
        "nn_stats_index": rng.integers(0, n, n), "nn_stats_mse": rng.random(n) * 1e-4,
        "n_lines_original": lines, "n_lines_reconstruction": lines + rng.integers(-1, 2, n),
        "n_lines_nn_stats": lines,
    }
    reconstructions = rng.random(originals.shape).astype(np.float32)
    return Evaluation(label, originals, reconstructions, metrics, originals[::-1], originals)


def test_centred_autocorrelation_is_fftshifted_periodic_statistic():
    images = binary_images((2, 12, 10, 1))
    m0 = 1.0 - images[..., 0]  # black phase
    power = np.abs(np.fft.fft2(m0)) ** 2
    expected = np.fft.fftshift(np.fft.ifft2(power).real, axes=(1, 2)) / 120
    np.testing.assert_allclose(centred_autocorrelation(images, OPTIONS.replace(kind="hard")), expected, atol=1e-6)


@pytest.mark.parametrize("side", [1, 2, 5, 16, 63, 64])
def test_lag_extent_is_centred_on_the_zero_lag(side):
    lags = np.fft.fftshift(np.fft.fftfreq(side, d=1.0 / side))  # the lags of a centred window, in order
    first, last = lag_extent(side)
    assert (first, last) == (lags[0] - 0.5, lags[-1] + 0.5)
    assert last - first == side  # one unit per pixel
    assert first + 0.5 + side // 2 == 0  # the pixel at index side // 2 is drawn at lag 0
    assert lag_extent(64) == (-32.5, 31.5)


def test_lag_extent_in_a_physical_unit_scales_the_pixel_edges():
    assert lag_extent(64, PixelSize(5, "nm")) == (-162.5, 157.5)
    assert lag_extent(5, PixelSize(0.5, "um")) == (-1.25, 1.25)


def _drawn(monkeypatch) -> list[Figure]:
    """The figures that ``ssvae_tf.figures`` draws from now on, kept instead of written."""
    import ssvae_tf.figures as figures_module

    drawn = []
    monkeypatch.setattr(figures_module, "save_figure", lambda fig, path: drawn.append(fig))
    return drawn


def _labels(fig: Figure) -> set[str]:
    return {label for ax in fig.axes for label in (ax.get_xlabel(), ax.get_ylabel()) if label}


@pytest.mark.parametrize("spatial", [(8, 8), (4, 6, 6)], ids=["2d", "3d"])
def test_reconstruction_figures_put_lags_and_radii_in_the_pixel_size(monkeypatch, spatial):
    drawn = _drawn(monkeypatch)
    images = binary_images((1, *spatial, 1))
    plot_reconstructions(images, images, OPTIONS, "unused.png")
    plot_reconstructions(images, images, OPTIONS, "unused.png", pixel_size=PixelSize(5, "nm"))
    grid, physical = drawn
    unit = "px" if len(spatial) == 2 else "voxels"
    assert {"lag x [nm]", "|r| [nm]"} <= _labels(physical) and not any(f"[{unit}]" in label and "lag" in label
                                                                        for label in _labels(physical))
    assert {f"lag x [{unit}]", f"|r| [{unit}]"} <= _labels(grid)
    lag_maps = [ax for ax in physical.axes if ax.get_xlabel().startswith("lag x") and ax.images]
    x_low, x_high = lag_maps[0].images[0].get_extent()[:2]
    side = spatial[-1]
    assert (x_low, x_high) == lag_extent(side, PixelSize(5, "nm"))
    assert list(lag_maps[0].get_xticks()) == [5 * (-(side // 2)), 0, 5 * ((side - 1) // 2)]
    profile = next(ax for ax in physical.axes if ax.get_xlabel() == "|r| [nm]")
    radii = profile.lines[0].get_xdata()
    np.testing.assert_allclose(radii, 5 * np.arange(len(radii)))


def test_data_set_figures_put_lags_and_radii_in_the_pixel_size(monkeypatch):
    from ssvae_tf.figures import plot_autocorrelation_maps, plot_radial_s2
    from ssvae_tf.stats.summary import characterise

    drawn = _drawn(monkeypatch)
    stats = characterise(binary_images((2, 8, 8, 1)))
    plot_autocorrelation_maps(stats, "unused.png", pixel_size=PixelSize(2, "um"))
    plot_radial_s2({"data": stats}, "unused.png", pixel_size=PixelSize(2, "um"))
    plot_radial_s2({"data": stats}, "unused.png")
    maps, radial, radial_px = drawn
    assert {"lag x [um]", "lag y [um]"} == {label for label in _labels(maps) if "lag" in label}
    assert "1 px = 2 um" in maps._suptitle.get_text()
    assert "r [um]" in _labels(radial) and "r [px]" in _labels(radial_px)
    np.testing.assert_allclose(radial.axes[0].lines[0].get_xdata(), 2 * stats.radii)
    assert radial.axes[0].get_xlim() == (0, 2 * stats.radii[-1])


@pytest.mark.parametrize("spatial", [(16, 16), (8, 12, 12)], ids=["2d", "3d"])
@pytest.mark.slow
def test_plot_reconstructions_writes_a_png_per_example_column(tmp_path, spatial):
    images = binary_images((3, *spatial, 1))
    reconstructions = np.random.default_rng(1).random(images.shape).astype(np.float32)
    plot_reconstructions(images, reconstructions, OPTIONS, tmp_path / "figure.png", titles=("a", "b"))
    assert_png_at_least(tmp_path / "figure.png", width_in=3 * 2.0, height_in=8)


@pytest.mark.slow
def test_plot_pairs_and_nearest(tmp_path):
    evaluation = make_evaluation("ss-vae")
    evaluation_figures.plot_pairs(evaluation, OPTIONS, tmp_path / "pairs.png", n=2)
    assert_png_at_least(tmp_path / "pairs.png", width_in=2 * 2.0, height_in=8)
    evaluation_figures.plot_nearest(evaluation, tmp_path / "nearest.png", n=4)
    assert_png_at_least(tmp_path / "nearest.png", width_in=4 * 1.5, height_in=6)
    evaluation_figures.plot_nearest(make_evaluation("3-d", spatial=(6, 8, 8)), tmp_path / "nearest3d.png", n=2)
    assert_png_at_least(tmp_path / "nearest3d.png", width_in=2 * 1.5, height_in=6)


@pytest.mark.slow
def test_model_comparisons_write_pngs(tmp_path):
    evaluations = [make_evaluation("baseline", seed=1), make_evaluation("ss-vae", seed=2)]
    for name, width_in, height_in in (("plot_volume_fraction_histogram", 5, 3.5),
                                      ("plot_line_counts", 2 * 2.5, 2 * 2.5),
                                      ("plot_error_histograms", 2 * 4, 6)):
        path = tmp_path / f"{name}.png"
        getattr(evaluation_figures, name)(evaluations, path)
        assert_png_at_least(path, width_in, height_in)


def test_line_counts_with_many_classes_stay_a_bounded_png(tmp_path):
    evaluation = make_evaluation("noisy")
    evaluation.metrics["n_lines_reconstruction"][0] = 40
    evaluation_figures.plot_line_counts([evaluation], tmp_path / "counts.png")
    pixels, _ = read_png(tmp_path / "counts.png")
    assert max(pixels.shape[:2]) <= 13 * FIGURE_DPI


@pytest.mark.parametrize("label, width, lines", [
    ("real test crops", 28, ["real test crops"]),
    ("one-plane+noise+isotropy, from micrographs", 18, ["one-plane+noise+", "isotropy, from", "micrographs"]),
    ("a,b+c d", 2, ["a,", "b+", "c", "d"]),
    ("averyveryverylongrunwithoutabreak+b", 10, ["averyveryverylongrunwithoutabreak+", "b"]),
])
def test_wrap_label_breaks_after_plus_comma_or_space(label, width, lines):
    wrapped = wrap_label(label, width)
    assert wrapped.split("\n") == lines
    assert wrapped.replace("\n", "").replace(" ", "") == label.replace(" ", "")  # only spaces dropped


def test_plot_volume_rows_keeps_slices_large_beside_a_long_label(tmp_path, monkeypatch):
    drawn = []
    monkeypatch.setattr(evaluation_figures, "save_figure", lambda fig, path: drawn.append(fig))
    rng = np.random.default_rng(0)
    rows = {"real test crops": rng.random((2, 8, 8, 8, 1)),
            "one-plane+noise+window-8-floor-0.3+anchor-0+perimeter-4+isotropy+shrink-0.25, from micrographs":
                rng.random((3, 8, 8, 8, 1))}
    evaluation_figures.plot_volume_rows(rows, tmp_path / "volumes.png", "title")
    (fig,) = drawn
    FigureCanvasAgg(fig).draw()
    axes = fig.get_axes()
    assert len(axes) == 2 * 3 * 2  # two rows of the smaller row's two volumes, three slices each
    widths = [ax.get_position().width * fig.get_figwidth() for ax in axes]
    assert min(widths) > 0.8  # inches: the label is wrapped, not given the slices' room
    assert axes[0].get_ylabel() == "real test crops" and "\n" in axes[6].get_ylabel()


def test_shared_bins_span_every_finite_value():
    groups = [np.array([0.5, 2.0, np.nan]), np.array([1.0, 4.5, np.inf])]
    edges = shared_bins(groups, 8)
    np.testing.assert_allclose(edges, np.linspace(0.5, 4.5, 9))


def test_confusion_counts_match_a_loop():
    rng = np.random.default_rng(0)
    truth, predicted = rng.integers(0, 4, 50), rng.integers(0, 5, 50)
    classes = np.arange(4)
    expected = np.zeros((4, 4), dtype=np.int64)
    for t, p in zip(truth, predicted):
        if p < 4:
            expected[t, p] += 1
    np.testing.assert_array_equal(evaluation_figures.confusion_counts(truth, predicted, classes), expected)


def test_plot_search_png_and_plain_log_ticks(tmp_path):
    results = pytest.importorskip("tuning.results")
    rng = np.random.default_rng(0)
    rows = [{"trial": i + 1, "trial_id": str(i), "status": "COMPLETED", "objective": float(rng.random()),
             "hp:latent_dim": 2 ** (i % 5 + 1), "hp:alpha": float(10 ** rng.uniform(-1, 1)),
             "hp:beta": float(10 ** rng.uniform(-3, 0))} for i in range(10)]
    results.plot_search(rows, "val_stats_distance", tmp_path / "search.png")
    assert_png_at_least(tmp_path / "search.png", width_in=9, height_in=3.5)

    fig = Figure()
    FigureCanvasAgg(fig)  # to draw the tick labels
    ax = fig.subplots()
    ax.scatter([2, 32], [0.001, 1])
    results._scale_axis(ax, "x", np.array([2.0, 32.0]), 2)
    results._scale_axis(ax, "y", np.array([0.001, 1.0]), 10)
    fig.canvas.draw()
    shown = [visible_tick_labels(axis) for axis in (ax.xaxis, ax.yaxis)]
    assert shown[0] == ["2", "4", "8", "16", "32"]
    assert set(shown[1]) >= {"0.001", "0.01", "0.1", "1"}


def test_importing_the_package_keeps_the_users_backend(tmp_path):
    """A notebook's backend (here svg, as the user chose it) survives importing every module that draws,
    and the package's figures still save as PNG."""
    backend = "svg"
    code = f"""
import matplotlib
matplotlib.use({backend!r})
import numpy as np
import ssvae_tf.callbacks, ssvae_tf.design, ssvae_tf.evaluation, ssvae_tf.figures, ssvae_tf.training
import ssvae_tf.evaluation.figures, ssvae_tf.evaluation.report
from ssvae_tf.figures import plot_reconstructions, plot_volume_fractions
from ssvae_tf.stats import StatsOptions, characterise
images = (np.indices((2, 8, 8)).sum(axis=0) % 2).astype(np.float32)[..., None]
plot_reconstructions(images, images, StatsOptions(), {str(tmp_path / "pairs.png")!r})
plot_volume_fractions(characterise(images), {str(tmp_path / "fractions.png")!r})
print(matplotlib.get_backend())
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == backend
    for name in ("pairs.png", "fractions.png"):
        assert_png_at_least(tmp_path / name, width_in=3, height_in=3)
