"""A training run on disk: :class:`RunDir` is the one reader and writer of its files.

A run directory holds::

    config.json          every setting (TrainConfig), the image shape, the number of
                         images, the data in words, the loss weights as trained, the
                         resolved statistics options and how the data were read
    model.keras          the trained SpatialStatsVAE (Keras' own format)
    history.csv          per-epoch metrics: Keras' CSVLogger's while training (a resumed
                         epoch may appear twice), one row per epoch once finished
    history.json         the same, one list per metric, once the run has finished
    training.json        how it trained: strategy, replicas, precision, XLA, epochs run, the
                         epoch kept (early stopping), seconds
    reconstructions.png  inputs, reconstructions and their statistics
    logs/                TensorBoard event files: every metric and the learning rate per
                         epoch (train/, validation/) and reconstruction figures (images/)
    backup/              while unfinished: what resuming needs (BackupAndRestore)
    .workers/            while a multi-worker job runs: each other worker's own run
                         directory (its backup), removed when it finishes
    .lock                while a process writes the run (a second writer is refused)

``history.csv`` counts epochs from 0, as Keras does; ``training.json`` from 1.

``ssvae train --out DIR`` writes one, ``ssvae tune --out T`` writes ``T/best/``;
``ssvae evaluate`` and ``ssvae export`` read them.  Light at import: the model
is loaded with Keras only when asked for.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import filelock

from ssvae_tf._io import atomic_write, check_free_space, remove_temporaries, write_json
from ssvae_tf.settings import STATISTICS_VAE_DEFAULTS, TrainConfig, recorded_settings


class RunDir:
    """One run directory (it need not exist yet).

    Args:
        path: the directory; ``config_file``, ``model_file``, ``history_csv``,
            ``history_json``, ``reconstructions_png`` and ``backup_dir`` are
            the paths of its parts.
    """

    CONFIG, MODEL, HISTORY_CSV, HISTORY_JSON = "config.json", "model.keras", "history.csv", "history.json"
    RECONSTRUCTIONS, BACKUP, LOCK = "reconstructions.png", "backup", ".lock"
    TRAINING, LOGS, WORKERS = "training.json", "logs", ".workers"

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.config_file = self.path / self.CONFIG
        self.model_file = self.path / self.MODEL
        self.history_csv = self.path / self.HISTORY_CSV
        self.history_json = self.path / self.HISTORY_JSON
        self.reconstructions_png = self.path / self.RECONSTRUCTIONS
        self.backup_dir = self.path / self.BACKUP
        self.lock_file = self.path / self.LOCK
        self.training_file = self.path / self.TRAINING
        self.logs_dir = self.path / self.LOGS
        self.image_logs_dir = self.logs_dir / "images"

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def worker(self, task: str) -> "RunDir":
        """The run directory that a multi-worker job's ``task`` (``"worker-1"``...) other than the
        chief writes instead of this one."""
        return RunDir(self.path / self.WORKERS / task)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the run's lock (``.lock``: ``filelock``'s lock of this platform, ``flock`` on Linux and
        macOS, ``msvcrt`` on Windows) while writing it, creating the directory if needed; the lock file
        exists only while it is held.

        Raises:
            ValueError: (one line) if another process holds it, e.g. a second ``ssvae train`` on the
                same ``--out``.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(self.lock_file, timeout=0)
        try:
            lock.acquire()
        except filelock.Timeout:
            raise ValueError(f"{self.path} is being written by another process (ssvae train?); wait for it "
                             "or choose another --out") from None
        try:
            yield
        finally:
            with contextlib.suppress(OSError):  # Windows removes it on release (an open file stays)
                self.lock_file.unlink(missing_ok=True)
            lock.release()

    # ------------------------------------------------------------- state
    @property
    def is_finished(self) -> bool:
        """A trained model is there and no backup of an unfinished run."""
        return self.model_file.is_file() and not self.backup_dir.exists()

    @property
    def is_unfinished(self) -> bool:
        """A run was started here and can resume."""
        return self.backup_dir.exists() and self.config_file.is_file()

    @property
    def has_finished_epoch(self) -> bool:
        """``history.csv`` holds a row: at least one epoch finished, so the run can resume."""
        return self.history_csv.is_file() and len(self.history_csv.read_text().splitlines()) > 1

    # ----------------------------------------------------------- removal
    def clear_outputs(self) -> None:
        """Remove what a run wrote besides its settings: the model, history, training record, figure,
        TensorBoard logs and backup (before an overwrite, so an interrupted one cannot pass the old
        run's outputs off as the new run's)."""
        shutil.rmtree(self.backup_dir, ignore_errors=True)
        shutil.rmtree(self.logs_dir, ignore_errors=True)
        for path in (self.model_file, self.history_csv, self.history_json, self.training_file,
                     self.reconstructions_png):
            path.unlink(missing_ok=True)

    def remove_unstarted(self) -> None:
        """After a failure before the first epoch finished: remove what the run wrote (settings,
        history, logs, backup), so nothing half-written stays; a run with a finished epoch
        (:attr:`has_finished_epoch`) is kept to resume."""
        if self.has_finished_epoch:
            return
        shutil.rmtree(self.backup_dir, ignore_errors=True)
        shutil.rmtree(self.logs_dir, ignore_errors=True)
        for path in (self.config_file, self.history_csv):
            path.unlink(missing_ok=True)

    def remove_temporaries(self) -> list[Path]:
        """Remove the hidden temporaries (``.model-XXXXXXXX.keras``, ...) that a process killed while
        writing one of the run's files left, in the run and its backup; call it holding the run's
        lock (:meth:`locked`).  Returns the paths removed."""
        files = (self.CONFIG, self.MODEL, self.HISTORY_CSV, self.HISTORY_JSON, self.TRAINING, self.RECONSTRUCTIONS)
        return [*remove_temporaries(self.path, files), *remove_temporaries(self.backup_dir, ("*.weights.h5", "*.json"))]

    def remove_backup(self) -> None:
        """Remove ``backup/`` once the run has finished (what resuming needed)."""
        shutil.rmtree(self.backup_dir, ignore_errors=True)

    def remove_if_empty(self) -> None:
        """Remove the directory if it exists and holds nothing."""
        if self.path.is_dir() and not any(self.path.iterdir()):
            self.path.rmdir()

    def remove_worker_copy(self) -> None:
        """Remove this run directory of a multi-worker job's other worker (:meth:`worker`) once the job
        finished, and ``.workers/`` when no other worker's is left."""
        shutil.rmtree(self.path, ignore_errors=True)
        with contextlib.suppress(OSError):
            self.path.parent.rmdir()

    # ---------------------------------------------------------- settings
    def write_settings(self, config: TrainConfig, image_shape, n_images: int, stats_options: dict[str, Any],
                       reading: dict[str, Any] | None = None) -> Path:
        """Write ``config.json`` (atomically).

        Args:
            config: the run's settings.
            image_shape: ``(*spatial, channels)`` of the model's input (the crops, with ``patch_size``).
            n_images: images (or crops per epoch plus validation crops) of one epoch and the validation.
            stats_options: the resolved statistics options, JSON form
                (``StatsOptions.to_json()``).
            reading: how the stored values were read, JSON form (``ReadOptions.to_json()``, with the
                threshold that ``otsu`` found).
        """
        return write_json(self.config_file, {
            "settings": config.to_json(),
            "image_shape": [int(s) for s in image_shape],
            "n_images": int(n_images),
            "data_description": config.data_description,
            "loss_weights": {**dict(zip(("alpha", "beta", "gamma"), config.loss_weights(image_shape[:-1]))),
                             **{name: config.loss_default(name) for name in STATISTICS_VAE_DEFAULTS}},
            "stats_options": stats_options,
            "reading": reading or {},
        })

    def record(self) -> dict[str, Any]:
        """The whole ``config.json``.

        Raises:
            ValueError: (one line) if it is missing or not JSON.
        """
        if not self.config_file.is_file():
            raise ValueError(f"{self.path} holds no {self.CONFIG}; expected a run directory written by "
                             "`ssvae train --out DIR`")
        try:
            return json.loads(self.config_file.read_text())
        except ValueError as error:
            raise ValueError(f"{self.config_file} is not valid JSON: {error}") from None

    def settings(self) -> TrainConfig:
        """The recorded :class:`TrainConfig`; a field added since the run was recorded takes its default.

        Raises:
            ValueError: (one line) if ``config.json`` is missing or not a run configuration.
        """
        return TrainConfig.from_mapping(recorded_settings(self.record(), self.config_file),
                                        origin=str(self.config_file))

    # ------------------------------------------------------------- model
    def save_model(self, model) -> Path:
        """Write ``model.keras`` atomically, after checking there is room (a full disk under HDF5
        crashes the process)."""
        from ssvae_tf.callbacks import checkpoint_bytes  # TensorFlow: loaded only when a model is saved

        check_free_space(self.path, checkpoint_bytes(model), self.MODEL)
        return atomic_write(self.model_file, model.save)

    def load_model(self):
        """The trained :class:`~ssvae_tf.model.SpatialStatsVAE` of a finished run.

        Raises:
            ValueError: (one line) if there is no finished model or it cannot be read.
        """
        if not self.model_file.is_file():
            raise ValueError(f"{self.path} is not a finished run directory: it holds no {self.MODEL} "
                             "(train one with `ssvae train --out DIR`)")
        return load_model(self.model_file)

    # ----------------------------------------------------------- history
    def read_history(self) -> dict[str, list[float]]:
        """Per-epoch metrics from ``history.csv``, keeping the last row of each epoch (a resumed run
        may log an epoch twice).  Keras' CSVLogger writes ``NA`` for a metric missing from an epoch
        (every ``val_*`` of a run without validation): such a value reads as NaN, and a metric that
        is ``NA`` in every epoch is left out."""
        with open(self.history_csv, newline="") as handle:
            rows = {int(row["epoch"]): row for row in csv.DictReader(handle)}
        history: dict[str, list[float]] = {}
        for epoch in sorted(rows):
            for key, value in rows[epoch].items():
                if key != "epoch":
                    history.setdefault(key, []).append(math.nan if value == "NA" else float(value))
        return {key: values for key, values in history.items() if not all(map(math.isnan, values))}

    def write_history(self, history: dict[str, list[float]]) -> None:
        """Write the finished run's ``history.csv`` (one row per epoch) and ``history.json``, atomically."""
        names = sorted(history)
        epochs = len(next(iter(history.values()), []))
        lines = [",".join(["epoch", *names])]
        lines += [",".join([str(epoch), *(repr(float(history[name][epoch])) for name in names)])
                  for epoch in range(epochs)]
        text = "\n".join(lines) + "\n"
        atomic_write(self.history_csv, lambda tmp: tmp.write_text(text))
        write_json(self.history_json, history)

    def truncate_history(self, epochs: int) -> None:
        """Keep the header and the complete rows of ``history.csv`` for the first ``epochs`` epochs,
        so a resumed run appends cleanly: cuts a row a kill left half-written, and the rows of
        epochs the run goes back past (a multi-worker job resumes from the last epoch every worker
        backed up).  A symbolic link is replaced by a file, so appending never writes through it."""
        if not self.history_csv.exists():
            return
        text = self.history_csv.read_text()
        lines = text[: text.rfind("\n") + 1].splitlines(keepends=True)
        kept = lines[:1] + [line for line in lines[1:] if int(line.split(",", 1)[0]) < epochs]
        if kept != text.splitlines(keepends=True) or self.history_csv.is_symlink():  # a link is replaced, as
            atomic_write(self.history_csv, lambda tmp: tmp.write_text("".join(kept)))  # every output is

    def write_training_record(self, record: dict[str, Any]) -> Path:
        """Write ``training.json`` (atomically): how the run trained."""
        return write_json(self.training_file, record)

    def training_record(self) -> dict[str, Any] | None:
        """How the run trained (``training.json``: strategy, replicas, precision, XLA, ``epochs_run``,
        ``kept_epoch``, ``stopped_early``, seconds); ``None`` before the run has finished.

        Raises:
            ValueError: (one line) if the file is not JSON.
        """
        if not self.training_file.is_file():
            return None
        try:
            return json.loads(self.training_file.read_text())
        except ValueError as error:
            raise ValueError(f"{self.training_file} is not valid JSON: {error}") from None


def load_model(path: str | os.PathLike):
    """A trained :class:`~ssvae_tf.model.SpatialStatsVAE` from a run directory or a ``.keras`` file.

    The same as ``keras.models.load_model(path)`` on the file, with one-line
    errors.

    Raises:
        ValueError: (one line) if ``path`` is neither, is corrupt (a damaged or truncated archive, a bad
            checksum) or holds no SpatialStatsVAE.
    """
    import keras

    from ssvae_tf.model import SpatialStatsVAE

    path = Path(path)
    model_file = RunDir(path).model_file if path.is_dir() else path
    if not model_file.is_file() or model_file.suffix != ".keras":
        raise ValueError(f"{path} is neither a run directory holding {RunDir.MODEL} nor a .keras file")
    corrupt = f"{model_file} is corrupt or not a Keras model file"
    if not zipfile.is_zipfile(model_file):  # Keras would call it "File not found"
        raise ValueError(f"{corrupt} (not a .keras zip archive; {model_file.stat().st_size} bytes)")
    try:
        model = keras.saving.load_model(model_file)
    except (zipfile.BadZipFile, EOFError, KeyError, RuntimeError) as error:  # RuntimeError: h5py on a damaged file
        raise ValueError(f"{corrupt} ({type(error).__name__}: {' '.join(str(error).split())})") from None
    except (ValueError, OSError, TypeError) as error:
        raise ValueError(f"cannot load {model_file}: {' '.join(str(error).split())}") from None
    if not isinstance(model, SpatialStatsVAE):
        raise ValueError(f"{model_file} holds a {type(model).__name__}, expected a SpatialStatsVAE")
    return model


def data_description(path: str | os.PathLike) -> str | None:
    """What the model at ``path`` (a run directory or the ``.keras`` file in one) was trained on,
    from its run's ``config.json``; ``None`` when there is no run record beside it."""
    path = Path(path)
    run = RunDir(path if path.is_dir() else path.parent)
    return run.record().get("data_description") if run.config_file.is_file() else None
