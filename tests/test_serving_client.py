"""SSVAEClient against fake, flaky servers: retries of what the server could not take, and kept-alive REST connections.

The fakes answer ``GetModelStatus`` only (gRPC's ``ModelService`` and REST's ``GET /v1/models/NAME``), failing
the first requests as told, and count the requests and connections they see; no model is involved.
"""

import http.server
import json
import random
import socket
import threading
import time
from concurrent import futures

import grpc
import pytest
from tensorflow_serving.apis import get_model_status_pb2

from serving.client import MAX_ATTEMPTS, RetryPolicy, ServerUnavailableError, ServingError, SSVAEClient

AVAILABLE = {"ssvae_encoder": {1: "AVAILABLE"}, "ssvae_decoder": {1: "AVAILABLE"}}
FAST = RetryPolicy(initial_backoff=0.01, max_backoff=0.05)


def status_response() -> get_model_status_pb2.GetModelStatusResponse:
    response = get_model_status_pb2.GetModelStatusResponse()
    response.model_version_status.add(version=1, state=get_model_status_pb2.ModelVersionStatus.AVAILABLE)
    return response


class FlakyGrpc:
    """A gRPC ModelService answering ``failures`` requests with ``code``, then the status of version 1."""

    def __init__(self, failures: int, code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE, port: int = 0):
        self.failures, self.code, self.calls = failures, code, 0
        self.lock = threading.Lock()
        handler = grpc.unary_unary_rpc_method_handler(
            self.status, request_deserializer=get_model_status_pb2.GetModelStatusRequest.FromString,
            response_serializer=get_model_status_pb2.GetModelStatusResponse.SerializeToString)
        self.server = grpc.server(futures.ThreadPoolExecutor(2), handlers=[grpc.method_handlers_generic_handler(
            "tensorflow.serving.ModelService", {"GetModelStatus": handler})])
        self.port = self.server.add_insecure_port(f"127.0.0.1:{port}")
        self.server.start()

    def status(self, request, context):
        with self.lock:
            self.calls += 1
            failing = self.calls <= self.failures
        if failing:
            context.abort(self.code, "not now")
        return status_response()

    def stop(self) -> None:
        self.server.stop(None).wait()


@pytest.fixture
def flaky_grpc():
    servers = []

    def start(*args, **kwargs) -> FlakyGrpc:
        servers.append(FlakyGrpc(*args, **kwargs))
        return servers[-1]
    yield start
    for server in servers:
        server.stop()


def test_grpc_retries_unavailable_until_an_answer(flaky_grpc):
    server = flaky_grpc(failures=3)
    with SSVAEClient(f"127.0.0.1:{server.port}", retry=FAST) as client:
        assert client.status() == AVAILABLE
    assert server.calls == 3 + len(AVAILABLE)  # three failed attempts, then one call per model


@pytest.mark.parametrize("attempts", [1, 2, MAX_ATTEMPTS])
def test_grpc_gives_up_after_max_attempts(flaky_grpc, attempts):
    server = flaky_grpc(failures=100)
    retry = RetryPolicy(max_attempts=attempts, initial_backoff=0.01, max_backoff=0.05)
    with SSVAEClient(f"127.0.0.1:{server.port}", retry=retry) as client, \
            pytest.raises(ServerUnavailableError, match="not now"):
        client.status()
    assert server.calls == attempts


def test_grpc_retries_nothing_but_unavailable(flaky_grpc):
    server = flaky_grpc(failures=1, code=grpc.StatusCode.INVALID_ARGUMENT)
    with SSVAEClient(f"127.0.0.1:{server.port}", retry=FAST) as client, pytest.raises(ServingError) as caught:
        client.status()
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT and server.calls == 1


def test_grpc_waits_for_a_server_that_starts_late(flaky_grpc):
    """The server (re)starting: no one listens for 0.3 s; the retries, reconnecting at their pace, reach it."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    starter = threading.Timer(0.3, lambda: flaky_grpc(failures=0, port=port))
    starter.start()
    retry = RetryPolicy(initial_backoff=0.2, max_backoff=1.0)
    start = time.monotonic()
    with SSVAEClient(f"127.0.0.1:{port}", retry=retry, timeout=10) as client:
        assert client.status() == AVAILABLE
    starter.join()
    assert 0.3 <= time.monotonic() - start < 5


def test_backoffs_grow_exponentially_up_to_the_bound():
    random.seed(0)
    policy = RetryPolicy(max_attempts=5, initial_backoff=0.1, max_backoff=0.3, backoff_multiplier=2.0)
    samples = [list(policy.backoffs()) for _ in range(2000)]
    assert {len(sample) for sample in samples} == {4}  # attempts after the first
    ceilings = [0.1, 0.2, 0.3, 0.3]  # min(0.1 * 2 ** (n - 1), 0.3)
    for attempt, ceiling in enumerate(ceilings):
        values = [sample[attempt] for sample in samples]
        assert 0 <= min(values) and max(values) <= ceiling and max(values) > 0.9 * ceiling  # uniform on [0, ceiling]
    assert list(RetryPolicy(max_attempts=1).backoffs()) == []


@pytest.mark.parametrize("options", [{"max_attempts": 0}, {"max_attempts": MAX_ATTEMPTS + 1}, {"max_attempts": 2.5},
                                     {"initial_backoff": 0}, {"initial_backoff": 3.0, "max_backoff": 2.0},
                                     {"backoff_multiplier": 0.5}])
def test_retry_policies_out_of_range_are_refused(options):
    with pytest.raises(ValueError, match="max_attempts|backoff"):
        RetryPolicy(**options)
    with pytest.raises(TypeError, match="retry must be a RetryPolicy"):
        SSVAEClient("localhost:1", retry=3)


# ------------------------------------------------------------------------ REST
class FlakyRest(http.server.ThreadingHTTPServer):
    """TF Serving's ``GET /v1/models/NAME`` over HTTP/1.1 keep-alive: ``failures`` answers of ``status`` first."""

    daemon_threads = True

    def __init__(self, failures: int, status: int = 503):
        self.failures, self.failure_status, self.requests, self.connections = failures, status, 0, 0
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), FlakyRestHandler)
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def target(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class FlakyRestHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        with self.server.lock:
            self.server.connections += 1

    def do_GET(self):  # noqa: N802 - http.server's name
        with self.server.lock:
            self.server.requests += 1
            failing = self.server.requests <= self.server.failures
        status = self.server.failure_status if failing else 200
        body = json.dumps({"error": "not now"} if failing else {"model_version_status": [
            {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def flaky_rest():
    servers = []

    def start(*args) -> FlakyRest:
        servers.append(FlakyRest(*args))
        return servers[-1]
    yield start
    for server in servers:
        server.stop()


def test_rest_keeps_its_connection_alive(flaky_rest):
    server = flaky_rest(0)
    with SSVAEClient(server.target) as client:
        for _ in range(5):
            assert client.status() == AVAILABLE
    assert server.requests == 5 * len(AVAILABLE) and server.connections == 1


def test_rest_retries_503_and_not_other_refusals(flaky_rest):
    server = flaky_rest(3)
    with SSVAEClient(server.target, retry=FAST) as client:
        assert client.status() == AVAILABLE
    assert server.requests == 3 + len(AVAILABLE) and server.connections == 1
    server = flaky_rest(100)
    with SSVAEClient(server.target, retry=RetryPolicy(max_attempts=2, initial_backoff=0.01)) as client, \
            pytest.raises(ServerUnavailableError) as caught:
        client.status()
    assert caught.value.http_status == 503 and "not now" in str(caught.value) and server.requests == 2
    server = flaky_rest(1, 400)
    with SSVAEClient(server.target, retry=FAST) as client, pytest.raises(ServingError) as caught:
        client.status()
    assert caught.value.http_status == 400 and server.requests == 1


def test_rest_retries_a_refused_connection_within_the_timeout():
    with SSVAEClient("http://127.0.0.1:1", retry=RetryPolicy(initial_backoff=0.05, max_backoff=0.05),
                     timeout=5) as nobody, pytest.raises(ServerUnavailableError, match="Connection refused"):
        start = time.monotonic()
        nobody.status()
    assert time.monotonic() - start < 1  # four backoffs of at most 0.05 s
