"""Tests of the thresholded Gaussian random fields (ssvae_tf.data.random_fields)."""

import numpy as np
import pytest

from ssvae_tf.data import generate_random_fields


def _mean_autocorrelation(images):
    """Mean periodic autocorrelation of the centred indicator, normalised to 1 at zero lag.

    images: (n, *spatial, 1) -> (*spatial,)
    """
    x = images[..., 0] - images.mean(axis=tuple(range(1, images.ndim)), keepdims=True)[..., 0]
    axes = tuple(range(1, x.ndim))
    power = np.abs(np.fft.fftn(x, axes=axes)) ** 2
    ac = np.fft.ifftn(power, axes=axes).real.mean(axis=0)
    return ac / ac.flat[0]


def test_shape_dtype_values_and_volume_fraction():
    result = generate_random_fields(10, (32, 40), volume_fraction=0.3, seed=0, progress=False)
    assert len(result) == 10
    assert result.images.shape == (10, 32, 40, 1) and result.images.dtype == np.float32
    assert set(np.unique(result.images)) == {0.0, 1.0}
    measured = result.images.mean(axis=(1, 2, 3))
    np.testing.assert_allclose(result.volume_fraction, measured, atol=1e-6)
    assert np.all(np.abs(measured - 0.3) <= 1 / (32 * 40))
    assert result.correlation_length.dtype == np.float32
    np.testing.assert_array_equal(result.correlation_length, [4.0, 4.0])


def test_volume_fraction_range_draws_per_image():
    result = generate_random_fields(20, (16, 16), volume_fraction=(0.2, 0.6), seed=1, progress=False)
    tolerance = 1 / 256
    assert result.volume_fraction.min() >= 0.2 - tolerance
    assert result.volume_fraction.max() <= 0.6 + tolerance
    assert len(set(result.volume_fraction)) > 5


def test_anisotropic_correlation_length_decays_slower_along_long_axis():
    result = generate_random_fields(8, (64, 64), correlation_length=(8, 2), seed=2, progress=False)
    ac = _mean_autocorrelation(result.images)
    lags = np.arange(1, 7)
    assert np.all(ac[lags, 0] > ac[0, lags])
    np.testing.assert_array_equal(result.correlation_length, [8.0, 2.0])


def test_longer_correlation_length_decays_slower():
    short = generate_random_fields(8, (64, 64), correlation_length=1.0, seed=3, progress=False)
    long = generate_random_fields(8, (64, 64), correlation_length=6.0, seed=3, progress=False)
    assert _mean_autocorrelation(long.images)[3, 0] > _mean_autocorrelation(short.images)[3, 0] + 0.2


def test_fields_are_periodic():
    """Wrapping across the edge is as correlated as any interior step."""
    images = generate_random_fields(16, (32, 32), correlation_length=4.0, seed=4, progress=False).images
    first, last = images[:, 0], images[:, -1]
    interior = images[:, 15], images[:, 16]
    agree_edge = (first == last).mean()
    agree_interior = (interior[0] == interior[1]).mean()
    assert abs(agree_edge - agree_interior) < 0.05


def test_three_dimensional_fields():
    result = generate_random_fields(
        3, (16, 16, 12), volume_fraction=0.4, correlation_length=(4, 1, 1), seed=5, progress=False
    )
    assert result.images.shape == (3, 16, 16, 12, 1)
    assert np.all(np.abs(result.volume_fraction - 0.4) <= 1 / (16 * 16 * 12))
    ac = _mean_autocorrelation(result.images)
    assert ac[2, 0, 0] > ac[0, 0, 2]


def test_seeded_reproducibility():
    a = generate_random_fields(4, (16, 16), seed=7, progress=False)
    b = generate_random_fields(4, (16, 16), seed=7, progress=False)
    c = generate_random_fields(4, (16, 16), seed=8, progress=False)
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.array_equal(a.images, c.images)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(n=0), "n must be"),
        (dict(shape=(64,)), "shape"),
        (dict(shape=(3, 64)), "shape"),
        (dict(shape=(8, 8, 8, 8)), "shape"),
        (dict(volume_fraction=0.0), "volume_fraction"),
        (dict(volume_fraction=1.0), "volume_fraction"),
        (dict(volume_fraction=(0.5, 0.2)), "volume_fraction"),
        (dict(correlation_length=0.0), "correlation_length"),
        (dict(correlation_length=(1.0, -2.0)), "correlation_length"),
        (dict(correlation_length=(1.0, 2.0, 3.0)), "one per"),
        (dict(correlation_length=float("inf")), "finite number > 0"),
        (dict(correlation_length=(1.0, float("nan"))), "finite numbers > 0"),
    ],
)
def test_invalid_arguments(kwargs, message):
    kwargs = {"n": 2, **kwargs}
    with pytest.raises(ValueError, match=message):
        generate_random_fields(progress=False, **kwargs)
