"""ssvae-tf: variational autoencoders trained in spatial-statistics space."""

from ssvae_tf.spatial_stats import microstructure_function, spatial_stats_distance, two_point_stats

__version__ = "0.1.0"

__all__ = ["microstructure_function", "spatial_stats_distance", "two_point_stats", "__version__"]
