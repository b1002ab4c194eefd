"""TensorBoard's HParams records of a search, read back from the event files: the experiment, and one
session per trial with the trial's values, status and metrics.  Tiny data and models."""

from pathlib import Path

import pytest
import tensorflow as tf
from google.protobuf import struct_pb2
from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

from ssvae_tf.data import generate_lines, make_dataset
from tuning.config import parse_config
from tuning.hparams_log import HParamsLog
from tuning.search import make_hypermodel, make_tuner

pytestmark = pytest.mark.filterwarnings("ignore:currentThread:DeprecationWarning",
                                        "ignore:getName:DeprecationWarning")
TINY = {"data": {"source": "lines", "image_size": 16, "n_images": 16, "batch_size": 8},
        "search": {"tuner": "random", "max_trials": 1, "epochs": 1, "objective": "val_combined"},
        "space": {"latent_dim": {"min": 2, "max": 8, "sampling": "log"}, "beta": {"values": [0.01, 0.1]},
                  "filters": 4, "hidden_units": 16, "depth": 1}}


def _records(folder: Path) -> list[tuple[str, int, object]]:
    """``(tag, step, value)`` of every summary in ``folder``'s event files (not its subfolders): the
    parsed HParams plugin data, or a scalar's value."""
    records = []
    for path in sorted(folder.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == metadata.PLUGIN_NAME:
                    data = plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)
                    records.append((value.tag, event.step, data))
                else:
                    records.append((value.tag, event.step, float(tf.make_ndarray(value.tensor))))
    return records


def _hparam_value(value: struct_pb2.Value):
    return getattr(value, value.WhichOneof("kind"))


def test_a_search_writes_one_hparams_session_per_trial(tmp_path):
    config = parse_config(TINY)
    train, validation = make_dataset(generate_lines(16, 16, seed=0).images, batch_size=8, validation_split=0.25,
                                     seed=0)
    tuner = make_tuner(config, make_hypermodel(config, (16, 16, 1), 0.2), tmp_path)
    tuner.hparams_log.write_experiment()
    tuner.search(train, validation_data=validation, epochs=1, verbose=0)  # one trial: ~2 s
    log_dir = tmp_path / "tensorboard"

    [(tag, _, experiment)] = _records(log_dir)
    assert tag == metadata.EXPERIMENT_TAG
    infos = {info.name: info for info in experiment.experiment.hparam_infos}
    assert set(infos) == {"latent_dim", "beta"}  # the searched entries only
    assert (infos["latent_dim"].domain_interval.min_value, infos["latent_dim"].domain_interval.max_value) == (2, 8)
    assert [v.number_value for v in infos["beta"].domain_discrete.values] == [0.01, 0.1]
    assert [m.name.tag for m in experiment.experiment.metric_infos][0] == "val_combined"

    trials = tuner.oracle.trials
    assert sorted(p.name for p in log_dir.iterdir()) == sorted(
        [f"trial_{tid}" for tid in trials] + [p.name for p in log_dir.glob("events.*")])
    for trial_id, trial in trials.items():
        records = _records(log_dir / f"trial_{trial_id}")
        [start] = [data.session_start_info for tag, _, data in records if tag == metadata.SESSION_START_INFO_TAG]
        [end] = [data.session_end_info for tag, _, data in records if tag == metadata.SESSION_END_INFO_TAG]
        assert start.group_name == trial_id and end.status == api_pb2.STATUS_SUCCESS
        values = {name: _hparam_value(value) for name, value in start.hparams.items()}
        assert values == {name: trial.hyperparameters.values[name] for name in ("latent_dim", "beta")}
        scalars = {tag: (step, value) for tag, step, value in records if isinstance(value, float)}
        assert scalars["val_combined"] == (trial.best_step + 1, pytest.approx(trial.score, rel=1e-6))
        assert scalars["val_stats_distance"][1] == pytest.approx(
            trial.metrics.get_last_value("val_stats_distance"), rel=1e-6)
    assert not list(tmp_path.glob(".*")), "temporary folders left behind"


def test_a_trial_that_runs_again_replaces_its_session_and_a_resumed_search_keeps_its_experiment(tmp_path):
    log = HParamsLog(tmp_path / "tensorboard", parse_config({**TINY, "search": {"tuner": "hyperband"}}))
    assert [p.name for p in log.hparams] == ["latent_dim", "beta", "tuner/epochs"]
    log.write_experiment()
    log.write_experiment()  # a resumed search
    assert len(_records(log.log_dir)) == 1
    row = {"trial_id": "0007", "status": "FAILED", "best_epoch": None, "hp:latent_dim": 3, "hp:beta": 0.1,
           "hp:tuner/epochs": 2, "hp:filters": 4, "metric:val_combined": None}
    log.write_trial(row)
    log.write_trial({**row, "status": "COMPLETED", "best_epoch": 2, "metric:val_combined": 0.5})
    records = _records(log.log_dir / "trial_0007")
    assert [tag for tag, _, _ in records] == [metadata.SESSION_START_INFO_TAG, "val_combined",
                                              metadata.SESSION_END_INFO_TAG]
    start = records[0][2].session_start_info
    assert {name: _hparam_value(v) for name, v in start.hparams.items()} == {
        "latent_dim": 3, "beta": 0.1, "tuner/epochs": 2}  # not the fixed filters
    assert records[1][1:] == (2, 0.5)
    assert records[2][2].session_end_info.status == api_pb2.STATUS_SUCCESS
    log.write_trial(row)
    [end] = [data for tag, _, data in _records(log.log_dir / "trial_0007") if tag == metadata.SESSION_END_INFO_TAG]
    assert end.session_end_info.status == api_pb2.STATUS_FAILURE


def test_a_resumed_search_removes_the_staging_folders_a_killed_one_left(tmp_path):
    from ssvae_tf._io import temporary_folder

    log = HParamsLog(tmp_path / "tensorboard", parse_config(TINY))
    log.write_experiment()
    stale = temporary_folder(log.log_dir)  # what a kill inside write_trial leaves
    (stale / "events.out.tfevents.1.host").write_bytes(b"half")
    mine = tmp_path / ".tensorboard-notes"  # not one of ours: kept
    mine.mkdir()
    log.write_experiment()  # the resumed search
    assert not stale.exists() and mine.is_dir()
    assert len(_records(log.log_dir)) == 1
