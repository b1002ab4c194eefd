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
from ssvae_tf.commands.base import import_tensorflow_quietly
from ssvae_tf.paper import PAPER_NUMBERS, paper_ratio_note, paper_stats_ratio
from ssvae_tf.presets import preset
from ssvae_tf.run_dir import RunDir
from ssvae_tf.settings import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
NOTES_MARKER = "<!-- notes: everything below this line is kept when the script rewrites the file -->"
#: The TrainConfig fields of the statistics-loss techniques (issue 10), named in the doc when a run changes them.
TECHNIQUES = ("decoder", "padding", "kl_schedule", "kl_cycles", "kl_ramp", "free_bits", "anchor", "anchor_sigma",
              "anchor_until", "anchor_aligned", "stats_levels", "cutoff", "eps", "eps_start", "shift_augment",
              "encoder_input")
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
            command = [sys.executable, "-m", "ssvae_tf", "train", *cli_arguments(configs[label]),
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
    """Train and evaluate one line set for every seed; returns (and writes) its ``results.json`` record.

    The first seed's report (figures and all) goes to ``docs/figures/reproduction-<data>/``, the
    others' to their run directories; the learning curves of every run to the docs.
    """
    from ssvae_tf.evaluation import compare_runs
    from ssvae_tf.evaluation.figures import plot_learning_curves

    overrides = {"data": data, "epochs": args.epochs, "n_images": args.n_images, "image_size": args.image_size}
    configs = {}
    for seed in args.seeds:
        configs[f"ss-vae-s{seed}"] = preset("ours", seed=seed, **overrides)
        configs[f"baseline-s{seed}"] = preset("ours", baseline=True, seed=seed, **overrides)
    runs_dir = args.runs_dir / data
    runs_dir.mkdir(parents=True, exist_ok=True)
    train_runs(configs, runs_dir)
    out = args.docs_dir / "figures" / f"reproduction-{data}"
    seeds, histories = {}, {}
    for index, seed in enumerate(args.seeds):
        ours, baseline = runs_dir / f"ss-vae-s{seed}", runs_dir / f"baseline-s{seed}"
        report = out if index == 0 else ours / "report"
        comparison = compare_runs(ours, baseline, report, n_images=args.n_eval)
        seeds[str(seed)] = {
            "summaries": comparison.summaries, "ratio": comparison.ratio, "ratio_ci": comparison.ratio_ci,
            "table": comparison.table,
            "training_seconds": {"ss-vae": wall_time(ours), "baseline": wall_time(baseline)},
            "evaluation_seconds": comparison.seconds,
        }
        histories[f"SS-VAE seed {seed}"] = RunDir(ours).read_history()
        histories[f"baseline seed {seed}"] = RunDir(baseline).read_history()
    plot_learning_curves(histories, out / "learning_curves.png",
                         title=f"{SET_TITLES[data]}: validation statistics error")
    record = {
        "data": data,
        "settings": {"ss-vae": dataclasses.asdict(configs[f"ss-vae-s{args.seeds[0]}"]),
                     "baseline": dataclasses.asdict(configs[f"baseline-s{args.seeds[0]}"])},
        "seeds": seeds,
        "n_evaluated": args.n_eval,
        "machine": f"{os.cpu_count()} CPU cores",
    }
    write_json(out / "results.json", record)
    return record


def _ours(record: dict, seed: str) -> dict:
    result = record["seeds"][seed]
    low, high = result["ratio_ci"]
    return {**result["summaries"]["ss-vae"], "ratio": result["ratio"], "ratio_ci_low": low, "ratio_ci_high": high}


def _targets_table(record: dict) -> str:
    from ssvae_tf.evaluation.summary import format_interval

    seeds = list(record["seeds"])
    header = " | ".join(f"seed {seed} [95 % CI]" for seed in seeds)
    lines = [f"| target (1-4 lines) | required | aimed | {header} | mean over seeds | |",
             "|---|---|---|" + "---|" * len(seeds) + "---|---|"]
    for label, key, required, aimed, higher in TARGETS:
        values = [_ours(record, seed) for seed in seeds]
        cells = " | ".join(f"{v[key]:.2f}" + format_interval((v[key + "_ci_low"], v[key + "_ci_high"]), "{:.2f}")
                           for v in values)
        mean = sum(v[key] for v in values) / len(values)
        met = all(v[key] >= required if higher else v[key] <= required for v in values)
        lines.append(f"| {label} | {'≥' if higher else '≤'} {required:.2g} | {aimed:g} | {cells} | {mean:.2f} | "
                     f"{'met' if met else '**not met**'} |")
    return "\n".join(lines)


def _seed_lines(record: dict) -> str:
    from ssvae_tf.evaluation.summary import format_interval

    lines = []
    for seed, result in record["seeds"].items():
        ours = result["summaries"]["ss-vae"]
        line_count = f", line count {ours['line_count_pct']:.0f} %" if "line_count_pct" in ours else ""
        lines.append(f"- seed {seed}: SS-VAE / baseline statistics error **{result['ratio']:.2f}x**"
                     f"{format_interval(result['ratio_ci'], '{:.2f}')}{line_count}, volume-fraction difference "
                     f"{ours['volume_fraction_diff_mean']:.0f} %;"
                     f" training {result['training_seconds']['ss-vae'] / 60:.1f} min (SS-VAE), "
                     f"{result['training_seconds']['baseline'] / 60:.1f} min (baseline)")
    ratios = [result["ratio"] for result in record["seeds"].values()]
    if len(ratios) > 1:
        lines.append(f"- over seeds: ratio {min(ratios):.2f}x to {max(ratios):.2f}x")
    return "\n".join(lines)


def _set_section(record: dict) -> str:
    settings = record["settings"]["ss-vae"]
    first = record["seeds"][next(iter(record["seeds"]))]
    changed = {name: value for name, value in settings.items()
               if name in TECHNIQUES and value != TrainConfig().to_json()[name]}
    figures = f"figures/reproduction-{record['data']}"
    parts = [
        f"## {SET_TITLES[record['data']]}\n",
        f"{settings['n_images']} generated images of {settings['image_size']} px, split 70/30; both models: latent "
        f"size {settings['latent_dim']}, {settings['filters']} filters, {settings['hidden_units']} hidden units, "
        f"{settings['epochs']} epochs, batch {settings['batch_size']}, Adam {settings['learning_rate']:g} halved for "
        f"the last 10 %, the `ours` preset (statistics-loss techniques of the SS-VAE: `{changed}`). Seeds "
        f"{', '.join(record['seeds'])} (data, split, weights). Wall times on this machine ({record['machine']}, "
        f"two runs at once, one thread each); evaluation of the first {record['n_evaluated']} validation images.\n",
        f"Image size: the paper's images are 224 px, ours {settings['image_size']} px, so the absolute MSEs "
        "of the two column pairs below are not comparable; compare the ratio and the accuracies, which do not "
        "depend on the size. Brackets: 95 % bootstrap intervals over the evaluated images (2000 resamples).\n",
        f"Seed {next(iter(record['seeds']))}:\n",
        first["table"] + "\n",
        _seed_lines(record) + f"\n\n({paper_ratio_note(record['data'])})\n",
    ]
    if record["data"] == "lines":
        parts.append(_targets_table(record) + "\n")
    parts.append(f"Full report (first seed): [{figures}/report.md]({figures}/report.md).\n")
    for name, title in (("learning_curves", "learning curves, every seed"),
                        ("pairs_ss-vae", "SS-VAE reconstructions and autocorrelations"),
                        ("pairs_baseline", "baseline reconstructions and autocorrelations"),
                        ("nearest_ss-vae", "nearest training images (SS-VAE)"),
                        ("volume_fraction", "volume-fraction difference (Figure 2)"),
                        ("line_counts", "line counts (Figure 3)"),
                        ("error_histograms", "error histograms (B.4)")):
        parts.append(f"![{title}]({figures}/{name}.png)\n")
    return "\n".join(parts)


def _ablation_sections(docs_dir: Path) -> str:
    """Every ``figures/ablation-*/ablation.md`` (``experiments/ablation.py``), as sections of the doc."""
    sections = []
    for path in sorted((docs_dir / "figures").glob("ablation-*/ablation.md")):
        title, body = path.read_text().split("\n", 1)
        figures = path.parent.relative_to(docs_dir).as_posix()
        sections.append("#" + title + "\n" + body.replace("](learning_curves.png)", f"]({figures}/learning_curves.png)"))
    return "\n".join(sections) + ("\n" if sections else "")


def rewrite_keeping_notes(doc: Path, generated: str) -> Path:
    """Write ``generated`` to ``doc`` (atomically), followed by :data:`NOTES_MARKER` and the hand-written
    notes below the marker of the file there now (none if it has no marker); returns ``doc``."""
    old = doc.read_text() if doc.exists() else ""
    notes = old.split(NOTES_MARKER, 1)[1] if NOTES_MARKER in old else "\n"
    return atomic_write(doc, lambda tmp: tmp.write_text(f"{generated}{NOTES_MARKER}{notes}"))


def write_doc(docs_dir: Path) -> Path:
    """Rewrite ``docs_dir/reproduction.md`` from every results.json, keeping the notes; returns its path."""
    doc = docs_dir / "reproduction.md"
    records = [json.loads(path.read_text()) for path in
               sorted((docs_dir / "figures").glob("reproduction-*/results.json"))]
    records.sort(key=lambda record: list(SET_TITLES).index(record["data"]))
    header = (
        "# Reproducing the paper\n\n"
        "Written by `experiments/reproduce.py` (the numbers and figures; the notes at the end are by hand). "
        "Protocol of paper.md section 4: reconstructions decode z = mean; per image pixel MSE and statistics "
        "MSE (hard autocorrelation of the original's black phase vs the soft one of the reconstruction, "
        "mean over lags); black = value < 0.05; line count and orientation measured automatically "
        "(`ssvae_tf.evaluation.line_measurement`, exact on the generator's originals) where the paper judged "
        "them by hand on 100 pairs.\n\n"
        "The story in order: the headline comparison at the `ours` preset's budget (64 px, 10,000 images, 30 "
        "epochs per model, both models alike) with 95 % bootstrap intervals and two seeds, against the "
        "paper's targets; the learning curves and figures; the ablation of each training technique at 32 px "
        "(`experiments/ablation.py`); then the notes: what the ablation means, and the earlier attempts.\n"
    )
    body = "\n".join(_set_section(record) for record in records)
    return rewrite_keeping_notes(doc, f"{header}\n{body}\n{_ablation_sections(docs_dir)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="+", choices=list(SET_TITLES), default=["lines"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1], help="seeds (default 0 1)")
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
        ratios = ", ".join(f"{result['ratio']:.2f}x" for result in record["seeds"].values())
        print(f"{data}: SS-VAE / baseline statistics error {ratios} ({time.perf_counter() - started:.0f} s)")
        print(f"wrote {write_doc(args.docs_dir)}")


if __name__ == "__main__":
    main()
