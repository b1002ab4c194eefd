"""The production files (no Docker engine here): what can be checked without one.

``models.config`` and ``batching.config`` parse into TF Serving's own protos,
and the Dockerfile and compose file wire them as TF Serving expects.
"""

import json
import re
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format, wrappers_pb2
from tensorflow_serving.config import model_server_config_pb2

from serving.client import DEFAULT_MAX_BATCH_SIZE
from ssvae_tf.export import DOCKER_MODEL_ROOT, MODELS_CONFIG, models_config_text

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = (REPO / "Dockerfile").read_text()
BATCHING = REPO / "serving" / "batching.config"


def batching_parameters_class():
    """``tensorflow.serving.BatchingParameters`` (session_bundle_config.proto).

    tensorflow-serving-api does not ship this message, so it is declared here
    with TF Serving's field names, numbers and types.
    """
    pool = descriptor_pool.DescriptorPool()
    wrappers = descriptor_pb2.FileDescriptorProto()
    wrappers_pb2.DESCRIPTOR.CopyToProto(wrappers)
    pool.Add(wrappers)
    proto = descriptor_pb2.FileDescriptorProto(name="tensorflow_serving/batching_parameters.proto",
                                               package="tensorflow.serving", syntax="proto3",
                                               dependency=["google/protobuf/wrappers.proto"])
    message = proto.message_type.add(name="BatchingParameters")
    field = descriptor_pb2.FieldDescriptorProto
    for number, (name, wrapper) in enumerate([("max_batch_size", "Int64Value"), ("batch_timeout_micros", "Int64Value"),
                                              ("max_enqueued_batches", "Int64Value"),
                                              ("num_batch_threads", "Int64Value"),
                                              ("thread_pool_name", "StringValue")], start=1):
        message.field.add(name=name, number=number, type=field.TYPE_MESSAGE, label=field.LABEL_OPTIONAL,
                          type_name=f".google.protobuf.{wrapper}")
    message.field.add(name="allowed_batch_sizes", number=6, type=field.TYPE_INT64, label=field.LABEL_REPEATED)
    message.field.add(name="pad_variable_length_inputs", number=7, type=field.TYPE_BOOL, label=field.LABEL_OPTIONAL)
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters"))


def test_batching_config_parses_and_admits_the_clients_batches():
    parameters_class = batching_parameters_class()
    parameters = text_format.Parse(BATCHING.read_text(), parameters_class())
    assert parameters.max_batch_size.value == DEFAULT_MAX_BATCH_SIZE
    assert parameters.HasField("batch_timeout_micros") and parameters.batch_timeout_micros.value == 0
    assert parameters.num_batch_threads.value >= 1
    assert parameters.max_enqueued_batches.value >= 1
    with pytest.raises(text_format.ParseError):  # the declared schema is strict
        text_format.Parse("max_batch_sise { value: 8 }", parameters_class())


def test_models_config_parses_with_docker_paths():
    config = text_format.Parse(models_config_text(["ssvae_decoder", "ssvae_encoder"]),
                               model_server_config_pb2.ModelServerConfig())
    assert [(c.name, c.base_path) for c in config.model_config_list.config] == [
        ("ssvae_decoder", "/models/ssvae_decoder"), ("ssvae_encoder", "/models/ssvae_encoder")]


def instruction(name: str) -> list[str]:
    """Arguments of every Dockerfile instruction ``name`` (continuation lines joined)."""
    text = re.sub(r"\\\n", " ", DOCKERFILE)
    return [line.split(None, 1)[1] for line in text.splitlines() if line.split(None, 1)[:1] == [name]]


def test_dockerfile_builds_on_a_recent_tensorflow_serving_image():
    (image,) = instruction("FROM")
    match = re.fullmatch(r"tensorflow/serving:(\d+)\.(\d+)\.(\d+)", image.strip())
    assert match, image
    assert tuple(int(v) for v in match.groups()[:2]) >= (2, 21)


def test_dockerfile_serves_the_export_root_with_batching():
    copies = dict(reversed(arg.split()) for arg in instruction("COPY"))
    assert copies[f"{DOCKER_MODEL_ROOT}/"] == "${EXPORT_ROOT}/"
    (entrypoint,) = instruction("ENTRYPOINT")
    argv = json.loads(entrypoint)
    flags = dict(arg.split("=", 1) for arg in argv[1:])
    assert argv[0].endswith("tensorflow_model_server")
    assert flags == {
        "--port": "8500",
        "--rest_api_port": "8501",
        "--model_config_file": f"{DOCKER_MODEL_ROOT}/{MODELS_CONFIG}",
        "--enable_batching": "true",
        "--batching_parameters_file": next(dest for dest, src in copies.items() if src == "serving/batching.config"),
    }
    assert instruction("EXPOSE") == ["8500 8501"]


def test_compose_builds_the_dockerfile_and_publishes_both_ports():
    compose = (REPO / "serving" / "docker-compose.yml").read_text()
    assert "dockerfile: Dockerfile" in compose and "context: .." in compose
    assert '"8500:8500"' in compose and '"8501:8501"' in compose
    assert f":{DOCKER_MODEL_ROOT}:ro" in compose
