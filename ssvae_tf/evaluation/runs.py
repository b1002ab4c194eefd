"""A trained run directory as the evaluation needs it: the model and the exact data it saw."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ssvae_tf.evaluation.slices import plane_targets
from ssvae_tf.run_dir import RunDir
from ssvae_tf.settings import LINE_DATA, TrainConfig
from ssvae_tf.training import plane_data_splits, run_data


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
    (crops, for a run trained on ``patch_size`` crops), and the validation images' indices; for a model
    from slices trained on plane micrographs, ``targets`` ``(n, 3, N, N, 1)``, the crop of each plane
    (:func:`~ssvae_tf.evaluation.slices.plane_targets`; None otherwise: the validation crop for every plane)."""

    train: np.ndarray
    validation: np.ndarray
    validation_index: np.ndarray
    targets: np.ndarray | None = None


def evaluation_data(run: Run, n_images: int, progress: bool = True) -> EvaluationData:
    """Regenerate (or reload) the run's data and apply its seeded train/validation split.

    Returns the training part (every image, or a fixed sample of training
    crops) and the first ``n_images`` validation images (in source order, as
    the paper takes "the first 1000"), or fixed validation crops (with plane
    micrographs, as many as every plane's stack holds, and their targets); ``progress``
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
    validation, index = data.validation_images(n_images), data.validation_index(n_images)
    planes = validation_planes(run, n_images, progress)
    if planes is None:
        return EvaluationData(data.training_images(), validation, index)
    n = min(len(validation), *(len(crops) for crops in planes))  # each plane's stack holds its own count
    return EvaluationData(data.training_images(), validation[:n], index[:n],
                          plane_targets(validation[:n], tuple(crops[:n] for crops in planes)))


def validation_planes(run: Run, n_images: int, progress: bool = True) -> tuple[np.ndarray, np.ndarray] | None:
    """The held-out x-z and y-z crops of a model from slices trained on plane micrographs
    (``--slices-xz``/``--slices-yz``), the first ``n_images`` of each, ``(n, N, N, 1)``, read and split as
    training read them; None for other runs."""
    if not run.model.from_slices or run.config.plane_data is None:
        return None
    xz, yz = (split.validation_images(n_images) for split in plane_data_splits(run.config, progress))
    return xz, yz
