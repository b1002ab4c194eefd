"""Distribution strategies (ssvae_tf.distribute): TF_CONFIG checks, strategies by name, and real
jobs: MirroredStrategy over two logical CPUs, a two-worker MultiWorkerMirroredStrategy job of
`ssvae train` processes on loopback ports (one worker killed, the other stopping by itself, both
restarted and resuming), and a worker left alone."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ssvae_tf.commands.cli import main
from ssvae_tf.distribute import WorkerRole, make_strategy, read_tf_config
from ssvae_tf.run_dir import RunDir

REPO = Path(__file__).resolve().parents[1]
#: A tiny run of `ssvae train`: 64 line images of 16 px, 3 epochs of 3 global batches of 16.
TINY_ARGS = ["--data", "lines", "--image-size", "16", "--n-images", "64", "--epochs", "3", "--batch-size", "16",
             "--filters", "4", "--hidden-units", "8", "--latent-dim", "2", "--seed", "0", "--no-tensorboard"]


def tf_config(ports: list[int], index: int) -> str:
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{port}" for port in ports]},
                       "task": {"type": "worker", "index": index}})


def free_ports(n: int) -> list[int]:
    sockets = [socket.create_server(("127.0.0.1", 0)) for _ in range(n)]
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def start_worker(out: Path, ports: list[int], index: int, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "TF_CONFIG": tf_config(ports, index), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen([sys.executable, "-m", "ssvae_tf", "train", *TINY_ARGS, "--strategy", "multi-worker",
                             "--peer-timeout", "240", "--out", str(out), *extra],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def backed_up_epochs(backup: Path) -> int:
    metadata = backup / "training_metadata.json"
    try:
        return json.loads(metadata.read_text())["epoch"]
    except (OSError, ValueError):
        return 0


def finish(process: subprocess.Popen, timeout: float = 600) -> str:
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output[-3000:]
    return output


@pytest.mark.parametrize("text, message", [
    (None, "needs the TF_CONFIG environment variable"),
    ("{oops", "TF_CONFIG is not JSON"),
    ('{"cluster": {}, "task": {"type": "worker", "index": 0}}', "names no cluster of workers"),
    ('{"cluster": {"worker": ["a:1"], "ps": ["b:2"]}, "task": {"type": "worker", "index": 0}}', "job 'ps'"),
    ('{"cluster": {"worker": ["nohost"]}, "task": {"type": "worker", "index": 0}}', "'host:port' addresses"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}', "task must name one of"),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}', r"index must be 0\.\.1"),
])
def test_a_missing_or_malformed_tf_config_is_one_line(text, message):
    environ = {} if text is None else {"TF_CONFIG": text}
    with pytest.raises(ValueError, match=message) as error:
        read_tf_config(environ)
    assert "\n" not in str(error.value)


def test_strategies_by_name_and_bad_names():
    import tensorflow as tf

    assert make_strategy("auto").num_replicas_in_sync == 1  # no GPUs here: the default strategy
    assert isinstance(make_strategy("one-device"), tf.distribute.OneDeviceStrategy)
    with pytest.raises(ValueError, match="strategy must be one of"):
        make_strategy("parameter-server")
    with pytest.raises(ValueError, match="peer_timeout must be"):
        make_strategy("auto", peer_timeout=float("inf"))
    assert WorkerRole().is_chief and not WorkerRole("worker-1", 2).is_chief


def test_multi_worker_without_tf_config_is_one_line_and_status_2(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert main(["train", *TINY_ARGS, "--strategy", "multi-worker", "--out", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("ssvae: error: --strategy multi-worker needs the TF_CONFIG") and error.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_tune_refuses_multi_worker_with_the_way_to_spread_trials(tmp_path, capsys):
    assert main(["tune", "--config", "lines", "--out", str(tmp_path / "t"), "--strategy", "multi-worker"]) == 2
    assert "--distributed" in capsys.readouterr().err


@pytest.mark.slow
def test_mirrored_strategy_over_two_logical_cpus_trains_and_saves(tmp_path):
    script = f"""
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from ssvae_tf.settings import TrainConfig
from ssvae_tf.training import train
config = TrainConfig(data="lines", image_size=16, n_images=64, epochs=2, batch_size=16, filters=4, hidden_units=8,
                     latent_dim=2)
train(config, {str(tmp_path / "run")!r}, verbose=0, strategy="mirrored", tensorboard=False)
"""
    subprocess.run([sys.executable, "-c", script], cwd=REPO, check=True, capture_output=True, timeout=600,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    run = RunDir(tmp_path / "run")
    record = run.training_record()
    assert (record["strategy"], record["replicas"], record["epochs_run"]) == ("mirrored", 2, 2)
    assert run.load_model().latent_dim == 2 and not run.backup_dir.exists()


@pytest.mark.slow
def test_a_two_worker_job_killed_mid_epoch_resumes_and_matches_one_process(tmp_path):
    out, ports = tmp_path / "job", free_ports(2)
    workers = [start_worker(out, ports, index) for index in (0, 1)]
    history = RunDir(out).history_csv
    backups = [RunDir(out).backup_dir, RunDir(out).worker("worker-1").backup_dir]
    deadline = time.monotonic() + 600
    while not all(backed_up_epochs(backup) >= 1 for backup in backups):  # both backed up epoch 1 of 3
        assert time.monotonic() < deadline and all(w.poll() is None for w in workers), "no epoch finished"
        time.sleep(0.1)
    workers[1].send_signal(signal.SIGKILL)  # mid-epoch 2
    workers[1].wait()
    lost, _ = workers[0].communicate(timeout=180)  # the chief notices by itself, in bounded time
    assert workers[0].returncode == 2
    assert lost.strip().splitlines()[-1].startswith("ssvae: error: chief lost contact with the other workers")
    assert (out / ".workers" / "worker-1" / "backup").is_dir()  # the other worker's own backup

    workers = [start_worker(out, ports, index) for index in (0, 1)]
    chief_output = finish(workers[0])
    finish(workers[1])
    assert "Epoch 1/3" not in chief_output  # resumed, not restarted
    run = RunDir(out)
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json", "history.csv", "history.json", "model.keras", "reconstructions.png", "training.json"]
    job = run.read_history()
    assert all(len(values) == 3 for values in job.values())
    assert [line.split(",")[0] for line in history.read_text().splitlines()[1:]] == ["0", "1", "2"]
    record = run.training_record()
    assert (record["strategy"], record["replicas"], record["workers"]) == ("multi-worker", 2, 2)

    single = tmp_path / "single"
    subprocess.run([sys.executable, "-m", "ssvae_tf", "train", *TINY_ARGS, "--quiet", "--out", str(single)],
                   cwd=REPO, check=True, capture_output=True, timeout=600)
    alone = RunDir(single).read_history()["val_stats_distance"][-1]
    assert job["val_stats_distance"][-1] == pytest.approx(alone, rel=0.10)


@pytest.mark.slow
def test_a_one_worker_cluster_trains_with_tensorboard_and_scalar_history(tmp_path):
    """One worker in TF_CONFIG: Keras does not reduce its logs across workers, so they stay scalars
    (a length-1 axis failed TensorBoard's scalar summaries and wrote "[0.0]" into history.csv)."""
    out, ports = tmp_path / "job", free_ports(1)
    with_tensorboard = [arg for arg in TINY_ARGS if arg != "--no-tensorboard"]
    result = subprocess.run([sys.executable, "-m", "ssvae_tf", "train", *with_tensorboard, "--epochs", "2",
                             "--strategy", "multi-worker", "--peer-timeout", "60", "--out", str(out)],
                            cwd=REPO, env={**os.environ, "TF_CONFIG": tf_config(ports, 0), "TF_CPP_MIN_LOG_LEVEL": "3"},
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    run = RunDir(out)
    history = run.read_history()
    assert len(history["loss"]) == 2 and all(isinstance(v, float) for values in history.values() for v in values)
    assert "[" not in run.history_csv.read_text()
    record = run.training_record()
    assert (record["strategy"], record["replicas"], record["workers"]) == ("multi-worker", 1, 1)
    assert any((run.logs_dir / "train").iterdir())


@pytest.mark.slow
def test_a_worker_whose_peers_never_come_gives_up_in_bounded_time(tmp_path):
    ports = free_ports(2)
    env = {**os.environ, "TF_CONFIG": tf_config(ports, 0), "TF_CPP_MIN_LOG_LEVEL": "3"}
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "ssvae_tf", "train", *TINY_ARGS, "--strategy", "multi-worker",
                             "--peer-timeout", "3", "--out", str(tmp_path / "run")],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"ssvae: error: worker 0 could not reach 127.0.0.1:{ports[1]} within 3 s")
    assert time.monotonic() - started < 120
    assert not (tmp_path / "run").exists()
