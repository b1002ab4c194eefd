"""The production files (no Docker engine here): what can be checked without one.

``models.config`` and ``batching.config`` parse into TF Serving's own protos,
and the Dockerfile and compose file wire them as TF Serving expects.
"""

import json
import re
import subprocess
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format
from tensorflow_serving.config import model_server_config_pb2

from serving.contract import BATCHING_CONFIG, DEFAULT_MAX_BATCH_SIZE, PROMETHEUS_PATH
from serving.dev_server.batching import BatchingParameters, batching_parameters_class, read_batching_parameters
from ssvae_tf.export import models_config_text
from ssvae_tf.export_contract import DOCKER_MODEL_ROOT, MODELS_CONFIG

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = (REPO / "Dockerfile").read_text()


def monitoring_config_class():
    """``tensorflow.serving.MonitoringConfig`` (monitoring_config.proto), declared here with TF Serving's field
    names, numbers and types: tensorflow-serving-api does not ship it either."""
    pool = descriptor_pool.DescriptorPool()
    proto = descriptor_pb2.FileDescriptorProto(name="tensorflow_serving/monitoring_config.proto",
                                               package="tensorflow.serving", syntax="proto3")
    field = descriptor_pb2.FieldDescriptorProto
    prometheus = proto.message_type.add(name="PrometheusConfig")
    prometheus.field.add(name="enable", number=1, type=field.TYPE_BOOL, label=field.LABEL_OPTIONAL)
    prometheus.field.add(name="path", number=2, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL)
    monitoring = proto.message_type.add(name="MonitoringConfig")
    monitoring.field.add(name="prometheus_config", number=1, type=field.TYPE_MESSAGE, label=field.LABEL_OPTIONAL,
                         type_name=".tensorflow.serving.PrometheusConfig")
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.serving.MonitoringConfig"))


def test_monitoring_config_enables_prometheus_where_ssvae_serve_answers():
    config = text_format.Parse((REPO / "serving" / "monitoring.config").read_text(), monitoring_config_class()())
    assert config.prometheus_config.enable and config.prometheus_config.path == PROMETHEUS_PATH


def test_dockerfile_has_a_health_check_that_needs_no_curl():
    (check,) = instruction("HEALTHCHECK")
    options, command = check.split(" CMD ", 1)
    script = next(dest for dest, src in copies().items() if src == "serving/healthcheck.sh")
    assert json.loads(command) == ["/bin/bash", script]
    assert set(re.findall(r"--([a-z-]+)=", options)) == {"interval", "timeout", "start-period", "retries"}
    commands = [line for line in (REPO / "serving" / "healthcheck.sh").read_text().splitlines()
                if not line.lstrip().startswith("#")]
    assert not any("curl" in line or "wget" in line for line in commands)  # neither is in the image


def test_batching_config_parses_and_admits_the_clients_batches():
    parameters_class = batching_parameters_class()
    parameters = text_format.Parse(BATCHING_CONFIG.read_text(), parameters_class())
    assert parameters.max_batch_size.value == DEFAULT_MAX_BATCH_SIZE
    assert parameters.HasField("batch_timeout_micros") and parameters.batch_timeout_micros.value == 0
    assert parameters.num_batch_threads.value >= 1
    assert parameters.max_enqueued_batches.value >= 1
    with pytest.raises(text_format.ParseError):  # the declared schema is strict
        text_format.Parse("max_batch_sise { value: 8 }", parameters_class())
    assert read_batching_parameters(BATCHING_CONFIG) == BatchingParameters(  # what ssvae serve --enable-batching reads
        max_batch_size=parameters.max_batch_size.value, batch_timeout_micros=parameters.batch_timeout_micros.value,
        num_batch_threads=parameters.num_batch_threads.value,
        max_enqueued_batches=parameters.max_enqueued_batches.value)


def test_batching_parameters_left_out_take_tensorflow_servings_defaults(tmp_path):
    partial = tmp_path / "batching.config"
    partial.write_text("batch_timeout_micros { value: 2000 }\n")
    assert read_batching_parameters(partial) == BatchingParameters(batch_timeout_micros=2000)
    assert BatchingParameters().max_batch_size == 1000 and BatchingParameters().max_enqueued_batches == 10
    for text, message in [("max_batch_sise { value: 8 }", "not a TF Serving batching parameters file"),
                          ("num_batch_threads { value: 0 }", "num_batch_threads must be >= 1, got 0")]:
        partial.write_text(text)
        with pytest.raises(ValueError, match=message):
            read_batching_parameters(partial)


def test_models_config_parses_with_docker_paths():
    config = text_format.Parse(models_config_text(["ssvae_decoder", "ssvae_encoder"]),
                               model_server_config_pb2.ModelServerConfig())
    assert [(c.name, c.base_path) for c in config.model_config_list.config] == [
        ("ssvae_decoder", "/models/ssvae_decoder"), ("ssvae_encoder", "/models/ssvae_encoder")]


def instruction(name: str) -> list[str]:
    """Arguments of every Dockerfile instruction ``name`` (continuation lines joined)."""
    text = re.sub(r"\\\n", " ", DOCKERFILE)
    return [line.split(None, 1)[1] for line in text.splitlines() if line.split(None, 1)[:1] == [name]]


#: tensorflow/serving tags known to exist (Docker Hub cannot be reached from here to check others).
KNOWN_SERVING_TAGS = {"2.20.0"}
#: The one name of the export root in the instructions, the Dockerfile and the compose file.
EXPORT_FOLDER = "exports"
ENTRYPOINT_SCRIPT = REPO / "serving" / "tf_serving_entrypoint.sh"


def copies() -> dict[str, str]:
    """Destination -> source of the Dockerfile's COPY instructions."""
    return dict(reversed(arg.split()) for arg in instruction("COPY"))


def test_dockerfile_builds_on_a_tensorflow_serving_image_that_exists():
    (image,) = instruction("FROM")
    match = re.fullmatch(r"tensorflow/serving:(\d+\.\d+\.\d+)", image.strip())
    assert match and match.group(1) in KNOWN_SERVING_TAGS, image


def test_dockerfile_serves_the_export_root_through_the_entrypoint_script():
    assert copies()[f"{DOCKER_MODEL_ROOT}/"] == "${EXPORT_ROOT}/"
    assert instruction("ARG") == [f"EXPORT_ROOT={EXPORT_FOLDER}"]
    (entrypoint,) = instruction("ENTRYPOINT")
    script = next(dest for dest, src in copies().items() if src == "serving/tf_serving_entrypoint.sh")
    assert json.loads(entrypoint) == ["/bin/sh", script]
    assert instruction("EXPOSE") == ["8500 8501"]
    assert instruction("ENV") == ["GRPC_PORT=8500 PORT=8501"]  # the official image's port variables


def run_entrypoint(tmp_path: Path, *args: str, **env: str) -> list[str]:
    """The tensorflow_model_server command line the entrypoint script runs (a stand-in prints it)."""
    fake = tmp_path / "bin" / "tensorflow_model_server"
    fake.parent.mkdir(exist_ok=True)
    fake.write_text('#!/bin/sh\nfor arg in "$@"; do echo "$arg"; done\n')
    fake.chmod(0o755)
    result = subprocess.run(["/bin/sh", str(ENTRYPOINT_SCRIPT), *args], capture_output=True, text=True, check=True,
                            env={"PATH": f"{fake.parent}:/usr/bin:/bin", **env})
    return result.stdout.splitlines()


@pytest.mark.skipif(not Path("/bin/sh").exists(), reason="needs a POSIX shell")
def test_entrypoint_runs_tf_serving_with_the_models_config_batching_and_the_official_ports(tmp_path):
    batching = next(dest for dest, src in copies().items() if src == "serving/batching.config")
    monitoring = next(dest for dest, src in copies().items() if src == "serving/monitoring.config")
    assert run_entrypoint(tmp_path) == [
        "--port=8500",
        "--rest_api_port=8501",
        f"--model_config_file={DOCKER_MODEL_ROOT}/{MODELS_CONFIG}",
        "--enable_batching=true",
        f"--batching_parameters_file={batching}",
        f"--monitoring_config_file={monitoring}",
    ]
    moved = run_entrypoint(tmp_path, "--file_system_poll_wait_seconds=5", GRPC_PORT="9000", PORT="8080")
    assert moved[:2] == ["--port=9000", "--rest_api_port=8080"]
    assert moved[-1] == "--file_system_poll_wait_seconds=5"  # `docker run IMAGE ARGS` appends flags


def test_compose_builds_the_dockerfile_and_publishes_both_ports():
    compose = (REPO / "serving" / "docker-compose.yml").read_text()
    assert "dockerfile: Dockerfile" in compose and "context: .." in compose
    assert '"8500:8500"' in compose and '"8501:8501"' in compose
    assert f"../${{EXPORT_ROOT:-{EXPORT_FOLDER}}}:{DOCKER_MODEL_ROOT}:ro" in compose
    assert f"EXPORT_ROOT: ${{EXPORT_ROOT:-{EXPORT_FOLDER}}}" in compose


def test_one_export_folder_name_everywhere():
    """`ssvae export --out NAME` in every instruction names the folder the Dockerfile and compose take."""
    texts = {path: (REPO / path).read_text() for path in
             ("README.md", "serving/README.md", "tuning/README.md", "Dockerfile", "serving/docker-compose.yml")}
    for path, text in texts.items():
        for folder in re.findall(r"ssvae export [^\n`]*?--out ([^\s`]+)", text):
            assert folder.rstrip("/") == EXPORT_FOLDER, f"{path}: ssvae export --out {folder}"
    assert "--out exports" in texts["serving/README.md"]


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Whether Docker leaves ``path`` (relative to the context) out: the patterns' rules, simplified."""
    ignored = False
    for pattern in patterns:
        negated, pattern = pattern.startswith("!"), pattern.lstrip("!").rstrip("/")
        regex = re.escape(pattern).replace(r"\*\*/", "(.*/)?").replace(r"\*", "[^/]*")
        if re.fullmatch(f"{regex}(/.*)?", path):
            ignored = not negated
    return ignored


def test_dockerignore_leaves_out_runs_and_environments_but_not_what_the_image_needs():
    patterns = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    for path in (".venv/bin/python", "runs/ss-vae/model.keras", "demo_out/report.md", "experiments/runs/a/b.json",
                 "experiments/cache/x.npy", ".git/HEAD", "ssvae_tf/__pycache__/x.pyc"):
        assert dockerignored(path, patterns), path
    for path in (f"{EXPORT_FOLDER}/ssvae_encoder/1/saved_model.pb", f"{EXPORT_FOLDER}/{MODELS_CONFIG}",
                 "serving/batching.config", "serving/tf_serving_entrypoint.sh"):
        assert not dockerignored(path, patterns), path


def test_the_tf_release_check_script_is_documented_and_parses():
    script = REPO / "serving" / "check_tf_release.py"
    compile(script.read_text(), str(script), "exec")
    readme = (REPO / "serving" / "README.md").read_text()
    assert "serving/check_tf_release.py" in readme and "tensorflow==2.20" in readme
