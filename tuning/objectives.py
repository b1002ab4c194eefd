"""Fair search objectives: validation metrics that do not depend on alpha and beta.

* ``val_stats_distance`` — mean squared difference per lag between the
  two-point statistics of the validation images and of their reconstructions
  (decoded ``z_mean``), unscaled and unweighted.
* ``val_prior_stats_distance`` — mean squared difference per lag between the
  mean statistics of a validation batch and of as many decoded prior samples
  ``z ~ N(0, I)``: the latent space as a generator.  A trial that switches the
  KL term off reconstructs well but generates badly, and loses here.
* ``val_combined`` — ``sum(weight * metric)`` over ``objective_weights``,
  written into the epoch logs by :class:`CombinedObjective` before KerasTuner
  reads them (KerasTuner's own multi-objective, a list of objectives, only
  sums them with weight 1).

All are minimised.
"""

from __future__ import annotations

import keras
import keras_tuner

COMBINED = "val_combined"


def tuner_objective(name: str) -> keras_tuner.Objective:
    """The KerasTuner objective for one of :data:`tuning.config.OBJECTIVES`."""
    from tuning.config import OBJECTIVES

    if name not in OBJECTIVES:
        raise ValueError(f"objective must be one of {list(OBJECTIVES)}, got {name!r}")
    return keras_tuner.Objective(name, direction="min")


def combined_value(logs: dict, weights: dict[str, float]) -> float:
    """``sum(weight * logs[metric])``; raises ``KeyError`` naming a missing metric."""
    missing = [name for name in weights if name not in logs]
    if missing:
        raise KeyError(f"{missing[0]} is not in the epoch logs (was fit given validation data?)")
    return float(sum(weight * float(logs[name]) for name, weight in weights.items()))


class CombinedObjective(keras.callbacks.Callback):
    """Writes ``val_combined = sum(weight * logs[metric])`` into each epoch's logs.

    Put it first in the callback list: Keras passes one logs dict to every
    callback in order, so the tuner's callbacks and ``History`` see the value.
    """

    def __init__(self, weights: dict[str, float]):
        super().__init__()
        self.weights = dict(weights)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and all(name in logs for name in self.weights):
            logs[COMBINED] = combined_value(logs, self.weights)
