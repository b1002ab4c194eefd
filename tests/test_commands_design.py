"""``ssvae design`` (``ssvae_tf.commands.design``): the files it writes, its one-line errors, and a
parser that imports no TensorFlow.  A tiny untrained model, 16 px."""

import json

import numpy as np
import pytest

from design_helpers import SIDE, band, tiny_model
from ssvae_tf.commands.base import ArgumentParser
from ssvae_tf.commands.design import COMMANDS, DESIGN_FILES, INTERPOLATION_FILES
from ssvae_tf.design.defaults import DEFAULT_STEPS, METHODS
from ssvae_tf.run_dir import RunDir


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run directory holding the tiny model, and a target stack of one beside it."""
    root = tmp_path_factory.mktemp("design-run")
    RunDir(root / "run").save_model(tiny_model())
    np.save(root / "target.npy", band()[np.newaxis])
    return root


def run_design(*argv: str) -> None:
    """Run ``ssvae design`` as the CLI parses it, errors propagating."""
    (command,) = COMMANDS
    parser = ArgumentParser(prog=f"ssvae {command.name}")
    command.configure(parser)
    command.run(parser.parse_args(list(argv)))


def test_the_command_writes_every_file(run, tmp_path, capsys):
    out = tmp_path / "out"
    run_design("--model", str(run / "run"), "--target", str(run / "target.npy"), "--method", "latent", "--n", "3",
               "--steps", "4", "--out", str(out), "--quiet")
    assert sorted(p.name for p in out.iterdir()) == sorted(DESIGN_FILES)
    assert np.load(out / "designs.npy").shape == (3, SIDE, SIDE, 1)
    record = json.loads((out / "design.json").read_text())
    assert record["method"] == "latent" and len(record["stats_error"]) == 3 and record["seconds"] > 0
    assert record["settings"]["steps"] == 4 and record["target"]["volume_fraction"] == 0.25
    assert record["model"].endswith("run") and "designs in" in capsys.readouterr().out
    vf = tmp_path / "vf"
    run_design("--model", str(run / "run"), "--volume-fraction", "0.3", "--correlation-length", "2", "--n", "2",
               "--steps", "2", "--out", str(vf), "--quiet")
    assert json.loads((vf / "design.json").read_text())["target"]["volume_fraction"] == pytest.approx(0.3, abs=2e-3)
    strip = tmp_path / "strip"
    run_design("--model", str(run / "run"), "--interpolate", str(run / "target.npy"), str(run / "target.npy"),
               "--frames", "3", "--out", str(strip))
    assert sorted(p.name for p in strip.iterdir()) == sorted(INTERPOLATION_FILES)
    assert np.load(strip / "interpolation.npy").shape == (3, SIDE, SIDE, 1)


def test_the_command_errors_are_one_line(run, tmp_path):
    (tmp_path / "empty").mkdir()
    big = tmp_path / "big.npy"
    np.save(big, band((32, 32))[np.newaxis])
    cases = [
        (["--model", str(tmp_path / "empty"), "--target", str(run / "target.npy")], "neither a run directory"),
        (["--model", str(run / "run"), "--target", str(big)], "32x32 px image but the model takes 16x16"),
        (["--model", str(run / "run"), "--volume-fraction", "1.2"], r"in \(0, 1\)"),
        (["--target", str(run / "target.npy")], "--method latent needs --model RUN"),
        (["--model", str(run / "run"), "--target", str(run / "target.npy"), "--correlation-length", "2"],
         "give --volume-fraction too"),
    ]
    for argv, message in cases:
        with pytest.raises(ValueError, match=message) as error:
            run_design(*argv, "--out", str(tmp_path / "never"))
        assert "\n" not in str(error.value)
    assert not (tmp_path / "never").exists()


def test_the_help_names_every_method_and_default_step():
    """(That building it imports no TensorFlow is test_cli's check of every command.)"""
    parser = ArgumentParser()
    COMMANDS[0].configure(parser)
    flat = " ".join(parser.format_help().split())
    assert all(method in flat for method in METHODS)
    assert all(f"{method} {steps}" in flat for method, steps in DEFAULT_STEPS.items() if steps)


def test_the_figures_are_not_pyplot_figures():
    """The design figures are drawn on ``matplotlib.figure.Figure``: pyplot keeps no figure of them."""
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    from ssvae_tf.commands.design import grid_figure

    before = plt.get_fignums()
    fig = grid_figure(np.zeros((2, 8, 8, 1), np.float32), ["a", "b"], "heading")
    assert isinstance(fig, Figure) and plt.get_fignums() == before
