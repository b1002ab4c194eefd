"""Tests of the synthetic line images (ssvae_tf.data.lines)."""

import sys

import numpy as np
import pytest
from skimage.measure import label, regionprops

from ssvae_tf.data import HARD_LINES, HORIZONTAL, PAPER_LINES, VERTICAL, generate_lines


@pytest.fixture(scope="module")
def lines64():
    return generate_lines(200, 64, seed=0, progress=False)


def _components(image):
    """Connected line regions (value 0) of one (H, W, 1) image, 8-connectivity."""
    return regionprops(label(image[..., 0] == 0, connectivity=2))


def _check_geometry(result, height, width):
    """Every line is a solid rectangle running along the labelled orientation."""
    for image, orientation, count in zip(result.images, result.orientation, result.n_lines):
        regions = _components(image)
        assert len(regions) == count
        for region in regions:
            r0, c0, r1, c1 = region.bbox
            assert region.area == (r1 - r0) * (c1 - c0)  # solid band
            along, across = (r1 - r0, c1 - c0) if orientation == VERTICAL else (c1 - c0, r1 - r0)
            side_along = height if orientation == VERTICAL else width
            assert along >= round(112 * side_along / 224)
            assert along > across


def test_shapes_dtypes_and_binary_values(lines64):
    assert len(lines64) == 200
    assert lines64.images.shape == (200, 64, 64, 1) and lines64.images.dtype == np.float32
    assert set(np.unique(lines64.images)) == {0.0, 1.0}
    assert lines64.n_lines.dtype == np.int64 and lines64.orientation.dtype == np.int64
    assert lines64.volume_fraction.dtype == np.float32


def test_labels_cover_their_ranges(lines64):
    assert set(lines64.n_lines) == set(range(PAPER_LINES[0], PAPER_LINES[1] + 1))
    assert set(lines64.orientation) == {VERTICAL, HORIZONTAL}
    assert 0.35 < lines64.orientation.mean() < 0.65


def test_components_match_count_and_orientation_at_64px(lines64):
    _check_geometry(lines64, 64, 64)


def test_vertical_lines_fill_whole_column_runs(lines64):
    """In a vertical image every line column holds runs of at least the minimum length."""
    for image, orientation in zip(lines64.images[:50], lines64.orientation[:50]):
        canvas = image[..., 0] if orientation == VERTICAL else image[..., 0].T
        for column in canvas.T:
            runs = label(column == 0)
            lengths = np.bincount(runs.ravel())[1:]
            assert np.all(lengths >= 32)


def test_components_match_count_at_224px():
    _check_geometry(generate_lines(12, 224, seed=3, progress=False), 224, 224)


def test_volume_fraction_label_is_measured_fraction(lines64):
    measured = (lines64.images == 0).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(lines64.volume_fraction, measured, atol=1e-6)


def test_volume_fraction_statistics_match_paper_at_224px():
    result = generate_lines(300, 224, seed=11, progress=False)
    assert abs(result.volume_fraction.mean() - 0.059) < 0.006
    assert 0.09 < result.volume_fraction.max() <= 0.16


@pytest.mark.parametrize("size", [32, 64, (48, 80)])
def test_scaled_sizes(size):
    height, width = (size, size) if isinstance(size, int) else size
    result = generate_lines(40, size, seed=1, progress=False)
    assert result.images.shape == (40, height, width, 1)
    _check_geometry(result, height, width)


def test_hard_set_has_three_to_seven_lines():
    result = generate_lines(80, 64, n_lines=HARD_LINES, seed=2, progress=False)
    assert HARD_LINES == (3, 7)
    assert result.n_lines.min() >= 3 and result.n_lines.max() <= 7
    assert len(set(result.n_lines)) >= 4
    _check_geometry(result, 64, 64)


def test_seeded_reproducibility():
    a = generate_lines(20, 32, seed=5, progress=False)
    b = generate_lines(20, 32, seed=5, progress=False)
    c = generate_lines(20, 32, seed=6, progress=False)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.n_lines, b.n_lines)
    np.testing.assert_array_equal(a.orientation, b.orientation)
    assert not np.array_equal(a.images, c.images)


def test_progress_bar_only_for_many_images_on_a_terminal(capsys, monkeypatch):
    generate_lines(200, 16, seed=0)
    assert capsys.readouterr().out == ""  # not a terminal: no bar
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    generate_lines(5, 16, seed=0)
    assert capsys.readouterr().out == ""
    generate_lines(200, 16, seed=0)
    assert "200/200" in capsys.readouterr().out


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(n=0), "n must be"),
        (dict(n=2, shape=8), "shape must be"),
        (dict(n=2, shape=2000), "shape must be"),
        (dict(n=2, shape=(64,)), "shape must be"),
        (dict(n=2, n_lines=(0, 4)), r"n_lines must be a pair 1 <= lo <= hi, got \(0, 4\)"),
        (dict(n=2, n_lines=(3, 2)), "n_lines"),
        (dict(n=2, n_lines=3), "n_lines"),
        (dict(n=2, shape=16, n_lines=(30, 30)), "fewer lines"),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate_lines(progress=False, **kwargs)


def test_the_old_name_image_size_still_works_with_a_deprecation_warning():
    new = generate_lines(3, shape=(16, 24), seed=1, progress=False)
    with pytest.warns(DeprecationWarning, match=r"generate_lines\(image_size=...\) is deprecated; pass shape="):
        old = generate_lines(3, image_size=(16, 24), seed=1, progress=False)
    np.testing.assert_array_equal(old.images, new.images)
    assert new.images.shape == (3, 16, 24, 1)
