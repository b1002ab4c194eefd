"""Reproduce the paper's comparison on this machine and record it in docs/reproduction.md.

For each line set (``lines``: 1-4 lines, the paper's; ``lines-hard``: 3-7
lines, the authors' repository) this script

1. trains the statistics VAE and the pixel baseline with the ``ours`` preset
   (``ssvae_tf.presets``) and the same budget, both at once, one thread each
   (``ssvae train`` subprocesses; a finished run is reused, an interrupted one
   resumes);
2. evaluates them with ``ssvae_tf.evaluation.compare_runs`` into
   ``docs/figures/reproduction-<set>/`` (report.md, metrics.csv, PNGs,
   results.json);
3. rewrites ``docs/reproduction.md`` from every ``results.json`` found,
   keeping the hand-written notes below the ``NOTES_MARKER`` line.

Not part of the test run.  Usage (from the repository root):

    .venv/bin/python experiments/reproduce.py                    # 1-4 lines
    .venv/bin/python experiments/reproduce.py --sets lines lines-hard
    .venv/bin/python experiments/reproduce.py --redraw   # metric figures of every report, from metrics.csv
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from ssvae_tf._io import atomic_write, write_json
from ssvae_tf.cli import import_tensorflow_quietly
from ssvae_tf.paper import PAPER_NUMBERS, paper_ratio_note, paper_stats_ratio
from ssvae_tf.presets import preset
from ssvae_tf.run_dir import RunDir
from ssvae_tf.settings import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
NOTES_MARKER = "<!-- notes: everything below this line is kept when the script rewrites the file -->"
SET_TITLES = {"lines": "1-4 lines (the paper's set)", "lines-hard": "3-7 lines (the authors' harder set)"}
_PAPER_SS_VAE = PAPER_NUMBERS["lines"]["ss-vae"]
#: Targets on the 1-4 line set: (label, summary key, required = the paper's number, aimed, higher is better).
TARGETS = (
    ("SS-VAE / baseline statistics error", "ratio", paper_stats_ratio("lines"), 0.35, False),
    ("orientation correct (%)", "orientation_pct", _PAPER_SS_VAE["orientation_pct"], 100.0, True),
    ("line count correct (%)", "line_count_pct", _PAPER_SS_VAE["line_count_pct"], 80.0, True),
    ("volume-fraction difference, mean (%)", "volume_fraction_diff_mean",
     _PAPER_SS_VAE["volume_fraction_diff_mean"], 10.0, False),
)


def cli_arguments(config: TrainConfig) -> list[str]:
    """``ssvae train`` options that reproduce ``config``."""
    argv = []
    for name, value in dataclasses.asdict(config).items():
        option = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            argv += [option] if value else []
        elif value is not None:
            argv += [option, str(value)]
    return argv


def _finished(run_dir: Path, config: TrainConfig) -> bool:
    run = RunDir(run_dir)
    if not run.is_finished:
        return False
    if run.settings() != config:
        raise SystemExit(f"{run_dir} holds a finished run with other settings; move it away or pick --runs-dir")
    return True


def train_runs(configs: dict[str, TrainConfig], runs_dir: Path, parallel: int = 2) -> None:
    """Train the unfinished runs of ``configs`` (label -> config), ``parallel`` at a time, one thread
    each (``ssvae train`` subprocesses logging to ``runs_dir/<label>.log``; an interrupted run resumes)."""
    env = {**os.environ, "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    pending = [label for label, config in configs.items() if not _finished(runs_dir / label, config)]
    running: dict[str, subprocess.Popen] = {}
    while pending or running:
        while pending and len(running) < parallel:
            label = pending.pop(0)
            command = [sys.executable, "-m", "ssvae_tf.cli", "train", *cli_arguments(configs[label]),
                       "--out", str(runs_dir / label)]
            print(f"training {label}: {' '.join(command[2:])}", flush=True)
            with open(runs_dir / f"{label}.log", "a") as log:
                running[label] = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        time.sleep(2)
        for label, process in list(running.items()):
            if process.poll() is not None:
                del running[label]
                if process.returncode != 0:
                    raise SystemExit(f"training {label} failed with status {process.returncode}; see "
                                     f"{runs_dir / (label + '.log')}")
                print(f"finished {label}", flush=True)


def wall_time(run_dir: Path) -> float:
    """Training wall time in s: from ``config.json`` (written before the first epoch) to ``model.keras``."""
    run = RunDir(run_dir)
    return run.model_file.stat().st_mtime - run.config_file.stat().st_mtime


def reproduce_set(data: str, args: argparse.Namespace) -> dict:
    """Train and evaluate one line set; returns (and writes) its ``results.json`` record."""
    from ssvae_tf.evaluation import compare_runs

    overrides = {"data": data, "epochs": args.epochs, "n_images": args.n_images, "image_size": args.image_size}
    configs = {"ss-vae": preset("ours", **overrides), "baseline": preset("ours", baseline=True, **overrides)}
    runs_dir = args.runs_dir / data
    runs_dir.mkdir(parents=True, exist_ok=True)
    train_runs(configs, runs_dir)
    out = args.docs_dir / "figures" / f"reproduction-{data}"
    comparison = compare_runs(runs_dir / "ss-vae", runs_dir / "baseline", out, n_images=args.n_eval)
    record = {
        "data": data,
        "settings": {label: dataclasses.asdict(config) for label, config in configs.items()},
        "training_seconds": {label: wall_time(runs_dir / label) for label in configs},
        "evaluation_seconds": comparison.seconds,
        "n_evaluated": args.n_eval,
        "summaries": comparison.summaries,
        "ratio": comparison.ratio,
        "table": comparison.table,
        "machine": f"{os.cpu_count()} CPU cores",
    }
    write_json(out / "results.json", record)
    return record


def _targets_table(record: dict) -> str:
    ours = {**record["summaries"]["ss-vae"], "ratio": record["ratio"]}
    lines = ["| target (1-4 lines) | required | aimed | ours | |", "|---|---|---|---|---|"]
    for label, key, required, aimed, higher in TARGETS:
        value = ours[key]
        met = value >= required if higher else value <= required
        lines.append(f"| {label} | {'≥' if higher else '≤'} {required:.2g} | {aimed:g} | {value:.2f} | "
                     f"{'met' if met else '**not met**'} |")
    return "\n".join(lines)


def _set_section(record: dict) -> str:
    settings = record["settings"]["ss-vae"]
    minutes = {label: seconds / 60 for label, seconds in record["training_seconds"].items()}
    figures = f"figures/reproduction-{record['data']}"
    parts = [
        f"## {SET_TITLES[record['data']]}\n",
        f"{settings['n_images']} generated images of {settings['image_size']} px, split 70/30 (seed "
        f"{settings['seed']}); both models: latent size {settings['latent_dim']}, {settings['filters']} filters, "
        f"{settings['hidden_units']} hidden units, {settings['epochs']} epochs, batch {settings['batch_size']}, "
        f"Adam {settings['learning_rate']:g} halved for the last 10 %, beta = {settings['beta']} (the `ours` "
        f"preset). Training wall time on this machine ({record['machine']}, both runs at once, one thread "
        f"each): SS-VAE {minutes['ss-vae']:.1f} min, baseline {minutes['baseline']:.1f} min; evaluation of "
        f"the first {record['n_evaluated']} validation images: {record['evaluation_seconds']:.0f} s.\n",
        f"Image size: the paper's images are 224 px, ours {settings['image_size']} px, so the absolute MSEs "
        "of the two column pairs below are not comparable; compare the ratio and the accuracies, which do not "
        "depend on the size.\n",
        record["table"] + "\n",
        f"SS-VAE / baseline statistics error (mean): **{record['ratio']:.2f}x** "
        f"({paper_ratio_note(record['data'])}).\n",
    ]
    if record["data"] == "lines":
        parts.append(_targets_table(record) + "\n")
    parts.append(f"Full report: [{figures}/report.md]({figures}/report.md).\n")
    for name, title in (("pairs_ss-vae", "SS-VAE reconstructions and autocorrelations"),
                        ("pairs_baseline", "baseline reconstructions and autocorrelations"),
                        ("nearest_ss-vae", "nearest training images (SS-VAE)"),
                        ("volume_fraction", "volume-fraction difference (Figure 2)"),
                        ("line_counts", "line counts (Figure 3)"),
                        ("error_histograms", "error histograms (B.4)")):
        parts.append(f"![{title}]({figures}/{name}.png)\n")
    return "\n".join(parts)


def write_doc(docs_dir: Path) -> Path:
    """Rewrite ``docs_dir/reproduction.md`` from every results.json, keeping the notes; returns its path."""
    doc = docs_dir / "reproduction.md"
    records = [json.loads(path.read_text()) for path in
               sorted((docs_dir / "figures").glob("reproduction-*/results.json"))]
    records.sort(key=lambda record: list(SET_TITLES).index(record["data"]))
    old = doc.read_text() if doc.exists() else ""
    notes = old.split(NOTES_MARKER, 1)[1] if NOTES_MARKER in old else "\n"
    header = (
        "# Reproducing the paper\n\n"
        "Written by `experiments/reproduce.py` (the numbers and figures; the notes at the end are by hand). "
        "Protocol of paper.md section 4: reconstructions decode z = mean; per image pixel MSE and statistics "
        "MSE (hard autocorrelation of the original's black phase vs the soft one of the reconstruction, "
        "mean over lags); black = value < 0.05; line count and orientation measured automatically "
        "(`ssvae_tf.evaluation.line_measurement`, exact on the generator's originals) where the paper judged "
        "them by hand on 100 pairs.\n"
    )
    body = "\n".join(_set_section(record) for record in records)
    text = f"{header}\n{body}\n{NOTES_MARKER}{notes}"
    return atomic_write(doc, lambda tmp: tmp.write_text(text))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="+", choices=list(SET_TITLES), default=["lines"])
    parser.add_argument("--epochs", type=int, default=30, help="epochs per model (default 30)")
    parser.add_argument("--n-images", type=int, default=10_000, help="generated images (default 10,000)")
    parser.add_argument("--image-size", type=int, default=64, help="image side in px (default 64)")
    parser.add_argument("--n-eval", type=int, default=1000, help="validation images evaluated (default 1000)")
    parser.add_argument("--runs-dir", type=Path, default=ROOT / "experiments" / "runs",
                        help="where the run directories go (default experiments/runs)")
    parser.add_argument("--docs-dir", type=Path, default=ROOT / "docs",
                        help="where reproduction.md and figures/ go (default docs)")
    parser.add_argument("--redraw", action="store_true",
                        help="only draw the metric figures of every docs/figures/reproduction-*/ report again "
                             "from its metrics.csv (no training)")
    args = parser.parse_args(argv)
    import_tensorflow_quietly()
    if args.redraw:
        from ssvae_tf.evaluation import redraw_metric_figures

        for report in sorted((args.docs_dir / "figures").glob("reproduction-*/metrics.csv")):
            redraw_metric_figures(report.parent)
            print(f"redrew the metric figures of {report.parent}")
        return
    for data in args.sets:
        started = time.perf_counter()
        record = reproduce_set(data, args)
        print(f"{data}: SS-VAE / baseline statistics error {record['ratio']:.2f}x "
              f"({time.perf_counter() - started:.0f} s)")
        print(f"wrote {write_doc(args.docs_dir)}")


if __name__ == "__main__":
    main()
