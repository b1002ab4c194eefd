"""Tests of how stored values become images (ssvae_tf.data.sources: ReadOptions, open_source)."""

import json

import numpy as np
import pytest
import skimage.filters
import skimage.io
import tifffile

from ssvae_tf.data import ReadOptions, image_shape_of, open_source, read_image, split_source
from ssvae_tf.data import sources


def _save_pngs(folder, images):
    folder.mkdir()
    for i, image in enumerate(images):
        skimage.io.imsave(folder / f"img{i:02d}.png", image, check_contrast=False)
    return folder


def _all_images(opened):
    return np.stack([opened.read(i) for i in range(opened.count)])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(phases=1), r"phases must be an integer >= 2 or None, got 1"),
        (dict(phases=2.0), r"phases must be .* got 2.0"),
        (dict(phases=True), r"phases must be .* got True"),
        (dict(threshold=1.5), r"threshold must be 'otsu', a number in \[0, 1\] or None, got 1.5"),
        (dict(threshold=float("nan")), r"threshold must be .* got nan"),
        (dict(threshold="mean"), r"threshold must be .* got 'mean'"),
        (dict(phases=3, threshold=0.5), r"threshold=0.5 cannot go with phases=3"),
        (dict(phases=2, threshold="otsu"), r"threshold='otsu' cannot go with phases=2"),
        (dict(median=2), r"median must be an odd number of px >= 1 \(1: no filter\), got 2"),
        (dict(median=0), r"median must be .* got 0"),
        (dict(median=3.5), r"median must be .* got 3.5"),
        (dict(phases=3, median=3), r"median=3 filters grey images; label images \(phases=3\) are not filtered"),
    ],
)
def test_read_options_are_validated(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ReadOptions(**kwargs)


def test_numeric_fields_are_normalised():
    options = ReadOptions(threshold=np.float32(0.25))
    assert type(options.threshold) is float and options.threshold == 0.25
    assert type(ReadOptions(phases=np.int64(3)).phases) is int


def test_json_round_trip():
    for options in (ReadOptions(), ReadOptions(phases=4), ReadOptions(threshold=0.25, median=3)):
        assert json.loads(json.dumps(options.to_json())) == options.to_json()
        assert ReadOptions.from_json(options.to_json()) == options
    assert ReadOptions.from_json({"phases": 3}) == ReadOptions(phases=3)
    assert ReadOptions.from_json(None) == ReadOptions()
    with pytest.raises(ValueError, match=r"unknown read options \['levels'\]"):
        ReadOptions.from_json({"levels": 3})


@pytest.mark.parametrize(
    "labels, phases",
    [
        (np.array([0, 1, 2, 1, 0, 2], np.uint8), 3),
        (np.array([0, 3, 1, 2, 3, 0], np.int64), 4),
        (np.array([0.0, 4.0, 2.0, 1.0, 3.0, 4.0]), 5),
        (np.array([True, False, True, True, False, False]), 2),
    ],
)
def test_labels_become_grey_levels(labels, phases):
    stack = np.resize(labels, (3, 4, 6))
    images = _all_images(open_source(stack, ReadOptions(phases=phases)))
    expected = np.array([[float(v) / (phases - 1) for v in row] for row in stack.reshape(-1, 6)])
    assert images.dtype == np.float32 and images.shape == (3, 4, 6, 1)
    np.testing.assert_allclose(images.reshape(-1, 6), expected, rtol=1e-7)


def test_labels_are_not_scaled_by_the_dtype(tmp_path):
    labels = np.array([[0, 1], [2, 1]], np.uint16)
    tifffile.imwrite(tmp_path / "labels.tif", labels)
    image = read_image(tmp_path / "labels.tif", ReadOptions(phases=3))
    np.testing.assert_array_equal(image[..., 0], [[0, 0.5], [1, 0.5]])


@pytest.mark.parametrize(
    "values, message",
    [
        (np.array([0, 1, 3], np.uint8), r"source array has values in \[0, 3\]; expected integer labels 0..2 \(phases=3\)"),
        (np.array([-1, 0, 2], np.int16), r"values in \[-1, 2\]; expected integer labels 0..2"),
        (np.array([0.0, 0.5, 2.0]), r"source array has non-integral values in \[0, 2\]; expected integer labels 0..2"),
        (np.array([0.0, np.nan, 1.0]), r"NaN or Inf values; expected integer labels 0..2"),
    ],
)
def test_bad_labels_are_refused(values, message):
    with pytest.raises(ValueError, match=message):
        open_source(np.resize(values, (2, 3, 3)), ReadOptions(phases=3))


def test_bad_label_in_a_folder_names_the_file(tmp_path):
    folder = _save_pngs(tmp_path / "labels", [np.zeros((4, 4), np.uint8), np.full((4, 4), 5, np.uint8)])
    opened = open_source(folder, ReadOptions(phases=3))
    np.testing.assert_array_equal(opened.read(0), np.zeros((4, 4, 1)))
    with pytest.raises(ValueError, match=r"img01.png has values in \[5, 5\]; expected integer labels 0..2"):
        opened.read(1)


def test_threshold_by_value_matches_numpy_comparison():
    raw = np.random.default_rng(0).integers(0, 256, (3, 5, 6), dtype=np.uint8)
    images = _all_images(open_source(raw, ReadOptions(threshold=0.4)))
    expected = np.array([[[1.0 if v / 255 > 0.4 else 0.0 for v in row] for row in image] for image in raw])
    np.testing.assert_array_equal(images[..., 0], expected)
    assert images.dtype == np.float32


def _brute_force_otsu_split(values):
    """The cut between sorted distinct values that maximises Otsu's between-class variance
    w0 * w1 * (mu0 - mu1)^2; returns the largest value of the lower class."""
    levels = np.unique(values)
    best, best_level = -1.0, None
    for level in levels[:-1]:
        low, high = values[values <= level], values[values > level]
        score = low.size * high.size * (low.mean() - high.mean()) ** 2
        if score > best:
            best, best_level = score, level
    return best_level


@pytest.mark.parametrize(
    "levels",
    [
        np.array([0.1, 0.2, 0.3, 0.6, 0.8, 0.9], np.float32),
        np.array([180, 190, 200, 230, 240, 250], np.uint8),  # lower class ends above mid-range
    ],
)
def test_otsu_threshold_splits_like_otsu(levels):
    rng = np.random.default_rng(1)
    raw = rng.choice(levels, size=(5, 8, 8), p=[0.3, 0.2, 0.1, 0.1, 0.1, 0.2])
    grey = _all_images(open_source(raw))[..., 0]
    options = ReadOptions(threshold="otsu").resolved(raw)
    assert isinstance(options.threshold, float) and options.phases is None
    split_at = _brute_force_otsu_split(grey.ravel())
    assert split_at <= options.threshold < grey[grey > split_at].min()
    np.testing.assert_array_equal(grey > options.threshold, grey > skimage.filters.threshold_otsu(grey))
    binary = _all_images(open_source(raw, ReadOptions(threshold="otsu")))
    np.testing.assert_array_equal(binary[..., 0], (grey > split_at).astype(np.float32))


def test_otsu_uses_evenly_spaced_images(monkeypatch):
    monkeypatch.setattr(sources, "_OTSU_IMAGES", 3)
    rng = np.random.default_rng(2)
    images = rng.choice(np.array([0.1, 0.2, 0.7, 0.9]), size=(7, 6, 6))
    images[[1, 2, 4, 5]] = 0.95  # not examined: images 0, 3 and 6 are
    expected = ReadOptions(threshold="otsu").resolved(images[[0, 3, 6]]).threshold
    assert ReadOptions(threshold="otsu").resolved(images).threshold == expected
    assert expected < 0.7


def test_otsu_is_recorded_by_the_split_and_other_options_resolve_to_themselves():
    images = np.random.default_rng(3).choice([0.2, 0.3, 0.7], size=(10, 6, 6))
    split = split_source(images, read=ReadOptions(threshold="otsu"))
    assert split.read == ReadOptions(threshold="otsu").resolved(images)
    assert 0.3 <= split.read.threshold < 0.7
    plain = ReadOptions(threshold=0.5)
    assert plain.resolved(images) is plain


def _median_loop(image, side):
    """The median over each pixel's side x side (x side) neighbourhood, edges reflected as
    ``np.pad(mode="symmetric")`` does (the edge pixel repeated): a brute-force definition."""
    r = side // 2
    padded = np.pad(image, r, mode="symmetric")
    out = np.empty_like(image)
    for index in np.ndindex(*image.shape):
        out[index] = np.median(padded[tuple(slice(i, i + side) for i in index)])
    return out


@pytest.mark.parametrize("spatial", [(9, 11), (6, 7, 5)])
def test_median_filters_each_image_before_the_threshold_and_crops_equal_crops_of_the_filtered_image(spatial):
    rng = np.random.default_rng(5)
    stored = rng.integers(0, 256, (3, *spatial, 1), dtype=np.uint8)
    options = ReadOptions(median=3, threshold=0.5)
    opened = open_source(stored, options)
    filtered = np.stack([_median_loop(image[..., 0] / 255.0, 3) for image in stored])[..., np.newaxis]
    expected = (filtered > 0.5).astype(np.float32)
    np.testing.assert_array_equal(opened.read(1), expected[1])
    np.testing.assert_array_equal(opened.take(np.array([2, 0])), expected[[2, 0]])  # each image alone
    for corner in [(0,) * len(spatial), (2,) * len(spatial), tuple(s - 4 for s in spatial)]:  # edges and inside
        crop = opened.crop(1, corner, 4)
        np.testing.assert_array_equal(crop, expected[1][tuple(slice(c, c + 4) for c in corner)])
    grey = open_source(stored, ReadOptions(median=3)).read(0)
    np.testing.assert_allclose(grey, filtered[0], atol=1e-6)


def test_median_filters_a_folders_files_and_otsu_sees_the_filtered_grey(tmp_path):
    image = np.where(np.arange(12)[:, None] < 6, 60, 200).repeat(12, axis=1).astype(np.uint8)
    noisy = image.copy()
    noisy[2, 3], noisy[9, 8] = 255, 0  # isolated speckle
    folder = _save_pngs(tmp_path / "pngs", [noisy])
    opened = open_source(folder, ReadOptions(median=3, threshold="otsu"))
    assert 60 / 255 <= opened.options.threshold < 200 / 255
    np.testing.assert_array_equal(opened.read(0)[..., 0], (image > 128).astype(np.float32))  # speckle gone
    raw = open_source(folder, ReadOptions(threshold="otsu")).read(0)[..., 0]
    assert raw[2, 3] == 1 and raw[9, 8] == 0


def test_otsu_needs_two_grey_levels():
    with pytest.raises(ValueError, match="more than one grey level"):
        ReadOptions(threshold="otsu").resolved(np.full((3, 4, 4), 0.5))


def test_unresolved_otsu_is_not_read(tmp_path):
    skimage.io.imsave(tmp_path / "a.png", np.zeros((4, 4), np.uint8), check_contrast=False)
    with pytest.raises(ValueError, match=r"threshold='otsu' must be resolved .* before reading .*a.png"):
        read_image(tmp_path / "a.png", ReadOptions(threshold="otsu"))


def test_uint8_npy_reads_like_the_same_pngs(tmp_path):
    raw = np.random.default_rng(4).integers(0, 256, (4, 5, 6), dtype=np.uint8)
    np.save(tmp_path / "x.npy", raw)
    folder = _save_pngs(tmp_path / "pngs", raw)
    from_npy, from_pngs = open_source(tmp_path / "x.npy"), open_source(folder)
    np.testing.assert_array_equal(_all_images(from_npy), _all_images(from_pngs))
    np.testing.assert_allclose(_all_images(from_npy)[..., 0], raw / 255, atol=1e-7)
    np.testing.assert_array_equal(from_npy.take(np.arange(4)), from_pngs.take(np.arange(4)))


@pytest.mark.parametrize(
    "data, message",
    [
        (np.full((2, 4, 4), np.inf), "x.npy contains NaN or Inf values; expected values in \\[0, 1\\]"),
        (np.full((2, 4, 4), -0.5), r"x.npy has values in \[-0.5, -0.5\]; expected values in \[0, 1\]"),
        (np.full((2, 4, 4), -3, np.int8), r"values in \[-3, -3\]; expected values in \[0, 127\] for int8"),
        (np.full((2, 4, 4), 1 + 1j), r"x.npy has dtype complex128; expected a bool, integer or float dtype"),
    ],
)
def test_bad_values_are_refused_on_open(tmp_path, data, message):
    np.save(tmp_path / "x.npy", data)
    with pytest.raises(ValueError, match=message):
        open_source(tmp_path / "x.npy")


def test_values_checked_in_every_chunk(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "_CHUNK_ELEMENTS", 16)  # one 4x4 image per chunk
    data = np.zeros((10, 4, 4), dtype=np.float32)
    data[-1, 3, 3] = 1.5
    np.save(tmp_path / "x.npy", data)
    with pytest.raises(ValueError, match=r"values in \[0, 1.5\]"):
        open_source(tmp_path / "x.npy")


def test_folder_of_volumes(tmp_path):
    folder = tmp_path / "volumes"
    folder.mkdir()
    volumes = np.random.default_rng(5).random((3, 4, 5, 6), dtype=np.float32)
    for i, volume in enumerate(volumes):
        tifffile.imwrite(folder / f"v{i}.tif", volume, photometric="minisblack")
    opened = open_source(folder)
    assert opened.count == 3 and opened.image_shape == (4, 5, 6, 1)
    np.testing.assert_array_equal(opened.take([0, 2])[..., 0], volumes[[0, 2]])
    assert image_shape_of(folder) == (4, 5, 6, 1)


def test_mixed_sizes_are_refused_up_front_unless_asked(tmp_path):
    folder = _save_pngs(tmp_path / "mixed", [np.zeros((6, 5), np.uint8), np.zeros((8, 5), np.uint8)])
    with pytest.raises(ValueError, match=r"img01.png has shape \(8, 5, 1\), but .*img00.png has shape \(6, 5, 1\)"):
        open_source(folder)
    with pytest.raises(ValueError, match=r"--patch-size N"):
        image_shape_of(folder)
    opened = open_source(folder, same_size=False)
    assert opened.image_shape == (None, 5, 1) and opened.shape_of(1) == (8, 5, 1)
    assert opened.read(1).shape == (8, 5, 1)
