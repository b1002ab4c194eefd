"""The coordinate planes of 3-D statistics against the mean 2-D statistics of the slices, by a brute-force
loop (the in-plane identity issue 23's training from slices rests on), and the slice distance against its
definition."""

import numpy as np
import pytest
import tensorflow as tf

from ssvae_tf.stats.two_point import StatsOptions, coordinate_planes, two_point_stats
from test_stats_two_point import brute_force_stats, numpy_indicators

RNG = np.random.default_rng(23)


def mean_slice_stats(volume: np.ndarray, normal_axis: int, cutoff) -> np.ndarray:
    """Mean over the slices normal to ``normal_axis`` of their periodic 2-D statistics, by the brute-force
    loop: ``(window, window, 1)``; ``volume`` ``(N, N, N, 1)``."""
    slices = np.moveaxis(volume, normal_axis, 0)  # (N, rest..., 1), the other axes in their order
    return brute_force_stats(slices, [(0, 0)], periodic=True, cutoff=cutoff).mean(axis=0)


@pytest.mark.parametrize("side, cutoff", [(6, "full"), (7, "full"), (8, 2)])
def test_coordinate_planes_are_the_mean_statistics_of_the_slices(side, cutoff):
    volume = (RNG.random((1, side, side, side, 1)) < 0.4).astype(np.float32)
    stats = two_point_stats(volume, [(0, 0)], periodic=True, cutoff=cutoff)
    lag_ranges = ([(-(side // 2), (side - 1) // 2)] if cutoff == "full" else [(-cutoff, cutoff)]) * 3
    planes = coordinate_planes(stats, lag_ranges).numpy()
    assert planes.shape == (1, 3, *stats.shape[2:])
    for axis in range(3):
        np.testing.assert_allclose(planes[0, axis], mean_slice_stats(volume[0], axis, cutoff), atol=1e-6)


def test_plane_statistics_of_a_volume_of_stacked_slices_equal_the_slice_statistics():
    """A volume whose every z-slice is the same image: its in-plane (z-normal) lags are that image's
    statistics, and its other planes are the mean over the image's columns or rows."""
    image = (RNG.random((8, 8, 1)) < 0.5).astype(np.float32)
    volume = np.repeat(image[np.newaxis], 8, axis=0)[np.newaxis]
    options = StatsOptions(kind="hard")
    planes = options.plane_statistics(volume).numpy()
    np.testing.assert_allclose(planes[0, 0], options.statistics(image[np.newaxis])[0].numpy(), atol=1e-6)
    black = numpy_indicators(volume, 2, "hard")[0, ..., :1]
    for axis in (1, 2):
        np.testing.assert_allclose(planes[0, axis], mean_slice_stats(black, axis, "full"), atol=1e-6)


def numpy_slice_distance(slices: np.ndarray, volumes: np.ndarray, metric: str, eps: float = 0.25,
                         window: tuple[float, float] | None = None, shrink: float = 1.0) -> np.ndarray:
    """The mean over the three planes of the metric between each crop's and the volume's plane statistics
    (soft indicator of phase 0, every periodic lag; the difference at lag r times ``floor + (1 - floor)
    exp(-|r|^2 / (2 sigma^2))`` with ``window = (sigma, floor)``; each crop's statistics moved to
    ``mean + shrink (crop - mean)``, the mean over the batch's crops), by the brute-force loop: ``(batch,)``."""
    crops = slices if slices.ndim == 5 else np.repeat(slices[:, np.newaxis], 3, axis=1)
    side = volumes.shape[1]
    lags = np.arange(-(side // 2), (side + 1) // 2)
    weight = np.ones((side, side, 1))
    if window is not None:
        sigma, floor = window
        weight = (floor + (1 - floor) * np.exp(-np.add.outer(lags**2, lags**2) / (2 * sigma**2)))[..., np.newaxis]
    targets = np.array([[brute_force_stats(numpy_indicators(crop3[axis][np.newaxis], 2, "soft", eps), [(0, 0)],
                                           True, "full")[0] for axis in range(3)] for crop3 in crops])
    targets = targets.mean(axis=0) + shrink * (targets - targets.mean(axis=0))
    result = []
    for target3, volume in zip(targets, volumes):
        m_volume = numpy_indicators(volume[np.newaxis], 2, "soft", eps)[0]
        per_plane = []
        for axis in range(3):
            plane = mean_slice_stats(m_volume, axis, "full")
            sse = np.sum(((plane[..., :1] - target3[axis]) * weight) ** 2)
            per_plane.append(sse)
        sse = np.mean(per_plane)
        result.append({"sse": sse, "mse": sse / plane[..., 0].size, "l2": np.sqrt(sse)}[metric])
    return np.array(result)


@pytest.mark.parametrize("metric", ["sse", "mse", "l2"])
@pytest.mark.parametrize("per_plane", [False, True])
def test_slice_distance_matches_its_definition(metric, per_plane):
    volumes = RNG.random((2, 6, 6, 6, 1)).astype(np.float32)
    slices = RNG.random((2, 3, 6, 6, 1) if per_plane else (2, 6, 6, 1)).astype(np.float32)
    distance = StatsOptions(metric=metric).slice_distance(slices, volumes).numpy()
    np.testing.assert_allclose(distance, numpy_slice_distance(slices, volumes, metric), rtol=1e-4)


def test_slice_distance_with_a_floored_window_matches_its_definition():
    volumes = RNG.random((2, 6, 6, 6, 1)).astype(np.float32)
    slices = RNG.random((2, 6, 6, 1)).astype(np.float32)
    distance = StatsOptions(window_sigma=1.5, window_floor=0.25).slice_distance(slices, volumes).numpy()
    np.testing.assert_allclose(distance, numpy_slice_distance(slices, volumes, "sse", window=(1.5, 0.25)),
                               rtol=1e-4)


@pytest.mark.parametrize("per_plane", [False, True])
def test_slice_distance_with_shrunk_targets_matches_its_definition(per_plane):
    volumes = RNG.random((3, 6, 6, 6, 1)).astype(np.float32)
    slices = RNG.random((3, 3, 6, 6, 1) if per_plane else (3, 6, 6, 1)).astype(np.float32)
    distance = StatsOptions(target_shrink=0.3).slice_distance(slices, volumes).numpy()
    np.testing.assert_allclose(distance, numpy_slice_distance(slices, volumes, "sse", shrink=0.3), rtol=1e-4)
    assert not np.allclose(distance, numpy_slice_distance(slices, volumes, "sse"), rtol=1e-2)


def test_target_shrink_must_be_in_zero_to_one():
    for bad in (0.0, 1.5, -0.2):
        with pytest.raises(ValueError, match="target_shrink must be"):
            StatsOptions(target_shrink=bad)
    assert StatsOptions.from_json(StatsOptions(target_shrink=0.4).to_json()).target_shrink == 0.4


def test_slice_distance_is_zero_for_a_volume_of_the_slice_and_its_gradient_reaches_the_volume():
    image = np.zeros((8, 8, 1), np.float32)
    image[2:4] = 1.0  # an isotropic target needs an isotropic volume; a stack of one image is not
    volume = tf.Variable(np.repeat(image[np.newaxis], 8, axis=0)[np.newaxis])
    options = StatsOptions(kind="hard")
    planes = options.plane_statistics(volume)
    assert float(tf.reduce_sum(tf.abs(planes[0, 0] - options.statistics(image[np.newaxis])[0]))) < 1e-6
    soft = StatsOptions()
    with tf.GradientTape() as tape:
        distance = soft.slice_distance(image[np.newaxis], volume)
    gradient = tape.gradient(distance, volume)
    assert float(distance[0]) > 0 and np.all(np.isfinite(gradient.numpy())) and np.any(gradient.numpy() != 0)


def test_slice_distance_under_xla_with_an_annealed_width():
    options = StatsOptions()
    slices, volumes = RNG.random((2, 8, 8, 1)).astype(np.float32), RNG.random((2, 8, 8, 8, 1)).astype(np.float32)

    @tf.function(jit_compile=True, input_signature=[tf.TensorSpec([None, 8, 8, 1]), tf.TensorSpec([None, 8, 8, 8, 1]),
                                                    tf.TensorSpec([])])
    def compiled(s, v, eps):
        return options.slice_distance(s, v, eps=eps)

    np.testing.assert_allclose(compiled(slices, volumes, tf.constant(0.5)).numpy(),
                               options.replace(eps=0.5).slice_distance(slices, volumes).numpy(), rtol=1e-4)


@pytest.mark.parametrize("slices_shape, volumes_shape, message", [
    ((1, 8, 8, 1), (1, 8, 8, 6, 1), "cubes"),
    ((1, 6, 6, 1), (1, 8, 8, 8, 1), "different sides"),
])
def test_slice_distance_refuses_shapes_that_do_not_pair(slices_shape, volumes_shape, message):
    with pytest.raises(ValueError, match=message):
        StatsOptions().slice_distance(np.zeros(slices_shape, np.float32), np.zeros(volumes_shape, np.float32))


def test_slice_distance_refuses_several_levels():
    with pytest.raises(ValueError, match="levels=1"):
        StatsOptions(levels=2).slice_distance(np.zeros((1, 8, 8, 1), np.float32), np.zeros((1, 8, 8, 8, 1), np.float32))


# --------------------------------------------------------------------------- #
# The isotropy term: the lags in no plane against the micrographs' radial profile
# --------------------------------------------------------------------------- #
def numpy_off_plane_sse(slices: np.ndarray, volumes: np.ndarray, eps: float = 0.25) -> np.ndarray:
    """For each volume, the mean over its lags in no coordinate plane with ``|r| <= N // 2 - 1`` (an even
    side N: the window holds that radius in every direction) of the squared difference between its 3-D
    statistic there and the crop's radial profile (the mean of its 2-D statistics over the lags of each
    ``round(|r|)``) interpolated linearly at ``|r|``, times ``N^2``; by loops: ``(batch,)``."""
    side = volumes.shape[1]
    radius_max = side // 2 - 1
    lags = range(-(side // 2), (side + 1) // 2)
    result = []
    for crop, volume in zip(slices, volumes):
        m_volume = numpy_indicators(volume[np.newaxis], 2, "soft", eps)[..., :1]
        m_crop = numpy_indicators(crop[np.newaxis], 2, "soft", eps)[..., :1]
        stats3 = brute_force_stats(m_volume, [(0, 0)], True, "full")[0, ..., 0]
        stats2 = brute_force_stats(m_crop, [(0, 0)], True, "full")[0, ..., 0]
        shells = {}
        for i, dy in enumerate(lags):
            for j, dx in enumerate(lags):
                shells.setdefault(round(np.hypot(dy, dx)), []).append(stats2[i, j])
        profile = [np.mean(shells[k]) for k in range(radius_max + 1)]
        squares = []
        for i, dz in enumerate(lags):
            for j, dy in enumerate(lags):
                for k, dx in enumerate(lags):
                    radius = np.sqrt(dz * dz + dy * dy + dx * dx)
                    if dz and dy and dx and radius <= radius_max:
                        squares.append((stats3[i, j, k] - np.interp(radius, range(radius_max + 1), profile)) ** 2)
        result.append(np.mean(squares) * side**2)
    return np.array(result)


def test_the_isotropy_term_matches_its_definition():
    volumes = RNG.random((2, 8, 8, 8, 1)).astype(np.float32)
    slices = RNG.random((2, 8, 8, 1)).astype(np.float32)
    plain = StatsOptions().slice_distance(slices, volumes).numpy()
    weighted = StatsOptions(isotropy=0.5).slice_distance(slices, volumes).numpy()
    np.testing.assert_allclose(weighted - plain, 0.5 * numpy_off_plane_sse(slices, volumes), rtol=1e-3)


def test_the_isotropy_term_takes_the_mean_profile_of_one_crop_per_plane():
    volumes = RNG.random((1, 8, 8, 8, 1)).astype(np.float32)
    crop = RNG.random((1, 8, 8, 1)).astype(np.float32)
    three = np.repeat(crop[:, np.newaxis], 3, axis=1)
    options = StatsOptions(isotropy=1.0)
    np.testing.assert_allclose(options.slice_distance(three, volumes).numpy(),
                               options.slice_distance(crop, volumes).numpy(), rtol=1e-5)


def test_a_uniform_volume_and_crop_are_isotropic_and_its_gradient_is_finite():
    """All black: every statistic is 1, in the planes and off them, so the distance is 0; a random volume's
    isotropy term has a finite, non-zero gradient."""
    options = StatsOptions(kind="hard", isotropy=2.0)
    black = np.zeros((1, 8, 8, 8, 1), np.float32)
    assert abs(float(options.slice_distance(black[:, 0], black)[0])) < 1e-10
    volume = tf.Variable(RNG.random((1, 8, 8, 8, 1)).astype(np.float32))
    with tf.GradientTape() as tape:
        extra = StatsOptions(isotropy=1.0).slice_distance(black[:, 0], volume) - StatsOptions().slice_distance(
            black[:, 0], volume)
    gradient = tape.gradient(extra, volume).numpy()
    assert float(extra[0]) > 0 and np.all(np.isfinite(gradient)) and np.any(gradient != 0)


def test_the_isotropy_term_under_xla_matches_eager():
    options = StatsOptions(isotropy=1.0, window_sigma=3.0)
    slices, volumes = RNG.random((2, 8, 8, 1)).astype(np.float32), RNG.random((2, 8, 8, 8, 1)).astype(np.float32)
    compiled = tf.function(options.slice_distance, jit_compile=True)
    np.testing.assert_allclose(compiled(slices, volumes).numpy(), options.slice_distance(slices, volumes).numpy(),
                               rtol=1e-4)


def test_the_isotropy_term_refuses_a_bad_weight_and_volumes_with_no_such_lag():
    with pytest.raises(ValueError, match="isotropy must be a finite number >= 0"):
        StatsOptions(isotropy=-1.0)
    with pytest.raises(ValueError, match="at least 6"):
        StatsOptions(isotropy=1.0).slice_distance(np.zeros((1, 4, 4, 1), np.float32), np.zeros((1, 4, 4, 4, 1), np.float32))


# Symmetrised targets: one crop's statistics averaged over the square's 8 rotations and reflections


def test_symmetric_targets_are_the_mean_statistics_of_the_crops_eight_rotations_and_reflections():
    crops = (RNG.random((2, 8, 8, 1)) < 0.4).astype(np.float32)
    got = StatsOptions(kind="hard", symmetric_targets=True).slice_statistics(crops).numpy()
    assert got.shape == (2, 1, 8, 8, 1)
    for crop, stats in zip(crops, got[:, 0]):
        views = [np.rot90(crop, k) for k in range(4)]
        views += [np.swapaxes(view, 0, 1) for view in views]
        expected = np.mean([brute_force_stats(numpy_indicators(view[np.newaxis], 2, "hard"), [(0, 0)], True,
                                              "full")[0] for view in views], axis=0)
        np.testing.assert_allclose(stats, expected, atol=1e-6)


def test_symmetric_targets_do_not_change_with_a_turn_or_a_reflection_of_the_crop():
    crop = (RNG.random((1, 8, 8, 1)) < 0.4).astype(np.float32)
    options = StatsOptions(symmetric_targets=True)
    stats = options.slice_statistics(crop).numpy()
    for view in (np.rot90(crop, 1, axes=(1, 2)), np.flip(crop, axis=2), np.swapaxes(crop, 1, 2)):
        np.testing.assert_allclose(options.slice_statistics(np.ascontiguousarray(view)).numpy(), stats, atol=1e-6)
    plain = StatsOptions().slice_statistics(crop).numpy()
    assert not np.allclose(plain, stats)  # a random crop is not symmetric by itself
    three = np.repeat(crop[:, np.newaxis], 3, axis=1)  # a crop per plane (an anisotropic material) is kept
    np.testing.assert_allclose(options.slice_statistics(three).numpy(), np.repeat(plain, 3, axis=1), atol=1e-6)
