"""The local server's metrics (``serving/dev_server/monitoring.py``) against Prometheus' text format, read back
by a small parser written here from the format's rules, and TF Serving's metric names and buckets."""

import re

import grpc
import pytest

from serving.dev_server.handlers import RequestError
from serving.dev_server.monitoring import LATENCY_BUCKETS_US, REQUEST_COUNT, REQUEST_LATENCY, UNKNOWN_MODEL, Metrics

SAMPLE = re.compile(r'([a-zA-Z_:][a-zA-Z0-9_:]*)\{((?:[a-zA-Z_]+="(?:[^"\\]|\\.)*",?)*)\} (\S+)')


def parse(text: str) -> tuple[dict[str, str], dict[tuple, float]]:
    """``# TYPE`` of each metric, and every sample as ``(name, ((label, value), ...)) -> number``."""
    types, samples = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            types[name] = kind
        elif line and not line.startswith("#"):
            name, labels, value = SAMPLE.fullmatch(line).groups()
            pairs = tuple((key, bytes(value, "ascii").decode("unicode_escape"))
                          for key, value in re.findall(r'([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"', labels))
            samples[name, pairs] = float(value)
    return types, samples


def latency(model: str, api: str, entrypoint: str, **extra: str) -> tuple:
    return (("model_name", model), ("API", api), ("entrypoint", entrypoint), *extra.items())


def test_counts_and_latency_histograms_under_tensorflow_servings_names():
    metrics = Metrics(served=lambda name: name in {"ssvae_encoder", 'odd "name"\\'})
    seconds = [30e-6, 0.002, 0.002, 1.5]  # 30 us, 2 ms twice, 1.5 s
    for value in seconds:
        metrics.record("ssvae_encoder", "Predict", "GRPC", grpc.StatusCode.OK, value)
    metrics.record("ssvae_encoder", "Predict", "GRPC", grpc.StatusCode.INVALID_ARGUMENT, 0.001)
    metrics.record("made_up", "Predict", "REST", grpc.StatusCode.NOT_FOUND, 0.001)
    metrics.record('odd "name"\\', "GetModelStatus", "REST", grpc.StatusCode.OK, 0.001)
    types, samples = parse(metrics.prometheus_text())

    assert types == {REQUEST_COUNT: "counter", REQUEST_LATENCY: "histogram"}
    assert REQUEST_COUNT == ":tensorflow:serving:request_count" and \
        REQUEST_LATENCY == ":tensorflow:serving:request_latency"
    counts = {dict(labels)["model_name"] + "/" + dict(labels)["status"]: value
              for (name, labels), value in samples.items() if name == REQUEST_COUNT}
    assert counts == {"ssvae_encoder/OK": 4, "ssvae_encoder/INVALID_ARGUMENT": 1, f"{UNKNOWN_MODEL}/NOT_FOUND": 1,
                      'odd "name"\\/OK': 1}

    bounds = [10 * 1.8**i for i in range(33)]  # TF Serving's Buckets::Exponential(10, 1.8, 33), in microseconds
    assert LATENCY_BUCKETS_US == pytest.approx(bounds)
    labels = latency("ssvae_encoder", "Predict", "GRPC")
    buckets = {key[1][-1][1]: value for key, value in samples.items()
               if key[0] == REQUEST_LATENCY + "_bucket" and key[1][:3] == labels}
    assert len(buckets) == 34 and buckets["+Inf"] == 4  # only the OK answers are timed, as TF Serving does
    for text, cumulative in buckets.items():
        bound = float("inf") if text == "+Inf" else float(text)
        assert cumulative == sum(1e6 * value <= bound * (1 + 1e-6) for value in seconds), text
    assert samples[REQUEST_LATENCY + "_count", labels] == 4
    assert samples[REQUEST_LATENCY + "_sum", labels] == pytest.approx(1e6 * sum(seconds))
    assert (REQUEST_LATENCY + "_count", latency('odd "name"\\', "GetModelStatus", "REST")) in samples


def test_a_timed_block_counts_its_outcome():
    metrics = Metrics(served=lambda name: True)
    with metrics.request("m", "Predict", "GRPC"):
        pass
    with pytest.raises(RequestError), metrics.request("m", "Predict", "GRPC"):
        raise RequestError(grpc.StatusCode.FAILED_PRECONDITION, "no such signature")
    with pytest.raises(ZeroDivisionError), metrics.request("m", "Predict", "GRPC"):
        1 / 0  # noqa: B018 - a failure of the server
    _, samples = parse(metrics.prometheus_text())
    counts = {dict(labels)["status"]: value for (name, labels), value in samples.items() if name == REQUEST_COUNT}
    assert counts == {"OK": 1, "FAILED_PRECONDITION": 1, "INTERNAL": 1}
    types, samples = parse(Metrics(served=lambda name: True).prometheus_text())
    assert types == {REQUEST_COUNT: "counter", REQUEST_LATENCY: "histogram"} and samples == {}  # before any request
