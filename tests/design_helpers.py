"""What the design tests share: a 16 px band target, NumPy definitions of the statistics, a tiny model."""

import numpy as np

from ssvae_tf.model import build_vae

SIDE = 16
EPS = 0.25  # the soft indicator's width (StatsOptions' default)


def band(shape=(SIDE, SIDE), rows=slice(4, 8)) -> np.ndarray:
    """A white image or volume ``(*shape, 1)`` with a black band across ``rows`` of its second-last axis."""
    image = np.ones((*shape, 1), np.float32)
    image[(slice(None),) * (len(shape) - 2) + (rows,)] = 0.0
    return image


def numpy_autocorrelation(indicator: np.ndarray) -> np.ndarray:
    """Periodic autocorrelation by its definition, ``mean_x m(x) m(x + r)``, zero lag at ``side // 2``."""
    lags = np.stack(np.meshgrid(*[np.arange(side) - side // 2 for side in indicator.shape], indexing="ij"), -1)
    out = np.empty(indicator.shape)
    for index in np.ndindex(indicator.shape):
        shift = tuple(-lag for lag in lags[index])
        out[index] = np.mean(indicator * np.roll(indicator, shift, axis=tuple(range(indicator.ndim))))
    return out


def soft_black(image: np.ndarray) -> np.ndarray:
    """The paper's soft indicator of the black phase of ``(*spatial, 1)``: ``exp(-x^2 / (2 eps^2))``."""
    return np.exp(-np.asarray(image[..., 0], np.float64) ** 2 / (2 * EPS**2))


def tiny_model():
    """An untrained 16 px VAE with a 2-D latent space (design needs only a decoder)."""
    return build_vae((SIDE, SIDE, 1), latent_dim=2, depth=2, filters=4, hidden_units=8, seed=0)
