"""``ssvae design``: structures whose two-point statistics match a target, and latent interpolation strips.

::

    ssvae design --model RUN --target FILE [--method latent] [--n 16] [--steps N] [--seed S] --out DIR
    ssvae design --model RUN --volume-fraction 0.4 [--correlation-length 3] --out DIR
    ssvae design --method pixel --target FILE --out DIR        (the pixel baseline needs no model)
    ssvae design --model RUN --interpolate A B [--frames 8] --out DIR

A design run writes into ``DIR``, all files or none (:func:`ssvae_tf._io.write_files`):
``designs.npy`` (``(n, *spatial, 1)`` in [0, 1]), ``designs.png`` (the first
:data:`GRID_MOST` designs, each statistics error in its title; volumes by their
middle slice), ``statistics.png`` (the target, the best designs, their
autocorrelation maps and radial ``S2(r)``) and, last, ``design.json`` (errors,
time, method, settings, target).  An interpolation writes ``interpolation.npy``
and ``interpolation.png`` (at most :data:`GRID_MOST` frames, evenly spaced).
``--n`` and ``--frames`` are bounded by the memory a search holds
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

from ssvae_tf.commands.base import Command
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

#: Files of a design run, in the order they are written (``design.json`` last: the run is whole).
DESIGN_FILES = ("designs.npy", "designs.png", "statistics.png", "design.json")
#: Files of an interpolation.
INTERPOLATION_FILES = ("interpolation.npy", "interpolation.png")
#: Designs shown, best first, in ``statistics.png``.
SHOWN_DESIGNS = 4
#: Images per row of a PNG grid.
GRID_COLUMNS = 8
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
    """A figure of ``images`` ``(n, *spatial, 1)`` (volumes: middle slice), :data:`GRID_COLUMNS` a row."""
    from matplotlib.figure import Figure

    from ssvae_tf.figures import show_image

    columns = min(len(images), GRID_COLUMNS)
    rows = math.ceil(len(images) / columns)
    fig = Figure(figsize=(1.7 * columns + 0.4, 1.8 * rows + 0.7), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax in axes.ravel()[len(images):]:
        ax.axis("off")
    for ax, image, title in zip(axes.ravel(), images, titles):
        show_image(ax, image)
        ax.set_title(title, fontsize=8)
    slices = f" (middle slice z = {images.shape[1] // 2} of each volume)" if images.ndim == 5 else ""
    fig.suptitle(heading + slices, fontsize=10)
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


def _draw_map(ax, stats_map, low: float, high: float, unit: str):
    """A centred map ``(*spatial)`` (volumes: the plane lag z = 0) on lag axes, colours from ``low`` to ``high``."""
    from ssvae_tf.figures import lag_extent, middle_slice

    plane = middle_slice(stats_map)
    (x_low, x_high), (y_low, y_high) = lag_extent(plane.shape[1]), lag_extent(plane.shape[0])
    ax.set_xlabel(f"lag x [{unit}]")
    return ax.imshow(plane, cmap="viridis", vmin=low, vmax=high, extent=(x_low, x_high, y_high, y_low))


def _draw_profiles(ax, maps: list, labels: list[str], unit: str) -> None:
    """Radial means ``S2(|r|)`` of centred ``maps`` (the first: the target, NaN at lags it leaves free),
    up to half the shortest side."""
    import numpy as np

    from ssvae_tf.stats.two_point import radial_average

    radii, profiles = radial_average(np.stack(maps))
    keep = radii <= min(maps[0].shape) // 2
    ax.plot(radii[keep], profiles[0, keep], "ko-", lw=2, label=labels[0])
    for profile, label in zip(profiles[1:], labels[1:]):
        ax.plot(radii[keep], profile[keep], "-", label=label)
    ax.set_xlabel(f"|r| [{unit}]")
    ax.set_ylabel(r"radial mean $S_2(|r|)$")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def _statistics_figure(target, designs):
    """Target and the best :data:`SHOWN_DESIGNS` designs: images (volumes: middle slice), centred
    autocorrelation maps of the black phase (target hard, designs soft: what the error compares) and
    the radial means ``S2(|r|)`` of all of them."""
    import numpy as np
    from matplotlib.figure import Figure

    from ssvae_tf.evaluation.metrics import line_statistics
    from ssvae_tf.figures import S2_LABEL, show_image

    unit = "px" if len(target.shape) == 2 else "voxels"
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
    map_axes[0].set_ylabel(f"lag y [{unit}]")
    fig.colorbar(shown, ax=map_axes, shrink=0.8, label=S2_LABEL)
    _draw_profiles(fig.add_subplot(grid[2, :]), maps, ["target (hard)", *(f"{name} (soft)" for name in names[1:])],
                   unit)
    planes = (f"\nvolumes: middle slice z = {target.shape[0] // 2}; maps: the plane lag z = 0; radial means: "
              "every 3-D lag") if len(target.shape) == 3 else ""
    fig.suptitle(f"{designs.method}: {len(designs.images)} designs for {target.description}\n"
                 f"black-phase autocorrelation {S2_LABEL}, zero lag centred{planes}", fontsize=10)
    return fig


def write_designs(out: str | Path, target, designs, record: dict[str, Any] | None = None) -> list[Path]:
    """Write a design run's :data:`DESIGN_FILES` into ``out``: all or none, ``design.json`` last
    (:func:`~ssvae_tf._io.write_files`).

    Args:
        target, designs: a :class:`~ssvae_tf.design.TargetStatistics` and the
            :class:`~ssvae_tf.design.Designs` found for it.
        record: more entries for ``design.json`` (e.g. the model and the target's file).

    Returns:
        The paths written.

    Raises:
        OSError: when writing fails (one line naming the file when the disk is full); ``out`` is left as it was.
    """
    import numpy as np

    from ssvae_tf._io import write_files, write_json
    from ssvae_tf.figures import save_figure

    n = len(designs.images)
    titles = [f"{i}: {error:.2e}" for i, error in enumerate(designs.stats_error[:GRID_MOST])]
    heading = f"{designs.method}: designs and their statistics errors" + (
        f" (the first {GRID_MOST} of {n})" if n > GRID_MOST else "")
    target_record = {"description": target.description, "shape": list(target.shape),
                     "volume_fraction": target.volume_fraction}
    return write_files(out, dict(zip(DESIGN_FILES, (
        lambda tmp: np.save(tmp, designs.images),
        lambda tmp: save_figure(grid_figure(designs.images[:GRID_MOST], titles, heading), tmp),
        lambda tmp: save_figure(_statistics_figure(target, designs), tmp),
        lambda tmp: write_json(tmp, {**designs.to_json(), "target": target_record, **(record or {})}),
    ))))


def write_interpolation(out: str | Path, frames) -> list[Path]:
    """Write :data:`INTERPOLATION_FILES` of ``frames`` ``(k, *spatial, 1)`` into ``out``, both or neither;
    the figure draws at most :data:`GRID_MOST` of them, evenly spaced, both ends included."""
    import numpy as np

    from ssvae_tf._io import write_files
    from ssvae_tf.figures import save_figure

    t = np.linspace(0.0, 1.0, len(frames))
    shown = np.unique(np.linspace(0, len(frames) - 1, min(len(frames), GRID_MOST)).round().astype(int))
    heading = "decoded latent interpolation from the first image to the second" + (
        "" if len(shown) == len(frames) else f" ({len(shown)} of {len(frames)} frames, evenly spaced)")
    return write_files(out, dict(zip(INTERPOLATION_FILES, (
        lambda tmp: np.save(tmp, frames),
        lambda tmp: save_figure(grid_figure(frames[shown], [f"t = {t[i]:.2f}" for i in shown], heading), tmp),
    ))))


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
    parser.add_argument("--correlation-length", type=float, default=None, metavar="PX",
                        help="with --volume-fraction: also match the mean statistics of random fields with this "
                             "correlation length in px, a finite number > 0 (default: none, the volume fraction "
                             "alone)")
    parser.add_argument("--out", required=True, help="directory to write the designs (or the interpolation) into")
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


def _run_design(args: argparse.Namespace) -> None:
    from ssvae_tf import design
    from ssvae_tf.design.targets import check_image_count

    if args.correlation_length is not None and args.volume_fraction is None:
        raise ValueError("--correlation-length describes a --volume-fraction target; give --volume-fraction too")
    if args.target is not None:
        method = METHOD_TABLE.get(args.method)  # an unknown one is refused by design() below
        model = None if method and not method.needs_model else _load(args.model, f"--method {args.method}")
        rank = None if model is None else len(model.image_shape) - 1  # a model of volumes reads (D, H, W) as one
        target = design.target_from_image(read_target(args.target, rank), what=f"target {args.target}")
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
    record = {"model": None if model is None else str(Path(args.model).resolve()),
              "target_file": None if args.target is None else str(Path(args.target).resolve())}
    write_designs(args.out, target, designs, record)
    summary = designs.to_json()
    print(f"{args.method}: {summary['n']} designs in {designs.seconds:.2f} s ({summary['seconds_per_design']:.3g} s "
          f"each); statistics error median {summary['stats_error_median']:.3g}, best "
          f"{summary['stats_error_min']:.3g}\ndesigns, figures and design.json in {Path(args.out).resolve()}")


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
