"""Tests of the user-data loaders (ssvae_tf.data.loaders) and of ``read_image``, through real files."""

import numpy as np
import pytest
import skimage.color
import skimage.io
import tifffile

from ssvae_tf.data import list_image_files, load_array, read_file, read_image, stored_shape
from ssvae_tf.data.loaders import image_file_shape, scan_folder


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


def test_load_array_keeps_stored_values(tmp_path):
    """Values are checked when a source is opened (ReadOptions), not here."""
    data = np.full((2, 4, 4), 255, dtype=np.uint8)
    np.save(tmp_path / "x.npy", data)
    array = load_array(tmp_path / "x.npy")
    assert array.dtype == np.uint8 and array.shape == (2, 4, 4, 1)
    np.testing.assert_array_equal(array[..., 0], data)


@pytest.mark.parametrize("data", [np.zeros((4, 8)), np.zeros((2, 3, 4, 5, 6))])
def test_wrong_rank_is_rejected(tmp_path, data):
    np.save(tmp_path / "bad.npy", data)
    with pytest.raises(ValueError, match=r"bad.npy has shape .*expected \(n, \*spatial\)"):
        load_array(tmp_path / "bad.npy")


def test_multi_page_tiff_is_a_volume(tmp_path):
    volume = np.random.default_rng(2).integers(0, 65536, (5, 6, 7), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "v.tif", volume)
    assert image_file_shape(tmp_path / "v.tif") == (5, 6, 7)
    np.testing.assert_array_equal(read_file(tmp_path / "v.tif"), volume)
    image = read_image(tmp_path / "v.tif")
    assert image.shape == (5, 6, 7, 1) and image.dtype == np.float32
    np.testing.assert_allclose(image[..., 0], volume / 65535, atol=1e-7)


def test_single_page_tiff_stays_two_dimensional(tmp_path):
    page = np.arange(42, dtype=np.uint8).reshape(1, 6, 7)
    tifffile.imwrite(tmp_path / "one.tif", page)
    assert image_file_shape(tmp_path / "one.tif") == (6, 7)
    np.testing.assert_array_equal(read_file(tmp_path / "one.tif"), page[0])


def test_rgb_volume_is_converted_page_by_page(tmp_path):
    rgb = np.random.default_rng(3).integers(0, 256, (3, 5, 6, 3), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
    assert image_file_shape(tmp_path / "rgb.tif") == (3, 5, 6)
    expected = np.stack([skimage.color.rgb2gray(page) for page in rgb])
    np.testing.assert_allclose(read_image(tmp_path / "rgb.tif")[..., 0], expected, atol=1e-6)


def test_tiff_with_two_page_axes_is_rejected(tmp_path):
    tifffile.imwrite(tmp_path / "tz.tif", np.zeros((2, 3, 4, 5), np.uint8), imagej=True,
                     metadata={"axes": "TZYX"})
    with pytest.raises(ValueError, match=r"tz.tif holds a TIFF series of shape \(2, 3, 4, 5\)"):
        image_file_shape(tmp_path / "tz.tif")


def test_png_header_shape(tmp_path, gray8):
    assert image_file_shape(_save(tmp_path / "a.png", gray8)) == (6, 8)


def test_scan_folder_reads_headers_only(tmp_path, monkeypatch, gray8):
    _save(tmp_path / "a.png", gray8)
    tifffile.imwrite(tmp_path / "b.tif", gray8)

    def fail(*args, **kwargs):
        raise AssertionError("the shape scan must not decode images")

    monkeypatch.setattr(skimage.io, "imread", fail)
    monkeypatch.setattr(tifffile.TiffPageSeries, "asarray", fail)
    files, shapes = scan_folder(tmp_path)
    assert [p.name for p in files] == ["a.png", "b.tif"] and shapes == [(6, 8, 1), (6, 8, 1)]


def test_scan_folder_names_the_first_file_of_another_size(tmp_path, gray8):
    for name in ["a.png", "b.png", "d.png"]:
        _save(tmp_path / name, gray8)
    _save(tmp_path / "c.png", gray8[:5])
    with pytest.raises(ValueError, match=r"c.png has shape \(5, 8, 1\), but .*a.png has shape \(6, 8, 1\); "
                                         r".*\(or train on random crops: --patch-size N\)"):
        scan_folder(tmp_path)
    assert scan_folder(tmp_path, same_size=False)[1] == [(6, 8, 1), (6, 8, 1), (5, 8, 1), (6, 8, 1)]


def test_scan_folder_refuses_images_with_volumes_even_for_crops(tmp_path, gray8):
    _save(tmp_path / "a.png", gray8)
    tifffile.imwrite(tmp_path / "b.tif", np.zeros((3, 6, 8), np.uint8), photometric="minisblack")
    tifffile.imwrite(tmp_path / "c.tif", np.zeros((3, 6, 8), np.uint8), photometric="minisblack")
    for same_size in (True, False):
        with pytest.raises(ValueError, match=r"b.tif has shape \(3, 6, 8, 1\).*only 2-D images or only volumes"):
            scan_folder(tmp_path, same_size)


def test_bad_paths(tmp_path):
    (tmp_path / "data.txt").write_text("1 2 3")
    (tmp_path / "broken.npy").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a .npy or .npz file"):
        load_array(tmp_path / "data.txt")
    with pytest.raises(ValueError, match="does not exist"):
        load_array(tmp_path / "missing.npy")
    with pytest.raises(ValueError, match="cannot read .*broken.npy"):
        load_array(tmp_path / "broken.npy")
