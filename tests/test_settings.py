"""TrainConfig: checked settings, their help and kinds, settings files."""

import dataclasses
import json

import pytest

from ssvae_tf.settings import (
    TrainConfig,
    read_settings_file,
    setting_choices,
    setting_default,
    setting_help,
    setting_kind,
    setting_names,
)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(data="no/such/thing"), "data must be one of"),
        (dict(epochs=0), "epochs must be an integer >= 1"),
        (dict(learning_rate=-1.0), "learning_rate"),
        (dict(indicator="hard"), r"indicator must be one of \('soft', 'linear'\), got 'hard'"),
        (dict(data_loss="l1"), "data_loss must be one of"),
        (dict(image_size=8), "image_size must be between 16 and 256"),
        (dict(beta=-0.1), "beta must be a finite number >= 0"),
        (dict(validation_split=1.0), r"validation_split must be in \[0, 1\)"),
    ],
)
def test_bad_settings_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)


def test_every_field_has_help_a_kind_and_a_valid_default():
    for name in setting_names():
        assert setting_help(name)
        kind, default = setting_kind(name), setting_default(name)
        assert kind in (int, float, bool, str)
        assert default is None or isinstance(default, kind)
        choices = setting_choices(name)
        assert choices is None or default in choices


def test_the_baseline_trains_pixels_not_statistics():
    assert TrainConfig(alpha=2.0, beta=0.5, gamma=0.0).loss_weights == (2.0, 0.5, 0.0)
    assert TrainConfig(alpha=2.0, beta=0.5, baseline=True).loss_weights == (0.0, 0.5, 1.0)


def test_from_mapping_names_an_unknown_field():
    with pytest.raises(ValueError, match="my.toml: unknown setting 'latent_size'"):
        TrainConfig.from_mapping({"latent_size": 4}, origin="my.toml")


def test_settings_files_toml_json_and_a_run_record(tmp_path):
    (tmp_path / "a.toml").write_text('latent_dim = 4\nindicator = "linear"\n')
    assert read_settings_file(tmp_path / "a.toml") == {"latent_dim": 4, "indicator": "linear"}
    (tmp_path / "b.json").write_text(json.dumps({"beta": 0.01}))
    assert read_settings_file(tmp_path / "b.json") == {"beta": 0.01}
    record = {"settings": dataclasses.asdict(TrainConfig(epochs=3)), "image_shape": [64, 64, 1]}
    (tmp_path / "config.json").write_text(json.dumps(record))
    assert TrainConfig(**read_settings_file(tmp_path / "config.json")) == TrainConfig(epochs=3)


@pytest.mark.parametrize("text, message", [("latent_size = 4", "unknown setting 'latent_size'"),
                                           ("latent_dim = ", "not valid TOML")])
def test_bad_settings_files_are_one_line_errors(tmp_path, text, message):
    (tmp_path / "bad.toml").write_text(text)
    with pytest.raises(ValueError, match=message) as error:
        read_settings_file(tmp_path / "bad.toml")
    assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match="does not exist"):
        read_settings_file(tmp_path / "missing.toml")
