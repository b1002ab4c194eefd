"""Tests of training on random crops (ssvae_tf.data.pipeline: Patches, split_source)."""

import math

import numpy as np
import pytest
import skimage.io
import tensorflow as tf
from numpy.lib.stride_tricks import sliding_window_view

from ssvae_tf.data import Patches, image_shape_of, make_dataset, sources, split_indices, split_source


def _stack(n=5, spatial=(9, 11), seed=0):
    """Random float images: every crop occurs at exactly one place."""
    return np.random.default_rng(seed).random((n, *spatial, 1), dtype=np.float32)


def _crops(dataset):
    """All crops of one pass over ``dataset`` as float32 (k, *spatial) (channel dropped)."""
    return np.concatenate([batch.numpy() for batch in dataset])[..., 0]


def _places(crop, images):
    """Every (image number, corner) where ``crop`` equals a sub-array of one of ``images``
    (a list of arrays (*spatial)), by trying every position."""
    places = []
    for number, image in enumerate(images):
        if any(side < c for side, c in zip(image.shape, crop.shape)):
            continue
        windows = sliding_window_view(image, crop.shape)
        match = np.all(windows == crop, axis=tuple(range(image.ndim, 2 * image.ndim)))
        places += [(number, tuple(int(v) for v in corner)) for corner in np.argwhere(match)]
    return places


def _place(crop, images):
    places = _places(crop, images)
    assert len(places) == 1, f"crop found at {places}"
    return places[0]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(size=0), r"Patches.size must be an integer >= 1, got 0"),
        (dict(size=2.5), r"Patches.size must be"),
        (dict(size=4, per_epoch=0), r"Patches.per_epoch must be an integer >= 1, got 0"),
        (dict(size=4, slab="yes"), r"Patches.slab must be True or False, got 'yes'"),
    ],
)
def test_patches_are_validated(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Patches(**kwargs)


def test_training_crops_are_sub_arrays_of_training_images():
    images = _stack()
    split = split_source(images, validation_split=0.4, seed=3, patches=Patches(4, per_epoch=12))
    train_idx, val_idx = split_indices(5, 0.4, 3)
    assert split.image_shape == (4, 4, 1) and (split.n_train, split.n_validation) == (12, 8)
    crops = _crops(split.train_dataset(5))
    assert crops.shape == (12, 4, 4)
    for crop in crops:
        assert _place(crop, list(images[train_idx, ..., 0]))
        assert not _places(crop, list(images[val_idx, ..., 0]))
    for crop in _crops(split.validation_dataset(5)):
        assert _place(crop, list(images[val_idx, ..., 0]))


def test_crops_reach_every_corner_uniformly():
    """Over many draws every offset of a 3x3 crop in a 4x5 image occurs, about equally often."""
    image = _stack(n=1, spatial=(4, 5))
    split = split_source(image, validation_split=0.0, seed=0, patches=Patches(3, per_epoch=600))
    corners = [_place(crop, [image[0, ..., 0]])[1] for crop in _crops(split.train_dataset(100))]
    counts = np.array([corners.count((r, c)) for r in range(2) for c in range(3)])
    assert counts.min() > 600 / 6 * 0.6


def test_folder_of_mixed_sizes_trains_on_crops(tmp_path):
    shapes = [(9, 11), (12, 8), (10, 10), (8, 9), (11, 7)]
    rng = np.random.default_rng(1)
    folder = tmp_path / "mixed"
    folder.mkdir()
    images = []
    for number, shape in enumerate(shapes):
        raw = rng.integers(0, 256, shape, dtype=np.uint8)
        skimage.io.imsave(folder / f"img{number}.png", raw, check_contrast=False)
        images.append((raw / 255).astype(np.float32))
    assert image_shape_of(folder, Patches(5)) == (5, 5, 1)
    split = split_source(folder, validation_split=0.4, seed=2, patches=Patches(5, per_epoch=8))
    train_idx, val_idx = split_indices(5, 0.4, 2)
    for crop in _crops(split.train_dataset(4)):
        assert _place(crop, images)[0] in train_idx
    for crop in split.validation_images()[..., 0]:
        assert _place(crop, images)[0] in val_idx


@pytest.mark.parametrize("spatial, size", [((10, 7), 3), ((10, 6, 5), 3)])
def test_slab_keeps_validation_crops_beyond_the_cut(spatial, size):
    images = _stack(n=2, spatial=spatial, seed=4)
    split = split_source(images, validation_split=0.3, seed=0, patches=Patches(size, per_epoch=14, slab=True))
    cut = round(10 * 0.7)
    assert split.image_shape == (size,) * len(spatial) + (1,) and split.n_validation == 6
    for crop in _crops(split.train_dataset(7)):
        _, corner = _place(crop, list(images[..., 0]))
        assert corner[0] + size <= cut
    for crop in _crops(split.validation_dataset(7)):
        _, corner = _place(crop, list(images[..., 0]))
        assert corner[0] >= cut


def test_validation_crops_are_fixed():
    images = _stack()
    patches = Patches(4, per_epoch=6)
    split = split_source(images, validation_split=0.4, seed=1, patches=patches)
    first, again = _crops(split.validation_dataset(3)), _crops(split.validation_dataset(2))
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first, split.validation_images()[..., 0])
    np.testing.assert_array_equal(split.validation_images(2), split.validation_images()[:2])
    np.testing.assert_array_equal(split.validation_index(), np.arange(4))
    other = split_source(images, validation_split=0.4, seed=1, patches=patches)
    np.testing.assert_array_equal(_crops(other.validation_dataset(4)), first)


def test_training_crops_change_every_epoch_but_are_seeded():
    images = _stack()
    patches = Patches(4, per_epoch=6)
    train = split_source(images, seed=1, patches=patches).train_dataset(6)
    epochs = [_crops(train) for _ in range(2)]
    assert not np.array_equal(epochs[0], epochs[1])
    again = split_source(images, seed=1, patches=patches).train_dataset(6)
    np.testing.assert_array_equal(_crops(again), epochs[0])
    other = split_source(images, seed=2, patches=patches).train_dataset(6)
    assert not np.array_equal(_crops(other), epochs[0])


def test_training_sample_is_fixed_and_from_training_images():
    images = _stack()
    split = split_source(images, validation_split=0.4, seed=3, patches=Patches(4, per_epoch=5))
    train_idx, _ = split_indices(5, 0.4, 3)
    sample = split.training_images()
    assert sample.shape == (5, 4, 4, 1)
    np.testing.assert_array_equal(split.training_images(), sample)
    assert split.training_images(limit=7).shape == (7, 4, 4, 1)
    for crop in sample[..., 0]:
        assert _place(crop, list(images[..., 0]))[0] in train_idx


def test_crop_counts_cover_the_training_pixels():
    images = _stack()  # 5 images of 9 x 11
    split = split_source(images, validation_split=0.4, patches=Patches(4))
    expected = math.ceil(3 * 9 * 11 / 16)
    assert split.n_train == expected == 19
    assert split.n_validation == round(19 * 0.4 / 0.6)
    slab = split_source(images, validation_split=0.3, patches=Patches(3, slab=True))
    assert slab.n_train == math.ceil(5 * round(9 * 0.7) * 11 / 9)
    floor = split_source(images, validation_split=0.4, patches=Patches(4, min_pixels=1000))
    assert floor.n_train == math.ceil(1000 / 16)  # at least min_pixels, whatever the images hold
    assert split_source(images, validation_split=0.4, patches=Patches(4, min_pixels=100)).n_train == 19
    assert split_source(images, validation_split=0.4, patches=Patches(4, min_pixels=1000, min_crops=100)).n_train == 100
    alone = split_source(images[:1, :4, :4], validation_split=0.0, patches=Patches(4))
    assert (alone.n_train, alone.n_validation) == (1, 0) and alone.validation_dataset(2) is None
    assert alone.validation_images().shape == (0, 4, 4, 1)


def test_make_dataset_with_patches():
    train, val = make_dataset(_stack(), batch_size=4, patches=Patches(3, per_epoch=9))
    assert train.element_spec == tf.TensorSpec((None, 3, 3, 1), tf.float32)
    assert [b.shape[0] for b in train] == [4, 4, 1]
    assert _crops(val).shape == (round(9 * 0.3 / 0.7), 3, 3)


def test_memmapped_crops_are_read_one_by_one(tmp_path, monkeypatch):
    np.save(tmp_path / "x.npy", _stack())

    def fail(*args):
        raise AssertionError("crops must not load whole images")

    monkeypatch.setattr(sources.ArraySource, "take", fail)
    monkeypatch.setattr(sources.ArraySource, "read", fail)
    split = split_source(tmp_path / "x.npy", patches=Patches(4, per_epoch=3))
    assert _crops(split.train_dataset(3)).shape == (3, 4, 4)


@pytest.mark.parametrize(
    "source, kwargs, message",
    [
        (_stack(spatial=(6, 10)), dict(patches=Patches(8)),
         r"source array image \d has shape \(6, 10, 1\), smaller than the crop size 8"),
        (_stack(spatial=(10, 10)), dict(patches=Patches(4, slab=True)),
         r"source array image 0 has shape \(10, 10, 1\); its validation slab has 3 px along the first "
         r"axis \(validation_split=0.3\), smaller than the crop size 4"),
        (_stack(spatial=(10, 10)), dict(validation_split=0.8, patches=Patches(4, slab=True)),
         r"image 0 .*its training slab has 2 px along the first axis"),
        (_stack(n=0), dict(patches=Patches(3, slab=True)), r"the source holds no images"),
        (_stack(), dict(validation_split=0.0, patches=Patches(3, slab=True)),
         r"Patches\(slab=True\) cuts every image by validation_split; expected validation_split > 0"),
    ],
)
def test_crop_errors(source, kwargs, message):
    with pytest.raises(ValueError, match=message):
        split_source(source, **kwargs)


def test_small_file_is_named(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for name, shape in [("a.png", (9, 9)), ("b.png", (9, 4)), ("c.png", (9, 9))]:
        skimage.io.imsave(folder / name, np.zeros(shape, np.uint8), check_contrast=False)
    with pytest.raises(ValueError, match=r"b.png has shape \(9, 4, 1\), smaller than the crop size 5"):
        split_source(folder, validation_split=0.0, patches=Patches(5))
