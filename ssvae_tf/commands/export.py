"""``ssvae export``: write a run's encoder and decoder as TF Serving SavedModels (:mod:`ssvae_tf.export`).

Light at import: ``--help`` reads its defaults from :mod:`ssvae_tf.export_contract`; TensorFlow loads when the
command runs.
"""

from __future__ import annotations

import argparse

from ssvae_tf.commands.base import Command, check_range
from ssvae_tf.export_contract import DECODER_MODEL, ENCODER_MODEL, MAX_VERSION


def configure_export(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, metavar="RUN_DIR|MODEL.keras",
                        help="a training run directory (holding model.keras) or a .keras file")
    parser.add_argument("--out", required=True, metavar="EXPORT_ROOT",
                        help="export root: gets ssvae_encoder/<version>/, ssvae_decoder/<version>/, models.config")
    parser.add_argument("--version", type=int, default=None,
                        help=f"version number, 1 to {MAX_VERSION} (TF Serving's int64 versions; default: one more "
                             "than the highest in EXPORT_ROOT)")
    parser.add_argument("--encoder-name", default=ENCODER_MODEL, help="encoder model name")
    parser.add_argument("--decoder-name", default=DECODER_MODEL, help="decoder model name")
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


COMMANDS = (
    Command("export", "export the encoder and decoder as TF Serving SavedModels", configure_export, run_export),
)
