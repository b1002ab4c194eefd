"""Request counts and latencies of the local server, in Prometheus' text format under TF Serving's names.

TF Serving with ``--monitoring_config_file`` (``prometheus_config { enable: true path: ... }``) answers
``GET /monitoring/prometheus/metrics`` on its REST port; ``ssvae serve --monitoring`` does too, with the
two metrics of its requests as TF Serving names them (its ``util.cc``; ``/`` becomes ``:`` in Prometheus):

* ``:tensorflow:serving:request_count{model_name, status}``: every request naming a model, by the
  gRPC status code name of its answer (``OK``, ``NOT_FOUND``, ...);
* ``:tensorflow:serving:request_latency{model_name, API, entrypoint}``: a histogram of the wall time of
  the requests answered ``OK``, in microseconds, with TF Serving's buckets (10 us times powers of 1.8,
  33 of them); ``API`` is the RPC (``Predict``, ``GetModelMetadata``, ``GetModelStatus``) and
  ``entrypoint`` ``GRPC`` or ``REST``.

A model name the server does not serve is counted as ``(unknown)``, so that requests for made-up names
cannot grow the metrics without bound.
"""

from __future__ import annotations

import bisect
import contextlib
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator

import grpc

from serving.dev_server.handlers import RequestError

#: The content type of Prometheus' text exposition format.
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
REQUEST_COUNT, REQUEST_LATENCY = ":tensorflow:serving:request_count", ":tensorflow:serving:request_latency"
#: Upper bounds of the latency buckets in microseconds: TF Serving's ``Buckets::Exponential(10, 1.8, 33)``.
LATENCY_BUCKETS_US = tuple(10 * 1.8**index for index in range(33))
UNKNOWN_MODEL = "(unknown)"
_HELP = {REQUEST_COUNT: ("counter", "The total number of requests."),
         REQUEST_LATENCY: ("histogram", "Distribution of wall time (in microseconds) for Tensorflow Serving "
                                        "request.")}


def _labels(**values: str) -> str:
    """``{key="value",...}`` with the values escaped as the text format requires."""
    escaped = (value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") for value in values.values())
    return "{" + ",".join(f'{key}="{value}"' for key, value in zip(values, escaped)) + "}"


class Metrics:
    """Thread-safe request counts by (model, status) and latency histograms by (model, API, entrypoint).

    Args:
        served: whether a model name is one the server knows (others are counted as ``(unknown)``).
    """

    def __init__(self, served: Callable[[str], bool]):
        self._served = served
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], int] = defaultdict(int)
        #: per (model, API, entrypoint): the count of each bucket (the last one: over every bound), and the sum
        self._latency: dict[tuple[str, str, str], list] = {}

    @contextlib.contextmanager
    def request(self, model: str, api: str, entrypoint: str) -> Iterator[None]:
        """Count and time the request answered inside the block: ``OK`` unless it raises
        :class:`~serving.dev_server.handlers.RequestError` (its code) or anything else (``INTERNAL``)."""
        start = time.perf_counter()
        code = grpc.StatusCode.INTERNAL
        try:
            yield
            code = grpc.StatusCode.OK
        except RequestError as error:
            code = error.code
            raise
        finally:
            self.record(model, api, entrypoint, code, time.perf_counter() - start)

    def record(self, model: str, api: str, entrypoint: str, code: grpc.StatusCode, seconds: float) -> None:
        """One request for ``model`` through ``api`` at ``entrypoint``, answered ``code`` after ``seconds``."""
        model = model if self._served(model) else UNKNOWN_MODEL
        microseconds = 1e6 * seconds
        with self._lock:
            self._counts[model, code.name] += 1
            if code == grpc.StatusCode.OK:
                histogram = self._latency.setdefault((model, api, entrypoint), [0] * (len(LATENCY_BUCKETS_US) + 2))
                histogram[bisect.bisect_left(LATENCY_BUCKETS_US, microseconds)] += 1
                histogram[-1] += microseconds

    def prometheus_text(self) -> str:
        """Every metric in Prometheus' text exposition format (cumulative buckets, ``+Inf`` last)."""
        with self._lock:
            counts = sorted(self._counts.items())
            latency = sorted((key, list(value)) for key, value in self._latency.items())
        lines = []
        for name in (REQUEST_COUNT, REQUEST_LATENCY):
            kind, text = _HELP[name]
            lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
            if name == REQUEST_COUNT:
                lines += [f"{name}{_labels(model_name=model, status=status)} {count}"
                          for (model, status), count in counts]
                continue
            for (model, api, entrypoint), histogram in latency:
                labels = {"model_name": model, "API": api, "entrypoint": entrypoint}
                cumulative = 0
                for bound, count in zip((*LATENCY_BUCKETS_US, float("inf")), histogram[:-1]):
                    cumulative += count
                    le = "+Inf" if bound == float("inf") else f"{bound:.6g}"
                    lines.append(f"{name}_bucket{_labels(**labels, le=le)} {cumulative}")
                lines += [f"{name}_sum{_labels(**labels)} {histogram[-1]!r}",
                          f"{name}_count{_labels(**labels)} {cumulative}"]
        return "\n".join(lines) + "\n"
