"""The spatial-statistics VAE: convolutional encoder/decoder and the Keras model.

Loss per sample (averaged over the batch):

    alpha * d(f(x), f(x_hat)) + beta * KL(q(z|x) || N(0, I)) + gamma * data(x, x_hat)

where ``d`` is :func:`ssvae_tf.stats.two_point.spatial_stats_distance` between
the two-point statistics of the input and its reconstruction, KL is summed over
the latent dimensions and ``data`` is a pixel loss (summed over pixels for
``sse``/``bce``, averaged for ``mse``).  ``alpha=0, gamma=1`` is the paper's
data-space baseline.  A :class:`~ssvae_tf.schedules.LossSchedule` can vary
beta over training, floor the KL per dimension (free bits), add a fading
blurred-pixel anchor and anneal the soft indicator.

Four decoders: the paper-style stack of stride-2 transposed convolutions,
resize-convolutions (nearest-neighbour x2, then a 3x3 convolution and a
residual block per level), ``"upsample"`` (one 3x3 convolution at the low resolution, then linear
interpolation x2, :class:`LinearUpsample`, per level), or ``"subpixel"``
(``"upsample"`` whose last level turns its features into the full-resolution
logits with a sub-pixel convolution, :class:`PixelShuffle`, Shi et al. 2016,
ICNR-initialised, Aitken et al. 2017, so that a line one pixel wide can sit on
any pixel); ``benchmarks/bench_decoders.py`` times them.  In 3-D ``"upsample"`` computes a linear x2 and
the convolution after it as one convolution at the lower resolution (:class:`UpsampledConv`, the same
function but along the edges; issue 23): the logits' and, from 4^3 features on, the levels'.  The last three avoid
the checkerboard artefacts of uneven transposed-convolution overlap (Odena et
al., Distill 2016) that an autocorrelation loss sees as spurious periodic
peaks, at the start of training at least: the sub-pixel convolution's offsets
may learn to differ.

Outputs that are phases (the decoder's ``output``, :class:`PhaseOutput`): a
sigmoid (grey, the paper's), a relaxed-Bernoulli (binary Concrete) sample
with an annealed temperature (Maddison et al. 2017; Jang et al. 2017), a
straight-through hard indicator late in training (Bengio et al. 2013), or one
softmax channel per phase for K phases (as SliceGAN, Kench & Cooper 2021),
whose channels are the statistics loss's phase indicators.  A binariness term
``lambda(t) * sum_pixels x_hat (1 - x_hat)`` ramped in late
(:meth:`~ssvae_tf.schedules.LossSchedule.binary_factor`) is an option for
every output.  ``padding="circular"``
wraps every 3x3 convolution around the image edges, so the networks treat
images as periodic, like the statistics.  ``encoder_input="statistics"``
gives the encoder the images' periodic autocorrelations
(:class:`StatisticsInput`) instead of the images, so every periodic shift of
an image gets the same code, as the statistics loss treats it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from ssvae_tf._checks import check_positive_int, check_positive_real, is_int
from ssvae_tf._progress import on_terminal
from ssvae_tf.augment import random_periodic_shift
from ssvae_tf.latent_prior import PRIORS, GaussianMixture
from ssvae_tf.schedules import LossSchedule
from ssvae_tf.settings import (
    DATA_LOSSES,
    DECODERS,
    NOISY_DECODERS,
    OUTPUTS,
    DEFAULT_FILTERS,
    DEFAULT_HIDDEN_UNITS,
    DEFAULT_LATENT_DIM,
    ENCODER_INPUTS,
    MAX_SIDE,
    MIN_SIDE,
    PADDINGS,
)
from ssvae_tf.stats.two_point import StatsOptions, axis_slice, plane_axes, shift_aligned_sse


_CONV = {2: layers.Conv2D, 3: layers.Conv3D}
_CONV_T = {2: layers.Conv2DTranspose, 3: layers.Conv3DTranspose}
_CROP = {2: layers.Cropping2D, 3: layers.Cropping3D}
_UPSAMPLE = {2: layers.UpSampling2D, 3: layers.UpSampling3D}
#: A pixel is plainly binary when its grey level is below this or above 1 minus it (the issue's measure;
#: for a softmax output: when its most likely phase has a probability above 1 minus it).
BINARY_MARGIN = 0.05
#: A latent dimension is active when the variance of its posterior mean over the data exceeds this
#: (Burda et al. 2016).
ACTIVE_UNIT_THRESHOLD = 0.01
#: In 3-D, ``"upsample"`` folds a level's linear x2 into the next convolution (:class:`UpsampledConv`) when
#: the features before the x2 are at least this many voxels on a side: 1.8-1.9x faster per layer at 4^3 and
#: 8^3 on a CPU, 0.8x at 2^3, where folding the kernel costs as much as the small convolution.
FOLD_MIN_SIDE = 4


def wrap_pad(x, width: int):
    """Periodic padding of every spatial axis of ``(batch, *spatial, channels)`` by ``width`` px
    on each side: ``(batch, *(spatial + 2 width), channels)``."""
    for axis in range(1, len(x.shape) - 1):
        head = keras.ops.take(x, list(range(x.shape[axis] - width, x.shape[axis])), axis=axis)
        tail = keras.ops.take(x, list(range(width)), axis=axis)
        x = keras.ops.concatenate([head, x, tail], axis=axis)
    return x


@keras.saving.register_keras_serializable(package="ssvae_tf")
class CircularPad(layers.Layer):
    """Periodic ("wrap") padding of the spatial axes by ``width`` px per side (:func:`wrap_pad`)."""

    def __init__(self, width: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.width = int(width)

    def call(self, x):
        return wrap_pad(x, self.width)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *(None if s is None else s + 2 * self.width for s in input_shape[1:-1]),
                input_shape[-1])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "width": self.width}


@keras.saving.register_keras_serializable(package="ssvae_tf")
class StatisticsInput(layers.Layer):
    """Images -> their periodic two-point statistics at every lag, zero lag centred, divided by
    ``options.scale``: ``(batch, *spatial, channels)`` -> float32 ``(batch, *spatial, n_correlations)``.

    The first layer of an encoder that sees what the statistics loss compares: the output is the
    same for every periodic shift of an image, so the encoder need not learn that positions do not
    matter.  Always float32 (FFTs), also under a mixed-precision policy.
    """

    def __init__(self, options: StatsOptions | dict[str, Any] | None = None, **kwargs):
        super().__init__(**{**kwargs, "dtype": "float32"})
        self.options = StatsOptions.from_json(options).replace(periodic=True, cutoff="full", levels=1)

    def call(self, images):
        return self.options.statistics(tf.cast(images, tf.float32)) / self.options.scale

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], len(self.options.correlations))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "options": self.options.to_json()}


@keras.saving.register_keras_serializable(package="ssvae_tf")
class PhaseOutput(layers.Layer):
    """The decoder's last layer for outputs that are phases: logits ``(batch, *spatial, c)`` ->
    images ``(batch, *spatial, 1)`` in [0, 1], deterministic and float32 (what ``decode``, the
    evaluation and the exported decoder give; training draws its own outputs from the logits,
    :meth:`SpatialStatsVAE.training_output`).

    ``kind``:
      * ``"concrete"``: ``sigmoid(logits / temperature)``, the noise-free relaxed-Bernoulli output
        at the final temperature (grey only where the logits are within about ``3 temperature``
        of 0);
      * ``"straight_through"``: the hard indicator, 1 where ``logits > 0`` else 0;
      * ``"softmax"``: ``c = K`` phases, the grey level of the expected phase,
        ``sum_h softmax(logits)_h * h / (K - 1)`` (the data's grey level of phase h is
        ``h / (K - 1)``; a confident output is a label image at those levels).
    """

    def __init__(self, kind: str = "concrete", temperature: float = 0.1, **kwargs):
        super().__init__(**{**kwargs, "dtype": "float32"})
        if kind not in OUTPUTS[1:]:
            raise ValueError(f"kind must be one of {OUTPUTS[1:]}, got {kind!r}")
        if not (math.isfinite(temperature) and temperature > 0):
            raise ValueError(f"temperature must be a positive number, got {temperature!r}")
        self.kind, self.temperature = kind, float(temperature)

    def call(self, logits):
        logits = tf.cast(logits, tf.float32)
        if self.kind == "concrete":
            return tf.sigmoid(logits / self.temperature)
        if self.kind == "straight_through":
            return tf.cast(logits > 0, tf.float32)
        levels = tf.linspace(0.0, 1.0, logits.shape[-1])
        return tf.reduce_sum(tf.nn.softmax(logits) * levels, axis=-1, keepdims=True)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 1 if self.kind == "softmax" else input_shape[-1])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "kind": self.kind, "temperature": self.temperature}


def _conv3(h, rank: int, filters: int, name: str, padding: str, strides: int = 1, activation=None):
    """A 3-px convolution of ``h`` keeping its size (or halving it with ``strides=2``), its edges
    zero-padded or wrapped around (``padding="circular"``)."""
    if padding == "circular":
        h = CircularPad(1, name=f"{name}_wrap")(h)
    return _CONV[rank](filters, 3, strides=strides, padding="valid" if padding == "circular" else "same",
                       activation=activation, name=name)(h)


def pad_edges(x: tf.Tensor, axis: int, periodic: bool) -> tf.Tensor:
    """``x`` padded by one pixel on each side of ``axis`` with its neighbours beyond the edges: they wrap
    around (``periodic``) or repeat the edge pixel.  Slices and concatenations, not gathers: the
    fastest on a CPU, and exact."""
    n = x.shape[axis]
    before, after = (n - 1, 0) if periodic else (0, n - 1)
    return tf.concat([axis_slice(x, axis, before, 1), x, axis_slice(x, axis, after, 1)], axis)


@keras.saving.register_keras_serializable(package="ssvae_tf")
class NoiseInjection(layers.Layer):
    """Per-voxel Gaussian noise added to a feature map ``(batch, *spatial, channels)``: one standard normal
    image, fresh at every call, times a learned scale per channel (``noise_init`` at the start) in units of
    the map's root-mean-square value (per example, held constant in the gradient), as StyleGAN's generator
    adds noise to its normalised features (Karras et al., CVPR 2019).  The latent code sets what the
    statistics depend on; the noise gives the decoder the many local arrangements of one
    microstructure, which a statistics loss leaves free."""

    def __init__(self, noise_init: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.noise_init, self.seed = float(noise_init), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer=keras.initializers.Constant(
            self.noise_init), name="scale")

    def call(self, x):
        noise = keras.random.normal(keras.ops.shape(x[..., :1]), dtype=x.dtype, seed=self.seed_generator)
        axes = tuple(range(1, len(x.shape)))
        rms = keras.ops.stop_gradient(keras.ops.sqrt(keras.ops.mean(keras.ops.square(x), axis=axes, keepdims=True)))
        return x + keras.ops.cast(self.scale, x.dtype) * rms * noise

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "noise_init": self.noise_init, "seed": self.seed}


def reseed_noise(decoder: keras.Model, seed: int) -> None:
    """Restart the noise of every :class:`NoiseInjection` layer of ``decoder`` from ``seed``: decoding the
    same codes after the same seed draws the same volumes."""
    noise_layers = [layer for layer in decoder.layers if isinstance(layer, NoiseInjection)]
    for layer, state in zip(noise_layers, np.random.default_rng(seed).integers(2**31, size=len(noise_layers))):
        layer.seed_generator.state.assign([int(state), 0])


@keras.saving.register_keras_serializable(package="ssvae_tf")
class LinearUpsample(layers.Layer):
    """Linear interpolation x2 along every spatial axis of ``(batch, *spatial, channels)``:
    ``(batch, *(2 spatial), channels)``.  Along an axis, ``out[2i] = (a[i-1] + 3 a[i]) / 4`` and
    ``out[2i+1] = (3 a[i] + a[i+1]) / 4`` (pixel centres, as bilinear resizing): a fixed kernel whose
    overlaps are even, so no checkerboard (Odena et al. 2016).  The neighbours beyond an edge wrap
    around (``periodic``) or repeat the edge."""

    def __init__(self, periodic: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.periodic = bool(periodic)

    def call(self, x):
        for axis in range(1, len(x.shape) - 1):
            n = x.shape[axis]
            padded = pad_edges(x, axis, self.periodic)
            previous, following = axis_slice(padded, axis, 0, n), axis_slice(padded, axis, 2, n)
            even, odd = 0.25 * previous + 0.75 * x, 0.75 * x + 0.25 * following
            x = tf.reshape(tf.stack([even, odd], axis=axis + 1), [-1, *x.shape[1:axis], 2 * n, *x.shape[axis + 1:]])
        return x

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *(2 * s for s in input_shape[1:-1]), input_shape[-1])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "periodic": self.periodic}


def pixel_shuffle(x: tf.Tensor) -> tf.Tensor:
    """:class:`PixelShuffle`'s rearrangement: ``(batch, *spatial, 2**rank * channels)`` ->
    ``(batch, *(2 spatial), channels)``."""
    spatial, rank = x.shape[1:-1], len(x.shape) - 2
    channels = x.shape[-1] // 2**rank
    x = tf.reshape(x, [-1, *spatial, *([2] * rank), channels])
    # (batch, s_1..s_rank, d_1..d_rank, c) -> (batch, s_1, d_1, ..., s_rank, d_rank, c)
    order = [0, *(i for axis in range(rank) for i in (1 + axis, 1 + rank + axis)), 1 + 2 * rank]
    return tf.reshape(tf.transpose(x, order), [-1, *(2 * s for s in spatial), channels])


@keras.saving.register_keras_serializable(package="ssvae_tf")
class PixelShuffle(layers.Layer):
    """Sub-pixel rearrangement x2 (Shi et al., CVPR 2016): ``(batch, *spatial, 2**rank * channels)`` ->
    ``(batch, *(2 spatial), channels)``.  Input channel ``k * channels + c``, with ``k`` the row-major
    index of the offsets ``(d_1, ..., d_rank)`` in {0, 1}^rank, goes to output pixel
    ``(2 i_1 + d_1, ..., 2 i_rank + d_rank)``, channel ``c``: ``tf.nn.depth_to_space``'s order in 2-D,
    also in 3-D.  Reshapes and one transpose: no gathers, nothing XLA cannot compile."""

    def call(self, x):
        return pixel_shuffle(x)

    def compute_output_shape(self, input_shape):
        rank = len(input_shape) - 2
        return (input_shape[0], *(2 * s for s in input_shape[1:-1]), input_shape[-1] // 2**rank)


@keras.saving.register_keras_serializable(package="ssvae_tf")
class SubpixelInitializer(keras.initializers.Initializer):
    """ICNR initialisation (Aitken et al., 2017) of a convolution feeding :class:`PixelShuffle`: a
    Glorot-uniform kernel for ``channels = shape[-1] / copies`` outputs, repeated for each of the
    ``copies`` sub-pixel offsets, so that the shuffled output starts as a nearest-neighbour
    upsampling of one convolution: no checkerboard at the start of training."""

    def __init__(self, copies: int, seed: int | None = None):
        self.copies, self.seed = int(copies), seed

    def __call__(self, shape, dtype=None):
        base = keras.initializers.GlorotUniform(self.seed)((*shape[:-1], shape[-1] // self.copies), dtype=dtype)
        return tf.tile(base, [1] * (len(shape) - 1) + [self.copies])

    def get_config(self) -> dict[str, Any]:
        return {"copies": self.copies, "seed": self.seed}


def _subpixel_conv3(h, rank: int, filters: int, name: str, padding: str):
    """A 3-px convolution of ``h`` to ``2**rank * filters`` channels (ICNR-initialised,
    :class:`SubpixelInitializer`) shuffled into ``filters`` channels at twice the resolution
    (:class:`PixelShuffle`): each output pixel of a 2x2(x2) block has its own kernel."""
    if padding == "circular":
        h = CircularPad(1, name=f"{name}_wrap")(h)
    h = _CONV[rank](2**rank * filters, 3, padding="valid" if padding == "circular" else "same", name=name,
                    kernel_initializer=SubpixelInitializer(2**rank))(h)
    return PixelShuffle(name=f"{name}_shuffle")(h)


def upsample_taps(rank: int) -> np.ndarray:
    """How a 3-px convolution of the linear x2 (:class:`LinearUpsample`) of ``a`` reads ``a``: float32
    ``(2**rank, 3**rank, 3**rank)``, the weight of ``a``'s neighbour ``e`` under the convolution's tap
    ``t`` at the output pixel ``2 i + d``, with ``d``, ``t`` and ``e`` row-major over
    {0, 1}^rank, {-1, 0, 1}^rank and {-1, 0, 1}^rank.  Separable: the Kronecker product of one axis'
    ``(2, 3, 3)``, where the pixel ``2 i + d + t = 2 (i + j) + odd`` takes 3/4 of ``a[i + j]`` and 1/4
    of its neighbour on the side of ``odd``."""
    axis = np.zeros((2, 3, 3))
    for d in (0, 1):
        for t in (-1, 0, 1):
            j, odd = divmod(d + t, 2)
            axis[d, t + 1, j + 1] += 0.75
            axis[d, t + 1, j + (1 if odd else -1) + 1] += 0.25
    taps = np.ones((1, 1, 1))
    for _ in range(rank):
        taps = np.kron(taps, axis)  # row-major: the earlier axes' indices first
    return taps.astype("float32")


@keras.saving.register_keras_serializable(package="ssvae_tf")
class UpsampledConv(layers.Layer):
    """A 3-px convolution to ``filters`` channels of the linear x2 of its input, computed at the input's
    resolution: ``(batch, *spatial, channels)`` -> ``(batch, *(2 spatial), filters)``.

    ``conv(LinearUpsample(x))`` is linear in ``x``, so it is one sub-pixel convolution of ``x``
    (:func:`pixel_shuffle`) whose ``2**rank`` kernels are the 3-px ``kernel`` folded with the
    interpolation weights (:func:`upsample_taps`): the same weights and outputs, without the
    ``2**rank`` times larger upsampled tensor and with ``2**rank`` times more outputs per
    convolution, which a CPU computes faster (a 32^3 x 32 -> 1 convolution is slow for its size).
    Exactly ``conv(LinearUpsample(x))`` with ``periodic`` edges (both wrapped around); otherwise the
    output pixels along an edge see the edge repeated where a zero-padded convolution sees zeros.
    """

    def __init__(self, filters: int, periodic: bool = False, activation: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.periodic = int(filters), bool(periodic)
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        rank = len(input_shape) - 2
        self.kernel = self.add_weight(name="kernel", shape=(*[3] * rank, input_shape[-1], self.filters),
                                      initializer="glorot_uniform")
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")

    def call(self, x):
        rank, channels = len(x.shape) - 2, x.shape[-1]
        kernel = tf.reshape(tf.cast(self.kernel, x.dtype), [3**rank, channels, self.filters])
        # (offsets d, taps t, neighbours e) x (t, in, out) -> (e, in, d, out): offset d's kernel in channels d * out..
        folded = tf.einsum("dte,tcf->ecdf", tf.constant(upsample_taps(rank), x.dtype), kernel)
        folded = tf.reshape(folded, [*[3] * rank, channels, 2**rank * self.filters])
        for axis in range(1, rank + 1):
            x = pad_edges(x, axis, self.periodic)
        logits = tf.nn.convolution(x, folded, padding="VALID") + tf.tile(tf.cast(self.bias, x.dtype), [2**rank])
        return self.activation(pixel_shuffle(logits))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *(2 * s for s in input_shape[1:-1]), self.filters)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "filters": self.filters, "periodic": self.periodic,
                "activation": keras.activations.serialize(self.activation)}


def _residual_block(h, rank: int, filters: int, name: str, padding: str, activation: str):
    """``activation(h + conv(activation(conv(h))))``, two 3-px convolutions (He et al. 2016)."""
    r = _conv3(h, rank, filters, f"{name}_a", padding, activation=activation)
    r = _conv3(r, rank, filters, f"{name}_b", padding)
    return layers.Activation(activation, name=f"{name}_out")(layers.Add(name=f"{name}_add")([h, r]))


def _check_architecture(image_shape: Sequence[int], latent_dim: int, depth: int, filters: int,
                        hidden_units: int, padding: str = "zeros") -> tuple[int, ...]:
    """``image_shape`` as a tuple of ints, once every argument is checked (``ValueError`` naming it)."""
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
    shape = tuple(image_shape) if isinstance(image_shape, (Sequence, np.ndarray)) else ()
    if isinstance(image_shape, str) or len(shape) not in (3, 4) or not all(is_int(s) for s in shape):
        raise ValueError("image_shape must be integers (height, width, channels) or (depth, height, width, "
                         f"channels), got {image_shape!r}")
    shape = tuple(int(s) for s in shape)
    if not all(MIN_SIDE <= s <= MAX_SIDE for s in shape[:-1]):
        raise ValueError(f"image sides must be between {MIN_SIDE} and {MAX_SIDE} pixels, got {shape[:-1]}")
    check_positive_int(shape[-1], "image_shape's channels")
    for name, value in (("latent_dim", latent_dim), ("filters", filters), ("hidden_units", hidden_units),
                        ("depth", depth)):
        check_positive_int(value, name)
    if not depth <= int(math.log2(min(shape[:-1]))) - 1:
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
    padding: str = "zeros",
    statistics_input: StatsOptions | None = None,
    name: str = "encoder",
) -> keras.Model:
    """Convolutional encoder ``images -> [z_mean, z_log_var]``.

    Args:
        image_shape: ``(H, W, C)`` or ``(D, H, W, C)``, each side 16..256 px.
        latent_dim: size of the latent space.
        depth: number of stride-2 convolutions (each halves the resolution).
        filters: filters of the first convolution (doubling per level, capped 8x).
        hidden_units: width of the dense layer before the latent heads.
        padding: ``"zeros"`` or ``"circular"`` (edges wrap around, as in periodic statistics).
        statistics_input: if given, the convolutions see the images' periodic
            statistics with these options (:class:`StatisticsInput`) instead of
            the images.

    Returns:
        A functional model: input ``images`` float32 ``(batch, *image_shape)``,
        outputs ``[z_mean, z_log_var]``, each ``(batch, latent_dim)``.
    """
    shape = _check_architecture(image_shape, latent_dim, depth, filters, hidden_units, padding)
    images = keras.Input(shape=shape, name="images")
    h = images if statistics_input is None else StatisticsInput(statistics_input, name="statistics")(images)
    for level in range(depth):
        h = _conv3(h, len(shape) - 1, _level_filters(filters, level), f"down_{level}", padding, strides=2,
                   activation=activation)
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
    upsampling: str = "transpose",
    padding: str = "zeros",
    output: str = "sigmoid",
    temperature: float = 0.1,
    n_phases: int = 2,
    noise: float = 0.0,
    name: str = "decoder",
) -> keras.Model:
    """Decoder ``z -> images``, the mirror of :func:`build_encoder`.

    Args:
        upsampling: ``"transpose"`` (a stride-2 3x3 transposed convolution per
            level), ``"resize"`` (nearest-neighbour x2, a 3x3 convolution
            and a residual block per level) or ``"upsample"`` (a 3x3
            convolution, then linear interpolation x2 per level,
            :class:`LinearUpsample`, wrapping around with circular padding) or
            ``"subpixel"`` (``"upsample"`` but for the last level, whose
            features become the full-resolution logits through a sub-pixel
            convolution, :func:`_subpixel_conv3`: a line one pixel wide can sit
            on any pixel); the last three draw no checkerboard artefacts.
            In 3-D, ``"upsample"`` computes a linear x2 and the convolution
            after it as one convolution at the lower resolution
            (:class:`UpsampledConv`): always for the logits, for the levels
            from features of :data:`FOLD_MIN_SIDE` voxels a side.
        padding: ``"zeros"`` or ``"circular"`` for the 3x3 convolutions
            (transposed convolutions always pad with zeros).
        output: ``"sigmoid"`` or a :class:`PhaseOutput` kind: ``"concrete"``
            (at ``temperature``), ``"straight_through"`` or ``"softmax"``
            (``n_phases`` logit channels).
        noise: 0 for none; else, with ``"upsample"`` or ``"subpixel"`` and ``depth`` >= 2, a
            :class:`NoiseInjection` starting at this scale after the convolution of every level but the
            finest (the one at half the output's resolution), before its activation: each call draws
            another realisation.  Noise at the finest level drew features of 1-2 px (docs/3d-from-2d.md).
        The others as in :func:`build_encoder`.

    Returns:
        A functional model: input ``z`` float32 ``(batch, latent_dim)``, output
        ``images`` ``(batch, *image_shape)`` in [0, 1] (sigmoid or
        :class:`PhaseOutput`, float32); the input of its last layer is the
        logits.  Sides that are not multiples of ``2**depth`` are cropped to
        the exact size.
    """
    shape = _check_architecture(image_shape, latent_dim, depth, filters, hidden_units, padding)
    if upsampling not in DECODERS:
        raise ValueError(f"upsampling must be one of {DECODERS}, got {upsampling!r}")
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
    check_positive_int(n_phases, "n_phases", minimum=2)
    if isinstance(noise, bool):  # True would silently be a scale of 1
        raise ValueError(f"noise is the noise's starting scale (0: none), a number; got {noise!r}")
    noise = check_positive_real(noise, "noise", allow_zero=True)
    if noise and upsampling not in NOISY_DECODERS:
        raise ValueError(f"noise goes into the level convolutions of the decoders {NOISY_DECODERS}, got "
                         f"upsampling={upsampling!r}")
    if noise and depth < 2:
        raise ValueError(f"noise goes into the levels coarser than the finest, which needs depth >= 2, got "
                         f"depth={depth}")
    if output == "softmax" and (n_phases < 3 or shape[-1] != 1):
        raise ValueError(f"a softmax output draws one channel per phase of K > 2 phases into images of one "
                         f"channel, got n_phases={n_phases} and {shape[-1]} channel(s)")
    rank = len(shape) - 1
    # 3-D "upsample": a linear x2 and the convolution after it as one convolution at half resolution
    folded = rank == 3 and upsampling == "upsample"
    start = [math.ceil(s / 2**depth) for s in shape[:-1]]
    top = _level_filters(filters, depth - 1)
    z = keras.Input(shape=(latent_dim,), name="z")
    h = layers.Dense(hidden_units, activation=activation, name="hidden")(z)
    h = layers.Dense(int(np.prod(start)) * top, activation=activation, name="expand")(h)
    h = layers.Reshape((*start, top), name="reshape")(h)
    for level in reversed(range(depth)):
        level_filters = _level_filters(filters, level)
        if upsampling == "transpose":
            h = _CONV_T[rank](level_filters, 3, strides=2, padding="same", activation=activation,
                              name=f"up_{level}")(h)
        elif upsampling in NOISY_DECODERS:
            noisy = noise and level > 0  # none at the finest level, whose noise draws speckle
            level_activation = None if noisy else activation
            if level < depth - 1 and folded and min(h.shape[1:-1]) >= FOLD_MIN_SIDE:
                # the level above's x2 and this level's convolution, at the level above's resolution
                h = UpsampledConv(level_filters, padding == "circular", activation=level_activation,
                                  name=f"up_{level}")(h)
            else:
                if level < depth - 1:
                    h = LinearUpsample(padding == "circular", name=f"resize_{level + 1}")(h)
                # the convolution at the low resolution: the transposed one's cost
                h = _conv3(h, rank, level_filters, f"up_{level}", padding, activation=level_activation)
            if noisy:
                h = NoiseInjection(noise, name=f"noise_{level}")(h)
                h = layers.Activation(activation, name=f"up_{level}_activation")(h)
            if level == 0 and not (folded or upsampling == "subpixel"):  # else the logits below do the last x2
                h = LinearUpsample(padding == "circular", name="resize_0")(h)
        else:
            h = _UPSAMPLE[rank](2, name=f"resize_{level}")(h)
            h = _conv3(h, rank, level_filters, f"up_{level}", padding, activation=activation)
            if upsampling == "resize":
                h = _residual_block(h, rank, level_filters, f"res_{level}", padding, activation)
    logits = n_phases if output == "softmax" else shape[-1]
    if folded:
        h = UpsampledConv(logits, padding == "circular", name="to_image")(h)
    elif upsampling == "subpixel":
        h = _subpixel_conv3(h, rank, logits, "to_image", padding)
    else:
        h = _conv3(h, rank, logits, "to_image", padding)
    excess = [s * 2**depth - n for s, n in zip(start, shape[:-1])]
    if any(excess):
        h = _CROP[rank](tuple((0, e) for e in excess), name="crop")(h)
    # float32 even under a mixed-precision policy: a 16-bit sigmoid rounds away the values near 0 and 1
    if output == "sigmoid":
        return keras.Model(z, layers.Activation("sigmoid", dtype="float32", name="sigmoid")(h), name=name)
    return keras.Model(z, PhaseOutput(output, temperature, name="phase_output")(h), name=name)


def _per_sample_data_loss(x: tf.Tensor, x_hat: tf.Tensor, kind: str) -> tf.Tensor:
    axes = list(range(1, x.shape.rank))
    if kind == "bce":
        p = tf.clip_by_value(x_hat, 1e-7, 1.0 - 1e-7)
        return -tf.reduce_sum(x * tf.math.log(p) + (1.0 - x) * tf.math.log(1.0 - p), axis=axes)
    squared = tf.square(x - x_hat)
    return tf.reduce_sum(squared, axis=axes) if kind == "sse" else tf.reduce_mean(squared, axis=axes)


def binariness(phases: tf.Tensor) -> tf.Tensor:
    """Each image's greyness ``sum_pixels sum_channels p (1 - p)``, float32 ``(batch,)``, of phase
    maps ``p`` ``(batch, *spatial, channels)`` in [0, 1]: the images of a two-phase output (``x_hat
    (1 - x_hat)``, at most 1/4 per pixel, 0 for a binary image) or the softmax channels of K phases
    (``1 - sum_h p_h^2``, 0 for a label map).  Summed over the pixels, as the statistics distance
    sums over the lags and the ``sse`` pixel loss over the pixels, so that its size relative to
    them does not change with the image size: N px of a 0.5 grey cost N/4.

    >>> [float(v) for v in binariness(tf.constant([[[[0.0]], [[1.0]]], [[[0.5]], [[0.5]]]]))]
    [0.0, 0.5]
    """
    phases = tf.cast(phases, tf.float32)
    return tf.reduce_sum(phases * (1.0 - phases), axis=list(range(1, phases.shape.rank)))


def soft_perimeter(phases: tf.Tensor) -> tf.Tensor:
    """Each image's interface along each axis, float32 ``(batch, rank)``, of phase maps ``p``
    ``(batch, *spatial, channels)`` in [0, 1]: the squared differences of the neighbour pairs
    ``(x, x + e_a)`` inside the image, summed and divided by the number of pixels ``N`` (halved over
    K softmax channels, where a pair of different labels differs in two).  For binary images it is
    :func:`ssvae_tf.stats.morphology.specific_perimeter` (non-periodic, units 1/px), the phase changes
    between neighbours per pixel; a grey edge spread over k pixels counts about 1/k of a sharp one.

    >>> [[float(v) for v in row] for row in soft_perimeter(tf.constant([[[[0.0], [1.0]], [[0.0], [1.0]]]]))]
    [[0.0, 0.5]]
    """
    phases = tf.cast(phases, tf.float32)
    rank = phases.shape.rank - 2
    pixels = math.prod(phases.shape[1:-1])
    half = 0.5 if phases.shape[-1] > 1 else 1.0
    columns = []
    for axis in range(1, rank + 1):
        pairs = phases.shape[axis] - 1
        squared = tf.square(axis_slice(phases, axis, 1, pairs) - axis_slice(phases, axis, 0, pairs))
        columns.append(half * tf.reduce_sum(squared, axis=list(range(1, rank + 2))) / pixels)
    return tf.stack(columns, axis=1)


def binary_share(phases: tf.Tensor) -> tf.Tensor:
    """Each image's share of plainly binary pixels, float32 ``(batch,)`` in [0, 1]: for one channel
    the grey levels below :data:`BINARY_MARGIN` or above ``1 - BINARY_MARGIN``; for K softmax
    channels the pixels whose most likely phase has a probability above ``1 - BINARY_MARGIN``.

    >>> [float(v) for v in binary_share(tf.constant([[[[0.01]], [[0.5]]], [[[0.99]], [[0.0]]]]))]
    [0.5, 1.0]
    """
    phases = tf.cast(phases, tf.float32)
    if phases.shape[-1] == 1:
        phases = tf.concat([phases, 1.0 - phases], axis=-1)
    confident = tf.cast(tf.reduce_max(phases, axis=-1) > 1.0 - BINARY_MARGIN, tf.float32)
    return tf.reduce_mean(confident, axis=list(range(1, confident.shape.rank)))


def _check_unit_images(images: Any, what: str) -> None:
    """Refuses (``ValueError`` naming ``what``) a NumPy array or eager tensor of images holding values
    outside [0, 1] or NaN/infinity; anything else (a dataset, ``None``) passes unchecked."""
    if not isinstance(images, (np.ndarray, tf.Tensor)) or 0 in images.shape:
        return
    values = np.asarray(images)
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        raise ValueError(f"{what} holds {int(values.size - np.isfinite(values).sum())} NaN or infinite value(s); "
                         "expected images in [0, 1]")
    lo, hi = float(values.min()), float(values.max())
    if lo < 0 or hi > 1:
        raise ValueError(f"{what} holds values in [{lo:g}, {hi:g}]; expected images in [0, 1] "
                         "(divide 8-bit grey levels by 255)")


def _kl_per_dimension(z_mean: tf.Tensor, z_log_var: tf.Tensor) -> tf.Tensor:
    """KL(N(mean, exp(log_var)) || N(0, 1)) of each latent dimension, in nats: ``(batch, latent_dim)``."""
    return -0.5 * (1.0 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var))


def gaussian_blur(images: tf.Tensor, sigma: float) -> tf.Tensor:
    """Periodic Gaussian blur of ``(batch, *spatial, channels)`` images, ``sigma`` in px (same shape).

    Separable: one 1-D convolution per spatial axis with a kernel of radius
    ``ceil(3 sigma)`` (normalised to sum 1), the edges wrapped around.
    """
    images = tf.convert_to_tensor(images, tf.float32)
    radius = max(1, math.ceil(3.0 * sigma))
    taps = np.exp(-np.arange(-radius, radius + 1) ** 2 / (2.0 * sigma**2))
    taps = (taps / taps.sum()).astype(np.float32)
    rank = images.shape.rank - 2
    spatial, channels = images.shape[1:-1], images.shape[-1]
    # each channel blurred on its own: channels become images of one channel
    x = tf.transpose(images, [0, rank + 1, *range(1, rank + 1)])
    x = wrap_pad(tf.reshape(x, [-1, *spatial, 1]), radius)
    for axis in range(rank):
        shape = [1] * rank
        shape[axis] = taps.size
        x = tf.nn.convolution(x, tf.constant(taps.reshape(*shape, 1, 1)), padding="VALID")
    x = tf.reshape(x, [-1, channels, *spatial])
    return tf.transpose(x, [0, *range(2, rank + 2), 1])


@keras.saving.register_keras_serializable(package="ssvae_tf")
class LatentUsage(keras.metrics.Metric):
    """How much of the latent space a model uses, over a pass through the data.

    ``result()`` is ``{"active_units": ..., "kl_dim_0": ..., ...}``: the number
    of dimensions whose posterior mean varies over the data by more than
    :data:`ACTIVE_UNIT_THRESHOLD` (``Cov_x E[z_d | x]``, Burda et al. 2016),
    and each dimension's mean KL in nats.
    """

    def __init__(self, latent_dim: int, name: str = "latent_usage", **kwargs):
        super().__init__(name=name, **kwargs)
        self.latent_dim = int(latent_dim)
        self.count = self.add_variable((), initializer="zeros", name="count")
        self.mean_sum = self.add_variable((self.latent_dim,), initializer="zeros", name="mean_sum")
        self.square_sum = self.add_variable((self.latent_dim,), initializer="zeros", name="square_sum")
        self.kl_sum = self.add_variable((self.latent_dim,), initializer="zeros", name="kl_sum")

    def update_state(self, z_mean: tf.Tensor, kl_per_dimension: tf.Tensor) -> None:
        """Add a batch: ``z_mean`` and ``kl_per_dimension``, each ``(batch, latent_dim)``."""
        self.count.assign_add(tf.cast(tf.shape(z_mean)[0], tf.float32))
        self.mean_sum.assign_add(tf.reduce_sum(z_mean, axis=0))
        self.square_sum.assign_add(tf.reduce_sum(tf.square(z_mean), axis=0))
        self.kl_sum.assign_add(tf.reduce_sum(kl_per_dimension, axis=0))

    def result(self) -> dict[str, tf.Tensor]:
        n = tf.maximum(self.count, 1.0)
        variance = self.square_sum / n - tf.square(self.mean_sum / n)
        usage = {"active_units": tf.reduce_sum(tf.cast(variance > ACTIVE_UNIT_THRESHOLD, tf.float32))}
        kl = self.kl_sum / n
        usage.update({f"kl_dim_{d}": kl[d] for d in range(self.latent_dim)})
        return usage

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "latent_dim": self.latent_dim}


def batch_mean(values: tf.Tensor) -> tf.Tensor:
    """Mean over the batch axis of ``values`` ``(batch, ...)``: ``(...)``; 0, not NaN, for an empty
    batch (under a distribution strategy, a replica may get none of the last images).

    >>> float(batch_mean(tf.constant([1.0, 3.0]))), float(batch_mean(tf.zeros([0])))
    (2.0, 0.0)
    """
    count = tf.cast(tf.shape(values)[0], values.dtype)
    return tf.math.divide_no_nan(tf.reduce_sum(values, axis=0), count)


def _step_logs(logs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """A training or test step's logs as Keras can reduce them across replicas.

    Under ``MultiWorkerMirroredStrategy`` with more than one worker, Keras 3
    averages a step's logs over the workers with a reduction along axis 0,
    which fails on scalars ("Invalid reduction dimension 0",
    tensorflow/tensorflow#72388): there they get that axis, of length 1, which
    the reduction removes.  A one-worker cluster is not reduced that way
    (Keras' ``reduce_per_replica`` asks ``_in_multi_worker_mode()``, more than
    one worker), so its logs stay scalars, as everywhere else: a length-1 axis
    would reach the callbacks (TensorBoard's "Expected scalar shape",
    ``history.csv`` rows of ``[0.0]``).
    """
    strategy = tf.distribute.get_strategy()
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and strategy.extended._in_multi_worker_mode():
        return {name: tf.reshape(value, [1]) for name, value in logs.items()}
    return logs


class _ConsoleLogger(keras.callbacks.ProgbarLogger):
    """Keras' console output of ``fit`` (a progress bar per batch with ``verbose=1``, a line per
    epoch with ``verbose=2``) showing only the metrics named ``shown``, in that order; every other
    callback (``history.csv``, TensorBoard) still gets all of them."""

    def __init__(self, shown: Sequence[str]):
        super().__init__()
        self.shown = tuple(shown)

    def _shown(self, logs: dict | None) -> dict:
        logs = logs or {}
        return {name: logs[name] for name in self.shown if name in logs}

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, self._shown(logs))

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, self._shown(logs))


class _ScheduleClock(keras.callbacks.Callback):
    """Tells a :class:`SpatialStatsVAE` how many steps ``fit`` will take, so its loss schedule
    can compute the training progress from the optimizer's iteration count."""

    def on_train_begin(self, logs=None):
        steps, epochs = self.params.get("steps"), self.params.get("epochs")
        if steps is None and self.model.schedule.changes:
            raise ValueError("the loss schedule needs the number of steps per epoch; pass steps_per_epoch "
                             "or a dataset of known length")
        self.model.schedule_steps.assign(int(steps or 0) * int(epochs or 0))


#: Images whose mean grey level starts the decoder's output (:meth:`SpatialStatsVAE.initialise_output_bias`).
BIAS_SAMPLE = 256


def is_slices_to_volume(image_shape: Sequence[int], decoded_shape: Sequence[int]) -> bool:
    """Whether a model takes ``image_shape`` 2-D micrographs ``(N, N, C)`` and draws ``decoded_shape``
    volumes ``(N, N, N, C)``: a model trained from slices (issue 23).

    >>> is_slices_to_volume((32, 32, 1), (32, 32, 32, 1)), is_slices_to_volume((32, 32, 1), (32, 32, 1))
    (True, False)
    """
    image_shape, decoded_shape = tuple(image_shape), tuple(decoded_shape)
    return (len(image_shape) == 3 and image_shape[0] == image_shape[1]
            and decoded_shape == (image_shape[0], *image_shape[:2], image_shape[-1]))


def input_slice(decoded: tf.Tensor, image_rank: int) -> tf.Tensor:
    """The part of decoded images or volumes ``(batch, *decoded_shape)`` that corresponds pixel by pixel
    to the encoder's input of spatial rank ``image_rank``: the images themselves, or a volume's first
    slice along axis 0, ``(batch, N, N, C)``, for a model from slices (the micrograph it was encoded from
    is that slice's target)."""
    return decoded if decoded.shape.rank == image_rank + 2 else decoded[:, 0]



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
            :class:`~ssvae_tf.stats.two_point.StatsOptions` or a dict of its
            fields (``None``: the paper's).
        seed: seed of the reparameterisation noise.
        shift_augment: shift every training image by its own random periodic
            offset (:func:`ssvae_tf.augment.random_periodic_shift`) before the
            loss; validation images are not shifted.  Periodic statistics are
            unchanged by such shifts, so for a statistics VAE this adds data
            without changing its targets.
        schedule: how the loss changes over training, a
            :class:`~ssvae_tf.schedules.LossSchedule` or a dict of its fields
            (``None``: constant).  ``fit`` tells the model its length; the
            progress is the optimizer's iteration count over it.
        latent_prior: the density :meth:`sample` draws codes from, a
            :class:`~ssvae_tf.latent_prior.GaussianMixture` or its JSON (``None``: N(0, I)); ``ssvae train``
            fits one to the training codes after training (:func:`ssvae_tf.training.fit_latent_prior`).

    The decoder's last layer says what its output is (``output_kind``):
    ``"sigmoid"`` or a :class:`PhaseOutput` kind; training draws a phase
    output's images from its logits (:meth:`training_output`), everything
    else decodes deterministically.

    Metrics logged by ``fit``/``evaluate``: ``loss`` = ``stats_loss`` +
    ``kl_loss`` + ``data_loss`` (+ ``anchor_loss`` with an anchor, +
    ``binary_loss`` with a binariness weight: ``schedule.binary_factor(p) *``
    :func:`binariness`) (the weighted terms, at the schedule's current
    values), and three unweighted measures that compare across runs whatever
    alpha/beta/gamma/scale are: ``stats_distance`` (mean squared difference
    per lag and correlation of the configured statistics), ``pixel_mse`` and
    ``binary_share`` (:func:`binary_share` of the reconstructions).  Validation (``test_step``)
    decodes ``z_mean``, the deterministic reconstruction, so ``val_*``
    metrics do not fluctuate with the sampling noise; it also logs
    ``prior_stats_distance``, how far the statistics of decoded prior samples
    are from the data's (a measure of the latent space as a generator), and
    the latent usage over the whole validation pass (:class:`LatentUsage`):
    ``active_units`` and ``kl_dim_<d>``.
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
        schedule: LossSchedule | dict[str, Any] | None = None,
        latent_prior: GaussianMixture | dict[str, Any] | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for label, weight in (("alpha", alpha), ("beta", beta), ("gamma", gamma)):
            check_positive_real(weight, label, allow_zero=True)
        if alpha == 0 and gamma == 0:
            raise ValueError("alpha and gamma are both 0: nothing would be reconstructed; set one > 0")
        if data_loss not in DATA_LOSSES:
            raise ValueError(f"data_loss must be one of {DATA_LOSSES}, got {data_loss!r}")
        self.encoder = encoder
        self.decoder = decoder
        self.image_shape = tuple(encoder.input_shape[1:])
        self.decoded_shape = tuple(decoder.output_shape[1:])
        #: the encoder takes 2-D micrographs (N, N, C), the decoder draws volumes (N, N, N, C) (issue 23)
        self.from_slices = is_slices_to_volume(self.image_shape, self.decoded_shape)
        if self.decoded_shape != self.image_shape and not self.from_slices:
            raise ValueError(f"encoder input {self.image_shape} and decoder output {self.decoded_shape} differ; "
                             "expected the same shape, or N x N images in and N^3 volumes out")
        if self.from_slices and (gamma > 0 or decoder.layers[-1].name == "phase_output"
                                 and decoder.layers[-1].kind == "softmax"):
            raise ValueError("a model from slices compares statistics planes with micrographs: expected gamma=0 "
                             f"(no pixel loss against a volume) and no softmax output, got gamma={gamma}")
        self.latent_dim = int(decoder.input_shape[-1])
        self.alpha, self.beta, self.gamma = float(alpha), float(beta), float(gamma)
        self.data_loss = data_loss
        self.stats_options = StatsOptions.from_json(stats_options)
        if self.stats_options.kind is None and max(map(max, self.stats_options.correlations)) >= self.image_shape[-1]:
            raise ValueError(f"correlations {self.stats_options.correlations} name states beyond the "
                             f"{self.image_shape[-1]} channel(s) of the images (kind=None: images are indicators)")
        self.seed = seed
        self.shift_augment = bool(shift_augment)
        self.schedule = LossSchedule.from_json(schedule)
        if self.schedule.anchor > 0 and self.alpha == 0:
            raise ValueError("a blurred-pixel anchor (schedule.anchor > 0) guides a statistics loss; "
                             f"alpha is 0, so use gamma for a pixel loss instead (anchor={self.schedule.anchor})")
        if self.schedule.anchor > 0 and math.ceil(3 * self.schedule.anchor_sigma) > min(self.image_shape[:-1]):
            raise ValueError(f"anchor_sigma={self.schedule.anchor_sigma} px is too wide for images of "
                             f"{self.image_shape[:-1]} px; expected at most {min(self.image_shape[:-1]) / 3:g}")
        self.latent_prior = latent_prior
        self.seed_generator = keras.random.SeedGenerator(seed)
        last = decoder.layers[-1]
        #: "sigmoid" or the decoder's PhaseOutput kind
        self.output_kind = last.kind if isinstance(last, PhaseOutput) else "sigmoid"
        if self.output_kind == "straight_through" and self.schedule.hard_from is None:
            raise ValueError("a straight-through output needs schedule.hard_from, the progress from which it is "
                             "hard (0: throughout)")
        if self.output_kind == "softmax" and (self.stats_options.kind is None
                                              or self.stats_options.n_phases != last.input.shape[-1]):
            raise ValueError(f"a softmax output of {last.input.shape[-1]} channels feeds the statistics as the "
                             f"indicators of as many phases; the statistics options have kind "
                             f"{self.stats_options.kind!r} and {self.stats_options.n_phases} phases")
        # z -> the decoder's logits, sharing its layers (a keras.Function: no weights of its own to save)
        self._logits = None if self.output_kind == "sigmoid" else keras.Function(decoder.input, last.input)
        names = ("loss", "stats_loss", "kl_loss", "data_loss", "anchor_loss", "binary_loss", "perimeter_loss",
                 "stats_distance", "pixel_mse", "binary_share", "prior_stats_distance")
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}
        self.latent_usage = LatentUsage(self.latent_dim)
        # Steps of the current fit (set by _ScheduleClock); a plain tf.Variable, not a weight, so
        # that saved models do not depend on it.  0: not fitting, schedules at their final values.
        self.schedule_steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="schedule_steps")
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
        """``(batch, latent_dim) -> (batch, *decoded_shape)`` in (0, 1)."""
        return self.decoder(z, training=training)

    def call(self, x, training: bool = False) -> tf.Tensor:
        """Deterministic reconstruction: decode ``z_mean``."""
        z_mean, _ = self.encode(x, training=training)
        return self.decode(z_mean, training=training)

    @property
    def latent_prior(self) -> GaussianMixture | None:
        """The mixture fitted to the training codes that :meth:`sample` draws from (``None``: not fitted)."""
        return self._latent_prior

    @latent_prior.setter
    def latent_prior(self, prior: GaussianMixture | dict[str, Any] | None) -> None:
        if isinstance(prior, dict):
            prior = GaussianMixture.from_json(prior)
        if prior is not None and (not isinstance(prior, GaussianMixture) or prior.means.shape[1] != self.latent_dim):
            raise ValueError(f"latent_prior must be a GaussianMixture over the {self.latent_dim} latent dimensions, "
                             f"got {prior!r}")
        self._latent_prior = prior

    def prior_codes(self, n: int, seed: int | None = None, prior: str = "fitted") -> np.ndarray:
        """``n`` codes float32 ``(n, latent_dim)`` of ``prior``: ``"fitted"``, the :attr:`latent_prior`
        (N(0, I) for a model without one), or ``"standard"``, N(0, I), the VAE's own prior; ``seed`` seeds
        ``numpy.random.default_rng``."""
        if prior not in PRIORS:
            raise ValueError(f"prior must be one of {PRIORS}, got {prior!r}")
        standard = self.latent_prior is None or prior == "standard"
        density = GaussianMixture.standard(self.latent_dim) if standard else self.latent_prior
        return density.sample(n, np.random.default_rng(seed))

    def sample(self, n: int, seed: int | None = None, prior: str = "fitted",
               batch_size: int | None = None) -> np.ndarray:
        """Decode ``n`` (an integer >= 0) :meth:`prior_codes`, ``batch_size`` at a time (default: all at
        once): float32 ``(n, *decoded_shape)`` (volumes for a model from slices); the same ``seed`` and
        ``batch_size`` draw the same images, the decoder's noise (``decoder_noise``) included."""
        z = self.prior_codes(n, seed, prior)  # checks n
        if len(z) == 0:  # the decoder's layers would drop the batch's shape
            return np.zeros((0, *self.decoded_shape), np.float32)
        if seed is not None:
            reseed_noise(self.decoder, seed)
        step = len(z) if batch_size is None else check_positive_int(batch_size, "batch_size")
        return np.concatenate([np.asarray(self.decode(z[start:start + step]), np.float32)
                               for start in range(0, len(z), step)])

    @property
    def metrics(self):
        return [*self.trackers.values(), self.latent_usage]

    @property
    def console_metrics(self) -> tuple[str, ...]:
        """The metrics ``fit`` shows on the console, in order: ``loss``; the weighted terms whose
        weight is not 0 (``stats_loss``, ``kl_loss``, ``data_loss``, and ``anchor_loss``,
        ``binary_loss`` and ``perimeter_loss`` when scheduled); ``stats_distance``; ``binary_share``
        for an output meant to be binary (a phase output, or a binariness term); their ``val_`` twins and
        ``val_active_units``.  The others (the KL of each latent dimension, ``pixel_mse``,
        ``val_prior_stats_distance``, the learning rate) go to the history only: ``history.csv`` and
        TensorBoard get every metric."""
        weights = (("stats_loss", self.alpha), ("kl_loss", self.beta), ("data_loss", self.gamma),
                   ("anchor_loss", self.schedule.anchor), ("binary_loss", self.schedule.binary_weight),
                   ("perimeter_loss", self.schedule.perimeter_weight))
        names = ["loss", *(term for term, weight in weights if weight > 0), "stats_distance"]
        if self.output_kind != "sigmoid" or self.schedule.binary_weight > 0:
            names.append("binary_share")
        return (*names, *(f"val_{name}" for name in names), "val_active_units")

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, **kwargs):
        """``keras.Model.fit``, which also gives the loss schedule the run's length in steps, shows
        only :attr:`console_metrics`, and refuses images ``x`` (or ``validation_data``) given as an
        array that are not in [0, 1]: NaN or infinity (one bad pixel would turn every weight into
        NaN) or, say, 8-bit grey levels 0..255 (the statistics' phase indicators and the sigmoid
        output assume [0, 1]).  ``make_dataset`` checks its sources the same way; a ``tf.data``
        dataset is not checked.

        ``verbose="auto"`` is a progress bar per batch on a terminal and one line per epoch
        otherwise (a log file gets no bar); a ``keras.callbacks.ProgbarLogger`` among ``callbacks``
        replaces the short console (Keras' shows every metric)."""
        _check_unit_images(x, "x")
        validation = kwargs.get("validation_data")
        _check_unit_images(validation[0] if isinstance(validation, (tuple, list)) else validation, "validation_data")
        if verbose == "auto":
            verbose = 1 if on_terminal(True) else 2
        callbacks = [*(callbacks or []), _ScheduleClock()]
        if verbose and not any(isinstance(callback, keras.callbacks.ProgbarLogger) for callback in callbacks):
            callbacks.append(_ConsoleLogger(self.console_metrics))
        self.initialise_output_bias(x)
        return super().fit(x, y, batch_size=batch_size, epochs=epochs, verbose=verbose, callbacks=callbacks,
                           **kwargs)

    def initialise_output_bias(self, x) -> None:
        """Before the first step, start the decoder's output at the data's mean grey level: set the bias
        of its last convolution (``to_image``) to the logit of the mean of ``x``'s first images (an array or
        tensor ``(n, *image_shape)``, at most :data:`BIAS_SAMPLE` of them, or a dataset's first batch), clipped to
        [0.01, 0.99].  A decoder that starts at 0.5 instead overshoots towards the majority phase within
        a few steps and saturates its sigmoid, where the gradient vanishes: it then draws a blank image for
        every input (data-dependent initialisation, Salimans & Kingma 2016; Karpathy's "init well").

        Nothing happens once the optimizer has taken a step (a resumed run, a second ``fit``), for a
        softmax output (its channels are phases, not a grey level), or for data of another kind than an
        array, a tensor or a ``tf.data.Dataset`` of images (or ``(images, ...)`` tuples).
        """
        if self.output_kind == "softmax" or (getattr(self, "optimizer", None) is not None
                                             and int(self.optimizer.iterations.numpy()) > 0):
            return
        if isinstance(x, (np.ndarray, tf.Tensor)):
            first = x[:BIAS_SAMPLE]
        elif isinstance(x, tf.data.Dataset):
            first = next(iter(x.take(1)), None)
            first = first[0] if isinstance(first, (tuple, list)) else first
        else:
            return
        if first is None or np.size(first) == 0:
            return
        mean = float(np.clip(np.mean(np.asarray(first, np.float64)), 0.01, 0.99))
        bias = self.decoder.get_layer("to_image").bias  # a phase output starts training at temperature 1
        bias.assign(tf.fill(tf.shape(bias), math.log(mean / (1.0 - mean))))

    def progress(self) -> tf.Tensor:
        """Training progress in [0, 1]: optimizer steps taken over the steps of the current ``fit``
        (1 outside ``fit``, where schedules take their final values)."""
        total = tf.cast(self.schedule_steps, tf.float32)
        optimizer = getattr(self, "optimizer", None)
        done = tf.cast(optimizer.iterations, tf.float32) if optimizer is not None else 0.0
        return tf.where(total > 0, tf.minimum(done / tf.maximum(total, 1.0), 1.0), 1.0)

    # ----------------------------------------------------------- training
    def _loss_terms(self, x: tf.Tensor, training: bool, plane_targets: tf.Tensor | None = None
                    ) -> dict[str, tf.Tensor]:
        """The weighted loss terms and the measures of a batch ``x`` ``(batch, *image_shape)``.

        A model from slices compares its volumes' coordinate planes with ``plane_targets``
        ``(batch, 3, N, N, C)``, one micrograph crop per plane, or with ``x`` for all three planes
        when ``None`` (an isotropic material); its pixel terms (anchor, ``pixel_mse``) compare ``x``
        with the volume's first slice (:func:`input_slice`)."""
        x = tf.cast(x, tf.float32)
        # float32 for the loss even under a mixed-precision policy (FFTs need it)
        z_mean, z_log_var = (tf.cast(t, tf.float32) for t in self.encode(x, training=training))
        if training:
            noise = keras.random.normal(tf.shape(z_mean), seed=self.seed_generator)
            z = z_mean + tf.exp(0.5 * z_log_var) * noise
        else:
            z = z_mean
        schedule, progress = self.schedule, self.progress()
        x_hat, phases = self._reconstruct(z, training, progress)

        eps = schedule.eps(progress, self.stats_options.eps) if schedule.eps_start is not None else None
        stats, stats_distance = self._statistics_terms(x, x_hat, phases, eps, plane_targets)
        x_hat_input = input_slice(x_hat, len(self.image_shape) - 1)
        data = _per_sample_data_loss(x, x_hat_input, self.data_loss)
        # A term with weight 0 is only a metric: keep its (FFT) backward pass out of the graph.
        stats = tf.stop_gradient(stats) if self.alpha == 0 else stats
        data = tf.stop_gradient(data) if self.gamma == 0 else data
        kl_per_dimension = _kl_per_dimension(z_mean, z_log_var)
        # free bits: each dimension's batch-mean KL counts at least free_bits nats (0: the plain sum)
        kl = tf.reduce_sum(tf.maximum(batch_mean(kl_per_dimension), schedule.free_bits))
        terms = {
            "stats_loss": self.alpha * batch_mean(stats),
            "kl_loss": self.beta * schedule.kl_factor(progress) * kl,
            "data_loss": self.gamma * batch_mean(data),
            "stats_distance": batch_mean(stats_distance),
            "pixel_mse": batch_mean(_per_sample_data_loss(x, x_hat_input, "mse")),
            "binary_share": batch_mean(binary_share(phases)),
        }
        terms["loss"] = terms["stats_loss"] + terms["kl_loss"] + terms["data_loss"]
        if schedule.anchor > 0:
            blurred = [gaussian_blur(image, schedule.anchor_sigma) for image in (x, x_hat_input)]
            anchor = shift_aligned_sse(*blurred) if schedule.anchor_aligned else _per_sample_data_loss(*blurred, "sse")
            terms["anchor_loss"] = schedule.anchor_weight(progress) * batch_mean(anchor)
            terms["loss"] += terms["anchor_loss"]
        if schedule.binary_weight > 0:
            # per slice for a model from slices: its statistics distance is one plane's, N^2 lags, not N^3
            per_image = math.prod(self.image_shape[:-1]) / math.prod(self.decoded_shape[:-1])
            terms["binary_loss"] = schedule.binary_factor(progress) * per_image * batch_mean(binariness(phases))
            terms["loss"] += terms["binary_loss"]
        if schedule.perimeter_weight > 0:
            perimeter = self.perimeter_term(x, phases, plane_targets)
            terms["perimeter_loss"] = schedule.perimeter_factor(progress) * batch_mean(perimeter)
            terms["loss"] += terms["perimeter_loss"]
        if not training:
            self.latent_usage.update_state(z_mean, kl_per_dimension)
        return terms

    def perimeter_term(self, x: tf.Tensor, phases: tf.Tensor, plane_targets: tf.Tensor | None = None) -> tf.Tensor:
        """Each reconstruction's perimeter error before its weight, float32 ``(batch,)``: ``N sum_a ((P_a(p)
        - P_a(x)) / (2 scale))^2`` with ``P_a`` the :func:`soft_perimeter` along axis ``a`` of the
        reconstruction's phase maps ``phases`` and of the input ``x`` (its phase indicators for a softmax
        output), ``N`` the input's pixels and ``scale`` the statistics'.  For binary images ``P_a / 2 =
        f(0) - f(e_a)`` of the autocorrelation (issue 22's third identity), so weight 1 counts the
        perimeter's error as if every one of the N lags of the statistics distance were off by it: as much
        as the volume fraction weighs there (``sum_r f(r) = N <m>^2``), where one lag's weight let the
        decoders draw interfaces 40 % short.

        A model from slices holds each axis of its volume to the micrograph crops of the two coordinate
        planes that contain it (``plane_targets`` ``(batch, 3, N, N, C)``, planes normal to axis 0, 1, 2),
        or of the one crop ``x`` for all three planes, as :meth:`StatsOptions.slice_distance` pairs them:
        the mean of the crops' perimeters along that axis."""
        if self.from_slices:
            crops = x if plane_targets is None else tf.cast(plane_targets, tf.float32)
            planes = [soft_perimeter(crops)] * 3 if crops.shape.rank == 4 else [
                soft_perimeter(crops[:, k]) for k in range(3)]
            target = tf.stack([sum(planes[k][:, plane_axes(k).index(axis)] for k in range(3) if k != axis) / 2.0
                               for axis in range(3)], axis=1)
        else:
            target = soft_perimeter(self.stats_options.indicators(x, None) if self.output_kind == "softmax" else x)
        error = (soft_perimeter(phases) - target) / (2.0 * self.stats_options.scale)
        return math.prod(self.image_shape[:-1]) * tf.reduce_sum(tf.square(error), axis=1)

    def _statistics_terms(self, x: tf.Tensor, x_hat: tf.Tensor, phases: tf.Tensor, eps: tf.Tensor | None,
                          plane_targets: tf.Tensor | None) -> tuple[tf.Tensor, tf.Tensor]:
        """The statistics distance the loss weighs (at the indicator width ``eps``, ``None``: the
        options') and ``stats_distance``, the mean squared difference per lag of the statistics as
        configured, comparable across schedules and runs: ``(batch,)`` each."""
        if self.from_slices:
            targets = x if plane_targets is None else tf.cast(plane_targets, tf.float32)
            measure = self.stats_options.replace(metric="mse", scale=1.0, window_sigma=None, window_floor=0.0,
                                                 isotropy=0.0, symmetric_targets=False, target_shrink=1.0)
            return self.stats_options.slice_distance(targets, x_hat, eps=eps), measure.slice_distance(targets, x_hat)
        if self.output_kind == "softmax":  # the channels are the reconstruction's phase indicators
            options, x_stats = self.stats_options.replace(kind=None), self.stats_options.indicators(x, eps)
            stats = options.distance(x_stats, phases)
            return stats, options.lag_mse(x_stats, phases, distance=stats)
        stats = self.stats_options.distance(x, x_hat, eps=eps)
        return stats, self.stats_options.lag_mse(x, x_hat, distance=None if eps is not None else stats)

    def _reconstruct(self, z: tf.Tensor, training: bool, progress: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """The decoded images ``(batch, *image_shape)`` of ``z`` and their phase maps: the images
        themselves for two phases, the softmax channels ``(batch, *spatial, K)`` for a softmax
        output; both float32.  In training, a phase output draws them from the logits as
        :meth:`training_output` says; otherwise they are the decoder's (deterministic) output."""
        if self._logits is None:
            x_hat = tf.cast(self.decode(z, training=training), tf.float32)
            return x_hat, x_hat
        logits = tf.cast(self._logits(z), tf.float32)
        x_hat = self.training_output(logits, progress) if training else self.decoder.layers[-1](logits)
        return x_hat, tf.nn.softmax(logits) if self.output_kind == "softmax" else x_hat

    def training_output(self, logits: tf.Tensor, progress: tf.Tensor) -> tf.Tensor:
        """The images a phase output gives the loss in training, from the decoder's ``logits``
        at ``progress``, float32 ``(batch, *image_shape)``:

        * ``"concrete"``: a relaxed-Bernoulli sample ``sigmoid((logits + L) / T(p))``, ``L``
          standard logistic noise (from the model's seed generator), ``T`` annealed from
          ``schedule.temperature_start`` to the output's temperature;
        * ``"straight_through"``: ``sigmoid(logits)``; from ``schedule.hard_from`` on, its
          rounding in the forward pass with the sigmoid's gradient,
          ``s + stop_gradient(round(s) - s)``;
        * ``"softmax"``: the deterministic output (the loss uses the softmax channels).
        """
        output = self.decoder.layers[-1]
        if self.output_kind == "concrete":
            u = keras.random.uniform(tf.shape(logits), minval=1e-6, maxval=1.0 - 1e-6, seed=self.seed_generator)
            noise = tf.math.log(u) - tf.math.log1p(-u)
            return tf.sigmoid((logits + noise) / self.schedule.temperature(progress, output.temperature))
        if self.output_kind == "straight_through":
            soft = tf.sigmoid(logits)
            hard = soft + tf.stop_gradient(tf.cast(logits > 0, tf.float32) - soft)
            return tf.where(self.schedule.hard(progress), hard, soft)
        return output(logits)

    def reconstruction_loss(self, x: tf.Tensor, x_hat: tf.Tensor) -> tf.Tensor:
        """Each image's reconstruction terms of the loss as they end training: ``alpha * d(x, x_hat) +
        gamma * data(x, x_hat)`` (the final indicator width; no anchor), float32 ``(batch,)``; a model from
        slices compares the planes of its volumes ``x_hat`` with ``x`` (:meth:`StatsOptions.slice_distance`).
        A term with weight 0 is not computed."""
        x, x_hat = (tf.convert_to_tensor(t, tf.float32) for t in (x, x_hat))
        loss = tf.zeros(tf.shape(x)[:1], tf.float32)
        if self.alpha > 0:
            compare = self.stats_options.slice_distance if self.from_slices else self.stats_options.distance
            loss += self.alpha * compare(x, x_hat)
        if self.gamma > 0:
            loss += self.gamma * _per_sample_data_loss(x, x_hat, self.data_loss)
        return loss

    def _prior_stats_distance(self, x: tf.Tensor, plane_targets: tf.Tensor | None = None) -> tf.Tensor:
        """Mean squared difference per lag between the batch-mean statistics of
        ``x`` and of as many decoded prior samples ``z ~ N(0, I)``; for a model
        from slices, between the mean statistics of each coordinate plane of the
        samples and of that plane's targets (``plane_targets``, or ``x``).

        Measures the generative side of the latent space: a model that ignores
        its prior (e.g. trained without the KL term) decodes samples whose
        statistics differ from the data's.  The prior draws use a fixed seed,
        so the value is repeatable.
        """
        z = tf.random.stateless_normal([tf.shape(x)[0], self.latent_dim], seed=[self.seed or 0, 1])
        generated = tf.cast(self.decode(z, training=False), tf.float32)
        if self.from_slices:
            data = self.stats_options.slice_statistics(x if plane_targets is None else plane_targets)
            samples = self.stats_options.plane_statistics(generated)
        else:
            data, samples = self.stats_options.statistics(x), self.stats_options.statistics(generated)
        return tf.reduce_mean(tf.square(batch_mean(samples) - batch_mean(data)))

    def _log(self, terms: dict[str, tf.Tensor], batch_size: tf.Tensor) -> dict[str, tf.Tensor]:
        """Update the trackers named in ``terms`` with a batch's means, weighted by its ``batch_size``
        (so the running means are over images, and a replica's empty batch counts for nothing);
        return the running means."""
        for name, value in terms.items():
            self.trackers[name].update_state(value, sample_weight=tf.cast(batch_size, tf.float32))
        return {name: self.trackers[name].result() for name in terms}

    def _unpack(self, data) -> tuple[tf.Tensor, tf.Tensor | None]:
        """``(x, plane_targets)`` of a batch: ``x``, or ``(x, ...)`` whose second item a model from slices
        takes as its plane targets (``(batch, 3, N, N, C)``, :meth:`_loss_terms`), other models ignore."""
        if not isinstance(data, (tuple, list)):
            return data, None
        return data[0], data[1] if self.from_slices and len(data) > 1 else None

    def train_step(self, data):
        x, plane_targets = self._unpack(data)
        if self.shift_augment:
            x = random_periodic_shift(x, self.seed_generator)
        with tf.GradientTape() as tape:
            terms = self._loss_terms(x, training=True, plane_targets=plane_targets)
            loss = terms["loss"] / tf.distribute.get_strategy().num_replicas_in_sync
            loss = self.optimizer.scale_loss(loss)
        gradients = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights))
        return _step_logs(self._log(terms, tf.shape(x)[0]))

    def test_step(self, data):
        x, plane_targets = self._unpack(data)
        x = tf.cast(x, tf.float32)
        terms = self._loss_terms(x, training=False, plane_targets=plane_targets)
        terms["prior_stats_distance"] = self._prior_stats_distance(x, plane_targets)
        return _step_logs({**self._log(terms, tf.shape(x)[0]), **self.latent_usage.result()})

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
            schedule=self.schedule.to_json(),
            latent_prior=None if self.latent_prior is None else self.latent_prior.to_json(),
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
    upsampling: str = "transpose",
    padding: str = "zeros",
    schedule: LossSchedule | dict[str, Any] | None = None,
    encoder_input: str = "image",
    output: str = "sigmoid",
    temperature: float = 0.1,
    decoded_shape: Sequence[int] | None = None,
    decoder_noise: float = 0.0,
    decoder_activation: str = "relu",
) -> SpatialStatsVAE:
    """Encoder, decoder and :class:`SpatialStatsVAE` in one call (not compiled).

    The encoder takes ``image_shape``, the decoder draws ``decoded_shape`` (default: the same); a
    model from slices takes ``(N, N, C)`` micrographs and draws ``(N, N, N, C)`` volumes.
    ``upsampling``, ``output``, ``temperature``, ``decoder_noise`` (its ``noise``: the starting scale, 0
    for none) and ``decoder_activation`` (its ``activation``) are the decoder's (:func:`build_decoder`;
    a softmax output has the statistics' phases), ``padding`` both networks'; ``encoder_input="statistics"`` gives the
    encoder the images' statistics as the loss computes them
    (:class:`StatisticsInput`); the rest as in :class:`SpatialStatsVAE`.
    """
    if encoder_input not in ENCODER_INPUTS:
        raise ValueError(f"encoder_input must be one of {ENCODER_INPUTS}, got {encoder_input!r}")
    architecture = dict(image_shape=image_shape, latent_dim=latent_dim, depth=depth, filters=filters,
                        hidden_units=hidden_units, padding=padding)
    statistics_input = StatsOptions.from_json(stats_options) if encoder_input == "statistics" else None
    encoder = build_encoder(**architecture, statistics_input=statistics_input)
    decoder = build_decoder(**{**architecture, "image_shape": decoded_shape or image_shape}, upsampling=upsampling,
                            output=output, temperature=temperature,
                            n_phases=StatsOptions.from_json(stats_options).n_phases, noise=decoder_noise,
                            activation=decoder_activation)
    return SpatialStatsVAE(encoder, decoder,
                           alpha=alpha, beta=beta, gamma=gamma, data_loss=data_loss, stats_options=stats_options,
                           seed=seed, shift_augment=shift_augment, schedule=schedule)
