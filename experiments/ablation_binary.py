"""An ablation of the binary-output options (issue 22): named variants of ``ssvae train``, one data set, one budget.

Each variant in :data:`VARIANTS` is a list of extra ``ssvae train`` flags on top of the shared ones (the data
set, the image or crop size, the budget and the seed, the same for all).  The driver

1. trains every variant (``ssvae train`` subprocesses, :data:`PARALLEL` at a time, one TensorFlow thread
   each; a finished run is reused, an interrupted one resumes: ``ssvae train`` with the same ``--out``
   continues it);
2. evaluates each alone with ``ssvae evaluate`` on the same held-out images (same data and seed, so the same
   validation split);
3. writes ``<out>/ablation.md`` (one markdown table, one row per variant, read from each report's
   ``metrics.csv``) and ``<out>/grid.png`` (originals, then the reconstructions and the prior samples of
   every variant).

The statistics-error ratio is each variant's mean ``stats_mse`` over the reference variant's
(:data:`REFERENCE`, the pixel baseline).  The realism columns are read from ``metrics.csv`` by name
(:data:`COLUMNS`): the binarised-reconstruction columns ``ssvae evaluate`` writes beside the paper's protocol; a
column a report lacks reads "n/a".

Not part of the test run.  Usage (from the repository root):

    .venv/bin/python experiments/ablation_binary.py --out experiments/runs/ablation-binary
    .venv/bin/python experiments/ablation_binary.py --quick --out /tmp/ablation-smoke   # a 1-epoch smoke run
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

#: The variants: name -> extra ``ssvae train`` flags.  The first entries are the references (the pixel baseline,
#: the SS-VAE at ``ssvae train``'s defaults, and with the ``ours`` preset's statistics encoder and circular
#: padding); then each binary-output option of issue 22 on top of ``ours``.
OURS = ["--padding", "circular", "--encoder-input", "statistics"]
#: The decoder noise, with the circular padding it needs (docs/3d-from-2d.md).
NOISE = ["--decoder-noise", "--padding", "circular"]
VARIANTS: dict[str, list[str]] = {
    "baseline": ["--baseline"],
    "ss-vae": [],
    "ss-vae+binary-0.05": ["--binary-weight", "0.05"],
    "ss-vae+binary-0.5": ["--binary-weight", "0.5"],
    "ours": OURS,
    "ours+binary-0.05": [*OURS, "--binary-weight", "0.05"],
    "ours+binary-0.5": [*OURS, "--binary-weight", "0.5"],
    "ours+concrete": [*OURS, "--output", "concrete"],
    "ours+straight-through": [*OURS, "--output", "straight_through"],
    "ours+upsample": [*OURS, "--decoder", "upsample"],
    "ss-vae+binary-0.05+upsample": ["--binary-weight", "0.05", "--decoder", "upsample"],
    "ss-vae+binary-0.05+pixel-0.01": ["--binary-weight", "0.05", "--gamma", "0.01"],
    "ss-vae+binary-0.05+upsample+anchor-1": ["--binary-weight", "0.05", "--decoder", "upsample", "--anchor", "1"],
    "ss-vae+binary-0.05+upsample+pixel-0.1": ["--binary-weight", "0.05", "--decoder", "upsample", "--gamma", "0.1"],
    "ss-vae+binary-0.05+upsample+anchor-1+beta-0.01": ["--binary-weight", "0.05", "--decoder", "upsample",
                                                       "--anchor", "1", "--beta", "0.01"],
    "ss-vae+linear": ["--indicator", "linear"],
    "ss-vae+transpose": ["--decoder", "transpose"],
    "ss-vae+subpixel": ["--decoder", "subpixel"],
    "ss-vae+detail": ["--decoder", "detail"],
    "ss-vae+eps-start-0.5": ["--eps-start", "0.5"],
    "ss-vae+eps-start-1": ["--eps-start", "1"],
    "ss-vae+linear-indicator": ["--indicator", "linear"],
    "baseline+detail": ["--baseline", "--decoder", "detail"],
    "baseline+subpixel": ["--baseline", "--decoder", "subpixel"],
    "ss-vae+subpixel+circular": ["--decoder", "subpixel", "--padding", "circular"],
    "ss-vae+subpixel+anchor-until-0.8": ["--decoder", "subpixel", "--anchor-until", "0.8"],
    "baseline+bce": ["--baseline", "--data-loss", "bce"],
    "baseline+binary-0.05": ["--baseline", "--binary-weight", "0.05"],
    "baseline+bce+subpixel": ["--baseline", "--data-loss", "bce", "--decoder", "subpixel"],
    "ss-vae+anchor-until-1": ["--anchor-until", "1"],
    "ss-vae+anchor-until-0.8": ["--anchor-until", "0.8"],
    "ss-vae+pixel-0.1": ["--anchor", "0", "--gamma", "0.1"],
    "ss-vae+anchor-0": ["--anchor", "0"],
    "ss-vae+window-4": ["--stats-window", "4"],
    "ss-vae+window-8": ["--stats-window", "8"],
    "ss-vae+noise+window-4": [*NOISE, "--stats-window", "4"],
    "ss-vae+noise+window-4+anchor-0": [*NOISE, "--stats-window", "4", "--anchor", "0"],
    "ss-vae+noise+window-4+anchor-0+levels-2": [*NOISE, "--stats-window", "4", "--anchor", "0", "--stats-levels", "2"],
    "ss-vae+noise": NOISE,
    "ss-vae+noise-0.2": [*NOISE, "--noise-scale", "0.2"],
    "ss-vae+noise-0.1": [*NOISE, "--noise-scale", "0.1"],
    # the short lags weighed over the long ones, which keep a floor that pins the volume fraction
    "ss-vae+window-8-floor-0.3": ["--stats-window", "8", "--stats-window-floor", "0.3"],
    "ss-vae+noise-0.2+window-8-floor-0.3": [*NOISE, "--noise-scale", "0.2", "--stats-window", "8",
                                            "--stats-window-floor", "0.3"],
    "ss-vae+noise-0.1+window-8-floor-0.3": [*NOISE, "--noise-scale", "0.1", "--stats-window", "8",
                                            "--stats-window-floor", "0.3"],
    # the reconstruction's interface per axis held to its input's (issue 22's third identity)
    "ss-vae+perimeter-1": ["--perimeter-weight", "1"],
    "ss-vae+perimeter-4": ["--perimeter-weight", "4"],
    "ss-vae+noise-0.2+perimeter-4": [*NOISE, "--noise-scale", "0.2", "--perimeter-weight", "4"],
    # leaky ReLUs in the decoder: no region where every unit is below zero draws one flat grey (docs/3d-from-2d.md)
    "ss-vae+leaky": ["--decoder-activation", "leaky_relu"],
    "ss-vae+noise-0.2+perimeter-4+leaky": [*NOISE, "--noise-scale", "0.2", "--perimeter-weight", "4",
                                           "--decoder-activation", "leaky_relu"],
    "ss-vae+noise-0.2+leaky": [*NOISE, "--noise-scale", "0.2", "--decoder-activation", "leaky_relu"],
    "baseline+beta-0.001": ["--baseline", "--beta", "0.001"],
    "baseline+leaky": ["--baseline", "--decoder-activation", "leaky_relu"],
    # the ours preset whole (filters 16, 512 units; its baseline keeps zero padding and sees the images)
    "preset-baseline": ["--preset", "ours", "--baseline"],
    "preset-ours": ["--preset", "ours"],
    "preset-ours+binary-0.05": ["--preset", "ours", "--binary-weight", "0.05"],
    "preset-ours+binary-0.02": ["--preset", "ours", "--binary-weight", "0.02"],
    "preset-ours+binary-0.05+anchor-1": ["--preset", "ours", "--binary-weight", "0.05", "--anchor", "1"],
    "preset-ours+binary-0.05+upsample+noise-0.2": ["--preset", "ours", "--binary-weight", "0.05", "--decoder",
                                                   "upsample", *NOISE, "--noise-scale", "0.2"],
    "preset-ours+binary-0.05+perimeter-1": ["--preset", "ours", "--binary-weight", "0.05", "--perimeter-weight", "1"],
    "preset-ours+binary-0.05+perimeter-4": ["--preset", "ours", "--binary-weight", "0.05", "--perimeter-weight", "4"],
}
#: The variant whose mean statistics error is the ratio's denominator.
REFERENCE = "baseline"
#: Training subprocesses at once (the machine's 2 cores: one thread each).
PARALLEL = 2
#: Table columns: header -> the ``metrics.csv`` column whose mean over the evaluated images it shows.
COLUMNS: dict[str, str] = {
    "orientation (%)": "orientation_correct_pct",
    "line count (%)": "line_count_correct_pct",
    "paper's vf diff (%)": "volume_fraction_diff_pct",
    "vf error at 0.5 (points)": "binarised_volume_fraction_error_points",
    "binary pixels (%)": "binary_share_pct",
    "perimeter error (%)": "binarised_perimeter_error_pct",
    "chord distance (px)": "binarised_chord_distance",
    "set perimeter (%)": "set_perimeter_difference_pct",
}
#: Budgets: the ablation proper and the ``--quick`` smoke run.
#: ``crops_per_epoch`` only with ``--crops`` (None: ``ssvae train``'s default, the training pixels once).
FULL = {"epochs": 10, "n_images": 3000, "crops_per_epoch": None, "n_eval": 1000}
QUICK = {"epochs": 1, "n_images": 64, "crops_per_epoch": 64, "n_eval": 32}
#: Originals (columns) shown in the figure grid.
N_SHOWN = 8
MISSING = "n/a"


def train_flags(data: str, size: int, crops: bool, epochs: int, n_images: int, seed: int,
                threshold: str | None, crops_per_epoch: int | None = None, median: int = 1) -> list[str]:
    """The ``ssvae train`` flags every variant shares: the data, the size (``--patch-size`` for crops of large
    images, else ``--image-size``), the budget (``n_images`` generated images, or ``crops_per_epoch`` crops)
    and the seed; ``threshold`` and ``median`` read grey data."""
    flags = ["--data", data, "--patch-size" if crops else "--image-size", str(size), "--epochs", str(epochs),
             "--seed", str(seed), "--quiet"]
    if crops:
        flags += ["--validation-slab"]
        if crops_per_epoch is not None:
            flags += ["--crops-per-epoch", str(crops_per_epoch)]
    else:
        flags += ["--n-images", str(n_images)]
    if threshold is not None:
        flags += ["--threshold", threshold]
    if median != 1:
        flags += ["--median", str(median)]
    return flags


def run_parallel(commands: dict[str, list[str]], logs: Path, parallel: int = PARALLEL) -> None:
    """Run ``commands`` (label -> ``ssvae`` arguments) as ``python -m ssvae_tf`` subprocesses, ``parallel``
    at a time, one TensorFlow thread each, each logging to ``logs/<label>.log``; prints each one's wall time.

    Raises:
        SystemExit: when a command fails (naming its log).
    """
    env = {**os.environ, "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    logs.mkdir(parents=True, exist_ok=True)
    pending, running = list(commands), {}
    while pending or running:
        while pending and len(running) < parallel:
            label = pending.pop(0)
            print(f"{label}: ssvae {' '.join(commands[label])}", flush=True)
            with open(logs / f"{label}.log", "a") as log:
                process = subprocess.Popen([sys.executable, "-m", "ssvae_tf", *commands[label]], env=env,
                                           stdout=log, stderr=subprocess.STDOUT)
            running[label] = (process, time.perf_counter())
        time.sleep(1)
        for label, (process, started) in list(running.items()):
            if process.poll() is not None:
                del running[label]
                if process.returncode != 0:
                    raise SystemExit(f"{label} failed with status {process.returncode}; see {logs / label}.log")
                print(f"finished {label} ({time.perf_counter() - started:.0f} s)", flush=True)


def reusable(run_dir: Path, command: list[str]) -> bool:
    """Whether ``run_dir`` holds a finished run of ``command`` (``ssvae train`` arguments), which is then
    not trained again; records ``command`` in ``<run_dir>.command`` for the next call.

    Raises:
        SystemExit: if it holds a finished run of another command (other flags or budget).
    """
    from ssvae_tf.run_dir import RunDir

    record = run_dir.with_name(run_dir.name + ".command")
    text = " ".join(command)
    if RunDir(run_dir).is_finished:
        if record.is_file() and record.read_text() != text:
            raise SystemExit(f"{run_dir} holds a finished run of `ssvae {record.read_text()}`; move it away or "
                             "pick another --out")
        return True
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(text)
    return False


def read_means(metrics_csv: Path) -> dict[str, float]:
    """Column -> mean over the images of the first model in a report's ``metrics.csv`` (numeric columns
    only; ``ssvae evaluate --model RUN`` without ``--baseline`` writes one model), and for line images
    ``orientation_correct_pct`` and ``line_count_correct_pct``: the share of images whose reconstruction's
    measured orientation (line count) is the original's, as the paper's protocol counts them."""
    with open(metrics_csv, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise ValueError(f"{metrics_csv} holds no rows")
    mine = [row for row in rows if row["model"] == rows[0]["model"]]
    means = {}
    for name in mine[0]:
        if name in ("model", "data_index"):
            continue
        try:
            means[name] = float(np.mean([float(row[name]) for row in mine]))
        except ValueError:
            continue
    perimeters = [name for name in means if name.startswith("binarised_perimeter_axis")]
    if perimeters:  # the reconstructions' mean perimeter against the originals' (a bias, not a per-image error)
        totals = {which: sum(means[name] for name in perimeters if name.endswith(which))
                  for which in ("_original", "_reconstruction")}
        means["set_perimeter_difference_pct"] = 100.0 * (totals["_reconstruction"] / totals["_original"] - 1.0)
    for measure, column in (("orientation", "orientation_correct_pct"), ("n_lines", "line_count_correct_pct")):
        if f"{measure}_original" in mine[0]:
            means[column] = 100.0 * float(np.mean([row[f"{measure}_original"] == row[f"{measure}_reconstruction"]
                                                   for row in mine]))
    return means


def _cell(value: float | None) -> str:
    return MISSING if value is None or not np.isfinite(value) else f"{value:.3g}"


def ablation_table(means: dict[str, dict[str, float]], seconds: dict[str, float | None],
                   reference: str = REFERENCE) -> str:
    """The markdown table: one row per variant (in ``means``' order) with its statistics-error ratio vs
    ``reference``, the :data:`COLUMNS` and the training wall time in min, then a line naming the
    ``metrics.csv`` column of each.

    Args:
        means: variant -> :func:`read_means` of its report.
        seconds: variant -> training wall time in s (None: unknown), e.g. ``reproduce.wall_time`` (from
            ``config.json`` to ``model.keras``, so a resumed run's pause counts too).
        reference: the variant whose mean ``stats_mse`` is the ratio's denominator.
    """
    denominator = means.get(reference, {}).get("stats_mse")
    headers = ["variant", f"stats error / {reference}", *COLUMNS, "training (min)"]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for variant, found in means.items():
        ratio = found["stats_mse"] / denominator if denominator and "stats_mse" in found else None
        cells = [variant, _cell(ratio)]
        cells += [_cell(found.get(column)) for column in COLUMNS.values()]
        wall = seconds.get(variant)
        cells.append(_cell(None if wall is None else wall / 60))
        lines.append("| " + " | ".join(cells) + " |")
    sources = "; ".join(f"{header}: `{column}`" for header, column in COLUMNS.items())
    return "\n".join(lines) + f"\n\nMeans over the evaluated images; columns read from `metrics.csv`: {sources}.\n"


def draw_grid(originals: np.ndarray, rows: dict[str, np.ndarray], path: Path, title: str = "") -> None:
    """A grid of images: ``originals`` ``(n, *spatial, 1)`` in the first row, then one row per entry of
    ``rows`` (label -> images ``(m, *spatial, 1)``, the first ``n`` shown); volumes show their middle slice."""
    from matplotlib.figure import Figure

    from ssvae_tf.figures import save_figure, show_image

    everything = {"original": originals, **rows}
    n = len(originals)
    fig = Figure(figsize=(1.2 * n + 1.6, 1.2 * len(everything) + 0.4), layout="constrained")
    axes = fig.subplots(len(everything), n, squeeze=False)
    for r, (label, images) in enumerate(everything.items()):
        for c in range(n):
            ax = axes[r, c]
            if c < len(images):
                show_image(ax, images[c])
            else:
                ax.axis("off")
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    if title:
        fig.suptitle(title)
    save_figure(fig, path)


def picture_rows(run_dirs: dict[str, Path], originals: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """For each run (label -> run directory): its reconstructions of ``originals`` and as many prior
    samples (seeded), keyed ``"<label> recon."`` and ``"<label> sample"``."""
    from ssvae_tf.evaluation.evaluate import reconstruct
    from ssvae_tf.run_dir import RunDir

    rows = {}
    for label, run_dir in run_dirs.items():
        model = RunDir(run_dir).load_model()
        rows[f"{label} recon."] = reconstruct(model, originals)
        rows[f"{label} sample"] = model.sample(len(originals), seed=seed)
    return rows


def validation_originals(run_dir: Path, n: int) -> np.ndarray:
    """The first ``n`` held-out images (or crops) of the run in ``run_dir`` ``(n, *spatial, 1)``."""
    from ssvae_tf.evaluation.runs import evaluation_data, load_run

    return evaluation_data(load_run(run_dir), n, progress=False).validation


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder: runs/, eval/, ablation.md, grid.png")
    parser.add_argument("--data", default="lines", help="ssvae train --data (default lines)")
    parser.add_argument("--size", type=int, default=32, help="image side in px (default 32)")
    parser.add_argument("--crops", action="store_true",
                        help="train on --size crops of large images (--patch-size, --validation-slab) instead of "
                             "generated --size images")
    parser.add_argument("--threshold", default=None, help="ssvae train --threshold for grey data (e.g. otsu)")
    parser.add_argument("--median", type=int, default=1, help="ssvae train --median for grey data (default 1: none)")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--reference", choices=list(VARIANTS), default=REFERENCE,
                        help=f"the variant whose statistics error is the ratio's denominator (default {REFERENCE})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=None, help=f"default {FULL['epochs']} ({QUICK['epochs']} quick)")
    parser.add_argument("--n-images", type=int, default=None,
                        help=f"generated images (default {FULL['n_images']}, {QUICK['n_images']} quick)")
    parser.add_argument("--n-eval", type=int, default=None,
                        help=f"validation images evaluated (default {FULL['n_eval']}, {QUICK['n_eval']} quick)")
    parser.add_argument("--crops-per-epoch", type=int, default=None,
                        help="with --crops: random crops per epoch (default: ssvae train's, the training pixels once)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: the QUICK budget")
    parser.add_argument("--train-flags", nargs="+", default=[],
                        help="more ssvae train flags shared by every variant, e.g. --train-flags=--validation-split=0.35")
    args = parser.parse_args(argv)
    budget = {**(QUICK if args.quick else FULL),
              **{k: v for k, v in (("epochs", args.epochs), ("n_images", args.n_images), ("n_eval", args.n_eval),
                                   ("crops_per_epoch", args.crops_per_epoch)) if v is not None}}
    if args.reference not in args.variants:
        args.variants.insert(0, args.reference)
    shared = train_flags(args.data, args.size, args.crops, budget["epochs"], budget["n_images"], args.seed,
                         args.threshold, budget["crops_per_epoch"], args.median) + args.train_flags
    runs = {variant: args.out / "runs" / variant for variant in args.variants}

    from reproduce import wall_time

    commands = {v: ["train", *shared, *VARIANTS[v], "--out", str(runs[v])] for v in args.variants}
    run_parallel({v: command for v, command in commands.items() if not reusable(runs[v], command)},
                 args.out / "logs")
    seconds = {v: wall_time(runs[v]) for v in args.variants}
    reports = {v: args.out / "eval" / v for v in args.variants}
    run_parallel({f"evaluate-{v}": ["evaluate", "--model", str(runs[v]), "--out", str(reports[v]), "--n-images",
                                    str(budget["n_eval"]), "--quiet"] for v in args.variants}, args.out / "logs")
    means = {v: read_means(reports[v] / "metrics.csv") for v in args.variants}
    table = ablation_table(means, seconds, args.reference)
    title = (f"# Binary-output ablation: {args.data}, {args.size} px, {budget['epochs']} epochs, seed {args.seed}\n\n"
             f"Shared flags: `ssvae train {' '.join(shared)}`; evaluated on {budget['n_eval']} held-out images.\n\n")
    variants = "\n".join(f"- `{v}`: `{' '.join(VARIANTS[v]) or '(defaults)'}`" for v in args.variants)
    (args.out / "ablation.md").write_text(f"{title}{table}\n{variants}\n\n![grid](grid.png)\n")

    from ssvae_tf.commands.base import import_tensorflow_quietly

    import_tensorflow_quietly()
    originals = validation_originals(runs[args.reference], N_SHOWN)
    draw_grid(originals, picture_rows(runs, originals, args.seed), args.out / "grid.png",
              title=f"{args.data}, {args.size} px: originals, reconstructions, prior samples")
    print(table)
    print(f"wrote {args.out / 'ablation.md'} and {args.out / 'grid.png'}")


if __name__ == "__main__":
    main()
