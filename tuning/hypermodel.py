"""The KerasTuner HyperModel: a compiled :class:`ssvae_tf.SpatialStatsVAE` per trial."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras
import keras_tuner

from ssvae_tf.model import SpatialStatsVAE, build_vae
from ssvae_tf.training import default_depth
from tuning.config import SPACE_KEYS, Param
from tuning.objectives import CombinedObjective


class SpatialStatsHyperModel(keras_tuner.HyperModel):
    """Builds and compiles a ``SpatialStatsVAE`` from a search space.

    Args:
        image_shape: ``(H, W, 1)`` (or ``(D, H, W, 1)``) of the training images.
        space: ``{name: Param}`` for the keys of :data:`tuning.config.SPACE_KEYS`
            (``latent_dim``, ``alpha``, ``beta``, ``learning_rate``, ``filters``,
            ``hidden_units``, ``depth``); missing keys are fixed at their defaults.
        stats_scale: the statistics normalisation of the data (the same for every
            trial; see :func:`ssvae_tf.training.statistics_scale`).
        objective_weights: the weights of ``val_combined``; ``None`` when the
            objective is a single metric.
        seed: seed of the VAE's sampling noise.

    ``build(hp)`` declares the space on ``hp`` and returns the VAE compiled with
    Adam at the trial's learning rate.  ``fit(hp, model, *args, **kwargs)``
    forwards to ``model.fit`` (so KerasTuner's callbacks, ``epochs``,
    ``initial_epoch`` and ``batch_size`` apply) after putting
    :class:`~tuning.objectives.CombinedObjective` first among the callbacks
    when ``val_combined`` is used; it needs ``validation_data``, because every
    objective is a validation metric.
    """

    def __init__(self, image_shape: Sequence[int], space: Mapping[str, Param] | None = None,
                 stats_scale: float = 1.0, objective_weights: Mapping[str, float] | None = None,
                 seed: int | None = 0, name: str = "ssvae", tunable: bool = True):
        super().__init__(name=name, tunable=tunable)
        self.image_shape = tuple(int(s) for s in image_shape)
        self.space = {key: Param(key, "fixed", value=default) for key, (_, default) in SPACE_KEYS.items()}
        unknown = sorted(set(space or {}) - set(SPACE_KEYS))
        if unknown:
            raise ValueError(f"unknown search-space key {unknown[0]!r}; expected some of {sorted(SPACE_KEYS)}")
        self.space.update(space or {})
        if self.space["depth"].value == "auto":
            self.space["depth"] = Param("depth", "fixed", value=default_depth(self.image_shape))
        self.stats_scale = float(stats_scale)
        self.objective_weights = dict(objective_weights) if objective_weights else None
        self.seed = seed

    def values(self, hp: keras_tuner.HyperParameters) -> dict:
        """Declare the space on ``hp``; return this trial's settings."""
        return {key: param.declare(hp) for key, param in self.space.items()}

    def build(self, hp: keras_tuner.HyperParameters) -> SpatialStatsVAE:
        v = self.values(hp)
        model = build_vae(
            self.image_shape,
            latent_dim=int(v["latent_dim"]),
            depth=int(v["depth"]),
            filters=int(v["filters"]),
            hidden_units=int(v["hidden_units"]),
            alpha=float(v["alpha"]),
            beta=float(v["beta"]),
            stats_options={"scale": self.stats_scale},
            seed=self.seed,
        )
        model.compile(optimizer=keras.optimizers.Adam(float(v["learning_rate"])))
        # Built now, so loading a trial checkpoint restores the optimizer state too.
        model.optimizer.build(model.trainable_variables)
        return model

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
