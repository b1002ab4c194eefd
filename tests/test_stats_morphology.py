"""Realism statistics (``ssvae_tf.stats.morphology``): chords and components against hand counts and a
brute-force walk, hard phases through ``black_mask``, and a target's realism against itself and noise."""

import numpy as np
import pytest

from ssvae_tf.stats.morphology import chord_lengths, component_sizes, phase_mask, realism
from ssvae_tf.stats.phases import PHASE_THRESHOLD


def band(side=16, rows=slice(4, 8)) -> np.ndarray:
    """A white ``(side, side, 1)`` image with a black band across ``rows``."""
    image = np.ones((side, side, 1), np.float32)
    image[rows] = 0.0
    return image


def brute_force_chords(mask: np.ndarray) -> list[int]:
    """Chord lengths by walking every line of every axis pixel by pixel."""
    lengths = []
    for axis in range(mask.ndim):
        lines = np.moveaxis(mask, axis, -1).reshape(-1, mask.shape[axis])
        for line in lines:
            run = 0
            for pixel in line:
                if pixel:
                    run += 1
                elif run:
                    lengths.append(run)
                    run = 0
            if run:
                lengths.append(run)
    return lengths


def test_the_phases_split_at_the_phase_threshold():
    images = np.array([[[0.0], [PHASE_THRESHOLD - 1e-3], [PHASE_THRESHOLD], [1.0]]], np.float32)
    assert phase_mask(images, 0).tolist() == [[True, True, False, False]]
    assert phase_mask(images, 1).tolist() == [[False, False, True, True]]
    with pytest.raises(ValueError, match="phase must be 0"):
        phase_mask(images, 2)


def test_chord_lengths_count_runs_along_every_axis():
    image = np.ones((8, 8, 1), np.float32)
    image[2:5] = 0.0  # a black band of rows 2-4
    image[0, 0] = 0.2  # and one grey-black pixel
    black, white = chord_lengths(image[np.newaxis], 0)[0], chord_lengths(image[np.newaxis], 1)[0]
    # vertical: 8 columns hold the band (3), column 0 also the pixel (1); horizontal: 3 rows of 8 and the pixel
    assert sorted(black) == sorted([3] * 8 + [1] + [8] * 3 + [1])
    # white, vertical: rows 1 (column 0) or 0-1, and rows 5-7; horizontal: row 0 without its first pixel, rows 1, 5-7
    assert sorted(white) == sorted([1] + [2] * 7 + [3] * 8 + [7] + [8] * 4)
    volume = np.ones((4, 4, 4, 1), np.float32)
    volume[1:3, 1:3, 1:3] = 0.0  # a 2^3 cube
    assert sorted(chord_lengths(volume[np.newaxis])[0]) == [2] * 12
    assert len(chord_lengths(np.ones((1, 4, 4, 1), np.float32))[0]) == 0


def test_chord_lengths_agree_with_a_brute_force_walk():
    rng = np.random.default_rng(0)
    for shape in ((9, 7), (5, 6, 4)):
        images = rng.uniform(size=(3, *shape, 1)).astype(np.float32)
        for phase in (0, 1):
            for image, lengths in zip(images, chord_lengths(images, phase)):
                assert sorted(lengths) == sorted(brute_force_chords(phase_mask(image[np.newaxis], phase)[0]))


def test_components_are_face_connected():
    image = np.ones((8, 8, 1), np.float32)
    image[0:2, 0:3] = 0.0  # 6 px
    image[2, 3] = 0.0  # touches the first only at a corner: its own component
    image[5:8, 5] = 0.0  # 3 px
    sizes = component_sizes(image[np.newaxis])[0]
    assert sizes.tolist() == [6, 3, 1]
    assert component_sizes(image[np.newaxis], phase=1)[0].tolist() == [64 - 10]


def test_realism_of_the_target_itself_is_perfect_and_noise_is_not():
    target = band()
    same = realism(target, target[np.newaxis])
    for key in ("volume_fraction_error", "chord_distance", "component_count_error", "component_size_error"):
        assert same[key][0] == pytest.approx(0.0, abs=1e-12), key
    assert same["target_components"][0] == 1 and same["volume_fraction"][0] == 0.25
    noise = (np.random.default_rng(0).uniform(size=(2, 16, 16, 1)) < 0.75).astype(np.float32)
    far = realism(target, noise)
    assert np.all(far["chord_distance"] > 1) and np.all(far["components"] > 5)
    assert np.all(far["volume_fraction_error"] < 0.1)  # noise of about the band's black fraction
    with pytest.raises(ValueError, match="one target"):
        realism(target[..., 0], noise)
