"""Statistics of microstructures, below the model: one home for what an image's statistics are.

Modules:

- :mod:`~ssvae_tf.stats.phases`: how a grey value becomes a phase (``PHASE_THRESHOLD``, the paper's
  ``PAPER_BLACK_LEVEL``, ``black_mask``, ``phase_name``); NumPy only.
- :mod:`~ssvae_tf.stats.two_point`: the differentiable FFT two-point statistics the loss uses
  (``StatsOptions``, ``two_point_stats``, ``spatial_stats_distance``, ``radial_average``); TensorFlow.
- :mod:`~ssvae_tf.stats.summary`: a data set's volume fractions, mean autocorrelations, radial ``S2(r)``
  and correlation lengths (``characterise`` -> ``DataStatistics``, ``statistics_distance``).
- :mod:`~ssvae_tf.stats.units`: ``PixelSize``, the physical side of a pixel that reports give lengths
  in (``--pixel-size 5 nm``); standard library only.
- :mod:`~ssvae_tf.stats.morphology`: realism statistics on the hard phases, the one home of the realism
  metrics (volume fraction, binary share, perimeter per axis, chords, the two-point cluster function,
  components and Euler number, percolation, effective diffusivity; ``descriptors``, ``realism_table``,
  ``fidelity``); NumPy and SciPy.

The names below are imported on first use, so ``import ssvae_tf.stats.phases`` does not load TensorFlow.
"""

from ssvae_tf._lazy import lazy_exports

_PUBLIC = {
    **dict.fromkeys(("PHASE_THRESHOLD", "PAPER_BLACK_LEVEL", "black_mask", "phase_name"), "ssvae_tf.stats.phases"),
    **dict.fromkeys(("StatsOptions", "two_point_stats", "microstructure_function", "spatial_stats_distance",
                     "shift_aligned_sse", "radial_average", "n_lags", "batch_size_for"), "ssvae_tf.stats.two_point"),
    **dict.fromkeys(("DataStatistics", "characterise", "autocorrelation_options", "volume_fractions",
                     "autocorrelations", "correlation_length", "statistics_distance", "mean_statistics",
                     "data_batches", "axis_profile"), "ssvae_tf.stats.summary"),
    **dict.fromkeys(("PixelSize", "grid_unit"), "ssvae_tf.stats.units"),
    **dict.fromkeys(("phase_mask", "chord_lengths", "component_sizes", "chord_distance", "realism",
                     "BINARY_LOW", "BINARY_HIGH", "volume_fraction", "binary_share", "specific_perimeter",
                     "perimeter_anisotropy", "chord_length_histograms", "histogram_distance",
                     "two_point_cluster_function", "component_count", "euler_number", "percolating_fraction",
                     "effective_diffusivity", "tortuosity_factor", "descriptors", "descriptors_in_units",
                     "descriptor_summary", "realism_table",
                     "format_realism_table", "pearson", "fidelity_descriptors", "fidelity"),
                    "ssvae_tf.stats.morphology"),
}

__all__ = sorted(_PUBLIC)

__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
