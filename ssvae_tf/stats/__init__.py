"""Statistics of microstructures: the differentiable FFT two-point statistics (:mod:`ssvae_tf.stats.two_point`)."""
