"""Training-time augmentation that leaves periodic two-point statistics unchanged.

A periodic (circular) translation moves every pixel but keeps every periodic
autocorrelation and cross-correlation exactly: ``f(r)`` averages over all
positions ``x`` of the torus.  A VAE trained on periodic statistics therefore
has no use for absolute positions; shifting each training image by a random
offset shows its encoder that, and turns ``n`` images into ``n x H x W``
distinct inputs with the same statistics.
"""

from __future__ import annotations

import keras
import tensorflow as tf


def random_periodic_shift(images: tf.Tensor, seed: keras.random.SeedGenerator | int | None = None) -> tf.Tensor:
    """Roll each image by its own uniform random offset along every spatial axis, wrapping around.

    Args:
        images: ``(batch, *spatial, channels)`` with static spatial sides
            (2-D or 3-D); any float dtype.
        seed: a ``keras.random.SeedGenerator`` (a new draw per call, also
            inside a compiled ``train_step``), an int, or ``None``.

    Returns:
        ``images`` shifted: output ``[b, i, j, ...] = images[b, (i + s_b) % H,
        (j + t_b) % W, ...]`` with ``s_b, t_b, ...`` uniform over all offsets;
        same shape and dtype.  Graph- and XLA-compatible (a batched gather).
    """
    images = tf.convert_to_tensor(images)
    batch = tf.shape(images)[0]
    for axis in range(1, images.shape.rank - 1):
        side = int(images.shape[axis])
        offsets = keras.random.randint([batch], 0, side, dtype="int32", seed=seed)
        index = (tf.range(side, dtype=tf.int32)[None, :] + offsets[:, None]) % side
        images = tf.gather(images, index, axis=axis, batch_dims=1)
    return images
