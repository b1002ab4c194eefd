"""What a design should match: a target's statistics, from an image or volume, or from scalars.

A :class:`TargetStatistics` holds the periodic autocorrelation ``S*`` of the
**black phase** (grey level 0, phase 0 of
:class:`~ssvae_tf.stats.two_point.StatsOptions`, the paper's line phase) at
every lag, zero lag centred, of the target's hard indicator
(:func:`ssvae_tf.stats.phases.black_mask`: below ``PHASE_THRESHOLD``), and
which lags count.  ``S*(0)`` is the target's black volume fraction.

A :class:`SliceTargets` asks for a **volume** from 2-D micrographs (issue 23): its
three coordinate planes of statistics (:func:`~ssvae_tf.stats.two_point.coordinate_planes`)
should match the micrographs' 2-D statistics, one micrograph for all three planes
(an isotropic material) or one per plane.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ssvae_tf._checks import check_positive_int, is_int, is_real
from ssvae_tf.design.defaults import MAX_DESIGN_VALUES, MIN_TARGET_SIDE
from ssvae_tf.evaluation.metrics import line_statistics
from ssvae_tf.stats.phases import black_mask
from ssvae_tf.stats.two_point import PLANE_NAMES


@dataclass(frozen=True, eq=False)
class TargetStatistics:
    """What a design should match.

    Attributes:
        stats: float32 ``(*spatial)``: the periodic autocorrelation of the
            black phase's hard indicator at every lag, zero lag at index
            ``side // 2`` per axis (``line_statistics(.., "hard")``).
        lags: bool ``(*spatial)``: the lags that count (all of them for an
            image; only the zero lag for a bare volume fraction).
        image: the target image or volume ``(*spatial, 1)`` in [0, 1], or
            ``None`` for statistics alone.
        description: the target in words, for reports.
    """

    stats: np.ndarray
    lags: np.ndarray
    image: np.ndarray | None = None
    description: str = ""
    #: Whether a design is compared plane by plane (:class:`SliceTargets`) rather than at every lag.
    planes: ClassVar[bool] = False

    def __post_init__(self):
        object.__setattr__(self, "stats", np.asarray(self.stats, np.float32))
        object.__setattr__(self, "lags", np.asarray(self.lags, bool))
        if self.stats.ndim not in (2, 3) or self.lags.shape != self.stats.shape:
            raise ValueError(f"target statistics need 2 or 3 spatial axes and a lag mask of their shape, got "
                             f"stats {self.stats.shape} and lags {self.lags.shape}")
        if not self.lags[zero_lag(self.shape)]:
            raise ValueError("the target's lags must include the zero lag (its volume fraction)")
        if not np.isfinite(self.stats[self.lags]).all():
            raise ValueError("the target statistics contain NaN or Inf values at lags that count; expected "
                             "finite numbers")

    @property
    def shape(self) -> tuple[int, ...]:
        """Spatial shape ``(H, W)`` or ``(D, H, W)``."""
        return tuple(self.stats.shape)

    @property
    def volume_fraction(self) -> float:
        """Fraction of black (phase-0) pixels: the zero lag of ``stats``."""
        return float(self.stats[zero_lag(self.shape)])


@dataclass(frozen=True, eq=False)
class SliceTargets:
    """What a volume designed from 2-D micrographs should match, plane by plane.

    The statistics a design is compared with are the micrographs' own 2-D
    statistics, computed with the objective's indicator
    (:func:`~ssvae_tf.design.objective.target_tensors`), so the objective is
    :meth:`~ssvae_tf.stats.two_point.StatsOptions.slice_distance`.

    Attributes:
        slices: float32 ``(3, N, N, 1)``, binary (0 black, 1 white): the micrograph
            crop for each coordinate plane of the ``N x N x N`` volume, in
            :func:`~ssvae_tf.stats.two_point.coordinate_planes`' order
            (:data:`~ssvae_tf.stats.two_point.PLANE_NAMES`: normal to axis 0, 1, 2).
        isotropic: whether one micrograph stands for all three planes.
        description: the target in words, for reports.
    """

    slices: np.ndarray
    isotropic: bool = True
    description: str = ""
    planes: ClassVar[bool] = True
    #: No volume to encode.
    image: ClassVar[None] = None

    def __post_init__(self):
        slices = np.asarray(self.slices, np.float32)
        side = slices.shape[1] if slices.ndim == 4 else 0
        if slices.shape != (3, side, side, 1) or side < MIN_TARGET_SIDE or not np.isin(slices, (0.0, 1.0)).all():
            raise ValueError(f"slice targets need 3 binary N x N crops (3, N, N, 1), N >= {MIN_TARGET_SIDE}, got "
                             f"shape {slices.shape}")
        object.__setattr__(self, "slices", slices)

    @property
    def shape(self) -> tuple[int, int, int]:
        """Spatial shape ``(N, N, N)`` of the volumes designed."""
        return (self.slices.shape[1],) * 3

    @property
    def lags(self) -> np.ndarray:
        """bool ``(3, N, N)``: every lag of every plane counts."""
        return np.ones(self.slices.shape[:3], bool)

    @property
    def plane_fractions(self) -> np.ndarray:
        """float64 ``(3,)``: each crop's black fraction."""
        return black_mask(self.slices).mean(axis=(1, 2), dtype=np.float64)

    @property
    def volume_fraction(self) -> float:
        """The black fraction asked of the volume: the mean of the crops'."""
        return float(self.plane_fractions.mean())


def centred_square(image: np.ndarray, side: int) -> np.ndarray:
    """The centred ``side x side`` crop of ``image`` ``(H, W, 1)`` (``(H - side) // 2`` rows off the top)."""
    top, left = ((length - side) // 2 for length in image.shape[:2])
    return image[top:top + side, left:left + side]


def target_from_slices(micrographs: list[Any], side: int | None = None,
                       names: list[str] | None = None) -> SliceTargets:
    """A volume's target from 2-D micrographs: one for all three coordinate planes (an isotropic material),
    or three, one per plane in :data:`~ssvae_tf.stats.two_point.PLANE_NAMES`' order.

    Each micrograph (:func:`single_image`'s 2-D shapes, values in [0, 1]) is made binary as every
    design target is (:func:`~ssvae_tf.stats.phases.black_mask`: black below 0.5) and cropped to its
    centred ``side x side`` square.

    Args:
        micrographs: one or three images.
        side: the volume's side ``N`` in voxels (= the crops' side in px), from
            :data:`~ssvae_tf.design.defaults.MIN_TARGET_SIDE` to the shortest side of the micrographs
            (default: that shortest side).
        names: what to call each micrograph in errors and the description (default ``"target"``, ...).

    Raises:
        ValueError: (one line) for another count of micrographs, a volume, or a bad ``side``.
    """
    if len(micrographs) not in (1, 3):
        raise ValueError(f"a volume from slices needs one micrograph (isotropic) or three (one per plane "
                         f"{', '.join(PLANE_NAMES)}), got {len(micrographs)}")
    names = names or [f"target {plane}" for plane in PLANE_NAMES[:len(micrographs)]]
    images = [single_image(image, name) for image, name in zip(micrographs, names)]
    for image, name in zip(images, names):
        if image.ndim != 3:
            raise ValueError(f"{name} is a {size_in_words(image.shape[:-1])}; expected a 2-D micrograph (H, W) "
                             "to design a volume from")
    shortest = min(min(image.shape[:2]) for image in images)
    side = shortest if side is None else side
    if not is_int(side) or not MIN_TARGET_SIDE <= side <= shortest:
        raise ValueError(f"the volume's side must be an integer from {MIN_TARGET_SIDE} to {shortest} px (the "
                         f"micrographs' shortest side), got {side!r}")
    crops = [(~black_mask(centred_square(image, int(side))[np.newaxis])[0]).astype(np.float32)[..., np.newaxis]
             for image in images]
    isotropic = len(crops) == 1
    target = SliceTargets(np.stack(crops * 3 if isotropic else crops), isotropic)
    kind = "one micrograph for every plane" if isotropic else "a micrograph per plane"
    fractions = ", ".join(f"{fraction:.3f}" for fraction in target.plane_fractions[:len(crops)])
    return dataclasses.replace(target, description=f"{size_in_words(target.shape)} from {int(side)}x{int(side)} px "
                                                   f"crops of {', '.join(names)} ({kind}; black fraction {fractions})")


def zero_lag(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Index of the zero lag in a centred map of ``shape``."""
    return tuple(side // 2 for side in shape)


def size_in_words(shape: tuple[int, ...]) -> str:
    """``(32, 32)`` -> ``"32x32 px image"``, ``(16, 16, 16)`` -> ``"16x16x16 voxel volume"``."""
    return "x".join(str(side) for side in shape) + (" px image" if len(shape) == 2 else " voxel volume")


def check_image_count(value: Any, name: str, shape: tuple[int, ...], low: int = 1) -> int:
    """``value`` as ``int`` if it is an integer from ``low`` to the most images of spatial ``shape`` that
    one design run or interpolation may output (:data:`~ssvae_tf.design.defaults.MAX_DESIGN_VALUES`
    values in all, at least ``low`` images); else a one-line ``ValueError`` naming ``name``, the value
    and that most."""
    most = max(low, MAX_DESIGN_VALUES // math.prod(shape))
    if not is_int(value) or not low <= value <= most:
        raise ValueError(f"{name} must be an integer from {low} to {most} for {size_in_words(tuple(shape))}s (at "
                         f"most {MAX_DESIGN_VALUES * 4 // 2**20} MiB of float32 images; computing them holds a few "
                         f"hundred times that), got {value!r}")
    return int(value)


def single_image(image: Any, what: str = "target") -> np.ndarray:
    """One image or volume as float32 ``(*spatial, 1)``, checked.

    Accepts ``(H, W)``, ``(H, W, 1)``, ``(D, H, W)``, ``(D, H, W, 1)`` or a
    stack of one, ``(1, *spatial, 1)``; every side at least
    :data:`~ssvae_tf.design.defaults.MIN_TARGET_SIDE` (so a stack of a few
    images is not taken for a thin volume).

    Raises:
        ValueError: naming ``what`` for another shape, a non-numeric dtype,
            NaN/Inf or values outside [0, 1].
    """
    array = np.asarray(image)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{what} has dtype {array.dtype}; expected numbers in [0, 1]")
    spatial = array
    if spatial.ndim in (4, 5) and spatial.shape[0] == 1 and spatial.shape[-1] == 1:
        spatial = spatial[0]
    if spatial.ndim in (3, 4) and spatial.shape[-1] == 1:
        spatial = spatial[..., 0]
    if spatial.ndim not in (2, 3) or min(spatial.shape) < MIN_TARGET_SIDE:
        raise ValueError(f"{what} has shape {array.shape}; expected one image (H, W[, 1]) or volume (D, H, W[, 1]), "
                         f"sides >= {MIN_TARGET_SIDE}")
    values = spatial.astype(np.float32)
    if not np.isfinite(values).all():
        raise ValueError(f"{what} contains NaN or Inf values; expected numbers in [0, 1]")
    if values.min() < 0 or values.max() > 1:
        raise ValueError(f"{what} has values in [{values.min():g}, {values.max():g}]; expected values in [0, 1]")
    return values[..., np.newaxis]


def target_from_image(image: Any, what: str = "target") -> TargetStatistics:
    """The statistics of a target image or volume (see :func:`single_image` for the shapes accepted).

    Every lag counts; the image is kept (``encode`` needs it).
    """
    image = single_image(image, what)
    stats = line_statistics(image[np.newaxis], "hard")[0]
    return TargetStatistics(stats, np.ones(stats.shape, bool), image,
                            f"{what} ({size_in_words(stats.shape)}, black fraction "
                            f"{stats[zero_lag(stats.shape)]:.3f})")


def target_statistics(
    volume_fraction: float,
    correlation_length: float | tuple[float, ...] | None = None,
    shape: tuple[int, ...] = (64, 64),
    n_fields: int = 64,
    seed: int = 0,
) -> TargetStatistics:
    """Target statistics from scalars.

    ``volume_fraction`` is the fraction of **black** (phase-0, grey level 0)
    pixels, the phase the statistics describe.

    * Without ``correlation_length`` only the volume fraction is asked for:
      the target constrains the zero lag alone (``S*(0) = volume_fraction``),
      and the arrangement is left to the search (in latent space: to what the
      decoder learnt).
    * With ``correlation_length`` (px, one number or one per axis), the target
      is the mean hard autocorrelation, every lag, of ``n_fields`` thresholded
      Gaussian random fields (:func:`ssvae_tf.data.generate_random_fields`:
      white noise smoothed by a Gaussian of that standard deviation, its
      lowest ``volume_fraction`` black), so ``S*(0)`` is the volume fraction
      to within half a pixel (``0.5 / prod(shape)``), and ``S*`` falls towards
      ``volume_fraction^2`` over a few correlation lengths (its mean over all
      lags is ``S*(0)^2``: every field has the same number of black pixels).

    Args:
        shape: spatial shape ``(H, W)`` or ``(D, H, W)`` (a model's image shape).
        n_fields, seed: how many random fields are averaged, and their seed.

    Raises:
        ValueError: for a volume fraction outside (0, 1) (all black or all
            white leaves nothing to design), a bad shape or correlation length.
    """
    if not is_real(volume_fraction) or not 0 < volume_fraction < 1:
        raise ValueError(f"volume_fraction must be a number in (0, 1) (the fraction of black pixels), got "
                         f"{volume_fraction!r}: no structure has that fraction and two phases")
    if not isinstance(shape, (tuple, list)) or len(shape) not in (2, 3) or not all(
            is_int(side) and side >= MIN_TARGET_SIDE for side in shape):
        raise ValueError(f"shape must have 2 or 3 sides, each an int >= {MIN_TARGET_SIDE}, got {shape!r}")
    shape = tuple(int(side) for side in shape)
    if correlation_length is None:
        stats = np.zeros(shape, np.float32)
        lags = np.zeros(shape, bool)
        stats[zero_lag(shape)], lags[zero_lag(shape)] = volume_fraction, True
        return TargetStatistics(stats, lags, None, f"black fraction {volume_fraction:g}")
    from ssvae_tf.data import generate_random_fields

    # the generator makes the largest values white (phase 1): 1 - fraction white leaves fraction black
    fields = generate_random_fields(check_positive_int(n_fields, "n_fields"), shape, 1.0 - float(volume_fraction),
                                    correlation_length, seed=seed, progress=False)
    stats = line_statistics(fields.images, "hard").mean(axis=0)
    return TargetStatistics(stats, np.ones(shape, bool), None,
                            f"black fraction {volume_fraction:g}, correlation length {correlation_length} px "
                            f"(mean of {len(fields)} random fields)")


def as_target(target: np.ndarray | TargetStatistics | SliceTargets) -> TargetStatistics | SliceTargets:
    """``target`` itself, or the statistics of a target image (:func:`target_from_image`)."""
    return target if isinstance(target, (TargetStatistics, SliceTargets)) else target_from_image(target)


def check_fits(model, shape: tuple[int, ...], what: str = "target") -> None:
    """Raise ``ValueError`` unless ``model`` takes one-channel images of spatial ``shape``."""
    expected = tuple(model.image_shape)
    if expected != (*shape, 1):
        channels = "" if expected[-1] == 1 else f" with {expected[-1]} channels"
        raise ValueError(f"{what} is a {size_in_words(tuple(shape))} but the model takes "
                         f"{size_in_words(expected[:-1])}s{channels}; expected a {what} of the model's size")
