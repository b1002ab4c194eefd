"""The ``ssvae`` command: ``train``, ``evaluate``, ``demo``, ``design``, ``stats``, ``sample``, ``tune``, ``export``,
``serve``, ``encode`` and ``decode`` (``ssvae --help`` lists them, ``ssvae COMMAND --help`` their options).

The registry: each command module (``ssvae_tf.commands.train``, ``evaluate``,
``demo``, ``design``, ``stats``, ``tune``, ``export``, ``serve``,
``encode_decode``) declares its commands as
:class:`ssvae_tf.commands.base.Command` values in ``COMMANDS``; this module
collects them into one parser and runs the chosen one behind one error
handler: bad input prints one line (``ssvae: error: ...``) and exits with
status 2; an interrupted command prints how to resume and exits 130.
Building the parser imports no TensorFlow, so ``--help`` is instant;
TensorFlow is imported, quietly, only to run a command.
"""

from __future__ import annotations

import sys

from ssvae_tf import __version__
from ssvae_tf.commands import demo, design, encode_decode, evaluate, export, serve, stats, train, tune
from ssvae_tf.commands.base import ArgumentParser, Command, import_tensorflow_quietly

EXIT_USAGE, EXIT_INTERRUPTED = 2, 130

#: The command modules, in the order ``ssvae --help`` lists their commands.
_MODULES = (train, evaluate, demo, design, stats, tune, export, serve, encode_decode)
COMMANDS: tuple[Command, ...] = tuple(command for module in _MODULES for command in module.COMMANDS)


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
