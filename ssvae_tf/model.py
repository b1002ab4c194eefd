"""The spatial-statistics VAE: convolutional encoder/decoder and the Keras model.

Loss per sample (averaged over the batch):

    alpha * d(f(x), f(x_hat)) + beta * KL(q(z|x) || N(0, I)) + gamma * data(x, x_hat)

where ``d`` is :func:`ssvae_tf.spatial_stats.spatial_stats_distance` between
the two-point statistics of the input and its reconstruction, KL is summed over
the latent dimensions and ``data`` is a pixel loss (summed over pixels for
``sse``/``bce``, averaged for ``mse``).  ``alpha=0, gamma=1`` is the paper's
data-space baseline.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from ssvae_tf.augment import random_periodic_shift
from ssvae_tf.settings import (
    DATA_LOSSES,
    DEFAULT_FILTERS,
    DEFAULT_HIDDEN_UNITS,
    DEFAULT_LATENT_DIM,
    MAX_SIDE,
    MIN_SIDE,
)
from ssvae_tf.spatial_stats import StatsOptions


_CONV = {2: layers.Conv2D, 3: layers.Conv3D}
_CONV_T = {2: layers.Conv2DTranspose, 3: layers.Conv3DTranspose}
_CROP = {2: layers.Cropping2D, 3: layers.Cropping3D}


def _check_architecture(image_shape: Sequence[int], latent_dim: int, depth: int, filters: int) -> tuple[int, ...]:
    shape = tuple(int(s) for s in image_shape)
    if len(shape) not in (3, 4):
        raise ValueError(
            f"image_shape must be (height, width, channels) or (depth, height, width, channels), got {shape}"
        )
    if not all(MIN_SIDE <= s <= MAX_SIDE for s in shape[:-1]):
        raise ValueError(f"image sides must be between {MIN_SIDE} and {MAX_SIDE} pixels, got {shape[:-1]}")
    if shape[-1] < 1:
        raise ValueError(f"image_shape needs at least 1 channel, got {shape[-1]}")
    if latent_dim < 1:
        raise ValueError(f"latent_dim must be >= 1, got {latent_dim}")
    if filters < 1:
        raise ValueError(f"filters must be >= 1, got {filters}")
    if not 1 <= depth <= int(math.log2(min(shape[:-1]))) - 1:
        raise ValueError(
            f"depth must be between 1 and {int(math.log2(min(shape[:-1]))) - 1} for image sides "
            f"{shape[:-1]}, got {depth}"
        )
    return shape


def _level_filters(filters: int, level: int) -> int:
    """Filters at a resolution level: doubling per level, capped at 8x."""
    return filters * 2 ** min(level, 3)


def build_encoder(
    image_shape: Sequence[int] = (64, 64, 1),
    latent_dim: int = DEFAULT_LATENT_DIM,
    depth: int = 4,
    filters: int = DEFAULT_FILTERS,
    hidden_units: int = DEFAULT_HIDDEN_UNITS,
    activation: str = "relu",
    name: str = "encoder",
) -> keras.Model:
    """Convolutional encoder ``images -> [z_mean, z_log_var]``.

    Args:
        image_shape: ``(H, W, C)`` or ``(D, H, W, C)``, each side 16..256 px.
        latent_dim: size of the latent space.
        depth: number of stride-2 convolutions (each halves the resolution).
        filters: filters of the first convolution (doubling per level, capped 8x).
        hidden_units: width of the dense layer before the latent heads.

    Returns:
        A functional model: input ``images`` float32 ``(batch, *image_shape)``,
        outputs ``[z_mean, z_log_var]``, each ``(batch, latent_dim)``.
    """
    shape = _check_architecture(image_shape, latent_dim, depth, filters)
    conv = _CONV[len(shape) - 1]
    images = keras.Input(shape=shape, name="images")
    h = images
    for level in range(depth):
        h = conv(_level_filters(filters, level), 3, strides=2, padding="same", activation=activation,
                 name=f"down_{level}")(h)
    h = layers.Flatten(name="flatten")(h)
    h = layers.Dense(hidden_units, activation=activation, name="hidden")(h)
    z_mean = layers.Dense(latent_dim, name="z_mean")(h)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(h)
    return keras.Model(images, [z_mean, z_log_var], name=name)


def build_decoder(
    image_shape: Sequence[int] = (64, 64, 1),
    latent_dim: int = DEFAULT_LATENT_DIM,
    depth: int = 4,
    filters: int = DEFAULT_FILTERS,
    hidden_units: int = DEFAULT_HIDDEN_UNITS,
    activation: str = "relu",
    name: str = "decoder",
) -> keras.Model:
    """Transposed-convolution decoder ``z -> images``, the mirror of :func:`build_encoder`.

    Returns:
        A functional model: input ``z`` float32 ``(batch, latent_dim)``, output
        ``images`` ``(batch, *image_shape)`` in (0, 1) (sigmoid).  Sides that
        are not multiples of ``2**depth`` are cropped to the exact size.
    """
    shape = _check_architecture(image_shape, latent_dim, depth, filters)
    rank = len(shape) - 1
    start = [math.ceil(s / 2**depth) for s in shape[:-1]]
    top = _level_filters(filters, depth - 1)
    z = keras.Input(shape=(latent_dim,), name="z")
    h = layers.Dense(hidden_units, activation=activation, name="hidden")(z)
    h = layers.Dense(int(np.prod(start)) * top, activation=activation, name="expand")(h)
    h = layers.Reshape((*start, top), name="reshape")(h)
    for level in reversed(range(depth)):
        h = _CONV_T[rank](_level_filters(filters, level), 3, strides=2, padding="same",
                          activation=activation, name=f"up_{level}")(h)
    h = _CONV[rank](shape[-1], 3, padding="same", activation="sigmoid", name="to_image")(h)
    excess = [s * 2**depth - n for s, n in zip(start, shape[:-1])]
    if any(excess):
        h = _CROP[rank](tuple((0, e) for e in excess), name="crop")(h)
    return keras.Model(z, h, name=name)


def _per_sample_data_loss(x: tf.Tensor, x_hat: tf.Tensor, kind: str) -> tf.Tensor:
    axes = list(range(1, x.shape.rank))
    if kind == "bce":
        p = tf.clip_by_value(x_hat, 1e-7, 1.0 - 1e-7)
        return -tf.reduce_sum(x * tf.math.log(p) + (1.0 - x) * tf.math.log(1.0 - p), axis=axes)
    squared = tf.square(x - x_hat)
    return tf.reduce_sum(squared, axis=axes) if kind == "sse" else tf.reduce_mean(squared, axis=axes)


def _kl_divergence(z_mean: tf.Tensor, z_log_var: tf.Tensor) -> tf.Tensor:
    """KL(N(mean, exp(log_var)) || N(0, I)) summed over latent dims: ``(batch,)``."""
    return -0.5 * tf.reduce_sum(1.0 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var), axis=1)


@keras.saving.register_keras_serializable(package="ssvae_tf")
class SpatialStatsVAE(keras.Model):
    """A VAE whose reconstruction loss lives in spatial-statistics space.

    Args:
        encoder: functional model ``images -> [z_mean, z_log_var]``.
        decoder: functional model ``z -> images`` in (0, 1).
        alpha: weight of the statistics distance.
        beta: weight of the KL term.
        gamma: weight of the pixel ("data-space") loss; ``alpha=0, gamma=1``
            is the paper's baseline.
        data_loss: ``"sse"`` (sum of squares, the paper's baseline), ``"mse"``
            or ``"bce"`` (summed binary cross-entropy).
        stats_options: the statistics the loss compares, a
            :class:`~ssvae_tf.spatial_stats.StatsOptions` or a dict of its
            fields (``None``: the paper's).
        seed: seed of the reparameterisation noise.
        shift_augment: shift every training image by its own random periodic
            offset (:func:`ssvae_tf.augment.random_periodic_shift`) before the
            loss; validation images are not shifted.  Periodic statistics are
            unchanged by such shifts, so for a statistics VAE this adds data
            without changing its targets.

    Metrics logged by ``fit``/``evaluate``: ``loss`` = ``stats_loss`` +
    ``kl_loss`` + ``data_loss`` (the weighted terms), and two unweighted
    measures that compare across runs whatever alpha/beta/gamma/scale are:
    ``stats_distance`` (mean squared difference per lag and correlation of the
    configured statistics) and ``pixel_mse``.  Validation (``test_step``)
    decodes ``z_mean``, the deterministic reconstruction, so ``val_*``
    metrics do not fluctuate with the sampling noise; it also logs
    ``prior_stats_distance``, how far the statistics of decoded prior samples
    are from the data's (a measure of the latent space as a generator).
    """

    def __init__(
        self,
        encoder: keras.Model,
        decoder: keras.Model,
        alpha: float = 1.0,
        beta: float = 1.0,
        gamma: float = 0.0,
        data_loss: str = "sse",
        stats_options: StatsOptions | dict[str, Any] | None = None,
        seed: int | None = None,
        shift_augment: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for label, weight in (("alpha", alpha), ("beta", beta), ("gamma", gamma)):
            if not (np.isfinite(weight) and weight >= 0):
                raise ValueError(f"{label} must be a finite number >= 0, got {weight!r}")
        if alpha == 0 and gamma == 0:
            raise ValueError("alpha and gamma are both 0: nothing would be reconstructed; set one > 0")
        if data_loss not in DATA_LOSSES:
            raise ValueError(f"data_loss must be one of {DATA_LOSSES}, got {data_loss!r}")
        if tuple(encoder.input_shape[1:]) != tuple(decoder.output_shape[1:]):
            raise ValueError(
                f"encoder input {encoder.input_shape[1:]} and decoder output {decoder.output_shape[1:]} differ"
            )
        self.encoder = encoder
        self.decoder = decoder
        self.image_shape = tuple(encoder.input_shape[1:])
        self.latent_dim = int(decoder.input_shape[-1])
        self.alpha, self.beta, self.gamma = float(alpha), float(beta), float(gamma)
        self.data_loss = data_loss
        self.stats_options = StatsOptions.from_json(stats_options)
        if self.stats_options.kind is None and max(map(max, self.stats_options.correlations)) >= self.image_shape[-1]:
            raise ValueError(f"correlations {self.stats_options.correlations} name states beyond the "
                             f"{self.image_shape[-1]} channel(s) of the images (kind=None: images are indicators)")
        self.seed = seed
        self.shift_augment = bool(shift_augment)
        self.seed_generator = keras.random.SeedGenerator(seed)
        names = ("loss", "stats_loss", "kl_loss", "data_loss", "stats_distance", "pixel_mse",
                 "prior_stats_distance")
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}
        self.build((None, *self.image_shape))

    def build(self, input_shape=None) -> None:
        """The functional encoder and decoder are built already."""
        self.built = True

    # ------------------------------------------------------------------ API
    def encode(self, x, training: bool = False) -> tuple[tf.Tensor, tf.Tensor]:
        """``(batch, *image_shape) -> (z_mean, z_log_var)``, each ``(batch, latent_dim)``."""
        z_mean, z_log_var = self.encoder(x, training=training)
        return z_mean, z_log_var

    def decode(self, z, training: bool = False) -> tf.Tensor:
        """``(batch, latent_dim) -> (batch, *image_shape)`` in (0, 1)."""
        return self.decoder(z, training=training)

    def call(self, x, training: bool = False) -> tf.Tensor:
        """Deterministic reconstruction: decode ``z_mean``."""
        z_mean, _ = self.encode(x, training=training)
        return self.decode(z_mean, training=training)

    def sample(self, n: int, seed: int | None = None) -> np.ndarray:
        """Decode ``n`` draws of the prior ``z ~ N(0, I)``: ``(n, *image_shape)``."""
        z = np.random.default_rng(seed).standard_normal((int(n), self.latent_dim)).astype(np.float32)
        return np.asarray(self.decode(z))

    @property
    def metrics(self):
        return list(self.trackers.values())

    # ----------------------------------------------------------- training
    def _loss_terms(self, x: tf.Tensor, training: bool) -> dict[str, tf.Tensor]:
        x = tf.cast(x, tf.float32)
        # float32 for the loss even under a mixed-precision policy (FFTs need it)
        z_mean, z_log_var = (tf.cast(t, tf.float32) for t in self.encode(x, training=training))
        if training:
            noise = keras.random.normal(tf.shape(z_mean), seed=self.seed_generator)
            z = z_mean + tf.exp(0.5 * z_log_var) * noise
        else:
            z = z_mean
        x_hat = tf.cast(self.decode(z, training=training), tf.float32)

        stats = self.stats_options.distance(x, x_hat)
        data = _per_sample_data_loss(x, x_hat, self.data_loss)
        # A term with weight 0 is only a metric: keep its (FFT) backward pass out of the graph.
        stats = tf.stop_gradient(stats) if self.alpha == 0 else stats
        data = tf.stop_gradient(data) if self.gamma == 0 else data
        kl = _kl_divergence(z_mean, z_log_var)
        terms = {
            "stats_loss": self.alpha * tf.reduce_mean(stats),
            "kl_loss": self.beta * tf.reduce_mean(kl),
            "data_loss": self.gamma * tf.reduce_mean(data),
            "stats_distance": tf.reduce_mean(self.stats_options.lag_mse(x, x_hat, distance=stats)),
            "pixel_mse": tf.reduce_mean(tf.square(x - x_hat)),
        }
        terms["loss"] = terms["stats_loss"] + terms["kl_loss"] + terms["data_loss"]
        return terms

    def _prior_stats_distance(self, x: tf.Tensor) -> tf.Tensor:
        """Mean squared difference per lag between the batch-mean statistics of
        ``x`` and of as many decoded prior samples ``z ~ N(0, I)``.

        Measures the generative side of the latent space: a model that ignores
        its prior (e.g. trained without the KL term) decodes samples whose
        statistics differ from the data's.  The prior draws use a fixed seed,
        so the value is repeatable.
        """
        z = tf.random.stateless_normal([tf.shape(x)[0], self.latent_dim], seed=[self.seed or 0, 1])

        def mean_stats(images: tf.Tensor) -> tf.Tensor:
            return tf.reduce_mean(self.stats_options.statistics(images), axis=0)

        generated = tf.cast(self.decode(z, training=False), tf.float32)
        return tf.reduce_mean(tf.square(mean_stats(generated) - mean_stats(x)))

    def _log(self, terms: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """Update the trackers named in ``terms``; return their running means."""
        for name, value in terms.items():
            self.trackers[name].update_state(value)
        return {name: self.trackers[name].result() for name in terms}

    def train_step(self, data):
        x = data[0] if isinstance(data, (tuple, list)) else data
        if self.shift_augment:
            x = random_periodic_shift(x, self.seed_generator)
        with tf.GradientTape() as tape:
            terms = self._loss_terms(x, training=True)
            loss = terms["loss"] / tf.distribute.get_strategy().num_replicas_in_sync
            loss = self.optimizer.scale_loss(loss)
        gradients = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights))
        return self._log(terms)

    def test_step(self, data):
        x = data[0] if isinstance(data, (tuple, list)) else data
        x = tf.cast(x, tf.float32)
        terms = self._loss_terms(x, training=False)
        terms["prior_stats_distance"] = self._prior_stats_distance(x)
        return self._log(terms)

    # ------------------------------------------------------ serialisation
    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            encoder=keras.saving.serialize_keras_object(self.encoder),
            decoder=keras.saving.serialize_keras_object(self.decoder),
            alpha=self.alpha,
            beta=self.beta,
            gamma=self.gamma,
            data_loss=self.data_loss,
            stats_options=self.stats_options.to_json(),
            seed=self.seed,
            shift_augment=self.shift_augment,
        )
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "SpatialStatsVAE":
        config = dict(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        config["decoder"] = keras.saving.deserialize_keras_object(config["decoder"])
        return cls(**config)


def build_vae(
    image_shape: Sequence[int] = (64, 64, 1),
    latent_dim: int = DEFAULT_LATENT_DIM,
    depth: int = 4,
    filters: int = DEFAULT_FILTERS,
    hidden_units: int = DEFAULT_HIDDEN_UNITS,
    alpha: float = 1.0,
    beta: float = 1.0,
    gamma: float = 0.0,
    data_loss: str = "sse",
    stats_options: StatsOptions | dict[str, Any] | None = None,
    seed: int | None = None,
    shift_augment: bool = False,
) -> SpatialStatsVAE:
    """Encoder, decoder and :class:`SpatialStatsVAE` in one call (not compiled)."""
    architecture = dict(image_shape=image_shape, latent_dim=latent_dim, depth=depth, filters=filters,
                        hidden_units=hidden_units)
    return SpatialStatsVAE(build_encoder(**architecture), build_decoder(**architecture), alpha=alpha,
                           beta=beta, gamma=gamma, data_loss=data_loss, stats_options=stats_options, seed=seed,
                           shift_augment=shift_augment)
