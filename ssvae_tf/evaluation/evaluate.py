"""Evaluate one model on held-out images: every per-image metric of the paper."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ssvae_tf._progress import on_terminal
from ssvae_tf.evaluation.line_measurement import LineMeasurement, measure_lines
from ssvae_tf.evaluation.metrics import (
    binarised_metrics,
    line_statistics,
    pixel_mse,
    stats_mse,
    volume_fraction_difference,
)
from ssvae_tf.evaluation.neighbours import nearest_neighbours
from ssvae_tf.inference import refine_latents
from ssvae_tf.stats.two_point import batch_size_for


@dataclass(frozen=True)
class Evaluation:
    """Per-image results of one model on ``n`` validation images or volumes.

    Attributes:
        label: name of the model in tables (``"ss-vae"``, ``"baseline"``).
        originals, reconstructions: ``(n, *spatial, 1)`` in [0, 1]: 2-D images ``(n, H, W, 1)``
            or volumes ``(n, D, H, W, 1)``.
        metrics: name -> ``(n,)`` array: ``pixel_mse``, ``stats_mse`` (hard
            statistics of the original vs soft statistics of the
            reconstruction, mean over lags), ``volume_fraction_diff_pct``,
            ``nn_pixel_index``/``nn_pixel_mse`` and ``nn_stats_index``/
            ``nn_stats_mse`` (the training image closest to the
            reconstruction in pixels / in statistics), and with line data
            ``n_lines_original``, ``n_lines_reconstruction``,
            ``n_lines_nn_stats``, ``orientation_original``,
            ``orientation_reconstruction``; and, not the paper's protocol, the
            reconstruction binarised at 0.5 against its original
            (:func:`~ssvae_tf.evaluation.metrics.binarised_metrics`: ``binarised_*``,
            ``real_pair_*``, ``binary_share_pct``, ``binary_share_original_pct``).
        nn_pixel, nn_stats: ``(n, *spatial, 1)``, the nearest training images.
    """

    label: str
    originals: np.ndarray
    reconstructions: np.ndarray
    metrics: dict[str, np.ndarray]
    nn_pixel: np.ndarray
    nn_stats: np.ndarray

    @property
    def has_lines(self) -> bool:
        return "n_lines_original" in self.metrics


def reconstruct(model, images: np.ndarray, verbose: int = 0, refine_steps: int = 0) -> np.ndarray:
    """Deterministic reconstructions of ``images`` ``(n, *spatial, 1)``: decoded ``z_mean`` (the
    paper's protocol), or with ``refine_steps`` the decoded semi-amortised codes
    (:func:`ssvae_tf.inference.refine_latents`, the model's own loss)."""
    batch_size = batch_size_for(images.shape[1:])
    if not refine_steps:
        return np.asarray(model.predict(images, batch_size=batch_size, verbose=verbose), dtype=np.float32)
    codes = refine_latents(model, images, refine_steps, progress=bool(verbose))
    return np.asarray(model.decoder.predict(codes, batch_size=batch_size, verbose=verbose), dtype=np.float32)


def _line_metrics(measured: dict[str, LineMeasurement]) -> dict[str, np.ndarray]:
    metrics = {f"n_lines_{name}": m.n_lines for name, m in measured.items()}
    for name in ("original", "reconstruction"):
        metrics[f"orientation_{name}"] = measured[name].orientation
    return metrics


def evaluate_model(
    model,
    train_images: np.ndarray,
    validation_images: np.ndarray,
    label: str,
    lines: bool = True,
    progress: bool = False,
    refine_steps: int = 0,
) -> Evaluation:
    """Reconstruct ``validation_images`` and measure them against the originals.

    Args:
        model: a trained ``SpatialStatsVAE`` (anything with ``predict``).
        train_images: ``(m, *spatial, 1)``, searched for nearest neighbours (in pixels and in statistics).
        validation_images: ``(n, *spatial, 1)``, the held-out originals: 2-D images or volumes.
        label: the model's name in tables.
        lines: also count lines and measure orientations (2-D line data only).
        progress: progress bars for the long parts.
        refine_steps: 0 (the paper's protocol) or Adam steps of semi-amortised
            inference per image (:func:`reconstruct`).
    """
    verbose = 1 if on_terminal(progress) else 0
    if progress:
        refined = f", each code refined by {refine_steps} steps" if refine_steps else ""
        print(f"[{label}] reconstructing {len(validation_images)} images{refined}")
    recon = reconstruct(model, validation_images, verbose, refine_steps)
    original_stats = line_statistics(validation_images, "hard")
    recon_stats = line_statistics(recon, "soft")
    if progress:
        print(f"[{label}] nearest training images of each reconstruction ({len(train_images)} candidates)")
    nn_pixel_index, nn_pixel_mse = nearest_neighbours(recon, train_images)
    nn_stats_index, nn_stats_mse = nearest_neighbours(recon_stats, line_statistics(train_images, "hard"))
    metrics = {
        "pixel_mse": pixel_mse(validation_images, recon),
        "stats_mse": stats_mse(original_stats, recon_stats),
        "volume_fraction_diff_pct": volume_fraction_difference(validation_images, recon),
        "nn_pixel_index": nn_pixel_index,
        "nn_pixel_mse": nn_pixel_mse,
        "nn_stats_index": nn_stats_index,
        "nn_stats_mse": nn_stats_mse,
        **binarised_metrics(validation_images, recon),
    }
    nn_stats = train_images[nn_stats_index]
    if lines:
        if progress:
            print(f"[{label}] counting lines")
        measured = {name: measure_lines(images, progress=progress) for name, images in
                    (("original", validation_images), ("reconstruction", recon), ("nn_stats", nn_stats))}
        metrics.update(_line_metrics(measured))
    return Evaluation(label, validation_images, recon, metrics, train_images[nn_pixel_index], nn_stats)
