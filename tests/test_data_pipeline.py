"""Tests of the tf.data pipelines (ssvae_tf.data.pipeline)."""

import numpy as np
import pytest
import skimage.io
import tensorflow as tf

from ssvae_tf.data import (
    DataSplit,
    ReadOptions,
    count_of,
    image_shape_of,
    make_dataset,
    sources,
    split_indices,
    split_source,
)

N = 23  # 16 training and 7 validation images with validation_split=0.3


def _stack(n=N, spatial=(6, 5)):
    """Images whose constant value encodes their index: image i == i / (n - 1)."""
    return np.broadcast_to(
        (np.arange(n, dtype=np.float32) / (n - 1)).reshape(n, *([1] * (len(spatial) + 1))),
        (n, *spatial, 1),
    ).copy()


def _ids(dataset, n=N):
    """Image indices, in order, of all images in ``dataset`` (one epoch)."""
    return [round(float(image.flat[0]) * (n - 1)) for batch in dataset for image in batch.numpy()]


def _write_folder(folder, n=10, shape=(6, 5)):
    folder.mkdir()
    for i in range(n):
        skimage.io.imsave(folder / f"img{i:02d}.png", np.full(shape, 25 * i, np.uint8), check_contrast=False)
    return folder


def test_batches_shapes_and_dtype():
    train, val = make_dataset(_stack(), batch_size=4)
    train_batches, val_batches = list(train), list(val)
    assert [b.shape[0] for b in train_batches] == [4, 4, 4, 4]
    assert [b.shape[0] for b in val_batches] == [4, 3]
    assert all(b.dtype == tf.float32 and b.shape[1:] == (6, 5, 1) for b in train_batches + val_batches)
    assert train.element_spec == tf.TensorSpec((None, 6, 5, 1), tf.float32)


def test_split_is_disjoint_and_complete():
    train, val = make_dataset(_stack(), batch_size=5, seed=3)
    train_ids, val_ids = _ids(train), _ids(val)
    assert len(train_ids) == round(N * 0.7) and len(val_ids) == N - round(N * 0.7)
    assert sorted(train_ids + val_ids) == list(range(N))
    assert val_ids == sorted(val_ids)  # validation is never shuffled


def test_split_and_order_are_seeded():
    first = [_ids(d) for d in make_dataset(_stack(), seed=1)]
    again = [_ids(d) for d in make_dataset(_stack(), seed=1)]
    other = [_ids(d) for d in make_dataset(_stack(), seed=2)]
    assert first == again
    assert sorted(first[1]) != sorted(other[1])


def test_training_set_reshuffles_each_epoch_unless_disabled():
    train, _ = make_dataset(_stack(), batch_size=4, seed=0)
    epochs = [_ids(train) for _ in range(3)]
    assert all(sorted(e) == sorted(epochs[0]) for e in epochs)
    assert len({tuple(e) for e in epochs}) > 1
    fixed, _ = make_dataset(_stack(), batch_size=4, seed=0, shuffle=False, cache=False)
    assert _ids(fixed) == sorted(epochs[0]) == _ids(fixed)


def test_no_validation_split():
    train, val = make_dataset(_stack(), batch_size=8, validation_split=0.0)
    assert val is None
    assert sorted(_ids(train)) == list(range(N))


def test_three_dimensional_images():
    train, val = make_dataset(_stack(spatial=(4, 5, 3)), batch_size=4)
    assert next(iter(train)).shape == (4, 4, 5, 3, 1)
    assert image_shape_of(_stack(spatial=(4, 5, 3))) == (4, 5, 3, 1)


def test_npy_file_streams_with_same_split(tmp_path):
    np.save(tmp_path / "x.npy", _stack()[..., 0])  # no channel axis on disk
    in_memory = [_ids(d) for d in make_dataset(_stack(), seed=4, shuffle=False)]
    streamed = [_ids(d) for d in make_dataset(tmp_path / "x.npy", seed=4, shuffle=False)]
    assert streamed == in_memory
    train, _ = make_dataset(str(tmp_path / "x.npy"), batch_size=4, seed=4)
    assert sorted(_ids(train)) == sorted(in_memory[0])
    assert train.element_spec == tf.TensorSpec((None, 6, 5, 1), tf.float32)
    assert count_of(tmp_path / "x.npy") == N and image_shape_of(tmp_path / "x.npy") == (6, 5, 1)


def test_memmapped_array_is_read_by_index_not_sliced(tmp_path, monkeypatch):
    np.save(tmp_path / "x.npy", _stack())

    def fail(*args):
        raise AssertionError("a memmapped source must not be loaded as a whole")

    monkeypatch.setattr(sources.ArraySource, "take", fail)
    train, val = make_dataset(np.load(tmp_path / "x.npy", mmap_mode="r"), batch_size=4)
    assert sorted(_ids(train) + _ids(val)) == list(range(N))


def test_npz_file(tmp_path):
    np.savez(tmp_path / "x.npz", images=_stack())
    train, val = make_dataset(tmp_path / "x.npz", batch_size=6)
    assert sorted(_ids(train) + _ids(val)) == list(range(N))
    assert count_of(tmp_path / "x.npz") == N and image_shape_of(tmp_path / "x.npz") == (6, 5, 1)


def test_image_folder_streams(tmp_path):
    folder = _write_folder(tmp_path / "imgs")
    assert count_of(folder) == 10 and image_shape_of(folder) == (6, 5, 1)
    train, val = make_dataset(folder, batch_size=3, validation_split=0.3)
    train_ids = [round(float(im.flat[0]) * 255 / 25) for b in train for im in b.numpy()]
    val_ids = [round(float(im.flat[0]) * 255 / 25) for b in val for im in b.numpy()]
    assert len(train_ids) == 7 and len(val_ids) == 3
    assert sorted(train_ids + val_ids) == list(range(10))
    assert next(iter(train)).shape == (3, 6, 5, 1)


def test_folder_shape_mismatch_is_found_up_front(tmp_path):
    folder = _write_folder(tmp_path / "imgs", n=4)
    skimage.io.imsave(folder / "img99.png", np.zeros((7, 5), np.uint8), check_contrast=False)
    with pytest.raises(ValueError, match=r"img99.png has shape \(7, 5, 1\), but .*img00.png has shape "
                                         r"\(6, 5, 1\).*--patch-size N"):
        make_dataset(folder, validation_split=0.0)


def test_folder_bad_value_surfaces_during_iteration(tmp_path):
    folder = _write_folder(tmp_path / "imgs", n=1)  # img00.png: all 0
    skimage.io.imsave(folder / "img01.png", np.full((6, 5), 3, np.uint8), check_contrast=False)
    train, _ = make_dataset(folder, validation_split=0.0, read=ReadOptions(phases=3))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"img01.png has values in \[3, 3\]; expected "
                                                             r"integer labels 0..2"):
        list(train)


def test_data_split_of_whole_images():
    images = _stack()
    split = split_source(images, validation_split=0.3, seed=5)
    train_idx, val_idx = split_indices(N, 0.3, 5)
    assert isinstance(split, DataSplit) and split.image_shape == (6, 5, 1)
    assert (split.n_train, split.n_validation) == (len(train_idx), len(val_idx))
    assert split.read == ReadOptions()
    np.testing.assert_array_equal(split.validation_index(3), val_idx[:3])
    np.testing.assert_array_equal(split.validation_images(3), images[val_idx[:3]])
    np.testing.assert_array_equal(split.validation_images(), images[val_idx])
    np.testing.assert_array_equal(split.training_images(), images[train_idx])
    assert _ids(split.validation_dataset(4)) == list(val_idx)
    assert sorted(_ids(split.train_dataset(4))) == list(train_idx)
    assert split_source(images, validation_split=0.0).validation_dataset(4) is None


def test_data_split_of_a_folder_reads_files(tmp_path):
    folder = _write_folder(tmp_path / "imgs")
    split = split_source(folder, validation_split=0.3, seed=1)
    _, val_idx = split_indices(10, 0.3, 1)
    expected = np.stack([np.full((6, 5, 1), 25 * i / 255, np.float32) for i in val_idx])
    np.testing.assert_allclose(split.validation_images(), expected, atol=1e-7)
    np.testing.assert_array_equal(split.validation_index(), val_idx)
    alone = split_source(folder, validation_split=0.0)
    assert alone.validation_images().shape == (0, 6, 5, 1) and alone.validation_index().shape == (0,)


def test_make_dataset_reads_labels():
    labels = np.arange(N, dtype=np.int64).reshape(N, 1, 1).repeat(6, 1).repeat(5, 2)
    train, val = make_dataset(labels, batch_size=5, seed=3, read=ReadOptions(phases=N))
    reference = [_ids(d) for d in make_dataset(_stack(), batch_size=5, seed=3)]
    assert [_ids(train), _ids(val)] == reference


@pytest.mark.parametrize(
    "source, kwargs, message",
    [
        (np.zeros((0, 6, 5, 1)), {}, "no images"),
        (np.zeros((1, 6, 5, 1)), {}, "each part needs at least 1 image"),
        (np.zeros((4, 6, 5, 1)), dict(validation_split=0.9), "each part needs at least 1 image"),
        (np.zeros((4, 6, 5, 1)), dict(batch_size=0), "batch_size must be"),
        (np.zeros((4, 6, 5, 1)), dict(validation_split=1.0), r"validation_split must be in \[0, 1\)"),
        (np.zeros((4, 6, 5, 1)), dict(validation_split=-0.1), "validation_split"),
        (np.zeros((4, 6)), {}, "2 or 3 spatial axes"),
        (np.full((4, 6, 5, 1), 2.0), {}, r"expected values in \[0, 1\]"),
        (np.full((4, 6, 5, 1), 2), dict(read=ReadOptions(phases=2)), r"expected integer labels 0..1"),
        (np.zeros((4, 6, 5, 1)), dict(read=ReadOptions(threshold="otsu")), "more than one grey level"),
        ([[0.0]], {}, "source must be"),
        ("/nonexistent/data.npy", {}, "does not exist"),
    ],
)
def test_errors(source, kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_dataset(source, **kwargs)
