"""ssvae-tf: variational autoencoders trained in spatial-statistics space.

The public names are imported lazily, so ``import ssvae_tf`` stays light and
the command line can quiet TensorFlow before it loads.  The model's Keras
classes are registered as soon as Keras is imported (a post-import hook), so
``keras.models.load_model("RUN/model.keras")`` works after a plain
``import ssvae_tf``, as it does for any Keras package.
"""

from importlib import import_module

import wrapt

from ssvae_tf._lazy import lazy_exports

__version__ = "0.1.0"

_PUBLIC = {
    "two_point_stats": "ssvae_tf.stats.two_point",
    "microstructure_function": "ssvae_tf.stats.two_point",
    "spatial_stats_distance": "ssvae_tf.stats.two_point",
    "StatsOptions": "ssvae_tf.stats.two_point",
    "SpatialStatsVAE": "ssvae_tf.model",
    "build_encoder": "ssvae_tf.model",
    "build_decoder": "ssvae_tf.model",
    "build_vae": "ssvae_tf.model",
    "make_dataset": "ssvae_tf.data",
    "generate_lines": "ssvae_tf.data",
    "generate_random_fields": "ssvae_tf.data",
    "TrainConfig": "ssvae_tf.settings",
    "build_model": "ssvae_tf.training",
    "train": "ssvae_tf.training",
    "RunDir": "ssvae_tf.run_dir",
    "load_model": "ssvae_tf.run_dir",
    "preset": "ssvae_tf.presets",
}

__all__ = [*_PUBLIC, "__version__"]

__getattr__ = lazy_exports(__name__, _PUBLIC)[0]


def __dir__() -> list[str]:
    """The public API: what ``__all__`` lists (the lazy names and ``__version__``)."""
    return sorted(__all__)


# Importing ssvae_tf.model registers SpatialStatsVAE with Keras' serialisation.
wrapt.register_post_import_hook(lambda _keras: import_module("ssvae_tf.model"), "keras")
