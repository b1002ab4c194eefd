"""Summaries of per-image results: means, medians, accuracies, a confusion table, the paper's numbers."""

from __future__ import annotations

import numpy as np

from ssvae_tf.evaluation.evaluate import Evaluation
from ssvae_tf.paper import PAPER_NUMBERS

def _finite(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return values[np.isfinite(values)]


def summarise(evaluation: Evaluation) -> dict[str, float]:
    """Means and medians of the errors, accuracies in %: name -> value.

    Keys: ``n``, ``{stats_mse,pixel_mse,volume_fraction_diff}_{mean,median}``
    (the volume-fraction difference in %), and with line data
    ``orientation_pct``, ``line_count_pct`` (reconstructions whose measured
    orientation / line count equal the original's) and ``nn_stats_line_count_pct``.
    """
    m = evaluation.metrics
    summary: dict[str, float] = {"n": float(len(m["pixel_mse"]))}
    for name, key in (("stats_mse", "stats_mse"), ("pixel_mse", "pixel_mse"),
                      ("volume_fraction_diff", "volume_fraction_diff_pct")):
        values = _finite(m[key])
        summary[f"{name}_mean"] = float(values.mean()) if values.size else float("nan")
        summary[f"{name}_median"] = float(np.median(values)) if values.size else float("nan")
    if evaluation.has_lines:
        truth = m["n_lines_original"]
        summary["orientation_pct"] = 100.0 * float(np.mean(m["orientation_reconstruction"] ==
                                                           m["orientation_original"]))
        summary["line_count_pct"] = 100.0 * float(np.mean(m["n_lines_reconstruction"] == truth))
        summary["nn_stats_line_count_pct"] = 100.0 * float(np.mean(m["n_lines_nn_stats"] == truth))
    return summary


def confusion_table(evaluation: Evaluation) -> str:
    """Markdown table: rows = line count of the originals, columns = of the reconstructions."""
    truth = evaluation.metrics["n_lines_original"]
    found = evaluation.metrics["n_lines_reconstruction"]
    rows, cols = np.unique(truth), np.unique(np.concatenate([truth, found]))
    lines = ["| original \\ reconstruction | " + " | ".join(str(c) for c in cols) + " |",
             "|---|" + "---|" * len(cols)]
    for r in rows:
        counts = [int(np.sum((truth == r) & (found == c))) for c in cols]
        lines.append(f"| {r} | " + " | ".join(str(c) for c in counts) + " |")
    return "\n".join(lines)


#: Rows of the comparison table: label, summary keys, format.
TABLE_ROWS = (
    ("stats MSE mean / median", ("stats_mse_mean", "stats_mse_median"), "{:.2e}"),
    ("pixel MSE mean / median", ("pixel_mse_mean", "pixel_mse_median"), "{:.2e}"),
    ("orientation correct", ("orientation_pct",), "{:.0f} %"),
    ("line count correct", ("line_count_pct",), "{:.0f} %"),
    ("volume-fraction difference, mean / median", ("volume_fraction_diff_mean", "volume_fraction_diff_median"),
     "{:.0f} %"),
)


def _cell(values: dict, keys: tuple[str, ...], fmt: str) -> str:
    found = [values.get(key) for key in keys]
    if all(v is None for v in found):
        return "—"
    return " / ".join("—" if v is None or not np.isfinite(v) else fmt.format(v) for v in found)


def comparison_table(summaries: dict[str, dict[str, float]], data: str | None = None) -> str:
    """Markdown table of the summaries side by side with the paper's numbers for ``data``.

    Args:
        summaries: model label (``"baseline"``, ``"ss-vae"``) -> :func:`summarise` output.
        data: ``"lines"`` or ``"lines-hard"`` adds the paper's columns; anything else omits them.
    """
    paper = PAPER_NUMBERS.get(data or "", {})
    columns = [(f"paper {label}", paper[label]) for label in ("baseline", "ss-vae") if label in paper]
    columns += [(f"our {label}", summary) for label, summary in summaries.items()]
    header = "| metric | " + " | ".join(name for name, _ in columns) + " |"
    lines = [header, "|---|" + "---|" * len(columns)]
    for label, keys, fmt in TABLE_ROWS:
        if all(_cell(values, keys, fmt) == "—" for _, values in columns):
            continue
        lines.append(f"| {label} | " + " | ".join(_cell(values, keys, fmt) for _, values in columns) + " |")
    return "\n".join(lines)


def stats_ratio(summaries: dict[str, dict[str, float]]) -> float | None:
    """SS-VAE / baseline mean statistics error (see :func:`ssvae_tf.paper.paper_stats_ratio`), if both
    were evaluated."""
    if "ss-vae" in summaries and "baseline" in summaries:
        return summaries["ss-vae"]["stats_mse_mean"] / summaries["baseline"]["stats_mse_mean"]
    return None
