"""One training run: data -> model -> ``model.fit`` -> a run directory.

A run directory holds ``config.json`` (every setting, the resolved image
shape and statistics options), ``model.keras``, ``history.csv`` and
``history.json`` (per-epoch metrics) and ``reconstructions.png``.  While the
run is unfinished it also holds ``backup/`` (``keras.callbacks.BackupAndRestore``):
running the same command again continues from the last finished epoch.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ssvae_tf._io import atomic_write, write_json
from ssvae_tf.data._checks import check_positive_int
from ssvae_tf.data import (
    HARD_LINES,
    PAPER_LINES,
    count_of,
    generate_lines,
    generate_random_fields,
    image_shape_of,
    make_dataset,
)
from ssvae_tf.model import DEFAULT_STATS_OPTIONS, SpatialStatsVAE, build_vae
from ssvae_tf.spatial_stats import microstructure_function, two_point_stats

#: Built-in data sets accepted by ``TrainConfig.data`` besides a path.
BUILTIN_DATA = {
    "lines": "the paper's line images, 1-4 vertical or horizontal lines",
    "lines-hard": "the harder line set, 3-7 lines",
    "microstructure": "two-phase Gaussian random fields, volume fraction 0.3-0.7, "
    "correlation lengths 4 px (rows) x 2 px (columns)",
}
DEFAULT_IMAGE_SIZE = 64
#: Phase indicators a run's statistics loss may use (see ``TrainConfig``).
INDICATORS = ("soft", "linear")


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run (what ``ssvae train`` exposes).

    ``data`` is ``lines``, ``lines-hard``, ``microstructure`` or a path to a
    ``.npy``/``.npz`` file or a folder of PNG/TIFF images; ``n_images`` and
    ``image_size`` apply to the built-in sets (a path brings its own).
    ``baseline=True`` is the paper's data-space VAE: ``alpha=0``, ``gamma=1``,
    pixel sum of squares.  ``stats_scale=None`` normalises the statistics by
    the largest zero-lag statistic of the training images (the paper's
    dataset-wide normalisation by the largest line volume fraction).
    ``learning_rate`` is halved for the last 10 % of the epochs, as in the paper.
    ``indicator`` is the phase indicator of the statistics loss: ``"soft"``
    (the paper's ``exp(-x^2 / (2 * 0.25^2))``) or ``"linear"`` (``1 - x``,
    exact on binary images; its gradient does not vanish on white pixels).
    ``shift_augment`` shifts each training image by a random periodic offset
    (it leaves periodic statistics unchanged; see :mod:`ssvae_tf.augment`).
    """

    data: str = "lines"
    image_size: int | None = None
    n_images: int = 2000
    latent_dim: int = 9
    alpha: float = 1.0
    beta: float = 1.0
    gamma: float = 0.0
    baseline: bool = False
    data_loss: str = "sse"
    epochs: int = 20
    batch_size: int = 32
    learning_rate: float = 1e-3
    depth: int | None = None
    filters: int = 32
    hidden_units: int = 256
    validation_split: float = 0.3
    stats_scale: float | None = None
    indicator: str = "soft"
    shift_augment: bool = False
    seed: int = 0

    def __post_init__(self):
        for name in ("n_images", "latent_dim", "epochs", "batch_size", "filters", "hidden_units"):
            check_positive_int(getattr(self, name), name)
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ValueError(f"learning_rate must be a positive number, got {self.learning_rate!r}")
        if self.indicator not in INDICATORS:
            raise ValueError(f"indicator must be one of {INDICATORS}, got {self.indicator!r}")
        if self.data not in BUILTIN_DATA and not Path(self.data).exists():
            raise ValueError(
                f"data must be one of {sorted(BUILTIN_DATA)} or an existing .npy/.npz file or image "
                f"folder, got {self.data!r}"
            )

    @property
    def loss_weights(self) -> tuple[float, float, float]:
        """``(alpha, beta, gamma)`` as trained (the baseline switches the statistics off)."""
        return (0.0, self.beta, 1.0) if self.baseline else (self.alpha, self.beta, self.gamma)


def training_source(config: TrainConfig, progress: bool = True) -> np.ndarray | str:
    """The images to train on: a generated array ``(n, H, W, 1)`` or the user's path.

    ``progress`` shows a bar while built-in images are generated.
    """
    if config.data not in BUILTIN_DATA:
        shape = image_shape_of(config.data)
        if config.image_size is not None and any(side != config.image_size for side in shape[:-1]):
            raise ValueError(
                f"image_size={config.image_size} does not match the images in {config.data}, "
                f"which are {shape[:-1]}; leave image_size unset for a path"
            )
        return config.data
    size = config.image_size or DEFAULT_IMAGE_SIZE
    if config.data == "microstructure":
        return generate_random_fields(config.n_images, (size, size), volume_fraction=(0.3, 0.7),
                                      correlation_length=(4.0, 2.0), seed=config.seed, progress=progress).images
    n_lines = HARD_LINES if config.data == "lines-hard" else PAPER_LINES
    return generate_lines(config.n_images, size, n_lines=n_lines, seed=config.seed, progress=progress).images


def statistics_scale(dataset: tf.data.Dataset, stats_options: dict[str, Any], max_batches: int = 64) -> float:
    """Largest zero-lag statistic (hard phase indicators) over the first batches.

    For an autocorrelation this is the largest volume fraction of the phase,
    the paper's normalisation constant.  Returns 1.0 if the phases never occur.
    """
    largest = 0.0
    n_phases = stats_options["n_phases"]
    for batch in dataset.take(max_batches):
        m = batch if stats_options["kind"] is None else microstructure_function(batch, n_phases, "hard")
        zero_lag = two_point_stats(m, stats_options["correlations"], stats_options["periodic"], cutoff=0)
        largest = max(largest, float(tf.reduce_max(zero_lag)))
    return largest if largest > 0 else 1.0


def default_depth(image_shape: tuple[int, ...]) -> int:
    """Four halvings, fewer for small images (the smallest feature map is >= 2 px)."""
    return min(4, int(math.log2(min(image_shape[:-1]))) - 1)


def run_stats_options(config: TrainConfig, scale: float) -> dict[str, Any]:
    """The statistics options a run changes from :data:`DEFAULT_STATS_OPTIONS`."""
    return {"scale": scale, "kind": config.indicator}


def build_model(config: TrainConfig, image_shape: tuple[int, ...], scale: float) -> SpatialStatsVAE:
    """The compiled VAE a run trains."""
    alpha, beta, gamma = config.loss_weights
    model = build_vae(
        image_shape,
        latent_dim=config.latent_dim,
        depth=config.depth or default_depth(image_shape),
        filters=config.filters,
        hidden_units=config.hidden_units,
        alpha=alpha,
        beta=beta,
        gamma=gamma,
        data_loss=config.data_loss,
        stats_options=run_stats_options(config, scale),
        seed=config.seed,
        shift_augment=config.shift_augment,
    )
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate))
    return model


def halved_for_last_tenth(epochs: int, learning_rate: float) -> keras.callbacks.LearningRateScheduler:
    """The paper's schedule: ``learning_rate``, halved for the last 10 % of the epochs."""
    switch = math.ceil(0.9 * epochs)
    return keras.callbacks.LearningRateScheduler(
        lambda epoch, _lr: learning_rate if epoch < switch else learning_rate / 2
    )


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """``BackupAndRestore`` whose backup files are replaced atomically.

    Keras overwrites its weights file in place, so a kill during the save
    leaves a backup that cannot be read and the run cannot resume.  Here the
    weights, then the epoch record, each appear whole or not at all; a kill
    between the two repeats one epoch.
    """

    def _save_model(self):
        Path(self.backup_dir).mkdir(parents=True, exist_ok=True)
        atomic_write(self._weights_path, lambda tmp: self.model.save_weights(str(tmp), overwrite=True))
        write_json(self._training_metadata_path, {"epoch": self._current_epoch, "batch": self._last_batch_seen})


def _config_record(config: TrainConfig, image_shape, n_images: int, scale: float) -> dict[str, Any]:
    stats = {**DEFAULT_STATS_OPTIONS, **run_stats_options(config, scale)}
    stats["correlations"] = [list(p) for p in stats["correlations"]]
    return {
        "settings": dataclasses.asdict(config),
        "image_shape": list(image_shape),
        "n_images": n_images,
        "data_description": BUILTIN_DATA.get(config.data, f"images from {config.data}"),
        "loss_weights": dict(zip(("alpha", "beta", "gamma"), config.loss_weights)),
        "stats_options": stats,
    }


def recorded_config(run_dir: str | Path) -> TrainConfig:
    """The settings recorded in ``run_dir/config.json``; a field added since takes its default."""
    return TrainConfig(**json.loads((Path(run_dir) / "config.json").read_text())["settings"])


def _check_run_dir(out_dir: Path, config: TrainConfig, overwrite: bool) -> bool:
    """Whether the run resumes; refuses to clobber a finished or a different run."""
    backup = out_dir / "backup"
    if (out_dir / "model.keras").exists() and not backup.exists() and not overwrite:
        raise ValueError(f"{out_dir} already holds a finished run (model.keras); choose another --out "
                         "or pass --overwrite")
    config_file = out_dir / "config.json"
    if backup.exists() and config_file.exists():
        if recorded_config(out_dir) != config and not overwrite:
            raise ValueError(f"{out_dir} holds an unfinished run with other settings; run the same command "
                             "again to resume it, choose another --out, or pass --overwrite")
        return not overwrite
    return False


def _drop_partial_row(csv_path: Path) -> None:
    """Cut a row that a kill left half-written, so resumed epochs append cleanly."""
    if not csv_path.exists():
        return
    text = csv_path.read_text()
    if text and not text.endswith("\n"):
        complete = text[: text.rfind("\n") + 1]
        atomic_write(csv_path, lambda tmp: tmp.write_text(complete))


def read_history(csv_path: Path) -> dict[str, list[float]]:
    """Per-epoch metrics from a ``CSVLogger`` file, keeping the last row of each epoch."""
    with open(csv_path, newline="") as handle:
        rows = {int(row["epoch"]): row for row in csv.DictReader(handle)}
    history: dict[str, list[float]] = {}
    for epoch in sorted(rows):
        for key, value in rows[epoch].items():
            if key != "epoch":
                history.setdefault(key, []).append(float(value))
    return history


def train(config: TrainConfig, out_dir: str | Path, verbose: int | str = "auto",
          overwrite: bool = False) -> dict[str, list[float]]:
    """Train a VAE as ``config`` says and write the run directory ``out_dir``.

    Returns the per-epoch history (``loss``, ``stats_distance``, ``val_*``, ...).
    An interrupted run resumes from ``out_dir/backup`` when called again with
    the same config.
    """
    from ssvae_tf.figures import plot_reconstructions

    out_dir = Path(out_dir)
    resuming = _check_run_dir(out_dir, config, overwrite)
    if resuming:
        _drop_partial_row(out_dir / "history.csv")
    elif overwrite:
        shutil.rmtree(out_dir / "backup", ignore_errors=True)
        (out_dir / "history.csv").unlink(missing_ok=True)
    source = training_source(config, progress=verbose != 0)
    image_shape = image_shape_of(source)
    train_ds, val_ds = make_dataset(source, batch_size=config.batch_size,
                                    validation_split=config.validation_split, seed=config.seed)
    scale = config.stats_scale or statistics_scale(train_ds, DEFAULT_STATS_OPTIONS)
    record = _config_record(config, image_shape, count_of(source), scale)
    write_json(out_dir / "config.json", record)

    keras.utils.set_random_seed(config.seed)
    model = build_model(config, image_shape, scale)
    # History before backup: a crash between the two repeats an epoch (read_history keeps
    # its last row) instead of losing one.
    callbacks = [
        halved_for_last_tenth(config.epochs, config.learning_rate),
        keras.callbacks.CSVLogger(str(out_dir / "history.csv"), append=resuming),
        AtomicBackupAndRestore(str(out_dir / "backup")),
    ]
    # shuffle=False: the dataset reshuffles itself every epoch
    model.fit(train_ds, validation_data=val_ds, epochs=config.epochs, callbacks=callbacks, verbose=verbose,
              shuffle=False)

    atomic_write(out_dir / "model.keras", model.save)
    history = read_history(out_dir / "history.csv")
    write_json(out_dir / "history.json", history)
    examples = next(iter(val_ds if val_ds is not None else train_ds)).numpy()[:6]
    plot_reconstructions(examples, model(examples).numpy(), model.stats_options,
                         out_dir / "reconstructions.png")
    shutil.rmtree(out_dir / "backup", ignore_errors=True)
    return history
