"""The ``ssvae`` command: ``train``, ``evaluate``, ``demo``, ``design``, ``tune``, ``export``, ``serve``,
``encode`` and ``decode`` (``ssvae --help`` lists them, ``ssvae COMMAND --help`` their options).

Each area declares its commands as :class:`ssvae_tf.commands.Command` values
(``ssvae_tf.commands``, ``ssvae_tf.commands.design``, ``ssvae_tf.commands.tune``, ``ssvae_tf.commands.serving``); this module
collects them into one parser and runs the chosen one behind one error
handler: bad input prints one line (``ssvae: error: ...``) and exits with
status 2; an interrupted command prints how to resume and exits 130.
Building the parser imports no TensorFlow, so ``--help`` is instant;
TensorFlow is imported, quietly, only to run a command.
"""

from __future__ import annotations

import os
import sys

from ssvae_tf import __version__
from ssvae_tf.commands import base, design, serving, stats, tune
from ssvae_tf.commands.base import ArgumentParser, Command

EXIT_USAGE, EXIT_INTERRUPTED = 2, 130

COMMANDS: tuple[Command, ...] = (*base.COMMANDS, *design.COMMANDS, *stats.COMMANDS, *tune.COMMANDS,
                                 *serving.COMMANDS)


def build_parser() -> ArgumentParser:
    """The ``ssvae`` parser with every subcommand's options (imports no TensorFlow); the parsed
    arguments' ``run`` is the chosen command's ``run``."""
    parser = ArgumentParser(prog="ssvae",
                            description="VAEs trained in spatial-statistics space (FFT two-point correlations).")
    parser.add_argument("--version", action="version", version=f"ssvae-tf {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        subparser = subparsers.add_parser(command.name, help=command.help, description=command.help)
        command.configure(subparser)
        subparser.set_defaults(run=command.run)
    return parser


def import_tensorflow_quietly() -> None:
    """Import TensorFlow without its start-up log lines on the terminal.

    TensorFlow's C++ logging prints informational and CUDA-probe lines (some
    marked ``E0000``) at import and when it first looks for devices:
    ``TF_CPP_MIN_LOG_LEVEL=3`` (unless set already) silences the later ones,
    and the import itself runs with the process's stderr pointed at
    ``/dev/null``, because a few lines are written before that setting is
    read.  Python warnings from absl are limited to errors.  Errors raised
    by TensorFlow still reach the user as exceptions.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    import absl.logging

    absl.logging.set_verbosity(absl.logging.ERROR)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ssvae`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    import_tensorflow_quietly()
    import tensorflow as tf

    try:
        args.run(args)
    except (ValueError, OSError, tf.errors.InvalidArgumentError) as exc:
        print(f"ssvae: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("ssvae: interrupted; run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(main())
