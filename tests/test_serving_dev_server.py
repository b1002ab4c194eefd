"""The local TF Serving-compatible server over real gRPC on loopback, against in-process Keras.

Every answer is checked against the Keras encoder/decoder the export came
from; error cases against the gRPC status codes TF Serving uses.
"""

import logging
import os
import shutil
import socket
import time
from concurrent import futures

import grpc
import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from serving.client import ServerTimeoutError, ServerUnavailableError, ServingError, SSVAEClient
from serving.dev_server import start_server
from serving.dev_server.batching import BatchingParameters
from serving.dev_server.repository import ModelRepository, State, VersionStatus
from ssvae_tf.data import generate_lines
from ssvae_tf.export import export_for_serving
from ssvae_tf.model import build_vae

pytestmark = pytest.mark.slow  # end to end: a gRPC server over exported SavedModels

SIZE, LATENT = 16, 3
ATOL = 1e-5


def tiny_model(seed: int):
    return build_vae((SIZE, SIZE, 1), latent_dim=LATENT, depth=2, filters=4, hidden_units=16, seed=seed)


def images(n: int, seed: int = 1) -> np.ndarray:
    return generate_lines(n, SIZE, seed=seed, progress=False).images


def local_config(root, policy: str = "all {}", names=("ssvae_encoder", "ssvae_decoder")):
    """A TF Serving models.config for the models of export root ``root`` with version policy ``policy``
    (``ssvae serve`` serves an export root's latest versions only, as TF Serving by default)."""
    config = root / "local.config"
    config.write_text("model_config_list {\n" + "".join(
        f"  config {{ name: '{name}' base_path: '{name}' model_platform: 'tensorflow' "
        f"model_version_policy {{ {policy} }} }}\n" for name in names) + "}\n")
    return config


@pytest.fixture(scope="module")
def model():
    """A tiny VAE trained for one epoch."""
    keras.utils.set_random_seed(0)
    vae = tiny_model(seed=0)
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    vae.fit(images(32, seed=0), epochs=1, batch_size=16, verbose=0)
    return vae


@pytest.fixture(scope="module")
def export_root(model, tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    export_for_serving(model, root)
    return root


@pytest.fixture(scope="module")
def server(export_root):
    with start_server(export_root, port=0) as running:
        yield running


@pytest.fixture
def client(server):
    with SSVAEClient(server.target, timeout=30) as c:
        yield c


@pytest.fixture
def channel(server):
    with grpc.insecure_channel(server.target) as ch:
        yield ch


def test_binds_loopback_on_a_free_port(server):
    assert server.host == "127.0.0.1" and server.port > 0


def test_encode_equals_the_in_process_encoder(client, model):
    x = images(5)
    z_mean, z_log_var = client.encode(x)
    expected_mean, expected_log_var = (t.numpy() for t in model.encoder(x))
    assert z_mean.dtype == np.float32 and z_mean.shape == (5, LATENT)
    np.testing.assert_allclose(z_mean, expected_mean, atol=ATOL)
    np.testing.assert_allclose(z_log_var, expected_log_var, atol=ATOL)


def test_decode_of_encode_equals_the_in_process_reconstruction(client, model):
    x = images(4)
    decoded = client.decode(client.encode(x)[0])
    assert decoded.shape == x.shape
    np.testing.assert_allclose(decoded, model(x).numpy(), atol=ATOL)


def test_large_batches_are_split_into_several_requests(server, model):
    x = images(7)
    with SSVAEClient(server.target, max_batch_size=3) as small:
        z_mean, _ = small.encode(x)
        decoded = small.decode(z_mean)
    np.testing.assert_allclose(z_mean, model.encoder(x)[0].numpy(), atol=ATOL)
    np.testing.assert_allclose(decoded, model.decoder(z_mean).numpy(), atol=ATOL)


def test_metadata_lists_the_signatures(client):
    spec = {"dtype": "float32"}
    assert client.metadata() == {
        "ssvae_encoder": {"version": 1, "signatures": {"serving_default": {
            "inputs": {"images": {**spec, "shape": (None, SIZE, SIZE, 1)}},
            "outputs": {"z_log_var": {**spec, "shape": (None, LATENT)}, "z_mean": {**spec, "shape": (None, LATENT)}},
        }}},
        "ssvae_decoder": {"version": 1, "signatures": {"serving_default": {
            "inputs": {"z": {**spec, "shape": (None, LATENT)}},
            "outputs": {"images": {**spec, "shape": (None, SIZE, SIZE, 1)}},
        }}},
    }


def test_status_reports_available(client):
    assert client.status() == {"ssvae_encoder": {1: "AVAILABLE"}, "ssvae_decoder": {1: "AVAILABLE"}}


def test_a_raw_tensorflow_serving_request_gets_the_right_answer(channel, model):
    """What any TF Serving user writes, without the project's client."""
    x = images(3)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "ssvae_encoder"
    request.inputs["images"].CopyFrom(tf.make_tensor_proto(x))
    response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)
    assert response.model_spec.name == "ssvae_encoder"
    assert response.model_spec.version.value == 1
    assert response.model_spec.signature_name == "serving_default"
    assert sorted(response.outputs) == ["z_log_var", "z_mean"]
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["z_mean"]), model.encoder(x)[0].numpy(), atol=ATOL)


def raw_predict(channel, name="ssvae_encoder", inputs=None, version=None, signature=None, output_filter=()):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    if version is not None:
        request.model_spec.version.value = version
    if signature is not None:
        request.model_spec.signature_name = signature
    for key, value in (inputs if inputs is not None else {"images": images(1)}).items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
    request.output_filter.extend(output_filter)
    return prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)


def status_code(call) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value.code()


def test_unknown_model_or_version_is_not_found(channel):
    models = model_service_pb2_grpc.ModelServiceStub(channel)
    predictions = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    status_request = get_model_status_pb2.GetModelStatusRequest()
    status_request.model_spec.name = "no_such_model"
    metadata_request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    metadata_request.model_spec.name = "ssvae_decoder"
    metadata_request.model_spec.version.value = 7
    assert status_code(lambda: raw_predict(channel, name="no_such_model")) == grpc.StatusCode.NOT_FOUND
    assert status_code(lambda: raw_predict(channel, version=7)) == grpc.StatusCode.NOT_FOUND
    assert status_code(lambda: models.GetModelStatus(status_request, timeout=30)) == grpc.StatusCode.NOT_FOUND
    assert status_code(lambda: predictions.GetModelMetadata(metadata_request, timeout=30)) == grpc.StatusCode.NOT_FOUND


def test_bad_requests_get_tensorflow_servings_codes(channel):
    x = images(2)
    invalid, precondition = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION
    assert status_code(lambda: raw_predict(channel, inputs={"pixels": x})) == invalid
    assert status_code(lambda: raw_predict(channel, inputs={})) == invalid
    assert status_code(lambda: raw_predict(channel, inputs={"images": x.astype(np.float64)})) == invalid
    assert status_code(lambda: raw_predict(channel, inputs={"images": x[:, :8]})) == invalid
    assert status_code(lambda: raw_predict(channel, inputs={"images": x[..., 0]})) == invalid
    assert status_code(lambda: raw_predict(channel, output_filter=["z"])) == invalid
    assert status_code(lambda: raw_predict(channel, signature="predict")) == precondition


def test_output_filter_returns_only_the_requested_outputs(channel, model):
    response = raw_predict(channel, output_filter=["z_log_var"], version=1)
    assert list(response.outputs) == ["z_log_var"]
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["z_log_var"]),
                               model.encoder(images(1))[1].numpy(), atol=ATOL)


def test_client_refusals_carry_the_code_and_message(client):
    with pytest.raises(ServingError) as caught:
        client.decode(np.zeros((2, LATENT + 2)))
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT and caught.value.http_status is None
    assert f"(?, {LATENT})" in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(ValueError, match="NaN"):
        client.encode(np.full((1, SIZE, SIZE, 1), np.nan))
    with pytest.raises(ValueError, match="batch"):
        client.decode(np.zeros(LATENT))


def test_an_oversized_request_is_refused_and_the_server_keeps_serving(export_root, model):
    limit = 100_000
    with start_server(export_root, port=0, max_message_bytes=limit) as small:
        big = np.zeros((200, SIZE, SIZE, 1), np.float32)  # 200 KiB of tensor data
        with grpc.insecure_channel(small.target) as channel:
            assert status_code(lambda: raw_predict(channel, inputs={"images": big})) == \
                grpc.StatusCode.RESOURCE_EXHAUSTED
            x = images(2)
            answer = tf.make_ndarray(raw_predict(channel, inputs={"images": x}).outputs["z_mean"])
        np.testing.assert_allclose(answer, model.encoder(x)[0].numpy(), atol=ATOL)
        with SSVAEClient(small.target, max_message_bytes=1 << 20) as client, pytest.raises(ServingError) as caught:
            client.encode(big)
        assert caught.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        # within the limit, the client splits by the size of the answers too (200 images of 1 KiB)
        z = np.random.default_rng(0).standard_normal((200, LATENT)).astype(np.float32)
        with SSVAEClient(small.target, max_message_bytes=limit) as client:
            np.testing.assert_allclose(client.decode(z), model.decoder(z).numpy(), atol=ATOL)
            np.testing.assert_allclose(client.encode(big)[0], model.encoder(big)[0].numpy(), atol=ATOL)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unreachable_server_and_timeout_raise_os_errors(server):
    with SSVAEClient(f"127.0.0.1:{free_port()}", timeout=5) as nobody, pytest.raises(ServerUnavailableError) as caught:
        nobody.encode(images(1))
    assert isinstance(caught.value, ConnectionError) and "cannot reach" in str(caught.value)
    with SSVAEClient(server.target, timeout=1e-6) as impatient, pytest.raises(ServerTimeoutError) as late:
        impatient.encode(images(1))
    assert isinstance(late.value, TimeoutError)


def wait_until(condition, seconds: float = 30.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_new_export_is_served_without_restart(tmp_path, model):
    """An export root: its latest version is served (TF Serving's default policy), and a newer one replaces it
    once it has loaded; a newer one that fails to load leaves the one served (availability first)."""
    root = tmp_path / "export"
    export_for_serving(model, root)
    newer = tiny_model(seed=5)
    x = images(3)
    with start_server(root, port=0, poll_seconds=0.1) as running, SSVAEClient(running.target) as client:
        np.testing.assert_allclose(client.encode(x)[0], model.encoder(x)[0].numpy(), atol=ATOL)
        export_for_serving(newer, root)
        wait_until(lambda: client.status()["ssvae_decoder"].get(2) == "AVAILABLE")
        assert client.status() == {name: {1: "END", 2: "AVAILABLE"} for name in ("ssvae_encoder", "ssvae_decoder")}
        assert {meta["version"] for meta in client.metadata().values()} == {2}
        z_mean, _ = client.encode(x)
        np.testing.assert_allclose(z_mean, newer.encoder(x)[0].numpy(), atol=ATOL)
        np.testing.assert_allclose(client.decode(z_mean), newer.decoder(z_mean).numpy(), atol=ATOL)
        with SSVAEClient(running.target, version=1) as pinned, pytest.raises(ServingError) as unloaded:
            pinned.encode(x)
        assert unloaded.value.code == grpc.StatusCode.NOT_FOUND

        broken = root / "ssvae_encoder" / ".3-partial"
        broken.mkdir()
        (broken / "saved_model.pb").write_bytes(b"not a SavedModel")
        os.rename(broken, root / "ssvae_encoder" / "3")
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = "ssvae_encoder"
        with grpc.insecure_channel(running.target) as channel:
            stub = model_service_pb2_grpc.ModelServiceStub(channel)
            wait_until(lambda: len(stub.GetModelStatus(request, timeout=30).model_version_status) == 3)
            failed = stub.GetModelStatus(request, timeout=30).model_version_status[2]
        assert failed.version == 3 and failed.state == get_model_status_pb2.ModelVersionStatus.END
        assert failed.status.error_message
        assert client.status()["ssvae_encoder"] == {1: "END", 2: "AVAILABLE", 3: "END"}  # 2 still served
        np.testing.assert_allclose(client.encode(x)[0], newer.encoder(x)[0].numpy(), atol=ATOL)

        shutil.rmtree(root / "ssvae_encoder" / "3")  # the broken version replaced by a good one: served
        shutil.copytree(root / "ssvae_encoder" / "2", root / "ssvae_encoder" / "3")
        wait_until(lambda: client.status()["ssvae_encoder"].get(3) == "AVAILABLE")
        with SSVAEClient(running.target, version=3) as pinned:
            np.testing.assert_allclose(pinned.encode(x)[0], newer.encoder(x)[0].numpy(), atol=ATOL)
        assert client.status()["ssvae_encoder"] == {1: "END", 2: "END", 3: "AVAILABLE"}


@pytest.mark.parametrize(("policy", "served"), [
    ("", [4]),  # no policy: TF Serving's default, the latest version
    ("model_version_policy { latest { num_versions: 2 } }", [2, 4]),
    ("model_version_policy { all {} }", [1, 2, 4]),
    ("model_version_policy { specific { versions: 1 versions: 2 versions: 9 } }", [1, 2]),  # 9 is not on disk
], ids=["default", "latest-2", "all", "specific"])
def test_a_models_config_with_local_paths_and_a_version_policy(export_root, tmp_path, model, policy, served):
    for name in ("ssvae_encoder", "ssvae_decoder"):
        for version in (1, 2, 4):
            shutil.copytree(export_root / name / "1", tmp_path / "models" / name / str(version))
    config = tmp_path / "local.config"
    config.write_text("model_config_list {\n"
                      "  config { name: 'ssvae_encoder' base_path: 'models/ssvae_encoder' model_platform: 'tensorflow'"
                      f" {policy} }}\n"
                      "  config { name: 'ssvae_decoder' base_path: 'models/ssvae_decoder' model_platform: 'tensorflow'"
                      " }\n}\n")
    x = images(2)
    with start_server(config, port=0) as running, SSVAEClient(running.target) as client:
        assert client.status() == {"ssvae_encoder": dict.fromkeys(served, "AVAILABLE"),
                                   "ssvae_decoder": {4: "AVAILABLE"}}
        assert running.repository.served() == {"ssvae_decoder": [4], "ssvae_encoder": served}
        for version in served:
            with SSVAEClient(running.target, version=version) as pinned:
                np.testing.assert_allclose(pinned.encode(x)[0], model.encoder(x)[0].numpy(), atol=ATOL)
    with pytest.raises(ValueError, match="Docker image"):
        start_server(export_root / "models.config", port=0)


def test_volumes_round_trip_through_a_served_3d_export(tmp_path):
    """3-D: the export's signatures are 5-D and the client encodes and decodes volumes as Keras does."""
    volume_model = build_vae((SIZE, SIZE, SIZE, 1), latent_dim=LATENT, depth=2, filters=4, hidden_units=16, seed=0)
    export_for_serving(volume_model, tmp_path)
    volumes = np.random.default_rng(3).random((3, SIZE, SIZE, SIZE, 1), dtype=np.float32)
    with start_server(tmp_path, port=0) as running, SSVAEClient(running.target, timeout=30) as volume_client:
        z_mean, _ = volume_client.encode(volumes)
        np.testing.assert_allclose(z_mean, volume_model.encoder(volumes)[0].numpy(), atol=ATOL)
        np.testing.assert_allclose(volume_client.decode(z_mean), volume_model.decoder(z_mean).numpy(), atol=ATOL)
        with pytest.raises(ValueError, match=r"images have shape \(16, 16, 1\) but .* encodes 16x16x16 images"):
            volume_client.encode(volumes[:, 0])


# ------------------------------------------------------- requests that ask too much (issue 13)
def peak_rss_growth_mb(work) -> tuple[object, float | None]:
    """Run ``work``; its result and how far this process's peak resident memory rose, in MB (``None``
    where Linux's peak reset is not available). The server runs in this process."""
    def peak_kb() -> int:
        with open("/proc/self/status", encoding="ascii") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))

    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
            clear.write("5")  # resets the peak to the current resident size
        before = peak_kb()
    except OSError:
        return work(), None
    result = work()
    return result, (peak_kb() - before) / 1024


def fill_tensor(value: float, shape):
    """A TensorProto of one value standing for a tensor of ``shape`` filled with it (57 bytes for any shape)."""
    proto = tf.make_tensor_proto(np.float32(value), shape=list(shape))
    assert len(proto.float_val) == 1 and not proto.tensor_content
    return proto


def predict_proto(channel, name: str, key: str, proto, timeout: float = 60):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.inputs[key].CopyFrom(proto)
    return prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=timeout)


def refusal(call) -> tuple[grpc.StatusCode, str, float]:
    start = time.perf_counter()
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value.code(), caught.value.details(), time.perf_counter() - start


def test_a_tiny_request_declaring_a_huge_tensor_is_refused_before_it_is_made(channel, model):
    """Issue 13: 57 bytes declaring (200000, H, W, 1) made the server allocate gigabytes for 35 s."""
    huge = fill_tensor(0.5, (200_000, SIZE, SIZE, 1))
    assert len(huge.SerializeToString()) < 64
    (code, details, seconds), growth = peak_rss_growth_mb(
        lambda: refusal(lambda: predict_proto(channel, "ssvae_encoder", "images", huge)))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "declare 204800000 bytes" in details
    assert seconds < 5 and (growth is None or growth < 500), (seconds, growth)
    x = images(2)  # the next request is served
    answer = tf.make_ndarray(raw_predict(channel, inputs={"images": x}).outputs["z_mean"])
    np.testing.assert_allclose(answer, model.encoder(x)[0].numpy(), atol=ATOL)


def test_an_answer_over_the_message_limit_is_refused_before_the_model_runs(channel, model):
    """100 000 latent vectors (1.2 MB) would decode into 100 MB of images: refused before decoding."""
    z = np.zeros((100_000, LATENT), np.float32)
    (code, details, seconds), growth = peak_rss_growth_mb(
        lambda: refusal(lambda: raw_predict(channel, "ssvae_decoder", {"z": z})))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert f"ask for at most {64 * 1024 * 1024 // (SIZE * SIZE * 4)} items" in details
    assert seconds < 5 and (growth is None or growth < 100), (seconds, growth)
    np.testing.assert_allclose(tf.make_ndarray(raw_predict(channel, "ssvae_decoder", {"z": z[:2]}).outputs["images"]),
                               model.decoder(z[:2]).numpy(), atol=ATOL)


def test_tensor_protos_are_checked_against_their_shape_as_tensorflow_reads_them(channel, model):
    """TF's rule: as many values as the shape holds, or fewer (the last one repeated); tensor_content exact."""
    filled = tf.make_ndarray(predict_proto(channel, "ssvae_encoder", "images",
                                           fill_tensor(0.25, (2, SIZE, SIZE, 1))).outputs["z_mean"])
    np.testing.assert_allclose(filled, model.encoder(np.full((2, SIZE, SIZE, 1), 0.25, np.float32))[0].numpy(),
                               atol=ATOL)
    too_many = tf.make_tensor_proto(np.zeros((1, LATENT), np.float32))
    too_many.ClearField("tensor_content")
    too_many.float_val.extend([0.0] * (LATENT + 1))
    code, details, _ = refusal(lambda: predict_proto(channel, "ssvae_decoder", "z", too_many))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and f"holds {LATENT + 1} values" in details
    short_content = tf.make_tensor_proto(np.zeros((4, LATENT), np.float32))
    short_content.tensor_content = short_content.tensor_content[:-4]
    code, details, _ = refusal(lambda: predict_proto(channel, "ssvae_decoder", "z", short_content))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "tensor_content" in details
    negative = tf.make_tensor_proto(np.zeros((1, LATENT), np.float32))
    negative.tensor_shape.dim[0].size = -1
    assert refusal(lambda: predict_proto(channel, "ssvae_decoder", "z", negative))[0] == \
        grpc.StatusCode.INVALID_ARGUMENT


def test_an_empty_batch_is_refused_by_the_encoder_and_the_decoder_alike(channel):
    for name, key, shape in (("ssvae_encoder", "images", (0, SIZE, SIZE, 1)), ("ssvae_decoder", "z", (0, LATENT))):
        code, details, _ = refusal(lambda: raw_predict(channel, name, {key: np.zeros(shape, np.float32)}))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "empty batch" in details, (name, details)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_non_finite_inputs_are_refused(channel, bad):
    """Served graphs may turn NaN into normal-looking codes (oneDNN's fused convolution + ReLU); Keras gives NaN."""
    x = images(3)
    x[1, 3, 4, 0] = bad
    code, details, _ = refusal(lambda: raw_predict(channel, inputs={"images": x}))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "NaN or infinite values (item 1)" in details
    z = np.zeros((2, LATENT), np.float32)
    z[0, 1] = bad
    assert refusal(lambda: raw_predict(channel, "ssvae_decoder", {"z": z}))[0] == grpc.StatusCode.INVALID_ARGUMENT


def test_a_batch_over_max_batch_size_is_refused_as_tensorflow_serving_does(export_root):
    with start_server(export_root, port=0, max_batch_size=4) as capped, \
            grpc.insecure_channel(capped.target) as channel:
        code, details, _ = refusal(lambda: raw_predict(channel, inputs={"images": images(5)}))
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert details == "Task size 5 is larger than maximum input batch size 4"
        assert raw_predict(channel, inputs={"images": images(4)}).outputs["z_mean"].tensor_shape.dim[0].size == 4
    with pytest.raises(ValueError, match="max_batch_size"):
        start_server(export_root, port=0, max_batch_size=0)


def test_a_huge_model_name_is_not_echoed_back_whole(channel):
    """A 1 MB name echoed in the error overflowed gRPC's metadata limit: RESOURCE_EXHAUSTED instead of NOT_FOUND."""
    code, details, _ = refusal(lambda: raw_predict(channel, name="m" * 1_000_000))
    assert code == grpc.StatusCode.NOT_FOUND and "(1000000 characters)" in details and len(details) < 1000
    code, details, _ = refusal(lambda: raw_predict(channel, signature="s" * 100_000))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and len(details) < 1000


def test_bad_requests_log_one_line_each_without_tracebacks(channel, caplog):
    caplog.set_level(logging.INFO)
    predict_bytes = channel.unary_unary("/tensorflow.serving.PredictionService/Predict")
    with pytest.raises(grpc.RpcError) as garbage:
        predict_bytes(b"\xff\xff\xff not a protocol buffer", timeout=30)
    assert garbage.value.code() == grpc.StatusCode.INTERNAL and "PredictRequest" in garbage.value.details()
    assert status_code(lambda: raw_predict(channel, inputs={"images": images(2)[:, :8]})) == \
        grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as unimplemented:
        channel.unary_unary("/tensorflow.serving.PredictionService/Classify")(b"", timeout=30)
    assert unimplemented.value.code() == grpc.StatusCode.UNIMPLEMENTED
    records = [r for r in caplog.records
               if r.levelno >= logging.INFO and not r.name.startswith("serving.dev_server.repository")]
    assert [r.levelname for r in records] == ["WARNING", "INFO"], [(r.name, r.getMessage()) for r in records]
    assert not any(r.exc_info for r in records) and all("\n" not in r.getMessage() for r in records)
    assert "Predict refused (INVALID_ARGUMENT): input 'images' has shape" in records[1].getMessage()


def test_a_version_that_failed_to_load_is_tried_again_once_its_folder_changed(export_root, tmp_path, model, caplog):
    """Both cases of issue 13: a folder caught mid-copy, and a broken version replaced by a good one."""
    caplog.set_level(logging.INFO)
    good = {name: export_root / name / "1" for name in ("ssvae_encoder", "ssvae_decoder")}
    root = tmp_path / "root"
    for name, folder in good.items():
        shutil.copytree(folder, root / name / "1")
    repository = ModelRepository(root)
    repository.refresh()
    # mid-copy: the variables are not there yet
    shutil.copytree(good["ssvae_encoder"], root / "ssvae_encoder" / "2", ignore=shutil.ignore_patterns("variables*"))
    # broken: not a SavedModel at all
    (root / "ssvae_decoder" / "2").mkdir()
    (root / "ssvae_decoder" / "2" / "saved_model.pb").write_bytes(b"not a SavedModel")
    for _ in range(3):  # unchanged folders are not tried again
        repository.refresh()
    assert {name: repository.status(name)[2].state for name in good} == {name: State.END for name in good}
    assert sum("could not load" in r.getMessage() for r in caplog.records) == 2
    shutil.copytree(good["ssvae_encoder"] / "variables", root / "ssvae_encoder" / "2" / "variables")  # copy done
    shutil.rmtree(root / "ssvae_decoder" / "2")
    shutil.copytree(good["ssvae_decoder"], root / "ssvae_decoder" / ".2-partial")
    os.rename(root / "ssvae_decoder" / ".2-partial", root / "ssvae_decoder" / "2")  # replaced by a good one
    repository.refresh()  # the change is seen; tried once it has settled for one poll
    assert repository.served() == {"ssvae_decoder": [1], "ssvae_encoder": [1]}  # kept while 2 cannot load
    repository.refresh()
    assert repository.served() == {"ssvae_decoder": [2], "ssvae_encoder": [2]}  # the latest only, once loaded
    assert {name: repository.status(name)[2] for name in good} == {name: VersionStatus(State.AVAILABLE)
                                                                   for name in good}
    x = images(2)
    encoded = repository.get("ssvae_encoder").functions["serving_default"](images=tf.constant(x))
    np.testing.assert_allclose(encoded["z_mean"].numpy(), model.encoder(x)[0].numpy(), atol=ATOL)


def test_a_served_model_added_to_the_table_is_called_by_its_role(model, tmp_path, posterior_served):
    export_for_serving(model, tmp_path)
    x = images(3)
    with start_server(tmp_path, port=0) as running, SSVAEClient(running.target, timeout=30) as client:
        assert list(client.models) == ["encoder", "decoder", "posterior"]
        answer = client.predict("posterior", x)
        np.testing.assert_allclose(answer["z_mean"], model.encoder(x)[0].numpy(), atol=ATOL)
        np.testing.assert_allclose(answer["z_log_var"], model.encoder(x)[1].numpy(), atol=ATOL)
        assert set(client.status()) == {"ssvae_encoder", "ssvae_decoder", "ssvae_posterior"}
        with pytest.raises(ValueError, match="images have shape .* but the model ssvae_posterior at .* takes 16x16"):
            client.predict("posterior", np.zeros((2, 8, 8), np.float32))
    with pytest.raises(ValueError, match="no served model has the role 'statistics'; the roles are encoder, "
                                         "decoder, posterior"):
        SSVAEClient(models={"statistics": "s"})
    with pytest.raises(ValueError, match="give the encoder's model name as encoder="):
        SSVAEClient(models={"encoder": "e"})


def test_batching_joins_concurrent_requests_over_both_apis_with_the_same_answers(export_root, model):
    """``ssvae serve --enable-batching``: 8 clients at once, one image each, answered by a few model calls."""
    parameters = BatchingParameters(max_batch_size=16, batch_timeout_micros=100_000, num_batch_threads=1)
    x = images(8)
    with start_server(export_root, port=0, rest_port=0, batching=parameters) as running:
        for target in (running.target, running.rest_target):
            with SSVAEClient(target) as client, futures.ThreadPoolExecutor(8) as pool:
                client.metadata()  # the signatures, asked once
                before = running.batcher.batches_run
                z_mean = np.concatenate([z for z, _ in pool.map(client.encode, x[:, np.newaxis])])
                assert running.batcher.batches_run - before < 8, target  # some requests shared a call
            np.testing.assert_allclose(z_mean, model.encoder(x)[0].numpy(), atol=ATOL)
        with SSVAEClient(running.target, max_batch_size=32) as client, pytest.raises(ServingError) as caught:
            client.encode(images(17))  # the batching max_batch_size caps a request too, as in TF Serving
        assert "Task size 17 is larger than maximum input batch size 16" in str(caught.value)
