"""A trained run directory as the evaluation needs it: the model and the exact data it saw."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ssvae_tf.run_dir import RunDir
from ssvae_tf.settings import LINE_DATA, TrainConfig
from ssvae_tf.training import run_data


@dataclass(frozen=True)
class Run:
    """A trained run.

    Attributes:
        path: the run directory.
        label: ``"baseline"`` for a pixel-space run, else ``"ss-vae"``.
        config: the ``TrainConfig`` it was trained with.
        model: the loaded ``SpatialStatsVAE``.
        record: the whole ``config.json``.
    """

    path: Path
    label: str
    config: TrainConfig
    model: Any
    record: dict[str, Any]

    @property
    def has_lines(self) -> bool:
        """Whether its data are line images (line metrics apply)."""
        return self.config.data in LINE_DATA


def load_run(path: str | Path) -> Run:
    """Load the model and the settings of the run directory ``path``.

    Raises:
        ValueError: (one line) if ``model.keras`` or ``config.json`` is missing or unreadable.
    """
    run_dir = RunDir(path)
    config = run_dir.settings()  # the cheap check first
    return Run(run_dir.path, "baseline" if config.baseline else "ss-vae", config, run_dir.load_model(),
               run_dir.record())


@dataclass(frozen=True)
class EvaluationData:
    """The training images and the first validation images of a run, ``(n, *spatial, 1)`` float32
    (crops, for a run trained on ``patch_size`` crops), and the validation images' indices."""

    train: np.ndarray
    validation: np.ndarray
    validation_index: np.ndarray


def evaluation_data(run: Run, n_images: int, progress: bool = True) -> EvaluationData:
    """Regenerate (or reload) the run's data and apply its seeded train/validation split.

    Returns the training part (every image, or a fixed sample of training
    crops) and the first ``n_images`` validation images (in source order, as
    the paper takes "the first 1000"), or fixed validation crops; ``progress``
    shows a bar while built-in images are regenerated.

    Raises:
        ValueError: if the run had no validation split, or the data's image
            size differs from the model's.
    """
    if run.config.validation_split <= 0:
        raise ValueError(f"{run.path} was trained without a validation split (validation_split=0); "
                         "expected a run with held-out images to evaluate on")
    data = run_data(run.config, progress=progress)
    model_shape = tuple(run.model.image_shape)
    if tuple(data.image_shape) != model_shape:
        raise ValueError(f"the data of {run.path} are images of {tuple(data.image_shape)} but its model "
                         f"expects {model_shape}; evaluate with the data the model was trained on")
    return EvaluationData(data.training_images(), data.validation_images(n_images),
                          data.validation_index(n_images))
