"""Server-side batching for the local server, after TF Serving's ``--enable_batching``: ``ssvae serve --enable-batching``.

Concurrent Predict requests for the same servable, signature and outputs, whose inputs differ only in their
batch size, are joined into one call of the model and their answers split again.  The parameters are TF
Serving's ``BatchingParameters`` (``serving/batching.config``, read with :func:`read_batching_parameters`):

* ``max_batch_size``: most items in one batch (and in one request);
* ``batch_timeout_micros``: how long a batch may wait for more requests once it holds one; 0: it runs as
  soon as a batch thread is free (requests arriving meanwhile join it);
* ``num_batch_threads``: batches run at once;
* ``max_enqueued_batches``: batches waiting for a thread, per model input layout; a request that would need
  one more is refused ``UNAVAILABLE`` (a client retries it, :class:`serving.client.RetryPolicy`).

Off by default, as in TF Serving.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import numpy as np
import tensorflow as tf
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format, wrappers_pb2

from serving.dev_server.handlers import RequestError


def batching_parameters_class() -> type:
    """``tensorflow.serving.BatchingParameters`` (TF Serving's ``session_bundle_config.proto``).

    tensorflow-serving-api does not ship this message, so it is declared here with TF Serving's field names,
    numbers and types.
    """
    pool = descriptor_pool.DescriptorPool()
    wrappers = descriptor_pb2.FileDescriptorProto()
    wrappers_pb2.DESCRIPTOR.CopyToProto(wrappers)
    pool.Add(wrappers)
    proto = descriptor_pb2.FileDescriptorProto(name="tensorflow_serving/batching_parameters.proto",
                                               package="tensorflow.serving", syntax="proto3",
                                               dependency=["google/protobuf/wrappers.proto"])
    message = proto.message_type.add(name="BatchingParameters")
    kind = descriptor_pb2.FieldDescriptorProto
    for number, (name, wrapper) in enumerate([("max_batch_size", "Int64Value"), ("batch_timeout_micros", "Int64Value"),
                                              ("max_enqueued_batches", "Int64Value"),
                                              ("num_batch_threads", "Int64Value"),
                                              ("thread_pool_name", "StringValue")], start=1):
        message.field.add(name=name, number=number, type=kind.TYPE_MESSAGE, label=kind.LABEL_OPTIONAL,
                          type_name=f".google.protobuf.{wrapper}")
    message.field.add(name="allowed_batch_sizes", number=6, type=kind.TYPE_INT64, label=kind.LABEL_REPEATED)
    message.field.add(name="pad_variable_length_inputs", number=7, type=kind.TYPE_BOOL, label=kind.LABEL_OPTIONAL)
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters"))


@dataclass(frozen=True)
class BatchingParameters:
    """The batching parameters the local server follows; the defaults are TF Serving's (threads: the cores)."""

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    num_batch_threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    max_enqueued_batches: int = 10

    def __post_init__(self):
        for name in ("max_batch_size", "num_batch_threads", "max_enqueued_batches"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.batch_timeout_micros < 0:
            raise ValueError(f"batch_timeout_micros must be >= 0, got {self.batch_timeout_micros}")


def read_batching_parameters(path: str | os.PathLike) -> BatchingParameters:
    """The ``BatchingParameters`` of a TF Serving ``--batching_parameters_file`` (ASCII protobuf); fields it
    leaves out take TF Serving's defaults.  Unknown fields or bad values: one-line ``ValueError``."""
    path = Path(path)
    try:
        parsed = text_format.Parse(path.read_text(), batching_parameters_class()())
    except (OSError, text_format.ParseError) as error:
        raise ValueError(f"{path} is not a TF Serving batching parameters file: {error}") from error
    given = {name: getattr(parsed, name).value for name in ("max_batch_size", "batch_timeout_micros",
                                                            "num_batch_threads", "max_enqueued_batches")
             if parsed.HasField(name)}
    try:
        return BatchingParameters(**given)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from error


class _Task:
    """One request in a batch: its inputs, its item count, and its answer once the batch has run."""

    def __init__(self, inputs: Mapping[str, np.ndarray], size: int):
        self.inputs, self.size = inputs, size
        self.done = threading.Event()
        self.outputs: dict[str, np.ndarray] | None = None
        self.error: BaseException | None = None


@dataclass
class _Batch:
    function: Callable
    outputs: tuple[str, ...]
    opened: float
    tasks: list[_Task] = field(default_factory=list)
    size: int = 0


class Batcher:
    """Runs signature calls in batches on ``parameters.num_batch_threads`` threads (see the module's notes)."""

    def __init__(self, parameters: BatchingParameters):
        self.parameters = parameters
        self._timeout = parameters.batch_timeout_micros / 1e6
        self._lock = threading.Condition()
        self._queues: dict[Hashable, deque[_Batch]] = {}
        self._stopping = False
        #: Batches run, and the requests they held (their ratio: the mean batch, in requests).
        self.batches_run = self.requests_run = 0
        self._threads = [threading.Thread(target=self._work, name=f"batch-{index}", daemon=True)
                         for index in range(parameters.num_batch_threads)]
        for thread in self._threads:
            thread.start()

    def run(self, key: Hashable, function: Callable, inputs: Mapping[str, np.ndarray],
            outputs: tuple[str, ...]) -> dict[str, np.ndarray]:
        """``function(**inputs)``'s ``outputs`` as arrays (``inputs``: arrays whose first axis is the batch),
        computed in a batch with other calls of the same ``key`` (the same function, outputs, and input shapes
        but the first); ``UNAVAILABLE`` when the queue is full."""
        size = len(next(iter(inputs.values())))
        task = _Task(inputs, size)
        with self._lock:
            queue = self._queues.setdefault(key, deque())
            if not queue or queue[-1].size + size > self.parameters.max_batch_size:
                if len(queue) >= self.parameters.max_enqueued_batches:
                    raise RequestError(grpc.StatusCode.UNAVAILABLE, "The batch scheduling queue to which this task "
                                                                    "was submitted is full")
                queue.append(_Batch(function, outputs, time.monotonic()))
            queue[-1].tasks.append(task)
            queue[-1].size += size
            self._lock.notify()
        task.done.wait()
        if task.error is not None:
            raise task.error
        return task.outputs

    def _next_batch(self) -> _Batch | float | None:
        """The batch to run now (full, followed by another, or open for ``batch_timeout_micros``; any when
        stopping), else when the next one will be due (``None``: none is waiting)."""
        now, due = time.monotonic(), None
        for key, queue in self._queues.items():
            batch = queue[0]
            ready_at = batch.opened + self._timeout
            if batch.size >= self.parameters.max_batch_size or len(queue) > 1 or ready_at <= now or self._stopping:
                queue.popleft()
                if not queue:
                    del self._queues[key]
                return batch
            due = ready_at if due is None else min(due, ready_at)
        return due

    def _work(self) -> None:
        while True:
            with self._lock:
                while True:
                    batch = self._next_batch()
                    if isinstance(batch, _Batch):
                        break
                    if self._stopping:  # and every batch has run
                        return
                    self._lock.wait(None if batch is None else batch - time.monotonic())
                self.batches_run += 1
                self.requests_run += len(batch.tasks)
            self._run(batch)

    @staticmethod
    def _run(batch: _Batch) -> None:
        try:
            names = batch.tasks[0].inputs
            joined = {name: tf.constant(np.concatenate([task.inputs[name] for task in batch.tasks])
                                        if len(batch.tasks) > 1 else batch.tasks[0].inputs[name]) for name in names}
            results = batch.function(**joined)
            arrays = {name: results[name].numpy() for name in batch.outputs}
            if any(array.shape[:1] != (batch.size,) for array in arrays.values()):
                raise RequestError(grpc.StatusCode.INTERNAL, f"a batch of {batch.size} items was answered with "
                                   f"outputs of shapes {[a.shape for a in arrays.values()]}: not one item each")
            start = 0
            for task in batch.tasks:
                task.outputs = {name: array[start:start + task.size] for name, array in arrays.items()}
                start += task.size
        except BaseException as error:  # noqa: BLE001 - every request of the batch gets the failure
            for task in batch.tasks:
                task.error = error
        finally:
            for task in batch.tasks:
                task.done.set()

    def stop(self) -> None:
        """Run the batches waiting, then stop the batch threads."""
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        for thread in self._threads:
            thread.join()
