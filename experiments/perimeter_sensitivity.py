"""How much the statistics distance sees of a shorter perimeter (issue 22): real crops against their smoothed selves.

The nanopore z-slices (``experiments/cache/slices.npy``, read as ``ssvae train --median 3 --threshold otsu``
reads them) are cut into random 64 px crops.  Each crop is smoothed (Gaussian blur of ``sigma`` px,
periodic, then thresholded at 0.5), which removes its small pores and rough edges at nearly the same volume
fraction, and compared with itself: the change of the mean perimeter
(:func:`ssvae_tf.stats.morphology.specific_perimeter`), of the volume fraction, and the statistics distance
the loss uses (``StatsOptions(metric="mse")``, every periodic lag), next to the same distance between two
different real crops (the spread a reconstruction's error is read against).

    python experiments/perimeter_sensitivity.py            # ~1 min on 2 cores
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ssvae_tf.data.sources import ReadOptions, open_source
from ssvae_tf.stats.morphology import specific_perimeter
from ssvae_tf.stats.two_point import StatsOptions

SIDE, N_CROPS, SEED = 64, 500, 0
SIGMAS = (0.7, 1.0, 1.5, 2.0, 3.0)


def crops(path: str = "experiments/cache/slices.npy") -> np.ndarray:
    """``N_CROPS`` random ``SIDE`` px crops of the slices, read as training reads them: ``(n, SIDE, SIDE, 1)``
    float32 of 0 (black phase) and 1."""
    source = open_source(path, ReadOptions(median=3, threshold="otsu"))
    rng = np.random.default_rng(SEED)
    picked = []
    for _ in range(N_CROPS):
        index = int(rng.integers(source.count))
        corner = tuple(int(rng.integers(side - SIDE + 1)) for side in source.shape_of(index)[:-1])
        picked.append(source.crop(index, corner, SIDE))
    return np.stack(picked).astype(np.float32)


def main() -> None:
    images = crops()
    distance = StatsOptions(periodic=True, metric="mse")
    real = float(np.mean(distance.distance(images[:-1], images[1:]).numpy()))
    perimeter = specific_perimeter(images).sum(axis=1).mean()
    print(f"{len(images)} crops of {SIDE} px; statistics distance between two real crops: {real:.3e}")
    print("| blur (px) | mean perimeter change | volume fraction change (points) | distance to the crop | "
          "/ real vs real |")
    print("|---|---|---|---|---|")
    for sigma in SIGMAS:
        smooth = (ndimage.gaussian_filter(images, sigma=(0, sigma, sigma, 0), mode="wrap") > 0.5).astype(np.float32)
        change = smooth.reshape(len(images), -1).mean(1) - images.reshape(len(images), -1).mean(1)
        seen = float(np.mean(distance.distance(images, smooth).numpy()))
        print(f"| {sigma:g} | {100 * (specific_perimeter(smooth).sum(axis=1).mean() / perimeter - 1):+.0f} % | "
              f"{100 * np.abs(change).mean():.2f} | {seen:.2e} | 1/{real / seen:.0f} |")


if __name__ == "__main__":
    main()
