"""``ssvae encode`` and ``ssvae decode``: the client commands, through TF Serving's gRPC or REST API.

Both talk to TF Serving or the development server with :class:`serving.client.SSVAEClient`
and read and write files with :mod:`serving.files`.  Light at import: ``--help``
reads its defaults and ranges from :mod:`serving.contract` and
:mod:`ssvae_tf.export_contract`; TensorFlow and gRPC load when a command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from serving.contract import (
    BATCH_SIZE_RANGE,
    DEFAULT_MAX_BATCH_SIZE,
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_TARGET,
    DEFAULT_TIMEOUT,
    MESSAGE_MB_RANGE,
    MIB,
    TIMEOUT_RANGE,
)
from ssvae_tf.commands.base import Command, check_range
from ssvae_tf.export_contract import MAX_VERSION, served_model


def _add_client_arguments(parser: argparse.ArgumentParser, role: str) -> None:
    """The options of a client command calling the served model ``role``, its name given by ``--<role>``."""
    parser.add_argument("--server", default=DEFAULT_TARGET, metavar="HOST:PORT|URL",
                        help="TF Serving's gRPC endpoint HOST:PORT, or its REST API http(s)://HOST:PORT")
    parser.add_argument(f"--{role}", default=served_model(role).default_name, help="model name")
    parser.add_argument("--model-version", type=int, default=None, help="model version (default: the highest)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per request")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_MAX_BATCH_SIZE, help="most items per request")
    parser.add_argument("--max-message-mb", type=float, default=DEFAULT_MAX_MESSAGE_BYTES / MIB,
                        help="largest message in MiB")
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
                       max_message_bytes=int(args.max_message_mb * MIB), credentials=credentials, **names)


def configure_encode(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", help="images to encode, .npy or .npz (array 'images' or its only one): (n, H, W), "
                                       "(n, H, W, 1) or one (H, W) image (volumes: (n, D, H, W), (n, D, H, W, 1), "
                                       "(D, H, W)), values in [0, 1], of the model's size (other sizes are refused, "
                                       "not tiled: crop them first)")
    parser.add_argument("--out", required=True,
                        help="z.npy (z_mean) or z.npz (arrays z_mean and z_log_var), each (n, latent_dim)")
    _add_client_arguments(parser, "encoder")


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
                        help="images.npy: the decoded images (n, H, W, 1) in (0, 1); volumes (n, D, H, W, 1) "
                             "also as one multi-page TIFF each beside it, images_000.tif, ... (uint8, a page per "
                             "z-slice) (default: none; give --out and/or --png)")
    parser.add_argument("--png", default=None, metavar="FOLDER",
                        help="also (or instead) write one PNG per image into this new folder (default: none)")
    _add_client_arguments(parser, "decoder")


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
        saved = files.save_images(out, images)
        written.append(str(out) + (f" (and {len(saved) - 1} TIFF volumes beside it)" if len(saved) > 1 else ""))
    if args.png is not None:
        files.save_pngs(args.png, images)
        written.append(f"{Path(args.png)}/ ({len(images)} PNG files)")
    print(f"decoded {len(z)} latent vectors into {' and '.join(written)}")

COMMANDS = (
    Command("encode", "encode images through TF Serving (gRPC or REST)", configure_encode, run_encode),
    Command("decode", "decode latent vectors through TF Serving (gRPC or REST)", configure_decode, run_decode),
)
