"""``compare_runs``: evaluate trained runs and write ``report.md``, ``metrics.csv`` and the figures."""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ssvae_tf._io import atomic_write
from ssvae_tf._checks import check_positive_int
from ssvae_tf.evaluation import figures
from ssvae_tf.evaluation.evaluate import Evaluation, evaluate_model
from ssvae_tf.evaluation.real_volumes import (
    YARDSTICK_PAIRS,
    RealComparison,
    compare_with_volumes,
    real_volumes_table,
    volume_shape,
)
from ssvae_tf.evaluation.runs import EvaluationData, Run, evaluation_data, load_run
from ssvae_tf.evaluation.slices import NOT_COMPUTED, evaluate_slices_model
from ssvae_tf.evaluation.summary import (
    BINARISED_NOTE,
    N_RESAMPLES,
    binarised_table,
    comparison_table,
    confusion_table,
    format_interval,
    stats_ratio,
    stats_ratio_interval,
    summarise,
)
from ssvae_tf.data.sources import ReadOptions
from ssvae_tf.inference import DEFAULT_REFINE_LEARNING_RATE
from ssvae_tf.paper import PAPER_N_EVALUATED, PAPER_SIZE, paper_ratio_note
from ssvae_tf.stats.phases import PAPER_BLACK_LEVEL
from ssvae_tf.stats.units import PixelSize, is_physical

DEFAULT_N_IMAGES = PAPER_N_EVALUATED


@dataclass(frozen=True)
class Comparison:
    """What ``compare_runs`` found.

    Attributes:
        table: the markdown comparison table (with the paper's numbers for line data).
        summaries: model label -> :func:`~ssvae_tf.evaluation.summary.summarise` output.
        ratio: SS-VAE / baseline mean statistics error, or None with one run.
        seconds: wall time of the evaluation.
        ratio_ci: 95 % bootstrap CI ``(low, high)`` of ``ratio`` (the same images resampled for
            both models, :func:`~ssvae_tf.evaluation.summary.stats_ratio_interval`), or None with one run.
        binarised: the markdown table of the reconstructions binarised at 0.5 beside the real-vs-real
            yardstick (:func:`~ssvae_tf.evaluation.summary.binarised_table`; not the paper's protocol).
        real_volumes: with ``volumes``, the model's prior samples against real crops
            (:meth:`~ssvae_tf.evaluation.real_volumes.RealComparison.record`), else None.
    """

    table: str
    summaries: dict[str, dict[str, float]]
    ratio: float | None
    seconds: float
    ratio_ci: tuple[float, float] | None = None
    binarised: str = ""
    real_volumes: dict | None = None


def _check_same_data(runs: list[Run]) -> None:
    keys = ("data", "image_size", "n_images", "seed", "validation_split", "dims", "phases", "threshold", "median",
            "patch_size", "crops_per_epoch", "validation_slab", "from_slices", "slices_xz", "slices_yz")
    first = {key: getattr(runs[0].config, key) for key in keys}
    for run in runs[1:]:
        other = {key: getattr(run.config, key) for key in keys}
        if other != first:
            raise ValueError(f"{run.path} was trained on other data ({other}) than {runs[0].path} ({first}); "
                             "expected both runs on the same data")


def _metrics_csv(evaluations: list[Evaluation], index: np.ndarray) -> str:
    names = list(evaluations[0].metrics)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["model", "data_index", *names])
    for evaluation in evaluations:
        for i, data_index in enumerate(index):
            row = [evaluation.metrics[name][i] for name in names]
            writer.writerow([evaluation.label, int(data_index),
                             *(f"{v:.6g}" if isinstance(v, (float, np.floating)) else int(v) for v in row)])
    return out.getvalue()


def _plot_metric_figures(evaluations: list[Evaluation], out_dir: Path) -> None:
    """The figures drawn from the per-image metrics alone."""
    figures.plot_error_histograms(evaluations, out_dir / "error_histograms.png")
    if all(e.has_lines for e in evaluations):
        figures.plot_volume_fraction_histogram(evaluations, out_dir / "volume_fraction.png")
        figures.plot_line_counts(evaluations, out_dir / "line_counts.png")


def _number(text: str) -> int | float:
    """A ``metrics.csv`` cell: counts and labels are written as integers, errors as floats."""
    return int(text) if text.lstrip("-").isdigit() else float(text)


def read_metrics_csv(path: str | Path) -> list[Evaluation]:
    """The per-image metrics of a report's ``metrics.csv``, one :class:`Evaluation` per model (in file
    order) holding its metrics only (no images)."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    no_images = np.zeros((0,), np.float32)
    evaluations = []
    for label in dict.fromkeys(row["model"] for row in rows):
        mine = [row for row in rows if row["model"] == label]
        metrics = {name: np.array([_number(row[name]) for row in mine])
                   for name in mine[0] if name not in ("model", "data_index")}
        evaluations.append(Evaluation(label, no_images, no_images, metrics, no_images, no_images))
    return evaluations


def redraw_metric_figures(report_dir: str | Path) -> None:
    """Draw a report's metric figures (error histograms, volume fraction, line counts) again from its
    ``metrics.csv``, e.g. after a change to the plotting, without the models."""
    report_dir = Path(report_dir)
    _plot_metric_figures(read_metrics_csv(report_dir / "metrics.csv"), report_dir)


def _items(image_shape: tuple[int, ...]) -> tuple[str, str]:
    """What a model of ``image_shape`` ``(H, W, C)`` or ``(D, H, W, C)`` sees, in words: ``("images",
    "64x64 px")`` or ``("volumes", "16x16x16 voxels")``."""
    spatial = tuple(image_shape)[:-1]
    unit = "voxels" if len(spatial) == 3 else "px"
    return ("volumes" if len(spatial) == 3 else "images"), "x".join(str(side) for side in spatial) + f" {unit}"


def _slices_note(side: int, plane_crops: bool) -> str:
    """What the evaluation of a model from slices of ``side`` px crops compared, in words."""
    targets = ("a held-out crop of that plane's micrographs (--slices-xz/--slices-yz; the x-y plane: the input "
               "crop)" if plane_crops else "the input crop (one micrograph for every plane: an isotropic material)")
    return (f"Model from slices: each held-out {side}x{side} px crop is reconstructed as a {side}^3 voxel volume, "
            "compared with the crops plane by plane. Slice stats MSE: the hard autocorrelation of the black phase "
            "of each plane's target crop, " + targets + ", vs the soft one (eps 0.25) of the volume at the lags of "
            "that coordinate plane (x-y: normal to z; x-z; y-z), mean over the lags, then over the three planes; "
            "unnormalised. Volume-fraction difference: |black share of the volume - of the crop| / black share of "
            f"the crop (black = value < {PAPER_BLACK_LEVEL}). Binarised below: the volume's volume fraction against "
            "the crop's, its specific surface along each axis against the perimeter along that axis of the crops "
            "of the two planes that hold it (\"original\" in the rows). " + NOT_COMPUTED + "\n")


def _real_volumes_md(comparison: RealComparison, volumes: str | Path, seed: int) -> str:
    """The report section of a model's prior samples against crops of the real volumes in ``volumes``."""
    shape = "x".join(str(side) for side in comparison.samples.shape[1:4])
    return (f"\n## Samples against real volumes\n\n{comparison.record()['n']} volumes drawn from the model's "
            f"prior against as many random {shape} crops of `{volumes}` (read as the run read its data: its "
            f"recorded threshold and median; crops seeded with {seed}), beside a second, disjoint set of real "
            "crops of the same size (real vs real). 3-D statistics error: mean squared difference per lag of "
            "the sets' mean hard autocorrelations of the black phase, every 3-D lag (including those in no "
            f"coordinate plane, which no slice shows); the samples' against each of {YARDSTICK_PAIRS} real sets and "
            f"real vs real over {YARDSTICK_PAIRS} disjoint pairs of real sets, averaged (one pair's error is a noisy "
            "draw). The realism rows (`ssvae_tf.stats.morphology.realism_table`): "
            "means over each set and Wasserstein-1 distances between the sets' per-volume values (chord rows: "
            f"pooled chord-length histograms, px). Sampling took {comparison.seconds_per_volume:.3g} s per volume."
            f"\n\n{real_volumes_table(comparison)}\n\nFigure: `real_volumes.png` (orthogonal mid-slices of real "
            "crops and samples); numbers: `real_volumes.json`.\n")


def _report_md(runs: list[Run], evaluations: list[Evaluation], summaries: dict, table: str, data: EvaluationData,
               seconds: float, ratio_ci: tuple[float, float] | None, refine_steps: int,
               pixel_size: PixelSize | None = None) -> str:
    config = runs[0].config
    n_evaluated = len(evaluations[0].originals)
    size = runs[0].model.image_shape
    from_slices = runs[0].model.from_slices
    items, item_size = _items(size)
    count = runs[0].record.get("n_images", config.n_images)  # the setting only sizes generated data
    neighbours = "" if from_slices else f", nearest neighbours among the {len(data.train)} training {items}"
    parts = [
        "# Evaluation report\n",
        "Runs: " + ", ".join(f"`{run.path}` ({run.label})" for run in runs) + ".\n",
        f"Data: `{config.data}`, {count} {items} of {item_size}, seed {config.seed}; "
        f"the first {n_evaluated} validation {items}{neighbours}. Evaluation took {seconds:.0f} s.\n",
        *([f"Lengths: {pixel_size.describe()}; the figures' lags and radii and the chord lengths below are in "
           f"{pixel_size.label} (metrics.csv keeps px).\n"] if is_physical(pixel_size) else []),
        ("Reconstructions decode each image's posterior mean z_mean (the paper's protocol).\n" if not refine_steps
         else f"Reconstructions decode each image's code after {refine_steps} Adam steps (rate "
              f"{DEFAULT_REFINE_LEARNING_RATE}) on its model's own loss from z_mean (semi-amortised inference, "
              "`ssvae_tf.inference`): not the paper's protocol, which decodes z_mean.\n"),
        table + "\n",
        f"Brackets: 95 % bootstrap CI over the {n_evaluated} evaluated {items}, {N_RESAMPLES} resamples "
        "(percentile bootstrap of the mean or percentage).\n",
    ]
    ratio = stats_ratio(summaries)
    if ratio is not None:
        note = paper_ratio_note(config.data)
        interval = format_interval(ratio_ci, "{:.2f}") if ratio_ci is not None else ""
        parts.append(f"\nSS-VAE / baseline statistics error (mean): **{ratio:.2f}x**{interval}"
                     + (f" ({note})" if note else "") + f"; 95 % bootstrap CI over the {n_evaluated} evaluated "
                     f"{items}, {N_RESAMPLES} resamples, the same {items} resampled for both models.\n")
    if runs[0].has_lines and size[0] != PAPER_SIZE:
        parts.append("The paper's images are 224 px, these are "
                     f"{size[0]} px: absolute MSEs are not comparable across sizes (the statistics of "
                     "smaller images spread over fewer lags); compare ratios and accuracies.\n")
    if from_slices:
        parts.append(_slices_note(size[0], data.targets is not None))
    else:
        parts.append(
            "Statistics MSE: hard autocorrelation of the original's black phase vs the soft one (eps 0.25) of the "
            f"reconstruction, mean over all lags, unnormalised. Black = value < {PAPER_BLACK_LEVEL}."
            + (" Line count and orientation are measured automatically (connected components, fragments along one "
               "line merged; orientation from within-component second moments) and compared with the same "
               "measurement on the original." if runs[0].has_lines else "") + "\n")
    for evaluation in evaluations:
        if evaluation.has_lines:
            summary = summaries[evaluation.label]
            interval = format_interval((summary["nn_stats_line_count_pct_ci_low"],
                                        summary["nn_stats_line_count_pct_ci_high"]), "{:.0f}")
            parts.append(f"\n## Line counts, {evaluation.label}\n\n{confusion_table(evaluation)}\n\n"
                         f"Nearest training image in statistics has the original's line count: "
                         f"{summary['nn_stats_line_count_pct']:.0f} %{interval}.\n")
    binarised = binarised_table(summaries, pixel_size)
    if binarised:
        parts.append(f"\n## Binarised reconstructions (threshold 0.5), beside the paper's protocol\n\n{binarised}\n\n"
                     f"{BINARISED_NOTE} Brackets: 95 % bootstrap CI over the {n_evaluated} evaluated {items}.\n")
    parts.append("\n## Figures\n")
    for label in (e.label for e in evaluations):
        parts.append(f"- `pairs_{label}.png`" + ("" if from_slices else f", `nearest_{label}.png`"))
    shared = ["volume_fraction.png", "line_counts.png"] if all(e.has_lines for e in evaluations) else []
    parts.append("- " + ", ".join(f"`{name}`" for name in [*shared, "error_histograms.png"]) + "\n")
    if from_slices:
        parts.append("Models from slices: `pairs_*` show each crop beside three orthogonal mid-slices (z, y, x) of "
                     "its volume, the planes of the volume's autocorrelation through the zero lag and the radial "
                     "averages.\n")
    elif items == "volumes":
        parts.append("Volumes: `pairs_*` show three orthogonal mid-slices (z, y, x) of each volume, the planes "
                     "of its autocorrelation through the zero lag and the radial averages over every 3-D lag; "
                     "`nearest_*` show the middle z-slice.\n")
    return "\n".join(parts)


def _evaluate_run(run: Run, data: EvaluationData, progress: bool, refine_steps: int) -> Evaluation:
    """One run on the held-out data: the paper's metrics, or a model from slices' against its crops."""
    if run.model.from_slices:
        return evaluate_slices_model(run.model, data.validation, run.label, data.targets, progress, refine_steps)
    return evaluate_model(run.model, data.train, data.validation, run.label, run.has_lines, progress, refine_steps)


def _compare_with_volumes(run: Run, volumes: str | Path, n_images: int, seed: int, out_dir: Path,
                          progress: bool) -> RealComparison:
    """``run``'s prior samples against crops of the real ``volumes``, read as the run read its data
    (:func:`~ssvae_tf.evaluation.real_volumes.compare_with_volumes`): writes ``real_volumes.json`` and
    ``real_volumes.png``."""
    if progress:
        print(f"[{run.label}] {n_images} prior samples against as many crops of {volumes}")
    comparison = compare_with_volumes(run.model, volumes, ReadOptions.from_json(run.record.get("reading")),
                                      n_images, seed)
    record = json.dumps({"volumes": str(volumes), "seed": seed, **comparison.record()}, indent=1)
    atomic_write(out_dir / "real_volumes.json", lambda tmp: tmp.write_text(record))
    figures.plot_volume_rows({"real crops": comparison.real, f"{run.label} samples": comparison.samples},
                             out_dir / "real_volumes.png",
                             "real crops and volumes drawn from the model's prior (orthogonal mid-slices z, y, x)")
    return comparison


def compare_runs(model_dir: str | Path, baseline_dir: str | Path | None, out_dir: str | Path,
                 n_images: int = DEFAULT_N_IMAGES, progress: bool = True, refine_steps: int = 0,
                 pixel_size: PixelSize | None = None, volumes: str | Path | None = None,
                 volumes_seed: int = 0) -> Comparison:
    """Evaluate a run (and a baseline run) and write the report directory.

    Writes ``out_dir/report.md``, ``out_dir/metrics.csv`` (one row per model
    and image) and PNGs: ``pairs_<label>.png`` and ``nearest_<label>.png`` per
    model, ``error_histograms.png`` and, for line data, ``volume_fraction.png``
    and ``line_counts.png``.  Runs on volumes ``(D, H, W)`` get the same files: their ``pairs_<label>.png``
    show three orthogonal mid-slices, the autocorrelation's planes through the zero lag and the radial
    averages (:func:`~ssvae_tf.figures.plot_reconstructions`), their ``nearest_<label>.png`` the middle
    z-slice; line metrics and line figures are for (2-D) line data only.  A model from slices is measured
    against its held-out crops (:func:`~ssvae_tf.evaluation.slices.slice_metrics`; no ``nearest_*``), its
    ``pairs_<label>.png`` drawing each crop beside its volume.  With ``volumes``, the model's prior
    samples are compared with crops of real volumes: ``real_volumes.json``, ``real_volumes.png`` and a
    section of ``report.md``.

    Args:
        model_dir: run directory of the model (``model.keras`` + ``config.json``).
        baseline_dir: optional second run on the same data (usually ``--baseline``).
        out_dir: the report directory (created).
        n_images: validation images evaluated (the first ones; the paper: 1000).
        progress: print progress and show progress bars.
        refine_steps: 0: decode each image's ``z_mean`` (the paper's protocol);
            else refine each code first by this many steps of its model's own
            loss (semi-amortised inference, :mod:`ssvae_tf.inference`).
        pixel_size: the unit of the figures' lags and radii and of the report's chord lengths
            (default: px, or voxels); ``metrics.csv`` keeps px.
        volumes: a ``.npy`` file of real volumes (:func:`~ssvae_tf.evaluation.real_volumes.read_volumes`)
            to compare ``n_images`` prior samples of the model with (a model from slices or a 3-D model).
        volumes_seed: seed of the real crops and the samples.

    Returns:
        The :class:`Comparison` (its table is also in ``report.md``).

    Raises:
        ValueError: (one line) on a missing or unreadable run, runs on different
            data, data that do not fit the model, or ``volumes`` with a model of 2-D images.
    """
    check_positive_int(n_images, "n_images")
    if refine_steps != 0:
        check_positive_int(refine_steps, "refine_steps")
    started = time.perf_counter()
    runs = [load_run(model_dir)] + ([load_run(baseline_dir)] if baseline_dir is not None else [])
    model_run = runs[0]
    if volumes is not None:
        volume_shape(model_run.model)  # refuse 2-D models before the long part
    _check_same_data(runs)
    if len(runs) == 2 and runs[0].label == runs[1].label:
        runs[1] = Run(runs[1].path, f"{runs[1].label}-2", runs[1].config, runs[1].model, runs[1].record)
    runs.sort(key=lambda run: run.label != "baseline")  # baseline first, as in the paper's table
    data = evaluation_data(runs[0], n_images, progress=progress)
    evaluations = [_evaluate_run(run, data, progress, refine_steps) for run in runs]
    summaries = {e.label: summarise(e) for e in evaluations}

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if progress:
        print(f"writing figures and report to {out_dir}")
    for run, evaluation in zip(runs, evaluations):
        figures.plot_pairs(evaluation, run.model.stats_options, out_dir / f"pairs_{run.label}.png",
                           pixel_size=pixel_size)
        if not run.model.from_slices:
            figures.plot_nearest(evaluation, out_dir / f"nearest_{run.label}.png")
    _plot_metric_figures(evaluations, out_dir)
    csv_text = _metrics_csv(evaluations, data.validation_index)
    atomic_write(out_dir / "metrics.csv", lambda tmp: tmp.write_text(csv_text))
    real = (None if volumes is None else
            _compare_with_volumes(model_run, volumes, n_images, volumes_seed, out_dir, progress))
    seconds = time.perf_counter() - started
    table = comparison_table(summaries, runs[0].config.data)
    ratio_ci = stats_ratio_interval({e.label: e for e in evaluations})
    report = _report_md(runs, evaluations, summaries, table, data, seconds, ratio_ci, refine_steps, pixel_size)
    if real is not None:
        report += _real_volumes_md(real, volumes, volumes_seed)
    atomic_write(out_dir / "report.md", lambda tmp: tmp.write_text(report))
    return Comparison(table, summaries, stats_ratio(summaries), seconds, ratio_ci,
                      binarised_table(summaries, pixel_size), None if real is None else real.record())
