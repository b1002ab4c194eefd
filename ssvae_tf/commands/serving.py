"""``ssvae export | serve | encode | decode``: the serving commands of the ``ssvae`` tool.

Declared as :class:`ssvae_tf.commands.Command` values in ``COMMANDS``.
Module-level imports stay light (no TensorFlow, no gRPC): each ``run_*``
imports what it needs.  Bad input raises ``ValueError``/``OSError`` with a
one-line message; the CLI prints it and exits 2.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from ssvae_tf.commands.base import Command

_MIB = 1024 * 1024
#: TF Serving's versions are int64 numbers (``ssvae_tf.export.MAX_VERSION``).
MAX_VERSION = 2**63 - 1
#: gRPC's message limits are int32 numbers of bytes: whole MiB below 2 GiB.
MESSAGE_MB_RANGE = (0.1, 2047)
PORT_RANGE = (0, 65535)
#: Seconds: from a tenth of a second (polling) to a day.
POLL_SECONDS_RANGE = (0.1, 86400)
TIMEOUT_RANGE = (0.001, 86400)
WORKERS_RANGE = (1, 1024)
BATCH_SIZE_RANGE = (1, 2**31 - 1)


def check_range(value: float | int | None, flag: str, low: float | int, high: float | int, unit: str = "") -> None:
    """``ValueError`` naming ``flag``, ``value`` and the range unless ``value`` is ``None`` or in [low, high]."""
    if value is None or ((isinstance(value, int) or math.isfinite(value)) and low <= value <= high):
        return
    kind = "an integer" if isinstance(low, int) and isinstance(high, int) else "a number"
    shown = f"{value:g}" if isinstance(value, float) else str(value)
    raise ValueError(f"{flag} must be {kind} from {low} to {high}{unit}, got {shown}")


# ---------------------------------------------------------------- export
def configure_export(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, metavar="RUN_DIR|MODEL.keras",
                        help="a training run directory (holding model.keras) or a .keras file")
    parser.add_argument("--out", required=True, metavar="EXPORT_ROOT",
                        help="export root: gets ssvae_encoder/<version>/, ssvae_decoder/<version>/, models.config")
    parser.add_argument("--version", type=int, default=None,
                        help=f"version number, 1 to {MAX_VERSION} (TF Serving's int64 versions; default: one more "
                             "than the highest in EXPORT_ROOT)")
    parser.add_argument("--encoder-name", default="ssvae_encoder", help="encoder model name")
    parser.add_argument("--decoder-name", default="ssvae_decoder", help="decoder model name")
    parser.add_argument("--allow-signature-change", action="store_true",
                        help="add the version even if the latest version under these names takes another image "
                             "shape or latent size (default: refused; new names keep both served)")


def run_export(args: argparse.Namespace) -> None:
    check_range(args.version, "--version", 1, MAX_VERSION, " (TF Serving's versions are positive int64 numbers)")
    from ssvae_tf.export import export_for_serving
    from ssvae_tf.run_dir import data_description, load_model

    result = export_for_serving(load_model(args.model), args.out, args.version, encoder_name=args.encoder_name,
                                decoder_name=args.decoder_name, data_description=data_description(args.model),
                                allow_signature_change=args.allow_signature_change)
    print(f"exported version {result.version}:\n  {result.encoder_path}\n  {result.decoder_path}\n"
          f"  {result.models_config}\n  {result.record}")


# ----------------------------------------------------------------- serve
def configure_serve(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", required=True, metavar="EXPORT_ROOT|models.config",
                        help="export root to serve (new versions are picked up while running), "
                             "or a TF Serving models.config")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (127.0.0.1: loopback only)")
    parser.add_argument("--port", type=int, default=8500, help="gRPC port (0 picks a free one)")
    parser.add_argument("--rest-port", type=int, default=None,
                        help="also serve TF Serving's REST API on this port (TF Serving uses 8501; 0 picks a free "
                             "one; default: gRPC only)")
    parser.add_argument("--max-message-mb", type=float, default=64.0,
                        help="largest request/response in MiB (REST: largest request body)")
    parser.add_argument("--workers", type=int, default=8,
                        help="threads answering gRPC requests (REST: one per connection)")
    parser.add_argument("--poll-seconds", type=float, default=1.0, help="how often to look for new versions, in s")
    parser.add_argument("--max-batch-size", type=int, default=256,
                        help="largest batch one request may hold (larger ones get INVALID_ARGUMENT, as TF Serving's "
                             "batching answers them)")


def check_serve_arguments(args: argparse.Namespace) -> None:
    """One-line ``ValueError`` for an option of ``ssvae serve`` out of its range."""
    check_range(args.port, "--port", *PORT_RANGE)
    check_range(args.rest_port, "--rest-port", *PORT_RANGE)
    check_range(args.max_message_mb, "--max-message-mb", *MESSAGE_MB_RANGE, " MiB")
    check_range(args.workers, "--workers", *WORKERS_RANGE)
    check_range(args.poll_seconds, "--poll-seconds", *POLL_SECONDS_RANGE, " s")
    check_range(args.max_batch_size, "--max-batch-size", *BATCH_SIZE_RANGE)


def run_serve(args: argparse.Namespace) -> None:
    check_serve_arguments(args)
    import logging
    import signal
    import threading

    from serving.server import start_server

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    server = start_server(args.models, args.host, args.port, max_message_bytes=int(args.max_message_mb * _MIB),
                          workers=args.workers, poll_seconds=args.poll_seconds, rest_port=args.rest_port,
                          max_batch_size=args.max_batch_size)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        served = ", ".join(f"{name} (versions {', '.join(map(str, versions)) or 'none yet'})"
                           for name, versions in server.repository.served().items()) or "no models yet"
        rest = f" and {server.rest_target} (REST)" if server.rest_target else ""
        print(f"serving {served} from {args.models} on {server.target} (gRPC){rest}; Ctrl-C or SIGTERM stops",
              flush=True)
        stop.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.stop()
    print("stopped", flush=True)


# -------------------------------------------------------- encode, decode
def _add_client_arguments(parser: argparse.ArgumentParser, model_flag: str, default_model: str) -> None:
    parser.add_argument("--server", default="localhost:8500", metavar="HOST:PORT|URL",
                        help="TF Serving's gRPC endpoint HOST:PORT, or its REST API http(s)://HOST:PORT")
    parser.add_argument(model_flag, default=default_model, help="model name")
    parser.add_argument("--model-version", type=int, default=None, help="model version (default: the highest)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    parser.add_argument("--batch-size", type=int, default=256, help="most items per request")
    parser.add_argument("--max-message-mb", type=float, default=64.0, help="largest message in MiB")
    parser.add_argument("--tls", action="store_true",
                        help="connect to gRPC with TLS (system root certificates; for REST give an https:// URL)")
    parser.add_argument("--tls-ca", metavar="PEM", default=None,
                        help="connect to gRPC with TLS, trusting the certificates in this PEM file (default: no TLS)")


def check_client_arguments(args: argparse.Namespace) -> None:
    """One-line ``ValueError`` for an option of ``ssvae encode``/``decode`` out of its range."""
    check_range(args.model_version, "--model-version", 1, MAX_VERSION,
                " (TF Serving's versions are positive int64 numbers)")
    check_range(args.timeout, "--timeout", *TIMEOUT_RANGE, " s")
    check_range(args.batch_size, "--batch-size", *BATCH_SIZE_RANGE)
    check_range(args.max_message_mb, "--max-message-mb", *MESSAGE_MB_RANGE, " MiB")


def _client(args: argparse.Namespace, **names: str):
    check_client_arguments(args)
    import grpc

    from serving.client import SSVAEClient

    credentials = None
    if args.tls or args.tls_ca:
        root = Path(args.tls_ca).read_bytes() if args.tls_ca else None
        credentials = grpc.ssl_channel_credentials(root_certificates=root)
    return SSVAEClient(args.server, args.timeout, version=args.model_version, max_batch_size=args.batch_size,
                       max_message_bytes=int(args.max_message_mb * _MIB), credentials=credentials, **names)


def configure_encode(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", help="images to encode, .npy or .npz (array 'images' or its only one): (n, H, W), "
                                       "(n, H, W, 1) or one (H, W) image (volumes: (n, D, H, W), (n, D, H, W, 1), "
                                       "(D, H, W)), values in [0, 1], of the model's size (other sizes are refused, "
                                       "not tiled: crop them first)")
    parser.add_argument("--out", required=True,
                        help="z.npy (z_mean) or z.npz (arrays z_mean and z_log_var), each (n, latent_dim)")
    _add_client_arguments(parser, "--encoder", "ssvae_encoder")


def run_encode(args: argparse.Namespace) -> None:
    from serving import files

    out = files.check_suffix(args.out, (".npy", ".npz"), "--out")
    check_client_arguments(args)
    images = files.read_images(args.images)
    with _client(args, encoder=args.encoder) as client:
        z_mean, z_log_var = client.encode(images)
    if out.suffix.lower() == ".npz":
        files.save_arrays(out, z_mean=z_mean, z_log_var=z_log_var)
        saved = "z_mean and z_log_var"
    else:
        files.save_array(out, z_mean)
        saved = "z_mean"
    print(f"encoded {len(z_mean)} images into {out} ({saved}, {z_mean.shape[1]} dims each)")


def configure_decode(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("z", help="latent vectors: .npy (n, latent_dim), or the .npz of `ssvae encode`")
    parser.add_argument("--out", default=None,
                        help="images.npy: the decoded images (n, H, W, 1) in (0, 1) (default: none; give "
                             "--out and/or --png)")
    parser.add_argument("--png", default=None, metavar="FOLDER",
                        help="also (or instead) write one PNG per image into this new folder (default: none)")
    _add_client_arguments(parser, "--decoder", "ssvae_decoder")


def run_decode(args: argparse.Namespace) -> None:
    from serving import files

    if args.out is None and args.png is None:
        raise ValueError("nothing to write: give --out images.npy and/or --png FOLDER")
    out = files.check_suffix(args.out, (".npy",), "--out") if args.out is not None else None
    check_client_arguments(args)
    z = files.read_latents(args.z)
    with _client(args, decoder=args.decoder) as client:
        images = client.decode(z)
    written = []
    if out is not None:
        written.append(str(files.save_array(out, images)))
    if args.png is not None:
        files.save_pngs(args.png, images)
        written.append(f"{Path(args.png)}/ ({len(images)} PNG files)")
    print(f"decoded {len(z)} latent vectors into {' and '.join(written)}")


COMMANDS = (
    Command("export", "export the encoder and decoder as TF Serving SavedModels", configure_export, run_export),
    Command("serve", "serve exported models over gRPC and REST (a local TF Serving stand-in)", configure_serve,
            run_serve),
    Command("encode", "encode images through TF Serving (gRPC or REST)", configure_encode, run_encode),
    Command("decode", "decode latent vectors through TF Serving (gRPC or REST)", configure_decode, run_decode),
)
