"""Prior samples against real volumes (``ssvae_tf.evaluation.real_volumes``): the 3-D statistics error
and its real-vs-real yardstick against a NumPy definition, crops that are sub-blocks of the volumes,
reading as a run read its data, and the one-line refusals."""

import numpy as np
import pytest

from ssvae_tf.data.sources import ReadOptions
from ssvae_tf.evaluation.real_volumes import (
    RealSets,
    compare_samples,
    random_crops,
    read_volumes,
    real_crop_sets,
    volume_shape,
)

SHAPE = (16, 16, 16)


def _volumes(n: int, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((n, *SHAPE, 1)) < 0.4).astype(np.float32)


def _numpy_mean_autocorrelation(volumes: np.ndarray) -> np.ndarray:
    """Mean over the volumes of mean_x m(x) m(x + r), m the black (< 0.5) indicator, every periodic lag."""
    masks = (volumes[..., 0] < 0.5).astype(np.float64)
    spectra = np.fft.fftn(masks, axes=(1, 2, 3))
    return (np.fft.ifftn(spectra * np.conj(spectra), axes=(1, 2, 3)).real / np.prod(SHAPE)).mean(axis=0)


def test_random_crops_are_seeded_sub_blocks_of_the_volumes():
    volumes = np.random.default_rng(0).random((2, 18, 17, 20, 1)).astype(np.float32)
    crops = random_crops(volumes, SHAPE, 4, seed=3)
    assert crops.shape == (4, *SHAPE, 1)
    np.testing.assert_array_equal(crops, random_crops(volumes, SHAPE, 4, seed=3))
    for crop in crops:  # found at some corner of some volume
        assert any(np.array_equal(crop, v[z:z + 16, y:y + 16, x:x + 16]) for v in volumes
                   for z in range(3) for y in range(2) for x in range(5))
    sets = real_crop_sets(volumes, SHAPE, 2, seed=3)
    np.testing.assert_array_equal(np.stack([sets.real[0], sets.reference[0], sets.real[1], sets.reference[1]]), crops)


def test_the_yardstick_is_the_mean_error_over_disjoint_pairs_of_real_sets():
    volumes = (np.random.default_rng(1).random((2, 20, 20, 20, 1)) < 0.4).astype(np.float32)
    n, pairs = 3, 4
    sets = real_crop_sets(volumes, SHAPE, n, seed=5, pairs=pairs)
    crops = random_crops(volumes, SHAPE, 2 * n * pairs, seed=5)  # the same draws, cut at once
    real_sets = [crops[2 * n * k:2 * n * (k + 1)][0::2] for k in range(pairs)]
    reference_sets = [crops[2 * n * k:2 * n * (k + 1)][1::2] for k in range(pairs)]
    errors = [np.mean((_numpy_mean_autocorrelation(a) - _numpy_mean_autocorrelation(b)) ** 2)
              for a, b in zip(real_sets, reference_sets)]
    assert sets.spread == pytest.approx(np.mean(errors), rel=1e-4)
    np.testing.assert_array_equal(sets.real, real_sets[0])
    np.testing.assert_array_equal(sets.reference, reference_sets[0])
    generated = _volumes(n, seed=7)
    expected = np.mean([np.mean((_numpy_mean_autocorrelation(generated) - _numpy_mean_autocorrelation(real)) ** 2)
                        for real in real_sets])
    assert sets.statistics_error(generated) == pytest.approx(expected, rel=1e-4)


def test_real_crops_score_about_one_against_the_yardstick():
    """A generator that draws real crops is as far from the real sets as they are from each other: over
    fresh sets its ratio scatters around 1 (one pair's yardstick is a noisy draw, which this averages away)."""
    volumes = (np.random.default_rng(2).random((1, 40, 40, 40, 1)) < 0.4).astype(np.float32)
    sets = real_crop_sets(volumes, SHAPE, 8, seed=0)
    ratios = [sets.statistics_error(random_crops(volumes, SHAPE, 8, seed=100 + k)) / sets.spread
              for k in range(8)]
    assert 0.5 < np.mean(ratios) < 2.0


def test_real_crop_sets_refuse_no_pairs():
    with pytest.raises(ValueError, match="pairs must be at least 1, got 0"):
        real_crop_sets(_volumes(1), SHAPE, 1, seed=0, pairs=0)


def test_random_crops_refuse_volumes_smaller_than_the_crop():
    with pytest.raises(ValueError, match=r"\(8, 20, 20\) voxels.*\(16, 16, 16\)"):
        random_crops(np.zeros((1, 8, 20, 20, 1), np.float32), SHAPE, 1, seed=0)


@pytest.mark.parametrize("stacked", [False, True])
def test_read_volumes_reads_one_or_several_volumes_with_the_runs_threshold(tmp_path, stacked):
    grey = np.random.default_rng(0).random((2, 6, 5, 4)).astype(np.float32)
    np.save(tmp_path / "v.npy", grey if stacked else grey[0])
    volumes = read_volumes(tmp_path / "v.npy", ReadOptions(threshold=0.3))
    expected = (grey if stacked else grey[:1]) > 0.3
    np.testing.assert_array_equal(volumes, expected[..., np.newaxis].astype(np.float32))


def test_read_volumes_refuses_other_shapes_in_one_line(tmp_path):
    np.save(tmp_path / "image.npy", np.zeros((5, 5), np.float32))
    with pytest.raises(ValueError, match=r"shape \(5, 5\); expected one \(D, H, W\)"):
        read_volumes(tmp_path / "image.npy", ReadOptions())


class _FixedSampler:
    """A stand-in model whose prior samples are given volumes."""

    def __init__(self, volumes, decoded_shape=(*SHAPE, 1)):
        self.volumes, self.decoded_shape = volumes, decoded_shape

    def sample(self, n, seed=None, prior="fitted"):
        return self.volumes[:n]


def test_samples_that_are_the_real_crops_match_them():
    real, reference = _volumes(3), _volumes(3, seed=1)
    zero_lag_centred = np.fft.fftshift(_numpy_mean_autocorrelation(real))  # line_statistics' layout
    spread = np.mean((_numpy_mean_autocorrelation(reference) - _numpy_mean_autocorrelation(real)) ** 2)
    sets = RealSets(real, reference, zero_lag_centred[np.newaxis], spread)
    comparison = compare_samples(_FixedSampler(real), sets)
    assert comparison.statistics_error == pytest.approx(0.0, abs=1e-12)
    assert comparison.real_statistics_error == sets.spread
    assert comparison.realism["volume_fraction"]["model_vs_real"] == 0.0
    record = comparison.record()
    assert record["n"] == 3 and record["shape"] == list(SHAPE)
    assert record["statistics_ratio"] == pytest.approx(0.0, abs=1e-6)


def test_volume_shape_refuses_a_model_of_images():
    assert volume_shape(_FixedSampler(None)) == SHAPE
    with pytest.raises(ValueError, match=r"draws \(16, 16\) images; expected a model from slices"):
        volume_shape(_FixedSampler(None, decoded_shape=(16, 16, 1)))
