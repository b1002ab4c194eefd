"""``SSVAEClient``: the served models (encode, decode, ...) over TF Serving's gRPC or REST API, NumPy in and out.

Works against TF Serving (the Docker image) and the local server alike: a
``host:port`` target speaks gRPC (TF Serving's port 8500), an
``http://host:port`` (or ``https://``) target the REST API (port 8501, JSON).
Large batches are split into several requests (at most ``max_batch_size``
items, requests and answers within ``max_message_bytes``; the answer size per
item comes from the model's signature, asked once) and the answers concatenated.

Images are checked before anything is sent: finite values in [0, 1], in the
layouts ``(n, H, W)``, ``(n, H, W, 1)`` or one image ``(H, W)`` (volumes
``(n, D, H, W)``, ``(n, D, H, W, 1)``, ``(D, H, W)``) of the served size, the
layouts ``ssvae encode`` reads from files too.

Requests the server could not take (gRPC ``UNAVAILABLE``; over REST no
connection, a lost one, or 503) are tried again with exponential backoff
(:class:`RetryPolicy`, gRPC's retry policy); REST connections are kept alive
and reused.

Errors: arrays the models cannot take raise ``ValueError`` before anything is
sent; a server that cannot be reached raises :class:`ServerUnavailableError`
(a ``ConnectionError``), one that does not answer in time
:class:`ServerTimeoutError` (a ``TimeoutError``), and a refused request
:class:`ServingError` carrying the gRPC status ``code`` (gRPC) or the HTTP
status ``http_status`` (REST) and the server's message.  All three are
``OSError``\\ s with one-line messages.
"""

from __future__ import annotations

import json
import math
import random
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
import numpy as np
import tensorflow as tf
import urllib3
from google.protobuf import json_format
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from serving.contract import (
    DEFAULT_MAX_BATCH_SIZE,
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_TARGET,
    DEFAULT_TIMEOUT,
    MAX_BATCH_SIZE,
    MAX_MESSAGE_BYTES,
    MAX_TIMEOUT,
)
from ssvae_tf._checks import is_int
from ssvae_tf.export import check_version
from ssvae_tf.export_contract import IMAGE_TENSOR, SERVED_MODELS, SIGNATURE, served_model

#: Most attempts gRPC's retry policy allows (more are silently cut to this).
MAX_ATTEMPTS = 5
#: REST connections a client keeps alive for reuse (one per thread sending at the same time).
_REST_CONNECTIONS = 8
#: Room left in a request for everything but the tensor bytes.
_ENVELOPE_BYTES = 64 * 1024
#: Most bytes a float32 takes in JSON: its shortest round-tripping decimal (23 characters at most,
#: e.g. ``-1.1754943508222875e-38``), a comma, and the brackets of a one-item innermost list.
_JSON_NUMBER_BYTES = 27
_SIGNATURE_DEF = "signature_def"


class ServingError(OSError):
    """The server refused or failed a request.

    ``code`` is the gRPC status (over gRPC), ``http_status`` the HTTP status (over REST); the other is ``None``.
    """

    def __init__(self, message: str, code: grpc.StatusCode | None = None, http_status: int | None = None):
        super().__init__(message)
        self.code = code
        self.http_status = http_status


class ServerUnavailableError(ServingError, ConnectionError):
    """The server cannot be reached (gRPC ``UNAVAILABLE``, HTTP 503, or no connection)."""


class ServerTimeoutError(ServingError, TimeoutError):
    """The server did not answer within the client's timeout (gRPC ``DEADLINE_EXCEEDED``, HTTP 504)."""


@dataclass(frozen=True)
class RetryPolicy:
    """How a request the server could not take is tried again, as gRPC's retry policy does it.

    Over gRPC the channel retries calls answered ``UNAVAILABLE`` (a server starting, restarting or
    overloaded); over REST the client retries requests that found no connection, lost it before an
    answer, or were answered 503.  Other answers are final.  Attempt ``n + 1`` waits a random time up to
    ``min(initial_backoff * backoff_multiplier ** (n - 1), max_backoff)`` seconds, and all attempts
    together stay within the client's ``timeout`` (gRPC: one deadline for all).

    Attributes:
        max_attempts: tries in all, 1 (no retry) to 5 (gRPC's limit).
        initial_backoff, max_backoff: seconds, > 0, ``max_backoff >= initial_backoff``.
        backoff_multiplier: growth of the backoff per attempt, >= 1.
    """

    max_attempts: int = MAX_ATTEMPTS
    initial_backoff: float = 0.1
    max_backoff: float = 2.0
    backoff_multiplier: float = 2.0

    def __post_init__(self):
        if not is_int(self.max_attempts) or not 1 <= self.max_attempts <= MAX_ATTEMPTS:
            raise ValueError(f"max_attempts must be an integer from 1 to {MAX_ATTEMPTS} (gRPC's limit), got "
                             f"{self.max_attempts!r}")
        if not 0 < self.initial_backoff <= self.max_backoff <= MAX_TIMEOUT or not 1 <= self.backoff_multiplier < 100:
            raise ValueError(f"expected 0 < initial_backoff <= max_backoff <= {MAX_TIMEOUT} s and 1 <= "
                             f"backoff_multiplier < 100, got {self.initial_backoff!r}, {self.max_backoff!r} and "
                             f"{self.backoff_multiplier!r}")

    def backoffs(self) -> Iterator[float]:
        """The seconds to wait before each attempt after the first (random, as gRPC's)."""
        for attempt in range(1, self.max_attempts):
            yield random.uniform(0, min(self.initial_backoff * self.backoff_multiplier ** (attempt - 1),
                                        self.max_backoff))

    def grpc_options(self) -> list[tuple[str, Any]]:
        """Channel options: the retry policy for TF Serving's services, and reconnection at the same pace."""
        options = [("grpc.initial_reconnect_backoff_ms", max(1, round(1000 * self.initial_backoff))),
                   ("grpc.max_reconnect_backoff_ms", max(1, round(1000 * self.max_backoff)))]
        if self.max_attempts == 1:
            return options + [("grpc.enable_retries", 0)]
        policy = {"maxAttempts": self.max_attempts, "initialBackoff": f"{self.initial_backoff:.9f}s",
                  "maxBackoff": f"{self.max_backoff:.9f}s", "backoffMultiplier": self.backoff_multiplier,
                  "retryableStatusCodes": ["UNAVAILABLE"]}
        config = {"methodConfig": [{"name": [{"service": "tensorflow.serving.PredictionService"},
                                             {"service": "tensorflow.serving.ModelService"}],
                                    "retryPolicy": policy}]}
        return options + [("grpc.enable_retries", 1), ("grpc.service_config", json.dumps(config))]


def _error(kind: type[ServingError], target: str, timeout: float, model: str, details: Any,
           code: grpc.StatusCode | None = None, http_status: int | None = None) -> ServingError:
    """The one-line error of ``kind`` for a failed request for ``model`` at ``target``."""
    details = " ".join(str(details).split())
    if kind is ServerUnavailableError:
        message = f"cannot reach a model server at {target}: {details}"
    elif kind is ServerTimeoutError:
        message = f"{target} did not answer within {timeout:g} s (model {model})"
    else:
        status = code.name if code is not None else f"HTTP {http_status}"
        message = f"{target} refused the request for model {model} ({status}): {details}"
    return kind(message, code, http_status)


def _real_array(values: Any, what: str) -> np.ndarray:
    """``values`` as a float32 array, or ``ValueError`` for non-numbers, NaN or infinities."""
    array = np.asarray(values)
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_) or np.iscomplexobj(array):
        raise ValueError(f"{what} has dtype {array.dtype}; expected real numbers")
    array = array.astype(np.float32, copy=False)
    if not np.isfinite(array).all():
        raise ValueError(f"{what} holds NaN or infinite values; expected finite numbers")
    return array


def _as_batch(values: Any, what: str) -> np.ndarray:
    """``values`` as a float32 array with a batch axis, or ``ValueError``."""
    array = _real_array(values, what)
    if array.ndim < 2 or array.shape[0] == 0:
        raise ValueError(f"{what} has shape {array.shape}; expected a non-empty batch (n, ...)")
    return array


def image_batch(images: np.ndarray, image_shape: tuple[int, ...]) -> np.ndarray | None:
    """``images`` as a batch ``(n, *image_shape)``, or ``None`` when their layout is none of the accepted ones.

    With ``image_shape`` ``(*spatial, 1)`` (``(H, W, 1)``, or ``(D, H, W, 1)`` for volumes) the accepted
    layouts are ``(n, *spatial, 1)``, ``(n, *spatial)`` and a single image ``spatial``; they cannot be
    mistaken for one another (their ranks differ).
    """
    image_shape = tuple(image_shape)
    spatial = image_shape[:-1] if image_shape[-1:] == (1,) else None
    if images.ndim >= 1 and images.shape[1:] == image_shape and images.shape[0] > 0:
        return images
    if spatial is None:
        return None
    if images.ndim >= 1 and images.shape[1:] == spatial and images.shape[0] > 0:
        return images[..., np.newaxis]
    if images.shape == spatial:
        return images[np.newaxis, ..., np.newaxis]
    return None


def accepted_layouts(image_shape: tuple[int, ...]) -> str:
    """The image layouts :func:`image_batch` accepts, in words."""
    image_shape = tuple(image_shape)
    if image_shape[-1:] != (1,):
        return f"(n, {', '.join(map(str, image_shape))})"
    spatial = ", ".join(map(str, image_shape[:-1]))
    return f"(n, {spatial}), (n, {spatial}, 1) or a single ({spatial})"


def check_unit_range(images: np.ndarray, what: str = "images") -> None:
    """``ValueError`` (one line, naming the values found) unless every value is in [0, 1]."""
    low, high = float(images.min()), float(images.max())
    if low < 0.0 or high > 1.0:
        hint = " (8-bit images: divide by 255)" if high > 1.0 and low >= 0.0 and high <= 255.0 else ""
        raise ValueError(f"{what} hold values from {low:g} to {high:g}; expected values in [0, 1]{hint}")


def _describe(infos) -> dict[str, dict[str, Any]]:
    """TensorInfos as ``{key: {"dtype": "float32", "shape": (None, ...)}}``."""
    return {key: {"dtype": tf.dtypes.as_dtype(info.dtype).name,
                  "shape": tuple(None if d.size < 0 else d.size for d in info.tensor_shape.dim)}
            for key, info in sorted(infos.items())}


# ------------------------------------------------------------------ the two APIs
# Both take a ModelSpec and answer with arrays and protocol buffers. ``predict`` gets the signature's
# outputs as ``_describe`` gives them: REST reads JSON numbers as their dtypes (gRPC tensors carry theirs).
class _GrpcApi:
    """TF Serving's gRPC API at ``host:port``: protocol buffers over one channel."""

    def __init__(self, target: str, timeout: float, max_message_bytes: int,
                 credentials: grpc.ChannelCredentials | None, retry: RetryPolicy):
        self.target, self.timeout = target, timeout
        options = [("grpc.max_send_message_length", max_message_bytes),
                   ("grpc.max_receive_message_length", max_message_bytes)] + retry.grpc_options()
        self._channel = (grpc.secure_channel(target, credentials, options) if credentials is not None
                         else grpc.insecure_channel(target, options))
        self._prediction = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self._models = model_service_pb2_grpc.ModelServiceStub(self._channel)

    @staticmethod
    def encoded_bytes(values: int, itemsize: int) -> int:
        """Bytes ``values`` numbers of ``itemsize`` bytes take in a message."""
        return values * itemsize

    def predict(self, spec: model_pb2.ModelSpec, input_name: str, array: np.ndarray,
                outputs: Mapping[str, dict[str, Any]]) -> dict[str, np.ndarray]:
        request = predict_pb2.PredictRequest(model_spec=spec)
        request.inputs[input_name].CopyFrom(tf.make_tensor_proto(array))
        response = self._call(self._prediction.Predict, request)
        return {name: tf.make_ndarray(tensor) for name, tensor in response.outputs.items()}

    def metadata(self, spec: model_pb2.ModelSpec) -> tuple[int, get_model_metadata_pb2.SignatureDefMap]:
        request = get_model_metadata_pb2.GetModelMetadataRequest(model_spec=spec, metadata_field=[_SIGNATURE_DEF])
        response = self._call(self._prediction.GetModelMetadata, request)
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata[_SIGNATURE_DEF].Unpack(signature_map)
        return response.model_spec.version.value, signature_map

    def status(self, spec: model_pb2.ModelSpec) -> get_model_status_pb2.GetModelStatusResponse:
        return self._call(self._models.GetModelStatus, get_model_status_pb2.GetModelStatusRequest(model_spec=spec))

    def close(self) -> None:
        self._channel.close()

    def _call(self, rpc, request):
        try:
            return rpc(request, timeout=self.timeout)
        except grpc.RpcError as error:
            kind = {grpc.StatusCode.UNAVAILABLE: ServerUnavailableError,
                    grpc.StatusCode.DEADLINE_EXCEEDED: ServerTimeoutError}.get(error.code(), ServingError)
            raise _error(kind, self.target, self.timeout, request.model_spec.name, error.details(),
                         code=error.code()) from None


class _RestApi:
    """TF Serving's REST API at ``http(s)://host:port``: JSON over HTTP, on kept-alive connections."""

    def __init__(self, target: str, timeout: float, retry: RetryPolicy):
        parts = urllib.parse.urlsplit(target)
        if not parts.hostname or parts.query or parts.fragment:
            raise ValueError(f"REST target {target!r} is not a URL http(s)://host:port")
        self.target, self.timeout, self.retry = target.rstrip("/"), timeout, retry
        self._pool = urllib3.connection_from_url(self.target, maxsize=_REST_CONNECTIONS, retries=False)

    @staticmethod
    def encoded_bytes(values: int, itemsize: int) -> int:
        """Most bytes ``values`` float32 numbers take in JSON (``itemsize`` does not matter)."""
        return values * _JSON_NUMBER_BYTES

    def predict(self, spec: model_pb2.ModelSpec, input_name: str, array: np.ndarray,
                outputs: Mapping[str, dict[str, Any]]) -> dict[str, np.ndarray]:
        """Asks in the columnar format: ``{"outputs": value}`` (one output) or ``{"outputs": {name: value}}``."""
        answer = self._call(spec, ":predict", {"signature_name": spec.signature_name,
                                               "inputs": {input_name: array.tolist()}})

        def read(answer: dict[str, Any]) -> dict[str, np.ndarray]:
            values = answer["outputs"]
            if not isinstance(values, dict):  # a signature with one output answers its value alone
                values = dict.fromkeys(outputs, values) if len(outputs) == 1 else {}
            return {name: np.asarray(values[name], np.dtype(info["dtype"]))
                    for name, info in outputs.items() if name in values}

        return self._read(spec.name, answer, read)

    def metadata(self, spec: model_pb2.ModelSpec) -> tuple[int, get_model_metadata_pb2.SignatureDefMap]:
        def read(answer: dict[str, Any]) -> tuple[int, get_model_metadata_pb2.SignatureDefMap]:
            signature_map = json_format.ParseDict(answer["metadata"][_SIGNATURE_DEF],
                                                  get_model_metadata_pb2.SignatureDefMap(), ignore_unknown_fields=True)
            return int(answer["model_spec"]["version"]), signature_map

        return self._read(spec.name, self._call(spec, "/metadata"), read)

    def status(self, spec: model_pb2.ModelSpec) -> get_model_status_pb2.GetModelStatusResponse:
        return self._read(spec.name, self._call(spec, ""), lambda answer: json_format.ParseDict(
            answer, get_model_status_pb2.GetModelStatusResponse(), ignore_unknown_fields=True))

    def close(self) -> None:
        """Close the kept-alive connections."""
        self._pool.close()

    def _path(self, spec: model_pb2.ModelSpec, suffix: str) -> str:
        version = f"/versions/{spec.version.value}" if spec.HasField("version") else ""
        base = urllib.parse.urlsplit(self.target).path
        return f"{base}/v1/models/{urllib.parse.quote(spec.name, safe='')}{version}{suffix}"

    def _call(self, spec: model_pb2.ModelSpec, suffix: str, body: dict[str, Any] | None = None) -> Any:
        """GET (or POST ``body``) ``/v1/models/<spec>`` + ``suffix``; the answer's JSON.

        No connection, a connection lost before the answer, and 503 are tried again (:class:`RetryPolicy`).
        """
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        backoffs, deadline = self.retry.backoffs(), time.monotonic() + self.timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:  # spent before the request (a tiny timeout): urllib3 refuses a timeout <= 0
                raise _error(ServerTimeoutError, self.target, self.timeout, spec.name, "")
            try:
                response = self._pool.request("GET" if data is None else "POST", self._path(spec, suffix),
                                              body=data, headers={"Content-Type": "application/json"},
                                              timeout=urllib3.Timeout(connect=left, read=left))
            except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ProtocolError) as error:
                failure = _error(ServerUnavailableError, self.target, self.timeout, spec.name, _reason(error))
            except urllib3.exceptions.TimeoutError:
                raise _error(ServerTimeoutError, self.target, self.timeout, spec.name, "") from None
            except urllib3.exceptions.HTTPError as error:  # TLS and other transport failures
                raise _error(ServerUnavailableError, self.target, self.timeout, spec.name, _reason(error)) from None
            else:
                if response.status == 200:
                    return self._read(spec.name, response.data, json.loads)
                kind = {503: ServerUnavailableError, 504: ServerTimeoutError}.get(response.status, ServingError)
                failure = _error(kind, self.target, self.timeout, spec.name,
                                 _refusal_message(response.data, response.reason), http_status=response.status)
                if kind is not ServerUnavailableError:
                    raise failure
            backoff = next(backoffs, None)
            if backoff is None or time.monotonic() + backoff >= deadline:
                raise failure
            time.sleep(backoff)

    def _read(self, model: str, answer: Any, read: Callable[[Any], Any]) -> Any:
        """``read(answer)``; an answer it cannot read is a :class:`ServingError`."""
        try:
            return read(answer)
        except (KeyError, TypeError, ValueError, json_format.ParseError) as error:
            raise ServingError(f"{self.target} answered the request for model {model} with something other than "
                               f"TF Serving's JSON ({type(error).__name__}: {' '.join(str(error).split())})") from None


def _refusal_message(body: bytes, reason: str | None) -> str:
    """The message of TF Serving's ``{"error": ...}`` answer, or the HTTP reason and the start of a body that is
    not that (an HTTP server's own refusal, in plain text)."""
    try:
        return str(json.loads(body)["error"])
    except (ValueError, KeyError, TypeError):
        text = " ".join(body[:300].decode("utf-8", "replace").split())
        return text if text.startswith(str(reason)) else f"{reason}: {text}" if text else str(reason)


def _reason(error: urllib3.exceptions.HTTPError) -> str:
    """Why a connection failed, without urllib3's object names."""
    cause = error.args[-1] if isinstance(error, urllib3.exceptions.ProtocolError) and error.args else error
    return str(getattr(cause, "strerror", None) or cause).split(": ", 1)[-1]


def _api(target: str, timeout: float, max_message_bytes: int, credentials: grpc.ChannelCredentials | None,
         retry: RetryPolicy) -> _GrpcApi | _RestApi:
    """The API ``target`` names: REST for an ``http(s)://`` URL, gRPC otherwise."""
    if not target.lower().startswith(("http://", "https://")):
        return _GrpcApi(target, timeout, max_message_bytes, credentials, retry)
    if credentials is not None:
        raise ValueError(f"credentials are for gRPC targets; the REST target {target} uses TLS (with the system's "
                         "root certificates) when it is an https:// URL")
    return _RestApi(target, timeout, retry)


class SSVAEClient:
    """Encode images and decode latent vectors (any served model: :meth:`predict`) through TF Serving's
    gRPC or REST API.

    Args:
        target: ``host:port`` of TF Serving's gRPC port (8500 by default), or ``http://host:port``
            (``https://`` for TLS) of its REST port (8501).
        timeout: seconds to wait for each request.
        encoder, decoder: the model names (``ssvae export`` defaults).
        models: ``{role: model name}`` of the other served models (``SERVED_MODELS``) not of their
            default name.
        version: serve this model version instead of the highest.
        max_batch_size: most items per request; larger batches are split.
        max_message_bytes: largest request and response, in bytes (the server
            must allow as much).
        credentials: ``grpc.ssl_channel_credentials(...)`` for a TLS gRPC endpoint;
            ``None`` for plain text (and for REST).
        retry: how requests the server could not take (gRPC ``UNAVAILABLE``, REST 503 or no connection)
            are tried again; ``RetryPolicy(max_attempts=1)``: never.

    Use as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        timeout: float = DEFAULT_TIMEOUT,
        encoder: str = served_model("encoder").default_name,
        decoder: str = served_model("decoder").default_name,
        *,
        models: Mapping[str, str] | None = None,
        version: int | None = None,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        credentials: grpc.ChannelCredentials | None = None,
        retry: RetryPolicy = RetryPolicy(),
    ):
        if not isinstance(timeout, (int, float, np.integer, np.floating)) or not 0 < timeout <= MAX_TIMEOUT:
            raise ValueError(f"timeout must be a number of seconds in (0, {MAX_TIMEOUT:g}], got {timeout!r}")
        if not is_int(max_batch_size) or not 1 <= max_batch_size <= MAX_BATCH_SIZE:
            raise ValueError(f"max_batch_size must be an integer from 1 to {MAX_BATCH_SIZE}, got {max_batch_size!r}")
        if not is_int(max_message_bytes) or not _ENVELOPE_BYTES < max_message_bytes <= MAX_MESSAGE_BYTES:
            raise ValueError(f"max_message_bytes must be an integer from {_ENVELOPE_BYTES + 1} to "
                             f"{MAX_MESSAGE_BYTES} (gRPC's limit), got {max_message_bytes!r}")
        models = dict(models or {})
        for role in models:
            if role in ("encoder", "decoder"):
                raise ValueError(f"give the {role}'s model name as {role}=, not in models")
            served_model(role)
        if version is not None:
            version = check_version(version)
        self.target, self.timeout = target, float(timeout)
        #: ``{role: model name}`` of every served model, in ``SERVED_MODELS``' order.
        self.models = {served.role: served.default_name for served in SERVED_MODELS} | models | \
            {"encoder": encoder, "decoder": decoder}
        self.version = version
        self.max_batch_size, self.max_message_bytes = int(max_batch_size), int(max_message_bytes)
        if not isinstance(retry, RetryPolicy):
            raise TypeError(f"retry must be a RetryPolicy, got {type(retry).__name__}")
        self._api = _api(target, self.timeout, self.max_message_bytes, credentials, retry)
        self._signatures: dict[str, dict[str, Any]] = {}

    @property
    def encoder(self) -> str:
        """The encoder's model name."""
        return self.models["encoder"]

    @property
    def decoder(self) -> str:
        """The decoder's model name."""
        return self.models["decoder"]

    # ------------------------------------------------------------------ API
    def predict(self, role: str, inputs: Any) -> dict[str, np.ndarray]:
        """The served model ``role`` (``SERVED_MODELS``) on a batch: ``{output key: float32 (n, ...)}``.

        A model taking images takes them as :meth:`encode` does (its layouts, values in [0, 1], checked
        against the served size); other inputs are a non-empty batch ``(n, ...)`` of finite numbers.
        Arrays the model cannot take raise ``ValueError`` before a request is sent.
        """
        served = served_model(role)
        name, key = self.models[role], served.input_key
        if key == IMAGE_TENSOR:
            batch = _real_array(inputs, key)
            if batch.size == 0:
                raise ValueError(f"{key} has shape {batch.shape}; expected at least one image")
            batch = self._image_batch(role, batch)
            check_unit_range(batch)
        else:
            batch = _as_batch(inputs, key)
        return self._predict(name, key, batch, served.output_keys)

    def encode(self, images: Any) -> tuple[np.ndarray, np.ndarray]:
        """``images`` -> ``(z_mean, z_log_var)``, each float32 ``(n, latent_dim)``.

        ``images``: finite values in [0, 1], in one of the layouts (the same as ``ssvae encode``'s files)
        ``(n, H, W)``, ``(n, H, W, 1)`` or a single image ``(H, W)`` (volumes: ``(n, D, H, W)``,
        ``(n, D, H, W, 1)`` or ``(D, H, W)``), of the served model's size; anything else raises
        ``ValueError`` before a request is sent.
        """
        outputs = self.predict("encoder", images)
        return outputs["z_mean"], outputs["z_log_var"]

    def decode(self, z: Any) -> np.ndarray:
        """``z`` ``(n, latent_dim)`` -> images, float32 ``(n, *image_shape)`` in (0, 1)."""
        return self.predict("decoder", z)["images"]

    def metadata(self) -> dict[str, dict[str, Any]]:
        """Per model: the version answering and its signatures.

        ``{name: {"version": int, "signatures": {signature: {"inputs": {key: {"dtype": "float32",
        "shape": (None, ...)}}, "outputs": {...}}}}}`` (``None`` for a dimension of any size).
        """
        return {name: self._model_metadata(name) for name in self.models.values()}

    def status(self) -> dict[str, dict[int, str]]:
        """Per model: ``{version: state}``, e.g. ``{"ssvae_encoder": {1: "AVAILABLE"}}``."""
        return {name: {entry.version: get_model_status_pb2.ModelVersionStatus.State.Name(entry.state)
                       for entry in self._api.status(self._spec(name)).model_version_status}
                for name in self.models.values()}

    def close(self) -> None:
        """Close the connection(s)."""
        self._api.close()

    def __enter__(self) -> SSVAEClient:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # ------------------------------------------------------------ internals
    def _spec(self, name: str, signature_name: str = "") -> model_pb2.ModelSpec:
        spec = model_pb2.ModelSpec(name=name, signature_name=signature_name)
        if self.version is not None:
            spec.version.value = self.version
        return spec

    def _image_batch(self, role: str, images: np.ndarray) -> np.ndarray:
        """``images`` as a batch of the input shape of the served model ``role`` (see :meth:`encode`), or a
        one-line ``ValueError``.

        Images are not tiled or resized: a model trained on crops encodes crops of its size.
        """
        name = self.models[role]
        expected = tuple(self._signature(name)["inputs"][IMAGE_TENSOR]["shape"][1:])
        batch = image_batch(images, expected)
        if batch is None:
            sides = "x".join(str(side) for side in expected[:-1])
            # the shape of one image: the whole array's when it has the rank of a single image
            given = images.shape if images.ndim <= len(expected) - 1 else images.shape[1:]
            raise ValueError(f"images have shape {given} but the model {name} at {self.target} "
                             f"{'encodes' if role == 'encoder' else 'takes'} {sides} images of shape {expected} "
                             f"(give {accepted_layouts(expected)}); crop or resize them to {sides} first "
                             "(images are not tiled)")
        return batch

    def _signature(self, model: str) -> dict[str, Any]:
        """``model``'s serving signature (inputs and outputs, see :meth:`metadata`), asked once per client."""
        if model not in self._signatures:
            self._signatures[model] = self._model_metadata(model)["signatures"][SIGNATURE]
        return self._signatures[model]

    def _output_item_bytes(self, model: str) -> int:
        """Bytes per batch item of ``model``'s answer, from its signature."""
        return sum(self._api.encoded_bytes(math.prod(side or 1 for side in spec["shape"][1:]),
                                           np.dtype(spec["dtype"]).itemsize)
                   for spec in self._signature(model)["outputs"].values())

    def _chunk_size(self, model: str, array: np.ndarray) -> int:
        """Items per request: at most ``max_batch_size``, and requests and answers within ``max_message_bytes``."""
        item_bytes = max(1, self._api.encoded_bytes(array[0].size, array.itemsize), self._output_item_bytes(model))
        return max(1, min(self.max_batch_size, (self.max_message_bytes - _ENVELOPE_BYTES) // item_bytes))

    def _predict(self, model: str, input_name: str, array: np.ndarray,
                 output_names: tuple[str, ...]) -> dict[str, np.ndarray]:
        step = self._chunk_size(model, array)
        parts = [self._predict_once(model, input_name, array[start:start + step], output_names)
                 for start in range(0, len(array), step)]
        return {name: np.concatenate([part[name] for part in parts]) for name in output_names}

    def _predict_once(self, model: str, input_name: str, array: np.ndarray,
                      output_names: tuple[str, ...]) -> dict[str, np.ndarray]:
        outputs = self._api.predict(self._spec(model, SIGNATURE), input_name, array,
                                    self._signature(model)["outputs"])
        missing = [name for name in output_names if name not in outputs]
        if missing:
            raise ServingError(f"model {model} at {self.target} answered without output(s) {missing} "
                               f"(it has {sorted(outputs)}); is it an ssvae export?")
        return {name: outputs[name] for name in output_names}

    def _model_metadata(self, name: str) -> dict[str, Any]:
        version, signature_map = self._api.metadata(self._spec(name))
        return {"version": version,
                "signatures": {key: {"inputs": _describe(sig.inputs), "outputs": _describe(sig.outputs)}
                               for key, sig in sorted(signature_map.signature_def.items())}}
