"""TensorBoard's HParams dashboard for a search: ``OUT/tensorboard/``.

``tensorboard --logdir OUT/tensorboard`` compares the trials in its HParams tab:

* ``OUT/tensorboard/events.out.tfevents.*`` — the experiment (``hp.hparams_config``): the searched
  hyperparameters with their domains (a range: its interval; a choice: its values; under Hyperband
  also ``tuner/epochs``, the epochs a trial trained) and the metrics of :func:`metric_names`, the
  objective first.
* ``OUT/tensorboard/trial_<id>/`` — one session per ended trial (``hp.hparams``, named by its
  ``search/trial_<id>`` folder): its values, its status (success, or failure for a failed trial) and
  every metric at its best epoch as a scalar at step = that epoch (1-based): the values KerasTuner
  scored, as ``trials.csv`` lists them.

The tuner writes a trial's session when the trial ends (``_SearchTuner.on_trial_end`` in
:mod:`tuning.search`), so the dashboard fills as the search runs; on a distributed search each
worker writes the sessions of its trials.  Each folder is written whole into a temporary folder
beside ``OUT/tensorboard`` and renamed into place: a trial that runs again (after a kill) replaces
its session, and the search that resumes removes the temporary folders a kill left.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tensorflow as tf
from tensorboard.plugins.hparams import api as hp
from tensorboard.plugins.hparams import api_pb2
from tensorboard.plugins.hparams import summary as hparams_summary

from ssvae_tf._io import remove_temporaries, temporary_folder
from ssvae_tf.settings import setting_kind
from tuning.config import TuneConfig
from tuning.results import TABLE_METRICS

#: A trial's status in KerasTuner -> the session's status in TensorBoard.
_STATUS = {"COMPLETED": api_pb2.STATUS_SUCCESS, "FAILED": api_pb2.STATUS_FAILURE,
           "INVALID": api_pb2.STATUS_FAILURE}
#: Hyperband's hyperparameter holding the epochs a trial trains to.
HYPERBAND_EPOCHS = "tuner/epochs"


def experiment_hparams(config: TuneConfig) -> list[hp.HParam]:
    """The HParams of ``config``'s search: each searched entry of its space with its domain, and
    ``tuner/epochs`` (1 to ``search.epochs``) under Hyperband."""
    hparams = []
    for name in config.searched:
        param = config.space[name]
        if param.kind == "choice":
            domain = hp.Discrete(list(param.values))
        elif setting_kind(name) is int:
            domain = hp.IntInterval(int(param.min), int(param.max))
        else:
            domain = hp.RealInterval(float(param.min), float(param.max))
        hparams.append(hp.HParam(name, domain))
    if config.search.tuner == "hyperband":
        hparams.append(hp.HParam(HYPERBAND_EPOCHS, hp.IntInterval(1, config.search.epochs)))
    return hparams


def metric_names(objective: str) -> list[str]:
    """The metrics the experiment compares: ``objective``, then the other metrics of the summary
    table (``val_combined`` only when it is the objective)."""
    return [objective, *(name for name in TABLE_METRICS if name not in (objective, "val_combined"))]


def _staged(log_dir: Path, write: Callable[[], None]) -> Path:
    """A new temporary folder beside ``log_dir`` (outside it: TensorBoard never lists it) holding the
    events that ``write()`` wrote under its default summary writer; makes ``log_dir`` if needed."""
    log_dir.mkdir(parents=True, exist_ok=True)
    staging = temporary_folder(log_dir)
    try:
        writer = tf.summary.create_file_writer(str(staging))
        with writer.as_default():
            write()
        writer.close()
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging


class HParamsLog:
    """Writes the HParams experiment of ``config``'s search and its trials' sessions into ``log_dir``
    (``OUT/tensorboard``)."""

    def __init__(self, log_dir: str | os.PathLike, config: TuneConfig):
        self.log_dir = Path(log_dir)
        self.hparams = experiment_hparams(config)
        self.metrics = metric_names(config.search.objective)

    def write_experiment(self) -> None:
        """Write the experiment into ``log_dir`` unless it holds one (a resumed search keeps it), and
        remove the temporary folders beside it that a killed search left; call it before any trial
        runs."""
        remove_temporaries(self.log_dir.parent, [self.log_dir.name])
        if any(self.log_dir.glob("events.out.tfevents.*")):
            return
        staging = _staged(self.log_dir, lambda: hp.hparams_config(
            hparams=self.hparams, metrics=[hp.Metric(name) for name in self.metrics]))
        for events in staging.iterdir():
            os.replace(events, self.log_dir / events.name)
        staging.rmdir()

    def write_trial(self, row: dict[str, Any]) -> Path:
        """Write the session of the trial ``row`` describes (a row of ``trials.csv``, see
        :func:`tuning.results.trial_row`) into ``log_dir/trial_<id>``, replacing an earlier one."""
        values = {param.name: row[f"hp:{param.name}"] for param in self.hparams if f"hp:{param.name}" in row}
        step = row["best_epoch"] or 0

        def write() -> None:
            hp.hparams(values, trial_id=str(row["trial_id"]))
            for key, value in row.items():
                if key.startswith("metric:") and value is not None:
                    tf.summary.scalar(key[len("metric:"):], float(value), step=step)
            end = hparams_summary.session_end_pb(_STATUS.get(row["status"], api_pb2.STATUS_UNKNOWN))
            tf.summary.experimental.write_raw_pb(end.SerializeToString(), step=step)

        staging = _staged(self.log_dir, write)
        target = self.log_dir / f"trial_{row['trial_id']}"
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
        return target


__all__ = ["HParamsLog", "experiment_hparams", "metric_names"]
