"""TF Serving's Predict, GetModelMetadata and GetModelStatus over a :class:`ModelRepository`.

Protocol buffers in, protocol buffers out; a refused request raises
:class:`RequestError` with the gRPC status code TF Serving answers with:

* unknown model or version -> ``NOT_FOUND``;
* unknown signature -> ``FAILED_PRECONDITION``;
* missing or extra inputs, wrong dtype or shape, unknown ``output_filter``
  entry, unsupported metadata field or version label -> ``INVALID_ARGUMENT``.

``signature_name`` defaults to ``serving_default``, an empty ``output_filter``
returns every output, and responses carry the model name, the version that
answered and the signature name.  The REST API (:mod:`serving.dev_server.rest`) turns
its JSON into the same requests, so both APIs validate alike.

A Predict request is checked before anything is made of it (:class:`RequestLimits`):

* the shapes its TensorProtos declare (non-negative, of the signature's rank
  and sizes), against the signature -> ``INVALID_ARGUMENT``;
* an empty batch, or more items than ``max_batch_size`` -> ``INVALID_ARGUMENT``
  (TF Serving's REST API refuses an empty ``instances`` list, its batching a task
  over ``max_batch_size``);
* the size its inputs declare (a TensorProto of one value stands for a tensor
  of any shape filled with it) and the size of the answer the signature's
  output shapes give for that batch, against the message limit ->
  ``RESOURCE_EXHAUSTED``, before any tensor is made or the model runs;
* the number of values against the shape (TF's rule: as many as the shape
  holds, or fewer, the last repeated; ``tensor_content`` of exactly the size)
  -> ``INVALID_ARGUMENT``;
* NaN or infinite input values -> ``INVALID_ARGUMENT``: a served graph may
  not propagate them as Keras does (TensorFlow's oneDNN kernels, on by default
  on CPUs with AVX-512, fuse convolution and ReLU and turn NaN into 0, so a NaN
  pixel gives a normal-looking code), so they are refused rather than answered
  differently from Keras.

Names a request carries are shortened in error messages (:func:`shown`): an
answer echoing a megabyte name would overflow gRPC's metadata limit.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
    predict_pb2,
)

from serving.dev_server.repository import LoadedVersion, ModelNotFound, ModelRepository, shown
from ssvae_tf.export_contract import SIGNATURE

log = logging.getLogger(__name__)

SIGNATURE_DEF_FIELD = "signature_def"
_INVALID, _EXHAUSTED = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED
#: The repeated field of a TensorProto holding values of each dtype, and how many entries one value takes.
_VALUE_FIELDS = {
    types_pb2.DT_FLOAT: ("float_val", 1), types_pb2.DT_DOUBLE: ("double_val", 1),
    types_pb2.DT_HALF: ("half_val", 1), types_pb2.DT_BFLOAT16: ("half_val", 1),
    types_pb2.DT_INT32: ("int_val", 1), types_pb2.DT_INT16: ("int_val", 1), types_pb2.DT_INT8: ("int_val", 1),
    types_pb2.DT_UINT8: ("int_val", 1), types_pb2.DT_UINT16: ("int_val", 1), types_pb2.DT_INT64: ("int64_val", 1),
    types_pb2.DT_UINT32: ("uint32_val", 1), types_pb2.DT_UINT64: ("uint64_val", 1),
    types_pb2.DT_BOOL: ("bool_val", 1), types_pb2.DT_STRING: ("string_val", 1),
    types_pb2.DT_COMPLEX64: ("scomplex_val", 2), types_pb2.DT_COMPLEX128: ("dcomplex_val", 2),
}


class RequestError(Exception):
    """A request TF Serving would refuse: ``code`` is the gRPC status to answer with."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class RequestLimits:
    """What one Predict request may ask for; ``None``: no limit.

    Attributes:
        max_request_bytes: the dense size of all inputs as their TensorProtos declare them (values x
            dtype size). A TensorProto may declare any shape with a single value (TF fills the tensor
            with it), so a 57-byte request can stand for gigabytes: it is refused before any tensor is made.
        max_response_bytes: the size of the answer, from the batch size and the signature's output
            shapes, checked before the model runs (and again on the outputs computed).
        response_bytes_per_value: bytes an output value takes in the answer; ``None``: its dtype's
            size, as in a tensor (REST: the length of a number in JSON).
        max_batch_size: most items per request (TF Serving's batching ``max_batch_size``).
    """

    max_request_bytes: int | None = None
    max_response_bytes: int | None = None
    response_bytes_per_value: int | None = None
    max_batch_size: int | None = None

    @classmethod
    def for_messages(cls, max_message_bytes: int, max_batch_size: int | None = None) -> RequestLimits:
        """Requests and answers within ``max_message_bytes``, as gRPC's message limit (``--max-message-mb``)."""
        return cls(max_message_bytes, max_message_bytes, None, max_batch_size)


NO_LIMITS = RequestLimits()


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
        raise RequestError(_INVALID, f"Unrecognized servable version label: {shown(spec.version_label)}")
    return spec.version.value if spec.HasField("version") else None


def _servable(repository: ModelRepository, spec: model_pb2.ModelSpec) -> LoadedVersion:
    try:
        return repository.get(spec.name, _requested_version(spec))
    except ModelNotFound as error:
        raise RequestError(grpc.StatusCode.NOT_FOUND, str(error)) from error


def _signature(servable: LoadedVersion, name: str) -> meta_graph_pb2.SignatureDef:
    if name not in servable.signature_defs:
        raise RequestError(grpc.StatusCode.FAILED_PRECONDITION, f'Serving signature key "{shown(name)}" not found.')
    return servable.signature_defs[name]


def _reply_spec(target: model_pb2.ModelSpec, servable: LoadedVersion, signature_name: str | None) -> None:
    target.name = servable.name
    target.version.value = servable.version
    if signature_name is not None:
        target.signature_name = signature_name


def _dtype_name(dtype: int) -> str:
    return types_pb2.DataType.Name(dtype) if dtype in types_pb2.DataType.values() else f"dtype {dtype}"


def _dtype_size(dtype: int) -> int:
    """Bytes of one value of ``dtype`` in a tensor (8 for strings, whose size is unknown)."""
    try:
        return tf.dtypes.as_dtype(dtype).size
    except (TypeError, ValueError):
        return 8


def _shape_text(dims: list[int]) -> str:
    return "(" + ", ".join("?" if d < 0 else str(d) for d in dims) + ")"


def _declared_shape(key: str, tensor: tensor_pb2.TensorProto, info: meta_graph_pb2.TensorInfo) -> list[int]:
    """The shape request tensor ``key`` declares, checked against the signature's TensorInfo (nothing is made)."""
    if tensor.dtype != info.dtype:
        raise RequestError(_INVALID, f"input '{shown(key)}' is {_dtype_name(tensor.dtype)}; the signature expects "
                                     f"{_dtype_name(info.dtype)}")
    sent = [d.size for d in tensor.tensor_shape.dim]
    if tensor.tensor_shape.unknown_rank or any(size < 0 for size in sent):
        raise RequestError(_INVALID, f"input '{shown(key)}' has shape "
                                     f"{'of unknown rank' if tensor.tensor_shape.unknown_rank else sent}; a "
                                     "request tensor needs a known shape of non-negative sizes")
    expected = [d.size for d in info.tensor_shape.dim]
    if not info.tensor_shape.unknown_rank and (
            len(sent) != len(expected) or any(e >= 0 and s != e for s, e in zip(sent, expected))):
        raise RequestError(_INVALID, f"input '{shown(key)}' has shape {_shape_text(sent)}; the signature expects "
                                     f"{_shape_text(expected)}")
    return sent


def _batch_size(shapes: Mapping[str, list[int]], signature: meta_graph_pb2.SignatureDef,
                limits: RequestLimits) -> int | None:
    """The items in the request: the first size of the inputs whose signature leaves it open (``None``: none does).

    An empty batch, and one over ``limits.max_batch_size``, are ``INVALID_ARGUMENT``.
    """
    sizes = {shape[0] for key, shape in shapes.items() if shape and _open_batch(signature.inputs[key])}
    if not sizes:
        return None
    if 0 in sizes:
        raise RequestError(_INVALID, "the request holds no items (an empty batch): send at least one")
    batch = max(sizes)
    if limits.max_batch_size is not None and batch > limits.max_batch_size:
        raise RequestError(_INVALID, f"Task size {batch} is larger than maximum input batch size "
                                     f"{limits.max_batch_size}")
    return batch


def _open_batch(info: meta_graph_pb2.TensorInfo) -> bool:
    dims = info.tensor_shape.dim
    return info.tensor_shape.unknown_rank or (len(dims) > 0 and dims[0].size < 0)


def _check_sizes(request: predict_pb2.PredictRequest, shapes: Mapping[str, list[int]],
                 signature: meta_graph_pb2.SignatureDef, outputs: list[str], batch: int | None,
                 limits: RequestLimits) -> None:
    """Refuse (``RESOURCE_EXHAUSTED``) inputs declaring, or an answer needing, more bytes than the limits allow."""
    if limits.max_request_bytes is not None:
        declared = sum(math.prod(shape) * _dtype_size(request.inputs[key].dtype) for key, shape in shapes.items())
        if declared > limits.max_request_bytes:
            raise RequestError(_EXHAUSTED, f"the inputs declare {declared} bytes of tensors "
                                           f"({', '.join(f'{shown(k)} {_shape_text(s)}' for k, s in shapes.items())}),"
                                           f" more than the limit of {limits.max_request_bytes} bytes of a message")
    if limits.max_response_bytes is None:
        return
    item_bytes, fixed_bytes = 0, 0
    for key in outputs:
        info = signature.outputs[key]
        dims = [d.size for d in info.tensor_shape.dim]
        if info.tensor_shape.unknown_rank or any(d < 0 for d in dims[1:]):
            continue  # not known before it is computed: checked on the outputs
        value_bytes = limits.response_bytes_per_value or _dtype_size(info.dtype)
        if dims and dims[0] < 0:
            item_bytes += math.prod(dims[1:]) * value_bytes
        else:
            fixed_bytes += math.prod(dims) * value_bytes
    answer = fixed_bytes + (batch or 0) * item_bytes
    if answer > limits.max_response_bytes:
        most = max(0, (limits.max_response_bytes - fixed_bytes) // item_bytes) if item_bytes else 0
        raise RequestError(_EXHAUSTED, f"the answer to {batch} items would take {answer} bytes, more than the limit "
                                       f"of {limits.max_response_bytes} bytes of a message: ask for at most {most} "
                                       "items per request")


def _input_array(key: str, tensor: tensor_pb2.TensorProto, shape: list[int]) -> np.ndarray:
    """Request tensor ``key`` (of the checked ``shape``) as an array; its number of values and finiteness checked."""
    size = math.prod(shape)
    content = tensor.tensor_content
    if content:
        itemsize = _dtype_size(tensor.dtype)
        if len(content) != size * itemsize:
            raise RequestError(_INVALID, f"input '{shown(key)}' holds {len(content)} bytes of tensor_content; its "
                                         f"shape {_shape_text(shape)} of {_dtype_name(tensor.dtype)} takes "
                                         f"{size * itemsize}")
        try:
            array = np.frombuffer(content, dtype=tf.dtypes.as_dtype(tensor.dtype).as_numpy_dtype).reshape(shape)
        except (TypeError, ValueError) as error:
            raise RequestError(_INVALID, f"input '{shown(key)}' is not a valid tensor: {error}") from error
    else:
        field, per_value = _VALUE_FIELDS.get(tensor.dtype, (None, 1))
        count = len(getattr(tensor, field)) // per_value if field else 0
        if count > size:  # fewer are TF's shorthand: the last value repeated
            raise RequestError(_INVALID, f"input '{shown(key)}' holds {count} values; its shape "
                                         f"{_shape_text(shape)} takes {size} (or fewer: the last one is repeated)")
        try:
            array = tf.make_ndarray(tensor)
        except (ValueError, TypeError) as error:
            raise RequestError(_INVALID, f"input '{shown(key)}' is not a valid tensor of shape "
                                         f"{_shape_text(shape)}: {error}") from error
    if array.dtype.kind in "fc" and not np.isfinite(array).all():
        item = int(np.argwhere(~np.isfinite(array))[0][0]) if array.ndim else 0
        raise RequestError(_INVALID, f"input '{shown(key)}' holds NaN or infinite values (item {item}); the model "
                                     "takes finite numbers")
    return array


def _check_input_names(request: predict_pb2.PredictRequest, signature: meta_graph_pb2.SignatureDef) -> None:
    sent, expected = set(request.inputs), set(signature.inputs)
    if sent != expected:
        def names(keys: set[str]) -> str:
            listed = sorted(keys)
            return ",".join(shown(k, 40) for k in listed[:10]) + (f",... ({len(listed)} in all)" if len(listed) > 10
                                                                   else "")

        raise RequestError(
            _INVALID,
            f"input size does not match signature: {len(sent)}!={len(expected)} len({{{names(sent)}}}) "
            f"!= len({{{names(expected)}}}). Sent extra: {{{names(sent - expected)}}}. "
            f"Missing but required: {{{names(expected - sent)}}}.")


def _output_names(request: predict_pb2.PredictRequest, signature: meta_graph_pb2.SignatureDef) -> list[str]:
    unknown = sorted(set(request.output_filter) - set(signature.outputs))
    if unknown:
        listed = ", ".join(shown(name, 40) for name in unknown[:10]) + (", ..." if len(unknown) > 10 else "")
        raise RequestError(_INVALID, f"output tensor alias not found in signature: {listed}. Outputs expected "
                                     f"to be in the set {{{','.join(sorted(signature.outputs))}}}.")
    return list(dict.fromkeys(request.output_filter)) or sorted(signature.outputs)


def signature_inputs(repository: ModelRepository, spec: model_pb2.ModelSpec) -> Mapping[str, meta_graph_pb2.TensorInfo]:
    """The inputs (key -> TensorInfo) of the signature a Predict request with ``spec`` runs.

    TF Serving's REST API reads them to turn JSON into tensors of the right dtype.
    """
    servable = _servable(repository, spec)
    return _signature(servable, spec.signature_name or SIGNATURE).inputs


@dataclass(frozen=True)
class Prediction:
    """The answer to a Predict request: who answered, and the requested outputs as arrays."""

    servable: LoadedVersion
    signature_name: str
    outputs: dict[str, np.ndarray]


class BatchRunner(Protocol):
    """Runs signature calls together in batches (:class:`serving.dev_server.batching.Batcher`)."""

    def run(self, key: Hashable, function: Callable, inputs: Mapping[str, np.ndarray],
            outputs: tuple[str, ...]) -> dict[str, np.ndarray]: ...


def run_predict(repository: ModelRepository, request: predict_pb2.PredictRequest,
                limits: RequestLimits = NO_LIMITS, batcher: BatchRunner | None = None) -> Prediction:
    """Check the request (see the module's notes) and run the requested signature on its inputs; with
    ``batcher``, in a batch with other requests when every input of the signature is batched (batch first)."""
    servable = _servable(repository, request.model_spec)
    signature_name = request.model_spec.signature_name or SIGNATURE
    signature = _signature(servable, signature_name)
    _check_input_names(request, signature)
    shapes = {key: _declared_shape(key, request.inputs[key], signature.inputs[key]) for key in sorted(request.inputs)}
    outputs = _output_names(request, signature)
    batch = _batch_size(shapes, signature, limits)
    _check_sizes(request, shapes, signature, outputs, batch, limits)
    inputs = {key: _input_array(key, request.inputs[key], shape) for key, shape in shapes.items()}
    function = servable.functions[signature_name]
    try:
        if batcher is not None and batch is not None and all(_open_batch(signature.inputs[key]) for key in inputs):
            key = (function, tuple(outputs), tuple((name, array.shape[1:], array.dtype.str)
                                                   for name, array in inputs.items()))
            arrays = batcher.run(key, function, inputs, tuple(outputs))
        else:
            results = function(**{key: tf.constant(array) for key, array in inputs.items()})
            arrays = {key: results[key].numpy() for key in outputs}
    except (tf.errors.InvalidArgumentError, ValueError, TypeError) as error:
        raise RequestError(_INVALID, " ".join(str(error).split())) from error
    except tf.errors.ResourceExhaustedError as error:
        raise RequestError(_EXHAUSTED, " ".join(str(error).split())) from error
    if limits.max_response_bytes is not None:
        answer = sum(array.size * (limits.response_bytes_per_value or array.itemsize) for array in arrays.values())
        if answer > limits.max_response_bytes:
            raise RequestError(_EXHAUSTED, f"the answer takes {answer} bytes, more than the limit of "
                                           f"{limits.max_response_bytes} bytes of a message")
    return Prediction(servable, signature_name, arrays)


def tensor_proto(array: np.ndarray) -> tensor_pb2.TensorProto:
    """``array`` as a TensorProto (its bytes in ``tensor_content``), as ``tf.make_tensor_proto`` writes it, faster."""
    array = np.ascontiguousarray(array)
    if array.dtype.kind not in "biufc":
        return tf.make_tensor_proto(array)
    proto = tensor_pb2.TensorProto(dtype=tf.dtypes.as_dtype(array.dtype).as_datatype_enum,
                                   tensor_content=array.tobytes())
    proto.tensor_shape.dim.extend(tensor_shape_pb2.TensorShapeProto.Dim(size=size) for size in array.shape)
    return proto


def predict(repository: ModelRepository, request: predict_pb2.PredictRequest,
            limits: RequestLimits = NO_LIMITS, batcher: BatchRunner | None = None) -> predict_pb2.PredictResponse:
    """Run the requested signature on the request's inputs (see :func:`run_predict`); the outputs as a
    PredictResponse."""
    prediction = run_predict(repository, request, limits, batcher)
    response = predict_pb2.PredictResponse()
    _reply_spec(response.model_spec, prediction.servable, prediction.signature_name)
    for key, array in prediction.outputs.items():
        response.outputs[key].CopyFrom(tensor_proto(array))
    return response


def model_metadata(repository: ModelRepository,
                   request: get_model_metadata_pb2.GetModelMetadataRequest
                   ) -> get_model_metadata_pb2.GetModelMetadataResponse:
    """The servable's SignatureDefs, packed as TF Serving packs them (``metadata["signature_def"]``)."""
    if not request.metadata_field:
        raise RequestError(_INVALID,
                           "GetModelMetadataRequest must specify at least one metadata_field")
    unsupported = [field for field in request.metadata_field if field != SIGNATURE_DEF_FIELD]
    if unsupported:
        raise RequestError(_INVALID, f"Metadata field {shown(unsupported[0])} is not supported")
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
