"""Test-wide settings and shared helpers: quiet TensorFlow, deterministic seeds, tiny runs, commands."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import pytest  # noqa: E402

from ssvae_tf.settings import TrainConfig  # noqa: E402

#: The smallest useful training run: 48 line images of 32 px, a few hundred weights, 1 epoch.
TINY = TrainConfig(data="lines", image_size=32, n_images=48, epochs=1, batch_size=16, filters=4,
                   hidden_units=16, latent_dim=2, seed=0)


@pytest.fixture(autouse=True)
def _seed_everything():
    keras.utils.set_random_seed(0)


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory):
    """A finished tiny SS-VAE run (``ss``) and its pixel baseline (``base``), trained once per session."""
    from ssvae_tf.settings import TrainConfig
    from ssvae_tf.training import train

    root = tmp_path_factory.mktemp("tiny-runs")
    train(TINY, root / "ss", verbose=0)
    train(TrainConfig(**{**TINY.to_json(), "baseline": True}), root / "base", verbose=0)
    return root


def run_command(*argv: str) -> None:
    """Run one ``ssvae`` command in this process as the CLI parses it, letting its errors propagate
    (``ssvae_tf.commands.cli.main`` would turn them into one line and status 2)."""
    from ssvae_tf.commands.cli import build_parser

    args = build_parser().parse_args(list(argv))
    args.run(args)
