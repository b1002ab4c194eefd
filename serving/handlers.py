"""TF Serving's Predict, GetModelMetadata and GetModelStatus over a :class:`ModelRepository`.

Protocol buffers in, protocol buffers out; a refused request raises
:class:`RequestError` with the gRPC status code TF Serving answers with:

* unknown model or version -> ``NOT_FOUND``;
* unknown signature -> ``FAILED_PRECONDITION``;
* missing or extra inputs, wrong dtype or shape, unknown ``output_filter``
  entry, unsupported metadata field or version label -> ``INVALID_ARGUMENT``.

``signature_name`` defaults to ``serving_default``, an empty ``output_filter``
returns every output, and responses carry the model name, the version that
answered and the signature name.  The REST API (:mod:`serving.rest`) turns
its JSON into the same requests, so both APIs validate alike.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
    predict_pb2,
)

from serving.repository import LoadedVersion, ModelNotFound, ModelRepository

log = logging.getLogger(__name__)

DEFAULT_SIGNATURE = "serving_default"
SIGNATURE_DEF_FIELD = "signature_def"


class RequestError(Exception):
    """A request TF Serving would refuse: ``code`` is the gRPC status to answer with."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@contextlib.contextmanager
def failures_as_internal() -> Iterator[None]:
    """Lets :class:`RequestError` through; logs any other exception and raises it as an ``INTERNAL`` one."""
    try:
        yield
    except RequestError:
        raise
    except Exception as error:  # noqa: BLE001 - report it to the client instead of a bare UNKNOWN
        log.exception("request failed")
        raise RequestError(grpc.StatusCode.INTERNAL, f"{type(error).__name__}: {error}") from error


def _requested_version(spec: model_pb2.ModelSpec) -> int | None:
    if spec.WhichOneof("version_choice") == "version_label":
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                           f"Unrecognized servable version label: {spec.version_label}")
    return spec.version.value if spec.HasField("version") else None


def _servable(repository: ModelRepository, spec: model_pb2.ModelSpec) -> LoadedVersion:
    try:
        return repository.get(spec.name, _requested_version(spec))
    except ModelNotFound as error:
        raise RequestError(grpc.StatusCode.NOT_FOUND, str(error)) from error


def _signature(servable: LoadedVersion, name: str) -> meta_graph_pb2.SignatureDef:
    if name not in servable.signature_defs:
        raise RequestError(grpc.StatusCode.FAILED_PRECONDITION, f'Serving signature key "{name}" not found.')
    return servable.signature_defs[name]


def _reply_spec(target: model_pb2.ModelSpec, servable: LoadedVersion, signature_name: str | None) -> None:
    target.name = servable.name
    target.version.value = servable.version
    if signature_name is not None:
        target.signature_name = signature_name


def _dtype_name(dtype: int) -> str:
    return types_pb2.DataType.Name(dtype) if dtype in types_pb2.DataType.values() else f"dtype {dtype}"


def _shape_text(dims: list[int]) -> str:
    return "(" + ", ".join("?" if d < 0 else str(d) for d in dims) + ")"


def _input_array(key: str, tensor: tensor_pb2.TensorProto, info: meta_graph_pb2.TensorInfo) -> np.ndarray:
    """The request tensor ``key`` as an array, checked against the signature's TensorInfo."""
    if tensor.dtype != info.dtype:
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                           f"input '{key}' is {_dtype_name(tensor.dtype)}; the signature expects "
                           f"{_dtype_name(info.dtype)}")
    sent = [d.size for d in tensor.tensor_shape.dim]
    expected = [d.size for d in info.tensor_shape.dim]
    if not info.tensor_shape.unknown_rank and (
            len(sent) != len(expected) or any(e >= 0 and s != e for s, e in zip(sent, expected))):
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                           f"input '{key}' has shape {_shape_text(sent)}; the signature expects "
                           f"{_shape_text(expected)}")
    try:
        return tf.make_ndarray(tensor)
    except (ValueError, TypeError) as error:
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                           f"input '{key}' is not a valid tensor of shape {_shape_text(sent)}: {error}") from error


def _check_input_names(request: predict_pb2.PredictRequest, signature: meta_graph_pb2.SignatureDef) -> None:
    sent, expected = set(request.inputs), set(signature.inputs)
    if sent != expected:
        raise RequestError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"input size does not match signature: {len(sent)}!={len(expected)} len({{{','.join(sorted(sent))}}}) "
            f"!= len({{{','.join(sorted(expected))}}}). Sent extra: {{{','.join(sorted(sent - expected))}}}. "
            f"Missing but required: {{{','.join(sorted(expected - sent))}}}.")


def _output_names(request: predict_pb2.PredictRequest, signature: meta_graph_pb2.SignatureDef) -> list[str]:
    unknown = sorted(set(request.output_filter) - set(signature.outputs))
    if unknown:
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                           f"output tensor alias not found in signature: {', '.join(unknown)}. Outputs expected "
                           f"to be in the set {{{','.join(sorted(signature.outputs))}}}.")
    return list(request.output_filter) or sorted(signature.outputs)


def signature_inputs(repository: ModelRepository, spec: model_pb2.ModelSpec) -> Mapping[str, meta_graph_pb2.TensorInfo]:
    """The inputs (key -> TensorInfo) of the signature a Predict request with ``spec`` runs.

    TF Serving's REST API reads them to turn JSON into tensors of the right dtype.
    """
    servable = _servable(repository, spec)
    return _signature(servable, spec.signature_name or DEFAULT_SIGNATURE).inputs


def predict(repository: ModelRepository, request: predict_pb2.PredictRequest) -> predict_pb2.PredictResponse:
    """Run the requested signature on the request's inputs."""
    servable = _servable(repository, request.model_spec)
    signature_name = request.model_spec.signature_name or DEFAULT_SIGNATURE
    signature = _signature(servable, signature_name)
    _check_input_names(request, signature)
    inputs = {key: _input_array(key, request.inputs[key], signature.inputs[key]) for key in sorted(request.inputs)}
    outputs = _output_names(request, signature)
    try:
        results = servable.functions[signature_name](**{key: tf.constant(v) for key, v in inputs.items()})
    except (tf.errors.InvalidArgumentError, ValueError, TypeError) as error:
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, " ".join(str(error).split())) from error
    response = predict_pb2.PredictResponse()
    _reply_spec(response.model_spec, servable, signature_name)
    for key in outputs:
        response.outputs[key].CopyFrom(tf.make_tensor_proto(results[key].numpy()))
    return response


def model_metadata(repository: ModelRepository,
                   request: get_model_metadata_pb2.GetModelMetadataRequest
                   ) -> get_model_metadata_pb2.GetModelMetadataResponse:
    """The servable's SignatureDefs, packed as TF Serving packs them (``metadata["signature_def"]``)."""
    if not request.metadata_field:
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                           "GetModelMetadataRequest must specify at least one metadata_field")
    unsupported = [field for field in request.metadata_field if field != SIGNATURE_DEF_FIELD]
    if unsupported:
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"Metadata field {unsupported[0]} is not supported")
    servable = _servable(repository, request.model_spec)
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    for key, signature in servable.signature_defs.items():
        signature_map.signature_def[key].CopyFrom(signature)
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    _reply_spec(response.model_spec, servable, None)
    response.metadata[SIGNATURE_DEF_FIELD].Pack(signature_map)
    return response


def model_status(repository: ModelRepository,
                 request: get_model_status_pb2.GetModelStatusRequest
                 ) -> get_model_status_pb2.GetModelStatusResponse:
    """The state of every version of the model seen so far, or of the requested version."""
    try:
        states = repository.status(request.model_spec.name, _requested_version(request.model_spec))
    except ModelNotFound as error:
        raise RequestError(grpc.StatusCode.NOT_FOUND, str(error)) from error
    response = get_model_status_pb2.GetModelStatusResponse()
    for version, status in states.items():
        entry = response.model_version_status.add()
        entry.version = version
        entry.state = get_model_status_pb2.ModelVersionStatus.State.Value(status.state.value)
        entry.status.SetInParent()  # error_code OK, as TF Serving answers for a healthy version
        if status.error:
            entry.status.error_code = grpc.StatusCode.UNKNOWN.value[0]
            entry.status.error_message = status.error
    return response
