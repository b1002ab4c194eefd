"""The HyperModel, the fair objective, and searches run as the command: resumed after
SIGKILL, and distributed over a chief and two workers.  Tiny data and models throughout."""

import csv
import dataclasses
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import keras
import keras_tuner
import numpy as np
import pytest

from conftest import run_command

from ssvae_tf.data import generate_lines, make_dataset
from ssvae_tf.run_dir import RunDir
from ssvae_tf.training import build_model
from tuning.config import SPACE_KEYS, parse_config
from tuning.hypermodel import SpatialStatsHyperModel
from tuning.objectives import CombinedObjective, tuner_objective
from tuning.search import base_config

ROOT = Path(__file__).resolve().parents[1]
# KerasTuner 1.4.8's oracle lock uses deprecated threading names.
pytestmark = pytest.mark.filterwarnings("ignore:currentThread:DeprecationWarning",
                                        "ignore:getName:DeprecationWarning")
TINY_SPACE = {"space": {"latent_dim": {"min": 2, "max": 8, "sampling": "log"},
                        "alpha": {"min": 0.1, "max": 10.0, "sampling": "log"},
                        "beta": {"min": 0.001, "max": 1.0, "sampling": "log"},
                        "filters": 4, "hidden_units": 16}}
TINY_TOML = """
[data]
source = "lines"
image_size = 16
n_images = 32
batch_size = 16
validation_split = 0.25
[search]
tuner = "random"
max_trials = {max_trials}
epochs = 1
objective = "val_combined"
[space]
latent_dim = {{ min = 2, max = 8, sampling = "log" }}
alpha = {{ min = 0.1, max = 10.0, sampling = "log" }}
beta = {{ min = 0.001, max = 1.0, sampling = "log" }}
filters = 4
hidden_units = 16
"""


@pytest.fixture(scope="module")
def tiny_data():
    images = generate_lines(32, 16, seed=0).images
    return make_dataset(images, batch_size=16, validation_split=0.25, seed=0)


def _hp(values):
    hp = keras_tuner.HyperParameters()
    for name, value in values.items():
        hp.Fixed(name, value)
    return hp


def _hypermodel(raw, **kwargs):
    config = parse_config(raw)
    return SpatialStatsHyperModel(base_config(config), (16, 16, 1), config.space, **kwargs)


def test_hypermodel_builds_a_compiled_vae_from_the_space(tiny_data):
    hypermodel = _hypermodel(TINY_SPACE, stats_scale=0.2)
    hp = keras_tuner.HyperParameters()
    model = hypermodel.build(hp)
    assert {"latent_dim", "alpha", "beta", "filters", "hidden_units"} == set(hp.values)
    assert model.latent_dim == hp.values["latent_dim"] and model.beta == hp.values["beta"]
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert model.stats_options.scale == 0.2
    train, val = tiny_data
    with pytest.raises(ValueError, match="pass validation_data"):
        hypermodel.fit(hp, model, train, epochs=1)


@pytest.mark.slow
def test_objective_does_not_depend_on_alpha_beta(tiny_data):
    """The same weights (hence the same reconstructions) give the same objective whatever alpha/beta are."""
    _, val = tiny_data
    weights = {"val_stats_distance": 1.0, "val_prior_stats_distance": 5.0}
    # without decoder noise, so that the same weights decode the same images twice
    hypermodel = _hypermodel({"space": {**TINY_SPACE["space"], "decoder_noise": False}}, objective_weights=weights)
    common = {"latent_dim": 4, "filters": 4, "hidden_units": 16}
    first = hypermodel.build(_hp({**common, "alpha": 10.0, "beta": 1.0}))
    second = hypermodel.build(_hp({**common, "alpha": 0.1, "beta": 0.001}))
    second.set_weights(first.get_weights())
    logs = []
    for model in (first, second):
        metrics = model.evaluate(val, verbose=0, return_dict=True)
        epoch_logs = {f"val_{name}": value for name, value in metrics.items()}
        CombinedObjective(weights).on_epoch_end(0, epoch_logs)
        logs.append(epoch_logs)
    assert logs[0]["val_loss"] != pytest.approx(logs[1]["val_loss"])  # the training loss does depend on them
    for name in ("val_stats_distance", "val_prior_stats_distance", "val_combined"):
        assert tuner_objective(name).get_value(logs[0]) == pytest.approx(tuner_objective(name).get_value(logs[1]),
                                                                        rel=1e-6)
    expected = logs[0]["val_stats_distance"] + 5.0 * logs[0]["val_prior_stats_distance"]
    assert logs[0]["val_combined"] == pytest.approx(expected)


#: A value other than the default (as resolved for a statistics VAE of images) for every field a search may set.
TRIAL_VALUES = {"latent_dim": 3, "alpha": 0.5, "beta": 0.01, "gamma": 0.2, "baseline": True, "data_loss": "mse",
                "learning_rate": 2e-3, "depth": 2, "filters": 8, "hidden_units": 24, "indicator": "linear",
                "shift_augment": True, "eps": 0.15, "eps_start": 0.3, "stats_levels": 2, "decoder": "resize",
                "padding": "zeros", "kl_schedule": "warmup", "free_bits": 0.5, "anchor": 0.1,
                "anchor_aligned": True, "phase": 1, "correlations": "0,0 0,1", "periodic": False, "cutoff": 3,
                "encoder_input": "statistics", "kl_cycles": 2, "kl_ramp": 0.25, "anchor_sigma": 2.0,
                "anchor_until": 0.25, "output": "concrete", "temperature_end": 0.3, "temperature_start": 2.0,
                "hard_from": 0.25, "binary_weight": 0.1, "binary_start": 0.25, "stats_window": 4.0,
                "isotropy": 0.5, "decoder_noise": False, "symmetric_targets": True, "noise_scale": 0.3,
                "stats_window_floor": 0.2, "perimeter_weight": 0.5, "slice_target_shrink": 0.5,
                "decoder_activation": "relu"}
#: Settings that matter only beside another one: name -> the other settings its trial needs.
TRIAL_COMPANIONS = {"temperature_end": {"output": "concrete"}, "temperature_start": {"output": "concrete"},
                    "hard_from": {"output": "straight_through"}, "decoder_noise": {"decoder": "upsample"},
                    "noise_scale": {"decoder_noise": True, "decoder": "upsample"},
                    "stats_window_floor": {"stats_window": 4.0}}
#: Settings that need a [data] table of their own: name -> its keys (``source``: a tiny stack of micrographs).
TRIAL_DATA = {"isotropy": {"from_slices": True, "patch_size": 16},
              "symmetric_targets": {"from_slices": True, "patch_size": 16},
              "slice_target_shrink": {"from_slices": True, "patch_size": 16}}


def _model_settings(model) -> str:
    config = {key: value for key, value in model.get_config().items() if key != "name"}
    return json.dumps([config, float(model.optimizer.learning_rate)], sort_keys=True, default=str)


def test_the_trial_values_cover_every_searchable_field():
    assert set(TRIAL_VALUES) == set(SPACE_KEYS)


@pytest.mark.parametrize("name", sorted(TRIAL_VALUES))
def test_every_training_option_is_honoured_in_a_search(name, tmp_path):
    """A trial builds the same model as ``ssvae train`` with the same settings, and the field matters."""
    companions = TRIAL_COMPANIONS.get(name, {})
    data = {}
    if name in TRIAL_DATA:
        np.save(tmp_path / "micrographs.npy", (np.random.default_rng(0).random((2, 24, 24)) < 0.5).astype(np.float32))
        data = {"source": str(tmp_path / "micrographs.npy"), **TRIAL_DATA[name]}
    config = parse_config({"data": data,
                           "space": {"filters": 4, "hidden_units": 16, **companions, name: TRIAL_VALUES[name]}})
    base = base_config(config)
    tuned = SpatialStatsHyperModel(base, (16, 16, 1), config.space, stats_scale=0.2).build(
        keras_tuner.HyperParameters())
    trained = build_model(dataclasses.replace(base, **companions, **{name: TRIAL_VALUES[name]}), (16, 16, 1), 0.2)
    default = build_model(dataclasses.replace(base, **companions, **{name: getattr(type(base)(), name)}),
                          (16, 16, 1), 0.2)
    assert _model_settings(tuned) == _model_settings(trained) != _model_settings(default)


@pytest.mark.slow
def test_hyperband_search_in_process_then_resume_and_refuse_other_settings(tmp_path):
    from tuning.config import load_config
    from tuning.search import run_search

    path = tmp_path / "tiny.toml"
    path.write_text(TINY_TOML.format(max_trials=3))
    overrides = [(["search", "tuner"], "hyperband"), (["search", "epochs"], 2),
                 (["search", "hyperband_factor"], 2), (["search", "objective"], "val_stats_distance")]
    config = load_config(path, overrides)
    out = tmp_path / "out"
    summary = run_search(config, out, verbose=0)
    rows = summary.rows
    assert 1 <= len(rows) <= 3 and summary.best["status"] == "COMPLETED"
    assert summary.best["objective"] == min(r["objective"] for r in rows if r["status"] == "COMPLETED")
    assert any("hp:tuner/epochs" in row for row in rows)
    for name in ("trials.csv", "summary.md", "best_hyperparameters.json", "search.png", "best/model.keras",
                 "best/config.json", "best/history.json", "best/reconstructions.png"):
        assert (out / name).is_file(), name
    sessions = sorted(p.name for p in (out / "tensorboard").glob("trial_*"))  # one HParams session per trial
    assert sessions == sorted(f"trial_{r['trial_id']}" for r in rows)
    again = run_search(config, out, verbose=0)  # finished: nothing reruns, the results are rewritten
    assert [r["trial_id"] for r in again.rows] == [r["trial_id"] for r in rows]
    assert len(list((out / "tensorboard").glob("events.*"))) == 1  # the experiment, kept
    run_search(load_config(path, overrides + [(["search", "max_trials"], 1)]), out, overwrite=True, verbose=0)
    assert len(list((out / "tensorboard").glob("trial_*"))) == 1
    other = load_config(path, overrides + [(["space", "filters"], 8)])
    with pytest.raises(ValueError, match="holds a search with other settings"):
        run_search(other, out, verbose=0)


@pytest.mark.slow
def test_a_tiny_search_over_what_the_encoder_sees(tmp_path):
    from tuning.config import load_config
    from tuning.search import run_search

    path = tmp_path / "tiny.toml"
    path.write_text(TINY_TOML.format(max_trials=2))
    config = load_config(path, [(["space", "encoder_input"], {"values": ["image", "statistics"]})])
    summary = run_search(config, tmp_path / "out", verbose=0)
    assert config.searched[-1] == "encoder_input"
    assert {row["hp:encoder_input"] for row in summary.rows} <= {"image", "statistics"}
    assert summary.best["status"] == "COMPLETED"
    assert RunDir(tmp_path / "out" / "best").settings().encoder_input == summary.best["hp:encoder_input"]


def test_a_tiny_search_of_a_model_from_slices_with_plane_micrographs(tmp_path):
    """The [data] keys of a model from slices reach every trial: the trials train volumes on (x, targets)."""
    from tuning.config import load_config
    from tuning.search import run_search

    rng = np.random.default_rng(0)
    for name in ("xy", "xz"):
        np.save(tmp_path / f"{name}.npy", (rng.random((4, 72, 40)) < 0.5).astype(np.float32))
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_TOML.format(max_trials=1).replace(
        'source = "lines"\nimage_size = 16\nn_images = 32',
        f'source = "{tmp_path / "xy.npy"}"\nfrom_slices = true\nslices_xz = "{tmp_path / "xz.npy"}"\n'
        "patch_size = 16\ncrops_per_epoch = 32\nvalidation_slab = true"))
    summary = run_search(load_config(path), tmp_path / "out", verbose=0)
    assert summary.best["status"] == "COMPLETED"
    best = RunDir(tmp_path / "out" / "best")
    assert best.settings().slices_xz == str(tmp_path / "xz.npy")
    assert best.load_model().sample(1, seed=0).shape == (1, 16, 16, 16, 1)


# ------------------------------------------------------------ as a command
def _env():
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "TF_CPP_MIN_LOG_LEVEL": "2", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}


def _tune(args, log):
    return subprocess.Popen([sys.executable, "-m", "ssvae_tf", "tune", *args], cwd=ROOT, env=_env(),
                            stdout=log, stderr=subprocess.STDOUT)


def _trial_states(project: Path) -> dict[str, str]:
    states = {}
    for path in project.glob("trial_*/trial.json"):
        try:
            state = json.loads(path.read_text())
        except ValueError:
            continue
        states[state["trial_id"]] = state["status"]
    return states


def _wait(process, seconds, log_path):
    try:
        return process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        pytest.fail(f"timed out; log:\n{Path(log_path).read_text()[-3000:]}")


def _check_results(out: Path, n_trials: int) -> list[dict]:
    with open(out / "trials.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == n_trials and {row["status"] for row in rows} == {"COMPLETED"}
    assert {"hp:latent_dim", "hp:alpha", "hp:beta", "metric:val_stats_distance",
            "metric:val_prior_stats_distance", "metric:val_combined", "tuner_id"} <= set(rows[0])
    best = json.loads((out / "best_hyperparameters.json").read_text())
    scores = [float(row["objective"]) for row in rows]
    assert best["objective"] == "val_combined" and best["value"] == pytest.approx(min(scores))
    assert {"latent_dim", "alpha", "beta"} <= set(best["hyperparameters"])
    best_run = RunDir(out / "best")
    model = best_run.load_model()
    settings = best_run.settings()
    assert model.latent_dim == best["hyperparameters"]["latent_dim"] == settings.latent_dim
    assert model.alpha == pytest.approx(best["hyperparameters"]["alpha"]) == settings.alpha
    assert (settings.image_size, settings.n_images, settings.filters) == (16, 32, 4)
    assert len(best_run.read_history()["val_combined"]) == 1
    assert (out / "search.png").read_bytes()[:4] == b"\x89PNG"
    assert "| rank | trial | latent_dim | alpha | beta |" in (out / "summary.md").read_text()
    assert not list(out.glob(".*")), "temporary files left behind"
    return rows


@pytest.mark.slow
def test_killed_search_resumes_without_repeating_finished_trials(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_TOML.format(max_trials=3))
    out, log_path = tmp_path / "out", tmp_path / "first.log"
    args = ["--config", str(config), "--out", str(out)]
    with open(log_path, "w") as log:
        first = _tune(args, log)
        try:
            deadline = time.time() + 120
            while time.time() < deadline and "COMPLETED" not in _trial_states(out / "search").values():
                assert first.poll() is None, log_path.read_text()[-3000:]
                time.sleep(0.2)
            os.kill(first.pid, signal.SIGKILL)
        finally:
            first.kill()
            first.wait()
    finished = {tid for tid, status in _trial_states(out / "search").items() if status == "COMPLETED"}
    assert finished and len(finished) < 3, "the kill should land half-way"
    stamps = {tid: (out / "search" / f"trial_{tid}" / "ssvae_trial.json").stat().st_mtime_ns for tid in finished}

    second_log = tmp_path / "second.log"
    with open(second_log, "w") as log:
        second = _tune(args, log)
        try:
            assert _wait(second, 150, second_log) == 0, second_log.read_text()[-3000:]
        finally:
            second.kill()
    output = second_log.read_text()
    assert f"resuming: {len(finished)} finished trial(s) kept" in output
    assert output.count("Search: Running Trial") == 3 - len(finished)
    for tid, stamp in stamps.items():  # finished trials were not run again
        assert (out / "search" / f"trial_{tid}" / "ssvae_trial.json").stat().st_mtime_ns == stamp
    rows = _check_results(out, 3)
    # one numbering: KerasTuner's console log, trials.csv and summary.md
    logged = {int(n) for log in (log_path, second_log) for n in re.findall(r"Running Trial #(\d+)", log.read_text())}
    assert logged == {int(row["trial"]) for row in rows} == {1, 2, 3}
    summary = (out / "summary.md").read_text()
    assert sorted(int(n) for n in re.findall(r"^\| (?:\d+|-) \| (\d+) \|", summary, re.M)) == [1, 2, 3]


@pytest.mark.slow
def test_the_best_run_of_a_search_is_an_ordinary_run(tmp_path, capfd):
    """``ssvae tune --out T`` then ``ssvae evaluate --model T/best`` and ``ssvae export --model T/best``."""
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_TOML.format(max_trials=2))
    out = tmp_path / "search"
    run_command("tune", "--config", str(config), "--out", str(out), "--quiet")
    run_command("tune", "--config", str(config), "--out", str(out), "--quiet")  # reloads the finished search
    printed = capfd.readouterr().out
    assert "Reloading" not in printed and printed.count("best trial") == 2
    run_command("evaluate", "--model", str(out / "best"), "--out", str(tmp_path / "report"), "--quiet")
    assert (tmp_path / "report" / "report.md").is_file()
    run_command("export", "--model", str(out / "best"), "--out", str(tmp_path / "export"))
    assert (tmp_path / "export" / "ssvae_encoder" / "1" / "saved_model.pb").is_file()


@pytest.mark.slow
def test_the_3d_config_searches_volumes(tmp_path):
    out = tmp_path / "search"
    run_command("tune", "--config", "microstructure-3d", "--out", str(out), "--quiet",
                "--set", "data.image_size=16", "--set", "data.n_images=16", "--set", "data.batch_size=8",
                "--set", "search.max_trials=1", "--set", "search.epochs=1", "--set", "space.filters=4",
                "--set", "space.hidden_units=16")
    assert RunDir(out / "best").record()["image_shape"] == [16, 16, 16, 1]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_distributed_chief_and_two_workers_share_the_trials(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_TOML.format(max_trials=4))
    out, port = tmp_path / "out", str(_free_port())
    common = ["--config", str(config), "--out", str(out), "--oracle-ip", "127.0.0.1", "--oracle-port", port]
    roles = {"chief": ["--distributed", "chief"],
             "worker-a": ["--distributed", "worker", "--worker-id", "worker-a"],
             "worker-b": ["--distributed", "worker", "--worker-id", "worker-b"]}
    processes, logs = {}, {}
    try:
        for name, role_args in roles.items():
            logs[name] = tmp_path / f"{name}.log"
            processes[name] = _tune(common + role_args, open(logs[name], "w"))
        for name in ("worker-a", "worker-b", "chief"):  # the chief exits ~20 s after the workers
            assert _wait(processes[name], 180, logs[name]) == 0, logs[name].read_text()[-3000:]
    finally:
        for process in processes.values():
            process.kill()
            process.wait()
    rows = _check_results(out, 4)
    ran = {row["tuner_id"] for row in rows}
    assert ran == {"worker-a", "worker-b"}, ran
    assert "no trials left" in logs["worker-a"].read_text()
