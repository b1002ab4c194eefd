"""The paper's evaluation figures as PNGs (matplotlib Agg, atomic writes)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from ssvae_tf.evaluation.evaluate import Evaluation
from ssvae_tf.figures import plt, plot_reconstructions
from ssvae_tf._io import atomic_write

_DPI = 80


def _save(fig, path: str | os.PathLike) -> None:
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=_DPI))
    plt.close(fig)


def plot_pairs(evaluation: Evaluation, stats_options: dict, path: str | os.PathLike, n: int = 6) -> None:
    """Originals, reconstructions and both centred autocorrelation maps (the paper's Tables 1-3)."""
    plot_reconstructions(evaluation.originals[:n], evaluation.reconstructions[:n], stats_options, path,
                         titles=("original", f"{evaluation.label}"))


def plot_nearest(evaluation: Evaluation, path: str | os.PathLike, n: int = 6) -> None:
    """Original, reconstruction, nearest training image in pixels and in statistics (Tables 4-6)."""
    rows = (("original", evaluation.originals), (evaluation.label, evaluation.reconstructions),
            ("nearest in pixels", evaluation.nn_pixel), ("nearest in statistics", evaluation.nn_stats))
    n = min(n, len(evaluation.originals))
    fig, axes = plt.subplots(len(rows), n, figsize=(1.8 * n + 0.8, 7.4), squeeze=False, layout="constrained")
    for i, (name, images) in enumerate(rows):
        for j in range(n):
            ax = axes[i, j]
            ax.imshow(images[j, ..., 0], cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(name)
    fig.suptitle(f"{evaluation.label}: reconstructions and their nearest training images")
    _save(fig, path)


def plot_volume_fraction_histogram(evaluations: Sequence[Evaluation], path: str | os.PathLike) -> None:
    """Histogram of the volume-fraction difference in % (the paper's Figure 2, 20 bins)."""
    fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    for evaluation in evaluations:
        values = evaluation.metrics["volume_fraction_diff_pct"]
        values = values[np.isfinite(values)]
        ax.hist(values, bins=20, alpha=0.6, label=f"{evaluation.label} (mean {values.mean():.1f} %)")
    ax.set_xlabel("|black(original) - black(reconstruction)| / black(original)  [%]")
    ax.set_ylabel("images")
    ax.legend()
    ax.set_title("volume-fraction difference")
    _save(fig, path)


def _with_spread(values: np.ndarray) -> np.ndarray:
    """``values`` as floats; a constant group becomes its value +-0.001 (a density estimate needs spread)."""
    values = np.asarray(values, dtype=np.float64)
    return values[0] + np.array([-1e-3, 1e-3]) if np.ptp(values) == 0 else values


def plot_line_counts(evaluations: Sequence[Evaluation], path: str | os.PathLike) -> None:
    """Violin plots of line counts: originals, then reconstructions and nearest-in-statistics per model
    (the paper's Figure 3)."""
    groups = [("originals", evaluations[0].metrics["n_lines_original"])]
    for evaluation in evaluations:
        groups.append((f"{evaluation.label}\nreconstructions", evaluation.metrics["n_lines_reconstruction"]))
        groups.append((f"{evaluation.label}\nnearest in stats", evaluation.metrics["n_lines_nn_stats"]))
    fig, ax = plt.subplots(figsize=(1.7 * len(groups) + 1, 4), layout="constrained")
    ax.violinplot([_with_spread(values) for _, values in groups], showmedians=True)
    ax.set_xticks(np.arange(1, len(groups) + 1), [name for name, _ in groups])
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel("lines per image")
    ax.set_title("line counts")
    _save(fig, path)


def plot_error_histograms(evaluations: Sequence[Evaluation], path: str | os.PathLike) -> None:
    """Histograms of the per-image pixel and statistics MSE, median and mean marked (the paper's B.4):
    one row per error, one column per model."""
    errors = (("pixel MSE", "pixel_mse"), ("statistics MSE", "stats_mse"))
    fig, axes = plt.subplots(len(errors), len(evaluations), figsize=(4.5 * len(evaluations), 7),
                             squeeze=False, layout="constrained")
    for i, (name, key) in enumerate(errors):
        for j, evaluation in enumerate(evaluations):
            values = evaluation.metrics[key]
            ax = axes[i, j]
            ax.hist(values, bins=30, color="0.6")
            ax.axvline(np.median(values), color="tab:blue", label=f"median {np.median(values):.2e}")
            ax.axvline(np.mean(values), color="tab:red", linestyle="--", label=f"mean {np.mean(values):.2e}")
            ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
            ax.set_title(f"{evaluation.label}: {name}")
            ax.legend(fontsize=8)
    _save(fig, path)
