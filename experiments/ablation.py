"""Ablation of the SS-VAE's training techniques: each on its own and together, at one budget.

Every variant is the ``reference``: the ``ours`` preset (``ssvae_tf.presets``)
at the chosen size, images and epochs with every technique at its
``TrainConfig`` default (off: the network and loss before issue 10), with
some fields changed; all are compared with the same pixel baseline (the
reference's, at that budget).
Runs train two at a time, one thread each (``experiments/reproduce.py``'s
``train_runs``: finished runs are reused, interrupted ones resume); each is
evaluated on the first ``--n-eval`` validation images with
``ssvae_tf.evaluation.compare_runs`` (report in its run directory).  Writes
``docs/figures/ablation-<data>-<size>px/``: ``ablation.md`` (the table, with
95 % bootstrap intervals), ``results.json`` and ``learning_curves.png``.  Each invocation adds its
variants and seeds to the table (or replaces the same ones).

Not part of the test run.  Usage (from the repository root):

    .venv/bin/python experiments/ablation.py                       # 32 px, every variant
    .venv/bin/python experiments/ablation.py --variants reference circular --seeds 0 1
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from reproduce import ROOT, TECHNIQUES, train_runs, wall_time

from ssvae_tf._io import atomic_write, write_json
from ssvae_tf.commands.base import import_tensorflow_quietly
from ssvae_tf.presets import preset
from ssvae_tf.run_dir import RunDir
from ssvae_tf.settings import TrainConfig

#: Variant name -> (what it changes, in words; TrainConfig fields over the ``ours`` preset).
VARIANTS = {
    "reference": ("every technique off: transposed-convolution decoder, zero padding, constant beta", {}),
    "resize": ("resize-convolution decoder with residual blocks", {"decoder": "resize"}),
    "circular": ("circular padding in encoder and decoder", {"padding": "circular"}),
    "warmup": ("KL warm-up over the first half", {"kl_schedule": "warmup", "kl_ramp": 0.5}),
    "cyclical": ("cyclical KL, 4 cycles, rising over half of each", {"kl_schedule": "cyclical"}),
    "free-bits": ("free bits, 2 nats per dimension", {"free_bits": 2.0}),
    "anchor": ("blurred-pixel anchor 0.05 (sigma 1 px) fading out by mid-run", {"anchor": 0.05}),
    "anchor-strong": ("blurred-pixel anchor 0.5 (sigma 1 px) fading out by mid-run", {"anchor": 0.5}),
    "anchor-blur": ("blurred-pixel anchor 0.5 (sigma 3 px) fading out by mid-run",
                    {"anchor": 0.5, "anchor_sigma": 3.0}),
    "anchor-aligned": ("blurred-pixel anchor 0.05 (sigma 1 px) after the best periodic shift, fading out by "
                       "the end", {"anchor": 0.05, "anchor_aligned": True, "anchor_until": 1.0}),
    "anchor-aligned-strong": ("blurred-pixel anchor 0.5 (sigma 1 px) after the best periodic shift, fading out "
                              "by the end", {"anchor": 0.5, "anchor_aligned": True, "anchor_until": 1.0}),
    "levels": ("statistics at 3 resolutions", {"stats_levels": 3}),
    "eps": ("indicator width annealed 0.35 -> 0.1", {"eps_start": 0.35, "eps": 0.1}),
    "eps-wide": ("indicator width annealed 0.4 -> 0.25 (white pixels get a gradient early)",
                 {"eps_start": 0.4}),
    "shift": ("random periodic shifts of the training images", {"shift_augment": True}),
    "statistics-encoder": ("the encoder sees the images' periodic autocorrelations instead of the images",
                           {"encoder_input": "statistics"}),
}


def reference(baseline: bool = False, **changes) -> TrainConfig:
    """The ``ours`` preset with every technique of :data:`TECHNIQUES` at its default (off), then ``changes``."""
    defaults = TrainConfig()
    off = {name: getattr(defaults, name) for name in TECHNIQUES}
    return preset("ours", baseline=baseline, **{**off, **changes})


def _interval(summary: dict, key: str, fmt: str) -> str:
    """``summary[key]`` in ``fmt`` with its interval, when the summary holds one."""
    from ssvae_tf.evaluation.summary import format_interval

    return fmt.format(summary[key]) + format_interval((summary.get(f"{key}_ci_low"), summary.get(f"{key}_ci_high")),
                                                      fmt)


def ablation_table(records: list[dict]) -> str:
    """Markdown table: one row per variant and seed."""
    from ssvae_tf.evaluation.summary import format_interval

    lines = ["| variant | seed | stats error ratio [95 % CI] | line count % | volume-fraction diff % | "
             "orientation % | active units | train min |", "|---|---|---|---|---|---|---|---|"]
    for r in records:
        s = r["summary"]
        ratio = f"{r['ratio']:.2f}" + format_interval(r.get("ratio_ci") or (None, None), "{:.2f}")
        lines.append(f"| {r['variant']} | {r['seed']} | {ratio} | {_interval(s, 'line_count_pct', '{:.0f}')} | "
                     f"{_interval(s, 'volume_fraction_diff_mean', '{:.0f}')} | "
                     f"{_interval(s, 'orientation_pct', '{:.0f}')} | {r['active_units']:.0f} | "
                     f"{r['training_seconds'] / 60:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--data", choices=["lines", "lines-hard"], default="lines")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--epochs", type=int, default=20, help="epochs per model (default 20)")
    parser.add_argument("--n-images", type=int, default=4000, help="generated images (default 4000)")
    parser.add_argument("--image-size", type=int, default=32, help="image side in px (default 32)")
    parser.add_argument("--n-eval", type=int, default=1000, help="validation images evaluated (default 1000)")
    parser.add_argument("--parallel", type=int, default=2, help="runs trained at once (default 2)")
    parser.add_argument("--curves", nargs="+", choices=list(VARIANTS), default=["reference", "circular"],
                        help="variants whose learning curves (first seed) are drawn beside the baseline's")
    parser.add_argument("--runs-dir", type=Path, default=ROOT / "experiments" / "runs" / "ablation")
    parser.add_argument("--docs-dir", type=Path, default=ROOT / "docs")
    args = parser.parse_args(argv)
    import_tensorflow_quietly()
    from ssvae_tf.evaluation import compare_runs
    from ssvae_tf.evaluation.figures import plot_learning_curves

    name = f"{args.data}-{args.image_size}px"
    runs_dir = args.runs_dir / name
    runs_dir.mkdir(parents=True, exist_ok=True)
    budget = {"data": args.data, "epochs": args.epochs, "n_images": args.n_images, "image_size": args.image_size}
    configs = {}
    for seed in args.seeds:
        configs[f"baseline-s{seed}"] = reference(baseline=True, seed=seed, **budget)
        for variant in args.variants:
            configs[f"{variant}-s{seed}"] = reference(seed=seed, **budget, **VARIANTS[variant][1])
    started = time.perf_counter()
    train_runs(configs, runs_dir, parallel=args.parallel)
    print(f"trained in {time.perf_counter() - started:.0f} s", flush=True)

    out = args.docs_dir / "figures" / f"ablation-{name}"
    out.mkdir(parents=True, exist_ok=True)
    kept = _earlier_records(out / "results.json", budget, args.n_eval)
    records = []
    for seed in args.seeds:
        baseline = runs_dir / f"baseline-s{seed}"
        for variant in args.variants:
            label = f"{variant}-s{seed}"
            comparison = compare_runs(runs_dir / label, baseline, runs_dir / label / "report", n_images=args.n_eval,
                                      progress=False)
            records.append({
                "variant": variant, "seed": seed, "changes": VARIANTS[variant][1],
                "ratio": comparison.ratio, "ratio_ci": comparison.ratio_ci,
                "summary": comparison.summaries["ss-vae"], "baseline_summary": comparison.summaries["baseline"],
                "active_units": RunDir(runs_dir / label).read_history().get("val_active_units", [float("nan")])[-1],
                "training_seconds": wall_time(runs_dir / label),
                "settings": dataclasses.asdict(configs[label]),
            })
            print(f"{label}: ratio {comparison.ratio:.2f}, line count "
                  f"{comparison.summaries['ss-vae'].get('line_count_pct', float('nan')):.0f} %", flush=True)
    new = {(r["variant"], r["seed"]) for r in records}
    records += [r for r in kept if (r["variant"], r["seed"]) not in new and r["variant"] in VARIANTS]
    records.sort(key=lambda r: (list(VARIANTS).index(r["variant"]), r["seed"]))

    seed = min(r["seed"] for r in records)
    histories = {f"baseline seed {seed}": RunDir(runs_dir / f"baseline-s{seed}").read_history()}
    for variant in args.curves:
        if (runs_dir / f"{variant}-s{seed}").is_dir():
            histories[f"{variant} seed {seed}"] = RunDir(runs_dir / f"{variant}-s{seed}").read_history()
    plot_learning_curves(histories, out / "learning_curves.png",
                         title=f"validation statistics error, {args.data}, {args.image_size} px")
    write_json(out / "results.json", {"budget": budget, "n_evaluated": args.n_eval, "records": records})
    variants = list(dict.fromkeys(r["variant"] for r in records))
    described = "\n".join(f"- **{v}**: {VARIANTS[v][0]} (`{VARIANTS[v][1]}`)" for v in variants)
    text = (f"# Ablation: {args.data}, {args.image_size} px\n\nWritten by `experiments/ablation.py`. Budget per "
            f"model: {args.n_images} images (70/30 split), {args.epochs} epochs, batch 32, two to four runs at "
            f"once, one thread each, on this machine (2 CPU cores; wall times vary with the load). Every variant "
            f"is the reference (the `ours` preset with every technique off) with the changes listed; the ratio is "
            f"its mean statistics error over the pixel baseline's (same seed, same budget) on the first "
            f"{args.n_eval} validation images, with a paired 95 % bootstrap interval; the other brackets are 95 % "
            f"bootstrap intervals too.\n\n{described}\n\n{ablation_table(records)}\n\n"
            f"![learning curves](learning_curves.png)\n")
    atomic_write(out / "ablation.md", lambda tmp: tmp.write_text(text))
    print(f"wrote {out / 'ablation.md'}")


def _earlier_records(path: Path, budget: dict, n_eval: int) -> list[dict]:
    """The records of an earlier invocation at the same budget (this one adds to or replaces them)."""
    if not path.exists():
        return []
    earlier = json.loads(path.read_text())
    return earlier["records"] if earlier["budget"] == budget and earlier["n_evaluated"] == n_eval else []


if __name__ == "__main__":
    main()
