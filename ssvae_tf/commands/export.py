"""``ssvae export``: write a run's served networks (encoder, decoder) as TF Serving SavedModels
(:mod:`ssvae_tf.export`).

Light at import: ``--help`` reads its defaults and its ``--<role>-name`` flags from the table of served models,
:data:`ssvae_tf.export_contract.SERVED_MODELS`; TensorFlow loads when the command runs.
"""

from __future__ import annotations

import argparse

from ssvae_tf.commands.base import Command, check_range
from ssvae_tf.export_contract import MAX_VERSION, SERVED_MODELS


def configure_export(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, metavar="RUN_DIR|MODEL.keras",
                        help="a training run directory (holding model.keras) or a .keras file")
    folders = "".join(f"{served.default_name}/<version>/, " for served in SERVED_MODELS)
    parser.add_argument("--out", required=True, metavar="EXPORT_ROOT", help=f"export root: gets {folders}models.config")
    parser.add_argument("--version", type=int, default=None,
                        help=f"version number, 1 to {MAX_VERSION} (TF Serving's int64 versions; default: one more "
                             "than the highest in EXPORT_ROOT)")
    for served in SERVED_MODELS:
        parser.add_argument(f"--{served.role}-name", default=served.default_name, help=f"{served.role} model name")
    parser.add_argument("--allow-signature-change", action="store_true",
                        help="add the version even if the latest version under these names takes another image "
                             "shape or latent size (default: refused; new names keep both served)")


def run_export(args: argparse.Namespace) -> None:
    check_range(args.version, "--version", 1, MAX_VERSION, " (TF Serving's versions are positive int64 numbers)")
    from ssvae_tf.export import export_for_serving
    from ssvae_tf.run_dir import data_description, load_model

    names = {f"{served.role}_name": getattr(args, f"{served.role}_name") for served in SERVED_MODELS}
    result = export_for_serving(load_model(args.model), args.out, args.version,
                                data_description=data_description(args.model),
                                allow_signature_change=args.allow_signature_change, **names)
    written = [*result.paths.values(), result.models_config, result.record]
    print(f"exported version {result.version}:" + "".join(f"\n  {path}" for path in written))


def _in_words(roles: list[str]) -> str:
    """``["encoder", "decoder"]`` -> ``"encoder and decoder"``."""
    return " and ".join(filter(None, [", ".join(roles[:-1]), roles[-1]]))


COMMANDS = (
    Command("export", f"export the {_in_words([served.role for served in SERVED_MODELS])} as TF Serving SavedModels",
            configure_export, run_export),
)
