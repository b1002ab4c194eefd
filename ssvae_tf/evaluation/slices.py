"""A model from slices (issue 23) on its held-out micrographs: each ``N x N`` crop is reconstructed as an
``N^3`` volume and compared with the crop plane by plane, as the model's loss compares them.

The three coordinate planes of a volume ``(N, N, N)`` (axes z, y, x) are
:func:`~ssvae_tf.stats.two_point.coordinate_planes`' order: plane ``k`` is normal to axis ``k``
(0: x-y, 1: x-z, 2: y-z) and holds the other two axes in their order.  Each plane has a target crop: the
input crop for every plane (an isotropic material), or with ``--slices-xz``/``--slices-yz`` a held-out
crop of that plane's micrographs.  Pixel errors, nearest training images and line metrics compare an
image with a volume and are not computed.
"""

from __future__ import annotations

import numpy as np

from ssvae_tf._progress import on_terminal
from ssvae_tf.evaluation.evaluate import Evaluation, reconstruct
from ssvae_tf.evaluation.metrics import descriptor_errors, line_statistics, volume_fraction_difference
from ssvae_tf.stats.morphology import (
    binary_share,
    fidelity_descriptors,
    perimeter_anisotropy,
    specific_perimeter,
    volume_fraction,
)
from ssvae_tf.stats.two_point import PLANE_NAMES, StatsOptions, batch_size_for, plane_axes

#: What an evaluation of a model from slices leaves out, in one line (``report.md``).
NOT_COMPUTED = ("Not computed for a model from slices: pixel MSE and nearest training images (they compare an "
                "image with a volume) and line metrics.")


def plane_targets(crops: np.ndarray, planes: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """The target crop of every plane of every volume: float32 ``(n, 3, N, N, 1)``.

    Args:
        crops: ``(n, N, N, 1)``, the encoder's inputs (the x-y planes' targets).
        planes: ``(x-z crops, y-z crops)``, each ``(n, N, N, 1)``, or None: ``crops`` for every plane.
    """
    crops = np.asarray(crops, np.float32)
    stacked = (crops, crops, crops) if planes is None else (crops, *planes)
    return np.stack([np.asarray(part, np.float32) for part in stacked], axis=1)


def slice_mse(targets: np.ndarray, volumes: np.ndarray) -> np.ndarray:
    """Mean over lags of the squared difference between the hard statistics of each plane's target crop
    and the soft statistics of the volume at the lags of that plane, per volume and plane: float64
    ``(n, 3)``, unnormalised (what ``stats_mse`` is for 2-D reconstructions).

    Args:
        targets: ``(n, 3, N, N, 1)`` (:func:`plane_targets`).
        volumes: ``(n, N, N, N, 1)`` in [0, 1].
    """
    targets, volumes = np.asarray(targets, np.float32), np.asarray(volumes, np.float32)
    n, side = len(volumes), volumes.shape[1]
    hard = line_statistics(targets.reshape(n * 3, side, side, 1), "hard").reshape(n, 3, side, side)
    options, batch = StatsOptions(kind="soft"), batch_size_for(volumes.shape[1:])
    parts = [options.plane_statistics(volumes[start:start + batch]).numpy()[..., 0]
             for start in range(0, n, batch)]
    soft = np.concatenate(parts) if parts else np.zeros((0, 3, side, side), np.float32)
    return np.mean(np.square(hard.astype(np.float64) - soft), axis=(2, 3))


def plane_perimeters(targets: np.ndarray) -> np.ndarray:
    """The specific perimeter that the target crops give each axis of the volume: float64 ``(n, 3)``, 1/px.

    Column ``a`` is the mean, over the two planes that hold axis ``a``, of the phase changes per pixel
    along that axis of the plane's crop (:func:`~ssvae_tf.stats.morphology.specific_perimeter`): for a
    statistically homogeneous volume, its specific surface along ``a`` (phase changes per voxel).
    """
    targets = np.asarray(targets, np.float32)
    along = [[] for _ in range(3)]
    for normal in range(3):
        perimeter = specific_perimeter(targets[:, normal])
        for column, axis in enumerate(plane_axes(normal)):
            along[axis].append(perimeter[:, column])
    return np.stack([np.mean(columns, axis=0) for columns in along], axis=1)


def _slice_descriptors(crops: np.ndarray, targets: np.ndarray) -> dict[str, np.ndarray]:
    """:func:`~ssvae_tf.stats.morphology.fidelity_descriptors` of the volume the crops describe: the input
    crop's volume fraction and the planes' perimeter per volume axis (:func:`plane_perimeters`)."""
    perimeter = plane_perimeters(targets)
    return {"volume_fraction": volume_fraction(crops),
            **{f"perimeter_axis{a}": perimeter[:, a] for a in range(3)},
            "anisotropy": perimeter_anisotropy(perimeter)}


def slice_metrics(crops: np.ndarray, volumes: np.ndarray, targets: np.ndarray | None = None
                  ) -> dict[str, np.ndarray]:
    """Every per-crop metric of volumes reconstructed from micrographs: name -> float64 ``(n,)``.

    Args:
        crops: ``(n, N, N, 1)`` in [0, 1], the held-out inputs.
        volumes: ``(n, N, N, N, 1)`` in [0, 1], their reconstructions.
        targets: ``(n, 3, N, N, 1)``, each plane's crop (:func:`plane_targets`; default ``crops`` for all).

    Returns:
        * ``slice_mse_plane{k}`` (:func:`slice_mse`, plane ``k`` of :data:`~ssvae_tf.stats.two_point.PLANE_NAMES`) and ``slice_mse``,
          their mean;
        * ``volume_fraction_diff_pct``: the paper's volume-fraction difference, black shares of volume
          and crop (:func:`~ssvae_tf.evaluation.metrics.volume_fraction_difference`);
        * binarised at 0.5, the volume against the crops (``original``: the input crop's volume fraction,
          the planes' perimeter per volume axis, :func:`plane_perimeters`):
          ``binarised_volume_fraction_error_points``, ``binarised_perimeter_error_pct`` (summed over the
          axes), ``binarised_{name}_original`` / ``_reconstruction`` for ``volume_fraction``,
          ``perimeter_axis{0,1,2}`` and ``anisotropy``; ``real_pair_volume_fraction_error_points`` and
          ``real_pair_perimeter_error_pct``, each crop against the next (``i + 1`` mod ``n``, 2-D);
        * ``binary_share_pct``, ``binary_share_original_pct``: plainly binary voxels of the volume,
          pixels of the crop, in %.
    """
    crops, volumes = np.asarray(crops, np.float32), np.asarray(volumes, np.float32)
    targets = plane_targets(crops) if targets is None else np.asarray(targets, np.float32)
    errors = slice_mse(targets, volumes)
    metrics = {"slice_mse": errors.mean(axis=1), **{f"slice_mse_plane{k}": errors[:, k] for k in range(3)},
               "volume_fraction_diff_pct": volume_fraction_difference(crops, volumes)}
    described = {"original": _slice_descriptors(crops, targets), "reconstruction": fidelity_descriptors(volumes)}
    metrics.update(descriptor_errors(described["original"], described["reconstruction"], "binarised_"))
    metrics.update(descriptor_errors(fidelity_descriptors(crops), fidelity_descriptors(np.roll(crops, -1, axis=0)),
                                     "real_pair_"))
    metrics.update({"binary_share_pct": 100.0 * binary_share(volumes),
                    "binary_share_original_pct": 100.0 * binary_share(crops)})
    for which, values in described.items():
        metrics.update({f"binarised_{name}_{which}": value for name, value in values.items()})
    return metrics


def evaluate_slices_model(model, crops: np.ndarray, label: str, targets: np.ndarray | None = None,
                          progress: bool = False, refine_steps: int = 0) -> Evaluation:
    """Reconstruct the held-out ``crops`` ``(n, N, N, 1)`` of a model from slices as volumes and measure
    them (:func:`slice_metrics`, ``targets`` as there); the :class:`Evaluation` has no nearest
    training images (``nn_pixel``/``nn_stats`` empty)."""
    if progress:
        refined = f", each code refined by {refine_steps} steps" if refine_steps else ""
        print(f"[{label}] reconstructing {len(crops)} micrographs as volumes{refined}")
    volumes = reconstruct(model, crops, 1 if on_terminal(progress) else 0, refine_steps)
    none = np.zeros((0, *crops.shape[1:]), np.float32)
    return Evaluation(label, crops, volumes, slice_metrics(crops, volumes, targets), none, none)
