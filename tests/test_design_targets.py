"""Design targets (``ssvae_tf.design.targets``): statistics of an image and of scalars against NumPy
definitions, and the one-line errors for targets no design can use."""

import numpy as np
import pytest

from design_helpers import SIDE, band, numpy_autocorrelation, tiny_model
from ssvae_tf.design import design, target_from_image, target_statistics


@pytest.fixture(scope="module")
def model():
    return tiny_model()


def test_target_statistics_of_an_image_are_the_black_phase_autocorrelation():
    image = band()
    image[10, 3] = 0.3  # grey below 0.5 counts as black
    target = target_from_image(image)
    black = (image[..., 0] < 0.5).astype(np.float64)
    np.testing.assert_allclose(target.stats, numpy_autocorrelation(black), atol=1e-7)
    assert target.volume_fraction == pytest.approx(black.mean()) and target.lags.all()
    assert target.image.shape == (SIDE, SIDE, 1)


def test_a_volume_fraction_target_has_that_zero_lag_and_its_square_as_mean():
    fraction = 0.25  # 64 of 256 pixels: the random fields hit it exactly
    alone = target_statistics(fraction, shape=(SIDE, SIDE))
    assert alone.volume_fraction == fraction and alone.lags.sum() == 1 and alone.image is None
    fields = target_statistics(fraction, correlation_length=1.0, shape=(SIDE, SIDE), n_fields=32)
    assert fields.volume_fraction == pytest.approx(fraction, abs=0.5 / SIDE**2) and fields.lags.all()
    # every field holds 64 black pixels, so the mean over all lags is (64 / 256)^2
    assert fields.stats.mean() == pytest.approx(fraction**2, rel=1e-5)
    assert fields.stats.max() == fields.volume_fraction > fields.stats[SIDE // 2, SIDE // 2 + 1] > fields.stats[0, 0]
    volume = target_statistics(0.5, correlation_length=2.0, shape=(8, 8, 8), n_fields=4)
    assert volume.shape == (8, 8, 8) and volume.volume_fraction == pytest.approx(0.5, abs=0.5 / 8**3)


@pytest.mark.parametrize("target, message", [
    (band((32, 32)), "32x32 px image but the model takes 16x16 px images"),
    (band((SIDE, SIDE, SIDE)), "16x16x16 voxel volume but the model takes 16x16 px images"),
    (np.full((SIDE, SIDE, 1), np.nan, np.float32), "NaN"),
    (band() * 2.0, r"values in \[0, 2\]; expected values in \[0, 1\]"),
    (np.zeros((2, SIDE, SIDE, 1), np.float32), r"has shape \(2, 16, 16, 1\); expected one image"),
])
def test_a_bad_target_is_one_line(model, target, message):
    with pytest.raises(ValueError, match=message) as error:
        design(model, target, "latent", n=1, steps=1)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("arguments, message", [
    (dict(volume_fraction=0.0), r"volume_fraction must be a number in \(0, 1\).*got 0.0"),
    (dict(volume_fraction=1.0), r"in \(0, 1\).*got 1.0"),
    (dict(volume_fraction=0.3, correlation_length=-1.0), "correlation_length must be a finite number > 0"),
])
def test_unreachable_scalar_targets_are_one_line(arguments, message):
    with pytest.raises(ValueError, match=message):
        target_statistics(**arguments, shape=(SIDE, SIDE))


def test_slice_targets_are_centred_binary_crops_one_per_plane():
    from ssvae_tf.design import target_from_slices

    image = np.linspace(0.0, 1.0, 12 * 10, dtype=np.float32).reshape(12, 10)  # grey: black below 0.5
    isotropic = target_from_slices([image])
    crop = image[1:11]  # the centred 10 x 10 square of 12 x 10: one row off the top
    expected = (crop >= 0.5).astype(np.float32)
    assert isotropic.shape == (10, 10, 10) and isotropic.isotropic
    for plane in isotropic.slices:
        np.testing.assert_array_equal(plane[..., 0], expected)
    assert isotropic.volume_fraction == pytest.approx((crop < 0.5).mean())
    three = target_from_slices([image, 1 - image, image.T], side=6)
    assert three.shape == (6, 6, 6) and not three.isotropic
    np.testing.assert_array_equal(three.slices[1, ..., 0], (1 - image[3:9, 2:8] >= 0.5))
    np.testing.assert_array_equal(three.slices[2, ..., 0], (image.T[2:8, 3:9] >= 0.5))
    assert three.plane_fractions.shape == (3,) and "a micrograph per plane" in three.description


@pytest.mark.parametrize("micrographs, side, message", [
    ([band()] * 2, None, "one micrograph .* or three .* got 2"),
    ([band((8, 8, 8))], None, "expected a 2-D micrograph"),
    ([band()], SIDE + 1, f"side must be an integer from 4 to {SIDE}"),
    ([band()], 3, "side must be an integer from 4"),
])
def test_slice_targets_refuse_what_makes_no_volume(micrographs, side, message):
    from ssvae_tf.design import target_from_slices

    with pytest.raises(ValueError, match=message) as error:
        target_from_slices(micrographs, side)
    assert "\n" not in str(error.value)
