"""Server-side batching (``serving/dev_server/batching.py``) with a stand-in model: requests joined into batches
within the parameters, each answered with its own rows, a full queue refused as TF Serving refuses it."""

import threading
from concurrent import futures

import grpc
import numpy as np
import pytest
import tensorflow as tf

from serving.dev_server.batching import Batcher, BatchingParameters
from serving.dev_server.handlers import RequestError


class Model:
    """``y = 2 x + 1`` on a batch, recording the batch sizes it was called with; ``gate`` holds calls back."""

    def __init__(self):
        self.sizes, self.gate = [], threading.Event()
        self.gate.set()

    def __call__(self, x):
        self.gate.wait(30)
        self.sizes.append(int(x.shape[0]))
        return {"y": 2 * x + 1, "unused": x}


def send(batcher: Batcher, model: Model, rows: list[np.ndarray]) -> list[np.ndarray]:
    """Each array of ``rows`` as a request of its own, all at once; their answers."""
    key = (model, ("y",), ((1,), "<f4"))
    with futures.ThreadPoolExecutor(len(rows)) as pool:
        return list(pool.map(lambda x: batcher.run(key, model, {"x": x}, ("y",))["y"], rows))


@pytest.fixture
def batchers():
    made = []

    def make(**parameters) -> Batcher:
        made.append(Batcher(BatchingParameters(**parameters)))
        return made[-1]
    yield make
    for batcher in made:
        batcher.stop()


def test_concurrent_requests_run_as_one_batch_and_get_their_own_rows(batchers):
    batcher, model = batchers(max_batch_size=16, batch_timeout_micros=300_000, num_batch_threads=1), Model()
    rows = [np.full((size, 1), index, np.float32) for index, size in enumerate([1, 3, 1, 2, 1, 1, 4, 1])]
    answers = send(batcher, model, rows)
    for x, y in zip(rows, answers):
        np.testing.assert_array_equal(y, 2 * x + 1)
    assert model.sizes == [14] and (batcher.batches_run, batcher.requests_run) == (1, 8)


def test_batches_stay_within_max_batch_size(batchers):
    batcher, model = batchers(max_batch_size=3, batch_timeout_micros=200_000, num_batch_threads=2,
                              max_enqueued_batches=10), Model()
    rows = [np.full((1, 1), index, np.float32) for index in range(10)]
    answers = send(batcher, model, rows)
    np.testing.assert_array_equal(np.concatenate(answers), 2 * np.concatenate(rows) + 1)
    assert sum(model.sizes) == 10 and max(model.sizes) <= 3 and len(model.sizes) >= 4


def test_without_a_timeout_requests_arriving_meanwhile_join_the_next_batch(batchers):
    """``batch_timeout_micros`` 0 (the CPU setting of batching.config): a batch runs once a thread is free."""
    batcher, model = batchers(max_batch_size=100, batch_timeout_micros=0, num_batch_threads=1), Model()
    model.gate.clear()  # the first batch holds the only thread while the others arrive
    key = (model, ("y",), ((1,), "<f4"))
    with futures.ThreadPoolExecutor(6) as pool:
        first = pool.submit(batcher.run, key, model, {"x": np.zeros((1, 1), np.float32)}, ("y",))
        while batcher.batches_run == 0:
            threading.Event().wait(0.001)
        rest = [pool.submit(batcher.run, key, model, {"x": np.ones((1, 1), np.float32)}, ("y",)) for _ in range(5)]
        threading.Event().wait(0.2)
        model.gate.set()
        assert first.result()["y"].tolist() == [[1.0]] and [r.result()["y"].tolist() for r in rest] == [[[3.0]]] * 5
    assert model.sizes == [1, 5]


def test_a_full_queue_is_unavailable_and_failures_reach_every_request_of_the_batch(batchers):
    batcher, model = batchers(max_batch_size=1, num_batch_threads=1, max_enqueued_batches=1), Model()
    model.gate.clear()
    key = (model, ("y",), ((1,), "<f4"))
    x = np.zeros((1, 1), np.float32)
    with futures.ThreadPoolExecutor(2) as pool:
        running = pool.submit(batcher.run, key, model, {"x": x}, ("y",))
        while batcher.batches_run == 0:
            threading.Event().wait(0.001)
        waiting = pool.submit(batcher.run, key, model, {"x": x}, ("y",))  # the one batch the queue may hold
        while not batcher._queues:
            threading.Event().wait(0.001)
        with pytest.raises(RequestError) as full:
            batcher.run(key, model, {"x": x}, ("y",))
        assert full.value.code == grpc.StatusCode.UNAVAILABLE and "queue" in full.value.message
        model.gate.set()
        assert running.result()["y"].tolist() == waiting.result()["y"].tolist() == [[1.0]]

    def broken(x):
        raise tf.errors.InvalidArgumentError(None, None, "no good")
    with pytest.raises(tf.errors.InvalidArgumentError, match="no good"):
        batcher.run((broken,), broken, {"x": x}, ("y",))


def test_parameters_out_of_range_are_refused():
    for parameters, message in [({"max_batch_size": 0}, "max_batch_size"), ({"num_batch_threads": 0}, "threads"),
                                ({"batch_timeout_micros": -1}, "batch_timeout_micros")]:
        with pytest.raises(ValueError, match=message):
            BatchingParameters(**parameters)
