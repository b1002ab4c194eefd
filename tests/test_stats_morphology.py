"""Realism statistics (``ssvae_tf.stats.morphology``) against independent definitions: hand counts,
brute-force loops over tiny images (chords, perimeters, the two-point cluster function by a flood fill),
the autocorrelation identity of the perimeter, scikit-image's Euler number, analytic diffusion cases,
and porespy where its definition is the same (chord lengths, percolating porosity, phase fraction)."""

import numpy as np
import pytest

from ssvae_tf.stats.morphology import (
    BINARY_HIGH,
    BINARY_LOW,
    binary_share,
    chord_length_histograms,
    chord_lengths,
    component_count,
    component_sizes,
    descriptors,
    effective_diffusivity,
    euler_number,
    fidelity,
    format_realism_table,
    histogram_distance,
    pearson,
    percolating_fraction,
    perimeter_anisotropy,
    phase_mask,
    realism,
    realism_table,
    specific_perimeter,
    tortuosity_factor,
    two_point_cluster_function,
    volume_fraction,
)
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


# ------------------------------------------------------------------ brute-force references
def random_images(shape, seed=0, black=0.5) -> np.ndarray:
    """Seeded binary images ``(n, *spatial, 1)``: black (0) with probability ``black``."""
    rng = np.random.default_rng(seed)
    return (rng.random((*shape, 1)) >= black).astype(np.float32)


def flood_labels(mask: np.ndarray) -> np.ndarray:
    """Face-connected cluster labels of a boolean 2-D mask by an explicit stack-based flood fill."""
    labels = np.zeros(mask.shape, int)
    current = 0
    for start in zip(*np.nonzero(mask)):
        if labels[start]:
            continue
        current += 1
        stack = [start]
        labels[start] = current
        while stack:
            i, j = stack.pop()
            for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                y, x = i + di, j + dj
                if 0 <= y < mask.shape[0] and 0 <= x < mask.shape[1] and mask[y, x] and not labels[y, x]:
                    labels[y, x] = current
                    stack.append((y, x))
    return labels


def test_volume_fraction_and_binary_share_count_pixels():
    images = np.array([[[[0.0], [0.04], [BINARY_LOW], [0.49]], [[0.5], [BINARY_HIGH], [0.96], [1.0]]]], np.float32)
    assert volume_fraction(images, 0).tolist() == [0.5]  # 0, 0.04, 0.05, 0.49 are black
    assert volume_fraction(images, 1).tolist() == [0.5]
    assert binary_share(images).tolist() == [4 / 8]  # 0, 0.04, 0.96, 1; 0.05 and 0.95 are not plainly binary
    volumes = random_images((3, 4, 5, 6), seed=1)
    np.testing.assert_allclose(volume_fraction(volumes, 0) + volume_fraction(volumes, 1), 1.0)
    np.testing.assert_allclose(volume_fraction(volumes, 0), [(v < 0.5).sum() / v.size for v in volumes])


def test_specific_perimeter_counts_neighbour_changes_like_a_loop():
    for shape in ((2, 5, 7), (2, 4, 5, 3)):
        images = random_images(shape, seed=2)
        expected = np.zeros((shape[0], len(shape) - 1))
        for i, image in enumerate(images[..., 0] < 0.5):
            for index in np.ndindex(image.shape):
                for axis in range(image.ndim):
                    neighbour = list(index)
                    neighbour[axis] += 1
                    if neighbour[axis] < image.shape[axis] and image[index] != image[tuple(neighbour)]:
                        expected[i, axis] += 1
        np.testing.assert_allclose(specific_perimeter(images), expected / np.prod(shape[1:]))


def test_periodic_perimeter_is_twice_the_autocorrelation_drop_at_one_lag():
    for shape in ((3, 8, 11), (2, 5, 6, 7)):
        images = random_images(shape, seed=3, black=0.3)
        perimeter = specific_perimeter(images, periodic=True)
        for phase in (0, 1):
            m = phase_mask(images, phase).astype(np.float64)
            spectrum = np.fft.fftn(m, axes=tuple(range(1, m.ndim)))
            f = np.real(np.fft.ifftn(spectrum * np.conj(spectrum), axes=tuple(range(1, m.ndim)))) / np.prod(shape[1:])
            for axis in range(len(shape) - 1):
                lag = [0] * (len(shape) - 1)
                lag[axis] = 1
                drop = f[(slice(None), *[0] * len(lag))] - f[(slice(None), *lag)]
                np.testing.assert_allclose(perimeter[:, axis], 2 * drop, atol=1e-12)


def test_anisotropy_is_the_first_axis_share_of_the_perimeter():
    bands = band()[np.newaxis]  # horizontal black band: changes only along axis 0
    checker = (np.indices((8, 8)).sum(axis=0) % 2).astype(np.float32)[np.newaxis, ..., np.newaxis]
    blank = np.ones((1, 8, 8, 1), np.float32)
    anisotropy = perimeter_anisotropy(specific_perimeter(np.concatenate([bands[:, :8, :8], checker, blank])))
    assert anisotropy[0] == 1.0 and anisotropy[1] == 0.5 and np.isnan(anisotropy[2])


def test_chord_histograms_bin_the_brute_force_chords_per_axis():
    images = random_images((2, 6, 9), seed=4)
    histograms = chord_length_histograms(images, 0)
    assert histograms.shape == (2, 2, 9)
    for i, mask in enumerate(phase_mask(images, 0)):
        for axis in range(2):
            lengths = _one_axis(mask, axis)
            np.testing.assert_array_equal(histograms[i, axis], np.bincount(np.array(lengths, int) - 1, minlength=9))
    assert chord_length_histograms(images, 0, max_length=2)[..., -1].sum() == (histograms[..., 1:]).sum()


def _one_axis(mask: np.ndarray, axis: int) -> list[int]:
    """Brute-force chords along one axis only: walk the lines of ``axis``."""
    lengths = []
    for line in np.moveaxis(mask, axis, -1).reshape(-1, mask.shape[axis]):
        run = 0
        for pixel in [*line, False]:
            if pixel:
                run += 1
            elif run:
                lengths.append(run)
                run = 0
    return lengths


def test_histogram_distance_is_the_wasserstein_distance_of_the_samples():
    from scipy.stats import wasserstein_distance

    rng = np.random.default_rng(5)
    a, b = rng.integers(1, 10, 40), rng.integers(1, 10, 25)
    counts = [np.bincount(x - 1, minlength=10) for x in (a, b)]
    assert histogram_distance(*counts) == pytest.approx(wasserstein_distance(a, b))
    assert histogram_distance(counts[0], counts[0]) == 0.0
    assert histogram_distance([0, 1, 0], [0, 0, 1]) == pytest.approx(1.0)


def test_two_point_cluster_function_agrees_with_a_flood_fill_and_pair_loop():
    images = random_images((3, 6, 7), seed=6, black=0.45)
    c2 = two_point_cluster_function(images, 0)
    assert c2.shape == (3, 2, 6)
    for i, mask in enumerate(phase_mask(images, 0)):
        labels = flood_labels(mask)
        for axis in range(2):
            for lag in range(6):
                same, pairs = 0, 0
                for index in np.ndindex(mask.shape):
                    other = list(index)
                    other[axis] += lag
                    if other[axis] >= mask.shape[axis]:
                        continue
                    pairs += 1
                    same += bool(labels[index]) and labels[index] == labels[tuple(other)]
                assert c2[i, axis, lag] == pytest.approx(same / pairs)
    np.testing.assert_allclose(c2[:, :, 0], volume_fraction(images, 0)[:, np.newaxis] * np.ones((1, 2)))
    with pytest.raises(ValueError, match="max_lag"):
        two_point_cluster_function(images, 0, max_lag=6)


def test_euler_number_agrees_with_scikit_image_and_an_annulus():
    from skimage.measure import euler_number as skimage_euler

    for shape in ((4, 9, 10), (3, 6, 5, 7)):
        images = random_images(shape, seed=7, black=0.55)
        expected = [skimage_euler(mask, connectivity=1) for mask in phase_mask(images, 0)]
        np.testing.assert_array_equal(euler_number(images, 0), expected)
    annulus = np.ones((1, 7, 7, 1), np.float32)
    annulus[0, 1:6, 1:6] = 0.0
    annulus[0, 3, 3] = 1.0  # one black ring around one white hole
    assert euler_number(annulus, 0).tolist() == [0.0]
    assert component_count(annulus, 0).tolist() == [1.0] and component_count(annulus, 1).tolist() == [2.0]


def test_percolating_fraction_counts_pixels_of_spanning_clusters():
    image = np.ones((1, 6, 6, 1), np.float32)
    image[0, :, 1] = 0.0  # a black column spanning axis 0 (6 px)
    image[0, 2, 3:5] = 0.0  # and an isolated black bar (2 px)
    assert percolating_fraction(image, 0).tolist() == [[6 / 8, 0.0]]
    assert percolating_fraction(np.ones((1, 4, 4, 1), np.float32), 0).tolist() == [[0.0, 0.0]]


def test_straight_channels_diffuse_like_their_porosity_and_blocked_ones_not_at_all():
    image = np.zeros((1, 10, 8, 1), np.float32)
    image[0, :, [1, 2, 5]] = 1.0  # white channels along axis 0, 3 of 8 columns
    np.testing.assert_allclose(effective_diffusivity(image, 1, axis=0), [3 / 8])
    np.testing.assert_allclose(tortuosity_factor(image, 1, axis=0), [1.0])
    assert effective_diffusivity(image, 1, axis=1).tolist() == [0.0]
    assert tortuosity_factor(image, 1, axis=1).tolist() == [np.inf]
    np.testing.assert_allclose(effective_diffusivity(np.ones((1, 5, 4, 3, 1), np.float32), 1, axis=2), [1.0])
    volume = np.zeros((1, 4, 5, 6, 1), np.float32)
    volume[0, 1:3, 2, :] = 1.0  # two straight channels along axis 2 of 20 columns
    np.testing.assert_allclose(effective_diffusivity(volume, 1, axis=2), [2 / 20])
    dead_end = np.zeros((1, 10, 8, 1), np.float32)
    dead_end[0, :, 1] = 1.0  # one channel (1 of 8 columns) with a dead-end branch of 3 px: no flux in the branch
    dead_end[0, 4, 2:5] = 1.0
    np.testing.assert_allclose(effective_diffusivity(dead_end, 1, axis=0), [1 / 8])
    np.testing.assert_allclose(tortuosity_factor(dead_end, 1, axis=0), [(13 / 80) / (1 / 8)])
    with pytest.raises(ValueError, match="axis must be"):
        effective_diffusivity(image, 1, axis=2)


@pytest.mark.parametrize("shape", [(3, 12, 10), (2, 6, 5, 4)])
def test_descriptors_hold_one_value_per_image(shape):
    images = random_images(shape, seed=8)
    values = descriptors(images, transport=True)
    n_axes = len(shape) - 1
    expected = {"volume_fraction", "binary_share", "anisotropy", "components", "euler_number",
                *(f"{name}_axis{a}" for name in ("perimeter", "percolating_fraction", "diffusivity")
                  for a in range(n_axes))}
    assert set(values) == expected
    assert all(v.shape == (shape[0],) and v.dtype == np.float64 for v in values.values())


def test_realism_table_puts_a_model_next_to_the_real_spread():
    real = random_images((8, 16, 16), seed=9, black=0.4)
    same = realism_table(real, real)
    assert all(row["model_vs_real"] == 0.0 for row in same.values())
    assert same["volume_fraction"]["real_vs_real"] > 0
    assert {"chords_phase0_axis0", "chords_phase1_axis1"} <= set(same)
    blank = realism_table(real, np.ones_like(real))
    assert blank["volume_fraction"]["model_vs_real"] == pytest.approx(real.size and (real < 0.5).mean(), rel=1e-6)
    assert blank["volume_fraction"]["model_vs_real"] > 5 * blank["volume_fraction"]["real_vs_real"]
    other = random_images((8, 16, 16), seed=10, black=0.4)
    with_reference = realism_table(real, real, reference=other)
    assert with_reference["volume_fraction"]["real_vs_real"] > 0
    assert "| volume_fraction |" in format_realism_table(same)
    with pytest.raises(ValueError, match="at least 2 real images"):
        realism_table(real[:1], real[:1])


def test_fidelity_is_one_for_perfect_reconstructions_and_near_zero_for_one_image_for_all():
    rng = np.random.default_rng(11)
    inputs = np.stack([random_images((1, 16, 16), seed=s, black=b)[0]
                       for s, b in enumerate(rng.uniform(0.2, 0.8, 60))])
    assert all(r == pytest.approx(1.0) for r in fidelity(inputs, inputs).values())
    assert all(r == 0.0 for r in fidelity(inputs, np.repeat(inputs[:1], 60, axis=0)).values())
    shuffled = fidelity(inputs, inputs[rng.permutation(60)])
    assert all(abs(r) < 0.4 for r in shuffled.values())
    assert np.isnan(pearson([1.0, 1.0], [0.0, 1.0])) and np.isnan(pearson([1.0], [1.0]))
    with pytest.raises(ValueError, match="pairs inputs"):
        fidelity(inputs, inputs[:3])


# ------------------------------------------------------------------ porespy, where the definition is the same
def test_chord_lengths_agree_with_porespy():
    """porespy's chords (``apply_chords`` on every second line, no edge trimming, then ``chord_counts``)
    are ours on the same lines."""
    import porespy as ps  # in the `test` extra: CI runs this
    for shape, axis in (((12, 9), 0), ((12, 9), 1), ((6, 7, 8), 2)):
        mask = random_images((1, *shape), seed=12)[0, ..., 0] < 0.5
        chords = ps.filters.apply_chords(mask, spacing=1, axis=axis, trim_edges=False)
        theirs = np.sort(ps.metrics.chord_counts(chords))
        lines = tuple(slice(None) if a == axis else slice(None, None, 2) for a in range(mask.ndim))
        sampled = np.where(mask[lines], 0.0, 1.0)[np.newaxis, ..., np.newaxis]
        histogram = chord_length_histograms(sampled, 0)[0, axis]
        ours = np.repeat(np.arange(1, len(histogram) + 1), histogram)
        np.testing.assert_array_equal(ours, theirs)


def test_percolating_fraction_and_volume_fraction_agree_with_porespy():
    import porespy as ps
    for seed in range(4):
        images = random_images((1, 20, 24), seed=seed, black=0.62)
        mask = phase_mask(images, 0)[0]
        ours = percolating_fraction(images, 0)[0] * volume_fraction(images, 0)[0]  # porespy: per pixel of the image
        for axis in range(2):
            assert ours[axis] == pytest.approx(ps.metrics.percolating_porosity(mask, axis=axis, conn="min"))
        assert volume_fraction(images, 0)[0] == pytest.approx(ps.metrics.porosity(mask))


def test_descriptors_in_units_convert_the_perimeters_only():
    from ssvae_tf.stats.morphology import descriptors_in_units
    from ssvae_tf.stats.units import PixelSize

    values = {"volume_fraction": np.array([0.5]), "perimeter_axis0": np.array([0.25]),
              "perimeter_axis1": np.array([0.5]), "components": np.array([3.0])}
    converted = descriptors_in_units(values, PixelSize(2, "nm"))
    assert list(converted) == ["volume_fraction", "perimeter_axis0_per_nm", "perimeter_axis1_per_nm", "components"]
    assert converted["perimeter_axis0_per_nm"][0] == 0.125 and converted["components"][0] == 3.0
    assert descriptors_in_units(values, None) == values
    assert descriptors_in_units(values, PixelSize()) == values
