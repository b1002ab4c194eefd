"""tf.data pipelines of image batches (no labels) with a seeded train/validation split."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from ssvae_tf._checks import check_positive_int, is_real
from .sources import ArraySource, FolderSource, Source, describe, open_source


def count_of(source: Source) -> int:
    """Number of images in ``source`` (array, .npy/.npz path or image folder)."""
    return describe(source)[0]


def image_shape_of(source: Source) -> tuple[int, ...]:
    """Shape ``(*spatial, 1)`` of one image of ``source``, without loading all of it."""
    return describe(source)[1]


def _check_split(validation_split: float) -> float:
    if not is_real(validation_split) or not 0 <= validation_split < 1:
        raise ValueError(f"validation_split must be in [0, 1), got {validation_split!r}")
    return float(validation_split)


def split_indices(n: int, validation_split: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of ``range(n)`` into sorted int64 (train, validation) indices.

    A ``default_rng(seed)`` permutation is cut after ``round(n * (1 - split))``
    entries; the first part is the training set.

    Raises:
        ValueError: if a part that should exist would be empty.
    """
    if n == 0:
        raise ValueError("the source holds no images (n == 0)")
    n_train = round(n * (1 - validation_split))
    n_val = n - n_train
    if n_train < 1 or (validation_split > 0 and n_val < 1):
        raise ValueError(
            f"validation_split={validation_split} splits {n} images into {n_train} for training "
            f"and {n_val} for validation; each part needs at least 1 image"
        )
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[:n_train]), np.sort(order[n_train:])


def _maybe_shuffle(
    dataset: tf.data.Dataset, size: int, shuffle: bool, seed: int
) -> tf.data.Dataset:
    if not shuffle:
        return dataset
    return dataset.shuffle(size, seed=seed, reshuffle_each_iteration=True)


def _images(
    source: ArraySource | FolderSource, indices: np.ndarray, shuffle: bool, seed: int, cache: bool
) -> tf.data.Dataset:
    """Unbatched float32 images (*spatial, 1) of ``source`` at ``indices``.

    In-memory arrays are sliced directly (and cached if asked); streamed sources
    shuffle the indices and read each image through ``tf.numpy_function``.
    """
    if not source.streamed:
        dataset = tf.data.Dataset.from_tensor_slices(source.take(indices))
        if cache:
            dataset = dataset.cache()
        return _maybe_shuffle(dataset, len(indices), shuffle, seed)
    shape = source.image_shape

    def read(index: tf.Tensor) -> tf.Tensor:
        image = tf.numpy_function(source.read, [index], tf.float32)
        return tf.ensure_shape(image, shape)

    dataset = tf.data.Dataset.from_tensor_slices(indices)
    dataset = _maybe_shuffle(dataset, len(indices), shuffle, seed)
    return dataset.map(read, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def make_dataset(
    source: Source,
    batch_size: int = 32,
    validation_split: float = 0.3,
    shuffle: bool = True,
    seed: int = 0,
    cache: bool = True,
) -> tuple[tf.data.Dataset, tf.data.Dataset | None]:
    """Build (train, validation) datasets of image batches from ``source``.

    Args:
        source: float array (n, *spatial, 1) or (n, *spatial) with values in
            [0, 1] (a memmap is streamed), a path to a .npy (memmapped, streamed)
            or .npz (read into memory) file, or a folder of same-shape PNG/TIFF
            images (streamed); 2 or 3 spatial axes.
        batch_size: images per batch, >= 1; the last batch may be smaller.
        validation_split: fraction of images held out, in [0, 1); 0 gives no
            validation set.
        shuffle: reshuffle the training set every epoch (seeded); the
            validation set is never shuffled.
        seed: seed of the split and of the shuffling.
        cache: cache in-memory sources after the first epoch (streamed sources
            are never cached).

    Returns:
        ``(train, validation)``: datasets of float32 batches (batch, *spatial, 1),
        images only; ``validation`` is None when ``validation_split == 0``.

    Raises:
        ValueError: on bad arguments or data. A folder image whose shape differs
            from the first image's, or whose values are invalid, is found only
            when read, and surfaces during iteration as
            ``tf.errors.InvalidArgumentError`` carrying the ValueError message.
    """
    batch_size = check_positive_int(batch_size, "batch_size")
    validation_split = _check_split(validation_split)
    opened = open_source(source)
    train_indices, val_indices = split_indices(opened.count, validation_split, seed)

    def batched(indices: np.ndarray, shuffled: bool) -> tf.data.Dataset:
        images = _images(opened, indices, shuffled, seed, cache)
        return images.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    train = batched(train_indices, shuffle)
    validation = batched(val_indices, False) if validation_split > 0 else None
    return train, validation
