"""A training run end to end: files, config, scale, schedule, refusal to clobber."""

import dataclasses
import json

import keras
import numpy as np
import pytest

from ssvae_tf.data import generate_lines
from ssvae_tf.training import (
    TrainConfig,
    default_depth,
    halved_for_last_tenth,
    read_history,
    statistics_scale,
    train,
)
from ssvae_tf.model import DEFAULT_STATS_OPTIONS
import tensorflow as tf

TINY = dict(image_size=32, n_images=48, epochs=2, batch_size=16, filters=4, hidden_units=16, latent_dim=2)


def test_statistics_scale_is_the_largest_line_volume_fraction():
    lines = generate_lines(40, 32, seed=3, progress=False)
    dataset = tf.data.Dataset.from_tensor_slices(lines.images).batch(16)
    assert statistics_scale(dataset, DEFAULT_STATS_OPTIONS) == pytest.approx(lines.volume_fraction.max(), abs=1e-6)


def test_learning_rate_is_halved_for_the_last_tenth():
    schedule = halved_for_last_tenth(20, 1e-3).schedule
    assert [schedule(e, None) for e in (0, 17, 18, 19)] == [1e-3, 1e-3, 5e-4, 5e-4]


def test_default_depth_fits_small_images():
    assert default_depth((64, 64, 1)) == 4
    assert default_depth((16, 24, 1)) == 3


def test_train_writes_a_complete_run_directory(tmp_path):
    history = train(TrainConfig(**TINY), tmp_path / "run", verbose=0)
    run = tmp_path / "run"
    assert sorted(p.name for p in run.iterdir()) == [
        "config.json", "history.csv", "history.json", "model.keras", "reconstructions.png"]
    assert len(history["loss"]) == 2 and "val_stats_distance" in history
    config = json.loads((run / "config.json").read_text())
    assert config["image_shape"] == [32, 32, 1]
    assert config["settings"]["epochs"] == 2
    assert 0 < config["stats_options"]["scale"] < 0.5
    model = keras.models.load_model(run / "model.keras")
    assert model.stats_options["scale"] == pytest.approx(config["stats_options"]["scale"])
    assert read_history(run / "history.csv") == json.loads((run / "history.json").read_text())


def test_baseline_trains_on_pixels(tmp_path):
    train(TrainConfig(baseline=True, **TINY), tmp_path / "base", verbose=0)
    config = json.loads((tmp_path / "base" / "config.json").read_text())
    assert config["loss_weights"] == {"alpha": 0.0, "beta": 1.0, "gamma": 1.0}
    model = keras.models.load_model(tmp_path / "base" / "model.keras")
    assert (model.alpha, model.gamma, model.data_loss) == (0.0, 1.0, "sse")


def test_indicator_and_shift_augment_reach_the_trained_model(tmp_path):
    train(TrainConfig(indicator="linear", shift_augment=True, **TINY), tmp_path / "run", verbose=0)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["stats_options"]["kind"] == "linear"
    model = keras.models.load_model(tmp_path / "run" / "model.keras")
    assert model.stats_options["kind"] == "linear" and model.shift_augment


def test_quiet_training_shows_no_generation_bar(tmp_path, capfd):
    settings = {**TINY, "n_images": 200, "epochs": 1}
    train(TrainConfig(**settings), tmp_path / "quiet", verbose=0)
    assert "200/200" not in capfd.readouterr().out
    train(TrainConfig(**settings), tmp_path / "verbose", verbose=2)
    assert "200/200" in capfd.readouterr().out


def test_user_array_and_its_image_size(tmp_path):
    images = generate_lines(40, (32, 48), seed=1, progress=False).images
    np.save(tmp_path / "lines.npy", images)
    config = TrainConfig(**{**TINY, "image_size": None, "data": str(tmp_path / "lines.npy")})
    train(config, tmp_path / "run", verbose=0)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["image_shape"] == [32, 48, 1]
    with pytest.raises(ValueError, match="does not match"):
        train(TrainConfig(**{**TINY, "data": str(tmp_path / "lines.npy")}), tmp_path / "other", verbose=0)


def test_a_finished_run_is_not_overwritten_without_asking(tmp_path):
    run = tmp_path / "run"
    train(TrainConfig(**TINY), run, verbose=0)
    before = (run / "model.keras").read_bytes()
    with pytest.raises(ValueError, match="already holds a finished run"):
        train(TrainConfig(**TINY), run, verbose=0)
    assert (run / "model.keras").read_bytes() == before
    train(TrainConfig(**TINY), run, verbose=0, overwrite=True)
    assert len(read_history(run / "history.csv")["loss"]) == 2


def test_an_unfinished_run_resumes_only_with_its_own_settings(tmp_path):
    from ssvae_tf.training import _check_run_dir

    run = tmp_path / "run"
    (run / "backup").mkdir(parents=True)
    settings = dataclasses.asdict(TrainConfig(**TINY))
    del settings["shift_augment"]  # a record written before the field existed: its default applies
    (run / "config.json").write_text(json.dumps({"settings": settings}))
    assert _check_run_dir(run, TrainConfig(**TINY), overwrite=False)
    with pytest.raises(ValueError, match="unfinished run with other settings"):
        _check_run_dir(run, TrainConfig(**TINY, shift_augment=True), overwrite=False)


def test_resume_cuts_a_half_written_history_row(tmp_path):
    from ssvae_tf.training import _drop_partial_row

    history = tmp_path / "history.csv"
    history.write_text("epoch,loss\n0,1.5\n1,1.2")
    _drop_partial_row(history)
    assert history.read_text() == "epoch,loss\n0,1.5\n"
    assert read_history(history) == {"loss": [1.5]}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(data="no/such/thing"), "data must be one of"),
        (dict(epochs=0), "epochs must be an integer >= 1"),
        (dict(learning_rate=-1.0), "learning_rate"),
        (dict(indicator="hard"), r"indicator must be one of \('soft', 'linear'\), got 'hard'"),
    ],
)
def test_bad_settings_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)
