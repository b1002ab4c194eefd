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


@pytest.fixture
def posterior_served(monkeypatch):
    """The table of served models with a third entry, ``posterior``: the encoder's network under another role
    and name (what serving one more network takes: one entry in ``ssvae_tf.export_contract.SERVED_MODELS``)."""
    from serving import client
    from ssvae_tf import export, export_contract
    from ssvae_tf.commands import export as export_command

    extra = export_contract.ServedModel("posterior", "ssvae_posterior", "encoder", "images", ("z_mean", "z_log_var"))
    table = (*export_contract.SERVED_MODELS, extra)
    for module in (export_contract, export, export_command, client):  # each holds the table by name
        monkeypatch.setattr(module, "SERVED_MODELS", table)
    return extra


def run_command(*argv: str) -> None:
    """Run one ``ssvae`` command in this process as the CLI parses it, letting its errors propagate
    (``ssvae_tf.commands.cli.main`` would turn them into one line and status 2)."""
    from ssvae_tf.commands.cli import build_parser

    args = build_parser().parse_args(list(argv))
    args.run(args)
