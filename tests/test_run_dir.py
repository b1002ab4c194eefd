"""RunDir: the one reader and writer of a run directory; load_model as Keras users load models."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TINY

from ssvae_tf.run_dir import RunDir, data_description, load_model


def test_settings_round_trip_and_record(tmp_path):
    run = RunDir(tmp_path / "run")
    run.write_settings(TINY, (32, 32, 1), 48, {"scale": 0.1})
    assert run.settings() == TINY
    record = run.record()
    assert record["image_shape"] == [32, 32, 1] and record["n_images"] == 48
    assert record["data_description"] == TINY.data_description
    assert record["loss_weights"] == {"alpha": 1.0, "beta": 0.0025, "gamma": 0.0, "anchor": 1.0,
                                       "binary_weight": 0.05, "perimeter_weight": 4.0}  # beta for 32 px
    assert not run.is_finished and not run.is_unfinished


def test_a_record_older_than_a_setting_takes_its_default(tmp_path):
    run = RunDir(tmp_path)
    settings = dataclasses.asdict(TINY)
    del settings["indicator"]
    run.config_file.write_text(json.dumps({"settings": settings}))
    assert run.settings() == TINY


@pytest.mark.parametrize("content, message", [(None, "holds no config.json"), ("{", "not valid JSON"),
                                              ('{"image_shape": []}', "not a valid run configuration")])
def test_bad_records_are_one_line_errors(tmp_path, content, message):
    run = RunDir(tmp_path)
    if content is not None:
        run.config_file.write_text(content)
    with pytest.raises(ValueError, match=message) as error:
        run.settings()
    assert "\n" not in str(error.value)


def test_history_keeps_the_last_row_of_each_epoch_and_cuts_a_partial_row(tmp_path):
    run = RunDir(tmp_path)
    run.history_csv.write_text("epoch,loss\n0,2.0\n1,1.5\n1,1.4\n2,1.")
    run.truncate_history(3)
    assert run.history_csv.read_text() == "epoch,loss\n0,2.0\n1,1.5\n1,1.4\n"
    assert run.read_history() == {"loss": [2.0, 1.4]}


def test_a_history_link_is_replaced_not_written_through(tmp_path):
    elsewhere = tmp_path / "elsewhere.csv"
    elsewhere.write_text("epoch,loss\n0,2.0\n")
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    run.history_csv.symlink_to(elsewhere)
    run.truncate_history(1)
    assert not run.history_csv.is_symlink() and run.read_history() == {"loss": [2.0]}
    assert elsewhere.read_text() == "epoch,loss\n0,2.0\n"


def test_truncating_the_history_drops_the_epochs_a_job_goes_back_past(tmp_path):
    run = RunDir(tmp_path)
    run.history_csv.write_text("epoch,loss\n0,2.0\n1,1.5\n2,1.4\n2,1.3\n")
    run.truncate_history(2)
    assert run.read_history() == {"loss": [2.0, 1.5]}
    run.truncate_history(0)
    assert run.history_csv.read_text() == "epoch,loss\n"


def test_history_reads_keras_na_as_nan_and_drops_metrics_never_logged(tmp_path):
    run = RunDir(tmp_path)
    run.history_csv.write_text("epoch,loss,val_loss,val_x\n0,2.0,NA,NA\n1,1.5,1.25,NA\n")
    history = run.read_history()
    assert sorted(history) == ["loss", "val_loss"] and history["loss"] == [2.0, 1.5]
    assert history["val_loss"][1] == 1.25 and history["val_loss"][0] != history["val_loss"][0]  # NaN


def test_write_history_writes_one_row_per_epoch_and_the_json(tmp_path):
    run = RunDir(tmp_path)
    run.history_csv.write_text("epoch,loss\n0,9.0\n0,2.0\n")  # a resumed run logged epoch 0 twice
    history = {"loss": [2.0, 1.25], "val_loss": [2.5, 1.5]}
    run.write_history(history)
    assert run.history_csv.read_text().splitlines() == ["epoch,loss,val_loss", "0,2.0,2.5", "1,1.25,1.5"]
    assert run.read_history() == history
    assert json.loads(run.history_json.read_text()) == history


@pytest.mark.slow
def test_load_model_of_a_run_or_a_file_and_its_errors(tiny_runs, tmp_path):
    model = load_model(tiny_runs / "ss")
    assert type(model).__name__ == "SpatialStatsVAE" and model.latent_dim == TINY.latent_dim
    assert load_model(tiny_runs / "ss" / "model.keras").latent_dim == TINY.latent_dim
    assert RunDir(tiny_runs / "ss").is_finished
    assert data_description(tiny_runs / "ss" / "model.keras") == TINY.data_description
    assert data_description(tmp_path / "nothing.keras") is None
    with pytest.raises(ValueError, match="neither a run directory"):
        load_model(tmp_path)
    with pytest.raises(ValueError, match="holds no model.keras"):
        RunDir(tmp_path).load_model()


def test_a_corrupt_keras_file_is_named_in_one_line(tmp_path):
    import zipfile

    from ssvae_tf.model import build_vae

    good = tmp_path / "good.keras"
    build_vae((16, 16, 1), latent_dim=2, depth=2, filters=4, hidden_units=8, seed=0).save(good)
    data = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as archive:
        weights = next(info for info in archive.infolist() if info.filename.endswith(".h5"))
    data[weights.header_offset + 30 + len(weights.filename) + len(weights.extra) + 100] ^= 0xFF  # in its data
    damaged = {"bad-crc.keras": bytes(data), "truncated.keras": bytes(data[: len(data) // 2]), "empty.keras": b"",
               "text.keras": b"not a model"}
    for name, content in damaged.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match=f"^{tmp_path / name} is corrupt or not a Keras model file") as error:
            load_model(tmp_path / name)
        assert "\n" not in str(error.value) and "File not found" not in str(error.value)


def test_a_resumed_run_s_stale_temporaries_are_removed(tmp_path):
    run = RunDir(tmp_path / "run")
    run.backup_dir.mkdir(parents=True)
    stale = [run.path / ".model-k1ll3d_x.keras", run.path / ".config-abcdefgh.json",
             run.backup_dir / ".epoch-4-abcd1234.weights.h5", run.backup_dir / ".training_metadata-zzzzzzzz.json"]
    kept = [run.path / ".notes-of-mine.txt", run.backup_dir / "epoch-3.weights.h5", run.path / "model.keras"]
    for path in stale + kept:
        path.write_bytes(b"")
    assert sorted(run.remove_temporaries()) == sorted(stale)
    assert all(path.exists() for path in kept) and not any(path.exists() for path in stale)


@pytest.mark.slow
def test_keras_load_model_works_after_a_plain_import_in_a_fresh_process(tiny_runs):
    """``import ssvae_tf`` registers the model with Keras, whichever of the two is imported first."""
    path = str(tiny_runs / "ss" / "model.keras")
    for imports in ("import ssvae_tf, keras", "import keras, ssvae_tf"):
        code = (f"{imports}; import sys; m = keras.models.load_model({path!r}); "
                "print(type(m).__name__, m.latent_dim, 'tensorflow' in sys.modules)")
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stdout.split() == ["SpatialStatsVAE", str(TINY.latent_dim), "True"]


def test_import_ssvae_tf_stays_light():
    code = "import ssvae_tf, sys; print(any(m.split('.')[0] in ('tensorflow', 'keras') for m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "False", result.stderr[-2000:]


def test_the_lock_refuses_a_second_writer_where_fcntl_does_not_exist(tmp_path):
    """Windows has no ``fcntl``: the package imports and the run's lock still refuses a second writer."""
    code = f"""
import os, sys, warnings
sys.modules["fcntl"] = None  # import fcntl fails, as on Windows
warnings.simplefilter("ignore")  # filelock says it falls back to a lock file of its own
from ssvae_tf.run_dir import RunDir
run = RunDir({str(tmp_path / "run")!r})
with run.locked():
    held = sorted(os.listdir(run.path))
    try:
        with run.locked():
            print("second writer let in")
    except ValueError as error:
        print("refused:", error)
print(held, sorted(os.listdir(run.path)))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    refused, files = result.stdout.strip().splitlines()
    assert refused.startswith(f"refused: {tmp_path / 'run'} is being written by another process")
    assert files == "['.lock'] []"  # the lock file goes with the lock


def _touch_every_output(run: RunDir) -> None:
    for path in (run.config_file, run.model_file, run.history_json, run.training_file, run.reconstructions_png):
        path.write_text("{}")
    run.history_csv.write_text("epoch,loss\n")
    for folder in (run.backup_dir, run.image_logs_dir):
        folder.mkdir(parents=True)


def test_clearing_the_outputs_keeps_only_the_settings(tmp_path):
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    _touch_every_output(run)
    run.clear_outputs()
    assert sorted(p.name for p in run.path.iterdir()) == [run.CONFIG]


def test_an_unstarted_run_is_removed_and_one_with_a_finished_epoch_kept(tmp_path):
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    _touch_every_output(run)
    assert not run.has_finished_epoch
    run.remove_unstarted()
    assert not run.config_file.exists() and not run.backup_dir.exists() and not run.logs_dir.exists()
    run.config_file.write_text("{}")
    run.history_csv.write_text("epoch,loss\n0,1.5\n")
    assert run.has_finished_epoch
    run.remove_unstarted()
    assert run.config_file.is_file() and run.history_csv.is_file()


def test_the_training_record_is_read_by_the_run(tmp_path):
    old_run = RunDir(Path(__file__).parent / "fixtures" / "old_run")  # written before the restructuring
    assert old_run.training_record()["epochs_run"] == old_run.training_record()["kept_epoch"] == 1
    run = RunDir(tmp_path / "run")
    assert run.training_record() is None
    run.path.mkdir()
    run.write_training_record({"epochs_run": 3, "kept_epoch": 2, "stopped_early": True})
    assert run.training_record() == {"epochs_run": 3, "kept_epoch": 2, "stopped_early": True}
    run.training_file.write_text("{")
    with pytest.raises(ValueError, match="training.json is not valid JSON"):
        run.training_record()


def test_a_workers_copy_and_an_empty_run_are_removed(tmp_path):
    run = RunDir(tmp_path / "run")
    worker = run.worker("worker-1")
    worker.backup_dir.mkdir(parents=True)
    worker.remove_worker_copy()
    assert not worker.path.exists() and not worker.path.parent.exists() and run.path.is_dir()
    run.remove_if_empty()
    assert not run.path.exists()
    run.remove_if_empty()  # nothing there: nothing to do
