"""Search configs: the shipped ones load, overrides apply, bad ones give one clear error line."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ssvae_tf.commands.tune import config_overrides, configure_tune
from ssvae_tf.settings import setting_group, setting_names
from tuning.config import (
    DATA_KEYS,
    OBJECTIVES,
    SPACE_KEYS,
    apply_overrides,
    load_config,
    parse_assignment,
    parse_config,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["lines", "microstructure", "microstructure-3d", "demo"])
def test_builtin_configs_load_and_search_latent_size_alpha_beta(name):
    config = load_config(name)
    assert {"latent_dim", "alpha", "beta"} <= set(config.searched)
    assert config.space["latent_dim"].sampling == "log"
    assert config.search.objective in OBJECTIVES
    assert json.loads(json.dumps(config.to_json()))["search"]["max_trials"] == config.search.max_trials


def test_defaults_and_fixed_entries():
    config = parse_config({"space": {"latent_dim": {"values": [4, 8, 8]}, "alpha": 2,
                                     "beta": {"min": 0.5, "max": 0.5}}})
    assert config.space["latent_dim"].kind == "choice" and config.space["latent_dim"].values == (4, 8)
    assert config.space["alpha"].kind == "fixed" and config.space["alpha"].value == 2.0
    assert config.space["beta"].kind == "fixed"  # min == max
    assert "depth" not in config.space  # a field left out keeps its TrainConfig default
    assert config.searched == ["latent_dim"]


def test_any_training_option_can_be_fixed_or_chosen():
    config = parse_config({"space": {"indicator": {"values": ["soft", "linear"]}, "shift_augment": True,
                                     "baseline": {"values": [True, False]}, "data_loss": "mse", "gamma": 0.0}})
    assert config.space["indicator"].values == ("soft", "linear")
    assert config.space["shift_augment"].value is True and config.space["data_loss"].value == "mse"
    assert sorted(config.searched) == ["baseline", "indicator"]


def test_command_line_overrides(tmp_path):
    import argparse

    parser = argparse.ArgumentParser()
    configure_tune(parser)
    args = parser.parse_args(["--config", "lines", "--out", str(tmp_path), "--max-trials", "3", "--epochs", "2",
                              "--image-size", "32", "--tuner", "hyperband", "--set", "space.beta.max=0.5",
                              "--set", "space.filters={values=[4, 8]}", "--set", "data.source=lines-hard"])
    config = load_config(args.config, config_overrides(args))
    assert (config.search.max_trials, config.search.epochs, config.search.tuner) == (3, 2, "hyperband")
    assert config.data.image_size == 32 and config.data.source == "lines-hard"
    assert config.space["beta"].max == 0.5 and config.space["beta"].min == 0.001
    assert config.space["filters"].values == (4, 8)


def _tune_args(*extra):
    import argparse

    parser = argparse.ArgumentParser()
    configure_tune(parser)
    return parser.parse_args(["--config", "lines", "--out", "unused", *extra])


def test_every_model_and_loss_setting_can_be_searched_encoder_input_included():
    args = _tune_args("--set", 'space.encoder_input={values=["image","statistics"]}')
    config = load_config(args.config, config_overrides(args))
    assert config.space["encoder_input"].values == ("image", "statistics")
    assert "encoder_input" in config.searched
    groups = {name: setting_group(name) for name in SPACE_KEYS}
    assert set(setting_names("model")) | set(setting_names("loss")) <= set(SPACE_KEYS)
    assert {name for name, group in groups.items() if group not in ("model", "loss")} == {"learning_rate",
                                                                                           "shift_augment"}
    assert set(DATA_KEYS) == {"source", "batch_size", *setting_names("data")} - {"data"}


@pytest.mark.parametrize("extra, message", [
    (["--set", "space.encoder_input=pixels"],
     r"^--set space.encoder_input=pixels: \[space\] encoder_input encoder_input must be one of"),
    (["--set", "space.latent_size=3"], r"^--set space.latent_size=3: \[space\] has unknown key 'latent_size'"),
    (["--set", "search.max_trials=0"], r"^--set search.max_trials=0: \[search\] max_trials must be an integer"),
    (["--max-trials", "0"], r"^--max-trials 0: \[search\] max_trials must be an integer >= 1, got 0"),
    (["--seed", "4294967296"], r"^--seed 4294967296: \[search\] seed must be an integer from 0 to 4294967295, got"),
    (["--set", "space.beta.max=0.0001"],
     r"^tuning config lines.toml with --set space.beta.max=0.0001: \[space\] beta has an empty range"),
])
def test_errors_in_values_from_the_command_line_name_the_option_not_the_file(extra, message):
    args = _tune_args(*extra)
    with pytest.raises(ValueError, match=message):
        load_config(args.config, config_overrides(args))


def test_an_error_in_the_file_still_names_the_file_beside_overrides(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[space]\nlatent_dim = 0\n")
    with pytest.raises(ValueError, match=r"^tuning config bad.toml: \[space\] latent_dim"):
        load_config(bad, [(["search", "max_trials"], 2)])


def test_assignment_values_are_toml_or_strings():
    assert parse_assignment("search.seed=3") == (["search", "seed"], 3)
    assert parse_assignment("data.source=my data/") == (["data", "source"], "my data/")
    assert apply_overrides({"space": {"alpha": 1.0}}, [(["space", "alpha", "min"], 0.1)]) == \
        {"space": {"alpha": {"min": 0.1}}}
    with pytest.raises(ValueError, match="SECTION.KEY=VALUE"):
        parse_assignment("max_trials=3")


BAD_CONFIGS = [
    ({"serach": {}}, r"unknown key 'serach'"),
    ({"search": {"max_trails": 3}}, r"\[search\] has unknown key 'max_trails'"),
    ({"space": {"latent_size": 8}}, r"\[space\] has unknown key 'latent_size'"),
    ({"space": {"beta": {"min": 1.0, "max": 0.1, "sampling": "log"}}}, r"\[space\] beta has an empty range"),
    ({"space": {"latent_dim": {"values": []}}}, r"\[space\] latent_dim has an empty choice"),
    ({"space": {"alpha": {"min": 0.0, "max": 1.0, "sampling": "log"}}}, r"alpha has log sampling from min 0.0"),
    ({"space": {"alpha": {"min": -1.0, "max": 1.0}}}, r"\[space\] alpha min alpha must be a finite number >= 0"),
    ({"space": {"indicator": "hard"}}, r"\[space\] indicator indicator must be one of"),
    ({"space": {"shift_augment": {"min": 0, "max": 1}}}, r"shift_augment must be a bool or \{ values"),
    ({"space": {"data_loss": 3}}, r"\[space\] data_loss must be a str, got 3"),
    ({"space": {"beta": {"min": 0.1, "max": 1.0, "sampling": "cubic"}}}, r"sampling must be one of"),
    ({"space": {"latent_dim": {"min": 2.5, "max": 8}}}, r"latent_dim min must be an integer"),
    ({"search": {"objective": "val_accuracy"}}, r"objective must be one of"),
    ({"search": {"objective": "val_loss"}}, r"val_loss depends on alpha and beta"),
    ({"search": {"tuner": "grid"}}, r"\[search\] tuner must be one of \['random', 'bayesian', 'hyperband'\]"),
    ({"search": {"objective_weights": {"val_kl_loss": 1.0}}}, r"objective_weights has unknown key"),
    ({"search": {"max_trials": 0}}, r"max_trials must be an integer >= 1"),
    ({"data": {"validation_split": 0.0}}, r"validation_split must be in \(0, 1\)"),
    ({"space": {"isotropy": {"values": [0.0, 1.0]}}}, r"\[space\] isotropy value .*expected from_slices=True"),
]


@pytest.mark.parametrize("raw, message", BAD_CONFIGS)
def test_bad_configs_raise_one_clear_value_error(raw, message):
    with pytest.raises(ValueError, match=message) as info:
        parse_config(raw, origin="bad.toml")
    assert str(info.value).startswith("tuning config bad.toml: ")
    assert "\n" not in str(info.value)


def test_unknown_config_name_and_invalid_toml(tmp_path):
    with pytest.raises(ValueError, match="not a file nor one of the built-in configs"):
        load_config("nonexistent")
    broken = tmp_path / "broken.toml"
    broken.write_text("[search\nmax_trials = 3\n")
    with pytest.raises(ValueError, match="broken.toml: not valid TOML"):
        load_config(broken)
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes(b'[data]\nsource = "caf\xe9.npy"\n')
    with pytest.raises(ValueError, match=f"^{latin1}: not UTF-8 text"):
        load_config(latin1)


@pytest.mark.slow
def test_python_m_ssvae_tf_tune_prints_one_error_line_and_exits_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[search]\ntuner = "grid"\n')
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "ssvae_tf", "tune", "--config", str(bad), "--out",
                             str(tmp_path / "out")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines == [f"ssvae: error: tuning config bad.toml: [search] tuner must be one of "
                     f"['random', 'bayesian', 'hyperband'], got 'grid'"]
    assert not (tmp_path / "out").exists()


def test_distributed_flags_are_checked(tmp_path):
    import argparse

    from ssvae_tf.commands.tune import set_distributed_environment

    parser = argparse.ArgumentParser()
    configure_tune(parser)
    with pytest.raises(ValueError, match="need --distributed"):
        set_distributed_environment(parser.parse_args(["--out", "x", "--oracle-port", "8000"]))
    with pytest.raises(ValueError, match="must not contain 'chief'"):
        set_distributed_environment(parser.parse_args(["--out", "x", "--distributed", "worker", "--oracle-port",
                                                       "8000", "--worker-id", "chief-2"]))
    env_before = dict(os.environ)
    try:
        os.environ.pop("KERASTUNER_ORACLE_PORT", None)
        with pytest.raises(ValueError, match="needs --oracle-port"):
            set_distributed_environment(parser.parse_args(["--out", "x", "--distributed", "chief"]))
    finally:
        os.environ.clear()
        os.environ.update(env_before)


def test_ssvae_tune_reports_a_bad_config_in_one_line(tmp_path, capsys):
    pytest.importorskip("ssvae_tf.commands.serve")  # ssvae's parser also configures the serving commands
    from ssvae_tf.commands.cli import main

    bad = tmp_path / "bad.toml"
    bad.write_text("[space]\nbeta = { min = 1.0, max = 0.1 }\n")
    assert main(["tune", "--config", str(bad), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "ssvae: error: tuning config bad.toml: [space] beta has an empty range: min 1.0 > max 0.1"]


def test_the_data_table_takes_the_reading_and_cropping_settings(tmp_path):
    np = pytest.importorskip("numpy")
    np.save(tmp_path / "grey.npy", np.zeros((2, 40, 40), np.float32))
    config = parse_config({"data": {"source": str(tmp_path / "grey.npy"), "image_size": None, "threshold": "0.4",
                                    "patch_size": 16, "validation_slab": True}})
    assert (config.data.threshold, config.data.patch_size, config.data.validation_slab) == (0.4, 16, True)
    assert load_config("microstructure-3d").data.dims == 3
    with pytest.raises(ValueError, match=r"tuning config <dict>: \[data\] .*they need patch_size"):
        parse_config({"data": {"crops_per_epoch": 4}})
    from_slices = parse_config({"data": {"source": str(tmp_path / "grey.npy"), "from_slices": True, "patch_size": 16},
                                "space": {"isotropy": {"min": 0.0, "max": 2.0}}})  # checked beside [data]
    assert from_slices.space["isotropy"].max == 2.0


def test_a_config_without_a_tuner_uses_random_search_which_needs_no_extras():
    assert parse_config({}).search.tuner == "random"
