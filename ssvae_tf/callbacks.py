"""The Keras callbacks of a training run (:func:`ssvae_tf.training.train`): the learning-rate
schedule, backups that survive kills, early stopping that survives a resume, and TensorBoard
image summaries.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from ssvae_tf._io import atomic_write, check_free_space, write_json


def checkpoint_bytes(model: keras.Model) -> int:
    """A safe size for a file of ``model``'s weights and optimizer state: their bytes, plus a quarter
    and 1 MiB for the file's own structure."""
    optimizer = getattr(model, "optimizer", None)  # none before compile
    variables = [*model.weights, *(optimizer.variables if optimizer is not None else [])]
    data = sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in variables)
    return int(1.25 * data) + 2**20


def save_weights_atomically(model: keras.Model, path: Path) -> None:
    """``model.save_weights`` to ``path`` (``.weights.h5``), replacing it whole or not at all, after
    checking there is room (a full disk under HDF5 crashes the process)."""
    check_free_space(path.parent, checkpoint_bytes(model), f"the weights {path.name}")
    atomic_write(path, lambda tmp: model.save_weights(str(tmp), overwrite=True))


def halved_for_last_tenth(epochs: int, learning_rate: float) -> keras.callbacks.LearningRateScheduler:
    """The paper's schedule: ``learning_rate``, halved for the last 10 % of the epochs."""
    switch = math.ceil(0.9 * epochs)
    return keras.callbacks.LearningRateScheduler(
        lambda epoch, _lr: learning_rate if epoch < switch else learning_rate / 2
    )


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """``BackupAndRestore`` whose backups appear whole or not at all, keep two epochs, and stay
    until the run's outputs are written.

    After each epoch ``n`` (epochs finished) the weights and optimizer state go
    to ``epoch-<n>.weights.h5``, then ``training_metadata.json`` records ``n``;
    each file is replaced atomically, so a kill at any moment leaves a backup
    that resumes (a kill between the two repeats one epoch).  The previous
    epoch's weights are kept too: the workers of a multi-worker job, killed
    between their saves, can all go back to the last epoch every one of them
    finished (``resume_epoch``, :func:`ssvae_tf.distribute.agreed_minimum`).
    Nothing is deleted at the end of ``fit``: :func:`~ssvae_tf.training.train`
    removes ``backup/`` once the model and history are written, so a kill
    during that final save resumes instead of losing the run.

    Args:
        backup_dir: the run's ``backup/``.
        resume_epoch: the epochs finished to restore (default: the latest backed up).
    """

    KEPT_EPOCHS = 2
    _EPOCH_FILE = re.compile(r"epoch-(\d+)\.weights\.h5")

    def __init__(self, backup_dir: str | Path, resume_epoch: int | None = None):
        super().__init__(str(backup_dir), delete_checkpoint=False)
        self.resume_epoch = resume_epoch

    def latest_epoch(self) -> int:
        """Epochs finished according to the backup (0 without one)."""
        path = Path(self._training_metadata_path)
        return int(json.loads(path.read_text())["epoch"]) if path.is_file() else 0

    def epoch_weights(self, epoch: int) -> Path:
        """The weights file of the backup after ``epoch`` finished epochs."""
        return Path(self.backup_dir) / f"epoch-{epoch}.weights.h5"

    def on_train_begin(self, logs=None):
        epoch = self.latest_epoch() if self.resume_epoch is None else self.resume_epoch
        if epoch == 0:
            return
        weights = self.epoch_weights(epoch)
        if not weights.is_file() and epoch == self.latest_epoch() and Path(self._weights_path).is_file():
            weights = Path(self._weights_path)  # a backup written before epochs were kept apart
        if not weights.is_file():
            raise ValueError(f"{self.backup_dir} holds no backup of epoch {epoch} to resume from; the run "
                             "cannot continue: start it again with --overwrite")
        self.model.load_weights(str(weights))
        self.model._initial_epoch = epoch
        self._current_epoch = epoch

    def _save_model(self):
        epoch = self._current_epoch
        save_weights_atomically(self.model, self.epoch_weights(epoch))
        write_json(self._training_metadata_path, {"epoch": epoch, "batch": self._last_batch_seen})
        for path in Path(self.backup_dir).glob("epoch-*.weights.h5"):
            match = self._EPOCH_FILE.fullmatch(path.name)
            if match and int(match.group(1)) <= epoch - self.KEPT_EPOCHS:
                path.unlink(missing_ok=True)


class KeepBestEpoch(keras.callbacks.Callback):
    """Early stopping on ``val_stats_distance`` that keeps the best epoch and survives a resume.

    After each epoch whose ``val_stats_distance`` is the lowest so far, its
    weights go to ``BACKUP/best.weights.h5`` and ``BACKUP/best.json`` records
    ``{"epoch": e, "value": v, "stopped": false}`` (``e`` 0-based, as in
    ``history.csv``); after ``patience`` epochs without improvement training
    stops and ``stopped`` becomes true.  A resumed run reads ``best.json``, so
    the count goes on where it was.  :meth:`restore` puts the best weights
    back before the model is saved.

    Args:
        patience: epochs without improvement before stopping, >= 1.
        backup_dir: the run's ``backup/``.
        start_epoch: epochs already finished (a resumed run's), from the backup.
    """

    MONITOR = "val_stats_distance"

    def __init__(self, patience: int, backup_dir: str | Path, start_epoch: int = 0):
        super().__init__()
        self.patience = int(patience)
        self.weights_file = Path(backup_dir) / "best.weights.h5"
        self.record_file = Path(backup_dir) / "best.json"
        record = json.loads(self.record_file.read_text()) if self.record_file.is_file() else None
        # a record of an epoch the job went back past (multi-worker) does not count
        self.record = record if record is not None and record["epoch"] < start_epoch else None
        self.wait = 0 if self.record is None else start_epoch - 1 - self.record["epoch"]

    @property
    def stopped(self) -> bool:
        """Whether training stopped early (before or after a resume)."""
        return bool(self.record and self.record["stopped"])

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.MONITOR)
        if value is None:
            raise ValueError(f"early stopping watches {self.MONITOR}, which this run does not log; "
                             "expected validation data (validation_split > 0)")
        if self.record is None or value < self.record["value"]:
            save_weights_atomically(self.model, self.weights_file)
            self.record, self.wait = {"epoch": int(epoch), "value": float(value), "stopped": False}, 0
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.model.stop_training = True
                self.record = {**self.record, "stopped": True}
        write_json(self.record_file, self.record)

    def restore(self, model: keras.Model) -> int | None:
        """Load the best epoch's weights into ``model``; its 0-based epoch (``None`` if no epoch
        finished)."""
        if self.record is None:
            return None
        model.load_weights(str(self.weights_file))
        return int(self.record["epoch"])


class ImageSummaries(keras.callbacks.Callback):
    """TensorBoard image summaries: every ``every`` epochs but the last, the figure of
    ``examples``, their reconstructions and statistics that ``reconstructions.png`` shows
    (:func:`ssvae_tf.figures.plot_reconstructions`), under the tag ``reconstructions`` in
    ``log_dir``; the run's own ``reconstructions.png`` is logged for the last (:meth:`log_png`).

    Args:
        log_dir: folder of the event files, e.g. ``RUN/logs/images``.
        examples: ``(n, *spatial, 1)`` images or volumes in [0, 1].
        every: epochs between figures.
    """

    def __init__(self, log_dir: str | Path, examples: np.ndarray, every: int = 5):
        super().__init__()
        self.log_dir, self.examples, self.every = Path(log_dir), np.asarray(examples), int(every)

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every or epoch + 1 == self.params.get("epochs"):
            return
        from ssvae_tf.figures import plot_reconstructions

        with tempfile.TemporaryDirectory() as folder:
            png = Path(folder) / "reconstructions.png"
            plot_reconstructions(self.examples, np.asarray(self.model(self.examples)), self.model.stats_options, png)
            self.log_png(png, epoch)

    def log_png(self, png: str | Path, epoch: int) -> None:
        """Log the PNG figure ``png`` as the reconstructions of ``epoch`` (0-based)."""
        image = tf.io.decode_png(Path(png).read_bytes(), channels=3)[tf.newaxis]
        writer = tf.summary.create_file_writer(str(self.log_dir))
        with writer.as_default():
            tf.summary.image("reconstructions", image, step=epoch)
        writer.close()
