"""A local server speaking TF Serving's gRPC and REST APIs: the stand-in for ``tensorflow_model_server``.

``start_server`` serves an export root (or a ``models.config``) on
``host:port`` with a thread pool, implementing ``PredictionService.Predict``
and ``GetModelMetadata`` and ``ModelService.GetModelStatus``; the other RPCs
answer ``UNIMPLEMENTED``.  Requests and responses larger than
``max_message_bytes`` are refused with ``RESOURCE_EXHAUSTED``.  With
``rest_port``, TF Serving's REST API (:mod:`serving.rest`) answers on
``host:rest_port`` too, over the same loaded models.  It is a development and
test tool: production uses TF Serving (see ``serving/README.md``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass

import grpc
from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

from serving import handlers
from serving.repository import ModelRepository
from serving.rest import RestServer

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8500
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
DEFAULT_WORKERS = 8


def _answer(handler: Callable, repository: ModelRepository, request, context: grpc.ServicerContext):
    try:
        with handlers.failures_as_internal():
            return handler(repository, request)
    except handlers.RequestError as error:
        context.abort(error.code, error.message)


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """``Predict`` and ``GetModelMetadata``; Classify, Regress and MultiInference are not implemented."""

    def __init__(self, repository: ModelRepository):
        self.repository = repository

    def Predict(self, request, context):  # noqa: N802 - gRPC method name
        return _answer(handlers.predict, self.repository, request, context)

    def GetModelMetadata(self, request, context):  # noqa: N802
        return _answer(handlers.model_metadata, self.repository, request, context)


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """``GetModelStatus``; HandleReloadConfigRequest is not implemented (the root is polled instead)."""

    def __init__(self, repository: ModelRepository):
        self.repository = repository

    def GetModelStatus(self, request, context):  # noqa: N802
        return _answer(handlers.model_status, self.repository, request, context)


@dataclass
class LocalServer:
    """A running server: ``port`` is the bound gRPC port (useful with ``port=0``), ``rest`` the REST server if any."""

    server: grpc.Server
    repository: ModelRepository
    host: str
    port: int
    rest: RestServer | None = None

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
    poll_seconds: float = 1.0,
    rest_port: int | None = None,
) -> LocalServer:
    """Load the models and start serving them; returns once the server accepts requests.

    Args:
        models: an export root (``ssvae export --out``) or a TF Serving ``models.config``.
        host: interface to bind (default loopback only), for gRPC and REST.
        port: gRPC TCP port; 0 picks a free one (see ``LocalServer.port``).
        max_message_bytes: largest request and response accepted, in bytes (REST: largest request body).
        workers: threads answering gRPC requests (REST answers each connection in a thread of its own).
        poll_seconds: how often the export root is checked for new versions.
        rest_port: also serve TF Serving's REST API on this TCP port (0 picks a free one, see
            ``LocalServer.rest_port``); ``None``: gRPC only.
    """
    for name, value in (("port", port), ("rest_port", rest_port)):
        if value is not None and not 0 <= value <= 65535:
            raise ValueError(f"{name} must be between 0 and 65535, got {value}")
    if max_message_bytes < 1 or workers < 1:
        raise ValueError(f"max_message_bytes and workers must be >= 1, got {max_message_bytes} and {workers}")
    repository = ModelRepository(models, poll_seconds)
    with contextlib.ExitStack() as on_failure:  # ports bound before loading: a taken port fails fast
        rest = None
        if rest_port is not None:  # bound first: a gRPC server that never started keeps its port
            rest = RestServer(repository, host, rest_port, max_message_bytes)
            on_failure.callback(rest.stop)
        server, bound = _grpc_server(repository, host, port, max_message_bytes, workers)
        on_failure.callback(server.stop, None)
        repository.refresh()
        on_failure.pop_all()
    server.start()
    if rest is not None:
        rest.start()
    repository.start_polling()
    return LocalServer(server, repository, host, bound, rest)


def _grpc_server(repository: ModelRepository, host: str, port: int, max_message_bytes: int,
                 workers: int) -> tuple[grpc.Server, int]:
    """The gRPC services over ``repository``, bound to ``host:port`` but not started, and the bound port."""
    options = [("grpc.max_receive_message_length", max_message_bytes),
               ("grpc.max_send_message_length", max_message_bytes),
               ("grpc.so_reuseport", 0)]  # a port in use is an error, not shared
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="serving"),
                         options=options)
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionService(repository), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(repository), server)
    address = f"{_bracketed(host)}:{port}"
    try:
        return server, server.add_insecure_port(address)
    except RuntimeError as error:
        raise OSError(f"cannot listen on {address}: the address is in use or not available") from error
