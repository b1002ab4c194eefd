"""What a finished search leaves in its directory, all written atomically.

* ``trials.csv`` — one row per trial: id, status, objective value, best epoch,
  every hyperparameter, every metric at the trial's best epoch (the values
  KerasTuner scored), the tuner that ran it and its wall time.
* ``summary.md`` — the same, best first, as the Markdown table the command prints.
* ``best_hyperparameters.json`` — the best trial's hyperparameters, objective and metrics.
* ``best/`` — the best trial as an ordinary run directory
  (:class:`~ssvae_tf.run_dir.RunDir`): ``config.json`` holds its settings,
  ``model.keras`` its own checkpoint (the weights of its best epoch, the model
  the objective scored, reloaded, not retrained), ``history.csv``/``.json`` its
  epochs and ``reconstructions.png`` a few validation images; ``ssvae
  evaluate --model OUT/best`` and ``ssvae export --model OUT/best`` take it
  as they take any run.
* ``search.png`` — the objective against latent size and against beta (colour: alpha).

While the search runs, ``tensorboard/`` gathers one HParams session per ended trial
(:mod:`tuning.tensorboard`): ``tensorboard --logdir OUT/tensorboard``.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ssvae_tf._io import atomic_write, write_json
from ssvae_tf.run_dir import RunDir

#: The KerasTuner project inside a search directory: ``oracle.json``, ``trial_*/``.
PROJECT_NAME = "search"
#: The resolved settings of a search (``TuneConfig.to_json()``), written when it starts.
CONFIG_FILE = "tune_config.json"
#: Written into each ``trial_*/`` of the project: the tuner that ran the trial and its wall time.
TRIAL_INFO = "ssvae_trial.json"
#: The run directory of the best trial inside a search directory.
BEST_RUN = "best"
#: TensorBoard's log directory inside a search directory: the HParams experiment, ``trial_<id>/`` per trial
#: (see :mod:`tuning.tensorboard`).
TENSORBOARD_DIR = "tensorboard"
#: The result files of a finished search, in the search directory.
TRIALS_CSV, SUMMARY_MD, BEST_HYPERPARAMETERS, SEARCH_PNG = (
    "trials.csv", "summary.md", "best_hyperparameters.json", "search.png")
RESULT_FILES = (TRIALS_CSV, SUMMARY_MD, BEST_HYPERPARAMETERS, SEARCH_PNG)

#: Metrics shown in the summary table, in this order (when logged).
TABLE_METRICS = ("val_combined", "val_stats_distance", "val_prior_stats_distance", "val_pixel_mse")
#: Hyperparameters always shown in the summary table.
TABLE_PARAMS = ("latent_dim", "alpha", "beta", "learning_rate")


@dataclass
class SearchSummary:
    """Rows of every trial (best first) and the best one."""

    objective: str
    rows: list[dict[str, Any]]
    best: dict[str, Any] | None
    table: str
    paths: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0


def _trial_number(trial_id: str) -> tuple[int, str]:
    return (int(trial_id), trial_id) if str(trial_id).isdigit() else (math.inf, str(trial_id))


def console_number(oracle, trial_id: str) -> int | None:
    """The number KerasTuner's console log gave the trial ("Search: Running Trial #N", "Trial N Complete").

    KerasTuner records it in the oracle's display state (saved with the
    oracle, so it survives a resume); a trial it never announced (a quiet
    search) gets ``int(trial_id) + 1``, the number it would have had.
    """
    numbers = getattr(getattr(oracle, "_display", None), "trial_number", {}) or {}
    if trial_id in numbers:
        return int(numbers[trial_id])
    return int(trial_id) + 1 if str(trial_id).isdigit() else None


def trial_row(tuner, trial) -> dict[str, Any]:
    """``trial`` of ``tuner``'s search as one flat dict: a row of ``trials.csv`` (see :func:`csv_text`)."""
    info_file = Path(tuner.project_dir) / f"trial_{trial.trial_id}" / TRIAL_INFO
    info = json.loads(info_file.read_text()) if info_file.exists() else {}
    metrics = {name: trial.metrics.get_last_value(name) for name in sorted(trial.metrics.metrics)}
    return {
        "trial": console_number(tuner.oracle, trial.trial_id),
        "trial_id": trial.trial_id,
        "status": trial.status,
        "objective": trial.score,
        "best_epoch": None if trial.best_step is None else int(trial.best_step) + 1,
        **{f"hp:{name}": value for name, value in trial.hyperparameters.values.items()},
        **{f"metric:{name}": value for name, value in metrics.items()},
        "tuner_id": info.get("tuner_id"),
        "seconds": info.get("seconds"),
    }


def trial_rows(tuner) -> list[dict[str, Any]]:
    """One flat dict per trial of ``tuner``'s oracle, in trial order."""
    return [trial_row(tuner, trial)
            for trial in sorted(tuner.oracle.trials.values(), key=lambda t: _trial_number(t.trial_id))]


def ranked(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Completed trials by objective (lower is better), then the others."""
    def key(row):
        done = row["status"] == "COMPLETED" and row["objective"] is not None and math.isfinite(row["objective"])
        return (0, row["objective"]) if done else (1, _trial_number(row["trial_id"]))

    return sorted(rows, key=key)


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    fixed_head = ["trial", "trial_id", "status", "objective", "best_epoch"]
    fixed_tail = ["tuner_id", "seconds"]
    middle = [c for c in columns if c not in fixed_head + fixed_tail]
    hps = [c for c in middle if c.startswith("hp:")]
    metrics = sorted((c for c in middle if c.startswith("metric:")),
                     key=lambda c: (not c.startswith("metric:val_"), c))
    return fixed_head + hps + metrics + fixed_tail


def csv_text(rows: list[dict[str, Any]]) -> str:
    """``trials.csv``: columns ``trial`` (the number in KerasTuner's console log), ``trial_id`` (its
    ``search/trial_<id>`` folder), ``status, objective, best_epoch, hp:*, metric:*, tuner_id, seconds``."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=_columns(rows), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: "" if value is None else value for key, value in row.items()})
    return buffer.getvalue()


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    return f"{value:.3g}" if abs(value) >= 1e-2 or value == 0 else f"{value:.3e}"


def markdown_table(rows: list[dict[str, Any]], objective: str, searched: list[str]) -> str:
    """The summary table, best first: searched hyperparameters and the objective metrics."""
    params = [p for p in TABLE_PARAMS if p in searched] + [p for p in searched if p not in TABLE_PARAMS]
    present = {key for row in rows for key in row}
    metrics = [m for m in TABLE_METRICS if f"metric:{m}" in present and (m != "val_combined" or m == objective)]
    header = ["rank", "trial", *params, *[f"{m}{' *' if m == objective else ''}" for m in metrics],
              "best epoch", "s", "status"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for rank, row in enumerate(ranked(rows), start=1):
        cells = [str(rank) if row["status"] == "COMPLETED" else "-", _fmt(row["trial"])]
        cells += [_fmt(row.get(f"hp:{p}")) for p in params]
        cells += [_fmt(row.get(f"metric:{m}")) for m in metrics]
        cells += [_fmt(row.get("best_epoch")), _fmt(row.get("seconds")), row["status"].lower()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


#: The panels of ``search.png``: hyperparameter, axis label, base of its log scale.
_SEARCH_PANELS = (("hp:latent_dim", "latent size (dimensions)", 2), ("hp:beta", "beta (weight of the KL term)", 10))


def _plain_log_ticks(axis, values) -> None:
    """Ticks of a log ``axis`` labelled as plain numbers (2, 4, 8 or 0.001, 0.01, 0.1): powers of its
    base, and 1-2-5 per decade when base-10 ``values`` span less than two decades; no minor labels."""
    import numpy as np
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    base = axis.get_transform().base
    subs = (1.0, 2.0, 5.0) if base == 10 and np.log10(values.max() / values.min()) < 2 else (1.0,)
    axis.set_major_locator(LogLocator(base=base, subs=subs))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())


def _spans_a_factor_4(values) -> bool:
    """Positive values spanning more than a factor 4: a log axis then shows at least two ticks."""
    return bool(values.size and (values > 0).all() and values.max() / values.min() > 4)


def _scale_axis(ax, which: str, values, base: int) -> None:
    """Axis ``which`` (``"x"``/``"y"``) of ``ax``: log (base ``base``, plain ticks) when the finite
    ``values`` span more than a factor 4, else linear (integer ticks for integer values)."""
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    values = values[np.isfinite(values)]
    axis = getattr(ax, f"{which}axis")
    if _spans_a_factor_4(values):
        getattr(ax, f"set_{which}scale")("log", base=base)
        _plain_log_ticks(axis, values)
    elif values.size and (values == np.round(values)).all():
        axis.set_major_locator(MaxNLocator(integer=True))


def plot_search(rows: list[dict[str, Any]], objective: str, path: str | Path) -> None:
    """``search.png``: the objective against latent size and against beta, one point per completed
    trial, coloured by alpha; the best is starred.  Axes spanning more than a factor 4 are logarithmic,
    ticked with plain numbers.  Written at ``ssvae_tf.figures.FIGURE_DPI``."""
    import numpy as np
    from matplotlib.colors import LogNorm, Normalize
    from matplotlib.figure import Figure

    from ssvae_tf.figures import save_figure

    done = [r for r in ranked(rows) if r["status"] == "COMPLETED" and r["objective"] is not None]
    fig = Figure(figsize=(10, 4.2), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    if done:
        y = np.array([r["objective"] for r in done], dtype=float)
        alpha = np.array([float(r.get("hp:alpha", 1.0)) for r in done])
        norm = (LogNorm if _spans_a_factor_4(alpha) else Normalize)(alpha.min(), alpha.max())
        colour = {"c": alpha, "cmap": "viridis", "norm": norm} if np.ptp(alpha) > 0 else {"color": "tab:blue"}
        for ax, (key, label, base) in zip(axes, _SEARCH_PANELS):
            x = np.array([float(r.get(key, np.nan)) for r in done])
            points = ax.scatter(x, y, s=40, edgecolors="k", linewidths=0.5, **colour)
            ax.scatter(x[:1], y[:1], marker="*", s=260, facecolors="none", edgecolors="r", linewidths=1.5,
                       label=f"best (trial {done[0]['trial']})")
            ax.set_xlabel(label)
            _scale_axis(ax, "x", x, base)
            ax.grid(alpha=0.3)
            ax.legend(loc="best", fontsize=8)
        _scale_axis(axes[0], "y", y, 10)
        if np.ptp(alpha) > 0:
            bar = fig.colorbar(points, ax=axes, label="alpha (weight of the statistics distance)")
            if isinstance(norm, LogNorm):
                _plain_log_ticks(bar.ax.yaxis, alpha)
    else:
        for ax in axes:
            ax.text(0.5, 0.5, "no completed trial", ha="center", va="center", transform=ax.transAxes)
    axes[0].set_ylabel(f"{objective} (lower is better)")
    fig.suptitle(f"{len(done)} completed trial(s)")
    save_figure(fig, path)


def _best_record(best: dict[str, Any], objective: str, data) -> dict[str, Any]:
    return {
        "objective": objective,
        "direction": "min",
        "value": best["objective"],
        "trial": best["trial"],
        "trial_id": best["trial_id"],
        "best_epoch": best["best_epoch"],
        "hyperparameters": {k[3:]: v for k, v in best.items() if k.startswith("hp:")},
        "metrics": {k[7:]: v for k, v in best.items() if k.startswith("metric:")},
        "image_shape": list(data.image_shape),
        "stats_scale": data.stats_scale,
        "run": f"{BEST_RUN}/: the best trial as a run directory; its model.keras is the trial's checkpoint "
               "(weights of its best epoch), reloaded, not retrained",
    }


def trial_history(trial) -> dict[str, list[float]]:
    """Per-epoch metrics of a KerasTuner trial (the mean over its executions), like ``model.fit``'s history."""
    history = {name: [observation.mean() for observation in metric.get_history()]
               for name, metric in trial.metrics.metrics.items()}
    epochs = min((len(values) for values in history.values()), default=0)
    return {name: [float(v) for v in values[:epochs]] for name, values in sorted(history.items())}


def write_best_run(tuner, trial, data, out_dir: Path) -> Path:
    """Write ``trial`` as a run directory in ``out_dir``: its settings, checkpoint, history and a figure."""
    from ssvae_tf.training import figure_examples, write_reconstructions

    model = tuner.load_model(trial)
    config = tuner.hypermodel.trial_config(trial.hyperparameters)
    run = RunDir(out_dir)
    run.write_settings(config, data.image_shape, data.n_images, model.stats_options.to_json(), data.reading)
    run.save_model(model)
    run.write_history(trial_history(trial))
    write_reconstructions(run, model, figure_examples(data.validation, volumes=model.from_slices))
    return run.path


def write_results(tuner, config, data, out_dir: str | Path, seconds: float = 0.0, verbose: int = 1) -> SearchSummary:
    """Write every result file of a finished search into ``out_dir`` and print the table.

    Raises:
        ValueError: if no trial completed (after ``trials.csv`` is written).
    """
    out_dir = Path(out_dir)
    objective = config.search.objective
    rows = trial_rows(tuner)
    table = markdown_table(rows, objective, config.searched)
    paths = {TRIALS_CSV: out_dir / TRIALS_CSV, SUMMARY_MD: out_dir / SUMMARY_MD,
             TENSORBOARD_DIR: out_dir / TENSORBOARD_DIR}
    text = csv_text(rows)
    atomic_write(paths[TRIALS_CSV], lambda tmp: tmp.write_text(text))
    done = [r for r in ranked(rows) if r["status"] == "COMPLETED" and r["objective"] is not None]
    report = (f"# Search summary\n\n{config.search.tuner} search, objective `{objective}` (min), "
              f"{len(done)} of {len(rows)} trial(s) completed.\n\n{table}\n")
    atomic_write(paths[SUMMARY_MD], lambda tmp: tmp.write_text(report))
    if verbose:
        print(f"\n{table}\n", flush=True)
    if not done:
        failed = next((r for r in rows if r["status"] != "COMPLETED"), None)
        message = tuner.oracle.trials[failed["trial_id"]].message if failed else None
        last = (message or "").strip().splitlines()[-1:] or ["no trial ran"]
        raise ValueError(f"no trial of the search in {out_dir} completed; last error: {last[0]}")
    best = done[0]
    paths[BEST_HYPERPARAMETERS] = write_json(out_dir / BEST_HYPERPARAMETERS, _best_record(best, objective, data))
    paths[BEST_RUN] = write_best_run(tuner, tuner.oracle.trials[best["trial_id"]], data, out_dir / BEST_RUN)
    paths[SEARCH_PNG] = out_dir / SEARCH_PNG
    plot_search(rows, objective, paths[SEARCH_PNG])
    if verbose:
        hp = ", ".join(f"{k[3:]}={_fmt(v)}" for k, v in best.items()
                       if k.startswith("hp:") and not k.startswith("hp:tuner/"))
        print(f"best: trial {best['trial']}, {objective}={_fmt(best['objective'])} ({hp})")
        print(f"results in {out_dir}: " + ", ".join(sorted(paths)) + f" ({seconds:.0f} s this run)", flush=True)
    return SearchSummary(objective, ranked(rows), best, table, paths, seconds)
