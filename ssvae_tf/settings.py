"""Every setting of a training run, as one value: :class:`TrainConfig`.

Light at import (no TensorFlow): the command line builds its options from
these fields, their defaults and their help texts, so each is written once,
here.  Each field belongs to one of :data:`SETTING_GROUPS` (data, model, loss,
fit, runtime): ``ssvae train --help`` heads its options by group, and a search
takes its [data] and [space] keys from the groups (``tuning.config``).  The
record stays flat: a run writes its ``TrainConfig`` as one table in
``config.json`` (:class:`ssvae_tf.run_dir.RunDir`), and
:func:`recorded_settings` / :func:`read_settings_file` read it back.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ssvae_tf._checks import check_bool, check_median_side, check_positive_int, check_positive_real, check_share
from ssvae_tf._io import read_toml_or_json
from ssvae_tf.schedules import KL_SCHEDULES, LossSchedule

#: Built-in data sets accepted by ``TrainConfig.data`` besides a path: name -> description.
BUILTIN_DATA = {
    "lines": "the paper's line images, 1-4 vertical or horizontal lines",
    "lines-hard": "the harder line set, 3-7 lines",
    "microstructure": "two-phase Gaussian random fields, volume fraction 0.3-0.7, "
    "correlation lengths 4 px (rows) x 2 px (columns)",
}
#: The built-in data sets whose images hold lines (line count and orientation apply).
LINE_DATA = ("lines", "lines-hard")
DEFAULT_IMAGE_SIZE = 64
#: Image sides the convolutional encoder and decoder accept, in px.
MIN_SIDE, MAX_SIDE = 16, 256
#: Phase indicators a run's statistics loss may use.
INDICATORS = ("soft", "linear")
#: Pixel losses of the data-space term.
DATA_LOSSES = ("sse", "mse", "bce")
#: The architecture's defaults: latent size, first convolution's filters, dense units.
DEFAULT_LATENT_DIM, DEFAULT_FILTERS, DEFAULT_HIDDEN_UNITS = 9, 32, 256
#: The first convolution's filters of a model that draws volumes unless set otherwise: half of
#: ``DEFAULT_FILTERS``, 3.6x faster per 32^3 step than issue 23's start and, with leaky ReLUs, binary
#: sooner (docs/performance.md).
VOLUME_FILTERS = 16
#: Decoder upsampling: stride-2 transposed convolutions, resize-convolutions with residual blocks, one 3x3
#: convolution and linear interpolation x2 per level, or that with sub-pixel logits at the last level.
DECODERS = ("transpose", "resize", "upsample", "subpixel")
#: Adam's ``clipnorm`` unless set otherwise for a decoder with noise (measured on the nanopores, docs/3d-from-2d.md).
NOISY_DECODER_CLIP_NORM = 1.0
#: The decoder noise's starting scale, in units of the features' RMS, unless set otherwise (``noise_scale``), for
#: images and for volumes.  The scale is a weight but hardly moves in a run of a few hundred steps (0.5 -> 0.45-0.50
#: in every run of docs/3d-from-2d.md), so this start is the noise's strength: 0.5 draws volumes from micrographs
#: (docs/3d-from-2d.md), 0.2 gives 2-D crops their rough interfaces where 0.5 overshoots them (docs/real-data.md).
DECODER_NOISE_SCALE = {"images": 0.2, "volumes": 0.5}
#: The decoders that take ``decoder_noise``: a convolution at each level's low resolution.
NOISY_DECODERS = ("upsample", "subpixel")
#: What the decoder's last layer makes of its logits (``ssvae_tf.model.PhaseOutput``): a sigmoid, a
#: relaxed-Bernoulli (binary Concrete) sample, a straight-through hard indicator, or one softmax
#: channel per phase.
OUTPUTS = ("sigmoid", "concrete", "straight_through", "softmax")
#: The decoder's hidden activations: ReLU, or leaky ReLU (slope 0.2 below zero), whose units never stop
#: passing gradients.
DECODER_ACTIVATIONS = ("relu", "leaky_relu")
#: The decoder's activation unless set otherwise: leaky ReLUs for a statistics VAE and for any model that draws
#: volumes, ReLUs for the pixel baseline of images.  A decoder of ReLUs draws flat grey blocks where they all die
#: (in 3-D with ``VOLUME_FILTERS`` it stays grey, docs/performance.md); with the 2-D defaults leaky ReLUs met the
#: nanopores' targets on three seeds where ReLUs met them on one (docs/real-data.md); the baseline's line images
#: lost orientation with them (24.5 % against 34.2 %, docs/binary-outputs.md).
DEFAULT_DECODER_ACTIVATION = {"statistics": "leaky_relu", "volumes": "leaky_relu", "baseline": "relu"}
#: Edge handling of the 3x3 convolutions: zero padding or periodic wrap-around.
PADDINGS = ("zeros", "circular")
#: What the encoder sees: the images, or their periodic two-point statistics (the same for every shift).
ENCODER_INPUTS = ("image", "statistics")
#: The largest value each size setting may take: beyond these a run cannot fit in memory or time.
UPPER_LIMITS = {"latent_dim": 4096, "filters": 1024, "hidden_units": 65_536, "batch_size": 65_536,
                "epochs": 1_000_000, "n_images": 100_000_000}
#: The largest seed: Keras' ``set_random_seed`` takes 0 to 2**32 - 1.
MAX_SEED = 2**32 - 1
#: How ``ssvae train`` and ``ssvae tune`` spread training over devices (``ssvae_tf.distribute``).
STRATEGIES = ("auto", "one-device", "mirrored", "multi-worker")
#: The default KL weight at 64 x 64 px, measured (docs/binary-outputs.md: 0.001 left the prior samples grey on
#: real micrographs, 0.01 draws them as sharp as the reconstructions); it scales with the pixel count.
BETA_AT_64 = 0.01
#: The fewest pixels (voxels) the random crops of a training epoch hold when ``crops_per_epoch`` is unset:
#: 2048 crops of 64 x 64 px or 256 of 32^3.  One micrograph of 700 x 1000 px covers its pixels with 112 crops
#: of 64 px, 4 batches: too few steps to learn anything in 10 epochs (docs/binary-outputs.md).
MIN_PIXELS_PER_EPOCH = 2048 * 64 * 64
#: ... and the fewest crops: 32 steps of 32.  256 crops of 32^3 (8 steps an epoch, 80 in 10 epochs) taught the
#: 3-D model nothing; 1024 (320 steps) teach it (docs/real-data.md).
MIN_CROPS_PER_EPOCH = 1024
#: The loss settings a model with a statistics loss gets when they are unset (a pixel-only model gets 0),
#: measured in docs/binary-outputs.md: a blurred-pixel anchor fading out over the first half of the run, so
#: that each reconstruction follows its input (without it every input decoded to nearly the same picture),
#: a binariness term ramped in over the second half, so that the outputs are phases, not grey, and the perimeter
#: term ramped in with it.  With the decoder noise that a model of images also gets
#: (``TrainConfig.model_decoder_noise``) and leaky ReLUs, it met every 2-D nanopore target of issue 22 on three
#: seeds, where without them the perimeter was 41 % short; on 3-D crops of the nanopores it made the volumes
#: 98 % binary voxels against 92 % (docs/real-data.md).
STATISTICS_VAE_DEFAULTS = {"anchor": 1.0, "binary_weight": 0.05, "perimeter_weight": 4.0}


def default_beta(spatial_shape: tuple[int, ...]) -> float:
    """The KL weight for images of ``spatial_shape`` px: ``BETA_AT_64 * n_pixels / 64^2``, 3 significant digits.

    Both reconstruction terms are sums over the pixels (or lags), the KL term
    is not: keeping their balance means scaling beta with the pixel count.

    >>> default_beta((64, 64)), default_beta((32, 32)), default_beta((224, 224))
    (0.01, 0.0025, 0.122)
    """
    n_pixels = math.prod(int(side) for side in spatial_shape)
    return float(f"{BETA_AT_64 * n_pixels / 64**2:.3g}")


def default_depth(image_shape: tuple[int, ...]) -> int:
    """Four halvings, fewer for small images (the smallest feature map is >= 2 px), for data of ``image_shape``
    ``(*spatial, channels)``.

    >>> default_depth((64, 64, 1)), default_depth((16, 24, 1)), default_depth((4, 4, 1))
    (4, 3, 1)
    """
    return min(4, int(math.log2(min(image_shape[:-1]))) - 1)


def _threshold_value(value: Any) -> str | float:
    """``"otsu"`` or a grey level in [0, 1] (text such as ``"0.5"`` becomes a number).

    >>> _threshold_value("0.5"), _threshold_value("otsu")
    (0.5, 'otsu')
    """
    if value == "otsu":
        return value
    try:
        level = float(value)
    except (TypeError, ValueError):
        level = math.nan
    if isinstance(value, bool) or not 0 <= level <= 1:
        raise ValueError(f"threshold must be 'otsu' or a grey level in [0, 1], got {value!r}")
    return level


#: The groups of :class:`TrainConfig`'s fields, in the order ``ssvae train --help`` shows them: name -> what
#: its fields say.  Each field names its group (:func:`setting_group`); ``config.json`` and the command
#: line stay flat.
SETTING_GROUPS = {
    "data": "What the run trains on, how it is read, cropped, split and normalised",
    "model": "The architecture of the encoder and the decoder",
    "loss": "The statistics, pixel and KL terms, and how they change over the run",
    "fit": "The optimisation: epochs, batches, learning rate, augmentation, early stopping, seed",
    "runtime": "How the steps compute: precision and XLA",
}


def _setting(group: str, default: Any, help: str, *, kind: type | None = None, choices: tuple | None = None) -> Any:
    """A ``TrainConfig`` field with its group (a key of :data:`SETTING_GROUPS`), its help text, its
    value type (``kind``, when the default is ``None``) and its allowed values: what ``ssvae train``
    and a search need to know."""
    if group not in SETTING_GROUPS:
        raise ValueError(f"group must be one of {list(SETTING_GROUPS)}, got {group!r}")
    metadata = {"group": group, "help": help, "kind": kind or type(default), "choices": choices}
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run (what ``ssvae train`` exposes).

    Checked at construction: a bad value raises ``ValueError`` naming it.
    ``loss_weights(spatial_shape)`` gives the ``(alpha, beta, gamma)``
    actually trained, ``loss_schedule`` how the loss changes over the run.
    """

    data: str = _setting(
        "data", "lines", "lines | lines-hard | microstructure | PATH (.npy, .npz or a folder of PNG/TIFF)")
    image_size: int | None = _setting(
        "data", None, f"side of the generated images in px, {MIN_SIDE}-{MAX_SIDE} (default {DEFAULT_IMAGE_SIZE}; "
        "a PATH brings its own)", kind=int)
    n_images: int = _setting("data", 2000, "number of generated images (built-in data sets)")
    dims: int | None = _setting(
        "data", None, "spatial dimensions: 2 (images) or 3 (volumes, microstructure only) of the generated data "
        "(default 2); a PATH brings its own and is checked against it", kind=int, choices=(2, 3))
    phases: int | None = _setting(
        "data", None, "read the data as label images: integers 0..K-1 of K >= 2 phases, phase h at grey level "
        "h/(K-1) (default: grey images in [0, 1], two phases)", kind=int)
    threshold: str | float | None = _setting(
        "data", None, "binarise grey data: 'otsu' or a grey level in [0, 1], 1 (white) above it (default: keep the "
        "grey values; the soft indicator sees them)", kind=str)
    median: int = _setting(
        "data", 1, "median filter of grey data before --threshold, side in px (odd): 3 removes the salt-and-pepper "
        "that thresholding a noisy micrograph leaves, as Fiji's Despeckle; 1: none")
    patch_size: int | None = _setting(
        "data", None, f"train on random crops of this side ({MIN_SIDE}-{MAX_SIDE} px or voxels) from images or "
        "volumes of any size (default: whole images)", kind=int)
    crops_per_epoch: int | None = _setting(
        "data", None, "random crops per training epoch with --patch-size (default: enough to cover the training "
        "pixels once, and at least 2048 x 64^2 pixels and 1024 crops: 2048 crops of 64 px, 1024 of 32^3)", kind=int)
    validation_slab: bool = _setting(
        "data", False, "with --patch-size, hold out the last --validation-split of every image or volume along its "
        "first axis, instead of whole images (for one large image or volume)")
    from_slices: bool = _setting(
        "data", False, "train a 3-D model on 2-D micrographs: the encoder takes N x N crops (--patch-size N, or "
        "square images), the decoder draws N^3 volumes, and the loss compares the statistics of each of their "
        "three coordinate planes with the crop's (an isotropic material: one micrograph for every plane; "
        "--slices-xz and --slices-yz for an anisotropic one)")
    slices_xz: str | None = _setting(
        "data", None, "with --from-slices: micrographs of the x-z planes (rows z, columns x), read as --data is; "
        "the volumes' lags with no y component are compared with their crops (default: --data's; "
        "--slices-yz defaults to these: a material isotropic about z)", kind=str)
    slices_yz: str | None = _setting(
        "data", None, "with --from-slices: micrographs of the y-z planes (rows z, columns y) (default: "
        "--slices-xz, else --data)", kind=str)
    latent_dim: int = _setting("model", DEFAULT_LATENT_DIM, "size of the latent space")
    alpha: float = _setting("loss", 1.0, "weight of the statistics loss")
    beta: float | None = _setting(
        "loss", None, f"weight of the KL term (default {BETA_AT_64:g} x pixels / 64^2: keeps its balance with the "
        "reconstruction sums at any image size)", kind=float)
    gamma: float = _setting("loss", 0.0, "weight of the pixel loss")
    baseline: bool = _setting("loss", False, "the paper's data-space baseline: pixel loss + KL (alpha=0, gamma=1)")
    data_loss: str = _setting("loss", "sse", "pixel loss: sum of squares, mean of squares or binary cross-entropy",
                              choices=DATA_LOSSES)
    epochs: int = _setting("fit", 20, "training epochs")
    batch_size: int = _setting("fit", 32, "images per batch")
    learning_rate: float = _setting(
        "fit", 1e-3, "Adam's learning rate, halved for the last 10 %% of the epochs (the paper's schedule)")
    clip_norm: float | None = _setting(
        "fit", None, "Adam's clipnorm: each weight's gradient is scaled down to at most this norm (default "
        f"{NOISY_DECODER_CLIP_NORM:g} with decoder noise, whose training dies without it on the nanopores, "
        "docs/3d-from-2d.md; else off; 0: off)", kind=float)
    depth: int | None = _setting(
        "model", None, "stride-2 convolutions (default 4, fewer for images under 32 px)", kind=int)
    filters: int | None = _setting(
        "model", None, f"filters of the first convolution (doubling per level, capped 8x; default {DEFAULT_FILTERS} "
        f"for images, {VOLUME_FILTERS} for a model that draws volumes)", kind=int)
    hidden_units: int = _setting("model", DEFAULT_HIDDEN_UNITS, "width of the dense layer before the latent heads")
    validation_split: float = _setting("data", 0.3, "fraction of the images held out for validation")
    stats_scale: float | None = _setting(
        "data", None, "divide the statistics by this (default: the largest volume fraction in the data, the "
        "paper's)", kind=float)
    indicator: str = _setting(
        "loss", "soft", "phase indicator of the statistics loss: the paper's soft one or linear (1 - x)",
        choices=INDICATORS)
    shift_augment: bool = _setting(
        "fit", False, "shift each training image by a random periodic offset (keeps periodic statistics)")
    eps: float = _setting(
        "loss", 0.25, "width of the soft phase indicator, in units of the spacing of the phases' grey levels "
        "(1 for two phases; the paper's 0.25)")
    eps_start: float | None = _setting(
        "loss", None, "anneal the indicator width from this to --eps over the run (default: constant)", kind=float)
    phase: int = _setting(
        "loss", 0, "phase whose autocorrelation the loss compares: 0 = black (the paper's), 1 = white, or a label "
        "0..K-1 with --phases K")
    correlations: str | None = _setting(
        "loss", None, "state pairs the loss compares instead, e.g. '0,0 1,1 0,1' (0 = black, 1 = white, or labels "
        "0..K-1 with --phases K; default: the autocorrelation of --phase)", kind=str)
    periodic: bool = _setting(
        "loss", True, "periodic statistics (images wrap around); --no-periodic for images that do not, then the "
        "lags go up to half the side unless --cutoff")
    cutoff: int | None = _setting(
        "loss", None, "largest lag the statistics loss compares, px per axis (default: every periodic lag, the "
        "paper's)", kind=int)
    stats_levels: int = _setting(
        "loss", 1, "resolutions of the statistics loss: the images and their 2x, 4x... average-pooled "
        "indicators, each normalised by its own zero lag")
    stats_window: float | None = _setting(
        "loss", None, "Gaussian lag window of the statistics loss, its standard deviation in px: the squared "
        "difference at lag r weighs exp(-|r|^2 / sigma^2), so the short lags, where the interfaces and the feature "
        "sizes show, count over the long ones (default: every lag alike)", kind=float)
    stats_window_floor: float = _setting(
        "loss", 0.0, "the lag window's value far from the zero lag, in [0, 1) (unused without --stats-window): the "
        "difference at lag r is weighed by floor + (1 - floor) exp(-|r|^2 / (2 sigma^2)), so the long lags, whose "
        "sum pins the volume fraction, are not dropped (0: a plain Gaussian window)")
    decoder: str = _setting(
        "model", "upsample", "decoder upsampling: upsample (a 3x3 convolution, then linear interpolation x2, per "
        "level; in 3-D each x2 and the convolution after it run as one convolution at the lower resolution, the same "
        "function, 2.1x faster per step at 32^3), subpixel (upsample, but the last level's logits come from a "
        "sub-pixel convolution: it learns lines 1-2 px wide, which upsample misses, but draws 2 px steps along "
        "smooth interfaces), "
        "resize-convolutions with residual blocks, or stride-2 transposed convolutions (about 0.94x "
        "upsample's time per step at 64 px, 1.6x at 32^3, but they draw checkerboards)", choices=DECODERS)
    output: str = _setting(
        "model", "sigmoid", "the decoder's output: sigmoid (grey), concrete (relaxed Bernoulli, annealed "
        "temperature), straight_through (hard 0/1 from --hard-from on) or softmax (one channel per phase, needs "
        "--phases K > 2; the image is the expected phase's grey level)", choices=OUTPUTS)
    temperature_end: float = _setting(
        "model", 0.1, "--output concrete: the final temperature; the decoded image is sigmoid(logits / it)")
    padding: str | None = _setting(
        "model", None, "edges of the 3x3 convolutions: zeros, or circular (wrap around, periodic like the "
        "statistics) (default circular with decoder noise, else zeros)", kind=str, choices=PADDINGS)
    decoder_activation: str | None = _setting(
        "model", None, "the decoder's hidden activations: relu, or leaky_relu (slope 0.2 below zero). Where every "
        "ReLU of a region is below zero the decoder draws the logits' bias there, a flat grey block no loss term "
        "can move (docs/3d-from-2d.md) (default leaky_relu, relu for the pixel baseline of images)", kind=str,
        choices=DECODER_ACTIVATIONS)
    encoder_input: str = _setting(
        "model", "image", "what the encoder sees: the image, or its periodic two-point statistics (the same for "
        "every shift of the image, like the loss)", choices=ENCODER_INPUTS)
    decoder_noise: bool | None = _setting(
        "model", None, "--decoder upsample or subpixel: add per-pixel Gaussian noise, in units of the features' RMS "
        "with a learned scale per channel, to the convolution of every level but the finest (StyleGAN's noise "
        "inputs): the code sets the statistics, the noise the arrangement; a decoded image is then one random "
        "realisation (default: on for a statistics VAE that draws images, with circular padding and --clip-norm; "
        "off for the baseline and for volumes, where --from-slices wants it on; docs/real-data.md, "
        "docs/3d-from-2d.md)", kind=bool)
    noise_scale: float | None = _setting(
        "model", None, f"the decoder noise's starting scale in units of the features' RMS (default "
        f"{DECODER_NOISE_SCALE['images']:g} for images, {DECODER_NOISE_SCALE['volumes']:g} for volumes); the scale "
        "is learned but hardly moves in a short run, so this sets the noise's strength (docs/real-data.md)",
        kind=float)
    kl_schedule: str = _setting("loss", "constant", "beta over the run: constant, linear warm-up or cyclical",
                                choices=KL_SCHEDULES)
    kl_cycles: int = _setting("loss", 4, "cycles of the cyclical KL schedule")
    kl_ramp: float = _setting(
        "loss", 0.5, "fraction of the run (warmup) or of each cycle (cyclical) over which beta rises from 0")
    free_bits: float = _setting(
        "loss", 0.0, "KL floor per latent dimension in nats: dimensions below it are not pushed to the prior "
        "(0: off)")
    anchor: float | None = _setting(
        "loss", None, "weight of a blurred-pixel loss that fades to 0 by --anchor-until: places each structure "
        "where the input has it, so reconstructions follow their inputs (default "
        f"{STATISTICS_VAE_DEFAULTS['anchor']:g} with a statistics loss and an encoder that sees the image, else "
        "0; 0: off)", kind=float)
    anchor_sigma: float = _setting("loss", 1.0, "blur of the anchor, px")
    binary_weight: float | None = _setting(
        "loss", None, "final weight of the binariness term sum_pixels x_hat (1 - x_hat), ramped in linearly from "
        f"--binary-start to the end of the run (default {STATISTICS_VAE_DEFAULTS['binary_weight']:g} with a "
        "statistics loss, else 0; 0: off)", kind=float)
    binary_start: float = _setting("loss", 0.5, "fraction of the run at which the binariness weight starts to rise")
    perimeter_weight: float | None = _setting(
        "loss", None, "final weight of the perimeter term, which holds each reconstruction's interface per axis "
        "to its input's, ramped in with the binariness term from --binary-start (1: the perimeter weighs as "
        "much as the volume fraction in the statistics distance; default "
        f"{STATISTICS_VAE_DEFAULTS['perimeter_weight']:g} with a statistics loss, else 0; 0: off)",
        kind=float)
    temperature_start: float = _setting(
        "loss", 1.0, "--output concrete: the temperature at the start, falling geometrically to --temperature-end")
    hard_from: float = _setting(
        "loss", 0.5, "--output straight_through: fraction of the run from which the output is hard")
    anchor_until: float = _setting("loss", 0.5, "fraction of the run after which the anchor is 0")
    isotropy: float = _setting(
        "loss", 0.0, "with --from-slices: weight of the volumes' lags in no coordinate plane, which no micrograph "
        "shows, against the micrographs' radially averaged statistics (an isotropic material), in units of one "
        "plane's distance (0: off, the lags are free)")
    symmetric_targets: bool = _setting(
        "loss", False, "with --from-slices and one micrograph stack (an isotropic material): compare the volume's "
        "planes with each crop's statistics averaged over the square's 8 rotations and reflections; one crop "
        "is anisotropic by chance, and no volume shows the same anisotropic statistics in its three planes")
    slice_target_shrink: float = _setting(
        "loss", 1.0, "with --from-slices: move each crop's statistics towards the batch's mean, mean + s (crop - "
        "mean), before the volume's planes are compared with them (1: the crop's own). A volume copies its "
        "crop's chance volume fraction, and an N x N crop's varies more than an N^3 crop's; s near the ratio "
        "of the two variances poses it as a real volume around the crop would (docs/3d-from-2d.md)")
    anchor_aligned: bool = _setting(
        "loss", False, "compare the anchor's blurred images after the best periodic shift (positions free, "
        "arrangement tied to the input)")
    early_stopping: int | None = _setting(
        "fit", None, "stop when val_stats_distance has not improved for this many epochs, and keep the best "
        "epoch's weights (default: train every epoch)", kind=int)
    mixed_precision: bool = _setting(
        "runtime", False, "compute in 16-bit floats where safe: mixed_float16 on a GPU, mixed_bfloat16 on a CPU "
        "(the loss terms and FFTs stay float32)")
    jit_compile: bool | None = _setting(
        "runtime", None, "compile the training step with XLA (default: Keras' choice, on with a GPU, off on a CPU)",
        kind=bool)
    seed: int = _setting("fit", 0, "seed of the data, the split, the weights and the sampling noise")

    def __post_init__(self):
        for name in ("n_images", "latent_dim", "epochs", "batch_size", "hidden_units", "stats_levels"):
            check_positive_int(getattr(self, name), name)
        for name in ("image_size", "depth", "early_stopping", "filters"):
            if getattr(self, name) is not None:
                check_positive_int(getattr(self, name), name)
        for name, limit in UPPER_LIMITS.items():
            if (getattr(self, name) or 0) > limit:
                raise ValueError(f"{name} must be at most {limit:,}, got {getattr(self, name):,}")
        if self.image_size is not None and not MIN_SIDE <= self.image_size <= MAX_SIDE:
            raise ValueError(f"image_size must be between {MIN_SIDE} and {MAX_SIDE} px, got {self.image_size}")
        for name in ("alpha", "beta", "gamma", "isotropy", "stats_window_floor"):
            if not (name == "beta" and self.beta is None):
                object.__setattr__(self, name, check_positive_real(getattr(self, name), name, allow_zero=True))
        object.__setattr__(self, "slice_target_shrink", check_share(self.slice_target_shrink, "slice_target_shrink"))
        for name in setting_names():  # text such as "no" would count as true
            if setting_kind(name) is bool and getattr(self, name) is not None:
                object.__setattr__(self, name, check_bool(getattr(self, name), name))
        if not (isinstance(self.eps, (int, float)) and math.isfinite(self.eps) and self.eps > 0):
            raise ValueError(f"eps must be a positive number, got {self.eps!r}")
        if self.cutoff is not None and not (isinstance(self.cutoff, int) and self.cutoff >= 0):
            raise ValueError(f"cutoff must be an integer >= 0 (px), got {self.cutoff!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"seed must be an integer from 0 to {MAX_SEED} (Keras' seeds), got {self.seed!r}")
        self._check_data_reading()
        self.correlation_pairs  # checks the pairs
        if not (isinstance(self.phase, int) and 0 <= self.phase < self.n_phases):
            raise ValueError(f"phase must be a phase 0..{self.n_phases - 1} of the {self.n_phases} phases, "
                             f"got {self.phase!r}")
        if self.stats_window is not None:
            check_positive_real(self.stats_window, "stats_window")
        if not self.stats_window_floor < 1:  # unused without stats_window, as noise_scale without decoder_noise
            raise ValueError(f"stats_window_floor is the lag window's value far from the zero lag, in [0, 1); got "
                             f"{self.stats_window_floor!r}")
        if self.clip_norm is not None:
            object.__setattr__(self, "clip_norm", check_positive_real(self.clip_norm, "clip_norm", allow_zero=True))
        if self.noise_scale is not None:  # unused without decoder_noise, as temperature_end without concrete
            object.__setattr__(self, "noise_scale", check_positive_real(self.noise_scale, "noise_scale"))
        if self.decoder_noise and self.decoder not in NOISY_DECODERS:
            raise ValueError(f"decoder_noise adds noise to the convolutions of the decoders {list(NOISY_DECODERS)}; "
                             f"expected one of them, got decoder={self.decoder!r}")
        if self.baseline and ((self.anchor or 0) > 0 or self.stats_levels > 1 or self.eps_start is not None
                              or self.stats_window is not None):
            raise ValueError("anchor, stats_levels, stats_window and eps_start shape the statistics loss, which the "
                             "pixel baseline does not use; leave them at their defaults with --baseline")
        if self.baseline and self.encoder_input == "statistics":
            raise ValueError("encoder_input='statistics' hides where the structures are, which the pixel baseline "
                             "must reconstruct; expected encoder_input='image' with --baseline")
        object.__setattr__(self, "learning_rate", check_positive_real(self.learning_rate, "learning_rate"))
        if not 0 <= self.validation_split < 1:
            raise ValueError(f"validation_split must be in [0, 1), got {self.validation_split!r}")
        if self.early_stopping is not None and self.validation_split == 0:
            raise ValueError("early_stopping watches val_stats_distance; expected validation_split > 0")
        if self.stats_scale is not None:
            object.__setattr__(self, "stats_scale", check_positive_real(self.stats_scale, "stats_scale"))
        self._check_output()
        for name in setting_names():  # every setting with choices; its default (None for some) goes too
            allowed = setting_choices(name)
            if allowed is not None and getattr(self, name) not in allowed + (setting_default(name),):
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        self.loss_schedule  # checks the schedule's fields
        if self.data not in BUILTIN_DATA and not Path(self.data).exists():
            raise ValueError(
                f"data must be one of {sorted(BUILTIN_DATA)} or an existing .npy/.npz file or image "
                f"folder, got {self.data!r}"
            )

    def _check_output(self) -> None:
        """Checks the fields of the decoder's output (the schedule checks the rest)."""
        for name in ("temperature_start", "temperature_end"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if not (isinstance(self.hard_from, (int, float)) and 0 <= self.hard_from <= 1):
            raise ValueError(f"hard_from must be a fraction of the run in [0, 1], got {self.hard_from!r}")
        if self.output == "softmax" and self.n_phases < 3:
            raise ValueError("output 'softmax' gives one channel per phase of label images; expected --phases K "
                             f"with K > 2, got {self.n_phases} phases (use 'sigmoid' for two)")
        if self.output == "softmax" and (self.baseline or self.indicator != "soft"):
            raise ValueError("output 'softmax' feeds its channels to the statistics loss as the phase indicators; "
                             "expected the soft indicator and no --baseline")

    def _check_data_reading(self) -> None:
        """Checks the fields that say how the data are read and cropped; canonical ``threshold``."""
        if self.phases is not None:
            check_positive_int(self.phases, "phases", minimum=2)
            if self.threshold is not None:
                raise ValueError("threshold binarises grey images; label images (phases) are not thresholded: "
                                 "pass one of them")
            if self.median != 1:
                raise ValueError(f"median={self.median!r} filters grey images; label images (phases) are not "
                                 "filtered: pass one of them")
        check_median_side(self.median)
        if self.threshold is not None:
            object.__setattr__(self, "threshold", _threshold_value(self.threshold))
        if self.patch_size is not None:
            check_positive_int(self.patch_size, "patch_size")
            if not MIN_SIDE <= self.patch_size <= MAX_SIDE:
                raise ValueError(f"patch_size must be between {MIN_SIDE} and {MAX_SIDE} px, got {self.patch_size}")
            if self.data in BUILTIN_DATA and self.patch_size > (self.image_size or DEFAULT_IMAGE_SIZE):
                raise ValueError(f"patch_size={self.patch_size} is larger than the generated images "
                                 f"({self.image_size or DEFAULT_IMAGE_SIZE} px); expected at most image_size")
        elif self.crops_per_epoch is not None or self.validation_slab:
            raise ValueError("crops_per_epoch and validation_slab choose random crops: they need patch_size")
        if self.crops_per_epoch is not None:
            check_positive_int(self.crops_per_epoch, "crops_per_epoch")
        if self.validation_slab and self.validation_split == 0:
            raise ValueError("validation_slab holds out a slab of --validation-split; expected validation_split > 0")
        if self.n_phases > 2 and self.indicator == "linear":
            raise ValueError(f"indicator 'linear' is defined for two phases, got phases={self.phases}; use 'soft'")
        if self.from_slices:
            self._check_from_slices()
        if self.isotropy > 0 and not self.from_slices:
            raise ValueError(f"isotropy weighs the off-plane lags of volumes trained from micrographs; expected "
                             f"from_slices=True with isotropy={self.isotropy}")
        if self.slice_target_shrink != 1.0 and not self.from_slices:
            raise ValueError(f"slice_target_shrink moves the micrographs' statistics of a model from slices; "
                             f"expected from_slices=True with slice_target_shrink={self.slice_target_shrink}")
        if self.symmetric_targets and (not self.from_slices or self.plane_data is not None):
            raise ValueError("symmetric_targets averages one micrograph's statistics for all three planes of an "
                             "isotropic material; expected from_slices=True without slices_xz/slices_yz")
        for name in ("slices_xz", "slices_yz"):
            path = getattr(self, name)
            if path is not None and not self.from_slices:
                raise ValueError(f"{name} gives a plane's micrographs to a model from slices; expected "
                                 f"from_slices=True with {name}={path!r}")
            if path is not None and not Path(path).exists():
                raise ValueError(f"{name} must be an existing .npy/.npz file or image folder, got {path!r}")
        if self.dims == 3 and self.data in LINE_DATA:
            raise ValueError(f"the {self.data!r} data set holds 2-D line images; dims=3 needs volumes "
                             "(data 'microstructure' or a PATH of volumes)")

    def _check_from_slices(self) -> None:
        """What a model from slices cannot do: read volumes, or compare pixels, a K-phase softmax or
        several resolutions with a volume."""
        refused = {"dims=3 (the micrographs are 2-D)": self.dims == 3,
                   "baseline (a pixel loss compares an image with an image, not a volume)": self.baseline,
                   f"gamma={self.gamma} (a pixel loss)": self.gamma > 0,
                   f"output={self.output!r} (a K-phase softmax)": self.output == "softmax",
                   f"stats_levels={self.stats_levels}": self.stats_levels > 1}
        for what, bad in refused.items():
            if bad:
                raise ValueError(f"from_slices trains volumes against the statistics of 2-D micrographs; it does "
                                 f"not take {what}")

    @property
    def plane_data(self) -> tuple[str, str] | None:
        """The data of the x-z and y-z planes of a model from slices with plane micrographs, else ``None``
        (one micrograph for every plane)."""
        if self.slices_xz is None and self.slices_yz is None:
            return None
        xz = self.slices_xz or self.data
        return xz, self.slices_yz or xz

    @property
    def n_phases(self) -> int:
        """How many phases the data hold: ``phases``, or 2 for grey and binary images."""
        return self.phases or 2

    @property
    def spatial_dims(self) -> int:
        """2 (images) or 3 (volumes) for the generated data sets (``dims``, default 2)."""
        return self.dims or 2

    def loss_weights(self, spatial_shape: tuple[int, ...]) -> tuple[float, float, float]:
        """``(alpha, beta, gamma)`` as trained on images of ``spatial_shape`` px (the baseline
        switches the statistics off; beta unset is :func:`default_beta`)."""
        beta = default_beta(spatial_shape) if self.beta is None else self.beta
        return (0.0, beta, 1.0) if self.baseline else (self.alpha, beta, self.gamma)

    def model_filters(self, image_shape: tuple[int, ...]) -> int:
        """The first convolution's filters as trained on data of ``image_shape``: ``filters``, or unset
        :data:`DEFAULT_FILTERS` for a model that draws images and :data:`VOLUME_FILTERS` for one that draws
        volumes (:meth:`draws_volumes`)."""
        return self.filters or (VOLUME_FILTERS if self.draws_volumes(image_shape) else DEFAULT_FILTERS)

    def draws_volumes(self, image_shape: tuple[int, ...]) -> bool:
        """Whether the model of data of ``image_shape`` ``(*spatial, channels)`` draws volumes: 3-D data, or
        micrographs with ``from_slices``."""
        return self.from_slices or len(image_shape) == 4

    @property
    def statistics_vae(self) -> bool:
        """Whether the model has a statistics loss (``alpha > 0``, not the baseline): what the defaults of
        :data:`STATISTICS_VAE_DEFAULTS` are for."""
        return self.alpha > 0 and not self.baseline

    def model_decoder_activation(self, image_shape: tuple[int, ...]) -> str:
        """The decoder's activation as trained on data of ``image_shape``: ``decoder_activation``, or unset
        :data:`DEFAULT_DECODER_ACTIVATION`'s for a model that draws volumes, a statistics VAE or the baseline."""
        kind = "volumes" if self.draws_volumes(image_shape) else "statistics" if self.statistics_vae else "baseline"
        return self.decoder_activation or DEFAULT_DECODER_ACTIVATION[kind]

    def model_depth(self, image_shape: tuple[int, ...]) -> int:
        """The stride-2 convolutions as trained on data of ``image_shape`` ``(*spatial, channels)``: ``depth``,
        or unset :func:`default_depth`."""
        return self.depth or default_depth(image_shape)

    def model_decoder_noise(self, image_shape: tuple[int, ...]) -> bool:
        """Whether the decoder has noise as trained on data of ``image_shape``: ``decoder_noise``, or unset on
        for a statistics VAE that draws images with one of :data:`NOISY_DECODERS` and a level coarser than the
        finest (depth >= 2), where the noise goes."""
        if self.decoder_noise is not None:
            return self.decoder_noise
        return (self.statistics_vae and not self.draws_volumes(image_shape) and self.decoder in NOISY_DECODERS
                and self.model_depth(image_shape) >= 2)

    def model_noise_scale(self, image_shape: tuple[int, ...]) -> float:
        """The decoder noise's starting scale as trained on data of ``image_shape``: 0 without decoder noise,
        else ``noise_scale`` or :data:`DECODER_NOISE_SCALE`'s for images or volumes."""
        if not self.model_decoder_noise(image_shape):
            return 0.0
        if self.noise_scale is not None:
            return self.noise_scale
        return DECODER_NOISE_SCALE["volumes" if self.draws_volumes(image_shape) else "images"]

    def model_padding(self, image_shape: tuple[int, ...]) -> str:
        """The convolutions' padding as trained on data of ``image_shape``: ``padding``, or unset circular with
        decoder noise (which then places features by no edge), else zeros."""
        return self.padding or ("circular" if self.model_decoder_noise(image_shape) else "zeros")

    def gradient_clip_norm(self, image_shape: tuple[int, ...]) -> float | None:
        """Adam's ``clipnorm`` as trained on data of ``image_shape``: the setting (0: none), or unset
        :data:`NOISY_DECODER_CLIP_NORM` with decoder noise, else none."""
        if self.clip_norm is None:
            return NOISY_DECODER_CLIP_NORM if self.model_decoder_noise(image_shape) else None
        return self.clip_norm or None

    def loss_default(self, name: str) -> float:
        """The value trained for ``name``, a key of :data:`STATISTICS_VAE_DEFAULTS`: the setting, or when it is
        unset its default for a statistics VAE, else 0.  The anchor's default is 0 also for an encoder that
        sees only the statistics, which cannot tell where the structures are."""
        value = getattr(self, name)
        if value is not None:
            return value
        if name == "anchor" and self.encoder_input == "statistics":
            return 0.0
        return STATISTICS_VAE_DEFAULTS[name] if self.statistics_vae else 0.0

    @property
    def correlation_pairs(self) -> tuple[tuple[int, int], ...]:
        """The ``(a, b)`` state pairs the statistics loss compares (``correlations``, or ``phase``'s
        autocorrelation).

        Raises:
            ValueError: for text that is not space-separated ``a,b`` pairs of 0 and 1.
        """
        if self.correlations is None:
            return ((self.phase, self.phase),)
        try:
            pairs = tuple(tuple(int(state) for state in pair.split(",")) for pair in self.correlations.split())
        except ValueError:
            pairs = ()
        if not pairs or any(len(pair) != 2 or not set(pair) <= set(range(self.n_phases)) for pair in pairs):
            states = "0 (black) and 1 (white)" if self.phases is None else f"0..{self.n_phases - 1}"
            raise ValueError(f"correlations must be space-separated pairs of states {states} such as "
                             f"'0,0 1,1 0,1', got {self.correlations!r}")
        repeated = sorted({pair for pair in pairs if pairs.count(pair) > 1})
        if repeated:
            raise ValueError(f"correlations names the pair {','.join(map(str, repeated[0]))} more than once in "
                             f"{self.correlations!r}; expected each pair once")
        return pairs

    @property
    def loss_schedule(self) -> LossSchedule:
        """How the run's loss changes over training (checked: a bad value raises ``ValueError``)."""
        return LossSchedule(kl=self.kl_schedule, kl_cycles=self.kl_cycles, kl_ramp=self.kl_ramp,
                            free_bits=self.free_bits, anchor=self.loss_default("anchor"),
                            anchor_sigma=self.anchor_sigma,
                            anchor_until=self.anchor_until, anchor_aligned=self.anchor_aligned,
                            eps_start=None if self.eps_start is None else self.eps_start / (self.n_phases - 1),
                            binary_weight=self.loss_default("binary_weight"),
                            binary_start=self.binary_start,
                            perimeter_weight=self.loss_default("perimeter_weight"),
                            temperature_start=self.temperature_start if self.output == "concrete" else None,
                            hard_from=self.hard_from if self.output == "straight_through" else None)

    @property
    def data_description(self) -> str:
        """What the run trains on, in words."""
        return BUILTIN_DATA.get(self.data, f"images from {self.data}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], origin: str = "settings") -> "TrainConfig":
        """A config from ``{field: value}``; fields left out take their defaults.

        Raises:
            ValueError: naming ``origin`` and an unknown field.
        """
        unknown = sorted(set(values) - set(setting_names()))
        if unknown:
            raise ValueError(f"{origin}: unknown setting {unknown[0]!r}; expected some of {setting_names()}")
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        """Every field as plain JSON."""
        return dataclasses.asdict(self)


def setting_names(group: str | None = None) -> list[str]:
    """The names of :class:`TrainConfig`'s fields in order: every one, or those of ``group`` (a key
    of :data:`SETTING_GROUPS`).

    >>> setting_names("model")[:6]
    ['latent_dim', 'depth', 'filters', 'hidden_units', 'decoder', 'output']

    Raises:
        ValueError: for an unknown group.
    """
    if group is not None and group not in SETTING_GROUPS:
        raise ValueError(f"group must be one of {list(SETTING_GROUPS)}, got {group!r}")
    return [f.name for f in dataclasses.fields(TrainConfig) if group in (None, f.metadata["group"])]


def _field(name: str) -> dataclasses.Field:
    return {f.name: f for f in dataclasses.fields(TrainConfig)}[name]


def setting_default(name: str) -> Any:
    """The default of one :class:`TrainConfig` field."""
    return _field(name).default


def setting_group(name: str) -> str:
    """The group of one :class:`TrainConfig` field (a key of :data:`SETTING_GROUPS`)."""
    return _field(name).metadata["group"]


def setting_help(name: str) -> str:
    """The help text of one :class:`TrainConfig` field."""
    return _field(name).metadata["help"]


def setting_kind(name: str) -> type:
    """The value type of one :class:`TrainConfig` field: ``int``, ``float``, ``bool`` or ``str``."""
    return _field(name).metadata["kind"]


def setting_choices(name: str) -> tuple | None:
    """The allowed values of one :class:`TrainConfig` field, or ``None`` when any value of its kind goes."""
    return _field(name).metadata["choices"]


def recorded_settings(record: Any, origin: str | Path) -> dict[str, Any]:
    """The ``{field: value}`` settings of a run's ``config.json`` record (its ``settings`` table),
    read from ``origin``; :class:`ssvae_tf.run_dir.RunDir` writes and reads that file.

    Raises:
        ValueError: (one line) if ``record`` is not a run configuration.
    """
    settings = record.get("settings") if isinstance(record, dict) else None
    if not isinstance(settings, dict):
        raise ValueError(f"{origin} is not a valid run configuration: it holds no table of settings")
    return settings


def read_settings_file(path: str | Path) -> dict[str, Any]:
    """``{field: value}`` from a run's ``config.json`` (its ``settings``) or a TOML/JSON file of fields.

    Raises:
        ValueError: (one line) for a missing or unreadable file, or one that is not a table of settings.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"settings file {path} does not exist; expected a run's config.json or a .toml/.json "
                         "file of TrainConfig fields")
    values = read_toml_or_json(path)
    if isinstance(values, dict) and "settings" in values:  # a run's config.json
        values = recorded_settings(values, path)
    if not isinstance(values, dict):
        raise ValueError(f"{path} must hold a table of TrainConfig fields, got {type(values).__name__}")
    TrainConfig.from_mapping(values, origin=str(path))  # unknown fields named now, with the file
    return values
