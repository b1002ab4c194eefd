"""Run a search: data -> HyperModel -> KerasTuner tuner -> results in one directory.

``OUT/`` holds ``tune_config.json`` (the resolved settings), ``search/`` (the
KerasTuner project: ``oracle.json``, ``trial_*/``), and once the search is
over ``trials.csv``, ``summary.md``, ``best_hyperparameters.json``,
``best/`` (the best trial as a run directory) and ``search.png`` (see
:mod:`tuning.results`, which names every file), and from the start ``tensorboard/``: TensorBoard's
HParams experiment and one session per ended trial (:mod:`tuning.hparams_log`).

Resuming: the same ``OUT`` and settings reload the project
(``overwrite=False``): finished trials are kept, the trial that was running
when the search died runs again, and the search continues to ``max_trials``.
KerasTuner writes its state files in place; here the oracle, trial and tuner
files are written atomically (temporary file + rename), so a SIGKILL at any
moment leaves a project that reloads.

Distributed: KerasTuner's own mode.  With ``KERASTUNER_ORACLE_IP``,
``KERASTUNER_ORACLE_PORT`` and ``KERASTUNER_TUNER_ID`` set, the process whose
tuner id contains ``chief`` serves the oracle over gRPC and writes the
results; the others are workers that run trials and report to it.  All share
``OUT`` (a shared file system past one machine).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import keras_tuner

from ssvae_tf._io import atomic_write, write_json
from ssvae_tf.distribute import make_strategy, shardable
from ssvae_tf.settings import TrainConfig
from ssvae_tf.training import run_data, run_datasets
from tuning.config import TuneConfig, load_config
from tuning.hparams_log import HParamsLog
from tuning.hypermodel import SpatialStatsHyperModel
from tuning.objectives import COMBINED, tuner_objective
from tuning.results import (
    BEST_RUN,
    CONFIG_FILE,
    PROJECT_NAME,
    RESULT_FILES,
    TENSORBOARD_DIR,
    TRIAL_INFO,
    trial_row,
    write_results,
)

#: Settings that may change when a search is resumed (raise max_trials to extend a finished search).
RESUMABLE_CHANGES = ("max_trials",)


# ------------------------------------------------------------ distribution
def distributed_role() -> str | None:
    """``"chief"``, ``"worker"`` or ``None`` from KerasTuner's environment variables."""
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return None
    missing = [name for name in ("KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID") if not os.environ.get(name)]
    if missing:
        raise ValueError(f"KERASTUNER_ORACLE_IP is set but {missing[0]} is not; distributed tuning needs "
                         "KERASTUNER_ORACLE_IP, KERASTUNER_ORACLE_PORT and KERASTUNER_TUNER_ID")
    return "chief" if "chief" in os.environ["KERASTUNER_TUNER_ID"] else "worker"


# --------------------------------------------------- atomic KerasTuner state
def _write_state(path: str | Path, state: dict[str, Any]) -> None:
    text = json.dumps(state)
    atomic_write(path, lambda tmp: tmp.write_text(text))


class _AtomicOracle:
    """Oracle mix-in: state files written atomically; orphaned running trials retried."""

    def save(self):
        _write_state(self._get_oracle_fname(), self.get_state())

    def _save_trial(self, trial):
        _write_state(Path(self._get_trial_dir(trial.trial_id)) / "trial.json", trial.get_state())

    def reload(self):
        super().reload()
        # A trial saved as RUNNING but missing from the saved ongoing trials (a kill between
        # the two writes of create_trial) would otherwise never finish: run it again.
        for trial_id, trial in self.trials.items():
            if trial.status == "RUNNING" and trial_id not in self._retry_queue:
                self._retry_queue.append(trial_id)


class RandomOracle(_AtomicOracle, keras_tuner.oracles.RandomSearchOracle):
    pass


class BayesianOracle(_AtomicOracle, keras_tuner.oracles.BayesianOptimizationOracle):
    pass


class HyperbandOracle(_AtomicOracle, keras_tuner.oracles.HyperbandOracle):
    pass


class _SearchTuner:
    """Tuner mix-in: atomic tuner file; records which tuner ran a trial and how long it took, and
    writes each ended trial's TensorBoard HParams session into ``hparams_log`` (when set)."""

    hparams_log: HParamsLog | None = None

    def save(self):
        if not self._is_worker():
            self.oracle.save()
        _write_state(self._get_tuner_fname(), self.get_state())

    def run_trial(self, trial, *args, **kwargs):
        start = time.time()
        results = super().run_trial(trial, *args, **kwargs)
        info = {"tuner_id": self.tuner_id, "seconds": round(time.time() - start, 2)}
        _write_state(Path(self.get_trial_dir(trial.trial_id)) / TRIAL_INFO, info)
        return results

    def on_trial_end(self, trial):
        super().on_trial_end(trial)  # the oracle scores the trial
        if self.hparams_log is not None:
            self.hparams_log.write_trial(trial_row(self, self.oracle.get_trial(trial.trial_id)))


class SearchTuner(_SearchTuner, keras_tuner.Tuner):
    """Random search and Bayesian optimisation (the oracle decides)."""


class HyperbandTuner(_SearchTuner, keras_tuner.Hyperband):
    """Hyperband's trial logic (epochs per round, warm starts) with a given oracle."""

    def __init__(self, oracle, hypermodel, **kwargs):
        keras_tuner.Tuner.__init__(self, oracle=oracle, hypermodel=hypermodel, **kwargs)


def check_tuner_available(tuner: str) -> None:
    """Bayesian optimisation needs scikit-learn and scipy (KerasTuner's ``bayesian`` extra)."""
    if tuner != "bayesian":
        return
    from importlib.util import find_spec

    missing = [name for name, module in (("scikit-learn", "sklearn"), ("scipy", "scipy")) if find_spec(module) is None]
    if missing:
        raise ValueError(f"tuner 'bayesian' needs {' and '.join(missing)} (pip install {' '.join(missing)}); "
                         "use tuner 'random' or 'hyperband' without them")


def make_tuner(config: TuneConfig, hypermodel: SpatialStatsHyperModel, directory: str | Path,
               project_name: str = PROJECT_NAME, strategy=None) -> keras_tuner.Tuner:
    """The tuner ``config.search.tuner`` asks for, reloading ``directory/project_name`` if present;
    its trials build and train under ``strategy`` (a ``tf.distribute.Strategy``; default: none) and
    write their TensorBoard HParams sessions into ``directory/tensorboard`` (:mod:`tuning.hparams_log`)."""
    search = config.search
    # KerasTuner treats seed 0 as "no seed" (random), so the oracle gets seed + 1.
    common = dict(objective=tuner_objective(search.objective), seed=search.seed + 1)
    if search.tuner == "random":
        oracle = RandomOracle(max_trials=search.max_trials, **common)
    elif search.tuner == "bayesian":
        check_tuner_available("bayesian")
        oracle = BayesianOracle(max_trials=search.max_trials, **common)
    elif search.tuner == "hyperband":
        oracle = HyperbandOracle(max_epochs=search.epochs, factor=search.hyperband_factor, **common)
        oracle.max_trials = search.max_trials  # an upper bound on Hyperband's own schedule
    else:
        raise ValueError(f"tuner must be one of random, bayesian, hyperband, got {search.tuner!r}")
    tuner_class = HyperbandTuner if search.tuner == "hyperband" else SearchTuner
    tuner = tuner_class(oracle=oracle, hypermodel=hypermodel, directory=str(directory), project_name=project_name,
                        overwrite=False, executions_per_trial=search.executions_per_trial,
                        distribution_strategy=strategy)
    tuner.hparams_log = HParamsLog(Path(directory) / TENSORBOARD_DIR, config)
    return tuner


# -------------------------------------------------------------------- data
def base_config(config: TuneConfig) -> TrainConfig:
    """The settings every trial shares: ``config``'s data, epochs and seed, and the fixed values of its space."""
    fixed = {name: param.value for name, param in config.space.items()
             if not param.searched and not (name == "depth" and param.value == "auto")}
    return TrainConfig(**config.data.train_settings(), epochs=config.search.epochs, seed=config.search.seed,
                       **fixed)


@dataclass
class SearchData:
    train: Any
    validation: Any
    image_shape: tuple[int, ...]
    stats_scale: float
    n_images: int
    reading: dict[str, Any]


def load_data(config: TuneConfig, progress: bool = True) -> SearchData:
    """Training and validation pipelines, image shape and statistics scale of ``config.data``
    (``progress``: a bar while built-in images are generated)."""
    base = base_config(config)
    data = run_data(base, progress=progress)
    train, validation, scale = run_datasets(base, data, progress)
    return SearchData(shardable(train), shardable(validation), data.image_shape, float(scale), data.n_train + data.n_validation,
                      data.read.to_json())


def make_hypermodel(config: TuneConfig, image_shape, stats_scale: float) -> SpatialStatsHyperModel:
    weights = config.search.objective_weights if config.search.objective == COMBINED else None
    return SpatialStatsHyperModel(base_config(config), image_shape, config.space, stats_scale=stats_scale,
                                  objective_weights=weights)


# -------------------------------------------------------------- the search
def _comparable(record: dict[str, Any]) -> dict[str, Any]:
    record = json.loads(json.dumps(record))
    for key in RESUMABLE_CHANGES:
        record["search"].pop(key, None)
    return record


def _check_out_dir(out_dir: Path, config: TuneConfig, overwrite: bool, write: bool) -> bool:
    """Whether ``out_dir`` holds a search to resume; refuses a different one unless ``overwrite``."""
    record_file = out_dir / CONFIG_FILE
    project = out_dir / PROJECT_NAME
    if overwrite and write:
        shutil.rmtree(project, ignore_errors=True)
        shutil.rmtree(out_dir / BEST_RUN, ignore_errors=True)
        shutil.rmtree(out_dir / TENSORBOARD_DIR, ignore_errors=True)
        for name in (CONFIG_FILE, *RESULT_FILES):
            (out_dir / name).unlink(missing_ok=True)
        return False
    if record_file.exists():
        previous = json.loads(record_file.read_text())
        if _comparable(previous) != _comparable(config.to_json()):
            raise ValueError(f"{out_dir} holds a search with other settings ({record_file}); run the same "
                             "command to resume it, choose another --out, or pass --overwrite")
        return True
    if project.exists() and write and any(project.iterdir()):
        raise ValueError(f"{project} exists but {record_file} does not; choose another --out or pass --overwrite")
    return False


def run_search(config: TuneConfig, out_dir: str | Path, overwrite: bool = False, verbose: int = 1,
               strategy: str = "auto"):
    """Run (or resume) the search ``config`` describes in ``out_dir``.

    Args:
        config: a checked :class:`~tuning.config.TuneConfig`.
        out_dir: the search directory (created; reused to resume).
        overwrite: discard an earlier search in ``out_dir`` first.
        verbose: 0 quiet; otherwise KerasTuner's trial tables, one line per epoch and the summary.
        strategy: where each trial trains (:func:`ssvae_tf.distribute.make_strategy`), except
            ``multi-worker``: KerasTuner spreads trials over processes itself (``--distributed``).

    Returns:
        The :class:`~tuning.results.SearchSummary` (rows, best trial, paths),
        or ``None`` on a distributed worker (the chief writes the results).
    """
    if strategy == "multi-worker":
        raise ValueError("ssvae tune trains each trial in one process; to use several machines, run a chief and "
                         "workers with --distributed (each may use --strategy mirrored over its GPUs)")
    distribution = make_strategy(strategy)  # first: before other TensorFlow work
    out_dir = Path(out_dir)
    role = distributed_role()
    writes = role != "worker"
    check_tuner_available(config.search.tuner)
    resuming = _check_out_dir(out_dir, config, overwrite=overwrite and writes, write=writes)
    start = time.time()
    keras.utils.set_random_seed(config.search.seed)
    data = load_data(config, progress=bool(verbose))
    if writes:  # after the data loaded: a config with a bad source is not recorded
        write_json(out_dir / CONFIG_FILE, config.to_json())
    hypermodel = make_hypermodel(config, data.image_shape, data.stats_scale)
    with contextlib.redirect_stdout(sys.stdout if verbose else io.StringIO()):  # "Reloading Tuner from ..."
        tuner = make_tuner(config, hypermodel, out_dir, strategy=distribution)
    if writes:
        tuner.hparams_log.write_experiment()
    if verbose and writes:
        done = sum(t.status == "COMPLETED" for t in tuner.oracle.trials.values())
        state = f"resuming: {done} finished trial(s) kept" if resuming else "new search"
        print(f"{state}; {config.search.tuner} search of {config.search.max_trials} trial(s) on "
              f"{data.n_images} {config.data.source} images {data.image_shape[:-1]}, objective "
              f"{config.search.objective}, results in {out_dir}", flush=True)
    try:
        tuner.search(data.train, validation_data=data.validation, epochs=config.search.epochs,
                     verbose=2 if verbose else 0)
    except RuntimeError as exc:  # KerasTuner gives up after consecutive failed trials
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        raise ValueError(f"the search stopped: {lines[0] if lines else exc}"
                         + (f"; last trial error: {lines[-1]}" if len(lines) > 1 else "")) from None
    if not writes:
        return None
    return write_results(tuner, config, data, out_dir, seconds=time.time() - start, verbose=verbose)


def run_demo_search(out_dir: str | Path = "demo_out/tune", verbose: int = 1):
    """The tiny search of ``ssvae demo --tune``: ``tuning/configs/demo.toml`` into ``out_dir``
    (replacing an earlier one); returns the :class:`~tuning.results.SearchSummary`."""
    return run_search(load_config("demo"), out_dir, overwrite=True, verbose=verbose)
