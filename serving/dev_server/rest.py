"""TF Serving's REST API over a :class:`~serving.dev_server.repository.ModelRepository`: ``ssvae serve --rest-port``.

The routes ``tensorflow_model_server --rest_api_port`` answers (its ``http_rest_api_handler.cc``):

* ``GET /v1/models/NAME[/versions/N|/labels/L]``: the model's status, a ``GetModelStatusResponse``
  as JSON (``{"model_version_status": [{"version": "1", "state": "AVAILABLE", ...}]}``);
* ``GET /v1/models/NAME[/versions/N|/labels/L]/metadata``:
  ``{"model_spec": {...}, "metadata": {"signature_def": <SignatureDefMap as JSON>}}``;
* ``POST /v1/models/NAME[/versions/N|/labels/L]:predict`` with ``{"signature_name": ...,
  "instances": [...]}`` (row format: one entry per batch item, answered ``{"predictions": [...]}``)
  or ``{"inputs": ...}`` (columnar: whole tensors, answered ``{"outputs": ...}``); with several
  inputs or outputs, entries are objects keyed by name.

Each request becomes the protocol buffer the gRPC API takes and is answered by
:mod:`serving.dev_server.handlers`, so both APIs validate alike.  A refusal is
``{"error": "<message>"}`` with the HTTP status TF Serving gives its gRPC code
(:data:`HTTP_STATUS`: ``INVALID_ARGUMENT`` and ``FAILED_PRECONDITION`` 400,
``NOT_FOUND`` 404, ``INTERNAL`` 500...).  As TF Serving, another method or an
unknown path under ``/v1/`` is a 400 "Malformed request", and ``:classify`` and
``:regress`` are answered 501 here.  A body over the size limit is refused (413)
by the HTTP server (:class:`RestServer`) before it is read, and one holding more
JSON values (arrays and numbers) than :data:`BODY_BYTES_PER_VALUE` allows, before
it is parsed: Python's JSON parser takes ~100 bytes of memory per array, so a body
of tiny arrays (``[0],`` repeated) would cost gigabytes.  A request target over
:data:`MAX_URL_BYTES` gets 414, lists nested deeper than :data:`MAX_JSON_RANK` 400.
Answers are bounded before the model runs as over gRPC, counting
:data:`ANSWER_BYTES_PER_NUMBER` bytes per number of JSON.  A refused request is
logged as one line (INFO), and so is one its client abandoned half-sent.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Mapping
from typing import Any

try:
    import resource
except ImportError:  # Windows: no per-process limit of open files to read or raise
    resource = None

import grpc
import numpy as np
import tensorflow as tf
from google.protobuf import json_format
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2, model_pb2, predict_pb2
from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask, ThreadedTaskDispatcher
from werkzeug.wrappers import Request, Response

from serving.contract import (
    DEFAULT_REST_IDLE_SECONDS,
    DEFAULT_REST_MAX_CONNECTIONS,
    DEFAULT_WORKERS,
    PROMETHEUS_PATH,
)
from serving.dev_server import handlers
from serving.dev_server.monitoring import PROMETHEUS_CONTENT_TYPE, Metrics
from serving.dev_server.repository import ModelRepository, shown
from ssvae_tf.export_contract import MAX_VERSION

log = logging.getLogger(__name__)

#: The HTTP status TF Serving's REST API answers for each gRPC status code (``ToHTTPStatusCode``
#: in TF Serving's ``http_server.cc``).
HTTP_STATUS = {
    grpc.StatusCode.OK: 200, grpc.StatusCode.CANCELLED: 499, grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400, grpc.StatusCode.DEADLINE_EXCEEDED: 504, grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409, grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429, grpc.StatusCode.FAILED_PRECONDITION: 400, grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400, grpc.StatusCode.UNIMPLEMENTED: 501, grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503, grpc.StatusCode.DATA_LOSS: 500, grpc.StatusCode.UNAUTHENTICATED: 401,
}
_INVALID = grpc.StatusCode.INVALID_ARGUMENT
_PREDICT_PATH = re.compile(r"/v1/models/([^/:]+)(?:/versions/(\d+)|/labels/([^/:]+))?:(classify|regress|predict)",
                           re.IGNORECASE)
_MODEL_PATH = re.compile(r"/v1/models(?:/([^/:]+))?(?:/versions/(\d+)|/labels/([^/:]+))?(/metadata)?",
                         re.IGNORECASE)
#: A body may hold one JSON value (array or number) per this many bytes of the body limit: 5.6 M values in
#: 64 MiB, at most ~0.4 GB of memory to parse (measured), and more than SSVAEClient ever sends (it plans 27
#: bytes a number, and sends at most two values, a number and the list around a pixel, per number).
BODY_BYTES_PER_VALUE = 12
#: Bytes a number of an answer is counted for (what Python writes for a float32: up to ~20 characters,
#: and a separator); SSVAEClient plans its requests with 27.
ANSWER_BYTES_PER_NUMBER = 24
#: Longest request target (path and query) answered, in bytes; a longer one gets 414 (Python's http.server's limit).
MAX_URL_BYTES = 64 * 1024
#: Longest request line and headers together; longer ones get 431 from the server before the application.
MAX_HEADER_BYTES = 4 * MAX_URL_BYTES
#: Most dimensions (depth of nested JSON lists) of a tensor sent as JSON: NumPy iterates arrays of at most 32
#: (TensorFlow would take 254).
MAX_JSON_RANK = 32
#: File descriptors a REST connection may hold: its socket, and a request and an answer spooled to temporary files.
FILES_PER_CONNECTION = 3
#: At the connection limit, the REST server closes this fraction of the limit, the longest idle connections, at once.
SHED_FRACTION = 32
#: File descriptors kept out of the REST server's reach: gRPC's connections, model files, logs.
RESERVED_FILES = 256
#: The float dtypes JSON numbers are converted to; other input dtypes are not implemented here.
_FLOAT_DTYPES = (types_pb2.DT_HALF, types_pb2.DT_FLOAT, types_pb2.DT_DOUBLE)


# ------------------------------------------------------------ JSON -> tensors
def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _number_leaves(key: str, value: Any, expected: str) -> tuple[np.ndarray, set[type]]:
    """``value`` as an object array of its leaves, checked to be numbers (JSON's, not booleans), and their types."""
    rank, first = 0, value
    while isinstance(first, list) and first:
        rank, first = rank + 1, first[0]
    if rank > MAX_JSON_RANK:
        raise handlers.RequestError(_INVALID, f"input '{key}' is nested {rank} lists deep; expected at most "
                                              f"{MAX_JSON_RANK} (the dimensions of a tensor)")
    try:
        leaves = np.array(value, dtype=object)
    except ValueError:  # lists of unequal lengths below a common prefix
        found = "lists of unequal lengths"
    else:
        types = set(map(type, leaves.flat))
        if types <= {int, float}:
            return leaves, types
        odd = next(leaf for leaf in leaves.flat if type(leaf) not in (int, float))
        found = f"lists of unequal lengths (one is {_short(odd)})" if isinstance(odd, list) else _short(odd)
    raise handlers.RequestError(_INVALID, f"input '{key}' holds {found}; expected {expected}")


def _inexact_number(leaves: np.ndarray, dtype: np.dtype, has_ints: bool = True) -> Any:
    """The first of the numbers ``leaves`` that ``dtype`` cannot hold without loss of precision, or ``None``.

    As TF Serving: integers beyond the float's exact range, finite numbers beyond its largest.
    """
    finfo = np.finfo(dtype)
    largest_exact_int = 2 ** (finfo.nmant + 1) - 1
    if has_ints:
        too_long = next((leaf for leaf in leaves.flat if type(leaf) is int and abs(leaf) > largest_exact_int), None)
        if too_long is not None:
            return too_long
    numbers = leaves.astype(np.float64)
    too_large = np.isfinite(numbers) & (np.abs(numbers) > finfo.max)
    return numbers[too_large][0] if too_large.any() else None


def _json_array(key: str, value: Any, info: meta_graph_pb2.TensorInfo) -> np.ndarray:
    """The JSON value of input ``key`` (a number, or nested lists of numbers) as an array of its signature dtype.

    Anything but numbers, lists of unequal lengths, and numbers the dtype cannot hold are
    ``INVALID_ARGUMENT``; inputs of other than float dtypes ``UNIMPLEMENTED``.
    """
    if info.dtype not in _FLOAT_DTYPES:
        raise handlers.RequestError(grpc.StatusCode.UNIMPLEMENTED,
                                    f"input '{key}' is {types_pb2.DataType.Name(info.dtype)}: this server converts "
                                    "JSON numbers to float tensors only")
    dtype = np.dtype(tf.dtypes.as_dtype(info.dtype).as_numpy_dtype)
    leaves, types = _number_leaves(key, value, f"nested lists of {dtype.name} numbers, the lists of each level of "
                                               "equal length")
    inexact = _inexact_number(leaves, dtype, int in types)
    if inexact is not None:
        raise handlers.RequestError(_INVALID, f"input '{key}' holds {inexact}, which {dtype.name} cannot hold "
                                              "without loss of precision")
    return leaves.astype(dtype)


def _row_inputs(instances: Any, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Row format: ``instances`` (one entry per batch item) as the JSON value of each input, batch first.

    With one input an entry is its value; with several, an object holding each input's value.
    """
    if not isinstance(instances, list) or not instances:
        raise handlers.RequestError(_INVALID, f"'instances' is {_short(instances)}; expected a non-empty list")
    named = isinstance(instances[0], dict)
    if not named and len(inputs) > 1:
        raise handlers.RequestError(_INVALID, f"'instances' is a plain list, but the signature has several inputs "
                                              f"({', '.join(sorted(inputs))}): expected a list of objects")
    for index, instance in enumerate(instances):
        if isinstance(instance, dict) != named:
            raise handlers.RequestError(_INVALID, f"item {index} of 'instances' is {_short(instance)}; expected "
                                                  f"{'an object' if named else 'a value or list'} as item 0")
        if named and set(instance) != set(inputs):
            raise handlers.RequestError(_INVALID, f"item {index} of 'instances' has keys {sorted(instance)}; "
                                                  f"expected the signature's inputs {sorted(inputs)}")
    if not named:
        return {next(iter(inputs)): instances}
    return {name: [instance[name] for instance in instances] for name in inputs}


def _columnar_inputs(values: Any, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Columnar format: ``values`` is the only input's value, or an object holding each input's value."""
    if not isinstance(values, dict):
        if len(inputs) > 1:
            raise handlers.RequestError(_INVALID, f"'inputs' is a plain value or list, but the signature has several "
                                                  f"inputs ({', '.join(sorted(inputs))}): expected an object")
        return {next(iter(inputs)): values}
    missing = sorted(set(inputs) - set(values))
    if missing:
        raise handlers.RequestError(_INVALID, f"Missing named input: {', '.join(missing)} in 'inputs' object.")
    return {name: values[name] for name in inputs}


class _Refused(Exception):
    """A request refused with an HTTP status of its own (no gRPC code stands for it): 413, 414."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _json_values(body: bytes) -> int:
    """An upper bound on the arrays and numbers of a JSON text, counted without parsing it."""
    return body.count(b"[") + body.count(b",") + 1


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body) if body else None
    except (ValueError, RecursionError) as error:
        raise handlers.RequestError(_INVALID, f"JSON Parse error: {error}") from error
    if not isinstance(document, dict):
        raise handlers.RequestError(_INVALID, f"the request body is {_short(document) if body else 'empty'}; "
                                              "expected a JSON object")
    return document


def _predict_request(spec: model_pb2.ModelSpec, document: dict[str, Any],
                     inputs: Mapping[str, meta_graph_pb2.TensorInfo]) -> tuple[predict_pb2.PredictRequest, bool]:
    """The PredictRequest a JSON predict request stands for, and whether it is in the row format."""
    if ("instances" in document) == ("inputs" in document):
        raise handlers.RequestError(_INVALID, "expected exactly one of the keys 'instances' (row format) and "
                                              f"'inputs' (columnar format), got keys {sorted(document)}")
    row = "instances" in document
    values = _row_inputs(document["instances"], inputs) if row else _columnar_inputs(document["inputs"], inputs)
    request = predict_pb2.PredictRequest(model_spec=spec)
    for key, value in values.items():
        request.inputs[key].CopyFrom(handlers.tensor_proto(_json_array(key, value, inputs[key])))
    return request, row


# ------------------------------------------------------------ tensors -> JSON
def _one_or_named(values: dict[str, Any]) -> Any:
    """The only value, or the object of them all: how TF Serving writes one or several tensors."""
    return next(iter(values.values())) if len(values) == 1 else values


def _predictions(outputs: dict[str, np.ndarray]) -> list[Any]:
    """Row format: one entry per batch item, an object of the outputs when there are several."""
    batch_sizes = {array.shape[0] if array.ndim else None for array in outputs.values()}
    if len(batch_sizes) != 1 or None in batch_sizes:
        raise handlers.RequestError(_INVALID, f"the outputs {sorted(outputs)} have no common batch size (shapes "
                                              f"{[a.shape for a in outputs.values()]}); ask with 'inputs' instead")
    lists = {name: array.tolist() for name, array in outputs.items()}
    return [_one_or_named({name: values[item] for name, values in lists.items()}) for item in range(batch_sizes.pop())]


def _columns(outputs: dict[str, np.ndarray]) -> Any:
    """Columnar format: the only output's value, or an object holding each output's value."""
    return _one_or_named({name: array.tolist() for name, array in outputs.items()})


def _message_json(message, **options: bool) -> dict[str, Any]:
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True, **options)


# ------------------------------------------------------------------- routes
def _model_spec(name: str, version: str | None, label: str | None) -> model_pb2.ModelSpec:
    spec = model_pb2.ModelSpec(name=name)
    if version is not None:
        if len(version) > len(str(MAX_VERSION)) or int(version) > MAX_VERSION:
            raise handlers.RequestError(_INVALID, f"Failed to convert version: {version} to numeric.")
        spec.version.value = int(version)
    if label is not None:
        spec.version_label = label
    return spec


class RestApi:
    """The WSGI application: TF Serving's REST routes over ``repository``.

    Args:
        repository: the models served (shared with the gRPC server).
        max_body_bytes: largest request body accepted, in bytes (the HTTP server refuses larger ones).
        max_batch_size: most items per request (``None``: no limit but the size).
        metrics: where requests naming a model are counted and timed.
        monitoring: answer ``GET`` :data:`~serving.contract.PROMETHEUS_PATH` with the metrics.
        batcher: joins predictions into batches (``None``: each runs alone).
    """

    def __init__(self, repository: ModelRepository, max_body_bytes: int, max_batch_size: int | None,
                 metrics: Metrics, monitoring: bool = False, batcher: handlers.BatchRunner | None = None):
        self.repository, self.metrics, self.monitoring, self.batcher = repository, metrics, monitoring, batcher
        self.max_body_bytes = max_body_bytes
        self.max_body_values = max(1, max_body_bytes // BODY_BYTES_PER_VALUE)
        self.limits = handlers.RequestLimits(max_request_bytes=max_body_bytes, max_response_bytes=max_body_bytes,
                                             response_bytes_per_value=ANSWER_BYTES_PER_NUMBER,
                                             max_batch_size=max_batch_size)

    def __call__(self, environ, start_response):
        request = Request(environ)
        if self.monitoring and request.method == "GET" and request.path == PROMETHEUS_PATH:
            return Response(self.metrics.prometheus_text(), 200,
                            content_type=PROMETHEUS_CONTENT_TYPE)(environ, start_response)
        try:
            body = self._body(request)
            with handlers.failures_as_internal():
                status, answer = 200, self.answer(request.method, request.path, body)
        except _Refused as error:
            status, answer = error.status, {"error": error.message}
        except handlers.RequestError as error:
            status, answer = HTTP_STATUS[error.code], {"error": shown(error.message, 1000)}
        if status != 200 and status != 500:  # failures of the server itself are logged with their traceback
            log.info("%s %s refused (%d): %s", request.method, shown(request.path, 200), status,
                     shown(answer["error"], 300))
        return Response(json.dumps(answer, separators=(",", ":")), status,
                        mimetype="application/json")(environ, start_response)

    def _body(self, request: Request) -> bytes:
        """The request body (the server refused it if over the size limit), or :class:`_Refused`: a target over
        :data:`MAX_URL_BYTES` (414, the body unread), a body holding more JSON values than
        :attr:`max_body_values` (413, before it is parsed)."""
        target = len(request.environ.get("PATH_INFO", "")) + len(request.environ.get("QUERY_STRING", ""))
        if target > MAX_URL_BYTES:
            raise _Refused(414, f"the request target is {target} bytes long, more than the limit of {MAX_URL_BYTES}")
        body = request.get_data()
        values = _json_values(body)
        if values > self.max_body_values:
            raise _Refused(413, f"the request body holds up to {values} JSON values (arrays and numbers), more than "
                                f"the {self.max_body_values} this server parses in one request (one per "
                                f"{BODY_BYTES_PER_VALUE} bytes of the {self.max_body_bytes}-byte limit, ssvae serve "
                                "--max-message-mb): send fewer items per request")
        return body

    def answer(self, method: str, path: str, body: bytes) -> dict[str, Any]:
        """The JSON answer to ``method path`` with ``body``; refusals raise
        :class:`~serving.dev_server.handlers.RequestError`."""
        if not path.lower().startswith("/v1/"):
            raise handlers.RequestError(grpc.StatusCode.NOT_FOUND, f"{path} is not a TF Serving REST path "
                                                                   "(they start with /v1/models/)")
        predict = _PREDICT_PATH.fullmatch(path) if method == "POST" else None
        model = _MODEL_PATH.fullmatch(path) if method == "GET" else None
        if predict:
            name, version, label, verb = predict.groups()
            if verb.lower() != "predict":
                raise handlers.RequestError(grpc.StatusCode.UNIMPLEMENTED,
                                            f"{verb.lower()} is not implemented by this server (predict is)")
            spec = _model_spec(name, version, label)
            with self.metrics.request(name, "Predict", "REST"):
                return self.predict(spec, body)
        if model and model.group(1):
            name, version, label, metadata = model.groups()
            spec = _model_spec(name, version, label)
            with self.metrics.request(name, "GetModelMetadata" if metadata else "GetModelStatus", "REST"):
                return self.metadata(spec) if metadata else self.status(spec)
        if model:
            raise handlers.RequestError(_INVALID, "Missing model name in request.")
        raise handlers.RequestError(_INVALID, f"Malformed request: {method} {shown(path)}")

    def predict(self, spec: model_pb2.ModelSpec, body: bytes) -> dict[str, Any]:
        """``:predict``: ``{"predictions": ...}`` for the row format, ``{"outputs": ...}`` for the columnar one."""
        document = _json_object(body)
        signature = document.get("signature_name", "")
        if not isinstance(signature, str):
            raise handlers.RequestError(_INVALID, f"'signature_name' is {_short(signature)}; expected a string")
        spec.signature_name = signature
        request, row = _predict_request(spec, document, handlers.signature_inputs(self.repository, spec))
        prediction = handlers.run_predict(self.repository, request, self.limits, self.batcher)
        outputs = dict(sorted(prediction.outputs.items()))
        return {"predictions": _predictions(outputs)} if row else {"outputs": _columns(outputs)}

    def metadata(self, spec: model_pb2.ModelSpec) -> dict[str, Any]:
        """``/metadata``: the model spec answering and its SignatureDefs, with the proto field names."""
        request = get_model_metadata_pb2.GetModelMetadataRequest(model_spec=spec,
                                                                 metadata_field=[handlers.SIGNATURE_DEF_FIELD])
        response = handlers.model_metadata(self.repository, request)
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata[handlers.SIGNATURE_DEF_FIELD].Unpack(signature_map)
        return {"model_spec": _message_json(response.model_spec, preserving_proto_field_name=True),
                "metadata": {handlers.SIGNATURE_DEF_FIELD: _message_json(signature_map,
                                                                         preserving_proto_field_name=True)}}

    def status(self, spec: model_pb2.ModelSpec) -> dict[str, Any]:
        """The model's version status."""
        request = get_model_status_pb2.GetModelStatusRequest(model_spec=spec)
        return _message_json(handlers.model_status(self.repository, request))


# ------------------------------------------------------------------- server
def connection_cap(requested: int) -> int:
    """The most REST connections to keep open: ``requested``, or fewer when the process may not open the files
    they could take (:data:`FILES_PER_CONNECTION` each, with :data:`RESERVED_FILES` left for everything else)."""
    if resource is None:
        return requested
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return requested
    allowed = max(1, (soft - RESERVED_FILES) // FILES_PER_CONNECTION)
    if allowed < requested:
        log.warning("REST: at most %d connections at once (not %d): the process may open %d files (ulimit -n)",
                    allowed, requested, soft)
    return min(requested, allowed)


def raise_open_file_limit() -> int:
    """Raise this process's soft limit of open files to its hard limit (what a server's connections may take);
    returns the new soft limit (-1 where there is none, on Windows)."""
    if resource is None:
        return -1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):  # a hard limit the kernel does not allow as soft one: keep it
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft


class _RefusalTask(ErrorTask):
    """Waitress's answer to a request it refuses before the application sees it (malformed, headers or body too
    large): logged in one line, as the application's refusals are."""

    def execute(self) -> None:
        error = self.request.error
        log.info("REST request refused (%d %s): %s", error.code, error.reason, shown(" ".join(str(error.body).split()),
                                                                                    300))
        super().execute()


class _Channel(HTTPChannel):
    """One REST connection; a request its client abandoned (closed, or went silent past the idle timeout,
    before the request was complete) is logged in one line."""

    error_task_class = _RefusalTask

    def handle_close(self) -> None:
        request = self.request
        if request is not None and not request.completed and request.error is None:
            what = (f"{request.command} {shown(request.path, 200)} after {request.body_bytes_received} of "
                    f"{request.content_length} body bytes" if request.headers_finished else "inside its headers")
            log.info("REST connection from %s closed with its request incomplete (%s)", self.addr[0], what)
        super().handle_close()


class _Server(TcpWSGIServer):
    """Waitress's server with one change: at the connection limit, it closes the longest idle connections
    (1/:data:`SHED_FRACTION` of the limit at a time) to accept new ones instead of no longer accepting
    (nginx drains idle keep-alive connections alike), so that idle connections cannot keep anyone out."""

    channel_class = _Channel
    shedding = False

    def readable(self) -> bool:
        now = time.time()
        if now >= self.next_channel_cleanup:  # closes connections idle for channel_timeout, as waitress does
            self.next_channel_cleanup = now + self.adj.cleanup_interval
            self.maintenance(now)
        if not self.accepting:
            return False
        channels = list(self.active_channels.values())
        if len(channels) < self.adj.connection_limit:
            self.shedding = self.shedding and len(channels) >= 0.9 * self.adj.connection_limit  # logged again later
            return True
        if not any(channel.will_close for channel in channels):  # the last ones shed are not closed yet
            idle = [channel for channel in channels if not channel.requests and not channel.close_when_flushed]
            for channel in heapq.nsmallest(max(1, self.adj.connection_limit // SHED_FRACTION), idle,
                                           key=lambda channel: channel.last_activity):
                channel.will_close = True
            if idle:
                if not self.shedding:
                    log.warning("REST: %d connections open, the limit (ssvae serve --rest-max-connections): "
                                "closing the longest idle ones for new connections", len(channels))
                    self.shedding = True
        return False


class RestServer:
    """``app`` (:class:`RestApi`) on waitress, a production WSGI server, run in a background thread.

    One thread reads every connection's requests (``poll``, so any number of file descriptors) and
    ``workers`` threads answer the complete ones: an idle or slow connection costs a socket, not a thread.
    At most ``max_connections`` connections are open (see :func:`connection_cap`); at the limit the
    longest idle one is closed for each new one.  A connection silent for ``idle_seconds`` (between
    requests, or inside one) is closed.  Bodies over ``app.max_body_bytes`` are refused (413) before they are
    read when their ``Content-Length`` says so, and once they pass the limit otherwise.

    The port is bound on construction (``port`` 0 picks a free one: see :attr:`port`); :meth:`start`
    serves, :meth:`stop` stops accepting, lets answers in progress finish and closes every connection.
    """

    def __init__(self, app: RestApi, host: str, port: int, *, workers: int = DEFAULT_WORKERS,
                 max_connections: int = DEFAULT_REST_MAX_CONNECTIONS, idle_seconds: int = DEFAULT_REST_IDLE_SECONDS):
        bare_host = host.strip("[]")
        family = socket.AF_INET6 if ":" in bare_host else socket.AF_INET
        try:
            listener = socket.create_server((bare_host, port), family=family)
        except OSError as error:
            raise OSError(f"cannot listen on port {port} of {host} for REST: {error.strerror or error}") from error
        adjustments = Adjustments(
            threads=workers, connection_limit=connection_cap(max_connections), channel_timeout=idle_seconds,
            cleanup_interval=1, asyncore_use_poll=True, max_request_body_size=app.max_body_bytes,
            max_request_header_size=MAX_HEADER_BYTES, log_socket_errors=False, ident="ssvae serve")
        dispatcher = ThreadedTaskDispatcher()
        dispatcher.set_thread_count(workers)
        self._map: dict = {}
        self._server = _Server(app, self._map, _sock=listener,
                               dispatcher=dispatcher, adj=adjustments, bind_socket=False,
                               sockinfo=(listener.family, listener.type, listener.proto, listener.getsockname()))
        self.port: int = listener.getsockname()[1]
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="rest-api", daemon=True)

    def _serve(self) -> None:
        while not self._stopping.is_set():
            wasyncore.loop(timeout=1.0, map=self._map, use_poll=True, count=1)

    def start(self) -> None:
        """Answer requests in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting connections, let answers in progress finish (5 s at most) and close every connection."""
        if self._thread.is_alive():
            self._stopping.set()
            self._server.pull_trigger()  # wakes the loop
            self._thread.join()
        self._server.task_dispatcher.shutdown()
        wasyncore.close_all(self._map)
