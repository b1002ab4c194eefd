"""ssvae-tf: variational autoencoders trained in spatial-statistics space.

The public names are imported lazily, so ``import ssvae_tf`` stays light and
the command line can quiet TensorFlow before it loads.
"""

from importlib import import_module

__version__ = "0.1.0"

_PUBLIC = {
    "two_point_stats": "ssvae_tf.spatial_stats",
    "microstructure_function": "ssvae_tf.spatial_stats",
    "spatial_stats_distance": "ssvae_tf.spatial_stats",
    "SpatialStatsVAE": "ssvae_tf.model",
    "build_encoder": "ssvae_tf.model",
    "build_decoder": "ssvae_tf.model",
    "build_vae": "ssvae_tf.model",
    "make_dataset": "ssvae_tf.data",
    "generate_lines": "ssvae_tf.data",
    "generate_random_fields": "ssvae_tf.data",
    "TrainConfig": "ssvae_tf.training",
    "train": "ssvae_tf.training",
}

__all__ = [*_PUBLIC, "__version__"]


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'ssvae_tf' has no attribute {name!r}")
