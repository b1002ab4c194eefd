"""Tests of the user-data loaders (ssvae_tf.data.loaders), through real files."""

import numpy as np
import pytest
import skimage.io

from ssvae_tf import _checks
from ssvae_tf.data import list_image_files, load_array, read_image, stored_shape


def _save(path, image):
    skimage.io.imsave(path, image, check_contrast=False)
    return path


@pytest.fixture
def gray8():
    return np.arange(48, dtype=np.uint8).reshape(6, 8) * 5


def test_png_uint8_round_trip(tmp_path, gray8):
    image = read_image(_save(tmp_path / "a.png", gray8))
    assert image.shape == (6, 8, 1) and image.dtype == np.float32
    np.testing.assert_allclose(image[..., 0], gray8 / 255, atol=1e-7)


def test_png_uint16_round_trip(tmp_path):
    values = (np.arange(48, dtype=np.uint16).reshape(6, 8) * 1365).astype(np.uint16)
    image = read_image(_save(tmp_path / "a.png", values))
    np.testing.assert_allclose(image[..., 0], values / 65535, atol=1e-7)


def test_tiff_float_round_trip(tmp_path):
    values = np.linspace(0, 1, 48, dtype=np.float32).reshape(6, 8)
    image = read_image(_save(tmp_path / "a.tiff", values))
    np.testing.assert_array_equal(image[..., 0], values)


def test_rgb_is_converted_to_gray(tmp_path):
    rgb = np.zeros((4, 4, 3), dtype=np.uint8)
    rgb[:2] = 255  # white
    rgb[2:, :, 0] = 255  # red
    image = read_image(_save(tmp_path / "rgb.png", rgb))
    assert image.shape == (4, 4, 1)
    np.testing.assert_allclose(image[:2], 1.0, atol=1e-6)
    np.testing.assert_allclose(image[2:], 0.2125, atol=1e-3)  # Rec. 709 luma of red


def test_bool_image_becomes_zero_one(monkeypatch, tmp_path):
    mask = np.array([[True, False], [False, True]])
    monkeypatch.setattr(skimage.io, "imread", lambda path: mask)
    np.testing.assert_array_equal(read_image(tmp_path / "mask.png")[..., 0], mask.astype(np.float32))


def test_float_tiff_out_of_range_or_nan_is_rejected(tmp_path):
    values = np.full((5, 6), 0.5, dtype=np.float32)
    values[0, 0] = 2.0
    with pytest.raises(ValueError, match=r"values in \[0.5, 2\]; expected values in \[0, 1\]"):
        read_image(_save(tmp_path / "big.tif", values))
    values[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        read_image(_save(tmp_path / "nan.tif", values))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # imageio probing its legacy plugins
def test_unreadable_image_names_the_file(tmp_path):
    path = tmp_path / "broken.png"
    path.write_bytes(b"not an image")
    with pytest.raises(ValueError, match="broken.png"):
        read_image(path)


def test_list_image_files_sorted_and_case_insensitive(tmp_path, gray8):
    for name in ["c.TIF", "a.png", "b.tiff", "d.PNG"]:
        _save(tmp_path / name, gray8)
    (tmp_path / "notes.txt").write_text("ignore me")
    (tmp_path / "sub.png").mkdir()
    assert [p.name for p in list_image_files(tmp_path)] == ["a.png", "b.tiff", "c.TIF", "d.PNG"]


def test_list_image_files_errors(tmp_path):
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(ValueError, match="no .png/.tif/.tiff images in"):
        list_image_files(tmp_path)
    with pytest.raises(ValueError, match="not a folder"):
        list_image_files(tmp_path / "missing")


@pytest.mark.parametrize(
    "stored, expected",
    [((5, 6, 7), (5, 6, 7, 1)), ((5, 6, 7, 1), (5, 6, 7, 1)), ((3, 4, 5, 6), (3, 4, 5, 6, 1))],
)
def test_npy_is_memory_mapped_with_channel_axis(tmp_path, stored, expected):
    data = np.random.default_rng(0).random(stored, dtype=np.float32)
    np.save(tmp_path / "x.npy", data)
    array = load_array(tmp_path / "x.npy")
    assert isinstance(array, np.memmap)
    assert array.shape == expected
    np.testing.assert_array_equal(array.reshape(stored), data)
    assert stored_shape(tmp_path / "x.npy") == stored


def test_npz_with_and_without_images_key(tmp_path):
    data = np.random.default_rng(1).random((4, 6, 6), dtype=np.float32)
    np.savez(tmp_path / "keyed.npz", labels=np.arange(4), images=data)
    np.savez_compressed(tmp_path / "single.npz", stack=data[..., None])
    for name in ["keyed.npz", "single.npz"]:
        array = load_array(tmp_path / name)
        assert array.shape == (4, 6, 6, 1)
        np.testing.assert_array_equal(array[..., 0], data)
    assert stored_shape(tmp_path / "keyed.npz") == (4, 6, 6)
    assert stored_shape(tmp_path / "single.npz") == (4, 6, 6, 1)


def test_npz_without_obvious_array_lists_keys(tmp_path):
    np.savez(tmp_path / "two.npz", first=np.zeros((2, 4, 4)), second=np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match=r"\['first', 'second'\]"):
        load_array(tmp_path / "two.npz")
    with pytest.raises(ValueError, match=r"\['first', 'second'\]"):
        stored_shape(tmp_path / "two.npz")


@pytest.mark.parametrize(
    "data, message",
    [
        (np.zeros((4, 8)), "expected \\(n, \\*spatial\\)"),
        (np.zeros((2, 3, 4, 5, 6)), "expected \\(n, \\*spatial\\)"),
        (np.full((2, 4, 4), np.inf), "NaN or Inf"),
        (np.full((2, 4, 4), -0.5), r"values in \[-0.5, -0.5\]"),
        (np.full((2, 4, 4), 255, dtype=np.uint8), r"values in \[255, 255\]; expected values in \[0, 1\]"),
    ],
)
def test_bad_arrays_are_rejected(tmp_path, data, message):
    np.save(tmp_path / "bad.npy", data)
    with pytest.raises(ValueError, match=message):
        load_array(tmp_path / "bad.npy")


def test_values_checked_in_every_chunk(tmp_path, monkeypatch):
    monkeypatch.setattr(_checks, "_CHUNK_ELEMENTS", 16)  # one 4x4 image per chunk
    data = np.zeros((10, 4, 4), dtype=np.float32)
    data[-1, 3, 3] = 1.5
    np.save(tmp_path / "x.npy", data)
    with pytest.raises(ValueError, match=r"values in \[0, 1.5\]"):
        load_array(tmp_path / "x.npy")


def test_bad_paths(tmp_path):
    (tmp_path / "data.txt").write_text("1 2 3")
    (tmp_path / "broken.npy").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a .npy or .npz file"):
        load_array(tmp_path / "data.txt")
    with pytest.raises(ValueError, match="does not exist"):
        load_array(tmp_path / "missing.npy")
    with pytest.raises(ValueError, match="cannot read .*broken.npy"):
        load_array(tmp_path / "broken.npy")
