"""PNG figures: inputs, reconstructions, their centred autocorrelation maps and radial profiles.

Every figure of the package is written by :func:`save_figure` at
:data:`FIGURE_DPI`.  Autocorrelation maps are drawn in lag coordinates
(pixels): zero lag in the middle, the lag ``y`` growing downwards like the
image rows.
"""

from __future__ import annotations

import os
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
import numpy as np  # noqa: E402

from ssvae_tf._io import atomic_write  # noqa: E402
from ssvae_tf.spatial_stats import StatsOptions, radial_average  # noqa: E402

#: Resolution of every PNG the package writes, in dots per inch.
FIGURE_DPI = 150
#: Label of autocorrelation colour bars and profile axes.
S2_LABEL = r"$S_2(r)$"
_STATS_CMAP = "viridis"


def save_figure(fig: Figure, path: str | os.PathLike) -> None:
    """Write ``fig`` to the PNG ``path`` atomically at :data:`FIGURE_DPI`, then close it."""
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=FIGURE_DPI))
    plt.close(fig)


def centred_autocorrelation(images: np.ndarray, stats_options: StatsOptions) -> np.ndarray:
    """First configured correlation of ``images`` ``(n, *spatial, 1)``, every lag, centred.

    Uses the microstructure function the loss uses (``kind``, ``n_phases``,
    ``eps``); returns ``(n, *spatial)``.
    """
    first = stats_options.correlations[:1]
    return stats_options.statistics(images, correlations=first, periodic=True, cutoff="full").numpy()[..., 0]


def lag_extent(side: int) -> tuple[float, float]:
    """Pixel-edge range ``(first, last)`` of the lags of a centred window of ``side`` pixels.

    Index ``i`` is the lag ``i - side // 2`` px and each pixel spans its lag
    +-0.5, e.g. side 64 -> ``(-32.5, 31.5)`` (lags -32..31), side 5 -> ``(-2.5, 2.5)``.
    """
    return -(side // 2) - 0.5, (side - 1) // 2 + 0.5


def middle_slice(volume: np.ndarray) -> np.ndarray:
    """A 2-D view of ``(H, W)`` or ``(D, H, W)``: volumes show their middle slice along the first axis."""
    return volume[volume.shape[0] // 2] if volume.ndim == 3 else volume


def show_image(ax: Axes, image: np.ndarray) -> None:
    """Draw ``image`` ``(*spatial, channels)`` in [0, 1] (first channel, middle slice) in grey, no ticks."""
    ax.imshow(middle_slice(image[..., 0]), cmap="gray", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])


def _show_lag_map(ax, stats_map: np.ndarray, vmin: float, vmax: float):
    """Draw a centred map ``(H, W)`` or ``(D, H, W)`` (middle slice) on lag axes in px; ticks at the ends and 0."""
    shown = middle_slice(stats_map)
    (x_low, x_high), (y_low, y_high) = lag_extent(shown.shape[1]), lag_extent(shown.shape[0])
    image = ax.imshow(shown, cmap=_STATS_CMAP, vmin=vmin, vmax=vmax, extent=(x_low, x_high, y_high, y_low))
    ax.set_xticks([x_low + 0.5, 0, x_high - 0.5])
    ax.set_yticks([y_low + 0.5, 0, y_high - 0.5])
    return image


def _plot_profiles(ax, pair: tuple[np.ndarray, np.ndarray], names: tuple[str, str]) -> None:
    """Radial profiles of two centred maps ``(*window)``, up to half the smallest window side."""
    radii, profiles = radial_average(np.stack(pair))
    keep = radii <= min(pair[0].shape) // 2
    for profile, name, style in zip(profiles, names, ("-", "--")):
        ax.plot(radii[keep], profile[keep], style, label=name)
    ax.set_xlabel("|r| [px]")
    ax.grid(alpha=0.3)


def plot_reconstructions(
    images: np.ndarray,
    reconstructions: np.ndarray,
    stats_options: StatsOptions,
    path: str | os.PathLike,
    titles: tuple[str, str] = ("input", "reconstruction"),
) -> None:
    """Write a grid: one column per example; rows = input, reconstruction, the
    centred autocorrelation maps of both (one colour scale per column) and
    their radial averages ``S2(|r|)``.

    Maps are on lag axes in px (3-D: the zero-lag slice of the first axis);
    the radial profiles average every lag of the full 2-D or 3-D window, up
    to ``|r| = min(side) // 2``.

    Args:
        images, reconstructions: ``(n, *spatial, 1)`` in [0, 1] (first channel shown).
        stats_options: the model's statistics options.
        path: PNG file, written atomically at :data:`FIGURE_DPI`.
        titles: names of the inputs and of the reconstructions.
    """
    stats = [centred_autocorrelation(a[..., :1], stats_options) for a in (images, reconstructions)]
    n = len(images)
    fig, axes = plt.subplots(5, n, figsize=(max(2.6 * n + 1.2, 6.5), 10.4), squeeze=False, layout="constrained")
    for j in range(n):
        show_image(axes[0, j], images[j])
        show_image(axes[1, j], reconstructions[j])
        low = min(s[j].min() for s in stats)
        high = max(s[j].max() for s in stats)
        maps = [_show_lag_map(axes[i, j], s[j], low, high) for i, s in enumerate(stats, start=2)]
        fig.colorbar(maps[0], ax=axes[2:4, j], shrink=0.8, label=S2_LABEL)
        axes[2, j].tick_params(labelbottom=False)
        axes[3, j].set_xlabel("lag x [px]")
        _plot_profiles(axes[4, j], (stats[0][j], stats[1][j]), titles)
    for i, name in enumerate(titles):
        axes[i, 0].set_ylabel(name)
        axes[i + 2, 0].set_ylabel(f"{S2_LABEL} of {name}\nlag y [px]")
    for ax in axes[2:4, 1:].ravel():
        ax.tick_params(labelleft=False)
    axes[4, 0].set_ylabel(r"radial mean $S_2(|r|)$")
    axes[4, 0].legend(fontsize=8)
    fig.suptitle(f"{titles[0]} vs {titles[1]}\ntwo-point autocorrelations {S2_LABEL} (zero lag centred) "
                 "and their radial averages", fontsize=11)
    save_figure(fig, path)
