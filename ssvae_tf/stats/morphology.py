"""Realism statistics of two-phase structures, on their hard phases: what no design search optimises.

Volume fraction, chord lengths (:func:`chord_lengths`) and connected
components (:func:`component_sizes`) of images or volumes ``(n, *spatial,
1)`` in [0, 1], read as they would be thresholded: a pixel is black (phase 0)
below :data:`~ssvae_tf.stats.phases.PHASE_THRESHOLD` and white (phase 1) at
and above it (:func:`~ssvae_tf.stats.phases.black_mask`).  :func:`realism`
compares designs with a target on all of them.  No TensorFlow here.
"""

from __future__ import annotations

import numpy as np

from ssvae_tf.stats.phases import black_mask


def phase_mask(images: np.ndarray, phase: int = 0) -> np.ndarray:
    """Boolean ``(n, *spatial)``: the pixels of ``phase`` of ``(n, *spatial, 1)`` images, hard
    (0: black, below ``PHASE_THRESHOLD``; 1: white, at and above it)."""
    if phase not in (0, 1):
        raise ValueError(f"phase must be 0 (black) or 1 (white), got {phase!r}")
    black = black_mask(images)
    return black if phase == 0 else ~black


def chord_lengths(images: np.ndarray, phase: int = 0) -> list[np.ndarray]:
    """Per image or volume ``(n, *spatial, 1)``: the lengths (px) of every chord of ``phase``.

    A chord is a maximal run of pixels of the phase along a line parallel to
    an axis; every line of every axis counts, and a run ends at the border (no
    periodic wrap: targets are crops).  Their histogram is the chord-length
    distribution (number-weighted); weighting each chord by its length gives
    the lineal-path-like length-weighted one.

    Returns:
        ``n`` int64 arrays of lengths (empty for an image without the phase).
    """
    masks = phase_mask(images, phase)
    out = []
    for mask in masks:
        lengths = []
        for axis in range(mask.ndim):
            rows = np.moveaxis(mask, axis, -1).reshape(-1, mask.shape[axis])
            edges = np.diff(np.pad(rows.astype(np.int8), ((0, 0), (1, 1))), axis=1)
            lengths.append(np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1))
        out.append(np.concatenate(lengths).astype(np.int64))
    return out


def component_sizes(images: np.ndarray, phase: int = 0) -> list[np.ndarray]:
    """Per image or volume ``(n, *spatial, 1)``: the sizes (px) of the connected components of ``phase``
    (``scipy.ndimage.label``: neighbours share a face; no periodic wrap), largest first."""
    from scipy import ndimage

    out = []
    for mask in phase_mask(images, phase):
        labels, count = ndimage.label(mask)
        out.append(np.sort(np.bincount(labels.ravel(), minlength=count + 1)[1:])[::-1].astype(np.int64))
    return out


def chord_distance(lengths: np.ndarray, reference: np.ndarray) -> float:
    """Wasserstein-1 distance (px) between two samples of chord lengths; an empty sample counts as length 0."""
    from scipy.stats import wasserstein_distance

    if len(lengths) == 0 or len(reference) == 0:
        return float(np.mean(lengths) if len(lengths) else np.mean(reference) if len(reference) else 0.0)
    return float(wasserstein_distance(lengths, reference))


def realism(target_image: np.ndarray, images: np.ndarray) -> dict[str, np.ndarray]:
    """How structures compare with a target image on statistics no design search optimises: float64
    ``(n,)`` each.

    Everything on the hard phases (module doc), so grey designs are read as
    they would be thresholded.

    * ``volume_fraction``, ``volume_fraction_error``: the black fraction, and
      its absolute difference from the target's;
    * ``chord_distance``: Wasserstein-1 distance (px) between the design's and
      the target's chord-length distributions (:func:`chord_lengths`), the
      mean over the two phases;
    * ``components``, ``component_count_error``: connected black components
      (:func:`component_sizes`) and ``|log(count / target's count)|`` (counts
      of at least 1);
    * ``mean_component_size``, ``component_size_error``: their mean size (px)
      and ``|log(size / target's size)|``.

    The target's own values are in ``target_*`` entries (float64 ``(1,)``).

    Args:
        target_image: one image or volume ``(*spatial, 1)`` in [0, 1].
        images: ``(n, *spatial, 1)`` in [0, 1], of as many spatial axes as the target.
    """
    target = np.asarray(target_image, np.float32)[np.newaxis]
    images = np.asarray(images, np.float32)
    if target.ndim != images.ndim or target.shape[-1] != 1:
        raise ValueError(f"realism compares one target (*spatial, 1) with images (n, *spatial, 1), got a "
                         f"target of shape {target.shape[1:]} and images of shape {images.shape}")
    chords = {phase: (chord_lengths(target, phase)[0], chord_lengths(images, phase)) for phase in (0, 1)}
    distance = np.mean([[chord_distance(lengths, reference) for lengths in designs]
                        for reference, designs in chords.values()], axis=0)
    sizes = component_sizes(images)
    (target_sizes,) = component_sizes(target)
    count = np.array([len(s) for s in sizes], np.float64)
    mean_size = np.array([s.mean() if len(s) else 0.0 for s in sizes], np.float64)
    target_count, target_size = float(len(target_sizes)), float(target_sizes.mean() if len(target_sizes) else 0.0)
    fraction = phase_mask(images).mean(axis=tuple(range(1, images.ndim - 1))).astype(np.float64)
    target_fraction = float(phase_mask(target).mean())
    return {
        "volume_fraction": fraction,
        "volume_fraction_error": np.abs(fraction - target_fraction),
        "chord_distance": distance.astype(np.float64),
        "components": count,
        "component_count_error": np.abs(np.log(np.maximum(count, 1) / max(target_count, 1))),
        "mean_component_size": mean_size,
        "component_size_error": np.abs(np.log(np.maximum(mean_size, 1) / max(target_size, 1))),
        "target_volume_fraction": np.array([target_fraction]),
        "target_components": np.array([target_count]),
        "target_mean_component_size": np.array([target_size]),
    }
