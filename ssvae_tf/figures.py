"""PNG figures: inputs, reconstructions and their centred autocorrelation maps."""

from __future__ import annotations

import os
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ssvae_tf._io import atomic_write  # noqa: E402
from ssvae_tf.model import image_statistics  # noqa: E402


def centred_autocorrelation(images: np.ndarray, stats_options: dict[str, Any]) -> np.ndarray:
    """First configured correlation of ``images`` ``(n, *spatial, 1)``, every lag, centred.

    Uses the microstructure function the loss uses (``kind``, ``n_phases``,
    ``eps``); returns ``(n, *spatial)``.
    """
    first = [tuple(stats_options["correlations"][0])]
    return image_statistics(images, stats_options, correlations=first, periodic=True,
                            cutoff="full").numpy()[..., 0]


def _middle_slice(volume: np.ndarray) -> np.ndarray:
    """A 2-D view: 3-D volumes show their middle slice along the first axis."""
    return volume[volume.shape[0] // 2] if volume.ndim == 3 else volume


def plot_reconstructions(
    images: np.ndarray,
    reconstructions: np.ndarray,
    stats_options: dict[str, Any],
    path: str | os.PathLike,
    titles: tuple[str, str] = ("input", "reconstruction"),
) -> None:
    """Write a grid: one column per example; rows = input, reconstruction, and
    the centred autocorrelation maps of both (shared colour scale per column).

    Args:
        images, reconstructions: ``(n, *spatial, 1)`` in [0, 1] (first channel shown).
        stats_options: the model's statistics options (see ``DEFAULT_STATS_OPTIONS``).
        path: PNG file, written atomically.
    """
    stats = [centred_autocorrelation(a[..., :1], stats_options) for a in (images, reconstructions)]
    n = len(images)
    fig, axes = plt.subplots(4, n, figsize=(2.2 * n + 0.6, 8.4), squeeze=False, layout="constrained")
    labels = [titles[0], titles[1], f"S({titles[0]})", f"S({titles[1]})"]
    for j in range(n):
        low = min(stats[0][j].min(), stats[1][j].min())
        high = max(stats[0][j].max(), stats[1][j].max())
        panels = [(images[j, ..., 0], 0, 1), (reconstructions[j, ..., 0], 0, 1),
                  (stats[0][j], low, high), (stats[1][j], low, high)]
        for i, (panel, vmin, vmax) in enumerate(panels):
            ax = axes[i, j]
            shown = ax.imshow(_middle_slice(panel), cmap="gray", vmin=vmin, vmax=vmax)
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(labels[i])
            if i >= 2:
                fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.03)
    fig.suptitle("inputs, reconstructions and their two-point autocorrelations (zero lag centred)")
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=80))
    plt.close(fig)
