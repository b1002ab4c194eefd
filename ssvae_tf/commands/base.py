"""How an ``ssvae`` subcommand is declared, and the library's own: ``train``, ``evaluate``, ``demo``.

Every area offers its commands the same way: a tuple ``COMMANDS`` of
:class:`Command` values, each a name, a one-line help, ``configure(parser)``
(adds the options) and ``run(args)`` (does the work; bad input raises
``ValueError``/``OSError`` with a one-line message).  ``ssvae_tf.commands.cli``
collects them from here, ``ssvae_tf.commands.tune`` and ``ssvae_tf.commands.serving``.

Light at import (no TensorFlow, Keras or gRPC): building every parser, for
``--help`` too, imports only the standard library and ``ssvae_tf.settings``;
each ``run`` imports what it needs.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ssvae_tf.distribute import PEER_TIMEOUT_S
from ssvae_tf.settings import (
    STRATEGIES,
    TrainConfig,
    read_settings_file,
    setting_choices,
    setting_default,
    setting_help,
    setting_kind,
    setting_names,
)


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


# ------------------------------------------------------------------ train
def _shown(value) -> str:
    return ("on" if value else "off") if isinstance(value, bool) else str(value)


def add_setting_options(parser: argparse.ArgumentParser, names: Sequence[str] | None = None,
                        title: str = "settings (each overrides --preset / --config)",
                        helps: Mapping[str, str] | None = None) -> None:
    """One option per :class:`TrainConfig` field (``--latent-dim``, ...), help and default from the field.

    Options left out are absent from the parsed namespace, so a preset or a
    settings file keeps its values unless a flag overrides them.

    Args:
        names: the fields to offer (default: every one).
        title: the heading of the options in ``--help``.
        helps: help texts that replace some fields' own; the default is added to a text that does
            not state one already.
    """
    group = parser.add_argument_group(title)
    for name in names or setting_names():
        kind, default = setting_kind(name), setting_default(name)
        text = (helps or {}).get(name, setting_help(name))
        text += "" if default is None or "(default:" in text else f" (default: {_shown(default)})"
        flag = "--" + name.replace("_", "-")
        if kind is bool:
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=text)
        else:
            group.add_argument(flag, type=kind, choices=setting_choices(name), default=argparse.SUPPRESS,
                               help=text)


def _configure_train(parser: argparse.ArgumentParser) -> None:
    from ssvae_tf.presets import PRESETS

    start = parser.add_mutually_exclusive_group()
    start.add_argument("--preset", choices=PRESETS,
                       help="start from a named configuration: the paper's settings or ours (ssvae_tf.presets; "
                            "default: none, the defaults below)")
    start.add_argument("--config", metavar="FILE",
                       help="start from a settings file: a run's config.json, or a .toml/.json of settings "
                            "(default: none)")
    parser.add_argument("--out", required=True, help="run directory to write (resumes an interrupted run)")
    parser.add_argument("--overwrite", action="store_true", help="replace a finished run in --out")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch progress")
    parser.add_argument("--no-tensorboard", action="store_true",
                        help="write no TensorBoard logs (OUT/logs; view them with `tensorboard --logdir OUT`)")
    add_strategy_option(parser)
    parser.add_argument("--peer-timeout", type=float, default=PEER_TIMEOUT_S,
                        help="--strategy multi-worker: seconds to wait for every worker to come up")
    add_setting_options(parser)


def add_strategy_option(parser: argparse.ArgumentParser) -> None:
    """``--strategy``, shared by ``ssvae train`` and ``ssvae tune`` (``ssvae_tf.distribute``)."""
    parser.add_argument("--strategy", choices=STRATEGIES, default="auto",
                        help="devices to train on: auto (every GPU if there are several, else one device), "
                             "one-device, mirrored (every GPU, or every logical CPU), multi-worker (one process per "
                             "worker, cluster and task in the TF_CONFIG environment variable); --batch-size is the "
                             "global batch")


def train_config_from(args: argparse.Namespace) -> TrainConfig:
    """The :class:`TrainConfig` that ``ssvae train``'s arguments ask for: ``--preset`` or
    ``--config`` (if given), overridden by the setting flags given."""
    given = {name: getattr(args, name) for name in setting_names() if hasattr(args, name)}
    if args.preset is not None:
        from ssvae_tf.presets import preset

        return preset(args.preset, baseline=given.pop("baseline", False), **given)
    if args.config is not None:
        return TrainConfig.from_mapping({**read_settings_file(args.config), **given}, origin=args.config)
    return TrainConfig(**given)


def _run_train(args: argparse.Namespace) -> None:
    from ssvae_tf.run_dir import RunDir
    from ssvae_tf.training import train

    if not args.out.strip():
        raise ValueError("--out is empty; expected the run directory to write, e.g. --out runs/mine")
    config = train_config_from(args)
    history = train(config, args.out, verbose=0 if args.quiet else 2, overwrite=args.overwrite,
                    strategy=args.strategy, tensorboard=not args.no_tensorboard, peer_timeout=args.peer_timeout)
    # the validation errors and losses; the per-dimension KL stays in history.csv
    final = {key: values[-1] for key, values in history.items()
             if key.startswith("val_") and not key.startswith("val_kl_dim_")}
    summary = ", ".join(f"{key}={value:.4g}" for key, value in sorted(final.items()))
    print(f"finished: {RunDir(args.out).model_file}" + (f" ({summary})" if summary else ""))
    if config.early_stopping is not None and RunDir(args.out).training_file.is_file():
        record = json.loads(RunDir(args.out).training_file.read_text())
        print(f"kept epoch {record['kept_epoch']} of {record['epochs_run']} (lowest val_stats_distance)"
              + ("; stopped early" if record["stopped_early"] else ""))


# --------------------------------------------------------------- evaluate
def _configure_evaluate(parser: argparse.ArgumentParser) -> None:
    from ssvae_tf.paper import PAPER_N_EVALUATED

    parser.add_argument("--model", required=True, help="run directory of the model (written by `ssvae train`)")
    parser.add_argument("--baseline", default=None,
                        help="run directory of a second model on the same data, usually `ssvae train --baseline` "
                             "(default: none)")
    parser.add_argument("--out", required=True, help="report directory: report.md, metrics.csv and PNG figures")
    parser.add_argument("--n-images", type=int, default=PAPER_N_EVALUATED,
                        help="validation images to evaluate, the first ones (the paper: 1000)")
    parser.add_argument("--refine-steps", type=int, default=0,
                        help="refine each image's code by this many Adam steps on its model's own loss before "
                             "decoding (semi-amortised inference; default 0: decode z_mean, the paper's protocol)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def _run_evaluate(args: argparse.Namespace) -> None:
    for option, path in (("--model", args.model), ("--baseline", args.baseline)):
        if path is not None and not Path(path).is_dir():
            raise ValueError(f"{option} {path} is not a directory; expected a run directory written by "
                             "`ssvae train --out DIR`")
    from ssvae_tf.evaluation import compare_runs
    from ssvae_tf.paper import paper_ratio_note
    from ssvae_tf.run_dir import RunDir

    comparison = compare_runs(args.model, args.baseline, args.out, n_images=args.n_images,
                              progress=not args.quiet, refine_steps=args.refine_steps)
    print(comparison.table)
    if comparison.ratio is not None:
        note = paper_ratio_note(RunDir(args.model).settings().data)
        print(f"\nSS-VAE / baseline statistics error: {comparison.ratio:.2f}x" + (f" ({note})" if note else ""))
    print(f"\nreport, metrics.csv and figures in {Path(args.out).resolve()}")


# ------------------------------------------------------------------- demo
def _configure_demo(parser: argparse.ArgumentParser) -> None:
    from ssvae_tf.demo import DEMO_CONFIG

    parser.add_argument("--out", default="demo_out", help="where results and figures go")
    parser.add_argument("--epochs", type=int, default=DEMO_CONFIG.epochs, help="epochs per model")
    parser.add_argument("--n-images", type=int, default=DEMO_CONFIG.n_images, help="generated line images")
    parser.add_argument("--tune", action="store_true",
                        help="also run a tiny KerasTuner search (about a minute) into OUT/tune")


def _run_demo(args: argparse.Namespace) -> None:
    from ssvae_tf.demo import run_demo

    table = run_demo(args.out, epochs=args.epochs, n_images=args.n_images)
    print()
    print(table)
    if args.tune:
        from tuning.search import run_demo_search

        run_demo_search(Path(args.out) / "tune")
    print(f"\nresults and figures in {Path(args.out).resolve()}")


COMMANDS = (
    Command("train", "train a VAE and write a run directory", _configure_train, _run_train),
    Command("evaluate", "evaluate runs on the paper's protocol: report.md, metrics.csv, figures",
            _configure_evaluate, _run_evaluate),
    Command("demo", "train the SS-VAE and the pixel baseline on the paper's lines, compare, export and serve "
                    "them (a few minutes on 2 cores)", _configure_demo, _run_demo),
)
