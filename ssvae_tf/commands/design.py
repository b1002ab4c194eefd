"""``ssvae design``: structures whose two-point statistics match a target, and latent interpolation strips.

::

    ssvae design --model RUN --target FILE [--method latent] [--n 16] [--steps N] [--seed S] --out DIR
    ssvae design --model RUN --volume-fraction 0.4 [--correlation-length 3] --out DIR
    ssvae design --method pixel --target FILE --out DIR        (the pixel baseline needs no model)
    ssvae design --method pixel --dims 3 --target SLICE.png [--target-xz F --target-yz F] [--side N] --out DIR
    ssvae design --model RUN --interpolate A B [--frames 8] --out DIR

A design run writes into ``DIR``, all files or none (:func:`ssvae_tf._io.write_files`):
``designs.npy`` (``(n, *spatial, 1)`` in [0, 1]); for volumes also one multi-page
TIFF per design, ``designs_000.tif``, ... (:mod:`ssvae_tf.volume_tiff`: uint8, a page per z-slice);
``designs.png`` (the first :data:`GRID_MOST` designs, each statistics error in its
title; volumes by their three orthogonal mid-slices), ``statistics.png`` (the target,
the best designs, their autocorrelation maps and radial ``S2(r)``, lags and radii in
px, or in UNIT with ``--pixel-size VALUE UNIT``; volumes: per coordinate plane) and,
last, ``design.json`` (errors, time, method, settings, target, and the ``pixel_size``
when given).

**A volume from 2-D micrographs** (``--dims 3``, issue 23; ``--method pixel`` only
for now): the designs are ``N x N x N`` volumes whose statistics in the three
coordinate planes match the micrographs' 2-D statistics (the slice distance,
:class:`~ssvae_tf.design.SliceTargets`).  ``--target`` is the xy plane's micrograph,
and every plane's when it is alone (an isotropic material); ``--target-xz`` and
``--target-yz`` (both or neither) give the other planes' (rows along z).  ``N`` is
``--side``, by default the micrographs' shortest side; each is cropped to its
centred ``N x N`` square and made binary (black below 0.5).  ``design.json`` then
holds the slice distance of each design as ``stats_error``, its error per plane
(``plane_errors``, planes xy, xz, yz), and ``binary``: the same of the designs
thresholded at 0.5, and their black fractions.  ``--correlation-length`` and ``--cutoff`` take px whatever the pixel
size.  An interpolation writes ``interpolation.npy`` and ``interpolation.png`` (at most
:data:`GRID_MOST` frames, evenly spaced).  ``--n`` and ``--frames`` are bounded by the memory a search holds
(:data:`~ssvae_tf.design.defaults.MAX_DESIGN_VALUES`).  Methods, objective and
error: :mod:`ssvae_tf.design`.

Light at import (the standard library and :mod:`ssvae_tf.design.defaults`, whose defaults the options
show); ``run`` imports TensorFlow and Matplotlib (figures drawn on ``matplotlib.figure.Figure``: the
global backend is left alone).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from ssvae_tf.commands.base import Command, add_pixel_size_option
from ssvae_tf.design.defaults import (
    DEFAULT_FRAMES,
    DEFAULT_LEARNING_RATE,
    DEFAULT_METHOD,
    DEFAULT_N,
    DEFAULT_PRIOR_WEIGHT,
    DEFAULT_REFINE_STEPS,
    DEFAULT_SEED,
    DEFAULT_STEPS,
    MAX_DESIGN_VALUES,
    METHOD_TABLE,
    METHODS,
    MIN_FRAMES,
    REFINE_STARTS,
)
from ssvae_tf.stats.units import PixelSize, is_physical, resolve

#: Files of a design run, in the order they are written (``design.json`` last: the run is whole).
DESIGN_FILES = ("designs.npy", "designs.png", "statistics.png", "design.json")
#: Files of an interpolation.
INTERPOLATION_FILES = ("interpolation.npy", "interpolation.png")
#: Designs shown, best first, in ``statistics.png``.
SHOWN_DESIGNS = 4
#: Images per row of a PNG grid.
GRID_COLUMNS = 8
#: Volumes per row of a PNG grid (three mid-slices each).
GRID_VOLUME_COLUMNS = 3
#: Most images a PNG grid draws (laying out a thousand takes a minute): the first designs, or evenly spaced frames.
GRID_MOST = 64


# ------------------------------------------------------------------ files
def read_target(path: str | Path, spatial_rank: int | None = None):
    """The image or volume in ``path``: a PNG/TIFF file, or a ``.npy``/``.npz`` file holding one image
    ``(H, W[, 1])``, a stack of one ``(1, *spatial[, 1])`` or, when ``spatial_rank`` is 3 (a model of
    volumes), one volume ``(D, H, W[, 1])``.

    Values are read as a PNG's are (:class:`~ssvae_tf.data.ReadOptions`' defaults: integers divided by
    their dtype's maximum, e.g. uint8 by 255; bool as 0/1; floats in [0, 1]).

    Returns:
        float32 ``(*spatial, 1)`` in [0, 1].

    Raises:
        ValueError: (one line) naming the file if it cannot be read, holds another number of images or
            values outside its dtype's range.
    """
    from ssvae_tf._checks import with_channel_axis
    from ssvae_tf.data import ReadOptions, load_stored, read_image

    path = Path(path)
    if path.suffix.lower() not in (".npy", ".npz"):
        return read_image(path)
    if not path.is_file():
        raise ValueError(f"{path} does not exist; expected an image file (.png, .tif) or a .npy/.npz array")
    stored = load_stored(path)
    rank = stored.ndim - (stored.ndim >= 3 and stored.shape[-1] == 1)  # without a channel axis
    if rank not in (2, spatial_rank):  # a stack (n, *spatial[, 1])
        stack = with_channel_axis(stored, str(path))
        if len(stack) != 1:
            raise ValueError(f"{path} holds {len(stack)} images of shape {stack.shape[1:-1]} (array {stored.shape}); "
                             "expected one target image or volume")
        stored, rank = stack[0], stack.ndim - 2
    image = ReadOptions().convert(stored, str(path))
    return image.reshape(image.shape[:rank] + (1,))


def grid_figure(images, titles: list[str], heading: str):
    """A figure of ``images`` ``(n, *spatial, 1)``, :data:`GRID_COLUMNS` a row; volumes by their three
    orthogonal mid-slices, :data:`GRID_VOLUME_COLUMNS` a row."""
    from matplotlib.figure import Figure

    from ssvae_tf.figures import show_image

    if images.ndim == 5:
        return _volume_grid_figure(images, titles, heading)
    columns = min(len(images), GRID_COLUMNS)
    rows = math.ceil(len(images) / columns)
    fig = Figure(figsize=(1.7 * columns + 0.4, 1.8 * rows + 0.7), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax in axes.ravel()[len(images):]:
        ax.axis("off")
    for ax, image, title in zip(axes.ravel(), images, titles):
        show_image(ax, image)
        ax.set_title(title, fontsize=8)
    fig.suptitle(heading, fontsize=10)
    return fig


def _volume_grid_figure(volumes, titles: list[str], heading: str):
    """:func:`grid_figure` of volumes ``(n, D, H, W, 1)``: each its three orthogonal mid-slices, titled."""
    from matplotlib.figure import Figure

    from ssvae_tf.figures import show_mid_slices

    columns = min(len(volumes), GRID_VOLUME_COLUMNS)
    rows = math.ceil(len(volumes) / columns)
    fig = Figure(figsize=(6.0 * columns + 0.4, 2.4 * rows + 0.7), layout="constrained")
    for block, volume, title in zip(fig.subfigures(rows, columns, squeeze=False).ravel(), volumes, titles):
        show_mid_slices(block.subplots(1, 3), volume)
        block.suptitle(title, fontsize=9)
    fig.suptitle(f"{heading}\nthe three orthogonal mid-slices of each volume", fontsize=10)
    return fig


def _target_panel(ax, target) -> None:
    """The target's image (volumes: middle slice), or its description when it is statistics alone."""
    from ssvae_tf.figures import show_image

    if target.image is not None:
        show_image(ax, target.image)
        return
    ax.text(0.5, 0.5, "statistics only:\n" + target.description.replace(", ", ",\n"), ha="center",
            va="center", fontsize=7, transform=ax.transAxes)
    ax.axis("off")


def _draw_map(ax, stats_map, low: float, high: float, unit: PixelSize):
    """A centred map ``(*spatial)`` (volumes: the plane lag z = 0) on lag axes in ``unit`` (a
    :class:`~ssvae_tf.stats.units.PixelSize`), colours from ``low`` to ``high``."""
    from ssvae_tf.figures import lag_extent, middle_slice

    plane = middle_slice(stats_map)
    (x_low, x_high), (y_low, y_high) = lag_extent(plane.shape[1], unit), lag_extent(plane.shape[0], unit)
    ax.set_xlabel(f"lag x [{unit.label}]")
    return ax.imshow(plane, cmap="viridis", vmin=low, vmax=high, extent=(x_low, x_high, y_high, y_low))


def _draw_profiles(ax, maps: list, labels: list[str], unit: PixelSize) -> None:
    """Radial means ``S2(|r|)`` of centred ``maps`` (the first: the target, NaN at lags it leaves free),
    up to half the shortest side; ``|r|`` in ``unit`` (a :class:`~ssvae_tf.stats.units.PixelSize`)."""
    import numpy as np

    from ssvae_tf.stats.two_point import radial_average

    radii, profiles = radial_average(np.stack(maps))
    keep = radii <= min(maps[0].shape) // 2
    shown = unit.length(radii[keep])
    ax.plot(shown, profiles[0, keep], "ko-", lw=2, label=labels[0])
    for profile, label in zip(profiles[1:], labels[1:]):
        ax.plot(shown, profile[keep], "-", label=label)
    ax.set_xlabel(f"|r| [{unit.label}]")
    ax.set_ylabel(r"radial mean $S_2(|r|)$")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def _statistics_figure(target, designs, pixel_size: PixelSize | None = None):
    """Target and the best :data:`SHOWN_DESIGNS` designs: images (volumes: middle slice), centred
    autocorrelation maps of the black phase (target hard, designs soft: what the error compares) and
    the radial means ``S2(|r|)`` of all of them; lags and radii in ``pixel_size``'s unit (a
    :class:`~ssvae_tf.stats.units.PixelSize`; default px, or voxels)."""
    import numpy as np
    from matplotlib.figure import Figure

    from ssvae_tf.evaluation.metrics import line_statistics
    from ssvae_tf.figures import S2_LABEL, show_image

    unit = resolve(pixel_size, len(target.shape))
    best = np.argsort(designs.stats_error)[:SHOWN_DESIGNS]
    maps = [np.where(target.lags, target.stats, np.nan), *line_statistics(designs.images[best], "soft")]
    names = ["target", *(f"design {i}" for i in best)]
    fig = Figure(figsize=(2.5 * len(maps) + 1.2, 8.2), layout="constrained")
    grid = fig.add_gridspec(3, len(maps), height_ratios=(1.0, 1.0, 1.3))
    low, high = np.nanmin([np.nanmin(m) for m in maps]), np.nanmax([np.nanmax(m) for m in maps])
    map_axes = [fig.add_subplot(grid[1, j]) for j in range(len(maps))]
    for j, (stats_map, ax) in enumerate(zip(maps, map_axes)):
        image_ax = fig.add_subplot(grid[0, j])
        if j == 0:
            _target_panel(image_ax, target)
            image_ax.set_title(names[0], fontsize=9)
        else:
            show_image(image_ax, designs.images[best[j - 1]])
            image_ax.set_title(f"{names[j]}\nerror {designs.stats_error[best[j - 1]]:.2e}", fontsize=9)
        shown = _draw_map(ax, stats_map, low, high, unit)
    map_axes[0].set_ylabel(f"lag y [{unit.label}]")
    fig.colorbar(shown, ax=map_axes, shrink=0.8, label=S2_LABEL)
    _draw_profiles(fig.add_subplot(grid[2, :]), maps, ["target (hard)", *(f"{name} (soft)" for name in names[1:])],
                   unit)
    planes = (f"\nvolumes: middle slice z = {target.shape[0] // 2}; maps: the plane lag z = 0; radial means: "
              "every 3-D lag") if len(target.shape) == 3 else ""
    lengths = f", {unit.describe()}" if is_physical(unit) else ""
    fig.suptitle(f"{designs.method}: {len(designs.images)} designs for {target.description}\n"
                 f"black-phase autocorrelation {S2_LABEL}, zero lag centred{lengths}{planes}", fontsize=10)
    return fig


def _target_planes(target):
    """What :func:`_plane_statistics_figure` shows of a 3-D target: its three images in the coordinate planes
    (a volume's mid-slices, or the micrograph crops; ``None`` for statistics alone) and its statistics
    there, ``(3, N, N)``: the planes through the zero lag (NaN at lags it leaves free), or the crops' soft
    2-D statistics, what the slice distance compares."""
    import numpy as np

    from ssvae_tf.evaluation.metrics import line_statistics
    from ssvae_tf.figures import mid_slices

    if target.planes:
        return target.slices[..., 0], line_statistics(target.slices, "soft")
    images = None if target.image is None else mid_slices(target.image[..., 0])
    return images, np.stack(mid_slices(np.where(target.lags, target.stats, np.nan)))


def _plane_statistics_figure(target, designs, pixel_size: PixelSize | None = None):
    """:func:`_statistics_figure` of volumes, one column per coordinate plane (xy, xz, yz): the target's
    images and statistics in that plane, the best design's mid-slice and statistics there, and the radial
    means ``S2(|r|)`` in the plane of the target and the best :data:`SHOWN_DESIGNS` designs."""
    import numpy as np
    from matplotlib.figure import Figure

    from ssvae_tf.stats.two_point import PLANE_NAMES
    from ssvae_tf.evaluation.metrics import line_statistics
    from ssvae_tf.figures import S2_LABEL, mid_slices, show_lag_planes, show_mid_slices, show_plane_images

    unit = resolve(pixel_size, 3)
    best = np.argsort(designs.stats_error)[:SHOWN_DESIGNS]
    images, target_maps = _target_planes(target)
    design_maps = [np.stack(mid_slices(stats)) for stats in line_statistics(designs.images[best], "soft")]
    fig = Figure(figsize=(11.5, 16.0), layout="constrained")
    axes = fig.add_gridspec(5, 3, height_ratios=(1.0, 1.0, 1.0, 1.0, 1.1)).subplots()
    low, high = np.nanmin([target_maps, *design_maps]), np.nanmax([target_maps, *design_maps])
    if images is None:
        _target_panel(axes[0, 0], target)
        for ax in axes[0, 1:]:
            ax.axis("off")
    else:
        what = "crop" if target.planes else "mid-slice"
        show_plane_images(axes[0], images, [f"target {what}, plane {plane}" for plane in PLANE_NAMES])
    show_lag_planes(axes[1], target_maps, low, high, unit)
    show_mid_slices(axes[2], designs.images[best[0]])
    shown = show_lag_planes(axes[3], design_maps[0], low, high, unit)
    for row, name in ((0, "target"), (1, "target"), (2, f"design {best[0]}"), (3, f"design {best[0]}")):
        axes[row, 0].set_ylabel(f"{name}\n{axes[row, 0].get_ylabel()}")
    fig.colorbar(shown, ax=axes[1:4:2].ravel().tolist(), shrink=0.6, label=S2_LABEL)
    labels = [f"target ({'soft' if target.planes else 'hard'})", *(f"design {i} (soft)" for i in best)]
    for k, (ax, plane) in enumerate(zip(axes[4], PLANE_NAMES)):
        _draw_profiles(ax, [target_maps[k], *(maps[k] for maps in design_maps)], labels, unit)
        ax.legend(fontsize=7, loc="upper right")
        ax.set_title(f"plane {plane}: radial mean over its lags", fontsize=9)
    error = "slice distance" if target.planes else "statistics error"
    per_plane = "" if designs.plane_errors is None else " (planes " + ", ".join(
        f"{plane} {value:.2e}" for plane, value in zip(PLANE_NAMES, designs.plane_errors[best[0]])) + ")"
    lengths = f", {unit.describe()}" if is_physical(unit) else ""
    fig.suptitle(f"{designs.method}: {len(designs.images)} designs for\n{target.description}\n"
                 f"black-phase autocorrelation {S2_LABEL} in the three coordinate planes, zero lag centred{lengths}\n"
                 f"best design {best[0]}: {error} {designs.stats_error[best[0]]:.2e}{per_plane}", fontsize=10)
    return fig


def binary_record(target, designs) -> dict[str, Any]:
    """``design.json``'s ``binary`` entry for volumes from slices: the designs thresholded at 0.5 (the
    binary structures they stand for, as the realism statistics take them): their slice distance, error
    per plane and black fraction, each one per design."""
    from ssvae_tf.design.objective import plane_errors
    from ssvae_tf.stats.phases import black_mask

    black = black_mask(designs.images)
    errors = plane_errors(target, (~black).astype("float32")[..., None])
    return {"stats_error": errors.mean(axis=1).tolist(), "plane_errors": errors.tolist(),
            "volume_fraction": black.mean(axis=(1, 2, 3)).tolist()}


def write_designs(out: str | Path, target, designs, record: dict[str, Any] | None = None,
                  pixel_size: PixelSize | None = None) -> list[Path]:
    """Write a design run's :data:`DESIGN_FILES` into ``out`` (volumes: with a TIFF per design after
    ``designs.npy``, :func:`~ssvae_tf.volume_tiff.volume_tiff_writers`): all or none, ``design.json`` last
    (:func:`~ssvae_tf._io.write_files`).

    Args:
        target, designs: a :class:`~ssvae_tf.design.TargetStatistics` and the
            :class:`~ssvae_tf.design.Designs` found for it.
        record: more entries for ``design.json`` (e.g. the model and the target's file).
        pixel_size: a :class:`~ssvae_tf.stats.units.PixelSize`: ``statistics.png``'s lags and radii in
            its unit, and ``design.json`` records it (default: px, or voxels).

    Returns:
        The paths written.

    Raises:
        OSError: when writing fails (one line naming the file when the disk is full); ``out`` is left as it was.
    """
    import numpy as np

    from ssvae_tf._io import write_files, write_json
    from ssvae_tf.figures import save_figure
    from ssvae_tf.volume_tiff import volume_tiff_writers

    n = len(designs.images)
    titles = [f"{i}: {error:.2e}" for i, error in enumerate(designs.stats_error[:GRID_MOST])]
    error = "slice distances" if target.planes else "statistics errors"
    heading = f"{designs.method}: designs and their {error}" + (
        f" (the first {GRID_MOST} of {n})" if n > GRID_MOST else "")
    target_record = {"description": target.description, "shape": list(target.shape),
                     "volume_fraction": target.volume_fraction}
    if target.planes:
        from ssvae_tf.stats.two_point import PLANE_NAMES

        target_record.update(planes=list(PLANE_NAMES), plane_fractions=target.plane_fractions.tolist(),
                             isotropic=target.isotropic)
        record = {**(record or {}), "binary": binary_record(target, designs)}
    lengths = {"pixel_size": pixel_size.to_json()} if is_physical(pixel_size) else {}
    statistics_figure = _plane_statistics_figure if len(target.shape) == 3 else _statistics_figure
    npy, grid, statistics, record_file = DESIGN_FILES
    return write_files(out, {
        npy: lambda tmp: np.save(tmp, designs.images),
        **volume_tiff_writers(Path(npy).stem, designs.images),
        grid: lambda tmp: save_figure(grid_figure(designs.images[:GRID_MOST], titles, heading), tmp),
        statistics: lambda tmp: save_figure(statistics_figure(target, designs, pixel_size), tmp),
        record_file: lambda tmp: write_json(tmp, {**designs.to_json(), "target": target_record, **lengths,
                                                  **(record or {})}),
    })


def write_interpolation(out: str | Path, frames) -> list[Path]:
    """Write :data:`INTERPOLATION_FILES` of ``frames`` ``(k, *spatial, 1)`` into ``out`` (volumes: with a
    TIFF per frame, ``interpolation_000.tif``, ...), all or none; the figure draws at most
    :data:`GRID_MOST` of them, evenly spaced, both ends included."""
    import numpy as np

    from ssvae_tf._io import write_files
    from ssvae_tf.figures import save_figure
    from ssvae_tf.volume_tiff import volume_tiff_writers

    t = np.linspace(0.0, 1.0, len(frames))
    shown = np.unique(np.linspace(0, len(frames) - 1, min(len(frames), GRID_MOST)).round().astype(int))
    heading = "decoded latent interpolation from the first image to the second" + (
        "" if len(shown) == len(frames) else f" ({len(shown)} of {len(frames)} frames, evenly spaced)")
    npy, grid = INTERPOLATION_FILES
    return write_files(out, {
        npy: lambda tmp: np.save(tmp, frames),
        **volume_tiff_writers(Path(npy).stem, frames),
        grid: lambda tmp: save_figure(grid_figure(frames[shown], [f"t = {t[i]:.2f}" for i in shown], heading), tmp),
    })


# ---------------------------------------------------------------- command
def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None,
                        help="run directory or .keras file of the model (default: none; --method pixel with "
                             "--target needs none and ignores it)")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--target", metavar="FILE",
                        help="target image or volume: PNG/TIFF, or a .npy/.npz array of one image (H, W) (a volume "
                             "(D, H, W) with a model of volumes) or a stack of one, read as a PNG is (uint8 / 255; "
                             "floats in [0, 1]) (default: none; give one of --target, --volume-fraction, "
                             "--interpolate)")
    target.add_argument("--volume-fraction", type=float, metavar="VF",
                        help="target fraction of black (phase-0) pixels in (0, 1), at the model's image size "
                             "(default: none)")
    target.add_argument("--interpolate", nargs=2, metavar=("A", "B"),
                        help="instead of designing: decode the latent line between the images in files A and B "
                             "(default: none)")
    parser.add_argument("--dims", type=int, choices=(2, 3), default=None,
                        help="dimensions of the designs: 3 designs N x N x N volumes whose three coordinate planes "
                             "have the 2-D statistics of the --target micrograph (issue 23; --method pixel only "
                             "for now; a volume --target is designed as a volume) (default: the target's)")
    parser.add_argument("--target-xz", metavar="FILE", default=None,
                        help="--dims 3: the micrograph of the xz plane (rows along z, columns along x), with "
                             "--target-yz, for a material that is not isotropic; --target is then the xy plane's "
                             "(default: none, --target for every plane)")
    parser.add_argument("--target-yz", metavar="FILE", default=None,
                        help="--dims 3: the micrograph of the yz plane (rows along z, columns along y), with "
                             "--target-xz (default: none)")
    parser.add_argument("--side", type=int, default=None,
                        help="--dims 3: the volume's side N in voxels; each micrograph is cropped to its centred "
                             "N x N square (default: the micrographs' shortest side)")
    parser.add_argument("--correlation-length", type=float, default=None, metavar="PX",
                        help="with --volume-fraction: also match the mean statistics of random fields with this "
                             "correlation length in px (whatever --pixel-size), a finite number > 0 (default: "
                             "none, the volume fraction alone)")
    parser.add_argument("--out", required=True,
                        help="directory to write the designs (or the interpolation) into: designs.npy, for volumes "
                             "also one multi-page TIFF per design (designs_000.tif, ...: uint8, a page per z-slice), "
                             "designs.png, statistics.png, design.json")
    parser.add_argument("--method", default=DEFAULT_METHOD,
                        help=f"how to search: {', '.join(METHODS[:-1])} or {METHODS[-1]} (see ssvae_tf.design)")
    most = (f"at most {MAX_DESIGN_VALUES:,} values (images x pixels) in all, e.g. {MAX_DESIGN_VALUES // 64**2} of "
            "64x64 px")
    parser.add_argument("--n", type=int, default=DEFAULT_N, help=f"designs, {most}")
    default_steps = ", ".join(f"{method} {steps}" for method, steps in DEFAULT_STEPS.items() if steps)
    parser.add_argument("--steps", type=int, default=None,
                        help="iterations: Adam steps (latent, refine) or L-BFGS-B iterations per design (pixel) "
                             f"(default: the method's, {default_steps})")
    parser.add_argument("--refine-steps", type=int, default=DEFAULT_REFINE_STEPS,
                        help="refine: L-BFGS-B iterations per design")
    parser.add_argument("--refine-from", default=REFINE_STARTS[0],
                        help="refine: start from the latent search (latent) or from the encoded target (encode)")
    parser.add_argument("--prior-weight", type=float, default=DEFAULT_PRIOR_WEIGHT,
                        help="weight of ||z||^2 in the latent search")
    parser.add_argument("--learning-rate", type=float, default=DEFAULT_LEARNING_RATE,
                        help="Adam's step size in the latent search")
    parser.add_argument("--cutoff", type=int, default=None,
                        help="match lags up to this many px per axis only, at most half the target's longest side "
                             "(default: every lag)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the starts")
    add_pixel_size_option(parser)
    parser.add_argument("--frames", type=int, default=DEFAULT_FRAMES,
                        help=f"--interpolate: images on the line, ends included: {MIN_FRAMES} or more, {most}")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _load(model_path: str | None, needed_for: str):
    """The model at ``model_path``; ``ValueError`` naming ``needed_for`` when there is none."""
    from ssvae_tf.run_dir import load_model

    if model_path is None:
        raise ValueError(f"{needed_for} needs --model RUN (a run directory written by `ssvae train`)")
    return load_model(model_path)


def _run_interpolate(args: argparse.Namespace) -> None:
    from ssvae_tf.design import interpolate
    from ssvae_tf.design.targets import check_image_count

    model = _load(args.model, "--interpolate")
    spatial = tuple(model.image_shape[:-1])
    check_image_count(args.frames, "--frames", spatial, low=MIN_FRAMES)
    a, b = (read_target(path, len(spatial)) for path in args.interpolate)
    frames = interpolate(model, a, b, args.frames)
    paths = write_interpolation(args.out, frames)
    print(f"{len(frames)} interpolated {'volumes' if frames.ndim == 5 else 'images'}: "
          + ", ".join(str(p) for p in paths))


def _check_dims(args: argparse.Namespace) -> None:
    """One-line ``ValueError`` for ``--dims``' options given without ``--dims 3``, ``--dims 3`` with another
    target than ``--target`` or another method than pixel, and one of ``--target-xz``/``--target-yz`` alone."""
    extras = [flag for flag, value in (("--target-xz", args.target_xz), ("--target-yz", args.target_yz),
                                       ("--side", args.side)) if value is not None]
    if extras and args.dims != 3:
        raise ValueError(f"{extras[0]} describes a volume from 2-D micrographs; give --dims 3 too")
    if args.dims != 3:
        return
    if args.target is None:
        raise ValueError("--dims 3 designs a volume from a 2-D micrograph; give --target FILE")
    if args.method != "pixel":
        raise ValueError(f"--dims 3 designs with --method pixel only for now, got --method {args.method}: the "
                         "latent methods need a model of volumes trained from slices (not yet)")
    if (args.target_xz is None) != (args.target_yz is None):
        raise ValueError("give both --target-xz and --target-yz (a micrograph per plane), or neither (--target for "
                         "all three planes: an isotropic material)")


def _file_target(args: argparse.Namespace, model):
    """The target of ``--target``: its statistics (an image or volume of the designs' size), or, with
    ``--dims 3`` and a 2-D micrograph, the :class:`~ssvae_tf.design.SliceTargets` of the micrographs."""
    from ssvae_tf import design

    rank = 3 if args.dims == 3 else None if model is None else len(model.image_shape) - 1
    image = read_target(args.target, rank)  # a model of volumes, or --dims 3, reads (D, H, W) as one volume
    if image.ndim == 4 and args.dims == 2:
        raise ValueError(f"target {args.target} is a volume {image.shape[:-1]}; --dims 2 needs a 2-D image")
    if args.dims != 3 or image.ndim == 4:
        if args.target_xz is not None or args.side is not None:
            raise ValueError(f"target {args.target} is a volume {image.shape[:-1]}; --target-xz, --target-yz and "
                             "--side take 2-D micrographs")
        return design.target_from_image(image, what=f"target {args.target}")
    files = [args.target] if args.target_xz is None else [args.target, args.target_xz, args.target_yz]
    return design.target_from_slices([image, *(read_target(path) for path in files[1:])], args.side,
                                     [f"target {path}" for path in files])


def _run_design(args: argparse.Namespace) -> None:
    from ssvae_tf import design
    from ssvae_tf.design.targets import check_image_count

    if args.correlation_length is not None and args.volume_fraction is None:
        raise ValueError("--correlation-length describes a --volume-fraction target; give --volume-fraction too")
    _check_dims(args)
    if args.target is not None:
        method = METHOD_TABLE.get(args.method)  # an unknown one is refused by design() below
        model = None if method and not method.needs_model else _load(args.model, f"--method {args.method}")
        target = _file_target(args, model)
    else:
        model = _load(args.model, "--volume-fraction (the model gives the image size)")
        target = design.target_statistics(args.volume_fraction, args.correlation_length, model.image_shape[:-1],
                                          seed=args.seed)
    check_image_count(args.n, "--n", target.shape)
    stats_options = None if args.cutoff is None else {"cutoff": args.cutoff}
    designs = design.design(model, target, args.method, n=args.n,
                            steps=args.steps, seed=args.seed, stats_options=stats_options,
                            prior_weight=args.prior_weight, learning_rate=args.learning_rate,
                            refine_steps=args.refine_steps, refine_from=args.refine_from, progress=not args.quiet)
    files = [path for path in (args.target, args.target_xz, args.target_yz) if path is not None]
    record = {"model": None if model is None else str(Path(args.model).resolve()),
              "target_file": None if args.target is None else str(Path(args.target).resolve()),
              **({"target_files": [str(Path(path).resolve()) for path in files]} if target.planes else {})}
    write_designs(args.out, target, designs, record, args.pixel_size)
    print(_summary_line(args.method, designs) + f"\ndesigns, figures and design.json in {Path(args.out).resolve()}")


def _summary_line(method: str, designs) -> str:
    """One line: designs, time per design, the median and best error (slices: the slice distance and its
    median per plane)."""
    import numpy as np

    from ssvae_tf.stats.two_point import PLANE_NAMES

    summary = designs.to_json()
    error = "statistics error"
    per_plane = ""
    if designs.plane_errors is not None:
        error, medians = "slice distance", np.median(designs.plane_errors, axis=0)
        per_plane = " (median per plane: " + ", ".join(
            f"{plane} {value:.3g}" for plane, value in zip(PLANE_NAMES, medians)) + ")"
    kind = "volumes" if designs.images.ndim == 5 else "designs"
    return (f"{method}: {summary['n']} {kind} in {designs.seconds:.2f} s ({summary['seconds_per_design']:.3g} s "
            f"each); {error} median {summary['stats_error_median']:.3g}, best {summary['stats_error_min']:.3g}"
            + per_plane)


def _run(args: argparse.Namespace) -> None:
    if args.interpolate is not None:
        _run_interpolate(args)
    else:
        _run_design(args)


COMMANDS = (
    Command("design", "design structures whose two-point statistics match a target image or volume fraction "
                      "(latent search, or the pixel baseline), or interpolate between two images",
            _configure, _run),
)
