"""A training run end to end: files, config, scale, schedule, refusal to clobber."""

import dataclasses
import json
import sys

import keras
import numpy as np
import pytest

import tensorflow as tf

from ssvae_tf.data import generate_lines
from ssvae_tf.latent_prior import GaussianMixture
from ssvae_tf.run_dir import RunDir
from ssvae_tf.settings import DECODER_NOISE_SCALE, NOISY_DECODER_CLIP_NORM, TrainConfig
from ssvae_tf.stats.two_point import StatsOptions
from ssvae_tf.callbacks import halved_for_last_tenth
from ssvae_tf.training import (
    _prepare_run_dir,
    build_model,
    collapse_warning,
    decoded_shape,
    run_stats_options,
    slice_crops_per_epoch,
    statistics_scale,
    train,
)

TINY = dict(image_size=32, n_images=48, epochs=2, batch_size=16, filters=4, hidden_units=16, latent_dim=2)


def test_statistics_scale_is_the_largest_line_volume_fraction():
    lines = generate_lines(40, 32, seed=3, progress=False)
    dataset = tf.data.Dataset.from_tensor_slices(lines.images).batch(16)
    assert statistics_scale(dataset) == pytest.approx(lines.volume_fraction.max(), abs=1e-6)


def test_the_white_phase_scale_is_its_largest_volume_fraction():
    lines = generate_lines(40, 32, seed=3, progress=False)
    dataset = tf.data.Dataset.from_tensor_slices(lines.images).batch(16)
    white = run_stats_options(TrainConfig(phase=1))
    assert statistics_scale(dataset, white) == pytest.approx(1.0 - lines.volume_fraction.min(), abs=1e-6)


@pytest.mark.parametrize("settings, expected", [
    ({}, StatsOptions(scale=0.2)),
    ({"phase": 1, "periodic": False}, StatsOptions(correlations=((1, 1),), periodic=False, cutoff=None, scale=0.2)),
    ({"correlations": "0,0 1,1 0,1", "cutoff": 5, "eps": 0.2, "stats_levels": 2},
     StatsOptions(correlations=((0, 0), (1, 1), (0, 1)), cutoff=5, eps=0.2, levels=2, scale=0.2)),
    ({"phases": 3, "correlations": "2,2 0,1"},  # eps 0.25 of the level spacing 1/2
     StatsOptions(correlations=((2, 2), (0, 1)), n_phases=3, eps=0.125, scale=0.2)),
])
def test_a_run_s_statistics_follow_its_settings(settings, expected):
    assert run_stats_options(TrainConfig(**settings), 0.2) == expected


def test_learning_rate_is_halved_for_the_last_tenth():
    schedule = halved_for_last_tenth(20, 1e-3).schedule
    assert [schedule(e, None) for e in (0, 17, 18, 19)] == [1e-3, 1e-3, 5e-4, 5e-4]


@pytest.mark.slow
def test_train_writes_a_complete_run_directory(tmp_path):
    history = train(TrainConfig(**TINY), tmp_path / "run", verbose=0)
    run = tmp_path / "run"
    assert sorted(p.name for p in run.iterdir()) == [
        "config.json", "history.csv", "history.json", "logs", "model.keras", "reconstructions.png", "training.json"]
    assert len(history["loss"]) == 2 and "val_stats_distance" in history
    record = json.loads((run / "training.json").read_text())
    assert record["replicas"] == 1 and record["dtype_policy"] == "float32" and record["jit_compile"] is False
    assert (record["epochs_run"], record["kept_epoch"], record["stopped_early"]) == (2, 2, False)
    assert record["latent_prior"]["components"] == 10 and record["latent_prior"]["codes"] > 10
    tags = {folder: summary_tags(run / "logs" / folder) for folder in ("train", "validation", "images")}
    assert {"epoch_loss", "epoch_stats_distance", "epoch_learning_rate"} <= tags["train"]
    assert "epoch_stats_distance" in tags["validation"] and tags["images"] == {"reconstructions"}
    config = json.loads((run / "config.json").read_text())
    assert config["image_shape"] == [32, 32, 1]
    assert config["settings"]["epochs"] == 2
    assert 0 < config["stats_options"]["scale"] < 0.5
    model = keras.models.load_model(run / "model.keras")
    assert model.stats_options.scale == pytest.approx(config["stats_options"]["scale"])
    assert model.stats_options.to_json() == config["stats_options"]
    assert RunDir(run).read_history() == json.loads((run / "history.json").read_text())
    assert model.latent_prior is not None and len(model.latent_prior.weights) == 10


def test_the_latent_prior_is_fitted_to_the_code_means_of_the_first_training_images(monkeypatch):
    from ssvae_tf import training

    model = build_model(TrainConfig(**TINY), (32, 32, 1), scale=0.2)
    images = np.random.default_rng(0).random((12, 32, 32, 1)).astype(np.float32)
    fitted = {}

    def recording_fit(codes, seed):
        fitted["codes"] = codes
        return GaussianMixture.standard(TINY["latent_dim"])

    monkeypatch.setattr(training, "fit_gaussian_mixture", recording_fit)
    for dataset in (tf.data.Dataset.from_tensor_slices(images).batch(5),  # images, or (micrographs, targets)
                    tf.data.Dataset.from_tensor_slices((images, images)).batch(5)):
        fitted.clear()
        assert training.fit_latent_prior(model, dataset, seed=0, n_codes=7) == 7
        np.testing.assert_allclose(fitted["codes"], np.asarray(model.encode(images[:7])[0]), atol=1e-5)
        assert model.latent_prior is not None


def summary_tags(folder) -> set[str]:
    """The tags of every summary in the TensorBoard event files of ``folder``."""
    return {value.tag for path in folder.glob("events.out.tfevents.*")
            for event in tf.compat.v1.train.summary_iterator(str(path)) for value in event.summary.value}


@pytest.mark.slow
def test_no_tensorboard_writes_no_logs_and_callbacks_reach_fit(tmp_path):
    seen = []
    log_epochs = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(epoch))
    train(TrainConfig(**TINY), tmp_path / "run", verbose=0, tensorboard=False, callbacks=[log_epochs])
    assert not (tmp_path / "run" / "logs").exists() and seen == [0, 1]


@pytest.mark.slow
def test_early_stopping_keeps_the_best_epoch_and_records_it(tmp_path, monkeypatch):
    # val_stats_distance scripted: best at epoch 1 (0-based), then two epochs without improvement
    from ssvae_tf import callbacks

    values = iter([3.0, 1.0, 2.0, 2.5, 0.5, 0.1])
    real = callbacks.KeepBestEpoch.on_epoch_end
    kept = {}

    def scripted(self, epoch, logs=None):
        logs = {**logs, "val_stats_distance": next(values)}
        if epoch == 1:
            kept["weights"] = [w.numpy().copy() for w in self.model.weights]
        real(self, epoch, logs)

    monkeypatch.setattr(callbacks.KeepBestEpoch, "on_epoch_end", scripted)
    config = TrainConfig(**{**TINY, "epochs": 6}, early_stopping=2)
    history = train(config, tmp_path / "run", verbose=0, tensorboard=False)
    record = json.loads((tmp_path / "run" / "training.json").read_text())
    assert (record["epochs_run"], record["kept_epoch"], record["stopped_early"]) == (4, 2, True)
    assert len(history["loss"]) == 4 and not (tmp_path / "run" / "backup").exists()
    model = keras.models.load_model(tmp_path / "run" / "model.keras")
    for saved, best in zip(model.weights, kept["weights"]):
        np.testing.assert_array_equal(saved.numpy(), best)


@pytest.mark.slow
def test_mixed_precision_trains_and_is_recorded(tmp_path):  # XLA: test_model.py::test_fit_under_xla
    config = TrainConfig(**{**TINY, "epochs": 1}, mixed_precision=True, jit_compile=False)
    history = train(config, tmp_path / "run", verbose=0, tensorboard=False)
    assert np.isfinite(history["loss"]).all() and np.isfinite(history["val_stats_distance"]).all()
    record = json.loads((tmp_path / "run" / "training.json").read_text())
    assert (record["dtype_policy"], record["jit_compile"]) == ("mixed_bfloat16", False)  # no GPU here
    model = keras.models.load_model(tmp_path / "run" / "model.keras")
    assert model.encoder.layers[1].dtype_policy.name == "mixed_bfloat16"
    assert model.decode(np.zeros((1, 2), "float32")).dtype == tf.float32  # the sigmoid stays float32
    assert keras.config.dtype_policy().name == "float32"  # the global policy is left as it was


def test_early_stopping_needs_validation():
    with pytest.raises(ValueError, match="early_stopping watches val_stats_distance"):
        TrainConfig(early_stopping=3, validation_split=0)


@pytest.mark.slow
def test_baseline_trains_on_pixels(tmp_path):
    train(TrainConfig(baseline=True, **TINY), tmp_path / "base", verbose=0)
    config = json.loads((tmp_path / "base" / "config.json").read_text())
    assert config["loss_weights"] == {"alpha": 0.0, "beta": 0.0025, "gamma": 1.0, "anchor": 0.0,
                                       "binary_weight": 0.0, "perimeter_weight": 0.0}  # beta for 32 px
    model = keras.models.load_model(tmp_path / "base" / "model.keras")
    assert (model.alpha, model.gamma, model.data_loss) == (0.0, 1.0, "sse")


@pytest.mark.slow
def test_indicator_and_shift_augment_reach_the_trained_model(tmp_path):
    train(TrainConfig(indicator="linear", shift_augment=True, **TINY), tmp_path / "run", verbose=0)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["stats_options"]["kind"] == "linear"
    model = keras.models.load_model(tmp_path / "run" / "model.keras")
    assert model.stats_options.kind == "linear" and model.shift_augment


@pytest.mark.slow
def test_the_generation_bar_shows_only_on_a_terminal_and_not_when_quiet(tmp_path, capfd, monkeypatch):
    settings = {**TINY, "n_images": 200, "epochs": 1}
    train(TrainConfig(**settings), tmp_path / "redirected", verbose=2)
    assert "200/200" not in capfd.readouterr().out  # output to a file or pipe: no bar
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    train(TrainConfig(**settings), tmp_path / "quiet", verbose=0)
    assert "200/200" not in capfd.readouterr().out
    train(TrainConfig(**settings), tmp_path / "verbose", verbose=2)
    assert "200/200" in capfd.readouterr().out


@pytest.mark.slow
def test_user_array_and_its_image_size(tmp_path):
    images = generate_lines(40, (32, 48), seed=1, progress=False).images
    np.save(tmp_path / "lines.npy", images)
    config = TrainConfig(**{**TINY, "image_size": None, "data": str(tmp_path / "lines.npy")})
    train(config, tmp_path / "run", verbose=0)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["image_shape"] == [32, 48, 1]
    with pytest.raises(ValueError, match="does not match"):
        train(TrainConfig(**{**TINY, "data": str(tmp_path / "lines.npy")}), tmp_path / "other", verbose=0)


@pytest.mark.slow
def test_a_finished_run_is_not_overwritten_without_asking(tmp_path):
    run = tmp_path / "run"
    train(TrainConfig(**TINY), run, verbose=0)
    before = (run / "model.keras").read_bytes()
    with pytest.raises(ValueError, match="already holds a finished run"):
        train(TrainConfig(**TINY), run, verbose=0)
    assert (run / "model.keras").read_bytes() == before
    train(TrainConfig(**TINY), run, verbose=0, overwrite=True)
    assert len(RunDir(run).read_history()["loss"]) == 2


def test_an_unfinished_run_resumes_only_with_its_own_settings(tmp_path):
    run = RunDir(tmp_path / "run")
    run.backup_dir.mkdir(parents=True)
    settings = dataclasses.asdict(TrainConfig(**TINY))
    del settings["shift_augment"]  # a record written before the field existed: its default applies
    run.config_file.write_text(json.dumps({"settings": settings}))
    (run.path / ".model-k1ll3d_x.keras").write_bytes(b"")  # a kill during the final save left it
    assert _prepare_run_dir(run, TrainConfig(**TINY), overwrite=False)
    assert not (run.path / ".model-k1ll3d_x.keras").exists()
    with pytest.raises(ValueError, match="unfinished run with other settings"):
        _prepare_run_dir(run, TrainConfig(**TINY, shift_augment=True), overwrite=False)


@pytest.mark.parametrize("config", ["x", None, {"epochs": 2}])
def test_build_model_and_train_name_a_config_that_is_not_a_train_config(tmp_path, config):
    with pytest.raises(TypeError, match=r"config must be a TrainConfig, got "):
        build_model(config, (16, 16, 1), 1.0)
    with pytest.raises(TypeError, match=r"config must be a TrainConfig, got "):
        train(config, tmp_path / "run", verbose=0)
    assert not (tmp_path / "run").exists()


def test_a_run_directory_being_written_is_refused_to_a_second_writer(tmp_path):
    run = RunDir(tmp_path / "run")
    with run.locked():
        with pytest.raises(ValueError, match="is being written by another process"):
            train(TrainConfig(**TINY), run.path, verbose=0)
        assert [p.name for p in run.path.iterdir()] == [".lock"]  # the holder's lock, nothing of the refused run
    assert not run.lock_file.exists()  # the lock file goes with the lock


def test_overwrite_removes_the_old_run_s_outputs_before_training(tmp_path):
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    for path in (run.model_file, run.history_csv, run.history_json, run.reconstructions_png, run.config_file):
        path.write_text("old")
    assert not _prepare_run_dir(run, TrainConfig(**TINY), overwrite=True)
    # an interrupted overwrite leaves no old model to be evaluated or exported under the new settings
    assert [p.name for p in run.path.iterdir()] == ["config.json"]


def test_build_model_honours_every_model_setting():
    """One builder: each setting reaches the compiled model."""
    config = TrainConfig(**{**TINY, "latent_dim": 3, "depth": 2, "alpha": 0.5, "beta": 0.2, "gamma": 0.1,
                            "data_loss": "mse", "learning_rate": 2e-3, "indicator": "linear",
                            "shift_augment": True, "seed": 7, "encoder_input": "statistics", "clip_norm": 0.5})
    model = build_model(config, (32, 32, 1), scale=0.25)
    assert (model.latent_dim, model.alpha, model.beta, model.gamma, model.data_loss) == (3, 0.5, 0.2, 0.1, "mse")
    assert model.stats_options.kind == "linear" and model.stats_options.scale == 0.25
    assert model.shift_augment and model.seed == 7
    assert float(model.optimizer.learning_rate) == pytest.approx(2e-3) and model.optimizer.clipnorm == 0.5
    assert len([layer for layer in model.encoder.layers if isinstance(layer, keras.layers.Conv2D)]) == 2
    assert model.encoder.get_layer("down_0").filters == 4 and model.encoder.get_layer("hidden").units == 16
    assert model.encoder.get_layer("statistics").options.scale == 0.25
    baseline = build_model(TrainConfig(**{**TINY, "baseline": True}), (32, 32, 1), scale=0.25)
    assert (baseline.alpha, baseline.gamma) == (0.0, 1.0)


def _layer_names(model) -> set[str]:
    return {layer.name for part in (model.encoder, model.decoder) for layer in part.layers}


def test_a_statistics_vae_of_images_gets_decoder_noise_circular_padding_and_the_perimeter_term():
    """The 2-D defaults reach the model: noise at every level but the finest, wrapped convolutions, the
    perimeter term in the schedule, clipped gradients; the baseline gets none of them, a model of volumes only the
    perimeter term."""
    model = build_model(TrainConfig(**TINY), (32, 32, 1), scale=0.25)
    names = _layer_names(model)
    assert {"noise_1", "noise_2", "noise_3"} <= names and "noise_0" not in names and "down_0_wrap" in names
    assert model.decoder.get_layer("noise_1").noise_init == pytest.approx(DECODER_NOISE_SCALE["images"])
    assert model.schedule.perimeter_weight == 4.0 and model.optimizer.clipnorm == NOISY_DECODER_CLIP_NORM
    for config, shape in ((TrainConfig(**TINY, baseline=True), (32, 32, 1)),
                          (TrainConfig(**{**TINY, "image_size": 16}, data="microstructure", dims=3), (16, 16, 16, 1))):
        other = build_model(config, shape, scale=0.25)
        assert not any(name.startswith(("noise_", "down_0_wrap")) for name in _layer_names(other))
        assert other.schedule.perimeter_weight == (0.0 if config.baseline else 4.0) and other.optimizer.clipnorm is None


def test_volumes_default_to_16_filters_and_images_to_32_and_only_the_baseline_of_images_to_relus():
    """The defaults by what the decoder draws (docs/performance.md: 3.6x faster per 32^3 step, binary sooner);
    a setting given is kept either way."""
    unset = {**TINY, "filters": None}
    cases = {(32, 32, 1): (TrainConfig(**unset), 32, "leaky_relu"),
             (24, 24, 1): (TrainConfig(**unset, baseline=True), 32, "relu"),
             (16, 16, 16, 1): (TrainConfig(**unset, data="microstructure", dims=3), 16, "leaky_relu"),
             (16, 16, 1): (TrainConfig(**{**unset, "image_size": 16}, from_slices=True), 16, "leaky_relu")}
    for shape, (config, filters, activation) in cases.items():
        model = build_model(config, shape, scale=0.25)
        assert model.encoder.get_layer("down_0").filters == filters
        assert model.decoder.get_layer("hidden").activation.__name__ == activation
        given = build_model(dataclasses.replace(config, filters=8, decoder_activation="relu"), shape, scale=0.25)
        assert given.encoder.get_layer("down_0").filters == 8
        assert given.decoder.get_layer("hidden").activation.__name__ == "relu"


@pytest.mark.slow
def test_a_3d_microstructure_run_trains_on_generated_volumes(tmp_path):
    config = TrainConfig(data="microstructure", dims=3, image_size=16, n_images=24, epochs=1, batch_size=8,
                         filters=4, hidden_units=16, latent_dim=2)
    history = train(config, tmp_path / "run", verbose=0)
    record = RunDir(tmp_path / "run").record()
    assert record["image_shape"] == [16, 16, 16, 1] and np.isfinite(history["val_loss"]).all()
    assert RunDir(tmp_path / "run").settings() == config


def test_dims_is_checked_against_a_path(tmp_path):
    np.save(tmp_path / "images.npy", np.zeros((4, 16, 16), np.float32))
    with pytest.raises(ValueError, match=r"holds 2-D images of \(16, 16\) but dims=3 asks for 3-D volumes"):
        train(TrainConfig(**{**TINY, "image_size": None, "data": str(tmp_path / "images.npy"), "dims": 3}),
              tmp_path / "run", verbose=0)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("existed", [False, True])
def test_a_run_that_fails_before_its_first_epoch_leaves_nothing_behind(tmp_path, monkeypatch, existed):
    import ssvae_tf.training as training

    out = tmp_path / "run"
    if existed:
        out.mkdir()
        (out / "notes.txt").write_text("mine")

    def broken(*args, **kwargs):
        raise ValueError("no model today")

    monkeypatch.setattr(training, "build_model", broken)
    with pytest.raises(ValueError, match="no model today"):
        train(TrainConfig(**TINY), out, verbose=0)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"] if existed else not out.exists()


def test_a_run_without_validation_finishes_and_a_late_failure_keeps_its_files(tmp_path, monkeypatch):
    import ssvae_tf.training as training

    history = train(TrainConfig(**{**TINY, "epochs": 1, "validation_split": 0.0}), tmp_path / "plain", verbose=0)
    assert "loss" in history and not any(key.startswith("val_") for key in history)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(training, "write_reconstructions", broken)
    with pytest.raises(OSError, match="disk full"):
        train(TrainConfig(**{**TINY, "epochs": 1}), tmp_path / "late", verbose=0)
    assert {"config.json", "history.csv", "model.keras", "backup"} <= {p.name for p in (tmp_path / "late").iterdir()}

    # the backup stays until every output is written: the same call finishes the run without training again
    monkeypatch.undo()
    epochs_seen = []
    count = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: epochs_seen.append(epoch))
    history = train(TrainConfig(**{**TINY, "epochs": 1}), tmp_path / "late", verbose=0, callbacks=[count])
    assert epochs_seen == [] and len(history["loss"]) == 1
    assert RunDir(tmp_path / "late").is_finished and (tmp_path / "late" / "reconstructions.png").is_file()


@pytest.mark.slow
def test_labels_threshold_and_crops_reach_the_run(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "labels.npy", rng.integers(0, 3, size=(12, 16, 16)).astype(np.uint8))
    labels = TrainConfig(**{**TINY, "image_size": None, "data": str(tmp_path / "labels.npy"), "phases": 3,
                            "correlations": "0,0 2,2"})
    train(labels, tmp_path / "labels", verbose=0)
    record = RunDir(tmp_path / "labels").record()
    assert record["stats_options"]["n_phases"] == 3 and record["reading"]["phases"] == 3

    np.save(tmp_path / "grey.npy", rng.random((3, 60, 48), dtype=np.float32))
    crops = TrainConfig(**{**TINY, "image_size": None, "data": str(tmp_path / "grey.npy"), "threshold": "otsu",
                           "median": 3, "patch_size": 16, "crops_per_epoch": 20, "validation_slab": True})
    train(crops, tmp_path / "crops", verbose=0)
    record = RunDir(tmp_path / "crops").record()
    assert record["image_shape"] == [16, 16, 1]
    assert 0.3 < record["reading"]["threshold"] < 0.7  # Otsu's level of uniform noise, found and recorded
    assert record["reading"]["median"] == 3 and RunDir(tmp_path / "crops").settings().median == 3


def test_a_run_ending_with_no_active_latent_unit_warns_in_one_line():
    assert collapse_warning({"val_active_units": [3.0, 0.0]}) .count("\n") == 0
    assert "no active latent dimension" in collapse_warning({"val_active_units": [3.0, 0.0]})
    assert collapse_warning({"val_active_units": [0.0, 2.0]}) is None
    assert collapse_warning({"val_active_units": [2.0, 0.0]}, epoch=0) is None  # the kept epoch counts
    assert collapse_warning({"loss": [1.0]}) is None  # no validation, no measure


def test_train_prints_the_collapse_warning(tmp_path, capfd, monkeypatch):
    # every posterior mean pinned to 0: no latent dimension varies over the data
    monkeypatch.setattr("ssvae_tf.model.ACTIVE_UNIT_THRESHOLD", float("inf"), raising=True)
    train(TrainConfig(**TINY), tmp_path / "run", verbose=0, tensorboard=False)
    lines = [line for line in capfd.readouterr().err.splitlines() if "no active latent dimension" in line]
    assert len(lines) == 1 and lines[0].startswith("warning:")


def test_a_run_from_slices_trains_volumes_on_micrographs_of_each_plane(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("xy", "xz", "yz"):
        np.save(tmp_path / f"{name}.npy", (rng.random((4, 56, 40)) < 0.5).astype(np.float32))
    config = TrainConfig(**{**TINY, "image_size": None, "data": str(tmp_path / "xy.npy"), "from_slices": True,
                            "slices_xz": str(tmp_path / "xz.npy"), "slices_yz": str(tmp_path / "yz.npy"),
                            "patch_size": 16, "crops_per_epoch": 32, "validation_slab": True, "isotropy": 0.5,
                            "stats_window": 4.0})
    train(config, tmp_path / "run", verbose=0)
    run = RunDir(tmp_path / "run")
    model = run.load_model()
    assert model.from_slices and model.sample(2, seed=0).shape == (2, 16, 16, 16, 1)
    assert model.stats_options.isotropy == 0.5 and run.settings().isotropy == 0.5
    assert model.stats_options.window_sigma == 4.0
    assert run.settings().slices_yz == str(tmp_path / "yz.npy") and run.record()["image_shape"] == [16, 16, 1]
    assert np.isfinite(run.read_history()["val_stats_distance"]).all()
    assert run.reconstructions_png.exists()


def test_a_model_from_slices_needs_square_micrographs():
    config = TrainConfig(**{**TINY, "data": "lines", "from_slices": True})
    assert decoded_shape(config, (16, 16, 1)) == (16, 16, 16, 1)
    with pytest.raises(ValueError, match="square 2-D images"):
        decoded_shape(config, (16, 24, 1))
    with pytest.raises(ValueError, match="square 2-D images"):
        decoded_shape(config, (16, 16, 16, 1))


def test_a_run_from_slices_draws_as_many_crops_as_a_3d_run():
    config = TrainConfig(**{**TINY, "data": "lines", "from_slices": True, "patch_size": 32})
    assert slice_crops_per_epoch(config) == 1024
    assert slice_crops_per_epoch(dataclasses.replace(config, from_slices=False)) is None
