"""``ssvae stats`` (the statistics of a data set) and ``ssvae sample`` (decoded prior samples of a run).

::

    ssvae stats DATA --out DIR [--phases K | --threshold T] [--dims 3] [--image-size S] [--n-images N]
                [--patch-size P] [--no-periodic] [--cutoff C] [--pixel-size VALUE UNIT]
    ssvae sample --model RUN --n N [--seed S] --out DIR

``stats`` reads any data ``ssvae train`` accepts (a built-in set or a path, 2-D or 3-D, with the same
data options) and writes into ``DIR``, all files or none (:func:`ssvae_tf._io.write_files`):
``volume_fractions.csv`` (every image's fraction of each phase), ``radial_s2.csv`` (mean, std and 5-95 % band of each phase's radial
``S2(r)``), ``autocorrelation.npy`` (the mean autocorrelation map of each phase, ``(K, *window)``, zero
lag at ``side // 2``), the figures ``autocorrelation.png`` (maps on lag axes; volumes: the planes
through the zero lag), ``radial_s2.png`` and ``volume_fractions.png``, and, last, ``stats.json``; for
two-phase data ``stats.json`` also holds the realism ``descriptors`` of the first :data:`REALISM_IMAGES`
images (:func:`~ssvae_tf.stats.morphology.descriptors`: their mean, std, min and max).  Lengths are in px
(voxels), or with ``--pixel-size 5 nm`` in nm (:class:`~ssvae_tf.stats.units.PixelSize`): the radii of
``radial_s2.csv`` (column ``r_nm``), the lag axes and radii of the figures, the correlation lengths of
``stats.json`` (``correlation_length_nm``, and per axis ``correlation_length_axes_nm``) and its
perimeters (``perimeter_axis0_per_nm``, ...), which then also records the ``pixel_size``.

``sample`` writes ``samples.npy`` (``(N, *spatial, 1)`` in (0, 1)); for volumes also one multi-page TIFF
per sample, ``samples_000.tif``, ... (uint8, a page per z-slice, :mod:`ssvae_tf.volume_tiff`);
``samples.png`` (the first 64; volumes by their three orthogonal mid-slices), ``radial_s2.csv`` and ``radial_s2.png`` (samples against the run's
training data) and, last, ``sample.json`` with the statistics distance and, for two-phase runs, the
``realism`` table (:func:`~ssvae_tf.stats.morphology.realism_table`: samples against the training data on
every descriptor, beside the distance between two halves of the data; the first :data:`REALISM_IMAGES` of
each) and the samples' ``descriptors``.  What is computed:
:mod:`ssvae_tf.stats.summary` and :mod:`ssvae_tf.stats.morphology`; the figures: :mod:`ssvae_tf.figures`; the tables and prior samples: here.

Light at import (standard library, NumPy, ``ssvae_tf.settings`` and ``ssvae_tf.stats.phases`` only); ``run``
imports TensorFlow and Matplotlib.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ssvae_tf._checks import is_int
from ssvae_tf.commands.base import Command, add_pixel_size_option, add_setting_options
from ssvae_tf.latent_prior import PRIOR_CODES_LABELS, PRIORS
from ssvae_tf.settings import BUILTIN_DATA, TrainConfig, recorded_settings, setting_help, setting_names
from ssvae_tf.stats.phases import PHASE_THRESHOLD
from ssvae_tf.stats.units import PixelSize, resolve

#: Files of ``ssvae stats``, in the order they are written (``stats.json`` last: the report is whole).
STATS_FILES = ("volume_fractions.csv", "radial_s2.csv", "autocorrelation.npy", "autocorrelation.png",
               "radial_s2.png", "volume_fractions.png", "stats.json")
#: Files of ``ssvae sample``, in the order they are written.
SAMPLE_FILES = ("samples.npy", "samples.png", "radial_s2.csv", "radial_s2.png", "sample.json")
#: The ``TrainConfig`` fields ``ssvae stats`` takes: its data settings, but for the validation split and the
#: statistics scale (it characterises every image, unscaled), the statistics' boundary and lags, and the seed.
DATA_SETTINGS = (*(name for name in setting_names("data")
                   if name not in ("validation_slab", "validation_split", "stats_scale")),
                 "periodic", "cutoff", "seed")
#: Help texts that say more for ``ssvae stats`` than the training ones.
_STATS_HELP = {
    "data": "the data, instead of DATA: " + setting_help("data") + " (default: none; give DATA or --data)",
    "crops_per_epoch": "random crops characterised with --patch-size (default: enough to cover the pixels once)",
    "periodic": "periodic statistics (images wrap around); --no-periodic for images that do not, then the lags go "
                "up to half the side unless --cutoff",
    "cutoff": "largest lag kept, px per axis (default: every periodic lag, or half the side with --no-periodic)",
    "seed": "seed of the generated images and of the crops",
    "threshold": "binarise grey data: 'otsu' or a grey level in [0, 1], 1 (white) above it (default: none; the "
                 f"statistics round grey values to the nearest phase level, black below {PHASE_THRESHOLD})",
    "patch_size": "characterise random crops of this side (16-256 px or voxels) of images or volumes of any size "
                  "(default: whole images)",
}
#: Most prior samples one call decodes, and most values (samples x voxels) they may hold (2 GiB of float32).
MAX_SAMPLES, MAX_SAMPLE_VALUES = 100_000, 2**29
#: Most images (the first ones) of the data and of the samples whose realism descriptors are computed.
REALISM_IMAGES = 1000


# ---------------------------------------------------------------- options
def add_data_options(parser: argparse.ArgumentParser) -> None:
    """The options of :data:`DATA_SETTINGS`, built from their :class:`TrainConfig` fields as ``ssvae train``'s
    are; options left out are absent from the parsed namespace (the field's default applies)."""
    add_setting_options(parser, DATA_SETTINGS, "data and statistics (the options of `ssvae train`)", _STATS_HELP)


def stats_config_from(args: argparse.Namespace) -> TrainConfig:
    """The :class:`TrainConfig` that reads ``ssvae stats``'s data: its data options, every image (no
    validation split).

    Raises:
        ValueError: (one line) without data, with two different ones, for a path that does not exist or a
            bad data option.
    """
    given = {name: getattr(args, name) for name in DATA_SETTINGS if hasattr(args, name)}
    source = getattr(args, "source", None)
    if source is not None and given.get("data", source) != source:
        raise ValueError(f"two data sets given, DATA {source} and --data {given['data']}; give one")
    data = given.setdefault("data", source)
    if data is None:
        raise ValueError("no data given: `ssvae stats DATA --out DIR`, DATA one of "
                         f"{', '.join(BUILTIN_DATA)} or a path (.npy, .npz or a folder of PNG/TIFF)")
    if data not in BUILTIN_DATA and not Path(data).exists():
        raise ValueError(f"data {data} does not exist; expected one of {', '.join(BUILTIN_DATA)} or an existing "
                         ".npy/.npz file or folder of PNG/TIFF images")
    return TrainConfig(**given, validation_split=0.0)


# ---------------------------------------------------------------- samples
def check_sample_count(n: Any, image_shape: Sequence[int] | None = None) -> int:
    """``n`` as an int if 1 <= n <= :data:`MAX_SAMPLES` and, given their ``image_shape`` ``(*spatial, 1)``,
    the samples hold at most :data:`MAX_SAMPLE_VALUES` values; else a one-line ``ValueError``."""
    most, what = MAX_SAMPLES, ""
    if image_shape is not None:
        most = max(1, min(MAX_SAMPLES, MAX_SAMPLE_VALUES // int(np.prod(image_shape))))
        kind = "px images" if len(image_shape) == 3 else "voxel volumes"
        what = (f" of {'x'.join(str(s) for s in image_shape[:-1])} {kind} (at most "
                f"{MAX_SAMPLE_VALUES * 4 // 2**30} GiB)") if most < MAX_SAMPLES else ""
    if not is_int(n) or not 1 <= n <= most:
        raise ValueError(f"the number of samples must be an integer from 1 to {most}{what}, got {n!r}")
    return int(n)


def sample_prior(model, n: int, seed: int = 0, batch_size: int | None = None, prior: str = "fitted") -> np.ndarray:
    """Decode ``n`` codes of ``model``'s ``prior`` (``SpatialStatsVAE.prior_codes``: the mixture fitted
    to its training codes, or N(0, I)), in batches of ``batch_size`` (default: what fits
    :func:`~ssvae_tf.stats.two_point.batch_size_for`): ``SpatialStatsVAE.sample(n, seed, prior, batch_size)``,
    the images of ``sample(n, seed, prior)`` when they fit one batch (a decoder with noise draws each batch's
    noise in turn).

    Returns:
        float32 ``(n, *decoded_shape)`` in (0, 1): volumes for a model from slices.

    Raises:
        ValueError: (one line) for ``n`` outside :func:`check_sample_count`'s range or a negative seed.
    """
    from ssvae_tf.stats.two_point import batch_size_for

    n = check_sample_count(n, model.decoded_shape)
    if not is_int(seed) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    return model.sample(n, seed, prior, batch_size=batch_size or batch_size_for(model.decoded_shape))


# ------------------------------------------------------------------ files
def radial_table(groups: Mapping[str, Any], pixel_size: PixelSize | None = None) -> str:
    """CSV text of the radial ``S2(r)`` of ``groups`` (label -> :class:`~ssvae_tf.stats.summary.DataStatistics`):
    a row per radius, per group and phase its mean, std and band (``radial_s2.csv``).

    Columns ``r_px`` (``r_voxels``; with ``pixel_size`` ``r_<unit>``, the radii in that unit), then
    ``[GROUP_]phase_H_mean``, ``_std``, ``_p5``, ``_p95`` (the group's label prefixed when there are
    several groups).
    """
    from ssvae_tf.stats.summary import BAND_PERCENTILES

    stats_list = list(groups.values())
    radii = stats_list[0].radii
    unit = stats_list[0].length_unit(pixel_size)
    header, columns = [f"r_{unit.label}"], [unit.length(radii)]
    for label, stats in groups.items():
        if not np.array_equal(stats.radii, radii):
            raise ValueError("the radial curves to tabulate have different radii; expected one lag window")
        prefix = f"{label}_" if len(groups) > 1 else ""
        low, high = stats.radial_band
        for h in range(stats.n_phases):
            name = f"{prefix}phase_{h}"
            header += [f"{name}_mean", f"{name}_std", *(f"{name}_p{p:g}" for p in BAND_PERCENTILES)]
            columns += [stats.radial_mean[h], stats.radial[:, h].std(axis=0), low[h], high[h]]
    rows = [",".join(header)] + [",".join(repr(float(v)) for v in row) for row in zip(*columns)]
    return "\n".join(rows) + "\n"


def volume_fraction_table(stats) -> str:
    """CSV text of the per-image volume fractions of ``stats`` (a :class:`~ssvae_tf.stats.summary.DataStatistics`):
    columns ``image`` (0, 1, ... in the order read) and ``phase_H`` (``volume_fractions.csv``)."""
    header = ",".join(["image", *(f"phase_{h}" for h in range(stats.n_phases))])
    rows = [",".join([str(i), *(repr(float(v)) for v in row)]) for i, row in enumerate(stats.volume_fractions)]
    return "\n".join([header, *rows]) + "\n"


def _describe_shape(spatial: tuple[int, ...]) -> str:
    return "x".join(str(s) for s in spatial) + (" px" if len(spatial) == 2 else " voxels")


def write_statistics(out: str | Path, stats, record: dict[str, Any] | None = None, title: str = "data",
                     pixel_size: PixelSize | None = None) -> list[Path]:
    """Write ``ssvae stats``'s :data:`STATS_FILES` of ``stats`` (a :class:`~ssvae_tf.stats.summary.DataStatistics`)
    into ``out``, all or none (:func:`~ssvae_tf._io.write_files`), ``stats.json`` (its summary and ``record``)
    last, lengths in ``pixel_size``'s unit (default px, or voxels); returns the paths."""
    from ssvae_tf._io import write_files, write_json
    from ssvae_tf.figures import plot_autocorrelation_maps, plot_radial_s2, plot_volume_fractions

    return write_files(out, dict(zip(STATS_FILES, (
        lambda tmp: tmp.write_text(volume_fraction_table(stats)),
        lambda tmp: tmp.write_text(radial_table({title: stats}, pixel_size)),
        lambda tmp: np.save(tmp, stats.mean_maps.astype(np.float32)),
        lambda tmp: plot_autocorrelation_maps(stats, tmp, title, pixel_size),
        lambda tmp: plot_radial_s2({title: stats}, tmp, title, pixel_size),
        lambda tmp: plot_volume_fractions(stats, tmp, title),
        lambda tmp: write_json(tmp, {**(record or {}), **stats.summary(pixel_size)}),
    ))))


def write_samples(out: str | Path, samples, groups: dict[str, Any], record: dict[str, Any]) -> list[Path]:
    """Write ``ssvae sample``'s :data:`SAMPLE_FILES` into ``out`` (volumes: with a multi-page TIFF per sample,
    ``samples_000.tif``, ..., :mod:`ssvae_tf.volume_tiff`), all or none (:func:`~ssvae_tf._io.write_files`),
    ``sample.json`` last.

    Args:
        samples: float32 ``(n, *spatial, 1)``.
        groups: ``{"data": DataStatistics, "samples": DataStatistics}``, drawn and tabulated together.
        record: the content of ``sample.json`` (its ``prior`` names the codes in the figure's title).
    """
    from ssvae_tf._io import write_files, write_json
    from ssvae_tf.commands.design import GRID_MOST, grid_figure
    from ssvae_tf.figures import plot_radial_s2, save_figure
    from ssvae_tf.volume_tiff import volume_tiff_writers

    shown = samples[:GRID_MOST]
    codes = PRIOR_CODES_LABELS[record["prior"]]
    heading = (f"decoded prior samples, {codes}: {len(shown)} of {len(samples)}" if len(samples) > len(shown)
               else f"{len(samples)} decoded prior samples, {codes}")
    npy, *rest = SAMPLE_FILES
    return write_files(out, {npy: lambda tmp: np.save(tmp, samples), **volume_tiff_writers(Path(npy).stem, samples),
                             **dict(zip(rest, (
        lambda tmp: save_figure(grid_figure(shown, [f"sample {i}" for i in range(len(shown))], heading), tmp),
        lambda tmp: tmp.write_text(radial_table(groups)),
        lambda tmp: plot_radial_s2(groups, tmp, "prior samples vs training data"),
        lambda tmp: write_json(tmp, record),
    )))})


def first_images(batches, n: int) -> np.ndarray:
    """The first ``n`` images of an iterable of ``(b, *spatial, 1)`` batches, concatenated."""
    parts, count = [], 0
    for batch in batches:
        parts.append(np.asarray(batch[:n - count], np.float32))
        count += len(parts[-1])
        if count >= n:
            break
    return np.concatenate(parts)


def realism_record(images: np.ndarray, pixel_size: PixelSize | None = None) -> dict[str, Any]:
    """``stats.json``'s ``descriptors`` entry: the realism descriptors of ``images`` ``(n, *spatial, 1)``
    (the black phase at ``PHASE_THRESHOLD``) in plain JSON, with what they are; with ``pixel_size`` the
    perimeters per its unit (:func:`~ssvae_tf.stats.morphology.descriptors_in_units`)."""
    from ssvae_tf.stats.morphology import descriptor_summary, descriptors, descriptors_in_units

    return {"n_images": len(images), **descriptor_summary(descriptors_in_units(descriptors(images), pixel_size))}


def realism_lines(summary: Mapping[str, Any], pixel_size: PixelSize | None = None) -> list[str]:
    """One printed line of the main descriptors of a :func:`realism_record` (made with ``pixel_size``)."""
    def mean(key: str) -> str:
        value = summary.get(key, {}).get("mean")
        return "—" if value is None else f"{value:.3g}"

    axes = sorted(key for key in summary if key.startswith("perimeter_axis"))
    return [f"realism (black at {PHASE_THRESHOLD}, mean of {summary['n_images']} images): volume fraction "
            f"{mean('volume_fraction')}, binary share {mean('binary_share')}, perimeter per axis "
            + " / ".join(mean(key) for key in axes) + f" per {resolve(pixel_size, 2).label}, anisotropy "
            f"{mean('anisotropy')}, components "
            f"{mean('components')}, Euler number {mean('euler_number')}"]


# ------------------------------------------------------------------ stats
def _configure_stats(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", nargs="?", default=None, metavar="DATA",
                        help=f"the data: {' | '.join(BUILTIN_DATA)} | PATH (.npy, .npz or a folder of PNG/TIFF), "
                             "read as `ssvae train` reads it (or give --data)")
    parser.add_argument("--out", required=True,
                        help="directory for the CSV tables, the mean autocorrelation maps, PNG figures and stats.json")
    parser.add_argument("--quiet", action="store_true", help="no progress bar while built-in images are generated")
    add_pixel_size_option(parser)
    add_data_options(parser)


def _run_stats(args: argparse.Namespace) -> None:
    config = stats_config_from(args)
    from ssvae_tf.stats.summary import characterise, data_batches
    from ssvae_tf.training import run_data

    data = run_data(config, progress=not args.quiet)
    stats = characterise(data_batches(data), n_phases=config.n_phases, periodic=config.periodic,
                            cutoff=config.cutoff)
    record = {"data": config.data, "data_description": config.data_description,
              "reading": data.read.to_json(), "image_shape": [int(s) for s in data.image_shape],
              "settings": {name: getattr(config, name) for name in DATA_SETTINGS}}
    if config.n_phases == 2:
        record["descriptors"] = realism_record(first_images(data_batches(data), REALISM_IMAGES), args.pixel_size)
    write_statistics(args.out, stats, record, title=Path(config.data).name if config.data not in BUILTIN_DATA
                     else config.data, pixel_size=args.pixel_size)
    crops = " crops" if config.patch_size is not None else ""
    print(f"{stats.n_images}{crops} of {_describe_shape(stats.spatial_shape)}, {config.data_description}; "
          f"{stats.n_phases} phases")
    print("\n".join(stats.describe(args.pixel_size)))
    if "descriptors" in record:
        print("\n".join(realism_lines(record["descriptors"], args.pixel_size)))
    print(f"tables, figures and stats.json in {Path(args.out).resolve()}")


# ----------------------------------------------------------------- sample
def _configure_sample(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True,
                        help="run directory written by `ssvae train` (its config.json says which data to compare "
                             "with), or the model.keras in one")
    parser.add_argument("--n", type=int, required=True, help="prior samples to decode (1 to 100000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the prior draws")
    parser.add_argument("--prior", choices=PRIORS, default="fitted",
                        help="the codes decoded: fitted, from the Gaussian mixture `ssvae train` fits to the "
                             "training codes (N(0, I) for a run trained before it did), or standard, N(0, I), "
                             "the VAE's prior, which the codes of a sharp model seldom fill (default fitted)")
    parser.add_argument("--out", required=True, help="directory for samples.npy (volumes: also one multi-page "
                                                     "TIFF per sample, samples_000.tif, ...: uint8, a page per "
                                                     "z-slice), samples.png, the radial S2 comparison and "
                                                     "sample.json")
    parser.add_argument("--data", default=None,
                        help="compare with the data at this path instead of the run's own (default: the data "
                             "recorded in the run's config.json, e.g. when they have moved)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar while built-in images are generated")


def _sample_run(model: str):
    """The :class:`~ssvae_tf.run_dir.RunDir` of ``--model`` (a run directory or its model.keras), checked."""
    from ssvae_tf.run_dir import RunDir

    path = Path(model)
    if not path.exists():
        raise ValueError(f"--model {model} does not exist; expected a run directory written by "
                         "`ssvae train --out DIR`")
    run = RunDir(path if path.is_dir() else path.parent)
    if not run.model_file.is_file():
        raise ValueError(f"{run.path} is not a finished run directory: it holds no {run.MODEL} "
                         "(train one with `ssvae train --out DIR`)")
    return run


def _run_sample(args: argparse.Namespace) -> None:
    check_sample_count(args.n)  # 1 <= n <= MAX_SAMPLES, before any file is read
    if args.seed < 0:
        raise ValueError(f"--seed must be an integer >= 0, got {args.seed}")
    run = _sample_run(args.model)
    record = run.record()
    if isinstance(record.get("image_shape"), list):
        check_sample_count(args.n, tuple(record["image_shape"]))
    settings = dict(recorded_settings(record, run.config_file))
    if args.data is not None:
        if not Path(args.data).exists():
            raise ValueError(f"--data {args.data} does not exist; expected the run's data (.npy, .npz or a folder "
                             "of PNG/TIFF images)")
        settings["data"] = args.data
    elif settings.get("data") not in BUILTIN_DATA and not Path(str(settings.get("data"))).exists():
        raise ValueError(f"the run's data {settings.get('data')} (in {run.config_file}) no longer exists; pass "
                         "--data PATH where they are now")
    config = TrainConfig.from_mapping(settings, origin=str(run.config_file))

    from ssvae_tf.run_dir import load_model
    from ssvae_tf.stats.phases import phase_name
    from ssvae_tf.stats.summary import (characterise, data_batches, mean_statistics, statistics_distance,
                                        volume_slices)
    from ssvae_tf.training import run_data

    model = load_model(run.model_file)
    data = run_data(config, progress=not args.quiet)
    if tuple(data.image_shape) != tuple(model.image_shape):
        raise ValueError(f"the data are {_describe_shape(tuple(data.image_shape[:-1]))} but the model makes "
                         f"{_describe_shape(tuple(model.image_shape[:-1]))}; expected the run's data")
    samples = sample_prior(model, args.n, seed=args.seed, prior=args.prior)
    # a model from slices is compared with its micrographs through its volumes' slices: all three planes'
    # for one micrograph stack, the x-y planes' (the --data stack's) when each plane has its own
    compared = (volume_slices(samples, (0,) if config.plane_data else (0, 1, 2)) if model.from_slices
                else samples)
    options = dict(n_phases=config.n_phases, periodic=config.periodic, cutoff=config.cutoff)
    data_stats = characterise(data_batches(data), **options)
    sample_stats = characterise(compared, **options)
    distance = statistics_distance(sample_stats, data_stats)
    loss_mean = mean_statistics(data_batches(data), model.stats_options)
    prior_distance = float(((mean_statistics(compared, model.stats_options) - loss_mean) ** 2).mean())
    record = {
        "model": str(run.path.resolve()), "n": args.n, "seed": args.seed,
        "prior": args.prior if model.latent_prior is not None else "standard",
        "image_shape": [int(s) for s in model.decoded_shape], "data": config.data,
        "data_description": config.data_description, "n_data_images": data_stats.n_images,
        "distance": distance,
        "prior_stats_distance": prior_distance,
        "prior_stats_distance_note": "mean squared difference per lag of the mean statistics the run's loss "
                                     "compares (its indicator and correlations), as val_prior_stats_distance",
        "samples": sample_stats.summary(), "training_data": data_stats.summary(),
    }
    realism = None
    if config.n_phases == 2:
        from ssvae_tf.stats.morphology import format_realism_table, realism_table

        shown = compared[::max(1, len(compared) // REALISM_IMAGES)][:REALISM_IMAGES]
        real = first_images(data_batches(data), REALISM_IMAGES)
        record["descriptors"] = realism_record(samples[:REALISM_IMAGES])
        if len(real) >= 2:
            realism = realism_table(real, shown)
            record["realism"] = {"n_data_images": len(real), "n_samples": len(shown), "rows": {key: {column: value if np.isfinite(value) else None for column, value in row.items()}
                                          for key, row in realism.items()},
                                 "note": "model_vs_real: Wasserstein-1 distance between the samples' and the data's "
                                         "per-image descriptors (chord rows: between pooled chord-length "
                                         "histograms, px); real_vs_real: the same between the even- and "
                                         "odd-numbered halves of the data, the yardstick"}
    write_samples(args.out, samples, {"data": data_stats, "samples": sample_stats}, record)
    kind = "images" if samples.ndim == 4 else "volumes"
    print(f"{args.n} prior samples ({kind} of {_describe_shape(tuple(model.decoded_shape[:-1]))}) of {run.path}, "
          f"seed {args.seed}" + ("; compared with the training micrographs through their slices" if model.from_slices
                                 else ""))
    relative = distance["stats_relative"]
    print(f"statistics distance to the {data_stats.n_images} training {kind}: mean squared difference of the mean "
          f"autocorrelations {distance['stats_mse']:.3g} per lag"
          + ("" if relative is None else f" ({relative:.1%} of the data's)")
          + f"; in the run's loss statistics {prior_distance:.3g}")
    for h, difference in enumerate(distance["volume_fraction_difference"]):
        print(f"{phase_name(h, config.n_phases)}: volume fraction {sample_stats.fraction_mean[h]:.4f} (samples) "
              f"vs {data_stats.fraction_mean[h]:.4f} (data), difference {difference:+.4f}")
    if "descriptors" in record:
        print("\n".join(realism_lines(record["descriptors"])))
    if realism is not None:
        print(f"realism of the samples against the training data (real vs real: two halves of the data):\n"
              f"{format_realism_table(realism)}")
    print(f"samples, figures and sample.json in {Path(args.out).resolve()}")


COMMANDS = (
    Command("stats", "the statistics of a data set: volume fractions, mean autocorrelation maps, radial S2(r) with "
                     "its spread; CSV, PNG figures and stats.json", _configure_stats, _run_stats),
    Command("sample", "decode prior samples of a trained run and compare their statistics with its training data",
            _configure_sample, _run_sample),
)
