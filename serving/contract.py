"""The serving defaults and limits: the one home of what the client, the development server and ``ssvae`` show.

Light (imports nothing): ``ssvae serve | encode | decode --help`` read their
defaults and ranges here, and :mod:`serving.client` and
:mod:`serving.dev_server` use the same values.  The export's own facts (model
names, signature, the largest version) are in :mod:`ssvae_tf.export_contract`.
"""

from __future__ import annotations

from pathlib import Path

MIB = 1024 * 1024

#: TF Serving's gRPC port, where the development server listens and clients connect by default.
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8500
DEFAULT_TARGET = f"localhost:{DEFAULT_PORT}"
#: Seconds a client waits for each request.
DEFAULT_TIMEOUT = 30.0
#: Matches ``max_batch_size`` in ``serving/batching.config``: TF Serving with
#: batching refuses a request holding more items than that.
DEFAULT_MAX_BATCH_SIZE = 256
#: Largest request or response, in bytes (64 MiB).
DEFAULT_MAX_MESSAGE_BYTES = 64 * MIB
#: Threads of the development server answering gRPC requests.
DEFAULT_WORKERS = 8
#: How often, in seconds, the development server looks for new versions.
DEFAULT_POLL_SECONDS = 1.0
#: Most REST connections the development server keeps open; at the limit it closes the longest idle one
#: for each new connection (fewer when the process may not open that many files).
DEFAULT_REST_MAX_CONNECTIONS = 1024
#: TF Serving's batching parameters for the Docker image, which ``ssvae serve --enable-batching`` reads by default.
BATCHING_CONFIG = Path(__file__).with_name("batching.config")
#: Where TF Serving's monitoring config (``serving/monitoring.config``) puts its Prometheus metrics, on the REST
#: port; ``ssvae serve --monitoring`` answers there too.
PROMETHEUS_PATH = "/monitoring/prometheus/metrics"
#: Seconds a REST connection may stay silent (idle between requests, or stalled inside one) before it is closed.
DEFAULT_REST_IDLE_SECONDS = 30

_MAX_INT32 = 2**31 - 1
#: gRPC's message size limits are int32 numbers of bytes.
MAX_MESSAGE_BYTES = _MAX_INT32
#: Most items per request a client or the server accepts as a limit (TF Serving's batch sizes are int32).
MAX_BATCH_SIZE = _MAX_INT32
#: Longest timeout per request, in seconds (a day; gRPC and sockets need a finite one).
MAX_TIMEOUT = 86400

#: The ranges ``ssvae serve | encode | decode`` accept, (low, high) inclusive.
#: Message limits in MiB: whole MiB below gRPC's int32 limit.
MESSAGE_MB_RANGE = (0.1, MAX_MESSAGE_BYTES // MIB)
PORT_RANGE = (0, 65535)
#: Seconds: from a tenth of a second (polling) to a day.
POLL_SECONDS_RANGE = (0.1, MAX_TIMEOUT)
TIMEOUT_RANGE = (0.001, MAX_TIMEOUT)
WORKERS_RANGE = (1, 1024)
REST_CONNECTIONS_RANGE = (1, 65536)
#: Whole seconds (the REST server's timeouts are integers), from one to a day.
REST_IDLE_SECONDS_RANGE = (1, MAX_TIMEOUT)
BATCH_SIZE_RANGE = (1, MAX_BATCH_SIZE)
