"""The paper's evaluation figures and learning curves as PNGs (each on its own Matplotlib ``Figure``, written
atomically at ``FIGURE_DPI`` by :func:`~ssvae_tf.figures.save_figure`).

Figures that compare models bin every model's values with the same bin edges
and share their axes, so bar heights and positions compare directly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from ssvae_tf.evaluation.evaluate import Evaluation
from ssvae_tf.figures import (
    VOLUME_AXES,
    mid_slices,
    plot_reconstructions,
    save_figure,
    shared_bins,
    show_image,
    wrap_label,
)
from ssvae_tf.stats.two_point import StatsOptions
from ssvae_tf.stats.units import PixelSize


def plot_pairs(evaluation: Evaluation, stats_options: StatsOptions, path: str | os.PathLike, n: int = 6,
               pixel_size: PixelSize | None = None) -> None:
    """Originals, reconstructions, both centred autocorrelation maps and their radial averages
    (the paper's Tables 1-3) of the first ``n`` examples; volumes show three orthogonal mid-slices
    and the maps' planes through the zero lag (:func:`~ssvae_tf.figures.plot_reconstructions`); lags
    and radii in ``pixel_size``'s unit (default px, or voxels)."""
    plot_reconstructions(evaluation.originals[:n], evaluation.reconstructions[:n], stats_options, path,
                         titles=("original", f"{evaluation.label}"), pixel_size=pixel_size)


def plot_nearest(evaluation: Evaluation, path: str | os.PathLike, n: int = 6) -> None:
    """Original, reconstruction, nearest training image in pixels and in statistics (Tables 4-6).

    Under each reconstruction its pixel MSE to the original, under each
    neighbour its distance to the reconstruction (pixel MSE, statistics MSE).
    Volumes show their middle z-slice (``volume[D // 2]``), as the title says.
    """
    metrics = evaluation.metrics
    rows = (("original", evaluation.originals, None),
            (evaluation.label, evaluation.reconstructions, ("pixel MSE", metrics["pixel_mse"])),
            ("nearest in pixels", evaluation.nn_pixel, ("pixel MSE", metrics["nn_pixel_mse"])),
            ("nearest in statistics", evaluation.nn_stats, ("stats MSE", metrics["nn_stats_mse"])))
    n = min(n, len(evaluation.originals))
    fig = Figure(figsize=(1.9 * n + 0.6, 8.4), layout="constrained")
    axes = fig.subplots(len(rows), n, squeeze=False)
    for i, (name, images, distance) in enumerate(rows):
        axes[i, 0].set_ylabel(name)
        for j in range(n):
            show_image(axes[i, j], images[j])
            if distance is not None:
                axes[i, j].set_xlabel(f"{distance[0]} {distance[1][j]:.2e}", fontsize=8)
    volumes = evaluation.originals.ndim == 5
    fig.suptitle(f"{evaluation.label}: reconstructions and their nearest training images "
                 "(MSE of a neighbour: to the reconstruction)" + ("\nvolumes: middle z-slice" if volumes else ""))
    save_figure(fig, path)


def plot_volume_rows(rows: Mapping[str, np.ndarray], path: str | os.PathLike, title: str, n: int = 3) -> None:
    """Three orthogonal mid-slices (z, y, x; :func:`~ssvae_tf.figures.mid_slices`) of the first ``n``
    volumes of every row (label -> ``(m, D, H, W, 1)`` in [0, 1], e.g. real crops and a model's samples),
    one row per label (:func:`~ssvae_tf.figures.wrap_label`), under ``title``: a PNG."""
    n = min(n, *(len(volumes) for volumes in rows.values()))
    fig = Figure(figsize=(1.3 * 3 * n + 1.8, 1.45 * len(rows) + 0.8), layout="constrained")
    axes = fig.subplots(len(rows), 3 * n, squeeze=False)
    for r, (label, volumes) in enumerate(rows.items()):
        for v in range(n):
            for k, plane in enumerate(mid_slices(volumes[v, ..., 0])):
                ax = axes[r, 3 * v + k]
                ax.imshow(plane, cmap="gray", vmin=0, vmax=1)
                ax.set_xticks([])
                ax.set_yticks([])
                if r == 0:
                    ax.set_title(f"volume {v + 1}\n{VOLUME_AXES[k]} = {volumes.shape[1 + k] // 2}", fontsize=7)
        axes[r, 0].set_ylabel(wrap_label(label), rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle(title, fontsize=10)
    save_figure(fig, path)


def plot_volume_fraction_histogram(evaluations: Sequence[Evaluation], path: str | os.PathLike) -> None:
    """Histogram of the volume-fraction difference in % (the paper's Figure 2): 20 bins shared by all models."""
    groups = [e.metrics["volume_fraction_diff_pct"] for e in evaluations]
    groups = [g[np.isfinite(g)] for g in groups]
    edges = shared_bins(groups, 20)
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.subplots()
    for k, (evaluation, values) in enumerate(zip(evaluations, groups)):
        ax.hist(values, bins=edges, histtype="stepfilled", color=f"C{k}", alpha=0.35,
                label=f"{evaluation.label} (mean {values.mean():.1f} %)")
        ax.hist(values, bins=edges, histtype="step", color=f"C{k}", linewidth=1.2)
    ax.set_xlabel("volume-fraction difference |black(original) - black(reconstruction)| / black(original) [%]",
                  fontsize=9)
    ax.set_ylabel("images")
    ax.legend()
    ax.set_title("volume-fraction difference")
    save_figure(fig, path)


def confusion_counts(truth: np.ndarray, predicted: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """``(K, K)`` int64 counts of images per (``truth``, ``predicted``) pair of the ``K`` integer ``classes``.

    Rows are the values of ``truth``, columns those of ``predicted``; values
    not in ``classes`` are not counted.
    """
    truth, predicted = np.asarray(truth), np.asarray(predicted)
    counts = np.zeros((len(classes), len(classes)), dtype=np.int64)
    rows, columns = np.searchsorted(classes, truth), np.searchsorted(classes, predicted)
    known = np.isin(truth, classes) & np.isin(predicted, classes)
    np.add.at(counts, (rows[known], columns[known]), 1)
    return counts


#: Confusion maps with more classes than this get no cell annotations and fewer ticks.
_ANNOTATED_CLASSES = 16


def _plot_confusion(ax, counts: np.ndarray, classes: np.ndarray, vmax: int):
    """Heat map of ``counts`` ``(K, K)`` on axes in class values, non-zero cells annotated (up to
    ``_ANNOTATED_CLASSES`` classes); returns the image."""
    low, high = classes[0] - 0.5, classes[-1] + 0.5
    image = ax.imshow(counts, cmap="Blues", vmin=0, vmax=vmax, extent=(low, high, high, low))
    if len(classes) > _ANNOTATED_CLASSES:
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.yaxis.get_major_locator().set_params(integer=True)
        return image
    for (row, column), count in np.ndenumerate(counts):
        if count:
            ax.text(classes[column], classes[row], str(count), ha="center", va="center", fontsize=8,
                    color="white" if count > 0.6 * vmax else "black")
    ax.set_xticks(classes)
    ax.set_yticks(classes)
    return image


def plot_line_counts(evaluations: Sequence[Evaluation], path: str | os.PathLike) -> None:
    """Line counts as confusion heat maps (the paper's Figure 3): one column per model, rows for the
    reconstruction and for the nearest training image in statistics; cell = images with that
    (original, other) pair of counts, the diagonal are exact counts. One colour scale for all."""
    compared = (("reconstruction", "reconstruction", "n_lines_reconstruction"),
                ("nearest training image in statistics", "nearest image", "n_lines_nn_stats"))
    truth = [e.metrics["n_lines_original"] for e in evaluations]
    every = np.concatenate(truth + [e.metrics[key] for e in evaluations for *_, key in compared])
    classes = np.arange(every.min(), every.max() + 1)
    counts = [[confusion_counts(t, e.metrics[key], classes) for t, e in zip(truth, evaluations)]
              for *_, key in compared]
    vmax = max(int(c.max()) for row in counts for c in row)
    side = min(0.35 * len(classes) + 1.6, 6.0)
    fig = Figure(figsize=(side * len(evaluations) + 1.2, 2 * side), layout="constrained")
    axes = fig.subplots(len(compared), len(evaluations), squeeze=False)
    for i, (name, short, _) in enumerate(compared):
        for j, evaluation in enumerate(evaluations):
            ax = axes[i, j]
            image = _plot_confusion(ax, counts[i][j], classes, vmax)
            exact = np.trace(counts[i][j]) / max(counts[i][j].sum(), 1)
            ax.set_title(f"{evaluation.label}: {name}\n{exact:.0%} exact", fontsize=9)
            ax.set_xlabel(f"lines in {short}")
            ax.set_ylabel("lines in original")
    fig.colorbar(image, ax=axes, shrink=0.6, label="images")
    fig.suptitle("line counts: original vs reconstruction and nearest training image")
    save_figure(fig, path)


def _mark_centre(ax, values: np.ndarray) -> None:
    median, mean = np.median(values), np.mean(values)
    ax.axvline(median, color="tab:blue", label=f"median {median:.2e}")
    ax.axvline(mean, color="tab:red", linestyle="--", label=f"mean {mean:.2e}")
    ax.legend(fontsize=8)


def plot_error_histograms(evaluations: Sequence[Evaluation], path: str | os.PathLike) -> None:
    """Histograms of the per-image pixel and statistics MSE (a model from slices: the slice statistics MSE),
    median and mean marked (the paper's B.4): one row per error that every model has, one column per
    model; the models of a row share 30 bins and both axes."""
    errors = [(name, key) for name, key in (("pixel MSE per image", "pixel_mse"),
                                            ("statistics MSE per image", "stats_mse"),
                                            ("slice statistics MSE per crop (3 planes)", "slice_mse"))
              if all(key in e.metrics for e in evaluations)]
    fig = Figure(figsize=(4.5 * len(evaluations) + 0.4, 3.5 * len(errors)), layout="constrained")
    axes = fig.subplots(len(errors), len(evaluations), squeeze=False, sharex="row", sharey="row")
    for i, (name, key) in enumerate(errors):
        edges = shared_bins([e.metrics[key] for e in evaluations], 30)
        for j, evaluation in enumerate(evaluations):
            ax = axes[i, j]
            ax.hist(evaluation.metrics[key], bins=edges, color="0.6")
            _mark_centre(ax, evaluation.metrics[key])
            ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
            ax.set_title(f"{evaluation.label}: {name}")
            ax.set_xlabel(name)
        axes[i, 0].set_ylabel("images")
    save_figure(fig, path)


#: Axis labels of history metrics that need more words than their name.
_METRIC_LABELS = {"val_stats_distance": "validation statistics MSE per lag"}


def plot_learning_curves(histories: Mapping[str, Mapping[str, Sequence[float]]], path: str | os.PathLike,
                         metric: str = "val_stats_distance", title: str | None = None) -> None:
    """One line per run of ``metric`` against the epoch (1-based) on a log axis.

    Args:
        histories: run label (e.g. ``"ss-vae seed 0"``) -> its per-epoch history (metric name ->
            one value per epoch, as ``RunDir.read_history`` returns); runs without ``metric`` (or with
            no epochs of it) are left out.
        path: the PNG to write.
        metric: the history key to draw, e.g. ``"val_stats_distance"`` or ``"val_loss"``.
        title: figure title; by default ``"learning curves: <metric>"``.

    Raises:
        ValueError: if no run has ``metric``.
    """
    curves = {label: np.asarray(history[metric], dtype=np.float64)
              for label, history in histories.items() if len(history.get(metric, ()))}
    if not curves:
        raise ValueError(f"no history has the metric {metric!r} (runs: {', '.join(histories) or 'none'})")
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.subplots()
    for label, values in curves.items():
        ax.plot(np.arange(1, len(values) + 1), values, marker="o" if len(values) < 30 else None,
                markersize=3, label=label)
    ax.set_yscale("log")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("epoch")
    ax.set_ylabel(_METRIC_LABELS.get(metric, metric))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or f"learning curves: {metric}")
    save_figure(fig, path)
