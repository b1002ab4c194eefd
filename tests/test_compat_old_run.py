"""A run directory written by the code before the floor-plan restructuring (commit 49da2ad) still loads and evaluates.

``tests/fixtures/old_run`` is a 16 px, one-epoch run with the statistics encoder
and circular padding (``--encoder-input statistics --padding circular``); its
``expected.npz`` holds what that code's model answered for four line images and
three latent codes.
"""

import shutil
from pathlib import Path

import keras
import numpy as np

import ssvae_tf
from ssvae_tf.commands.cli import main
from ssvae_tf.run_dir import RunDir, load_model

OLD_RUN = Path(__file__).parent / "fixtures" / "old_run"


def test_the_old_model_answers_as_it_did():
    expected = np.load(OLD_RUN / "expected.npz")
    for model in (load_model(OLD_RUN), keras.models.load_model(OLD_RUN / "model.keras")):
        z_mean, z_log_var = model.encode(expected["images"])
        np.testing.assert_allclose(z_mean, expected["z_mean"], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(z_log_var, expected["z_log_var"], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(model.decode(expected["z"]), expected["decoded"], rtol=1e-5, atol=1e-7)


def test_the_old_settings_read_back():
    settings = RunDir(OLD_RUN).settings()
    assert isinstance(settings, ssvae_tf.TrainConfig)
    assert (settings.image_size, settings.latent_dim, settings.encoder_input, settings.padding) == (
        16, 2, "statistics", "circular")
    assert RunDir(OLD_RUN).is_finished


def test_the_old_run_evaluates(tmp_path):
    run = tmp_path / "old_run"
    shutil.copytree(OLD_RUN, run)
    assert main(["evaluate", "--model", str(run), "--n-images", "8", "--out", str(tmp_path / "report")]) == 0
    assert (tmp_path / "report" / "report.md").is_file()
