"""The paper's evaluation: per-image metrics, automatic line measurement,
nearest training images, summaries and the SS-VAE vs baseline report.

Everything but the line measurement takes 2-D images ``(n, H, W, 1)`` and
volumes ``(n, D, H, W, 1)`` alike, one metric value per image or volume.

Modules: ``metrics`` (pixel / statistics MSE, volume-fraction difference; "black" is the paper's
:data:`~ssvae_tf.stats.phases.PAPER_BLACK_LEVEL`; and, beside the paper's protocol, the reconstruction
binarised at 0.5 with the realism metrics of :mod:`ssvae_tf.stats.morphology`),
``line_measurement`` (line count and orientation, 2-D), ``neighbours`` (batched
nearest-neighbour search), ``evaluate`` (one model on held-out images),
``summary`` (means, medians, accuracies with bootstrap confidence intervals,
tables with the paper's numbers),
``figures`` and ``report`` (``compare_runs``: the report directory).
"""

from ssvae_tf.evaluation.evaluate import Evaluation, evaluate_model, reconstruct
from ssvae_tf.evaluation.line_measurement import UNKNOWN, LineMeasurement, measure_lines
from ssvae_tf.evaluation.metrics import (
    binarised_metrics,
    line_statistics,
    pixel_mse,
    stats_mse,
    volume_fraction_difference,
)
from ssvae_tf.evaluation.neighbours import nearest_neighbours
from ssvae_tf.evaluation.report import (
    DEFAULT_N_IMAGES,
    Comparison,
    compare_runs,
    read_metrics_csv,
    redraw_metric_figures,
)
from ssvae_tf.evaluation.summary import (
    binarised_table,
    bootstrap_interval,
    comparison_table,
    confusion_table,
    correlation_interval,
    paired_ratio_interval,
    stats_ratio,
    stats_ratio_interval,
    summarise,
    summarise_binarised,
)

__all__ = [
    "Comparison",
    "DEFAULT_N_IMAGES",
    "UNKNOWN",
    "Evaluation",
    "LineMeasurement",
    "binarised_metrics",
    "binarised_table",
    "bootstrap_interval",
    "compare_runs",
    "comparison_table",
    "confusion_table",
    "correlation_interval",
    "evaluate_model",
    "line_statistics",
    "measure_lines",
    "nearest_neighbours",
    "paired_ratio_interval",
    "pixel_mse",
    "read_metrics_csv",
    "redraw_metric_figures",
    "reconstruct",
    "stats_mse",
    "stats_ratio",
    "stats_ratio_interval",
    "summarise",
    "summarise_binarised",
    "volume_fraction_difference",
]
