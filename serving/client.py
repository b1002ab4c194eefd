"""``SSVAEClient``: encode and decode over TF Serving's gRPC API, NumPy in, NumPy out.

Works against TF Serving (the Docker image) and the local server alike.
Large batches are split into several requests (at most ``max_batch_size``
items, requests and answers within ``max_message_bytes``; the answer size per
item comes from the model's signature, asked once) and the answers concatenated.

Errors: arrays the models cannot take raise ``ValueError`` before anything is
sent; a server that cannot be reached raises :class:`ServerUnavailableError`
(a ``ConnectionError``), one that does not answer in time
:class:`ServerTimeoutError` (a ``TimeoutError``), and a refused request
:class:`ServingError` carrying the gRPC status ``code`` and the server's message.
All three are ``OSError``\\ s.
"""

from __future__ import annotations

import math
from typing import Any

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from ssvae_tf.export import (
    DECODER_INPUT,
    DECODER_MODEL,
    DECODER_OUTPUTS,
    ENCODER_INPUT,
    ENCODER_MODEL,
    ENCODER_OUTPUTS,
    SIGNATURE,
)

DEFAULT_TARGET = "localhost:8500"
DEFAULT_TIMEOUT = 30.0
#: Matches ``max_batch_size`` in ``serving/batching.config``: TF Serving with
#: batching refuses a request holding more items than that.
DEFAULT_MAX_BATCH_SIZE = 256
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
#: Room left in a request for everything but the tensor bytes.
_ENVELOPE_BYTES = 64 * 1024


class ServingError(OSError):
    """The server refused or failed a request; ``code`` is the gRPC status (``None`` if not from gRPC)."""

    def __init__(self, message: str, code: grpc.StatusCode | None = None):
        super().__init__(message)
        self.code = code


class ServerUnavailableError(ServingError, ConnectionError):
    """The server cannot be reached (gRPC ``UNAVAILABLE``)."""


class ServerTimeoutError(ServingError, TimeoutError):
    """The server did not answer within the client's timeout (gRPC ``DEADLINE_EXCEEDED``)."""


def _as_batch(values: Any, what: str) -> np.ndarray:
    """``values`` as a float32 array with a batch axis, or ``ValueError``."""
    array = np.asarray(values)
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_) or np.iscomplexobj(array):
        raise ValueError(f"{what} has dtype {array.dtype}; expected real numbers")
    if array.ndim < 2 or array.shape[0] == 0:
        raise ValueError(f"{what} has shape {array.shape}; expected a non-empty batch (n, ...)")
    array = array.astype(np.float32, copy=False)
    if not np.isfinite(array).all():
        raise ValueError(f"{what} holds NaN or infinite values")
    return array


class SSVAEClient:
    """Encode images and decode latent vectors through a TF Serving gRPC endpoint.

    Args:
        target: ``host:port`` of TF Serving's gRPC port (8500 by default).
        timeout: seconds to wait for each request.
        encoder, decoder: the model names (``ssvae export`` defaults).
        version: serve this model version instead of the highest.
        max_batch_size: most items per request; larger batches are split.
        max_message_bytes: largest request and response, in bytes (the server
            must allow as much).
        credentials: ``grpc.ssl_channel_credentials(...)`` for a TLS endpoint;
            ``None`` for plain text.

    Use as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        timeout: float = DEFAULT_TIMEOUT,
        encoder: str = ENCODER_MODEL,
        decoder: str = DECODER_MODEL,
        *,
        version: int | None = None,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        credentials: grpc.ChannelCredentials | None = None,
    ):
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size!r}")
        if max_message_bytes <= _ENVELOPE_BYTES:
            raise ValueError(f"max_message_bytes must be > {_ENVELOPE_BYTES}, got {max_message_bytes!r}")
        self.target, self.timeout = target, float(timeout)
        self.encoder, self.decoder, self.version = encoder, decoder, version
        self.max_batch_size, self.max_message_bytes = int(max_batch_size), int(max_message_bytes)
        options = [("grpc.max_send_message_length", self.max_message_bytes),
                   ("grpc.max_receive_message_length", self.max_message_bytes)]
        self._channel = (grpc.secure_channel(target, credentials, options) if credentials is not None
                         else grpc.insecure_channel(target, options))
        self._prediction = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self._models = model_service_pb2_grpc.ModelServiceStub(self._channel)
        self._signatures: dict[str, dict[str, Any]] = {}

    # ------------------------------------------------------------------ API
    def encode(self, images: Any) -> tuple[np.ndarray, np.ndarray]:
        """``images`` ``(n, *image_shape)`` -> ``(z_mean, z_log_var)``, each float32 ``(n, latent_dim)``."""
        images = _as_batch(images, "images")
        self._check_image_shape(images)
        outputs = self._predict(self.encoder, ENCODER_INPUT, images, ENCODER_OUTPUTS)
        return outputs["z_mean"], outputs["z_log_var"]

    def decode(self, z: Any) -> np.ndarray:
        """``z`` ``(n, latent_dim)`` -> images, float32 ``(n, *image_shape)`` in (0, 1)."""
        return self._predict(self.decoder, DECODER_INPUT, _as_batch(z, "z"), DECODER_OUTPUTS)["images"]

    def metadata(self) -> dict[str, dict[str, Any]]:
        """Per model: the version answering and its signatures.

        ``{name: {"version": int, "signatures": {signature: {"inputs": {key: {"dtype": "float32",
        "shape": (None, ...)}}, "outputs": {...}}}}}`` (``None`` for a dimension of any size).
        """
        return {name: self._model_metadata(name) for name in (self.encoder, self.decoder)}

    def status(self) -> dict[str, dict[int, str]]:
        """Per model: ``{version: state}``, e.g. ``{"ssvae_encoder": {1: "AVAILABLE"}}``."""
        result = {}
        for name in (self.encoder, self.decoder):
            request = get_model_status_pb2.GetModelStatusRequest()
            self._fill_spec(request.model_spec, name)
            response = self._call(self._models.GetModelStatus, request, name)
            result[name] = {entry.version: get_model_status_pb2.ModelVersionStatus.State.Name(entry.state)
                            for entry in response.model_version_status}
        return result

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()

    def __enter__(self) -> SSVAEClient:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # ------------------------------------------------------------ internals
    def _fill_spec(self, spec, name: str) -> None:
        spec.name = name
        if self.version is not None:
            spec.version.value = self.version

    def _call(self, rpc, request, model: str):
        try:
            return rpc(request, timeout=self.timeout)
        except grpc.RpcError as error:
            code, details = error.code(), error.details()
            if code == grpc.StatusCode.UNAVAILABLE:
                raise ServerUnavailableError(f"cannot reach a model server at {self.target}: {details}",
                                             code) from None
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise ServerTimeoutError(f"{self.target} did not answer within {self.timeout:g} s "
                                         f"(model {model})", code) from None
            raise ServingError(f"{self.target} refused the request for model {model} ({code.name}): {details}",
                               code) from None

    def _check_image_shape(self, images: np.ndarray) -> None:
        """Refuses (one line, before sending) images whose shape is not the encoder's input shape.

        Images are not tiled or resized: a model trained on crops encodes crops of its size.
        """
        expected = self._signature(self.encoder)["inputs"][ENCODER_INPUT]["shape"][1:]
        if images.shape[1:] != expected:
            sides = "x".join(str(side) for side in expected[:-1])
            raise ValueError(f"images have shape {images.shape[1:]} but the model {self.encoder} at {self.target} "
                             f"encodes {sides} images of shape {expected}; crop or resize them to {sides} first "
                             "(images are not tiled)")

    def _signature(self, model: str) -> dict[str, Any]:
        """``model``'s serving signature (inputs and outputs, see :meth:`metadata`), asked once per client."""
        if model not in self._signatures:
            self._signatures[model] = self._model_metadata(model)["signatures"][SIGNATURE]
        return self._signatures[model]

    def _output_item_bytes(self, model: str) -> int:
        """Bytes per batch item of ``model``'s answer, from its signature."""
        return sum(np.dtype(spec["dtype"]).itemsize * math.prod(side or 1 for side in spec["shape"][1:])
                   for spec in self._signature(model)["outputs"].values())

    def _chunk_size(self, model: str, array: np.ndarray) -> int:
        """Items per request: at most ``max_batch_size``, and requests and answers within ``max_message_bytes``."""
        item_bytes = max(1, array[0].nbytes, self._output_item_bytes(model))
        return max(1, min(self.max_batch_size, (self.max_message_bytes - _ENVELOPE_BYTES) // item_bytes))

    def _predict(self, model: str, input_name: str, array: np.ndarray,
                 output_names: tuple[str, ...]) -> dict[str, np.ndarray]:
        step = self._chunk_size(model, array)
        parts = [self._predict_once(model, input_name, array[start:start + step], output_names)
                 for start in range(0, len(array), step)]
        return {name: np.concatenate([part[name] for part in parts]) for name in output_names}

    def _predict_once(self, model: str, input_name: str, array: np.ndarray,
                      output_names: tuple[str, ...]) -> dict[str, np.ndarray]:
        request = predict_pb2.PredictRequest()
        self._fill_spec(request.model_spec, model)
        request.model_spec.signature_name = SIGNATURE
        request.inputs[input_name].CopyFrom(tf.make_tensor_proto(array))
        response = self._call(self._prediction.Predict, request, model)
        missing = [name for name in output_names if name not in response.outputs]
        if missing:
            raise ServingError(f"model {model} at {self.target} answered without output(s) {missing} "
                               f"(it has {sorted(response.outputs)}); is it an ssvae export?")
        return {name: tf.make_ndarray(response.outputs[name]) for name in output_names}

    def _model_metadata(self, name: str) -> dict[str, Any]:
        request = get_model_metadata_pb2.GetModelMetadataRequest()
        self._fill_spec(request.model_spec, name)
        request.metadata_field.append("signature_def")
        response = self._call(self._prediction.GetModelMetadata, request, name)
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signature_map)

        def describe(infos) -> dict[str, dict[str, Any]]:
            return {key: {"dtype": tf.dtypes.as_dtype(info.dtype).name,
                          "shape": tuple(None if d.size < 0 else d.size for d in info.tensor_shape.dim)}
                    for key, info in sorted(infos.items())}

        return {"version": response.model_spec.version.value,
                "signatures": {key: {"inputs": describe(sig.inputs), "outputs": describe(sig.outputs)}
                               for key, sig in sorted(signature_map.signature_def.items())}}
