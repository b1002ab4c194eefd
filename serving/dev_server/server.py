"""A local server speaking TF Serving's gRPC and REST APIs: the stand-in for ``tensorflow_model_server``.

``start_server`` serves an export root (or a ``models.config``) on
``host:port`` with a thread pool, implementing ``PredictionService.Predict``
and ``GetModelMetadata`` and ``ModelService.GetModelStatus``; the other RPCs
answer ``UNIMPLEMENTED``.  Requests and responses larger than
``max_message_bytes`` are refused with ``RESOURCE_EXHAUSTED``, and so are
requests whose tensors *declare* more than that (a TensorProto of one value can
stand for a tensor of any shape) or whose answer would be larger, before any
tensor is made or the model runs (:class:`serving.dev_server.handlers.RequestLimits`);
``max_batch_size`` caps the items per request as TF Serving's batching does.
A refused request is logged as one line (INFO; a request that cannot be parsed:
WARNING); tracebacks are logged only for failures of the server itself.  With
``rest_port``, TF Serving's REST API (:mod:`serving.dev_server.rest`) answers on
``host:rest_port`` too, over the same loaded models, and with ``monitoring`` TF
Serving's Prometheus metrics page there (:mod:`serving.dev_server.monitoring`);
``batching`` joins concurrent Predict requests into batches
(:mod:`serving.dev_server.batching`).  It is a development and test tool:
production uses TF Serving (see ``serving/README.md``).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass

import grpc
from google.protobuf.message import DecodeError
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2, predict_pb2

from serving.dev_server import handlers
from serving.dev_server.repository import ModelRepository, shown
from serving.contract import (
    DEFAULT_HOST,
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_POLL_SECONDS,
    DEFAULT_PORT,
    DEFAULT_REST_IDLE_SECONDS,
    DEFAULT_REST_MAX_CONNECTIONS,
    DEFAULT_WORKERS,
    PORT_RANGE,
    PROMETHEUS_PATH,
)
from serving.dev_server.batching import Batcher, BatchingParameters
from serving.dev_server.monitoring import Metrics
from serving.dev_server.rest import RestApi, RestServer

log = logging.getLogger(__name__)

#: Longest error message sent back: gRPC carries it in a header, and headers are limited (16 KiB by default).
MAX_ERROR_CHARACTERS = 1000
PREDICTION_SERVICE, MODEL_SERVICE = "tensorflow.serving.PredictionService", "tensorflow.serving.ModelService"


def error_text(message: str, limit: int = MAX_ERROR_CHARACTERS) -> str:
    """An error message cut to ``limit`` characters (with its names already shortened, see ``shown``)."""
    return shown(message, limit)


def _answer(metrics: Metrics, method: str, handler: Callable, request_type, raw: bytes,
            context: grpc.ServicerContext):
    """Parse ``raw`` as ``request_type`` and answer it with ``handler``; a refusal aborts the RPC with its code.

    The request is parsed here, not by gRPC, so that one that cannot be parsed is one warning line in the
    log (gRPC logs a traceback), answered ``INTERNAL`` as TF Serving's C++ gRPC does.
    """
    try:
        request = request_type.FromString(raw)
    except (DecodeError, RuntimeError, ValueError) as error:
        text = error_text(f"the request is not a valid {request_type.DESCRIPTOR.full_name}: {error}")
        log.warning("%s refused: %s", method, text)
        context.abort(grpc.StatusCode.INTERNAL, text)
    try:  # counted and timed for the metrics; a failure of the server is logged with its traceback
        with metrics.request(request.model_spec.name, method, "GRPC"), handlers.failures_as_internal():
            return handler(request)
    except handlers.RequestError as error:
        text = error_text(error.message)
        if error.code != grpc.StatusCode.INTERNAL:
            log.info("%s refused (%s): %s", method, error.code.name, shown(text, 300))
        context.abort(error.code, text)


def _unary(metrics: Metrics, method: str, handler: Callable, request_type) -> grpc.RpcMethodHandler:
    return grpc.unary_unary_rpc_method_handler(functools.partial(_answer, metrics, method, handler, request_type),
                                               request_deserializer=None,  # bytes: parsed by _answer
                                               response_serializer=lambda response: response.SerializeToString())


def services(repository: ModelRepository, limits: handlers.RequestLimits, metrics: Metrics,
             batcher: Batcher | None = None) -> list[grpc.GenericRpcHandler]:
    """TF Serving's ``PredictionService`` (``Predict``, ``GetModelMetadata``) and ``ModelService``
    (``GetModelStatus``) over ``repository``, counted in ``metrics``, Predict batched by ``batcher`` if any;
    their other methods answer ``UNIMPLEMENTED``."""
    prediction = {
        "Predict": _unary(metrics, "Predict",
                          functools.partial(handlers.predict, repository, limits=limits, batcher=batcher),
                          predict_pb2.PredictRequest),
        "GetModelMetadata": _unary(metrics, "GetModelMetadata",
                                   functools.partial(handlers.model_metadata, repository),
                                   get_model_metadata_pb2.GetModelMetadataRequest),
    }
    model = {"GetModelStatus": _unary(metrics, "GetModelStatus",
                                      functools.partial(handlers.model_status, repository),
                                      get_model_status_pb2.GetModelStatusRequest)}
    return [grpc.method_handlers_generic_handler(PREDICTION_SERVICE, prediction),
            grpc.method_handlers_generic_handler(MODEL_SERVICE, model)]


@dataclass
class LocalServer:
    """A running server: ``port`` is the bound gRPC port (useful with ``port=0``), ``rest`` the REST server if any,
    ``metrics`` the requests counted and timed (:mod:`serving.dev_server.monitoring`)."""

    server: grpc.Server
    repository: ModelRepository
    host: str
    port: int
    metrics: Metrics
    rest: RestServer | None = None
    batcher: Batcher | None = None

    @property
    def target(self) -> str:
        """``host:port`` of the gRPC API, for a client."""
        return f"{_bracketed(self.host)}:{self.port}"

    @property
    def rest_port(self) -> int | None:
        """The bound REST port (``None`` without REST)."""
        return None if self.rest is None else self.rest.port

    @property
    def rest_target(self) -> str | None:
        """``http://host:port`` of the REST API, for a client (``None`` without REST)."""
        return None if self.rest is None else f"http://{_bracketed(self.host)}:{self.rest.port}"

    def stop(self, grace: float | None = 1.0) -> None:
        """Stop accepting requests, let running gRPC ones finish for ``grace`` seconds, stop polling."""
        stopped = self.server.stop(grace)
        if self.rest is not None:
            self.rest.stop()
        stopped.wait()
        if self.batcher is not None:
            self.batcher.stop()
        self.repository.stop_polling()

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def start_server(
    models: str | os.PathLike,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    workers: int = DEFAULT_WORKERS,
    poll_seconds: float = DEFAULT_POLL_SECONDS,
    rest_port: int | None = None,
    max_batch_size: int | None = None,
    rest_max_connections: int = DEFAULT_REST_MAX_CONNECTIONS,
    rest_idle_seconds: int = DEFAULT_REST_IDLE_SECONDS,
    monitoring: bool = False,
    batching: BatchingParameters | None = None,
) -> LocalServer:
    """Load the models and start serving them; returns once the server accepts requests.

    Args:
        models: an export root (``ssvae export --out``) or a TF Serving ``models.config``.
        host: interface to bind (default loopback only), for gRPC and REST.
        port: gRPC TCP port; 0 picks a free one (see ``LocalServer.port``).
        max_message_bytes: largest request and response accepted, in bytes (REST: largest request body, and
            largest answer counting the JSON text of its numbers); also the most a request's tensors may declare.
        workers: threads answering gRPC requests, and as many answering REST requests.
        poll_seconds: how often the export root is checked for new versions.
        rest_port: also serve TF Serving's REST API on this TCP port (0 picks a free one, see
            ``LocalServer.rest_port``); ``None``: gRPC only.
        max_batch_size: most items per Predict request (more: ``INVALID_ARGUMENT``, as TF Serving's batching
            answers a task over its ``max_batch_size``); ``None``: no limit but the message size.
        rest_max_connections: most REST connections open at once (fewer if the process may not open the files
            they need); at the limit the longest idle one is closed for each new one.
        rest_idle_seconds: a REST connection silent for this many seconds (between requests or inside one) is
            closed.
        monitoring: answer TF Serving's ``GET /monitoring/prometheus/metrics`` on the REST port (needs
            ``rest_port``): request counts and latencies (:mod:`serving.dev_server.monitoring`).
        batching: join concurrent Predict requests into batches with these parameters
            (:mod:`serving.dev_server.batching`; its ``max_batch_size`` also caps the items per request);
            ``None``: each request runs alone.
    """
    for name, value in (("port", port), ("rest_port", rest_port)):
        if value is not None and not PORT_RANGE[0] <= value <= PORT_RANGE[1]:
            raise ValueError(f"{name} must be between {PORT_RANGE[0]} and {PORT_RANGE[1]}, got {value}")
    if max_message_bytes < 1 or workers < 1:
        raise ValueError(f"max_message_bytes and workers must be >= 1, got {max_message_bytes} and {workers}")
    if max_batch_size is not None and max_batch_size < 1:
        raise ValueError(f"max_batch_size must be >= 1 (or None: no limit), got {max_batch_size}")
    if monitoring and rest_port is None:
        raise ValueError(f"monitoring serves {PROMETHEUS_PATH} on the REST port: give a REST port too "
                         "(ssvae serve --rest-port)")
    if batching is not None:
        max_batch_size = min(max_batch_size or batching.max_batch_size, batching.max_batch_size)
    limits = handlers.RequestLimits.for_messages(max_message_bytes, max_batch_size)
    repository = ModelRepository(models, poll_seconds)
    metrics = Metrics(repository.knows)
    with contextlib.ExitStack() as on_failure:  # ports bound before loading: a taken port fails fast
        batcher = None if batching is None else Batcher(batching)
        if batcher is not None:
            on_failure.callback(batcher.stop)
        rest = None
        if rest_port is not None:  # bound first: a gRPC server that never started keeps its port
            rest = RestServer(RestApi(repository, max_message_bytes, max_batch_size, metrics, monitoring,
                                      batcher), host, rest_port, workers=workers,
                              max_connections=rest_max_connections, idle_seconds=rest_idle_seconds)
            on_failure.callback(rest.stop)
        server, bound = _grpc_server(services(repository, limits, metrics, batcher), host, port, max_message_bytes,
                                     workers)
        on_failure.callback(server.stop, None)
        repository.refresh()
        on_failure.pop_all()
    server.start()
    if rest is not None:
        rest.start()
    repository.start_polling()
    return LocalServer(server, repository, host, bound, metrics, rest, batcher)


def _grpc_server(rpc_handlers: list[grpc.GenericRpcHandler], host: str, port: int, max_message_bytes: int,
                 workers: int) -> tuple[grpc.Server, int]:
    """A gRPC server of ``rpc_handlers``, bound to ``host:port`` but not started, and the bound port."""
    options = [("grpc.max_receive_message_length", max_message_bytes),
               ("grpc.max_send_message_length", max_message_bytes),
               ("grpc.so_reuseport", 0)]  # a port in use is an error, not shared
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="serving"),
                         handlers=rpc_handlers, options=options)
    address = f"{_bracketed(host)}:{port}"
    try:
        return server, server.add_insecure_port(address)
    except RuntimeError as error:
        raise OSError(f"cannot listen on {address}: the address is in use or not available") from error
