"""Volumes as multi-page TIFF files (``ssvae_tf.volume_tiff``): read back page by page with Pillow they hold
``round(255 x)``, uncompressed; a batch is one file per volume, written with its set or not at all; and
``ssvae decode``'s writer adds them beside the ``.npy`` (``serving.files.save_images``)."""

import errno

import numpy as np
import pytest
from PIL import Image

from serving.files import save_images
from ssvae_tf._io import write_files
from ssvae_tf.volume_tiff import tiff_names, volume_tiff_writers

RNG = np.random.default_rng(23)


def read_pages(path) -> np.ndarray:
    """Every page of a TIFF as Pillow reads it, one after another: uint8 ``(pages, H, W)``."""
    with Image.open(path) as image:
        assert image.info["compression"] == "raw" and image.mode == "L"
        pages = []
        for index in range(image.n_frames):
            image.seek(index)
            pages.append(np.array(image))
    return np.stack(pages)


def test_each_volume_is_one_multipage_tiff_of_its_z_slices(tmp_path):
    volumes = RNG.random((2, 5, 6, 7, 1)).astype(np.float32)
    volumes[0, 0, 0, 0] = 1.2  # clipped to white
    written = write_files(tmp_path, volume_tiff_writers("designs", volumes))
    assert [path.name for path in written] == ["designs_000.tif", "designs_001.tif"]
    for path, volume in zip(written, volumes):
        expected = np.round(np.clip(volume[..., 0], 0, 1) * 255).astype(np.uint8)  # (D, H, W): a page per z
        np.testing.assert_array_equal(read_pages(path), expected)
    assert read_pages(written[0])[0, 0, 0] == 255


def test_images_get_no_tiffs_and_names_grow_with_the_count():
    assert volume_tiff_writers("samples", np.zeros((3, 8, 8, 1), np.float32)) == {}
    assert tiff_names("x", 1) == ["x_000.tif"] and tiff_names("x", 1001)[-1] == "x_1000.tif"


def test_a_failed_tiff_leaves_no_file_of_the_set(tmp_path, monkeypatch):
    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    volumes = np.zeros((2, 4, 4, 4, 1), np.float32)
    monkeypatch.setattr(Image.Image, "save", no_space)
    with pytest.raises(OSError):
        write_files(tmp_path / "out", {"v.npy": lambda tmp: np.save(tmp, volumes),
                                       **volume_tiff_writers("v", volumes)})
    assert not (tmp_path / "out").exists()


def test_decode_saves_volumes_as_npy_and_tiffs_and_images_as_npy_alone(tmp_path):
    volumes = RNG.random((2, 4, 5, 6, 1)).astype(np.float32)
    written = save_images(tmp_path / "x.npy", volumes)
    assert [path.name for path in written] == ["x.npy", "x_000.tif", "x_001.tif"]
    np.testing.assert_array_equal(np.load(tmp_path / "x.npy"), volumes)
    np.testing.assert_array_equal(read_pages(tmp_path / "x_001.tif"), np.round(volumes[1, ..., 0] * 255))
    assert [path.name for path in save_images(tmp_path / "y.npy", volumes[:, 0])] == ["y.npy"]
