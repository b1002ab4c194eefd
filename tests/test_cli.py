"""The ``ssvae`` command: train end to end, resume after a kill, demo, one-line errors."""

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ssvae_tf.cli import main

TINY_ARGS = ["--image-size", "32", "--n-images", "48", "--batch-size", "16", "--filters", "4",
             "--hidden-units", "16", "--latent-dim", "2", "--quiet"]


def test_train_end_to_end(tmp_path, capsys):
    assert main(["train", *TINY_ARGS, "--epochs", "2", "--out", str(tmp_path / "run")]) == 0
    assert "finished" in capsys.readouterr().out
    for name in ("model.keras", "config.json", "history.json", "history.csv", "reconstructions.png"):
        assert (tmp_path / "run" / name).exists(), name


def epochs_logged(csv_path):
    with open(csv_path, newline="") as handle:
        return [int(row["epoch"]) for row in csv.DictReader(handle)]


def test_resume_after_the_process_is_killed(tmp_path):
    out = tmp_path / "run"
    command = [sys.executable, "-m", "ssvae_tf.cli", "train", "--image-size", "32", "--n-images", "600",
               "--batch-size", "16", "--filters", "8", "--hidden-units", "32", "--epochs", "12",
               "--out", str(out)]
    env = {**os.environ, "TF_NUM_INTRAOP_THREADS": "1"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if (out / "backup").is_dir() and (out / "history.csv").exists() and len(epochs_logged(out / "history.csv")) >= 2:
            break
        time.sleep(0.2)
    assert process.poll() is None, "training ended before it could be interrupted"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (out / "model.keras").exists()
    done_before = epochs_logged(out / "history.csv")

    resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "Epoch 1/12" not in resumed.stdout
    logged = epochs_logged(out / "history.csv")
    assert sorted(set(logged)) == list(range(12))
    assert len(logged) - len(done_before) < 12  # finished epochs were not trained again
    assert (out / "model.keras").exists() and not (out / "backup").exists()


def test_demo_writes_the_comparison_and_figures(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "demo"), "--epochs", "1", "--n-images", "64"]) == 0
    printed = capsys.readouterr().out
    assert "SS-VAE / baseline" in printed and "statistics MSE per lag" in printed
    assert "SS-VAE / baseline statistics error" in printed
    for name in ("comparison.md", "ss-vae/reconstructions.png", "baseline/reconstructions.png",
                 "ss-vae/model.keras", "baseline/model.keras", "evaluation/report.md", "export/models.config"):
        assert (tmp_path / "demo" / name).exists(), name


def write_nan_array(path: Path) -> str:
    images = np.ones((8, 32, 32, 1), np.float32)
    images[3, 4, 4, 0] = np.nan
    np.save(path, images)
    return str(path)


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--data", "no/such/dir"], "data must be one of"),
        (["--epochs", "0"], "epochs must be an integer >= 1"),
        (["--image-size", "8"], "image_size"),
        (["--data", "NAN_FILE"], "NaN"),
    ],
)
def test_bad_input_prints_one_line_and_exits_nonzero(tmp_path, capsys, arguments, message):
    arguments = [write_nan_array(tmp_path / "nan.npy") if a == "NAN_FILE" else a for a in arguments]
    status = main(["train", *TINY_ARGS, *arguments, "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert status == 2
    assert len(err.splitlines()) == 1 and err.startswith("ssvae: error:")
    assert message in err


def test_finished_run_is_refused_with_one_line(tmp_path, capsys):
    run = str(tmp_path / "run")
    assert main(["train", *TINY_ARGS, "--epochs", "1", "--out", run]) == 0
    capsys.readouterr()
    assert main(["train", *TINY_ARGS, "--epochs", "1", "--out", run]) == 2
    assert "already holds a finished run" in capsys.readouterr().err


def test_evaluate_without_a_model_is_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["evaluate", "--model", str(tmp_path / "empty"), "--out", str(tmp_path / "report")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("ssvae: error:")
