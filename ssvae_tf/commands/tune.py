"""``ssvae tune``: run, resume or join a KerasTuner search.

Light at import (see :mod:`ssvae_tf.commands`); TensorFlow and KerasTuner
load when the command runs.
"""

from __future__ import annotations

import argparse
import os
import socket

from ssvae_tf.commands.base import Command, add_strategy_option

#: Command-line flags that override one config key: flag dest -> (table, key).
FLAG_KEYS = {
    "data": ("data", "source"),
    "image_size": ("data", "image_size"),
    "n_images": ("data", "n_images"),
    "batch_size": ("data", "batch_size"),
    "tuner": ("search", "tuner"),
    "objective": ("search", "objective"),
    "max_trials": ("search", "max_trials"),
    "executions_per_trial": ("search", "executions_per_trial"),
    "epochs": ("search", "epochs"),
    "seed": ("search", "seed"),
}


def configure_tune(parser: argparse.ArgumentParser) -> None:
    """Add the ``ssvae tune`` arguments to ``parser``."""
    parser.description = ("Search latent size and the loss weights alpha/beta with KerasTuner. The objective is a "
                          "validation metric that does not depend on alpha/beta (see tuning/README.md).")
    parser.add_argument("--config", default="lines",
                        help="a built-in config (lines, microstructure, demo) or a .toml/.json file")
    parser.add_argument("--out", required=True,
                        help="search directory; run the same command again to resume an interrupted search; "
                             "tensorboard --logdir OUT/tensorboard compares its trials (HParams tab)")
    group = parser.add_argument_group("overrides of the config")
    group.add_argument("--data", help="lines | lines-hard | microstructure | PATH (default: the config\'s)")
    group.add_argument("--image-size", type=int, help="side of the generated images in px (default: the config\'s)")
    group.add_argument("--n-images", type=int, help="number of generated images (default: the config\'s)")
    group.add_argument("--batch-size", type=int, help="images per batch (default: the config\'s)")
    group.add_argument("--tuner", help="random | bayesian | hyperband (default: the config\'s)")
    group.add_argument("--objective", help="val_stats_distance | val_prior_stats_distance | val_combined (default: the config\'s)")
    group.add_argument("--max-trials", type=int, help="trials in all (hyperband: an upper bound) (default: the config\'s)")
    group.add_argument("--executions-per-trial", type=int, help="trainings per trial, metrics averaged (default: the config\'s)")
    group.add_argument("--epochs", type=int, help="epochs per trial (hyperband: of the longest trial) (default: the config\'s)")
    group.add_argument("--seed", type=int, help="seed of the data split, the search and the weights (default: the config\'s)")
    group.add_argument("--set", action="append", default=[], metavar="TABLE.KEY=VALUE",
                       help="any other config key, VALUE in TOML syntax, e.g. --set space.beta.max=0.5 "
                            "or --set 'space.filters={values=[16,32]}' (repeatable; default: none)")
    group = parser.add_argument_group("distributed tuning (KerasTuner's chief oracle and workers)")
    group.add_argument("--distributed", choices=["chief", "worker"],
                       help="serve the oracle (chief) or run trials for it (worker); all share --out "
                            "(default: a search in this process alone)")
    group.add_argument("--oracle-ip", default=None,
                       help="address of the chief (default: $KERASTUNER_ORACLE_IP or 127.0.0.1)")
    group.add_argument("--oracle-port", type=int, default=None,
                       help="port of the chief's oracle (default: $KERASTUNER_ORACLE_PORT)")
    group.add_argument("--worker-id", default=None, help="unique id of this worker (default: worker-HOST-PID)")
    add_strategy_option(parser)
    parser.add_argument("--overwrite", action="store_true", help="discard an earlier search in --out")
    parser.add_argument("--quiet", action="store_true", help="no per-trial output, only the final lines")


def config_overrides(args: argparse.Namespace) -> list[tuple[list[str], object, str]]:
    """The config assignments the flags and ``--set`` ask for: ``(keys, value, the flag that set it)``."""
    from tuning.config import parse_assignment

    overrides = [([table, key], getattr(args, dest), f"--{dest.replace('_', '-')} {getattr(args, dest)}")
                 for dest, (table, key) in FLAG_KEYS.items() if getattr(args, dest, None) is not None]
    return overrides + [(*parse_assignment(text), f"--set {text}") for text in args.set]


def set_distributed_environment(args: argparse.Namespace) -> None:
    """Set ``KERASTUNER_TUNER_ID/ORACLE_IP/ORACLE_PORT`` from ``--distributed`` and friends."""
    if args.distributed is None:
        if args.oracle_ip or args.oracle_port or args.worker_id:
            raise ValueError("--oracle-ip, --oracle-port and --worker-id need --distributed chief|worker")
        return
    port = args.oracle_port or os.environ.get("KERASTUNER_ORACLE_PORT")
    if not port or not str(port).isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--distributed needs --oracle-port (1-65535) or KERASTUNER_ORACLE_PORT, got {port!r}")
    if args.distributed == "chief":
        if args.worker_id:
            raise ValueError("--worker-id is for --distributed worker; the chief's id is 'chief'")
        tuner_id = "chief"
    else:
        tuner_id = args.worker_id or f"worker-{socket.gethostname()}-{os.getpid()}"
        if "chief" in tuner_id:
            raise ValueError(f"--worker-id must not contain 'chief' (KerasTuner would make it the chief), "
                             f"got {tuner_id!r}")
    os.environ["KERASTUNER_TUNER_ID"] = tuner_id
    os.environ["KERASTUNER_ORACLE_IP"] = args.oracle_ip or os.environ.get("KERASTUNER_ORACLE_IP", "127.0.0.1")
    os.environ["KERASTUNER_ORACLE_PORT"] = str(port)


def run_tune(args: argparse.Namespace) -> None:
    """Run ``ssvae tune``; user errors raise ``ValueError`` (one line)."""
    from tuning.config import load_config

    config = load_config(args.config, config_overrides(args))
    set_distributed_environment(args)
    from tuning.search import distributed_role, run_search

    role = distributed_role()
    if role == "chief" and not args.quiet:
        print(f"chief oracle on {os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}; "
              "start workers with --distributed worker", flush=True)
    summary = run_search(config, args.out, overwrite=args.overwrite, verbose=0 if args.quiet else 1,
                         strategy=args.strategy)
    if summary is None:
        print(f"worker {os.environ['KERASTUNER_TUNER_ID']}: no trials left; the chief writes the results", flush=True)
    elif args.quiet:
        best = summary.best
        print(f"best trial {best['trial']}: {summary.objective}={best['objective']:.4g}; results in {args.out}")


COMMANDS = (
    Command("tune", "search latent size and alpha/beta (and any training setting) with KerasTuner",
            configure_tune, run_tune),
)
