"""PNG figures: inputs, reconstructions, their centred autocorrelation maps and radial profiles, and the
statistics of a data set (:class:`~ssvae_tf.stats.summary.DataStatistics`).

Every figure of the package is drawn on its own :class:`matplotlib.figure.Figure`
(never through ``pyplot``, so importing the package leaves the user's
Matplotlib backend alone, e.g. a notebook's inline plots) and written by
:func:`save_figure` at :data:`FIGURE_DPI`.  Autocorrelation maps are drawn in lag coordinates
(pixels, or voxels, or a :class:`~ssvae_tf.stats.units.PixelSize`'s unit when a function is given
one): zero lag in the middle, the lag ``y`` growing downwards like the image rows.  Volumes
``(D, H, W)`` are shown by their three orthogonal mid-slices (:func:`mid_slices`), their maps by the planes through
the zero lag.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ssvae_tf._io import atomic_write
from ssvae_tf.stats.phases import phase_name
from ssvae_tf.stats.summary import BAND_PERCENTILES, DataStatistics
from ssvae_tf.stats.two_point import StatsOptions, plane_axes, radial_average
from ssvae_tf.stats.units import PixelSize, is_physical, resolve

#: Resolution of every PNG the package writes, in dots per inch.
FIGURE_DPI = 150
#: Label of autocorrelation colour bars and profile axes.
S2_LABEL = r"$S_2(r)$"
_STATS_CMAP = "viridis"
#: Characters per line of a row label beside a figure's images (:func:`wrap_label`).
LABEL_WIDTH = 28


def wrap_label(label: str, width: int = LABEL_WIDTH) -> str:
    """``label`` broken into lines of at most ``width`` characters after a ``+``, a ``,`` or a space (the
    space a line ends at is dropped; a longer run without one stays whole), so that a long model label
    beside a row of images does not squeeze the images.

    >>> print(wrap_label("one-plane+noise+isotropy, from micrographs", 18))
    one-plane+noise+
    isotropy, from
    micrographs
    """
    lines, line = [], ""
    for piece in re.split(r"(?<=[+ ])|(?<=,)(?! )", label):
        if line and len(line) + len(piece.rstrip(" ")) > width:
            lines.append(line.rstrip(" "))
            line = ""
        line += piece
    return "\n".join([*lines, line.rstrip(" ")])


def save_figure(fig: Figure, path: str | os.PathLike) -> None:
    """Write ``fig`` to the PNG ``path`` atomically at :data:`FIGURE_DPI`, then close it.

    A :class:`~matplotlib.figure.Figure` of its own needs no closing; one that ``pyplot`` made (a
    caller's) is released from ``pyplot``'s figure list.
    """
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=FIGURE_DPI))
    if fig.canvas.manager is not None:  # only pyplot gives a figure a manager: it is imported already
        import matplotlib.pyplot as plt

        plt.close(fig)


def centred_autocorrelation(images: np.ndarray, stats_options: StatsOptions) -> np.ndarray:
    """First configured correlation of ``images`` ``(n, *spatial, 1)``, every lag, centred.

    Uses the microstructure function the loss uses (``kind``, ``n_phases``,
    ``eps``); returns ``(n, *spatial)``.
    """
    first = stats_options.correlations[:1]
    return stats_options.statistics(images, correlations=first, periodic=True, cutoff="full").numpy()[..., 0]


def lag_extent(side: int, pixel_size: PixelSize | None = None) -> tuple[float, float]:
    """Pixel-edge range ``(first, last)`` of the lags of a centred window of ``side`` pixels.

    Index ``i`` is the lag ``i - side // 2`` px and each pixel spans its lag
    +-0.5, e.g. side 64 -> ``(-32.5, 31.5)`` (lags -32..31), side 5 -> ``(-2.5, 2.5)``;
    in ``pixel_size``'s unit when given (side 64 at 5 nm -> ``(-162.5, 157.5)``).
    """
    unit = resolve(pixel_size, 2)
    return unit.length(-(side // 2) - 0.5), unit.length((side - 1) // 2 + 0.5)


#: Names of a volume's spatial axes ``(D, H, W)``, in order.
VOLUME_AXES = ("z", "y", "x")


def mid_slices(volume: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three orthogonal middle slices of ``volume`` ``(D, H, W)``: ``volume[D // 2]`` (a y-x
    plane ``(H, W)``), ``volume[:, H // 2]`` (z-x, ``(D, W)``) and ``volume[:, :, W // 2]`` (z-y, ``(D, H)``).

    On a centred map (zero lag at index ``side // 2``, as :func:`centred_autocorrelation` gives
    it) they are the planes through the zero lag.

    Raises:
        ValueError: if ``volume`` is not 3-D.
    """
    volume = np.asarray(volume)
    if volume.ndim != 3:
        raise ValueError(f"expected a volume (D, H, W), got shape {volume.shape}")
    return tuple(np.take(volume, side // 2, axis=axis) for axis, side in enumerate(volume.shape))


def middle_slice(volume: np.ndarray) -> np.ndarray:
    """A 2-D view of ``(H, W)`` or ``(D, H, W)``: volumes show their middle slice along the first axis."""
    return mid_slices(volume)[0] if volume.ndim == 3 else volume


def show_image(ax: Axes, image: np.ndarray) -> None:
    """Draw ``image`` ``(*spatial, channels)`` in [0, 1] (first channel, middle slice) in grey, no ticks."""
    ax.imshow(middle_slice(image[..., 0]), cmap="gray", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])


def _show_slice(ax: Axes, plane: np.ndarray) -> None:
    """Draw a volume's slice ``(rows, columns)`` in [0, 1] in grey; ticks at the first and last voxel."""
    ax.imshow(plane, cmap="gray", vmin=0, vmax=1)
    ax.set_xticks([0, plane.shape[1] - 1])
    ax.set_yticks([0, plane.shape[0] - 1])


def plane_axis_names(normal: int) -> tuple[str, str, str]:
    """Names ``(normal, rows, columns)`` of the volume axes of the mid-slice or coordinate plane normal to
    axis ``normal`` (:func:`mid_slices`' order, :func:`~ssvae_tf.stats.two_point.plane_axes`): 0 ->
    ``("z", "y", "x")``, 1 -> ``("y", "z", "x")``, 2 -> ``("x", "z", "y")``."""
    return VOLUME_AXES[normal], *(VOLUME_AXES[axis] for axis in plane_axes(normal))


def show_plane_images(axes: Sequence[Axes], planes: Sequence[np.ndarray], titles: Sequence[str]) -> None:
    """Draw three images in [0, 1], one per coordinate plane in :func:`mid_slices`' order (normal to z,
    y, x), on three ``axes``: grey, titled, rows and columns labelled with their volume axes in voxels."""
    for normal, (ax, plane, title) in enumerate(zip(axes, planes, titles)):
        _, rows, columns = plane_axis_names(normal)
        _show_slice(ax, plane)
        ax.set_title(title, fontsize=9)
        ax.set_ylabel(f"{rows} [voxels]")
        ax.set_xlabel(f"{columns} [voxels]")


def show_mid_slices(axes: Sequence[Axes], volume: np.ndarray) -> None:
    """Draw the three orthogonal mid-slices of ``volume`` ``(D, H, W, 1)`` in [0, 1] (:func:`mid_slices`)
    on three ``axes`` (:func:`show_plane_images`), titled by the slice (``slice z = 8``)."""
    titles = [f"slice {VOLUME_AXES[axis]} = {side // 2}" for axis, side in enumerate(volume.shape[:3])]
    show_plane_images(axes, mid_slices(volume[..., 0]), titles)


def show_lag_planes(axes: Sequence[Axes], planes: Sequence[np.ndarray], vmin: float, vmax: float,
                    pixel_size: PixelSize | None = None):
    """Draw the three planes through the zero lag of a volume's centred statistics (``mid_slices(map)``,
    the coordinate planes of :func:`~ssvae_tf.stats.two_point.coordinate_planes`), each ``(N, N)``, on three
    ``axes`` (:func:`show_lag_map`), titled by the plane (``lag z = 0``); returns the last image drawn."""
    for normal, (ax, plane) in enumerate(zip(axes, planes)):
        axis, rows, columns = plane_axis_names(normal)
        image = show_lag_map(ax, plane, vmin, vmax, pixel_size)
        unit = resolve(pixel_size, 3).label
        ax.set_title(f"{S2_LABEL}, lag {axis} = 0", fontsize=9)
        ax.set_ylabel(f"lag {rows} [{unit}]")
        ax.set_xlabel(f"lag {columns} [{unit}]")
    return image


def show_lag_map(ax, stats_map: np.ndarray, vmin: float, vmax: float, pixel_size: PixelSize | None = None):
    """Draw a centred 2-D map ``(rows, columns)`` on lag axes in px (voxels), or in ``pixel_size``'s
    unit; ticks at the first and last lag and at 0."""
    (x_low, x_high), (y_low, y_high) = (lag_extent(side, pixel_size) for side in stats_map.shape[::-1])
    image = ax.imshow(stats_map, cmap=_STATS_CMAP, vmin=vmin, vmax=vmax, extent=(x_low, x_high, y_high, y_low))
    half = resolve(pixel_size, 2).length(0.5)  # from a pixel's edge to its centre
    ax.set_xticks([x_low + half, 0, x_high - half])
    ax.set_yticks([y_low + half, 0, y_high - half])
    return image


def _plot_profiles(ax, pair: tuple[np.ndarray, np.ndarray], names: tuple[str, str], unit: PixelSize) -> None:
    """Radial profiles of two centred maps ``(*window)``, up to half the smallest window side;
    ``|r|`` in ``unit``."""
    radii, profiles = radial_average(np.stack(pair))
    keep = radii <= min(pair[0].shape) // 2
    for profile, name, style in zip(profiles, names, ("-", "--")):
        ax.plot(unit.length(radii[keep]), profile[keep], style, label=name)
    ax.set_xlabel(f"|r| [{unit.label}]")
    ax.grid(alpha=0.3)


def _image_grid(images: np.ndarray, reconstructions: np.ndarray, stats: list[np.ndarray],
                titles: tuple[str, str], unit: PixelSize) -> Figure:
    """:func:`plot_reconstructions` of 2-D images ``(n, H, W, 1)``, their maps ``stats`` ``[(n, H, W)] * 2``:
    one column per example; lags in ``unit``."""
    n = len(images)
    fig = Figure(figsize=(max(2.6 * n + 1.2, 6.5), 10.4), layout="constrained")
    axes = fig.subplots(5, n, squeeze=False)
    for j in range(n):
        show_image(axes[0, j], images[j])
        show_image(axes[1, j], reconstructions[j])
        low = min(s[j].min() for s in stats)
        high = max(s[j].max() for s in stats)
        maps = [show_lag_map(axes[i, j], s[j], low, high, unit) for i, s in enumerate(stats, start=2)]
        fig.colorbar(maps[0], ax=axes[2:4, j], shrink=0.8, label=S2_LABEL)
        axes[2, j].tick_params(labelbottom=False)
        axes[3, j].set_xlabel(f"lag x [{unit.label}]")
        _plot_profiles(axes[4, j], (stats[0][j], stats[1][j]), titles, unit)
    for i, name in enumerate(titles):
        axes[i, 0].set_ylabel(name)
        axes[i + 2, 0].set_ylabel(f"{S2_LABEL} of {name}\nlag y [{unit.label}]")
    for ax in axes[2:4, 1:].ravel():
        ax.tick_params(labelleft=False)
    axes[4, 0].set_ylabel(r"radial mean $S_2(|r|)$")
    axes[4, 0].legend(fontsize=8)
    fig.suptitle(f"{titles[0]} vs {titles[1]}\ntwo-point autocorrelations {S2_LABEL} (zero lag centred) "
                 "and their radial averages", fontsize=11)
    return fig


def _views(array: np.ndarray, stats_map: np.ndarray) -> tuple[list, list]:
    """The three slices and the three lag planes :func:`_volume_block` draws of a volume ``(D, H, W, 1)``
    and its centred map ``(D, H, W)`` (:func:`mid_slices`), or of a micrograph ``(H, W, 1)`` a model from
    slices was given: the micrograph in the first place, and its map ``(H, W)`` in all three, the target
    of every coordinate plane."""
    if array.ndim == 3:
        return [array[..., 0], None, None], [stats_map] * 3
    return list(mid_slices(array[..., 0])), list(mid_slices(stats_map))


def _volume_block(block, volumes: tuple[np.ndarray, np.ndarray], maps: tuple[np.ndarray, np.ndarray],
                  names: tuple[str, str], unit: PixelSize) -> None:
    """One example of :func:`_volume_grid` in the subfigure ``block``: a row per volume ``(D, H, W, 1)``
    (or micrograph ``(H, W, 1)``, :func:`_views`) with its three mid-slices (axes: voxel indices) and
    the planes through the zero lag of its centred map (one colour scale for both rows; lags in
    ``unit``), both radial profiles beside them (a volume's over the three planes beside a micrograph)."""
    grid = block.add_gridspec(2, 7, width_ratios=(1,) * 6 + (1.6,))
    axes = np.array([[block.add_subplot(grid[i, k]) for k in range(6)] for i in range(2)])
    low, high = min(m.min() for m in maps), max(m.max() for m in maps)
    for i, (volume, stats_map) in enumerate(zip(volumes, maps)):
        for k, (plane, lag_plane) in enumerate(zip(*_views(volume, stats_map))):
            if plane is None:
                axes[i, k].set_axis_off()
            else:
                _show_slice(axes[i, k], plane)
            image = show_lag_map(axes[i, k + 3], lag_plane, low, high, unit)
    micrograph = volumes[0].ndim == 3
    if micrograph:
        axes[0, 0].set_title("micrograph", fontsize=9)
    for k, (axis, side) in enumerate(zip(VOLUME_AXES, volumes[1].shape)):
        rows, columns = (other for other in VOLUME_AXES if other != axis)
        axes[int(micrograph), k].set_title(f"slice {axis} = {side // 2}", fontsize=9)
        axes[0, k + 3].set_title(f"{S2_LABEL}, lag {axis} = 0", fontsize=9)
        for i in range(2):
            axes[i, k].set_ylabel(f"{rows} [voxels]")
            axes[i, k + 3].set_ylabel(f"lag {rows} [{unit.label}]")
        axes[1, k].set_xlabel(f"{columns} [voxels]")
        axes[1, k + 3].set_xlabel(f"lag {columns} [{unit.label}]")
    for i, name in enumerate(names):
        axes[i, 0].set_ylabel(f"{name}\n{axes[i, 0].get_ylabel()}")
    for ax in axes[0]:
        ax.tick_params(labelbottom=False)
    block.colorbar(image, ax=axes[:, 3:], shrink=0.8, label=S2_LABEL)
    profiles = block.add_subplot(grid[:, 6])
    if maps[0].ndim < maps[1].ndim:  # a micrograph beside a volume: compare the mean of the volume's planes
        maps = (maps[0], np.mean(mid_slices(maps[1]), axis=0))
    _plot_profiles(profiles, maps, names, unit)
    profiles.set_ylabel(r"radial mean $S_2(|r|)$")
    profiles.legend(fontsize=8)


def _volume_grid(volumes: np.ndarray, reconstructions: np.ndarray, stats: list[np.ndarray],
                 titles: tuple[str, str], unit: PixelSize) -> Figure:
    """:func:`plot_reconstructions` of volumes ``(n, D, H, W, 1)`` (or a model from slices' micrographs
    ``(n, H, W, 1)``) and reconstructed volumes, their maps ``stats``: one block of two rows per example;
    lags in ``unit``."""
    n = len(volumes)
    fig = Figure(figsize=(14.0, 3.6 * n + 0.8), layout="constrained")
    for j, block in enumerate(fig.subfigures(n, 1, squeeze=False)[:, 0]):
        _volume_block(block, (volumes[j], reconstructions[j]), (stats[0][j], stats[1][j]), titles, unit)
        block.suptitle(f"example {j + 1}", fontsize=10, fontweight="bold")
    if volumes.ndim == 4:  # micrographs of a model from slices
        fig.suptitle(f"{titles[0]} (2-D micrograph) vs {titles[1]} (volume): its orthogonal mid-slices (z, y, x), "
                     f"the three coordinate planes of its two-point autocorrelation {S2_LABEL}\nbeside the "
                     "micrograph's (the x-y planes' target; every plane's with one micrograph stack), and their "
                     "radial averages", fontsize=11)
        return fig
    fig.suptitle(f"{titles[0]} vs {titles[1]}: orthogonal mid-slices (z, y, x) of the volumes, their "
                 f"two-point autocorrelations {S2_LABEL}\nin the planes through the zero lag, and their "
                 "radial averages over every 3-D lag", fontsize=11)
    return fig


def plot_reconstructions(
    images: np.ndarray,
    reconstructions: np.ndarray,
    stats_options: StatsOptions,
    path: str | os.PathLike,
    titles: tuple[str, str] = ("input", "reconstruction"),
    pixel_size: PixelSize | None = None,
) -> None:
    """Write inputs, reconstructions, their centred autocorrelation maps and radial averages ``S2(|r|)``.

    2-D images: one column per example; rows = input, reconstruction, both
    maps (one colour scale per column) on lag axes, both radial profiles.
    Volumes: one block of two rows (input, reconstruction) per example; columns
    = the three orthogonal mid-slices (z, y, x) of the volume
    (:func:`mid_slices`), the planes of its map through the zero lag (one
    colour scale per example) on lag axes, and both radial
    profiles.  Radial profiles average every lag of the full 2-D or 3-D
    window, up to ``|r| = min(side) // 2``.

    Args:
        images, reconstructions: ``(n, H, W, C)`` or ``(n, D, H, W, C)`` in [0, 1] (first channel shown);
            a model from slices reconstructs micrographs ``(n, N, N, C)`` as volumes ``(n, N, N, N, C)``.
        stats_options: the model's statistics options (maps: :func:`centred_autocorrelation`).
        path: PNG file, written atomically at :data:`FIGURE_DPI`.
        titles: names of the inputs and of the reconstructions.
        pixel_size: the unit of the lags and radii (default: px, or voxels).
    """
    stats = [centred_autocorrelation(a[..., :1], stats_options) for a in (images, reconstructions)]
    grid = _volume_grid if np.ndim(reconstructions) == 5 else _image_grid
    unit = resolve(pixel_size, np.ndim(reconstructions) - 2)
    save_figure(grid(images, reconstructions, stats, titles, unit), path)


# ------------------------------------------------------- data-set statistics
def shared_bins(groups: Sequence[np.ndarray], bins: int) -> np.ndarray:
    """``bins + 1`` equal-width edges spanning the finite values of every group (one set for all groups)."""
    values = np.concatenate([np.asarray(g, dtype=np.float64).ravel() for g in groups])
    return np.histogram_bin_edges(values[np.isfinite(values)], bins=bins)


def _plural(stats: DataStatistics) -> str:
    kind = ("image", "images") if len(stats.spatial_shape) == 2 else ("volume", "volumes")
    return f"{stats.n_images} {kind[stats.n_images != 1]}"


def _pixel_note(unit: PixelSize) -> str:
    """``", pixel size 5 nm"`` for a physical unit; nothing for px (voxels)."""
    return f", {unit.describe()}" if is_physical(unit) else ""


def _statistics_note(stats: DataStatistics) -> str:
    boundary = "periodic" if stats.options.periodic else "non-periodic"
    indicator = {"hard": "phases rounded to the nearest level", "soft": "soft phase indicators",
                 "linear": "linear phase indicators"}[stats.options.kind]
    return f"{boundary}, {indicator}"


def plot_autocorrelation_maps(stats: DataStatistics, path: str | os.PathLike, title: str = "data",
                              pixel_size: PixelSize | None = None) -> None:
    """The mean autocorrelation map of every phase on lag axes (px, voxels, or ``pixel_size``'s unit),
    zero lag centred, one colour bar per phase.

    Images: one panel per phase.  Volumes: one row per phase, its three planes through the zero lag
    (lag z = 0, lag y = 0, lag x = 0; :func:`mid_slices`).  Written atomically.
    """
    unit, k = stats.length_unit(pixel_size), stats.n_phases
    volumes = len(stats.spatial_shape) == 3
    rows, columns = (k, 3) if volumes else (1, k)
    fig = Figure(figsize=(3.3 * columns + 0.8, 3.1 * rows + 0.9), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False)
    for h, stats_map in enumerate(stats.mean_maps):
        planes = mid_slices(stats_map) if volumes else (stats_map,)
        row = axes[h] if volumes else axes[0, h:h + 1]
        low, high = min(p.min() for p in planes), max(p.max() for p in planes)
        for j, (ax, plane) in enumerate(zip(row, planes)):
            shown = show_lag_map(ax, plane, low, high, unit)
            if volumes:
                across, (ylag, xlag) = VOLUME_AXES[j], (a for a in VOLUME_AXES if a != VOLUME_AXES[j])
                ax.set_title(f"{phase_name(h, k)}: lag {across} = 0", fontsize=9)
            else:
                ylag, xlag = "y", "x"
                ax.set_title(f"{phase_name(h, k)}\nvolume fraction {stats.fraction_mean[h]:.3f}", fontsize=9)
            ax.set_xlabel(f"lag {xlag} [{unit.label}]")
            ax.set_ylabel(f"lag {ylag} [{unit.label}]")
        fig.colorbar(shown, ax=list(row), shrink=0.85, label=S2_LABEL)
    size = "x".join(str(s) for s in stats.spatial_shape)
    planes = "; volumes: the planes through the zero lag" if volumes else ""
    fig.suptitle(f"{title}: mean two-point autocorrelation {S2_LABEL} of each phase over {_plural(stats)} of "
                 f"{size} {stats.unit}\n(zero lag centred, {_statistics_note(stats)}{planes}{_pixel_note(unit)})",
                 fontsize=10)
    save_figure(fig, path)


def plot_radial_s2(groups: Mapping[str, DataStatistics], path: str | os.PathLike, title: str = "",
                   pixel_size: PixelSize | None = None) -> None:
    """Radial ``S2(r)`` of every phase, one panel each: per group its mean curve and the band of
    :data:`~ssvae_tf.stats.summary.BAND_PERCENTILES` over its images, and the first group's uncorrelated level (dashed,
    the mean square volume fraction).  Written atomically.

    Args:
        groups: label -> statistics (the same phases), e.g. ``{"data": ..., "samples": ...}``.
        pixel_size: the unit of ``r`` (default: px, or voxels).
    """
    stats_list = list(groups.values())
    first = stats_list[0]
    k, unit = first.n_phases, first.length_unit(pixel_size)
    radii = unit.length(first.radii)
    fig = Figure(figsize=(4.6 * k + 0.4, 4.0), layout="constrained")
    axes = fig.subplots(1, k, squeeze=False)
    low_pct, high_pct = BAND_PERCENTILES
    for h, ax in enumerate(axes[0]):
        for i, (label, stats) in enumerate(groups.items()):
            low, high = stats.radial_band
            colour = f"C{i}"
            ax.fill_between(unit.length(stats.radii), low[h], high[h], color=colour, alpha=0.25, linewidth=0,
                            label=f"{label}: {low_pct:g}-{high_pct:g} % band ({_plural(stats)})")
            ax.plot(unit.length(stats.radii), stats.radial_mean[h], "-", color=colour, lw=2, label=f"{label}: mean")
        ax.axhline(first.asymptotes[h], color="0.3", ls="--", lw=1,
                   label=r"uncorrelated: mean $\phi^2$" + (f" ({list(groups)[0]})" if len(groups) > 1 else ""))
        fractions = ", ".join(f"{label} {stats.fraction_mean[h]:.3f}" for label, stats in groups.items())
        ax.set_title(f"{phase_name(h, k)}, volume fraction " + (fractions if len(groups) > 1
                                                                 else f"{first.fraction_mean[h]:.3f}"), fontsize=9)
        ax.set_xlabel(f"r [{unit.label}]")
        ax.set_ylabel(r"radial $S_2(r)$")
        ax.set_xlim(radii[0], radii[-1])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    heading = f"{title}: " if title else ""
    fig.suptitle(f"{heading}radial two-point autocorrelation $S_2(r)$ of each phase\nthe mean over every "
                 f"{'3-D' if first.unit == 'voxels' else '2-D'} lag with round(|r|) = r ({_statistics_note(first)})"
                 f"{_pixel_note(unit)}",
                 fontsize=10)
    save_figure(fig, path)


def plot_volume_fractions(stats: DataStatistics, path: str | os.PathLike, title: str = "data") -> None:
    """Histogram of every phase's per-image volume fraction, bins shared by the phases, mean and std in
    the legend.  Written atomically."""
    edges = shared_bins(list(stats.volume_fractions.T), min(30, max(5, stats.n_images // 4)))
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.subplots()
    for h, values in enumerate(stats.volume_fractions.T):
        label = f"{phase_name(h, stats.n_phases)}: {values.mean():.3f} ± {values.std():.3f} (mean ± std)"
        ax.hist(values, bins=edges, histtype="stepfilled", color=f"C{h}", alpha=0.35, label=label)
        ax.hist(values, bins=edges, histtype="step", color=f"C{h}", linewidth=1.2)
    ax.set_xlabel("volume fraction per image" if stats.unit == "px" else "volume fraction per volume")
    ax.set_ylabel("images" if stats.unit == "px" else "volumes")
    ax.legend(fontsize=8)
    ax.set_title(f"{title}: volume fraction of each phase over {_plural(stats)}", fontsize=10)
    save_figure(fig, path)
