"""Export for TF Serving: layout, signatures, numbers, versions, atomicity, ``ssvae export``."""

import json

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

import ssvae_tf.export as export
from ssvae_tf.cli import main
from ssvae_tf.export import export_for_serving, model_versions
from ssvae_tf.model import build_vae

SHAPE, LATENT = (16, 16, 1), 3


@pytest.fixture(scope="module")
def model():
    return build_vae(SHAPE, latent_dim=LATENT, depth=2, filters=4, hidden_units=16, alpha=2.0, beta=0.5, seed=0)


@pytest.fixture(scope="module")
def exported(model, tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    return root, export_for_serving(model, root, data_description="tiny test images")


def signature(path):
    return tf.saved_model.load(str(path)).signatures["serving_default"]


def test_layout_is_tensorflow_servings(exported):
    root, result = exported
    assert result.version == 1
    assert result.encoder_path == root / "ssvae_encoder" / "1"
    assert result.decoder_path == root / "ssvae_decoder" / "1"
    assert sorted(p.name for p in root.iterdir()) == ["models.config", "ssvae_decoder", "ssvae_encoder",
                                                      "ssvae_export.json"]
    for path in (result.encoder_path, result.decoder_path):
        assert (path / "saved_model.pb").is_file() and (path / "variables").is_dir()


def test_signatures_have_stable_names_float32_and_a_dynamic_batch(exported):
    _, result = exported
    encoder, decoder = signature(result.encoder_path), signature(result.decoder_path)
    assert encoder.structured_input_signature[1] == {
        "images": tf.TensorSpec((None, *SHAPE), tf.float32, name="images")}
    assert {k: (v.shape.as_list(), v.dtype) for k, v in encoder.structured_outputs.items()} == {
        "z_mean": ([None, LATENT], tf.float32), "z_log_var": ([None, LATENT], tf.float32)}
    assert decoder.structured_input_signature[1] == {"z": tf.TensorSpec((None, LATENT), tf.float32, name="z")}
    assert {k: (v.shape.as_list(), v.dtype) for k, v in decoder.structured_outputs.items()} == {
        "images": ([None, *SHAPE], tf.float32)}


@pytest.mark.parametrize("batch", [1, 5])
def test_loaded_savedmodels_give_the_keras_numbers(exported, model, batch):
    _, result = exported
    x = np.random.default_rng(batch).random((batch, *SHAPE), dtype=np.float32)
    encoded = signature(result.encoder_path)(images=tf.constant(x))
    z_mean, z_log_var = (t.numpy() for t in model.encoder(x))
    np.testing.assert_allclose(encoded["z_mean"].numpy(), z_mean, atol=1e-6)
    np.testing.assert_allclose(encoded["z_log_var"].numpy(), z_log_var, atol=1e-6)
    decoded = signature(result.decoder_path)(z=tf.constant(z_mean))["images"].numpy()
    np.testing.assert_allclose(decoded, model.decoder(z_mean).numpy(), atol=1e-6)


def test_models_config_parses_as_a_model_server_config(exported):
    root, result = exported
    config = text_format.Parse(result.models_config.read_text(), model_server_config_pb2.ModelServerConfig())
    entries = {c.name: c for c in config.model_config_list.config}
    assert sorted(entries) == ["ssvae_decoder", "ssvae_encoder"]
    for name, entry in entries.items():
        assert entry.base_path == f"/models/{name}" and entry.model_platform == "tensorflow"
        assert entry.model_version_policy.WhichOneof("policy_choice") == "all"


def test_the_record_describes_the_export(exported):
    root, _ = exported
    (record,) = json.loads((root / "ssvae_export.json").read_text())
    assert {k: record[k] for k in ("version", "encoder_model", "decoder_model", "image_shape", "latent_dim",
                                   "alpha", "beta", "data_description")} == {
        "version": 1, "encoder_model": "ssvae_encoder", "decoder_model": "ssvae_decoder",
        "image_shape": list(SHAPE), "latent_dim": LATENT, "alpha": 2.0, "beta": 0.5,
        "data_description": "tiny test images"}


@pytest.mark.slow
def test_versions_count_up_and_are_never_overwritten(model, tmp_path):
    assert export_for_serving(model, tmp_path).version == 1
    pb = tmp_path / "ssvae_encoder" / "1" / "saved_model.pb"
    before = pb.read_bytes()
    assert export_for_serving(model, tmp_path, version=7).version == 7
    assert export_for_serving(model, tmp_path).version == 8
    with pytest.raises(ValueError, match="version 7 already exists"):
        export_for_serving(model, tmp_path, version=7)
    with pytest.raises(ValueError, match=r"version must be an integer >= 1, got 0"):
        export_for_serving(model, tmp_path, version=0)
    assert pb.read_bytes() == before
    assert model_versions(tmp_path / "ssvae_decoder") == [1, 7, 8]
    assert [r["version"] for r in json.loads((tmp_path / "ssvae_export.json").read_text())] == [1, 7, 8]


def test_a_failed_export_leaves_no_version_behind(model, tmp_path, monkeypatch):
    real_write = export._write_savedmodel

    def write_then_fail(network, input_name, output_names, path):
        real_write(network, input_name, output_names, path)
        if input_name == export.DECODER_INPUT:
            raise OSError("disk full")

    monkeypatch.setattr(export, "_write_savedmodel", write_then_fail)
    with pytest.raises(OSError, match="disk full"):
        export_for_serving(model, tmp_path)
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == []
    assert model_versions(tmp_path / "ssvae_encoder") == model_versions(tmp_path / "ssvae_decoder") == []


def test_bad_names_are_refused(model, tmp_path):
    with pytest.raises(ValueError, match="different model names"):
        export_for_serving(model, tmp_path, encoder_name="same", decoder_name="same")
    with pytest.raises(ValueError, match="model name"):
        export_for_serving(model, tmp_path, encoder_name="../escape")
    with pytest.raises(ValueError, match="SpatialStatsVAE"):
        export_for_serving(model.encoder, tmp_path)


@pytest.mark.slow
def test_export_command_from_a_run_directory(model, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    model.save(run / "model.keras")
    (run / "config.json").write_text(json.dumps({"data_description": "lines", "image_shape": list(SHAPE)}))
    out = tmp_path / "export"
    assert main(["export", "--model", str(run), "--out", str(out), "--version", "3"]) == 0
    assert "exported version 3" in capsys.readouterr().out
    assert model_versions(out / "ssvae_encoder") == model_versions(out / "ssvae_decoder") == [3]
    assert json.loads((out / "ssvae_export.json").read_text())[0]["data_description"] == "lines"
    x = np.random.default_rng(0).random((2, *SHAPE), dtype=np.float32)
    np.testing.assert_allclose(signature(out / "ssvae_encoder" / "3")(images=tf.constant(x))["z_mean"].numpy(),
                               model.encoder(x)[0].numpy(), atol=1e-6)

    assert main(["export", "--model", str(run / "model.keras"), "--out", str(out), "--version", "3"]) == 2
    assert main(["export", "--model", str(tmp_path / "missing"), "--out", str(out)]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 2 and all(line.startswith("ssvae: error: ") for line in errors)
    assert "version 3 already exists" in errors[0] and "missing" in errors[1]


def test_a_3d_model_exports_volume_signatures_with_the_keras_numbers(tmp_path):
    volume_shape = (16, 16, 16, 1)
    volume_model = build_vae(volume_shape, latent_dim=LATENT, depth=2, filters=4, hidden_units=16, seed=0)
    result = export_for_serving(volume_model, tmp_path)
    encoder, decoder = signature(result.encoder_path), signature(result.decoder_path)
    assert encoder.structured_input_signature[1]["images"].shape.as_list() == [None, *volume_shape]
    assert decoder.structured_outputs["images"].shape.as_list() == [None, *volume_shape]
    x = np.random.default_rng(0).random((2, *volume_shape), dtype=np.float32)
    z = encoder(images=tf.constant(x))["z_mean"].numpy()
    np.testing.assert_allclose(z, volume_model.encoder(x)[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(decoder(z=tf.constant(z))["images"].numpy(), volume_model.decoder(z).numpy(), atol=1e-5)
