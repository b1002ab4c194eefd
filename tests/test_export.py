"""Export for TF Serving: layout, signatures, numbers, versions, atomicity, ``ssvae export``."""

import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

import ssvae_tf.export as export
from ssvae_tf.commands.cli import main
from ssvae_tf.export import export_for_serving, model_versions
from ssvae_tf.export_contract import served_model
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
    assert "latent_prior" not in record  # a model without a fitted prior: clients draw N(0, I)


def test_the_record_carries_the_fitted_latent_prior_for_clients_to_draw_codes_from(tmp_path):
    from ssvae_tf.latent_prior import GaussianMixture, fit_gaussian_mixture

    fitted = build_vae(SHAPE, latent_dim=LATENT, depth=2, filters=4, hidden_units=16, seed=0)
    fitted.latent_prior = fit_gaussian_mixture(np.random.default_rng(0).normal(3.0, 0.5, (40, LATENT)), 2)
    export_for_serving(fitted, tmp_path)
    (record,) = json.loads((tmp_path / "ssvae_export.json").read_text())
    np.testing.assert_array_equal(GaussianMixture.from_json(record["latent_prior"]).sample(5, np.random.default_rng(1)),
                                  fitted.prior_codes(5, seed=1))


@pytest.mark.slow
def test_versions_count_up_and_are_never_overwritten(model, tmp_path):
    assert export_for_serving(model, tmp_path).version == 1
    pb = tmp_path / "ssvae_encoder" / "1" / "saved_model.pb"
    before = pb.read_bytes()
    assert export_for_serving(model, tmp_path, version=7).version == 7
    assert export_for_serving(model, tmp_path).version == 8
    with pytest.raises(ValueError, match="version 7 already exists"):
        export_for_serving(model, tmp_path, version=7)
    with pytest.raises(ValueError, match=r"version must be an integer from 1 to 9223372036854775807 .*, got 0"):
        export_for_serving(model, tmp_path, version=0)
    assert pb.read_bytes() == before
    assert model_versions(tmp_path / "ssvae_decoder") == [1, 7, 8]
    assert [r["version"] for r in json.loads((tmp_path / "ssvae_export.json").read_text())] == [1, 7, 8]


def test_a_failed_export_leaves_no_version_behind(model, tmp_path, monkeypatch):
    real_write = export._write_savedmodel

    def write_then_fail(network, input_name, output_names, path):
        real_write(network, input_name, output_names, path)
        if input_name == served_model("decoder").input_key:
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


def test_a_statistics_encoder_exports_with_the_keras_numbers(tmp_path):
    statistics_model = build_vae(SHAPE, latent_dim=LATENT, depth=2, filters=4, hidden_units=16, seed=0,
                                 encoder_input="statistics")
    result = export_for_serving(statistics_model, tmp_path)
    x = np.random.default_rng(0).random((3, *SHAPE), dtype=np.float32)
    z = signature(result.encoder_path)(images=tf.constant(x))["z_mean"].numpy()
    np.testing.assert_allclose(z, statistics_model.encoder(x)[0].numpy(), atol=1e-5)


# ----------------------------------------------------------------- size on disk (keras-team/keras#23553)
@pytest.mark.parametrize("part", ["encoder", "decoder"])
def test_each_weight_is_stored_once(exported, model, part):
    """Keras' ExportArchive stored every weight twice when the model was tracked as well (2.3x the bytes)."""
    _, result = exported
    network = getattr(model, part)
    path = getattr(result, f"{part}_path") / "variables"
    weight_bytes = sum(weight.numpy().nbytes for weight in network.weights)
    stored_bytes = sum(file.stat().st_size for file in path.iterdir())
    assert stored_bytes < 1.3 * weight_bytes, (stored_bytes, weight_bytes)
    stored = [name for name, _ in tf.train.list_variables(str(path / "variables"))
              if name != "_CHECKPOINTABLE_OBJECT_GRAPH"]
    assert len(stored) == len(network.weights)


# ----------------------------------------------------------------- fast exports: copies of the real SavedModels
def test_a_model_from_slices_serves_micrographs_in_and_volumes_out(tmp_path):
    volumes = build_vae(SHAPE, decoded_shape=(16, *SHAPE), latent_dim=LATENT, depth=2, filters=4, hidden_units=16,
                        seed=0)
    result = export_for_serving(volumes, tmp_path)
    assert export.read_signature(result.encoder_path) == export.ServingSignature(SHAPE, LATENT)
    assert export.read_signature(result.decoder_path, "decoder") == export.ServingSignature(None, LATENT, (16, *SHAPE))
    record = json.loads((tmp_path / "ssvae_export.json").read_text())[0]
    assert record["image_shape"] == list(SHAPE) and record["decoded_shape"] == [16, *SHAPE]
    assert export_for_serving(volumes, tmp_path).version == 2  # the same signature: a new version is accepted
    flat = build_vae(SHAPE, latent_dim=LATENT, depth=2, filters=4, hidden_units=16, seed=0)
    with pytest.raises(ValueError, match=r"decoded shape \(16, 16, 16, 1\)"):
        export_for_serving(flat, tmp_path)


@pytest.fixture
def copy_writes(exported, monkeypatch):
    """``_write_savedmodel`` copies the module's real export (same signatures, milliseconds instead of seconds)."""
    _, result = exported
    sources = {served_model(role).input_key: path for role, path in result.paths.items()}

    def copy(network, input_name, output_names, path):
        shutil.copytree(sources[input_name], path, dirs_exist_ok=True)

    monkeypatch.setattr(export, "_write_savedmodel", copy)


def files_under(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def index(root):
    return json.loads((root / "ssvae_export.json").read_text())


def test_a_signature_change_under_the_same_names_is_refused(model, tmp_path, copy_writes):
    export_for_serving(model, tmp_path)
    other = build_vae((32, 32, 1), latent_dim=LATENT + 1, depth=2, filters=4, hidden_units=16, seed=0)
    before = files_under(tmp_path)
    with pytest.raises(ValueError) as refused:
        export_for_serving(other, tmp_path)
    message = str(refused.value)
    assert "\n" not in message and "ssvae_encoder version 1" in message
    assert "images (16, 16, 1) with latent size 3" in message and "images (32, 32, 1) with latent size 4" in message
    assert "--allow-signature-change" in message and "--encoder-name" in message
    assert files_under(tmp_path) == before
    # new names keep both served; or the change is asked for
    renamed = export_for_serving(other, tmp_path, encoder_name="big_encoder", decoder_name="big_decoder")
    assert renamed.version == 1 and renamed.encoder_path == tmp_path / "big_encoder" / "1"
    assert export_for_serving(other, tmp_path, allow_signature_change=True).version == 2
    assert [(r["encoder_model"], r["version"], r["latent_dim"]) for r in index(tmp_path)] == [
        ("ssvae_encoder", 1, 3), ("big_encoder", 1, 4), ("ssvae_encoder", 2, 4)]


def test_the_same_signature_is_accepted_and_read_from_the_savedmodels(model, tmp_path, copy_writes):
    result = export_for_serving(model, tmp_path)
    assert export.read_signature(result.encoder_path) == export.ServingSignature(SHAPE, LATENT)
    assert export.read_signature(result.decoder_path, "decoder") == export.ServingSignature(None, LATENT, SHAPE)
    assert export.model_signature(model) == export.ServingSignature(SHAPE, LATENT, SHAPE)
    assert export_for_serving(model, tmp_path).version == 2
    (tmp_path / "ssvae_decoder" / "2" / "saved_model.pb").write_bytes(b"not a SavedModel")
    with pytest.raises(ValueError, match=r"cannot read the serving_default signature of the decoder in .*2 .*"
                                         r"pass --allow-signature-change"):
        export_for_serving(model, tmp_path)


@pytest.mark.parametrize("bad", [0, -1, 2**63, 10**20, True, 1.5, "3"])
def test_versions_are_bounded_to_tf_servings_int64(model, tmp_path, bad):
    with pytest.raises(ValueError, match=rf"version must be an integer from 1 to {2**63 - 1} .*, got {bad!r}"):
        export_for_serving(model, tmp_path, version=bad)
    assert not tmp_path.joinpath("ssvae_encoder").exists()


def test_the_largest_version_is_accepted_and_then_the_next_is_refused(model, tmp_path, copy_writes):
    assert export_for_serving(model, tmp_path, version=export.MAX_VERSION).version == 2**63 - 1
    with pytest.raises(ValueError, match="already holds version 9223372036854775807, the largest TF Serving"):
        export_for_serving(model, tmp_path)
    (tmp_path / "ssvae_encoder" / "100000000000000000000").mkdir()  # TF Serving ignores it, and so do we
    assert model_versions(tmp_path / "ssvae_encoder") == [2**63 - 1]


# ----------------------------------------------------------------- leftovers of killed exports
def dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def stage(model_dir, version, writer=None, age=0.0, complete=False, source=None):
    """A staged folder as a (killed or running) export leaves it; ``writer``: a pid on this host, or a dict."""
    model_dir.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=f".{version}-", suffix=".partial", dir=model_dir))
    if source is not None:
        shutil.copytree(source, staged, dirs_exist_ok=True)
    else:
        (staged / "variables").mkdir()
        (staged / "variables" / "variables.index").write_bytes(b"x")
    paths = [staged, *staged.rglob("*")]
    if writer is not None:
        record = writer if isinstance(writer, dict) else {
            "host": socket.gethostname(), "pid": writer, "pid_namespace": export._pid_namespace(),
            "created": export._process_start(writer)}
        marker = staged.with_name(staged.name + ".writer.json")
        marker.write_text(json.dumps({"version": version, "models": ["ssvae_encoder", "ssvae_decoder"],
                                      "complete": complete, **record}))
        paths.append(marker)
    for path in paths:
        os.utime(path, (time.time() - age, time.time() - age))
    return staged


def test_abandoned_staged_folders_are_removed_and_running_ones_kept(tmp_path):
    old = export.STALE_SECONDS + 60
    models = tmp_path / "ssvae_encoder"
    gone = [stage(models, 3, writer=dead_pid()),                                 # its writer died
            stage(models, 4, age=old),                                           # no writer file, old
            stage(models, 5, writer={"host": "elsewhere", "pid": 1}, age=old)]   # another host, old
    local = {"host": socket.gethostname(), "pid": os.getpid(), "pid_namespace": export._pid_namespace()}
    gone.append(stage(models, 9, writer={**local, "created": 1.0}))                # its PID is another process's
    kept = [stage(models, 6, writer=os.getpid(), age=old),                       # its writer runs (for long)
            stage(models, 7),                                                    # unknown writer, recent
            stage(models, 8, writer={"host": "elsewhere", "pid": 1})]            # another host, recent
    assert sorted(export.tidy_export_root(tmp_path)) == sorted(gone)
    assert sorted(p for p in models.iterdir() if p.is_dir()) == sorted(kept)
    assert sorted(p.name for p in models.glob("*.writer.json")) == sorted(p.name + ".writer.json" for p in kept
                                                                         if p.name.startswith((".6-", ".8-")))
    assert not (tmp_path / "ssvae_export.json").exists()  # nothing to record


def test_a_writer_is_told_running_or_gone_without_proc_or_os_kill(tmp_path, monkeypatch):
    """macOS and Windows have no ``/proc``, and Windows' ``os.kill(pid, 0)`` would end the process: the
    writer's state comes from psutil; an older writer file (no start time) waits for its age."""
    monkeypatch.setattr(export.os, "readlink", lambda path: (_ for _ in ()).throw(OSError(2, "no /proc")))
    monkeypatch.setattr(export.os, "kill", lambda *args: pytest.fail("os.kill probes no process"))
    old, models = export.STALE_SECONDS + 60, tmp_path / "ssvae_encoder"
    local = {"host": socket.gethostname(), "pid": os.getpid(), "pid_namespace": None}
    gone = [stage(models, 3, writer=dead_pid()),                                      # its writer died
            stage(models, 4, writer={**local, "created": export._process_start(os.getpid()) - 60}),  # PID reused
            stage(models, 5, writer=local, age=old)]                                  # runs, start unknown, old
    kept = [stage(models, 6, writer=os.getpid(), age=old),                            # its writer runs
            stage(models, 7, writer=local)]                                           # runs, start unknown, recent
    assert sorted(export.tidy_export_root(tmp_path)) == sorted(gone)
    assert sorted(p for p in models.iterdir() if p.is_dir()) == sorted(kept)


def test_a_pair_half_published_by_a_killed_export_is_completed(exported, tmp_path):
    _, result = exported
    shutil.copytree(result.encoder_path, tmp_path / "ssvae_encoder" / "5")
    stage(tmp_path / "ssvae_decoder", 5, writer=dead_pid(), complete=True, source=result.decoder_path)
    stage(tmp_path / "ssvae_decoder", 6, writer=dead_pid(), complete=True, source=result.decoder_path)  # no pair
    export.tidy_export_root(tmp_path)
    assert model_versions(tmp_path / "ssvae_decoder") == [5]
    assert [p.name for p in (tmp_path / "ssvae_decoder").iterdir()] == ["5"]
    assert export.read_signature(tmp_path / "ssvae_decoder" / "5", "decoder").latent_dim == LATENT
    assert "ssvae_decoder" in (tmp_path / "models.config").read_text()
    (record,) = index(tmp_path)
    assert record["version"] == 5 and record["recovered"] is True and record["image_shape"] == list(SHAPE)


def test_the_index_is_made_to_match_the_version_folders(model, exported, tmp_path, copy_writes):
    _, result = exported
    for version in (2, 3):  # published by an older export killed before it wrote the index
        shutil.copytree(result.encoder_path, tmp_path / "ssvae_encoder" / str(version))
        shutil.copytree(result.decoder_path, tmp_path / "ssvae_decoder" / str(version))
    write = {"version": 9, "encoder_model": "ssvae_encoder", "decoder_model": "ssvae_decoder"}
    (tmp_path / "ssvae_export.json").write_text(json.dumps([write]))  # a record of a version never published
    assert export_for_serving(model, tmp_path, data_description="new").version == 4
    records = index(tmp_path)
    assert [(r["version"], r.get("recovered", False)) for r in records] == [(2, True), (3, True), (4, False)]
    assert records[0]["latent_dim"] == LATENT and records[0]["alpha"] is None
    assert records[2]["data_description"] == "new" and records[2]["alpha"] == 2.0


def test_stale_temporaries_of_the_root_files_are_removed(tmp_path):
    old, recent = tmp_path / ".models-abc123.config", tmp_path / ".ssvae_export-def456.json"
    for path, age in ((old, export.STALE_SECONDS + 60), (recent, 0)):
        path.write_text("partial")
        os.utime(path, (time.time() - age, time.time() - age))
    export.tidy_export_root(tmp_path)
    assert not old.exists() and recent.exists()


KILLER = """
import os, signal, sys
sys.path.insert(0, {repo!r})
from ssvae_tf import export
from ssvae_tf.model import build_vae
step = sys.argv[2]
real_rename, real_add = os.rename, export._add_record
def rename(source, target):
    real_rename(source, target)
    if step == "between-renames":
        os.kill(os.getpid(), signal.SIGKILL)
def add_record(root, record):
    if step == "before-record":
        os.kill(os.getpid(), signal.SIGKILL)
    return real_add(root, record)
export.os.rename, export._add_record = rename, add_record
model = build_vae((16, 16, 1), latent_dim=3, depth=2, filters=4, hidden_units=16, seed=0)
export.export_for_serving(model, sys.argv[1])
"""


@pytest.mark.slow
@pytest.mark.parametrize("step", ["before-record", "between-renames"])
def test_an_export_killed_midway_is_tidied_by_the_next(model, tmp_path, step):
    script = tmp_path / "killed.py"
    script.write_text(KILLER.format(repo=str(Path(__file__).resolve().parents[1])))
    root = tmp_path / "exports"
    killed = subprocess.run([sys.executable, str(script), str(root), step],
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, capture_output=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    assert any(p.name.endswith(".partial") for p in root.rglob("*"))
    result = export_for_serving(model, root)
    assert not [p for p in root.rglob("*") if ".partial" in p.name]
    versions = {name: model_versions(root / name) for name in ("ssvae_encoder", "ssvae_decoder")}
    if step == "before-record":  # nothing was published: the version is free again
        assert result.version == 1 and versions == {"ssvae_encoder": [1], "ssvae_decoder": [1]}
        assert [r["version"] for r in index(root)] == [1]
    else:  # the first half was renamed: the second is renamed too, then the new export comes
        assert result.version == 2 and versions == {"ssvae_encoder": [1, 2], "ssvae_decoder": [1, 2]}
        assert [(r["version"], r.get("recovered", False)) for r in index(root)] == [(1, False), (2, False)]


# ----------------------------------------------------------------- a damaged index, a full disk
@pytest.mark.parametrize("content, complaint", [
    ("{not json", "is not valid JSON"),
    ('{"version": 1}', "holds a JSON object; expected the JSON list of export records"),
    ('[{"version": "1", "encoder_model": "e", "decoder_model": "d"}]', "entry 0 is not an export record"),
    ('[{"version": 1, "encoder_model": "../e", "decoder_model": "d"}]', "entry 0 is not an export record"),
])
def test_a_damaged_index_is_named_in_one_line(model, tmp_path, content, complaint):
    (tmp_path / "ssvae_export.json").write_text(content)
    with pytest.raises(ValueError) as refused:
        export_for_serving(model, tmp_path)
    message = str(refused.value)
    assert "\n" not in message and message.startswith(str(tmp_path / "ssvae_export.json")) and complaint in message
    assert (tmp_path / "ssvae_export.json").read_text() == content  # not overwritten
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ssvae_export.json"]


@pytest.mark.parametrize("failure", [OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), OSError(errno.ENOSPC),
                                     tf.errors.UnknownError(None, None, "write failed: No space left on device")],
                         ids=["OSError", "bare-errno", "tensorflow"])
def test_a_full_disk_gives_one_line_and_rolls_back(model, tmp_path, monkeypatch, copy_writes, failure):
    export_for_serving(model, tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    real_write = export._write_savedmodel

    def fill_the_disk(network, input_name, output_names, path):
        real_write(network, input_name, output_names, path)
        if input_name == served_model("decoder").input_key:
            raise failure

    monkeypatch.setattr(export, "_write_savedmodel", fill_the_disk)
    with pytest.raises(export.ExportWriteError) as failed:
        export_for_serving(model, tmp_path)
    message = str(failed.value)
    assert failed.value.errno == errno.ENOSPC and isinstance(failed.value, OSError)
    assert "\n" not in message and "No space left on device (free some space and export again)" in message
    assert "writing version 2" in message and "nothing was published" in message
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_export_command_reports_a_full_disk_and_refusals_in_one_line(model, tmp_path, monkeypatch, capsys,
                                                                     copy_writes):
    model.save(tmp_path / "model.keras")
    out = tmp_path / "exports"

    def full(network, input_name, output_names, path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    argv = ["export", "--model", str(tmp_path / "model.keras"), "--out", str(out)]
    assert main([*argv, "--version", "100000000000000000000"]) == 2
    assert main(argv) == 0
    other = build_vae((32, 32, 1), latent_dim=LATENT, depth=2, filters=4, hidden_units=16, seed=0)
    other.save(tmp_path / "other.keras")
    other_argv = ["export", "--model", str(tmp_path / "other.keras"), "--out", str(out)]
    assert main(other_argv) == 2
    assert main([*other_argv, "--allow-signature-change"]) == 0
    monkeypatch.setattr(export, "_write_savedmodel", full)
    assert main(argv) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 3 and all(line.startswith("ssvae: error: ") for line in errors)
    assert "--version must be an integer from 1 to 9223372036854775807" in errors[0]
    assert "100000000000000000000" in errors[0]
    assert "images (16, 16, 1) with latent size 3, this model images (32, 32, 1)" in errors[1]
    assert "No space left on device" in errors[2]
    assert model_versions(out / "ssvae_encoder") == [1, 2]


# ----------------------------------------------------------------- one more served model: one entry in the table
def test_a_served_model_added_to_the_table_is_exported_recorded_and_flagged(model, tmp_path, copy_writes,
                                                                            posterior_served):
    old = export_for_serving(model, tmp_path / "root")  # records written before the third model existed
    shutil.rmtree(tmp_path / "root" / "ssvae_posterior")  # ... and its folders
    records = [{key: value for key, value in record.items() if key != "posterior_model"}
               for record in index(tmp_path / "root")]
    (tmp_path / "root" / "ssvae_export.json").write_text(json.dumps(records))
    result = export_for_serving(model, tmp_path / "root", posterior_name="approximate_posterior")
    assert old.version == 1 and result.version == 2
    assert list(result.paths) == ["encoder", "decoder", "posterior"]
    assert result.paths["posterior"] == tmp_path / "root" / "approximate_posterior" / "2"
    records = index(tmp_path / "root")
    assert "posterior_model" not in records[0] and records[1]["posterior_model"] == "approximate_posterior"
    assert export.read_signature(result.paths["posterior"], "posterior") == export.ServingSignature(SHAPE, LATENT)
    with pytest.raises(TypeError, match="unexpected keyword argument 'statistics_name'"):
        export_for_serving(model, tmp_path / "root", statistics_name="s")
    model.save(tmp_path / "model.keras")
    argv = ["export", "--model", str(tmp_path / "model.keras"), "--out", str(tmp_path / "cli")]
    assert main([*argv, "--posterior-name", "p"]) == 0
    assert sorted(p.name for p in (tmp_path / "cli").iterdir()) == [
        "models.config", "p", "ssvae_decoder", "ssvae_encoder", "ssvae_export.json"]
