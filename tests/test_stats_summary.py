"""Statistics of a data set (``ssvae_tf.stats.summary``): volume fractions, mean autocorrelations and radial
S2 against NumPy definitions and analytic cases, 2-D and 3-D, and their one-line errors.  16 px, a few images."""

import math
import subprocess
import sys

import numpy as np
import pytest

from ssvae_tf.stats import summary
from ssvae_tf.stats.phases import black_mask
from ssvae_tf.stats.summary import characterise
from ssvae_tf.stats.two_point import radial_average
from ssvae_tf.stats.units import PixelSize

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
    fractions = summary.volume_fractions(images, n_phases=3)
    expected = np.stack([(labels == h).mean(axis=(1, 2)) for h in range(3)], axis=1)
    np.testing.assert_allclose(fractions, expected, atol=1e-12)
    grey = rng.uniform(size=(3, SIDE, SIDE, 1)).astype(np.float32)  # grey: black below 0.5, as black_mask says
    np.testing.assert_allclose(summary.volume_fractions(grey)[:, 0], (grey[..., 0] < 0.5).mean(axis=(1, 2)))
    np.testing.assert_allclose(summary.volume_fractions(grey)[:, 0], black_mask(grey).mean(axis=(1, 2)))
    np.testing.assert_allclose(summary.volume_fractions(grey).sum(axis=1), 1.0)



@pytest.mark.parametrize("call", [summary.volume_fractions, summary.autocorrelations, characterise])
def test_a_fractional_or_textual_phase_count_is_named(call):
    images = checkerboard()[None]
    for bad in (2.5, "3"):
        with pytest.raises(ValueError, match=rf"n_phases must be an integer >= 2, got {bad!r}"):
            call(images, n_phases=bad)


# ---------------------------------------------------------- autocorrelations
def test_mean_autocorrelation_is_the_mean_of_the_brute_force_maps():
    images = binary_images(3)
    stats = characterise(images, batch_size=2)  # two batches
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
    stats = characterise(images, periodic=False, cutoff=3)
    expected = np.mean([windowed_autocorrelation((image[..., 0] == 0).astype(float), 3) for image in images], axis=0)
    assert stats.mean_maps.shape == (2, 7, 7) and list(stats.radii) == [0, 1, 2, 3]
    np.testing.assert_allclose(stats.mean_maps[0], expected, atol=2e-6)
    np.testing.assert_allclose(summary.autocorrelations(images, periodic=False, cutoff=3)[..., 0].mean(axis=0),
                               expected, atol=2e-6)


def test_volumes_have_3d_maps_and_radial_curves_over_3d_lags():
    volumes = binary_images(2, shape=(6, 6, 6), seed=3)
    stats = characterise(volumes)
    maps = np.stack([periodic_autocorrelation((v[..., 0] == 0).astype(float)) for v in volumes])
    assert stats.mean_maps.shape == (2, 6, 6, 6) and stats.unit == "voxels"
    np.testing.assert_allclose(stats.mean_maps[0], maps.mean(axis=0), atol=2e-6)
    np.testing.assert_allclose(stats.radial_mean[0], shell_means(maps.mean(axis=0), stats.radii), atol=2e-6)


# ---------------------------------------------------------------- radial S2
def test_radial_s2_of_a_checkerboard_is_known():
    # S2 of black: 1/2 at even lags (dy + dx), 0 at odd ones.  Shell 1: four odd lags and the four
    # diagonals (|r| = 1.41, even); shell 2: (0, 2)-type even lags and eight (1, 2)-type odd ones.
    images = np.stack([checkerboard(), 1 - checkerboard()])
    stats = characterise(images)
    np.testing.assert_allclose(stats.radial_mean[0, :3], [0.5, 0.25, 1 / 6], atol=1e-6)
    np.testing.assert_allclose(stats.fraction_mean, [0.5, 0.5])
    low, high = stats.radial_band  # both images have the same statistics: no spread
    np.testing.assert_allclose(low, stats.radial_mean, atol=1e-6)
    np.testing.assert_allclose(high, stats.radial_mean, atol=1e-6)


def test_a_single_phase_image_is_fully_correlated():
    stats = characterise(np.zeros((2, SIDE, SIDE, 1), np.float32))
    np.testing.assert_allclose(stats.volume_fractions, [[1, 0], [1, 0]])
    np.testing.assert_allclose(stats.radial_mean[0], 1.0, atol=1e-6)
    np.testing.assert_allclose(stats.radial_mean[1], 0.0, atol=1e-6)
    assert np.isnan(stats.correlation_lengths).all()
    assert "undefined" in stats.describe()[0]
    summary = stats.summary()["phases"][0]
    assert summary["volume_fraction_mean"] == 1.0 and summary["correlation_length_px"] is None


def test_band_curves_and_batches_agree_with_their_definitions():
    images = binary_images(7, seed=4)
    stats = characterise(images)
    low, high = stats.radial_band
    np.testing.assert_allclose(low, np.percentile(stats.radial, 5, axis=0))
    np.testing.assert_allclose(high, np.percentile(stats.radial, 95, axis=0))
    assert np.all(low <= stats.radial_mean + 1e-12) and np.all(stats.radial_mean <= high + 1e-12)
    radii, profiles = radial_average(stats.mean_maps)  # the mean curve is the curve of the mean map
    np.testing.assert_allclose(stats.radial_mean, profiles[:, :len(stats.radii)], atol=1e-12)
    batched = characterise(iter([images[:3], images[3:]]))
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
    assert summary.correlation_length(radii, profile, fraction**2) == pytest.approx(expected, rel=1e-9)
    assert abs(expected - length) < 0.1
    assert math.isnan(summary.correlation_length(radii[:2], profile[:2], fraction**2))  # never decays enough
    assert math.isnan(summary.correlation_length(radii, np.full(12, 0.09), 0.09))


def test_correlation_lengths_per_axis_of_bands_across_x():
    # black bands 4 px wide, every 8 px along x, the same in every row: along y S2 never decays; along x
    # S2(r) = (4 - r) / 8 for r <= 4, so g(r) = 1 - r / 2 reaches 1/e at r = 2 (1 - 1/e), on a straight line
    row = (np.arange(SIDE) % 8 >= 4).astype(np.float32)
    images = np.broadcast_to(row, (2, SIDE, SIDE))[..., np.newaxis].copy()
    stats = characterise(images)
    lengths = stats.axis_correlation_lengths
    assert lengths.shape == (2, 2) and np.isnan(lengths[:, 0]).all()
    np.testing.assert_allclose(lengths[:, 1], 2 * (1 - math.exp(-1)), rtol=1e-5)
    assert "along each axis beyond 7 / 1.26 px" in stats.describe()[0]
    phase = stats.summary(PixelSize(5, "nm"))["phases"][0]
    assert phase["correlation_length_axes_nm"][0] is None
    assert phase["correlation_length_axes_nm"][1] == pytest.approx(10 * (1 - math.exp(-1)), rel=1e-5)
    assert phase["correlation_length_nm"] == pytest.approx(5 * stats.correlation_lengths[0])
    assert "along each axis beyond 35 / 6.32 nm" in stats.describe(PixelSize(5, "nm"))[0]


@pytest.mark.parametrize("shape", [(SIDE, SIDE), (6, 6, 6)])
def test_correlation_lengths_per_axis_follow_the_rolled_autocorrelation(shape):
    images = binary_images(3, shape=shape, seed=9)
    stats = characterise(images)
    for phase in (0, 1):
        masks = [(image[..., 0] == phase).astype(float) for image in images]
        for axis, side in enumerate(shape):
            lags = np.arange(side - side // 2)
            profile = [np.mean([np.mean(m * np.roll(m, -lag, axis=axis)) for m in masks]) for lag in lags]
            expected = summary.correlation_length(lags, profile, stats.asymptotes[phase])
            assert stats.axis_correlation_lengths[phase, axis] == pytest.approx(expected, rel=1e-5, nan_ok=True)
    record = stats.summary()
    assert "pixel_size" not in record
    assert len(record["phases"][0][f"correlation_length_axes_{stats.unit}"]) == len(shape)


def test_statistics_distance_compares_the_mean_maps():
    data, other = characterise(binary_images(4, seed=5)), characterise(binary_images(3, fraction=0.6, seed=6))
    same = summary.statistics_distance(data, data)
    assert same["stats_mse"] == 0 and same["stats_relative"] == 0 and same["volume_fraction_difference"] == [0, 0]
    distance = summary.statistics_distance(other, data)
    diff = other.mean_maps - data.mean_maps
    assert distance["stats_mse"] == pytest.approx(np.mean(diff**2))
    assert distance["stats_mse_per_phase"][0] == pytest.approx(np.mean(diff[0] ** 2))
    assert distance["stats_relative"] == pytest.approx(np.linalg.norm(diff) / np.linalg.norm(data.mean_maps))
    assert distance["volume_fraction_difference"][0] == pytest.approx(other.fraction_mean[0] - data.fraction_mean[0])
    with pytest.raises(ValueError, match="cannot compare"):
        summary.statistics_distance(characterise(binary_images(1, shape=(8, 8))), data)


def test_bad_images_are_one_line():
    with pytest.raises(ValueError, match="no images"):
        characterise(np.zeros((0, SIDE, SIDE, 1), np.float32))
    with pytest.raises(ValueError, match="one shape"):
        characterise(iter([binary_images(1), binary_images(1, shape=(8, 8))]))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        characterise(np.full((1, SIDE, SIDE, 1), 2.0, np.float32))


def test_the_package_exports_the_summary_lazily():
    import ssvae_tf.stats

    public = {"characterise", "DataStatistics", "StatsOptions", "black_mask", "two_point_stats"}
    assert public <= set(dir(ssvae_tf.stats))
    assert ssvae_tf.stats.characterise is characterise
    code = "import sys, ssvae_tf.stats.phases; print('tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "False", result.stderr


def test_the_mean_statistics_of_a_volume_s_slices_are_its_coordinate_planes():
    from ssvae_tf.stats.summary import volume_slices
    from ssvae_tf.stats.two_point import coordinate_planes

    volumes = (np.random.default_rng(3).random((2, 6, 6, 6, 1)) < 0.4).astype(np.float32)
    options = summary.autocorrelation_options()
    planes = coordinate_planes(options.statistics(volumes), [(-3, 2)] * 3).numpy().mean(axis=0)
    for axis in range(3):
        slices = volume_slices(volumes, (axis,))
        assert slices.shape == (12, 6, 6, 1)
        np.testing.assert_allclose(options.statistics(slices).numpy().mean(axis=0), planes[axis], atol=1e-6)
