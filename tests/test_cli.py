"""The ``ssvae`` command: a light parser, help and defaults for every option, settings from a preset or a
file, training end to end, resume after a kill, the demo, no TensorFlow log lines, one-line errors."""

import argparse
import csv
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ssvae_tf.commands.cli import COMMANDS, build_parser, main
from ssvae_tf.commands.train import train_config_from
from ssvae_tf.presets import preset
from ssvae_tf.settings import TrainConfig

TINY_ARGS = ["--image-size", "32", "--n-images", "48", "--batch-size", "16", "--filters", "4",
             "--hidden-units", "16", "--latent-dim", "2", "--quiet"]
#: What TensorFlow's C++ logging prints at start-up unless it is quieted.
TF_LOG_MARKERS = ("I0000", "W0000", "E0000", "absl::InitializeLog", "cuda", "oneDNN", "cpu_feature_guard")


def _subparsers():
    parser = build_parser()
    choices = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    return parser, choices


def test_building_every_parser_and_its_help_imports_no_tensorflow():
    code = ("import sys; from ssvae_tf.commands.cli import build_parser; import argparse; p = build_parser(); "
            "p.format_help(); [s.format_help() for a in p._actions if isinstance(a, argparse._SubParsersAction) "
            "for s in a.choices.values()]; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'grpc', 'keras_tuner', "
            "'matplotlib', 'skimage'}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_every_command_is_registered_once_and_every_option_has_help_and_its_default():
    parser, subparsers = _subparsers()
    assert list(subparsers) == [command.name for command in COMMANDS]
    assert list(subparsers) == ["train", "evaluate", "demo", "design", "stats", "sample", "tune", "export", "serve",
                                "encode", "decode"]
    for name, subparser in subparsers.items():
        for action in subparser._actions:
            if isinstance(action, argparse._HelpAction) or not action.option_strings:
                continue
            assert action.help, f"ssvae {name} {action.option_strings[0]} has no help"
            shown = subparser._get_formatter()._get_help_string(action)
            flag = action.nargs == 0 and action.default in (False, argparse.SUPPRESS)
            assert flag or action.required or "default" in shown, f"ssvae {name} {action.option_strings[0]}: {shown}"


def test_version_and_usage_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.startswith("ssvae-tf ")
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["train", "--latent-dim", "many", "--out", "x"])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and len(err.splitlines()) == 1
    assert err.startswith("ssvae train: error: argument --latent-dim: invalid int value: 'many'")


def test_settings_come_from_the_flags_a_preset_or_a_file_with_flags_on_top(tmp_path):
    parser = build_parser()
    args = parser.parse_args(["train", "--out", "x", "--latent-dim", "4", "--shift-augment"])
    assert train_config_from(args) == TrainConfig(latent_dim=4, shift_augment=True)
    args = parser.parse_args(["train", "--out", "x", "--preset", "ours", "--epochs", "2", "--image-size", "32"])
    assert train_config_from(args) == preset("ours", epochs=2, image_size=32)
    args = parser.parse_args(["train", "--out", "x", "--preset", "paper", "--baseline"])
    assert train_config_from(args) == preset("paper", baseline=True)
    (tmp_path / "settings.toml").write_text('latent_dim = 5\nshift_augment = true\nbeta = 0.01\n')
    args = parser.parse_args(["train", "--out", "x", "--config", str(tmp_path / "settings.toml"), "--beta", "0.1",
                              "--no-shift-augment"])
    assert train_config_from(args) == TrainConfig(latent_dim=5, beta=0.1, shift_augment=False)
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--out", "x", "--preset", "ours", "--config", "settings.toml"])


@pytest.mark.slow
def test_a_run_trains_again_from_its_own_config_json(tmp_path, capsys):
    assert main(["train", *TINY_ARGS, "--epochs", "1", "--out", str(tmp_path / "first")]) == 0
    assert main(["train", "--config", str(tmp_path / "first" / "config.json"), "--quiet",
                 "--out", str(tmp_path / "second")]) == 0
    first, second = ((tmp_path / name / "config.json").read_text() for name in ("first", "second"))
    assert first == second


@pytest.mark.slow
def test_train_end_to_end(tmp_path, capsys):
    talking = [arg for arg in TINY_ARGS if arg != "--quiet"]
    assert main(["train", *talking, "--epochs", "2", "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out.splitlines()
    epochs = [line for line in out if "/step - " in line]  # not a terminal: one line per epoch, a short one
    assert len(epochs) == 2 and not any("kl_dim" in line or "data_loss" in line for line in epochs)
    finished = next(line for line in out if line.startswith("finished: "))
    assert re.findall(r"(\w+)=", finished) == ["val_loss", "val_stats_distance", "val_pixel_mse", "val_active_units"]
    for name in ("model.keras", "config.json", "history.json", "history.csv", "reconstructions.png"):
        assert (tmp_path / "run" / name).exists(), name


def epochs_logged(csv_path):
    with open(csv_path, newline="") as handle:
        return [int(row["epoch"]) for row in csv.DictReader(handle)]


@pytest.mark.slow
def test_no_tensorflow_log_line_on_the_terminal(tmp_path):
    command = [sys.executable, "-m", "ssvae_tf", "train", *TINY_ARGS, "--epochs", "1", "--out", str(tmp_path)]
    env = {key: value for key, value in os.environ.items() if not key.startswith("TF_CPP")}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    output = result.stdout + result.stderr
    assert not [marker for marker in TF_LOG_MARKERS if marker in output], output[-3000:]


@pytest.mark.slow
def test_resume_after_the_process_is_killed(tmp_path):
    out = tmp_path / "run"
    command = [sys.executable, "-m", "ssvae_tf", "train", "--image-size", "32", "--n-images", "600",
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


@pytest.mark.slow
def test_demo_writes_the_comparison_and_figures(tmp_path, capsys):
    (tmp_path / "demo" / "export").mkdir(parents=True)
    (tmp_path / "demo" / "export" / "mine.txt").write_text("kept")  # the demo adds a version, deletes nothing
    assert main(["demo", "--out", str(tmp_path / "demo"), "--epochs", "1", "--n-images", "64"]) == 0
    assert (tmp_path / "demo" / "export" / "mine.txt").read_text() == "kept"
    printed = capsys.readouterr().out
    assert "SS-VAE / baseline" in printed and "statistics MSE per lag" in printed
    assert "SS-VAE / baseline statistics error" in printed
    for name in ("comparison.md", "ss-vae/reconstructions.png", "baseline/reconstructions.png",
                 "ss-vae/model.keras", "baseline/model.keras", "evaluation/report.md", "export/models.config"):
        assert (tmp_path / "demo" / name).exists(), name
    from ssvae_tf.run_dir import RunDir

    settings = {label: RunDir(tmp_path / "demo" / label).settings() for label in ("ss-vae", "baseline")}
    assert settings["ss-vae"] == preset("ours", epochs=1, n_images=64, image_size=32)  # the winner, at 32 px
    assert settings["baseline"] == preset("ours", baseline=True, epochs=1, n_images=64, image_size=32)


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
        (["--n-images", "100000000"], "n_images=100,000,000 generated images of (32, 32) px need 381.5 GiB"),
        (["--peer-timeout", "inf"], "peer_timeout must be a number of seconds"),
    ],
)
def test_bad_input_prints_one_line_and_exits_nonzero(tmp_path, capsys, arguments, message):
    arguments = [write_nan_array(tmp_path / "nan.npy") if a == "NAN_FILE" else a for a in arguments]
    status = main(["train", *TINY_ARGS, *arguments, "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert status == 2
    assert len(err.splitlines()) == 1 and err.startswith("ssvae: error:")
    assert message in err


@pytest.mark.slow
def test_an_empty_out_is_refused_instead_of_writing_here(capsys):
    assert main(["train", *TINY_ARGS, "--out", ""]) == 2
    assert capsys.readouterr().err.startswith("ssvae: error: --out is empty")


def test_bad_data_is_one_line_and_leaves_no_run_directory(tmp_path, capsys):
    import skimage.io

    folder = tmp_path / "mixed"
    folder.mkdir()
    for name, side in (("a.png", 32), ("b.png", 32), ("c.png", 40)):
        skimage.io.imsave(folder / name, np.zeros((side, side), np.uint8), check_contrast=False)
    np.save(tmp_path / "small.npy", np.zeros((6, 20, 20), np.float32))
    np.save(tmp_path / "volumes.npy", np.zeros((6, 16, 16, 16), np.float32))
    cases = [
        (["--data", str(folder)], "c.png", "(or train on random crops: --patch-size N)"),
        (["--data", str(tmp_path / "small.npy"), "--patch-size", "32"], "(20, 20, 1)", "crop"),
        (["--data", str(tmp_path / "volumes.npy"), "--dims", "2"], "holds 3-D volumes", "dims=2 asks for 2-D images"),
    ]
    tiny = [arg for arg in TINY_ARGS if arg not in ("--image-size", "32")]
    for arguments, *messages in cases:
        out = tmp_path / "run"
        assert main(["train", *tiny, *arguments, "--out", str(out)]) == 2, arguments
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and all(message in err for message in messages), err
        assert not out.exists()


@pytest.mark.slow
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
