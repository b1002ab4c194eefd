"""tf.data pipelines of image batches (no labels) with a seeded train/validation split,
of whole images or of random crops (``Patches``).

``split_source`` opens a source and splits it into a ``DataSplit``: the one
object a run asks for its datasets, its image shape, its read options and
the images the evaluation compares against.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable

import numpy as np
import tensorflow as tf

from ssvae_tf._checks import check_bool, check_positive_int, is_real
from .sources import OpenedSource, ReadOptions, Source, describe, open_source

#: Seeds (with the run's seed) of the fixed crop sets, one stream each.
_VALIDATION_STREAM, _TRAINING_SAMPLE_STREAM = 1, 2


@dataclass(frozen=True)
class Patches:
    """Train on random square (2-D) or cubic (3-D) crops instead of whole images.

    Attributes:
        size: side of a crop in pixels, >= 1.
        per_epoch: crops drawn per training epoch; None draws enough to cover
            the training pixels once, ``ceil(training pixels / crop pixels)``,
            and at least ``min_pixels`` pixels and ``min_crops`` crops.
        slab: split every image along its first spatial axis (the first rows
            or slices train, the rest validate) instead of holding out whole
            images.
        min_pixels: with ``per_epoch`` None, the fewest pixels (voxels) the crops of an epoch hold.
        min_crops: with ``per_epoch`` None, the fewest crops of an epoch.
    """

    size: int
    per_epoch: int | None = None
    slab: bool = False
    min_pixels: int = 0
    min_crops: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", check_positive_int(self.size, "Patches.size"))
        if self.per_epoch is not None:
            object.__setattr__(self, "per_epoch", check_positive_int(self.per_epoch, "Patches.per_epoch"))
        object.__setattr__(self, "slab", check_bool(self.slab, "Patches.slab"))
        object.__setattr__(self, "min_pixels", check_positive_int(self.min_pixels, "Patches.min_pixels", minimum=0))
        object.__setattr__(self, "min_crops", check_positive_int(self.min_crops, "Patches.min_crops", minimum=0))


def count_of(source: Source) -> int:
    """Number of images in ``source`` (array, .npy/.npz path or image folder)."""
    return describe(source, same_size=False)[0]


def image_shape_of(source: Source, patches: Patches | None = None) -> tuple[int, ...]:
    """Shape ``(*spatial, 1)`` of what the model sees from ``source``, without loading it:
    one image, or with ``patches`` one crop (then images may differ in size)."""
    image_shape = describe(source, same_size=patches is None)[1]
    return image_shape if patches is None else (patches.size,) * (len(image_shape) - 1) + (1,)


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


def _streamed(items: tf.data.Dataset, read: Callable[[np.ndarray], np.ndarray],
              shape: tuple[int, ...]) -> tf.data.Dataset:
    """Map each element of ``items`` through ``read`` (NumPy, returning float32 ``shape``)."""

    def mapped(item: tf.Tensor) -> tf.Tensor:
        return tf.ensure_shape(tf.numpy_function(read, [item], tf.float32), shape)

    return items.map(mapped, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def _maybe_shuffle(
    dataset: tf.data.Dataset, size: int, shuffle: bool, seed: int
) -> tf.data.Dataset:
    if not shuffle:
        return dataset
    return dataset.shuffle(size, seed=seed, reshuffle_each_iteration=True)


def _images(
    source: OpenedSource, indices: np.ndarray, shuffle: bool, seed: int, cache: bool
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
    dataset = _maybe_shuffle(tf.data.Dataset.from_tensor_slices(indices), len(indices), shuffle, seed)
    return _streamed(dataset, source.read, source.image_shape)


def _check_count(n: int | None, name: str) -> int | None:
    return None if n is None else check_positive_int(n, name)


class DataSplit(ABC):
    """A run's data: a source opened with its read options, split into training and validation.

    Attributes:
        source: the opened source.
        read: the read options used, with a numeric threshold where one was asked for.
        image_shape: the model's input ``(*spatial, 1)`` (a crop's with patches).
        n_train, n_validation: training images and validation images, or with
            patches crops per epoch and fixed validation crops (0 without a
            validation split).
    """

    source: OpenedSource
    seed: int

    @property
    def read(self) -> ReadOptions:
        return self.source.options

    @property
    @abstractmethod
    def image_shape(self) -> tuple[int, ...]: ...

    @property
    @abstractmethod
    def n_train(self) -> int: ...

    @property
    @abstractmethod
    def n_validation(self) -> int: ...

    @abstractmethod
    def _training_elements(self, shuffle: bool, cache: bool) -> tf.data.Dataset:
        """Unbatched float32 training images or crops of one epoch."""

    @abstractmethod
    def _validation_elements(self) -> tf.data.Dataset:
        """Unbatched float32 validation images or crops, in a fixed order."""

    @abstractmethod
    def validation_images(self, n: int | None = None) -> np.ndarray:
        """The first ``n`` (all if None) validation images, in source order, or fixed
        validation crops: float32 ``(k, *spatial, 1)``."""

    @abstractmethod
    def validation_index(self, n: int | None = None) -> np.ndarray:
        """int64 ``(k,)``: the source indices of ``validation_images(n)``, or its crop numbers."""

    @abstractmethod
    def training_images(self, limit: int | None = None) -> np.ndarray:
        """float32 ``(k, *spatial, 1)``: the training images (the first ``limit`` if given), or
        with patches a fixed seeded sample of ``limit`` (default: crops per epoch) training crops."""

    def train_dataset(self, batch_size: int, shuffle: bool = True, cache: bool = True) -> tf.data.Dataset:
        """Training batches, float32 (batch, *spatial, 1); the last batch may be smaller.

        Args:
            batch_size: images per batch, >= 1.
            shuffle: reshuffle whole images every epoch (seeded); crops are
                random anyway.
            cache: cache in-memory whole images after the first epoch (streamed
                sources and crops are never cached).
        """
        batch_size = check_positive_int(batch_size, "batch_size")
        return self._training_elements(shuffle, cache).batch(batch_size).prefetch(tf.data.AUTOTUNE)

    def validation_dataset(self, batch_size: int) -> tf.data.Dataset | None:
        """Validation batches, float32 (batch, *spatial, 1), the same every epoch; None
        without a validation split."""
        batch_size = check_positive_int(batch_size, "batch_size")
        if self.n_validation == 0:
            return None
        return self._validation_elements().batch(batch_size).prefetch(tf.data.AUTOTUNE)


@dataclass(frozen=True, eq=False)
class _ImageSplit(DataSplit):
    """Whole images, split by ``split_indices``."""

    source: OpenedSource
    seed: int
    train_index: np.ndarray
    held_out: np.ndarray

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.source.image_shape)

    @property
    def n_train(self) -> int:
        return len(self.train_index)

    @property
    def n_validation(self) -> int:
        return len(self.held_out)

    def _training_elements(self, shuffle: bool, cache: bool) -> tf.data.Dataset:
        return _images(self.source, self.train_index, shuffle, self.seed, cache)

    def _validation_elements(self) -> tf.data.Dataset:
        return _images(self.source, self.held_out, False, self.seed, True)

    def validation_images(self, n: int | None = None) -> np.ndarray:
        return self.source.take(self.validation_index(n))

    def validation_index(self, n: int | None = None) -> np.ndarray:
        return self.held_out[:_check_count(n, "n")].copy()

    def training_images(self, limit: int | None = None) -> np.ndarray:
        return self.source.take(self.train_index[:_check_count(limit, "limit")])


@dataclass(frozen=True, eq=False)
class _Regions:
    """Regions of images that crops are drawn from, one per row.

    Attributes:
        index: int64 (r,), the image of each region.
        start: int64 (r, rank), its corner in the image.
        shape: int64 (r, rank), its sides, each at least the crop size.
    """

    index: np.ndarray
    start: np.ndarray
    shape: np.ndarray

    @property
    def rank(self) -> int:
        return self.start.shape[1]

    @property
    def pixels(self) -> int:
        return int(np.prod(self.shape, axis=1).sum())

    def draw(self, rng: np.random.Generator, count: int, size: int) -> tuple[np.ndarray, np.ndarray]:
        """``count`` crops of side ``size``: a uniform region each, a uniform corner where the
        crop fits in it. Returns (image index (count,), corner (count, rank)), int64."""
        region = rng.integers(len(self.index), size=count)
        corner = self.start[region] + rng.integers(0, self.shape[region] - size + 1)
        return self.index[region], corner


_PARTS = ("training", "validation")


def _region(source: OpenedSource, index: int, patches: Patches, validation_split: float,
            part: int) -> tuple[list[int], list[int]]:
    """``(start, sides)`` of the part (0 training, 1 validation) of image ``index`` that crops
    come from: the whole image, or with a slab the first ``round(side * (1 - validation_split))``
    rows/slices (part 0) or the rest (part 1).

    Raises:
        ValueError: naming the image if it (or its slab) is smaller than the crop.
    """
    image_shape = source.shape_of(index)
    sides = list(image_shape[:-1])
    if min(sides) < patches.size:
        raise ValueError(f"{source.label(index)} has shape {image_shape}, smaller than the crop size "
                         f"{patches.size}")
    start = [0] * len(sides)
    if patches.slab:
        cut = round(sides[0] * (1 - validation_split))
        start[0], sides[0] = (0, cut) if part == 0 else (cut, sides[0] - cut)
        if sides[0] < patches.size:
            raise ValueError(
                f"{source.label(index)} has shape {image_shape}; its {_PARTS[part]} slab has {sides[0]} "
                f"px along the first axis (validation_split={validation_split}), smaller than the crop "
                f"size {patches.size}"
            )
    return start, sides


def _regions(source: OpenedSource, indices: np.ndarray, patches: Patches,
             validation_split: float, part: int) -> _Regions:
    """The regions (see ``_region``) of images ``indices`` that crops of one part come from."""
    starts, sides = zip(*(_region(source, index, patches, validation_split, part) for index in indices))
    return _Regions(np.asarray(indices, np.int64), np.array(starts, np.int64), np.array(sides, np.int64))


@dataclass(frozen=True, eq=False)
class _CropSplit(DataSplit):
    """Random crops of training regions, and a fixed set of validation crops."""

    source: OpenedSource
    seed: int
    patches: Patches
    train_regions: _Regions
    per_epoch: int
    validation_crops: tuple[np.ndarray, np.ndarray]

    @property
    def image_shape(self) -> tuple[int, ...]:
        return (self.patches.size,) * self.train_regions.rank + (1,)

    @property
    def n_train(self) -> int:
        return self.per_epoch

    @property
    def n_validation(self) -> int:
        return len(self.validation_crops[0])

    def _read(self, crops: tuple[np.ndarray, np.ndarray], number: int) -> np.ndarray:
        index, corner = crops
        return self.source.crop(index[number], tuple(corner[number]), self.patches.size)

    def _read_all(self, crops: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        images = [self._read(crops, number) for number in range(len(crops[0]))]
        return np.array(images, np.float32).reshape((-1, *self.image_shape))

    def _random_crop(self, seed: np.ndarray) -> np.ndarray:
        """The crop that a 64-bit seed from ``tf.data.Dataset.random`` picks."""
        rng = np.random.default_rng(int(seed) % 2**64)
        return self._read(self.train_regions.draw(rng, 1, self.patches.size), 0)

    def _training_elements(self, shuffle: bool, cache: bool) -> tf.data.Dataset:
        seeds = tf.data.Dataset.random(seed=self.seed, rerandomize_each_iteration=True)
        return _streamed(seeds.take(self.per_epoch), self._random_crop, self.image_shape)

    def _validation_crop(self, number: np.ndarray) -> np.ndarray:
        return self._read(self.validation_crops, int(number))

    def _validation_elements(self) -> tf.data.Dataset:
        numbers = tf.data.Dataset.range(self.n_validation)
        return _streamed(numbers, self._validation_crop, self.image_shape)

    def validation_images(self, n: int | None = None) -> np.ndarray:
        n = _check_count(n, "n")
        return self._read_all(tuple(part[:n] for part in self.validation_crops))

    def validation_index(self, n: int | None = None) -> np.ndarray:
        return np.arange(self.n_validation, dtype=np.int64)[:_check_count(n, "n")]

    def training_images(self, limit: int | None = None) -> np.ndarray:
        count = _check_count(limit, "limit") or self.per_epoch
        rng = np.random.default_rng([self.seed, _TRAINING_SAMPLE_STREAM])
        return self._read_all(self.train_regions.draw(rng, count, self.patches.size))


def _validation_crops(source: OpenedSource, held_out: np.ndarray, patches: Patches,
                      validation_split: float, seed: int, per_epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """The fixed, seeded validation crops: ``max(1, round(per_epoch * split / (1 - split)))``
    of them (none without a split), as (image index, corner)."""
    if validation_split == 0:
        return np.zeros(0, np.int64), np.zeros((0, len(source.shape_of(0)) - 1), np.int64)
    count = max(1, round(per_epoch * validation_split / (1 - validation_split)))
    regions = _regions(source, held_out, patches, validation_split, 1)
    return regions.draw(np.random.default_rng([seed, _VALIDATION_STREAM]), count, patches.size)


def _crop_split(source: OpenedSource, validation_split: float, seed: int, patches: Patches) -> _CropSplit:
    if patches.slab and validation_split == 0:
        raise ValueError("Patches(slab=True) cuts every image by validation_split; expected "
                         "validation_split > 0, got 0")
    if patches.slab:
        train_index = held_out = split_indices(source.count, 0.0, seed)[0]  # every image; none: an error
    else:
        train_index, held_out = split_indices(source.count, validation_split, seed)
    train = _regions(source, train_index, patches, validation_split, 0)
    per_epoch = patches.per_epoch or max(math.ceil(max(train.pixels, patches.min_pixels) / patches.size ** train.rank),
                                         patches.min_crops)
    validation = _validation_crops(source, held_out, patches, validation_split, seed, per_epoch)
    return _CropSplit(source, seed, patches, train, per_epoch, validation)


def split_source(
    source: Source,
    validation_split: float = 0.3,
    seed: int = 0,
    read: ReadOptions = ReadOptions(),
    patches: Patches | None = None,
) -> DataSplit:
    """Open ``source`` and split it, seeded, into training and validation data.

    Args:
        source: float array (n, *spatial, 1) or (n, *spatial) (a memmap is
            streamed), a path to a .npy (memmapped, streamed) or .npz (read into
            memory) file, or a folder of PNG/TIFF images or multi-page TIFF
            volumes (streamed); 2 or 3 spatial axes.
        validation_split: fraction held out, in [0, 1); 0 gives no validation
            data. Whole images are split by ``split_indices``; with
            ``patches.slab`` every image is cut along its first axis instead.
        seed: seed of the split, the shuffling and the crops.
        read: how stored values become images; ``threshold="otsu"`` is
            resolved here (``DataSplit.read`` holds the number).
        patches: train on random crops of images of any size (``Patches``);
            None trains on whole images of one shape.

    Raises:
        ValueError: on bad arguments or data (one line naming the problem).
    """
    validation_split = _check_split(validation_split)
    opened = open_source(source, read, same_size=patches is None)
    if patches is not None:
        return _crop_split(opened, validation_split, seed, patches)
    return _ImageSplit(opened, seed, *split_indices(opened.count, validation_split, seed))


def make_dataset(
    source: Source,
    batch_size: int = 32,
    validation_split: float = 0.3,
    shuffle: bool = True,
    seed: int = 0,
    cache: bool = True,
    *,
    read: ReadOptions = ReadOptions(),
    patches: Patches | None = None,
) -> tuple[tf.data.Dataset, tf.data.Dataset | None]:
    """Build (train, validation) datasets of image batches from ``source``.

    Args:
        source, validation_split, seed, read, patches: as for ``split_source``.
        batch_size: images per batch, >= 1; the last batch may be smaller.
        shuffle: reshuffle the training images every epoch (seeded); the
            validation set is never shuffled.
        cache: cache in-memory sources after the first epoch (streamed
            sources are never cached).

    Returns:
        ``(train, validation)``: datasets of float32 batches (batch, *spatial, 1),
        images only; ``validation`` is None when ``validation_split == 0``.

    Raises:
        ValueError: on bad arguments or data. Folder images are value-checked
            only when read: a bad value surfaces during iteration as
            ``tf.errors.InvalidArgumentError`` carrying the ValueError message.
    """
    batch_size = check_positive_int(batch_size, "batch_size")
    split = split_source(source, validation_split, seed, read, patches)
    return split.train_dataset(batch_size, shuffle, cache), split.validation_dataset(batch_size)
