"""``ssvae train``: train a VAE and write a run directory (resumes an interrupted run)."""

from __future__ import annotations

import argparse

from ssvae_tf.commands.base import Command, add_setting_options, add_strategy_option
from ssvae_tf.distribute import PEER_TIMEOUT_S
from ssvae_tf.settings import TrainConfig, read_settings_file, setting_names


#: The validation metrics of the line ``ssvae train`` ends with: the loss, the statistics and pixel errors
#: (comparable across runs whatever the weights) and the latent dimensions in use.
FINAL_METRICS = ("val_loss", "val_stats_distance", "val_pixel_mse", "val_active_units")


def configure_train(parser: argparse.ArgumentParser) -> None:
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


def run_train(args: argparse.Namespace) -> None:
    from ssvae_tf.run_dir import RunDir
    from ssvae_tf.training import train

    if not args.out.strip():
        raise ValueError("--out is empty; expected the run directory to write, e.g. --out runs/mine")
    config = train_config_from(args)
    history = train(config, args.out, verbose=0 if args.quiet else "auto", overwrite=args.overwrite,
                    strategy=args.strategy, tensorboard=not args.no_tensorboard, peer_timeout=args.peer_timeout)
    # the validation errors every run has; the rest stays in history.csv
    summary = ", ".join(f"{key}={history[key][-1]:.4g}" for key in FINAL_METRICS if key in history)
    run = RunDir(args.out)
    print(f"finished: {run.model_file}" + (f" ({summary})" if summary else ""))
    record = run.training_record()
    if config.early_stopping is not None and record is not None:
        print(f"kept epoch {record['kept_epoch']} of {record['epochs_run']} (lowest val_stats_distance)"
              + ("; stopped early" if record["stopped_early"] else ""))


COMMANDS = (Command("train", "train a VAE and write a run directory", configure_train, run_train),)
