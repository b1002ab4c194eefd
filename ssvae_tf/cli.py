"""The ``ssvae`` command line: ``ssvae train`` and ``ssvae demo``.

Errors in what the user gave print one line (``ssvae: error: ...``) and exit
with status 2; an interrupted training prints how to resume and exits 130.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

EXIT_USAGE, EXIT_INTERRUPTED = 2, 130


def _add_train_arguments(parser: argparse.ArgumentParser) -> None:
    from ssvae_tf.training import INDICATORS

    from_defaults = {field.name: field.default for field in _train_config_fields()}
    parser.add_argument("--data", default=from_defaults["data"],
                        help="lines | lines-hard | microstructure | PATH (.npy, .npz or a folder of PNG/TIFF)")
    parser.add_argument("--image-size", type=int, default=None,
                        help="side of the generated images in px (default 64; a PATH brings its own)")
    parser.add_argument("--n-images", type=int, default=from_defaults["n_images"],
                        help="number of generated images (built-in data sets)")
    parser.add_argument("--latent-dim", type=int, default=from_defaults["latent_dim"])
    parser.add_argument("--alpha", type=float, default=from_defaults["alpha"], help="weight of the statistics loss")
    parser.add_argument("--beta", type=float, default=from_defaults["beta"], help="weight of the KL term")
    parser.add_argument("--gamma", type=float, default=from_defaults["gamma"], help="weight of the pixel loss")
    parser.add_argument("--baseline", action="store_true",
                        help="the paper's data-space baseline: pixel sum of squares + KL (alpha=0, gamma=1)")
    parser.add_argument("--data-loss", choices=["sse", "mse", "bce"], default=from_defaults["data_loss"])
    parser.add_argument("--epochs", type=int, default=from_defaults["epochs"])
    parser.add_argument("--batch-size", type=int, default=from_defaults["batch_size"])
    parser.add_argument("--learning-rate", type=float, default=from_defaults["learning_rate"])
    parser.add_argument("--depth", type=int, default=None, help="stride-2 convolutions (default: 4, fewer if small)")
    parser.add_argument("--filters", type=int, default=from_defaults["filters"])
    parser.add_argument("--hidden-units", type=int, default=from_defaults["hidden_units"])
    parser.add_argument("--validation-split", type=float, default=from_defaults["validation_split"])
    parser.add_argument("--stats-scale", type=float, default=None,
                        help="divide the statistics by this (default: largest volume fraction in the data)")
    parser.add_argument("--indicator", choices=INDICATORS, default=from_defaults["indicator"],
                        help="phase indicator of the statistics loss: the paper's soft one or linear (1 - x)")
    parser.add_argument("--shift-augment", action="store_true",
                        help="shift each training image by a random periodic offset (keeps periodic statistics)")
    parser.add_argument("--seed", type=int, default=from_defaults["seed"])
    parser.add_argument("--out", required=True, help="run directory to write (resumes an interrupted run)")
    parser.add_argument("--overwrite", action="store_true", help="replace a finished run in --out")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch progress")


def _train_config_fields():
    from ssvae_tf.training import TrainConfig

    return dataclasses.fields(TrainConfig)


#: Commands implemented outside the library, imported only when used: each
#: module provides ``configure_<command>(parser)`` and ``run_<command>(args)``
#: and keeps its module-level imports light.
EXTERNAL_COMMANDS = {
    "evaluate": ("ssvae_tf.evaluate_command",
                 "evaluate runs on the paper's protocol: report.md, metrics.csv, figures"),
    "tune": ("tuning.command", "search latent size and alpha/beta with KerasTuner"),
    "export": ("serving.command", "export the encoder and decoder as TF Serving SavedModels"),
    "serve": ("serving.command", "serve exported models over gRPC (a local TF Serving stand-in)"),
    "encode": ("serving.command", "encode images through a TF Serving gRPC endpoint"),
    "decode": ("serving.command", "decode latent vectors through a TF Serving gRPC endpoint"),
}


def _external(command: str, role: str):
    from importlib import import_module

    return getattr(import_module(EXTERNAL_COMMANDS[command][0]), f"{role}_{command}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ssvae", description="VAEs trained in spatial-statistics space (FFT two-point correlations).")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a VAE and write a run directory")
    _add_train_arguments(train)
    demo = commands.add_parser("demo", help="train the SS-VAE and the pixel baseline on the paper's lines "
                                            "and compare them (a few minutes on 2 cores)")
    demo.add_argument("--out", default="demo_out", help="where results and figures go (default: demo_out)")
    demo.add_argument("--epochs", type=int, default=None, help="epochs per model (default 30)")
    demo.add_argument("--n-images", type=int, default=None, help="generated images (default 1500)")
    demo.add_argument("--tune", action="store_true",
                      help="also run a tiny KerasTuner search (under a minute) into OUT/tune")
    for command, (_, help_text) in EXTERNAL_COMMANDS.items():
        _external(command, "configure")(commands.add_parser(command, help=help_text))
    return parser


def _run_train(args: argparse.Namespace) -> None:
    from ssvae_tf.training import TrainConfig, train

    names = {field.name for field in _train_config_fields()}
    config = TrainConfig(**{name: value for name, value in vars(args).items() if name in names})
    history = train(config, args.out, verbose=0 if args.quiet else 2, overwrite=args.overwrite)
    final = {key: values[-1] for key, values in history.items() if key.startswith("val_")}
    summary = ", ".join(f"{key}={value:.4g}" for key, value in sorted(final.items()))
    print(f"finished: {Path(args.out) / 'model.keras'}" + (f" ({summary})" if summary else ""))


def _run_demo(args: argparse.Namespace) -> None:
    from ssvae_tf.demo import DEMO_CONFIG, run_demo

    overrides = {key: value for key, value in (("epochs", args.epochs), ("n_images", args.n_images))
                 if value is not None}
    table = run_demo(args.out, dataclasses.replace(DEMO_CONFIG, **overrides))
    print()
    print(table)
    if args.tune:
        from tuning.search import run_demo_search

        run_demo_search(Path(args.out) / "tune")
    print(f"\nresults and figures in {Path(args.out).resolve()}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ssvae`` console script; returns the exit status."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = _parser().parse_args(argv)
    import tensorflow as tf

    try:
        builtin = {"train": _run_train, "demo": _run_demo}
        (builtin.get(args.command) or _external(args.command, "run"))(args)
    except (ValueError, OSError, tf.errors.InvalidArgumentError) as exc:
        message = " ".join(str(exc).split())
        print(f"ssvae: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("ssvae: interrupted; run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(main())
