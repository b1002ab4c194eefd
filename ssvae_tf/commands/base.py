"""The small base every ``ssvae`` command stands on.

Each command module (``train``, ``evaluate``, ``demo``, ``design``, ``stats``,
``tune``, ``export``, ``serve``, ``encode_decode``) offers its commands the
same way: a tuple ``COMMANDS`` of :class:`Command` values, each a name, a
one-line help, ``configure(parser)`` (adds the options) and ``run(args)``
(does the work; bad input raises ``ValueError``/``OSError`` with a one-line
message).  :mod:`ssvae_tf.commands.cli` collects them into one parser.  Here
too: the parser classes, the options several commands share
(:func:`add_setting_options`, :func:`add_strategy_option`, :func:`add_pixel_size_option`), the range check
of numeric options, and :func:`import_tensorflow_quietly`.

Light at import (no TensorFlow, Keras or gRPC): building every parser, for
``--help`` too, imports only the standard library and light ``ssvae_tf``
modules (settings, presets, the contracts); each ``run`` imports what it needs.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ssvae_tf.settings import (
    SETTING_GROUPS,
    STRATEGIES,
    setting_choices,
    setting_default,
    setting_help,
    setting_kind,
    setting_names,
)
from ssvae_tf.stats.units import PixelSize


@dataclass(frozen=True)
class Command:
    """One ``ssvae`` subcommand."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], None]


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows every option's default, except where there is none to show (``None``, an off flag)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or action.default is False:
            return action.help or ""
        return super()._get_help_string(action)


class ArgumentParser(argparse.ArgumentParser):
    """An ``argparse`` parser whose usage errors are one line (``ssvae train: error: ...``), status 2."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _shown(value) -> str:
    return ("on" if value else "off") if isinstance(value, bool) else str(value)


def add_setting_options(parser: argparse.ArgumentParser, names: Sequence[str] | None = None,
                        title: str | None = None, helps: Mapping[str, str] | None = None) -> None:
    """One option per :class:`TrainConfig` field (``--latent-dim``, ...), help and default from the field.

    Options left out are absent from the parsed namespace, so a preset or a
    settings file keeps its values unless a flag overrides them.

    Args:
        names: the fields to offer (default: every one).
        title: the heading of the options in ``--help``; by default each settings group
            (:data:`~ssvae_tf.settings.SETTING_GROUPS`) gets its own heading.
        helps: help texts that replace some fields' own; the default is added to a text that does
            not state one already.
    """
    names = list(names or setting_names())
    if title is not None:
        headed = [(title, None, names)]
    else:
        headed = [(f"{group} settings", f"{what} (each overrides --preset / --config).",
                   [name for name in setting_names(group) if name in names]) for group, what in SETTING_GROUPS.items()]
    for heading, description, group_names in headed:
        group = parser.add_argument_group(heading, description)
        for name in group_names:
            kind, default = setting_kind(name), setting_default(name)
            text = (helps or {}).get(name, setting_help(name))
            text += "" if default is None or "(default:" in text else f" (default: {_shown(default)})"
            flag = "--" + name.replace("_", "-")
            if kind is bool:
                group.add_argument(flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                                   help=text)
            else:
                group.add_argument(flag, type=kind, choices=setting_choices(name), default=argparse.SUPPRESS,
                                   help=text)


def add_strategy_option(parser: argparse.ArgumentParser) -> None:
    """``--strategy``, shared by ``ssvae train`` and ``ssvae tune`` (``ssvae_tf.distribute``)."""
    parser.add_argument("--strategy", choices=STRATEGIES, default="auto",
                        help="devices to train on: auto (every GPU if there are several, else one device), "
                             "one-device, mirrored (every GPU, or every logical CPU), multi-worker (one process per "
                             "worker, cluster and task in the TF_CONFIG environment variable); --batch-size is the "
                             "global batch")


class _PixelSizeAction(argparse.Action):
    """Parses ``--pixel-size VALUE UNIT`` into a :class:`~ssvae_tf.stats.units.PixelSize` once, as the
    option is read; a bad one is a usage error (one line, status 2)."""

    def __call__(self, parser, namespace, values, option_string=None):
        try:
            setattr(namespace, self.dest, PixelSize.parse(*values))
        except ValueError as error:
            parser.error(f"{option_string} {' '.join(values)}: {error}")


def add_pixel_size_option(parser: argparse.ArgumentParser) -> None:
    """``--pixel-size VALUE UNIT``, shared by ``ssvae stats``, ``evaluate`` and ``design``: the parsed
    ``args.pixel_size`` is a :class:`~ssvae_tf.stats.units.PixelSize`, or ``None`` (lengths in px)."""
    parser.add_argument("--pixel-size", nargs=2, metavar=("VALUE", "UNIT"), action=_PixelSizeAction, default=None,
                        help="the side of a pixel (voxel), e.g. --pixel-size 5 nm: reported lengths (lags, radii, "
                             "chord and correlation lengths) in UNIT and specific perimeters in 1/UNIT, in the "
                             "figures, tables and JSON (default: none, lengths in px; the options still take px)")


def check_range(value: float | int | None, flag: str, low: float | int, high: float | int, unit: str = "") -> None:
    """``ValueError`` naming ``flag``, ``value`` and the range unless ``value`` is ``None`` or in [low, high]."""
    if value is None or ((isinstance(value, int) or math.isfinite(value)) and low <= value <= high):
        return
    kind = "an integer" if isinstance(low, int) and isinstance(high, int) else "a number"
    shown = f"{value:g}" if isinstance(value, float) else str(value)
    raise ValueError(f"{flag} must be {kind} from {low} to {high}{unit}, got {shown}")


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
