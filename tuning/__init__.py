"""KerasTuner search over the latent size and the loss weights of ``ssvae_tf``'s VAE.

``ssvae tune`` runs it; see ``tuning/README.md``.
Importing this package is light: the names below load TensorFlow and
KerasTuner only when first used.

* :func:`load_config` / :class:`TuneConfig` — the search config (``tuning.config``).
* :class:`SpatialStatsHyperModel` — the ``keras_tuner.HyperModel`` (``tuning.hypermodel``).
* :class:`CombinedObjective` — the ``val_combined`` callback (``tuning.objectives``).
* :func:`run_search`, :func:`make_tuner`, :func:`load_data` — the search (``tuning.search``).
"""

from __future__ import annotations

from importlib import import_module

_EXPORTS = {
    "TuneConfig": "tuning.config",
    "load_config": "tuning.config",
    "parse_config": "tuning.config",
    "OBJECTIVES": "tuning.config",
    "TUNERS": "tuning.config",
    "SpatialStatsHyperModel": "tuning.hypermodel",
    "CombinedObjective": "tuning.objectives",
    "run_search": "tuning.search",
    "make_tuner": "tuning.search",
    "load_data": "tuning.search",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'tuning' has no attribute {name!r}")
