"""Summaries of per-image results: means, medians, accuracies with 95 % bootstrap confidence
intervals, a confusion table, the paper's numbers."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import numpy as np

from ssvae_tf._checks import check_positive_int, is_real
from ssvae_tf.evaluation.evaluate import Evaluation
from ssvae_tf.stats.two_point import PLANE_NAMES
from ssvae_tf.paper import PAPER_NUMBERS
from ssvae_tf.stats.morphology import pearson
from ssvae_tf.stats.phases import PHASE_THRESHOLD
from ssvae_tf.stats.units import PixelSize, resolve

#: Bootstrap resamples of every confidence interval.
N_RESAMPLES = 2000
#: Coverage of every confidence interval.
CONFIDENCE = 0.95
#: Elements of one block of the bootstrap index matrix (bounds its memory, 8 bytes each).
_INDEX_BLOCK_ELEMENTS = 1 << 22

_NAN_INTERVAL = (float("nan"), float("nan"))


def _finite(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return values[np.isfinite(values)]


def _resampled_indices(n: int, n_resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Rows of the ``(n_resamples, n)`` bootstrap index matrix (indices into ``n`` items, drawn with
    replacement by ``np.random.default_rng(seed)``), in blocks of at most ``_INDEX_BLOCK_ELEMENTS``.

    The blocks are consecutive draws of one generator, so the matrix does not depend on the block size.
    """
    rng = np.random.default_rng(seed)
    rows = max(1, _INDEX_BLOCK_ELEMENTS // n)
    for start in range(0, n_resamples, rows):
        yield rng.integers(0, n, size=(min(rows, n_resamples - start), n))


def _percentile_interval(statistics: np.ndarray, confidence: float) -> tuple[float, float]:
    """The central ``confidence`` range of the bootstrap ``statistics`` ``(n_resamples,)``."""
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(statistics, [tail, 1.0 - tail])
    return float(low), float(high)


def _check_resampling(n_resamples: int, confidence: float) -> None:
    check_positive_int(n_resamples, "n_resamples")
    if not (is_real(confidence) and 0.0 < confidence < 1.0):
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")


def bootstrap_interval(values: np.ndarray, statistic: Callable[..., np.ndarray] = np.mean,
                       n_resamples: int = N_RESAMPLES, confidence: float = CONFIDENCE,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval ``(low, high)`` of ``statistic`` over the images.

    Args:
        values: ``(n,)`` one value per image, float or boolean (a boolean's mean is a fraction in
            [0, 1]: the caller scales it to %); NaN and inf are dropped first, as in the summaries.
        statistic: a numpy reduction taking ``axis`` (``np.mean``, ``np.median``); applied along
            ``axis=1`` of ``(block, n)`` resampled values.
        n_resamples: bootstrap resamples (rows of the index matrix).
        confidence: coverage, e.g. 0.95 for the 2.5th and 97.5th percentiles.
        seed: seed of ``np.random.default_rng``: equal arguments give equal intervals.

    Returns:
        ``(low, high)`` in the units of ``values``; ``(nan, nan)`` when no value is finite.
    """
    _check_resampling(n_resamples, confidence)
    values = _finite(values)
    if values.size == 0:
        return _NAN_INTERVAL
    statistics = np.concatenate([statistic(values[index], axis=1)
                                 for index in _resampled_indices(values.size, n_resamples, seed)])
    return _percentile_interval(statistics, confidence)


def paired_ratio_interval(numerator: np.ndarray, denominator: np.ndarray, n_resamples: int = N_RESAMPLES,
                          confidence: float = CONFIDENCE, seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of ``mean(numerator) / mean(denominator)``.

    Each resample draws one set of image indices for both arrays, so values of
    the same image stay together (two models evaluated on the same images).

    Args:
        numerator, denominator: ``(n,)`` one value per image, the same images in the same order;
            images where either value is NaN or inf are dropped from both.
        n_resamples, confidence, seed: as in :func:`bootstrap_interval`.

    Returns:
        ``(low, high)``, a dimensionless ratio; ``(nan, nan)`` when no image has two finite values.

    Raises:
        ValueError: if the arrays are not of one shape ``(n,)``.
    """
    _check_resampling(n_resamples, confidence)
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    if numerator.ndim != 1 or numerator.shape != denominator.shape:
        raise ValueError(f"paired values must be two (n,) arrays of one length, got shapes "
                         f"{numerator.shape} and {denominator.shape}")
    both = np.isfinite(numerator) & np.isfinite(denominator)
    numerator, denominator = numerator[both], denominator[both]
    if numerator.size == 0:
        return _NAN_INTERVAL
    ratios = np.concatenate([numerator[index].mean(axis=1) / denominator[index].mean(axis=1)
                             for index in _resampled_indices(numerator.size, n_resamples, seed)])
    return _percentile_interval(ratios, confidence)


def correlation_interval(x: np.ndarray, y: np.ndarray, n_resamples: int = N_RESAMPLES,
                         confidence: float = CONFIDENCE, seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of :func:`~ssvae_tf.stats.morphology.pearson` ``(x, y)``,
    the images resampled in pairs: ``(low, high)``; ``(nan, nan)`` when no resample has a finite value.

    Args:
        x, y: ``(n,)`` one value per image, the same images in the same order.
        n_resamples, confidence, seed: as in :func:`bootstrap_interval`.
    """
    _check_resampling(n_resamples, confidence)
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    both = np.isfinite(x) & np.isfinite(y)
    x, y = x[both], y[both]
    if x.size < 2:
        return _NAN_INTERVAL
    statistics = np.array([pearson(x[row], y[row]) for index in _resampled_indices(x.size, n_resamples, seed)
                           for row in index])
    statistics = statistics[np.isfinite(statistics)]
    return _percentile_interval(statistics, confidence) if statistics.size else _NAN_INTERVAL


def _add_mean(summary: dict[str, float], key: str, values: np.ndarray, scale: float = 1.0) -> None:
    """``summary[key]`` = ``scale`` x the mean of the finite ``values`` ``(n,)``, with
    ``key_ci_low`` / ``key_ci_high`` (:func:`bootstrap_interval`, same scale); NaN without values."""
    finite = _finite(values)
    low, high = bootstrap_interval(finite)
    summary[key] = scale * float(finite.mean()) if finite.size else float("nan")
    summary[f"{key}_ci_low"], summary[f"{key}_ci_high"] = scale * low, scale * high


def summarise(evaluation: Evaluation) -> dict[str, float]:
    """Means and medians of the errors, accuracies in %, with 95 % bootstrap CIs: name -> value.

    Keys: ``n``, ``{stats_mse,pixel_mse,volume_fraction_diff}_{mean,median}``
    (the volume-fraction difference in %; a model from slices has ``slice_mse`` and
    ``slice_mse_plane{k}`` instead of the pixel and statistics MSE), and with line data
    ``orientation_pct``, ``line_count_pct`` (reconstructions whose measured
    orientation / line count equal the original's) and ``nn_stats_line_count_pct``.
    Every mean and percentage ``key`` also has ``key_ci_low`` and ``key_ci_high``,
    in its units (:func:`bootstrap_interval` over the images, ``N_RESAMPLES``
    resamples, seed 0); medians have none.
    """
    m = evaluation.metrics
    summary: dict[str, float] = {"n": float(len(m["volume_fraction_diff_pct"]))}
    errors = (("stats_mse", "stats_mse"), ("pixel_mse", "pixel_mse"), ("slice_mse", "slice_mse"),
              *((f"slice_mse_plane{k}", f"slice_mse_plane{k}") for k in range(3)),
              ("volume_fraction_diff", "volume_fraction_diff_pct"))
    for name, key in ((name, key) for name, key in errors if key in m):
        values = _finite(m[key])
        _add_mean(summary, f"{name}_mean", values)
        summary[f"{name}_median"] = float(np.median(values)) if values.size else float("nan")
    if evaluation.has_lines:
        truth = m["n_lines_original"]
        _add_mean(summary, "orientation_pct", m["orientation_reconstruction"] == m["orientation_original"], 100.0)
        _add_mean(summary, "line_count_pct", m["n_lines_reconstruction"] == truth, 100.0)
        _add_mean(summary, "nn_stats_line_count_pct", m["n_lines_nn_stats"] == truth, 100.0)
    if "binarised_volume_fraction_error_points" in m:
        summary.update(summarise_binarised(m))
    return summary


#: The per-image errors of the binarised reconstruction (and their real-vs-real yardsticks) that
#: :func:`summarise_binarised` averages.
BINARISED_ERRORS = ("volume_fraction_error_points", "perimeter_error_pct", "chord_distance")


def summarise_binarised(metrics: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Means (with 95 % bootstrap CIs) of :func:`~ssvae_tf.evaluation.metrics.binarised_metrics`, and the
    per-crop fidelity: name -> value.

    Keys: ``binarised_{error}_mean`` and ``real_pair_{error}_mean`` for each of :data:`BINARISED_ERRORS`,
    ``binary_share_pct_mean``, ``binary_share_original_pct_mean`` (each with ``_ci_low`` / ``_ci_high``),
    and ``fidelity_{name}`` (with ``_ci_low`` / ``_ci_high``, :func:`correlation_interval`): the
    Pearson correlation over the images between the original's and the reconstruction's
    ``binarised_{name}_original`` / ``_reconstruction`` descriptor.
    """
    summary: dict[str, float] = {}
    for error in (error for error in BINARISED_ERRORS if f"binarised_{error}" in metrics):
        for prefix in ("binarised_", "real_pair_"):
            _add_mean(summary, f"{prefix}{error}_mean", metrics[f"{prefix}{error}"])
    for key in ("binary_share_pct", "binary_share_original_pct"):
        _add_mean(summary, f"{key}_mean", metrics[key])
    names = [key[len("binarised_"):-len("_original")] for key in metrics
             if key.startswith("binarised_") and key.endswith("_original")]
    _add_set_differences(summary, metrics, [name for name in names if name.startswith("perimeter_axis")])
    for name in names:
        x, y = metrics[f"binarised_{name}_original"], metrics[f"binarised_{name}_reconstruction"]
        summary[f"fidelity_{name}"] = pearson(x, y)
        summary[f"fidelity_{name}_ci_low"], summary[f"fidelity_{name}_ci_high"] = correlation_interval(x, y)
    return summary


def _chords_in(summary: Mapping[str, float], unit: PixelSize) -> dict[str, float]:
    """``summary`` with its chord-length distances (px, and their CIs) in ``unit``."""
    return {key: unit.length(value) if "chord_distance" in key and _is_number(value) else value
            for key, value in summary.items()}


def _add_set_differences(summary: dict[str, float], metrics: Mapping[str, np.ndarray],
                         perimeters: list[str]) -> None:
    """The reconstructions as a set against the originals as a set (the bias a per-image error hides):
    ``set_volume_fraction_difference_points``, the mean black share of the reconstructions minus the
    originals' (percentage points), and ``set_perimeter_difference_pct``, their mean specific perimeter
    (summed over the ``perimeters`` axis columns) relative to the originals', ``100 (P_rec / P_orig - 1)``;
    each with ``_ci_low`` / ``_ci_high`` (the images resampled in pairs)."""
    _add_mean(summary, "set_volume_fraction_difference_points", metrics["binarised_volume_fraction_reconstruction"]
              - metrics["binarised_volume_fraction_original"], 100.0)
    if not perimeters:
        return
    totals = [sum(metrics[f"binarised_{name}_{which}"] for name in perimeters)
              for which in ("reconstruction", "original")]
    both = np.isfinite(totals[0]) & np.isfinite(totals[1])
    mean_original = float(totals[1][both].mean()) if both.any() else float("nan")
    ratio = float(totals[0][both].mean()) / mean_original if mean_original > 0 else float("nan")
    low, high = paired_ratio_interval(*totals) if mean_original > 0 else _NAN_INTERVAL
    for suffix, value in (("", ratio), ("_ci_low", low), ("_ci_high", high)):
        summary[f"set_perimeter_difference_pct{suffix}"] = 100.0 * (value - 1.0)


def binarised_table(summaries: dict[str, dict[str, float]], pixel_size: PixelSize | None = None) -> str:
    """Markdown table of the binarised reconstructions (:func:`summarise_binarised`), one column per
    model and a last column with the real-vs-real yardstick; empty when no summary has them.  Chord
    lengths in ``pixel_size``'s unit (default px)."""
    unit = resolve(pixel_size, 2)
    summaries = {label: _chords_in(summary, unit) for label, summary in summaries.items()
                 if "binarised_volume_fraction_error_points_mean" in summary}
    if not summaries:
        return ""
    first = next(iter(summaries.values()))
    rows = [("volume-fraction error (points)", "binarised_volume_fraction_error_points_mean",
             "real_pair_volume_fraction_error_points_mean", "{:.1f}", ""),
            ("plainly binary pixels (< 0.05 or > 0.95)", "binary_share_pct_mean", "binary_share_original_pct_mean",
             "{:.0f}", " %"),
            ("perimeter error", "binarised_perimeter_error_pct_mean", "real_pair_perimeter_error_pct_mean",
             "{:.0f}", " %"),
            (f"chord-length distance ({unit.label})", "binarised_chord_distance_mean", "real_pair_chord_distance_mean",
             "{:.2f}", ""),
            ("set: mean volume fraction, reconstructions - originals (points)",
             "set_volume_fraction_difference_points", None, "{:+.1f}", ""),
            ("set: mean perimeter, reconstructions vs originals", "set_perimeter_difference_pct", None, "{:+.0f}",
             " %")]
    names = [key[len("fidelity_"):] for key in first if key.startswith("fidelity_") and not key.endswith("_ci_low")
             and not key.endswith("_ci_high")]
    rows += [(f"fidelity r, {name.replace('_', ' ')}", f"fidelity_{name}", None, "{:.2f}", "") for name in names]
    rows = [row for row in rows if any(row[1] in summary for summary in summaries.values())]
    lines = ["| metric | " + " | ".join(f"our {label}" for label in summaries) + " | real vs real |",
             "|---|" + "---|" * (len(summaries) + 1)]
    for label, key, yardstick, fmt, suffix in rows:
        cells = [_value(summary, key, fmt, suffix) for summary in summaries.values()]
        reference = (_value(first, yardstick, fmt, suffix) if yardstick
                     else "0" if key.startswith("set_") else "1 (0: one image for all)")
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {reference} |")
    return "\n".join(lines)


#: What :func:`binarised_table` shows, in words (under the table in ``report.md``).
BINARISED_NOTE = (
    f"Not the paper's protocol: both the original and the reconstruction are read as phases at the threshold "
    f"{PHASE_THRESHOLD} (black below it), with the realism metrics of `ssvae_tf.stats.morphology`. Volume-fraction "
    "error: |black share of the reconstruction - of the original| in percentage points; plainly binary pixels: of "
    "the grey reconstruction (real vs real: of the originals); perimeter error: |P_rec - P_orig| / P_orig, P the "
    "phase changes between neighbours per pixel summed over the axes; chord-length distance: Wasserstein-1 "
    "distance (px) of the chord-length histograms, mean over both phases and the axes. Set rows: the "
    "reconstructions' mean against the originals' mean (a bias that the per-image errors, which include the "
    "spread between crops, hide). Real vs real: the same "
    "error between each original and the next validation original, the spread between real crops. Fidelity r: "
    "Pearson correlation over the images between the original's and the reconstruction's descriptor (volume "
    "fraction, perimeter along each axis, anisotropy = the first axis's share of the perimeter): 1 when each "
    "reconstruction follows its input, about 0 for a model that draws the same image for every input.")


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


#: Rows of the comparison table: label, summary keys, number format, unit.
TABLE_ROWS = (
    ("stats MSE mean / median", ("stats_mse_mean", "stats_mse_median"), "{:.2e}", ""),
    ("pixel MSE mean / median", ("pixel_mse_mean", "pixel_mse_median"), "{:.2e}", ""),
    ("slice stats MSE (3 planes) mean / median", ("slice_mse_mean", "slice_mse_median"), "{:.2e}", ""),
    *((f"slice stats MSE, {plane} plane, mean", (f"slice_mse_plane{k}_mean",), "{:.2e}", "")
      for k, plane in enumerate(PLANE_NAMES)),
    ("orientation correct", ("orientation_pct",), "{:.0f}", " %"),
    ("line count correct", ("line_count_pct",), "{:.0f}", " %"),
    ("volume-fraction difference, mean / median", ("volume_fraction_diff_mean", "volume_fraction_diff_median"),
     "{:.0f}", " %"),
)


def _is_number(value: float | None) -> bool:
    return value is not None and bool(np.isfinite(value))


def format_interval(interval: tuple[float, float], fmt: str) -> str:
    """``" [low, high]"`` with both ends in ``fmt`` (e.g. ``"{:.2e}"``); empty if either is not finite."""
    if not all(_is_number(end) for end in interval):
        return ""
    return " [" + ", ".join(fmt.format(end) for end in interval) + "]"


def _value(values: Mapping[str, float | None], key: str, fmt: str, unit: str) -> str:
    """``values[key]`` with its unit and, where ``values`` holds them, its CI: ``48 % [45, 51]``."""
    value = values.get(key)
    if not _is_number(value):
        return "—"
    interval = (values.get(f"{key}_ci_low"), values.get(f"{key}_ci_high"))
    return fmt.format(value) + unit + format_interval(interval, fmt)


def _cell(values: Mapping[str, float | None], keys: tuple[str, ...], fmt: str, unit: str) -> str:
    if all(values.get(key) is None for key in keys):
        return "—"
    return " / ".join(_value(values, key, fmt, unit) for key in keys)


def comparison_table(summaries: dict[str, dict[str, float]], data: str | None = None) -> str:
    """Markdown table of the summaries side by side with the paper's numbers for ``data``.

    Args:
        summaries: model label (``"baseline"``, ``"ss-vae"``) -> :func:`summarise` output; its
            ``_ci_low`` / ``_ci_high`` keys show as ``value [low, high]`` (the paper's columns have none).
        data: ``"lines"`` or ``"lines-hard"`` adds the paper's columns; anything else omits them.
    """
    paper = PAPER_NUMBERS.get(data or "", {})
    columns = [(f"paper {label}", paper[label]) for label in ("baseline", "ss-vae") if label in paper]
    columns += [(f"our {label}", summary) for label, summary in summaries.items()]
    header = "| metric | " + " | ".join(name for name, _ in columns) + " |"
    lines = [header, "|---|" + "---|" * len(columns)]
    for label, keys, fmt, unit in TABLE_ROWS:
        cells = [_cell(values, keys, fmt, unit) for _, values in columns]
        if any(cell != "—" for cell in cells):
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def stats_ratio(summaries: dict[str, dict[str, float]]) -> float | None:
    """SS-VAE / baseline mean statistics error (see :func:`ssvae_tf.paper.paper_stats_ratio`), if both
    were evaluated."""
    if "ss-vae" in summaries and "baseline" in summaries:
        return summaries["ss-vae"]["stats_mse_mean"] / summaries["baseline"]["stats_mse_mean"]
    return None


def stats_ratio_interval(evaluations: Mapping[str, Evaluation]) -> tuple[float, float] | None:
    """95 % CI of the SS-VAE / baseline mean statistics error (:func:`stats_ratio`), if both were
    evaluated: :func:`paired_ratio_interval` of their per-image ``stats_mse``, the same validation
    images resampled for both.

    Args:
        evaluations: model label (``"baseline"``, ``"ss-vae"``) -> its :class:`Evaluation`.

    Raises:
        ValueError: if the two were evaluated on different numbers of images (not paired).
    """
    if "ss-vae" not in evaluations or "baseline" not in evaluations:
        return None
    return paired_ratio_interval(evaluations["ss-vae"].metrics["stats_mse"],
                                 evaluations["baseline"].metrics["stats_mse"])
