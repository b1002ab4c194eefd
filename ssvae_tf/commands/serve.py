"""``ssvae serve``: serve exported models with the development server (:mod:`serving.dev_server`).

A local stand-in for TF Serving over gRPC and, with ``--rest-port``, REST.
Light at import: ``--help`` reads its defaults and ranges from
:mod:`serving.contract`; TensorFlow and gRPC load when the command runs.
"""

from __future__ import annotations

import argparse

from serving.contract import (
    BATCH_SIZE_RANGE,
    DEFAULT_HOST,
    DEFAULT_MAX_BATCH_SIZE,
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_POLL_SECONDS,
    DEFAULT_PORT,
    DEFAULT_REST_IDLE_SECONDS,
    DEFAULT_REST_MAX_CONNECTIONS,
    DEFAULT_WORKERS,
    MESSAGE_MB_RANGE,
    MIB,
    POLL_SECONDS_RANGE,
    PORT_RANGE,
    BATCHING_CONFIG,
    PROMETHEUS_PATH,
    REST_CONNECTIONS_RANGE,
    REST_IDLE_SECONDS_RANGE,
    WORKERS_RANGE,
)
from ssvae_tf.commands.base import Command, check_range


def configure_serve(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", required=True, metavar="EXPORT_ROOT|models.config",
                        help="export root to serve (new versions are picked up while running), "
                             "or a TF Serving models.config")
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"interface to bind ({DEFAULT_HOST}: loopback only)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="gRPC port (0 picks a free one)")
    parser.add_argument("--rest-port", type=int, default=None,
                        help="also serve TF Serving's REST API on this port (TF Serving uses 8501; 0 picks a free "
                             "one; default: gRPC only)")
    parser.add_argument("--max-message-mb", type=float, default=DEFAULT_MAX_MESSAGE_BYTES / MIB,
                        help="largest request/response in MiB (REST: largest request body)")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS,
                        help="threads answering gRPC requests, and as many answering REST requests")
    parser.add_argument("--rest-max-connections", type=int, default=DEFAULT_REST_MAX_CONNECTIONS,
                        help="most REST connections open at once (fewer when ulimit -n is too low for them); at the "
                             "limit the longest idle one is closed for each new one")
    parser.add_argument("--rest-idle-seconds", type=int, default=DEFAULT_REST_IDLE_SECONDS,
                        help="close a REST connection silent for this long, between requests or inside one, in s")
    parser.add_argument("--poll-seconds", type=float, default=DEFAULT_POLL_SECONDS,
                        help="how often to look for new versions, in s")
    parser.add_argument("--monitoring", action="store_true",
                        help=f"answer TF Serving's {PROMETHEUS_PATH} on the REST port (request counts and latencies "
                             "in Prometheus' text format; needs --rest-port)")
    parser.add_argument("--enable-batching", action="store_true",
                        help="join concurrent Predict requests into batches, as tensorflow_model_server "
                             "--enable_batching (parameters: --batching-parameters-file)")
    parser.add_argument("--batching-parameters-file", default=str(BATCHING_CONFIG), metavar="FILE",
                        help="TF Serving batching parameters (max_batch_size, batch_timeout_micros, "
                             "num_batch_threads, max_enqueued_batches) used with --enable-batching "
                             "(default: serving/batching.config)")
    parser.add_argument("--max-batch-size", type=int, default=DEFAULT_MAX_BATCH_SIZE,
                        help="largest batch one request may hold (larger ones get INVALID_ARGUMENT, as TF Serving's "
                             "batching answers them)")


def check_serve_arguments(args: argparse.Namespace) -> None:
    """One-line ``ValueError`` for an option of ``ssvae serve`` out of its range."""
    check_range(args.port, "--port", *PORT_RANGE)
    check_range(args.rest_port, "--rest-port", *PORT_RANGE)
    check_range(args.max_message_mb, "--max-message-mb", *MESSAGE_MB_RANGE, " MiB")
    check_range(args.workers, "--workers", *WORKERS_RANGE)
    check_range(args.rest_max_connections, "--rest-max-connections", *REST_CONNECTIONS_RANGE)
    check_range(args.rest_idle_seconds, "--rest-idle-seconds", *REST_IDLE_SECONDS_RANGE, " s")
    check_range(args.poll_seconds, "--poll-seconds", *POLL_SECONDS_RANGE, " s")
    check_range(args.max_batch_size, "--max-batch-size", *BATCH_SIZE_RANGE)


def run_serve(args: argparse.Namespace) -> None:
    check_serve_arguments(args)
    import logging
    import signal
    import threading

    from serving.dev_server import raise_open_file_limit, read_batching_parameters, start_server

    batching = read_batching_parameters(args.batching_parameters_file) if args.enable_batching else None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    raise_open_file_limit()  # room for many connections, as servers do: the soft limit up to the hard one
    server = start_server(args.models, args.host, args.port, max_message_bytes=int(args.max_message_mb * MIB),
                          workers=args.workers, poll_seconds=args.poll_seconds, rest_port=args.rest_port,
                          max_batch_size=args.max_batch_size, rest_max_connections=args.rest_max_connections,
                          rest_idle_seconds=args.rest_idle_seconds, monitoring=args.monitoring, batching=batching)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        served = ", ".join(f"{name} (versions {', '.join(map(str, versions)) or 'none yet'})"
                           for name, versions in server.repository.served().items()) or "no models yet"
        rest = f" and {server.rest_target} (REST)" if server.rest_target else ""
        if args.monitoring:
            rest += f", metrics at {server.rest_target}{PROMETHEUS_PATH}"
        print(f"serving {served} from {args.models} on {server.target} (gRPC){rest}; Ctrl-C or SIGTERM stops",
              flush=True)
        stop.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.stop()
    print("stopped", flush=True)


COMMANDS = (
    Command("serve", "serve exported models over gRPC and REST (a local TF Serving stand-in)", configure_serve,
            run_serve),
)
