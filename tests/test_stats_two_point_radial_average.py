"""``ssvae_tf.stats.two_point.radial_average``: shells of round(|r|) around the centred zero lag, checked by brute
force and analytically."""

import doctest
import itertools
import math

import numpy as np
import pytest

from ssvae_tf.stats.two_point import radial_average


def brute_force(stats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same average, one lag at a time: ``(n, *window)`` -> ``(radii, (n, R))``."""
    shells: dict[int, list[tuple[int, ...]]] = {}
    for index in itertools.product(*[range(side) for side in stats.shape[1:]]):
        lag = [i - side // 2 for i, side in zip(index, stats.shape[1:])]
        shells.setdefault(round(math.sqrt(sum(d * d for d in lag))), []).append(index)
    radii = sorted(shells)
    profile = [[np.mean([one[index] for index in shells[r]]) for r in radii] for one in stats]
    return np.array(radii, dtype=np.float64), np.array(profile)


@pytest.mark.parametrize("shape", [(3, 8, 8), (2, 7, 10), (1, 1, 5), (2, 5, 4, 6)])
def test_matches_a_loop_over_lags(shape):
    stats = np.random.default_rng(0).random(shape)
    radii, profile = radial_average(stats)
    expected_radii, expected_profile = brute_force(stats)
    assert radii.dtype == profile.dtype == np.float64
    assert profile.shape == (shape[0], len(radii))
    np.testing.assert_array_equal(radii, expected_radii)
    np.testing.assert_allclose(profile, expected_profile, rtol=1e-12)


def test_a_constant_map_has_a_constant_profile():
    radii, profile = radial_average(np.full((2, 9, 9, 9), 0.3, np.float32))
    np.testing.assert_array_equal(radii, np.arange(8))  # round(4 * sqrt(3)) = 7
    np.testing.assert_allclose(profile, 0.3)


def test_a_map_of_rounded_lag_lengths_gives_back_the_radii():
    y, x = np.meshgrid(np.arange(64) - 32, np.arange(64) - 32, indexing="ij")
    radii, profile = radial_average(np.rint(np.hypot(y, x))[None])
    np.testing.assert_array_equal(radii, np.arange(round(32 * math.sqrt(2)) + 1))
    np.testing.assert_array_equal(profile[0], radii)


def test_the_zero_lag_is_at_index_side_over_2():
    stats = np.zeros((1, 6, 5))
    stats[0, 3, 2] = 1.0
    radii, profile = radial_average(stats)
    assert radii[0] == 0 and profile[0, 0] == 1 and np.all(profile[0, 1:] == 0)


def test_other_ranks_are_refused():
    with pytest.raises(ValueError, match=r"\(n, \*window\) with 2 or 3 spatial axes"):
        radial_average(np.zeros((8, 8)))


def test_docstring_example():
    runner = doctest.DocTestRunner()
    for test in doctest.DocTestFinder().find(radial_average):
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
