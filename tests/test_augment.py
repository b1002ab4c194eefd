"""Random periodic shifts: each image is an exact circular roll of its input,
offsets differ between images and calls, and periodic statistics do not change."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from ssvae_tf.augment import random_periodic_shift
from ssvae_tf.stats.two_point import two_point_stats


def roll_offsets(original: np.ndarray, shifted: np.ndarray) -> list[tuple[int, ...]]:
    """Every offset ``s`` with ``shifted == np.roll(original, -s)`` over the spatial axes (brute force)."""
    spatial = original.shape[:-1]
    axes = tuple(range(len(spatial)))
    return [offset for offset in np.ndindex(*spatial)
            if np.array_equal(np.roll(original, [-s for s in offset], axis=axes), shifted)]


@pytest.mark.parametrize("shape", [(12, 9, 10, 1), (6, 5, 6, 7, 2)])
def test_each_image_is_a_circular_roll_of_its_input(shape):
    images = np.random.default_rng(0).random(shape).astype(np.float32)
    shifted = random_periodic_shift(images, keras.random.SeedGenerator(1)).numpy()
    assert shifted.shape == images.shape and shifted.dtype == images.dtype
    offsets = [roll_offsets(a, b) for a, b in zip(images, shifted)]
    assert all(len(found) == 1 for found in offsets)
    assert len({found[0] for found in offsets}) > 1, "every image got the same offset"


def test_a_seed_generator_draws_new_offsets_each_call_and_is_repeatable():
    images = np.random.default_rng(1).random((8, 16, 16, 1)).astype(np.float32)
    first, second = keras.random.SeedGenerator(4), keras.random.SeedGenerator(4)
    a1, a2 = (random_periodic_shift(images, first).numpy() for _ in range(2))
    b1 = random_periodic_shift(images, second).numpy()
    np.testing.assert_array_equal(a1, b1)
    assert not np.array_equal(a1, a2)


def test_periodic_statistics_are_unchanged():
    images = (np.random.default_rng(2).random((6, 20, 24, 1)) > 0.6).astype(np.float32)
    m = np.concatenate([images, 1.0 - images], axis=-1)
    shifted = random_periodic_shift(m, 3)
    for correlations in (((0, 0),), ((0, 1), (1, 1))):
        before = two_point_stats(m, correlations, periodic=True, cutoff="full").numpy()
        after = two_point_stats(shifted, correlations, periodic=True, cutoff="full").numpy()
        np.testing.assert_allclose(after, before, atol=1e-6)


def test_compiles_under_xla_with_an_unknown_batch():
    generator = keras.random.SeedGenerator(5)
    shift = tf.function(lambda x: random_periodic_shift(x, generator), jit_compile=True,
                        input_signature=[tf.TensorSpec([None, 8, 8, 1], tf.float32)])
    images = np.arange(3 * 64, dtype=np.float32).reshape(3, 8, 8, 1)
    shifted = shift(images).numpy()
    assert all(len(roll_offsets(a, b)) == 1 for a, b in zip(images, shifted))
