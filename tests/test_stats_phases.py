import doctest

import numpy as np

from ssvae_tf.stats import phases
from ssvae_tf.stats.phases import PAPER_BLACK_LEVEL, PHASE_THRESHOLD, black_mask


def test_the_examples_hold():
    assert doctest.testmod(phases).failed == 0


def test_black_mask_agrees_with_a_pixel_loop_at_both_levels():
    images = np.random.default_rng(0).random((3, 5, 4, 1)).astype(np.float32)
    images[0, 0, 0, 0] = PHASE_THRESHOLD  # on the threshold: white
    for level in (PHASE_THRESHOLD, PAPER_BLACK_LEVEL):
        expected = np.zeros(images.shape[:-1], bool)
        for index in np.ndindex(*images.shape[:-1]):
            expected[index] = images[index][0] < level
        assert np.array_equal(black_mask(images, level), expected)
    assert not black_mask(images)[0, 0, 0]
