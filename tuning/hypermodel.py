"""The KerasTuner HyperModel: each trial is a :class:`~ssvae_tf.settings.TrainConfig`, built by the
one model builder, :func:`ssvae_tf.training.build_model`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import keras_tuner

from ssvae_tf.model import SpatialStatsVAE
from ssvae_tf.settings import TrainConfig, default_depth
from ssvae_tf.training import build_model
from tuning.config import SPACE_KEYS, Param
from tuning.objectives import CombinedObjective


class SpatialStatsHyperModel(keras_tuner.HyperModel):
    """Builds and compiles a ``SpatialStatsVAE`` per trial: ``base`` with the trial's values of ``space``.

    Args:
        base: the settings every trial shares (data, seed, and the fields the
            space leaves out).
        image_shape: ``(H, W, 1)`` (or ``(D, H, W, 1)``) of the training images.
        space: ``{name: Param}`` for fields of :data:`tuning.config.SPACE_KEYS`;
            a field left out keeps ``base``'s value.
        stats_scale: the statistics normalisation of the data (the same for every
            trial; see :func:`ssvae_tf.training.statistics_scale`).
        objective_weights: the weights of ``val_combined``; ``None`` when the
            objective is a single metric.

    ``build(hp)`` declares the space on ``hp`` and returns
    ``build_model(trial_config(hp), ...)``: every training option is honoured
    in a search exactly as in ``ssvae train``.  ``fit(hp, model, *args,
    **kwargs)`` forwards to ``model.fit`` (so KerasTuner's callbacks,
    ``epochs``, ``initial_epoch`` and ``batch_size`` apply) after putting
    :class:`~tuning.objectives.CombinedObjective` first among the callbacks
    when ``val_combined`` is used; it needs ``validation_data``, because every
    objective is a validation metric.
    """

    def __init__(self, base: TrainConfig, image_shape: Sequence[int], space: Mapping[str, Param] | None = None,
                 stats_scale: float = 1.0, objective_weights: Mapping[str, float] | None = None,
                 name: str = "ssvae", tunable: bool = True):
        super().__init__(name=name, tunable=tunable)
        self.base = base
        self.image_shape = tuple(int(s) for s in image_shape)
        unknown = sorted(set(space or {}) - set(SPACE_KEYS))
        if unknown:
            raise ValueError(f"unknown search-space key {unknown[0]!r}; expected some of {list(SPACE_KEYS)}")
        self.space = dict(space or {})
        if "depth" in self.space and self.space["depth"].value == "auto":
            self.space["depth"] = Param("depth", "fixed", value=default_depth(self.image_shape))
        self.stats_scale = float(stats_scale)
        self.objective_weights = dict(objective_weights) if objective_weights else None

    def trial_config(self, hp: keras_tuner.HyperParameters) -> TrainConfig:
        """Declare the space on ``hp``; return this trial's settings."""
        return dataclasses.replace(self.base, **{name: param.declare(hp) for name, param in self.space.items()})

    def build(self, hp: keras_tuner.HyperParameters) -> SpatialStatsVAE:
        return build_model(self.trial_config(hp), self.image_shape, self.stats_scale)

    def fit(self, hp, model, *args, **kwargs):
        if kwargs.get("validation_data") is None:
            raise ValueError("the tuning objectives are validation metrics: pass validation_data to search()/fit()")
        callbacks = list(kwargs.pop("callbacks", None) or [])
        if self.objective_weights:
            callbacks.insert(0, CombinedObjective(self.objective_weights))
        x = args[0] if args else kwargs.get("x")
        if _is_dataset(x):
            kwargs.setdefault("shuffle", False)  # a tf.data pipeline shuffles itself
        return model.fit(*args, callbacks=callbacks, **kwargs)


def _is_dataset(x) -> bool:
    import tensorflow as tf

    return isinstance(x, tf.data.Dataset)


__all__ = ["SpatialStatsHyperModel"]
