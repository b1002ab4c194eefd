"""One training run: data -> the one model builder -> ``model.fit`` -> a run directory.

:func:`build_model` turns a :class:`~ssvae_tf.settings.TrainConfig` into the
compiled VAE; :func:`train` runs it and writes a
:class:`~ssvae_tf.run_dir.RunDir`.  While the run is unfinished its
``backup/`` lets the same call continue from the last finished epoch.
KerasTuner searches (``tuning``) build every trial with :func:`build_model` too.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from ssvae_tf._io import atomic_write, write_json
from ssvae_tf.data import (
    HARD_LINES,
    PAPER_LINES,
    count_of,
    generate_lines,
    generate_random_fields,
    image_shape_of,
    make_dataset,
)
from ssvae_tf.model import SpatialStatsVAE, build_vae
from ssvae_tf.run_dir import RunDir
from ssvae_tf.settings import BUILTIN_DATA, DEFAULT_IMAGE_SIZE, TrainConfig
from ssvae_tf.spatial_stats import StatsOptions


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


def statistics_scale(dataset: tf.data.Dataset, stats_options: StatsOptions = StatsOptions(),
                     max_batches: int = 64) -> float:
    """Largest zero-lag statistic (hard phase indicators) over the first batches.

    For an autocorrelation this is the largest volume fraction of the phase,
    the paper's normalisation constant.  Returns 1.0 if the phases never occur.
    """
    zero_lag = stats_options.replace(kind="hard" if stats_options.kind else None, cutoff=0)
    largest = 0.0
    for batch in dataset.take(max_batches):
        largest = max(largest, float(tf.reduce_max(zero_lag.statistics(batch))))
    return largest if largest > 0 else 1.0


def default_depth(image_shape: tuple[int, ...]) -> int:
    """Four halvings, fewer for small images (the smallest feature map is >= 2 px)."""
    return min(4, int(math.log2(min(image_shape[:-1]))) - 1)


def run_stats_options(config: TrainConfig, scale: float = 1.0) -> StatsOptions:
    """The statistics a run's loss compares: the paper's, with the run's correlations, boundary,
    lag cutoff, indicator and its width, resolutions and scale."""
    full = config.cutoff is None and config.periodic
    return StatsOptions(correlations=config.correlation_pairs, periodic=config.periodic,
                        cutoff="full" if full else config.cutoff, kind=config.indicator, eps=config.eps,
                        scale=scale, levels=config.stats_levels)


def build_model(config: TrainConfig, image_shape: tuple[int, ...], scale: float) -> SpatialStatsVAE:
    """The compiled VAE that ``config`` describes, for images of ``image_shape`` ``(*spatial, 1)``.

    The one builder of a model from settings: training and every trial of a
    search call it.  ``scale`` is the statistics normalisation
    (``config.stats_scale`` or :func:`statistics_scale` of the data).  The
    optimizer is built now, so a checkpoint restores its state too.
    """
    alpha, beta, gamma = config.loss_weights(image_shape[:-1])
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
        upsampling=config.decoder,
        padding=config.padding,
        schedule=config.loss_schedule,
    )
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate))
    model.optimizer.build(model.trainable_variables)
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


def _prepare_run_dir(run: RunDir, config: TrainConfig, overwrite: bool) -> bool:
    """Whether the run resumes; refuses to clobber a finished or a different run."""
    if run.is_finished and not overwrite:
        raise ValueError(f"{run.path} already holds a finished run (model.keras); choose another --out "
                         "or pass --overwrite")
    if run.is_unfinished and not overwrite:
        if run.settings() != config:
            raise ValueError(f"{run.path} holds an unfinished run with other settings; run the same command "
                             "again to resume it, choose another --out, or pass --overwrite")
        run.drop_partial_history_row()
        return True
    if overwrite:
        shutil.rmtree(run.backup_dir, ignore_errors=True)
        run.history_csv.unlink(missing_ok=True)
    return False


def write_reconstructions(run: RunDir, model: SpatialStatsVAE, dataset: tf.data.Dataset, n: int = 6) -> None:
    """``run``'s ``reconstructions.png``: the first ``n`` images of ``dataset``'s first batch, their
    reconstructions and statistics."""
    from ssvae_tf.figures import plot_reconstructions

    examples = next(iter(dataset)).numpy()[:n]
    plot_reconstructions(examples, model(examples).numpy(), model.stats_options, run.reconstructions_png)


def train(config: TrainConfig, out_dir: str | Path, verbose: int | str = "auto",
          overwrite: bool = False) -> dict[str, list[float]]:
    """Train a VAE as ``config`` says and write the run directory ``out_dir``.

    Returns the per-epoch history (``loss``, ``stats_distance``, ``val_*``, ...).
    An interrupted run resumes from ``out_dir/backup`` when called again with
    the same config.
    """
    run = RunDir(out_dir)
    resuming = _prepare_run_dir(run, config, overwrite)
    source = training_source(config, progress=verbose != 0)
    image_shape = image_shape_of(source)
    train_ds, val_ds = make_dataset(source, batch_size=config.batch_size,
                                    validation_split=config.validation_split, seed=config.seed)
    scale = config.stats_scale or statistics_scale(train_ds, run_stats_options(config))
    run.write_settings(config, image_shape, count_of(source), run_stats_options(config, scale).to_json())

    keras.utils.set_random_seed(config.seed)
    model = build_model(config, image_shape, scale)
    # History before backup: a crash between the two repeats an epoch (read_history keeps
    # its last row) instead of losing one.
    callbacks = [
        halved_for_last_tenth(config.epochs, config.learning_rate),
        keras.callbacks.CSVLogger(str(run.history_csv), append=resuming),
        AtomicBackupAndRestore(str(run.backup_dir)),
    ]
    # shuffle=False: the dataset reshuffles itself every epoch
    model.fit(train_ds, validation_data=val_ds, epochs=config.epochs, callbacks=callbacks, verbose=verbose,
              shuffle=False)

    run.save_model(model)
    history = run.read_history()
    run.write_history(history)
    write_reconstructions(run, model, val_ds if val_ds is not None else train_ds)
    shutil.rmtree(run.backup_dir, ignore_errors=True)
    return history
