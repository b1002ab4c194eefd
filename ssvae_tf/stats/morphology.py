"""Realism statistics of two-phase structures, on their hard phases: the one home of the realism metrics.

Images ``(n, H, W, 1)`` and volumes ``(n, D, H, W, 1)`` in [0, 1] alike,
read as they would be thresholded: a pixel is black (phase 0) below
:data:`~ssvae_tf.stats.phases.PHASE_THRESHOLD` and white (phase 1) at and
above it (:func:`~ssvae_tf.stats.phases.black_mask`); only
:func:`binary_share` reads the grey values.  Neighbours share a face, and
nothing wraps around the border unless a function says so (crops are not
periodic).  Every metric is one value (or one per axis) per image:

* :func:`volume_fraction`, :func:`binary_share`;
* :func:`specific_perimeter` per axis (2-D perimeter, 3-D surface) and :func:`perimeter_anisotropy`;
* :func:`chord_lengths`, :func:`chord_length_histograms` per axis, :func:`chord_distance` (samples) and
  :func:`histogram_distance` (histograms);
* :func:`two_point_cluster_function` per axis;
* :func:`component_sizes`, :func:`component_count`, :func:`euler_number`;
* :func:`percolating_fraction` per axis;
* :func:`effective_diffusivity` and :func:`tortuosity_factor` (a finite-volume solve);
* :func:`descriptors` (all the cheap ones; :func:`descriptors_in_units` per physical length;
  :func:`descriptor_summary` in JSON) and
  :func:`realism_table` (generated vs real, with the real-vs-real yardstick);
* :func:`fidelity` (do reconstructions follow their inputs?); :func:`realism` (designs against one target).

NumPy and SciPy; no TensorFlow here.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from ssvae_tf.stats.phases import black_mask
from ssvae_tf.stats.units import PixelSize, is_physical


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
        out.append(np.concatenate([_chords_along(mask, axis) for axis in range(mask.ndim)]).astype(np.int64))
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


# ------------------------------------------------------------------ descriptors of the hard phases
#: A pixel is plainly binary when its grey value is below ``BINARY_LOW`` or above ``BINARY_HIGH``.
BINARY_LOW = 0.05
BINARY_HIGH = 0.95


def _spatial_axes(images: np.ndarray) -> tuple[int, ...]:
    """The spatial axes ``1..ndim-2`` of ``(n, *spatial, 1)`` images."""
    return tuple(range(1, np.ndim(images) - 1))


def volume_fraction(images: np.ndarray, phase: int = 0) -> np.ndarray:
    """Share (0-1) of the pixels (voxels) of ``phase`` at ``PHASE_THRESHOLD`` per image or volume
    ``(n, *spatial, 1)``: float64 ``(n,)`` (phase 0 black, 1 white; the two add up to 1)."""
    return phase_mask(images, phase).mean(axis=_spatial_axes(images)).astype(np.float64)


def binary_share(images: np.ndarray) -> np.ndarray:
    """Share (0-1) of plainly binary pixels (grey value below :data:`BINARY_LOW` or above
    :data:`BINARY_HIGH`) per image or volume ``(n, *spatial, 1)``: float64 ``(n,)``."""
    values = np.asarray(images)[..., 0]
    binary = (values < BINARY_LOW) | (values > BINARY_HIGH)
    return binary.mean(axis=tuple(range(1, binary.ndim))).astype(np.float64)


def specific_perimeter(images: np.ndarray, periodic: bool = False) -> np.ndarray:
    """Phase changes between neighbouring pixels along each axis, per pixel: float64 ``(n, n_axes)``.

    For ``(n, *spatial, 1)`` images (2-D: specific perimeter; 3-D: specific
    surface), column ``a`` counts the neighbour pairs ``(x, x + e_a)`` of
    different hard phases and divides by the number of pixels (voxels) ``N``:
    units 1/px.  ``periodic=False`` (crops) counts pairs inside the image only;
    ``periodic=True`` also the pair across the border, and then equals
    ``2 (f(0) - f(e_a))`` for the periodic autocorrelation ``f`` of either
    phase's indicator (``f(r) = mean_x m(x) m(x + r)``).
    """
    masks = phase_mask(images, 0)
    columns = []
    for axis in range(1, masks.ndim):
        if periodic:
            changes = masks != np.roll(masks, -1, axis=axis)
        else:
            changes = np.diff(masks.astype(np.int8), axis=axis) != 0
        columns.append(changes.sum(axis=tuple(range(1, masks.ndim))) / np.prod(masks.shape[1:]))
    return np.stack(columns, axis=1).astype(np.float64)


def perimeter_anisotropy(perimeter: np.ndarray) -> np.ndarray:
    """The first axis's share of the perimeter, ``p_0 / (p_0 + p_last)``, of ``(n, n_axes)``
    :func:`specific_perimeter` values: float64 ``(n,)`` in [0, 1], 0.5 for isotropic structures,
    towards 1 for bands across the first axis (2-D: horizontal bands); NaN without any perimeter."""
    perimeter = np.asarray(perimeter, np.float64)
    total = perimeter[:, 0] + perimeter[:, -1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, perimeter[:, 0] / total, np.nan)


def _chords_along(mask: np.ndarray, axis: int) -> np.ndarray:
    """Lengths (px) of the runs of True along ``axis`` of one boolean image ``mask`` (no wrap)."""
    rows = np.moveaxis(mask, axis, -1).reshape(-1, mask.shape[axis])
    edges = np.diff(np.pad(rows.astype(np.int8), ((0, 0), (1, 1))), axis=1)
    return np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)


def chord_length_histograms(images: np.ndarray, phase: int = 0, max_length: int | None = None) -> np.ndarray:
    """Chord counts per image, axis and length: int64 ``(n, n_axes, max_length)``.

    Entry ``[i, a, k]`` counts the chords (:func:`chord_lengths`: maximal runs
    of ``phase``, ending at the border) along axis ``a`` of image ``i`` that
    are ``k + 1`` px long.  Every axis and image shares the bins 1, 2, ...,
    ``max_length`` (default: the longest side); longer chords fall in the last bin.
    """
    masks = phase_mask(images, phase)
    max_length = int(max_length or max(masks.shape[1:]))
    out = np.zeros((len(masks), masks.ndim - 1, max_length), np.int64)
    for i, mask in enumerate(masks):
        for axis in range(mask.ndim):
            lengths = np.minimum(_chords_along(mask, axis), max_length)
            out[i, axis] = np.bincount(lengths - 1, minlength=max_length)
    return out


def histogram_distance(counts: np.ndarray, reference: np.ndarray) -> float:
    """Wasserstein-1 distance (in bins, i.e. px for :func:`chord_length_histograms`) between two
    histograms ``(n_bins,)`` on the same unit-width bins, each normalised first: the summed absolute
    difference of their cumulative distributions.  An empty histogram counts as all mass in bin 0."""
    cdfs = []
    for histogram in (counts, reference):
        histogram = np.asarray(histogram, np.float64)
        total = histogram.sum()
        cdfs.append(np.cumsum(histogram) / total if total > 0 else np.ones_like(histogram))
    return float(np.abs(cdfs[0] - cdfs[1]).sum())


def two_point_cluster_function(images: np.ndarray, phase: int = 0, max_lag: int | None = None) -> np.ndarray:
    """The two-point cluster function ``C2`` along each axis: float64 ``(n, n_axes, max_lag + 1)``.

    ``C2(r e_a)`` is the probability that two pixels ``x`` and ``x + r e_a``
    both belong to one connected cluster of ``phase`` (face neighbours,
    ``scipy.ndimage.label``; no periodic wrap), over the pairs that lie inside
    the image.  ``C2(0)`` is the phase's volume fraction; ``C2`` is at most
    the two-point correlation ``S2``.  ``max_lag`` defaults to the shortest side - 1.
    """
    from scipy import ndimage

    masks = phase_mask(images, phase)
    max_lag = int(min(masks.shape[1:]) - 1 if max_lag is None else max_lag)
    if not 0 <= max_lag < min(masks.shape[1:]):
        raise ValueError(f"max_lag must be from 0 to {min(masks.shape[1:]) - 1}, got {max_lag}")
    out = np.zeros((len(masks), masks.ndim - 1, max_lag + 1), np.float64)
    for i, mask in enumerate(masks):
        labels, _ = ndimage.label(mask)
        for axis in range(mask.ndim):
            for lag in range(max_lag + 1):
                first = np.take(labels, np.arange(mask.shape[axis] - lag), axis=axis)
                second = np.take(labels, np.arange(lag, mask.shape[axis]), axis=axis)
                out[i, axis, lag] = np.mean((first == second) & (first > 0))
    return out


def component_count(images: np.ndarray, phase: int = 0) -> np.ndarray:
    """Connected components of ``phase`` (face neighbours, no wrap) per image or volume
    ``(n, *spatial, 1)``: float64 ``(n,)``."""
    from scipy import ndimage

    return np.array([ndimage.label(mask)[1] for mask in phase_mask(images, phase)], np.float64)


def euler_number(images: np.ndarray, phase: int = 0) -> np.ndarray:
    """Euler characteristic of ``phase`` per image or volume ``(n, *spatial, 1)``: float64 ``(n,)``.

    The phase is read with face connectivity (4 neighbours in 2-D, 6 in 3-D),
    its complement with full connectivity, so in 2-D it is components - holes
    and in 3-D components - tunnels + cavities.  Computed as the alternating
    count of the cubical complex whose vertices are the phase's pixels:
    ``V - E + F (- C in 3-D)``, with edges between face neighbours, faces
    the full 2x2 squares and cubes the full 2x2x2 blocks (equal to
    ``skimage.measure.euler_number(mask, connectivity=1)``).
    """
    masks = phase_mask(images, phase)
    ndim = masks.ndim - 1
    totals = np.zeros(len(masks), np.float64)
    for size in range(ndim + 1):  # cells spanning `size` axes: vertices, edges, squares, cubes
        for axes in combinations(range(1, ndim + 1), size):
            cells = masks
            for axis in axes:
                n = cells.shape[axis]
                cells = np.take(cells, np.arange(n - 1), axis=axis) & np.take(cells, np.arange(1, n), axis=axis)
            totals += (-1) ** size * cells.sum(axis=tuple(range(1, masks.ndim)))
    return totals


def percolating_fraction(images: np.ndarray, phase: int = 0) -> np.ndarray:
    """Share (0-1) of ``phase``'s pixels in clusters that touch both opposite faces of each axis:
    float64 ``(n, n_axes)`` (face neighbours, no wrap; 0 for an image without the phase)."""
    from scipy import ndimage

    masks = phase_mask(images, phase)
    out = np.zeros((len(masks), masks.ndim - 1), np.float64)
    for i, mask in enumerate(masks):
        labels, _ = ndimage.label(mask)
        sizes = np.bincount(labels.ravel())
        for axis in range(mask.ndim):
            spanning = np.intersect1d(np.take(labels, 0, axis=axis), np.take(labels, -1, axis=axis))
            spanning = spanning[spanning > 0]
            out[i, axis] = sizes[spanning].sum() / max(int(mask.sum()), 1)
    return out


def effective_diffusivity(images: np.ndarray, phase: int = 1, axis: int = 0) -> np.ndarray:
    """Steady diffusion through ``phase`` along ``axis``: ``D_eff / D_0`` per image or volume, float64 ``(n,)``.

    A finite-volume solve (``scipy.sparse``) on the pixels of ``phase`` (the
    other phase is impermeable): concentration 1 on the face before the first
    slice of ``axis``, 0 on the face after the last, no flux through the other
    faces (no wrap); neighbouring pixels of the phase exchange flux ``D_0 (c_x
    - c_y)``, the boundary faces half a pixel away ``2 D_0 (c - c_face)``.
    ``D_eff / D_0 = J L / A``: the total flux ``J`` through the outlet times
    the length ``L`` (px along ``axis``) over the cross-section ``A`` (px).  A
    straight open channel gives its share of the cross-section (the porosity),
    a structure without a spanning path 0.  Only clusters touching both faces
    are solved (the others carry no flux).
    """
    from scipy import ndimage, sparse
    from scipy.sparse.linalg import spsolve

    masks = phase_mask(images, phase)
    if not 0 <= axis < masks.ndim - 1:
        raise ValueError(f"axis must be from 0 to {masks.ndim - 2}, got {axis}")
    out = np.zeros(len(masks), np.float64)
    for i, mask in enumerate(masks):
        mask = np.moveaxis(mask, axis, 0)
        labels, _ = ndimage.label(mask)
        spanning = np.intersect1d(labels[0], labels[-1])
        active = np.isin(labels, spanning[spanning > 0])
        if not active.any():
            continue
        index = -np.ones(mask.shape, np.int64)
        index[active] = np.arange(active.sum())
        n = int(active.sum())
        rows, cols = [], []
        for a in range(mask.ndim):
            length = mask.shape[a]
            here = np.take(index, np.arange(length - 1), axis=a).ravel()
            there = np.take(index, np.arange(1, length), axis=a).ravel()
            both = (here >= 0) & (there >= 0)
            rows.append(here[both])
            cols.append(there[both])
        rows, cols = np.concatenate(rows), np.concatenate(cols)
        boundary = np.zeros(n)
        inlet, outlet = index[0][index[0] >= 0], index[-1][index[-1] >= 0]
        np.add.at(boundary, inlet, 2.0)
        np.add.at(boundary, outlet, 2.0)
        degree = np.bincount(rows, minlength=n) + np.bincount(cols, minlength=n) + boundary
        matrix = sparse.coo_matrix((np.concatenate([-np.ones(len(rows)), -np.ones(len(rows)), degree]),
                                    (np.concatenate([rows, cols, np.arange(n)]),
                                     np.concatenate([cols, rows, np.arange(n)]))), shape=(n, n)).tocsr()
        rhs = np.zeros(n)
        np.add.at(rhs, inlet, 2.0)
        concentration = spsolve(matrix, rhs)
        flux = 2.0 * concentration[outlet].sum()
        out[i] = flux * mask.shape[0] / np.prod(mask.shape[1:])
    return out


def tortuosity_factor(images: np.ndarray, phase: int = 1, axis: int = 0) -> np.ndarray:
    """``porosity / (D_eff / D_0)`` of :func:`effective_diffusivity`, the porosity being ``phase``'s
    volume fraction: float64 ``(n,)``, dimensionless, 1 for straight channels, ``inf`` without a
    spanning path (NaN for an image without the phase)."""
    porosity = volume_fraction(images, phase)
    diffusivity = effective_diffusivity(images, phase, axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(porosity > 0, porosity / diffusivity, np.nan)


# ------------------------------------------------------------------ per-image descriptors and comparisons
def descriptors(images: np.ndarray, phase: int = 0, transport: bool = False) -> dict[str, np.ndarray]:
    """The realism descriptors of images or volumes ``(n, *spatial, 1)`` in [0, 1]: name -> float64 ``(n,)``.

    * ``volume_fraction``: share (0-1) of ``phase`` at ``PHASE_THRESHOLD`` (:func:`volume_fraction`);
    * ``binary_share``: share (0-1) of plainly binary pixels, on the grey values (:func:`binary_share`);
    * ``perimeter_axis{a}``: phase changes per pixel along axis ``a`` (1/px, no wrap; :func:`specific_perimeter`);
    * ``anisotropy``: the first axis's share of the perimeter (:func:`perimeter_anisotropy`);
    * ``components``, ``euler_number``: of ``phase`` (:func:`component_count`, :func:`euler_number`);
    * ``percolating_fraction_axis{a}``: share (0-1) of ``phase`` in clusters spanning axis ``a``;
    * with ``transport``: ``diffusivity_axis{a}``, ``D_eff / D_0`` through ``phase`` along each
      axis (:func:`effective_diffusivity`; a sparse solve per image and axis, the slow one).
    """
    perimeter = specific_perimeter(images)
    percolating = percolating_fraction(images, phase)
    out = {"volume_fraction": volume_fraction(images, phase), "binary_share": binary_share(images)}
    out.update({f"perimeter_axis{a}": perimeter[:, a] for a in range(perimeter.shape[1])})
    out["anisotropy"] = perimeter_anisotropy(perimeter)
    out["components"] = component_count(images, phase)
    out["euler_number"] = euler_number(images, phase)
    out.update({f"percolating_fraction_axis{a}": percolating[:, a] for a in range(percolating.shape[1])})
    if transport:
        out.update({f"diffusivity_axis{a}": effective_diffusivity(images, phase, a) for a in range(perimeter.shape[1])})
    return out


#: The :func:`descriptors` measured per length (1/px): their names start with this.
PER_LENGTH_DESCRIPTOR = "perimeter_axis"


def descriptors_in_units(values: dict[str, np.ndarray], pixel_size: PixelSize | None) -> dict[str, np.ndarray]:
    """:func:`descriptors`' values with those measured per px (:data:`PER_LENGTH_DESCRIPTOR`) per
    ``pixel_size``'s unit, under keys naming it (``perimeter_axis0`` -> ``perimeter_axis0_per_nm``);
    the others (shares, counts, ratios) as they are.  ``None`` (or a size in px) changes nothing."""
    if not is_physical(pixel_size):
        return dict(values)
    return {(f"{key}_per_{pixel_size.label}" if key.startswith(PER_LENGTH_DESCRIPTOR) else key):
            (pixel_size.per_length(column) if key.startswith(PER_LENGTH_DESCRIPTOR) else column)
            for key, column in values.items()}


def descriptor_summary(values: dict[str, np.ndarray]) -> dict[str, dict[str, float | None]]:
    """Plain JSON of :func:`descriptors`' per-image values: name -> ``mean``, ``std``, ``min``, ``max`` over
    the images' finite values (None without any)."""
    out: dict[str, dict[str, float | None]] = {}
    for key, column in values.items():
        column = np.asarray(column, np.float64)
        column = column[np.isfinite(column)]
        out[key] = {name: (float(reduce(column)) if column.size else None)
                    for name, reduce in (("mean", np.mean), ("std", np.std), ("min", np.min), ("max", np.max))}
    return out


def _value_distance(values: np.ndarray, reference: np.ndarray) -> float:
    """Wasserstein-1 distance between two samples of per-image values (their finite ones), in their units."""
    from scipy.stats import wasserstein_distance

    values, reference = (np.asarray(v, np.float64) for v in (values, reference))
    values, reference = values[np.isfinite(values)], reference[np.isfinite(reference)]
    if values.size == 0 or reference.size == 0:
        return float("nan")
    return float(wasserstein_distance(values, reference))


def _finite_mean(values: np.ndarray) -> float:
    """The mean of the finite ``values`` ``(n,)``; NaN without any."""
    values = np.asarray(values, np.float64)
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else float("nan")


def _pooled_chords(images: np.ndarray, phase: int, max_length: int) -> np.ndarray:
    """Chord counts of a whole set, per axis: int64 ``(n_axes, max_length)``."""
    return chord_length_histograms(images, phase, max_length).sum(axis=0)


def realism_table(real: np.ndarray, generated: np.ndarray, reference: np.ndarray | None = None,
                  phase: int = 0, transport: bool = False) -> dict[str, dict[str, float]]:
    """Generated against real structures on every descriptor, next to the spread between real ones.

    Rows: each :func:`descriptors` key, and ``chords_phase{p}_axis{a}`` for both phases and every axis.
    Each row holds ``real`` and ``generated`` (means over the images; for chord rows the mean chord
    length, px), ``model_vs_real`` (the Wasserstein-1 distance between the two sets' per-image values,
    in the descriptor's units; for chord rows :func:`histogram_distance` between the sets' pooled
    chord-length histograms, px) and ``real_vs_real``, the same distance between ``reference`` and
    ``real``, or without ``reference`` between the even- and odd-numbered halves of ``real`` (the
    yardstick: a model within it is as close as real crops are to each other; halves hold half the
    images, so their distance is a little larger than sampling noise at full size).

    Args:
        real: ``(n, *spatial, 1)`` in [0, 1], at least two images unless ``reference`` is given.
        generated: ``(m, *spatial, 1)``, the model's (samples or reconstructions).
        reference: optional second real set ``(k, *spatial, 1)``, disjoint from ``real``.
        phase: the phase described (0 black, 1 white).
        transport: also the effective diffusivities (slow; :func:`descriptors`).
    """
    real, generated = np.asarray(real, np.float32), np.asarray(generated, np.float32)
    if reference is None:
        if len(real) < 2:
            raise ValueError(f"realism_table needs at least 2 real images for a real-vs-real yardstick, "
                             f"got {len(real)}")
        first, second = real[0::2], real[1::2]
    else:
        first, second = np.asarray(reference, np.float32), real
    sets = {"real": real, "generated": generated, "first": first, "second": second}
    values = {name: descriptors(images, phase, transport) for name, images in sets.items()}
    table = {key: {"real": _finite_mean(values["real"][key]), "generated": _finite_mean(values["generated"][key]),
                   "model_vs_real": _value_distance(values["generated"][key], values["real"][key]),
                   "real_vs_real": _value_distance(values["first"][key], values["second"][key])}
             for key in values["real"]}
    max_length = max(real.shape[1:-1])
    for chord_phase in (0, 1):
        pooled = {name: _pooled_chords(images, chord_phase, max_length) for name, images in sets.items()}
        lengths = np.arange(1, max_length + 1)
        for axis in range(real.ndim - 2):
            means = {name: float((counts[axis] * lengths).sum() / max(counts[axis].sum(), 1))
                     for name, counts in pooled.items()}
            table[f"chords_phase{chord_phase}_axis{axis}"] = {
                "real": means["real"], "generated": means["generated"],
                "model_vs_real": histogram_distance(pooled["generated"][axis], pooled["real"][axis]),
                "real_vs_real": histogram_distance(pooled["first"][axis], pooled["second"][axis])}
    return table


def format_realism_table(table: dict[str, dict[str, float]]) -> str:
    """Markdown table of a :func:`realism_table`: one row per metric, its means and the two distances."""
    lines = ["| metric | real mean | generated mean | model vs real | real vs real |", "|---|---|---|---|---|"]
    for key, row in table.items():
        lines.append(f"| {key} | " + " | ".join(f"{row[column]:.4g}" for column in
                                               ("real", "generated", "model_vs_real", "real_vs_real")) + " |")
    return "\n".join(lines)


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation of two ``(n,)`` samples over their pairs of finite values.

    NaN with fewer than 2 such pairs or a constant ``x``; 0.0 for a constant ``y`` (a
    reconstruction that is the same for every input follows none of them).
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    both = np.isfinite(x) & np.isfinite(y)
    x, y = x[both], y[both]
    if x.size < 2 or np.ptp(x) == 0:
        return float("nan")
    if np.ptp(y) == 0:
        return 0.0
    return float(np.corrcoef(x, y)[0, 1])


def fidelity_descriptors(images: np.ndarray) -> dict[str, np.ndarray]:
    """The per-crop descriptors :func:`fidelity` correlates, name -> float64 ``(n,)``: ``volume_fraction``
    (black, 0-1), ``perimeter_axis{a}`` (1/px) and ``anisotropy`` (:func:`descriptors`' definitions)."""
    perimeter = specific_perimeter(images)
    out = {"volume_fraction": volume_fraction(images)}
    out.update({f"perimeter_axis{a}": perimeter[:, a] for a in range(perimeter.shape[1])})
    out["anisotropy"] = perimeter_anisotropy(perimeter)
    return out


def fidelity(inputs: np.ndarray, reconstructions: np.ndarray) -> dict[str, float]:
    """Per-crop fidelity: does each reconstruction follow its input?

    For each of :func:`fidelity_descriptors` (volume fraction, perimeter per axis, anisotropy), the
    :func:`pearson` correlation over the images between the inputs' and the reconstructions' values
    (binarised at ``PHASE_THRESHOLD``): 1 when the reconstructions rank like their inputs, about 0
    for a model that draws the same image (or an unrelated one) for every input.

    Args:
        inputs, reconstructions: ``(n, *spatial, 1)`` in [0, 1], the same images in the same order.
    """
    if np.shape(inputs) != np.shape(reconstructions):
        raise ValueError(f"fidelity pairs inputs with their reconstructions, got shapes {np.shape(inputs)} "
                         f"and {np.shape(reconstructions)}")
    first, second = fidelity_descriptors(inputs), fidelity_descriptors(reconstructions)
    return {key: pearson(first[key], second[key]) for key in first}
