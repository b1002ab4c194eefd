"""``ssvae demo``: the paper's claim on your own machine in a few minutes.

Generates the paper's line images, trains the spatial-statistics VAE and the
data-space (pixel) baseline with the same architecture and budget, compares
how well each keeps the two-point statistics and the pixels of the validation
images, then exports the SS-VAE for TF Serving and round-trips a few images
through the development server (``serving.dev_server``) over gRPC.  With
``--tune``, a tiny KerasTuner search follows.  Everything goes into one folder
(``--out``): ``ss-vae/``, ``baseline/``, ``evaluation/``, ``comparison.md``,
``export/`` and ``tune/``.  ``export/`` gets the SS-VAE as a new version; when it
already serves models of another image shape or latent size, the demo refuses
before training (it never changes what an export serves).

Light at import: TensorFlow, gRPC and KerasTuner load when the command runs.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import serving
from ssvae_tf._io import atomic_write
from ssvae_tf.commands.base import Command
from ssvae_tf.paper import paper_ratio_note
from ssvae_tf.presets import preset
from ssvae_tf.settings import TrainConfig

#: The ``ours`` preset (a narrow network, 30 epochs) on fewer and smaller images (32 px, beta
#: scaled to them), so both models train in about three minutes on two cores.
DEMO_CONFIG = preset("ours", n_images=1500, image_size=32)
#: Where the build/run instructions for the TF Serving Docker image are.
SERVING_README = Path(serving.__file__).resolve().parent / "README.md"

_ROWS = (
    ("statistics MSE per lag (val)", "val_stats_distance"),
    ("pixel MSE (val)", "val_pixel_mse"),
)


def demo_configs(epochs: int = DEMO_CONFIG.epochs, n_images: int = DEMO_CONFIG.n_images) -> tuple[TrainConfig,
                                                                                                  TrainConfig]:
    """The demo's statistics VAE and its pixel baseline: the ``ours`` preset's pair at this budget."""
    budget = dict(epochs=epochs, n_images=n_images, image_size=DEMO_CONFIG.image_size)
    return preset("ours", **budget), preset("ours", baseline=True, **budget)


def final_metrics_table(ss_history: dict, baseline_history: dict) -> str:
    """Markdown table of the final validation errors of both runs and their ratio."""
    lines = ["| metric | pixel baseline | SS-VAE | SS-VAE / baseline |", "|---|---|---|---|"]
    for label, key in _ROWS:
        ours, theirs = ss_history[key][-1], baseline_history[key][-1]
        lines.append(f"| {label} | {theirs:.3e} | {ours:.3e} | {ours / theirs:.2f}x |")
    return "\n".join(lines)


def train_and_compare(out_dir: str | Path, epochs: int = DEMO_CONFIG.epochs, n_images: int = DEMO_CONFIG.n_images,
                      verbose: int | str = "auto") -> str:
    """Train both models into ``out_dir/ss-vae`` and ``out_dir/baseline`` and compare them (steps 1 and 2 of 3).

    Replaces an earlier demo's runs in ``out_dir``; returns the comparison tables
    (final validation metrics, and the paper's evaluation protocol from
    ``ssvae_tf.evaluation`` with figures in ``out_dir/evaluation``), which are
    also written to ``out_dir/comparison.md``.
    """
    from ssvae_tf.training import train

    config, baseline = demo_configs(epochs, n_images)
    out_dir = Path(out_dir)
    print(f"[1/3] spatial-statistics VAE on {config.n_images} line images of {config.image_size} px")
    ss_history = train(config, out_dir / "ss-vae", verbose=verbose, overwrite=True)
    print("[2/3] pixel-space baseline, same network (zero padding) and budget")
    baseline_history = train(baseline, out_dir / "baseline", verbose=verbose, overwrite=True)
    from ssvae_tf.evaluation import compare_runs

    print("evaluating both on the paper's protocol (validation images)")
    evaluation = compare_runs(out_dir / "ss-vae", out_dir / "baseline", out_dir / "evaluation", progress=False)
    table = (f"{final_metrics_table(ss_history, baseline_history)}\n\n{evaluation.table}\n\n"
             f"SS-VAE / baseline statistics error: {evaluation.ratio:.2f}x ({paper_ratio_note(config.data)})")
    report = (
        "# ssvae demo\n\n"
        f"{config.n_images} line images of {config.image_size} px, {config.epochs} epochs each.\n\n"
        f"{table}\n\n"
        "The SS-VAE is trained on the statistics, the baseline on the pixels: each should win its own row.\n"
        "Figures: ss-vae/reconstructions.png, baseline/reconstructions.png, evaluation/*.png.\n"
    )
    atomic_write(out_dir / "comparison.md", lambda tmp: tmp.write_text(report))
    return table


def check_export_root(export_root: str | os.PathLike, image_shape: tuple[int, ...], latent_dim: int) -> None:
    """Refuse (one-line ``ValueError``) to add a version serving ``image_shape`` and ``latent_dim`` to
    ``export_root`` when its models already serve another signature: clients of that export would get
    other shapes."""
    from ssvae_tf.export import ServingSignature, check_signature_unchanged

    check_signature_unchanged(export_root, ServingSignature(tuple(image_shape), int(latent_dim), tuple(image_shape)),
                              remedy=f"the demo does not change what an export serves: choose another --out or "
                                     f"move {export_root} away")


def export_and_serve_roundtrip(model_path: str | os.PathLike, export_root: str | os.PathLike,
                               n_images: int = 4, seed: int = 0) -> str:
    """Export a trained model, serve it on a free loopback port, and round-trip images over gRPC (step 3 of 3).

    Encodes ``n_images`` of the paper's line images of the model's size through
    the development server, decodes their ``z_mean``, and compares both answers
    with the in-process Keras model.

    Args:
        model_path: a run directory (``model.keras`` + ``config.json``) or a ``.keras`` file
            of a 2-D single-channel model.
        export_root: where the SavedModels go (a new version is added; nothing there is deleted); refused
            when it serves models of another signature (:func:`check_export_root`).

    Returns:
        A short report (also printed): the export, the differences gRPC vs
        in-process, and where the Docker instructions are.
    """
    import numpy as np

    from serving.client import SSVAEClient
    from serving.dev_server import start_server
    from ssvae_tf.data import generate_lines
    from ssvae_tf.export import export_for_serving
    from ssvae_tf.run_dir import data_description, load_model

    model = load_model(model_path)
    if len(model.image_shape) != 3 or model.image_shape[-1] != 1:
        raise ValueError(f"the serving demo needs a 2-D single-channel model, got image shape {model.image_shape}")
    check_export_root(export_root, model.image_shape, model.latent_dim)
    result = export_for_serving(model, export_root, data_description=data_description(model_path))
    images = generate_lines(n_images, model.image_shape[:2], seed=seed, progress=False).images
    with start_server(export_root, port=0) as server, SSVAEClient(server.target, timeout=60.0) as client:
        z_mean, _ = client.encode(images)
        decoded = client.decode(z_mean)
    expected_z, _ = (np.asarray(t) for t in model.encode(images))
    report = "\n".join([
        f"exported version {result.version} to {Path(export_root).resolve()} "
        f"({result.encoder_path.parent.name}, {result.decoder_path.parent.name}, {result.models_config.name})",
        f"served on {server.target}: encoded {n_images} images to z {z_mean.shape} and decoded them "
        f"to {decoded.shape} over gRPC",
        f"max |gRPC - in-process|: z_mean {np.abs(z_mean - expected_z).max():.1e}, "
        f"images {np.abs(decoded - np.asarray(model.decode(z_mean))).max():.1e}",
        f"serve it yourself: ssvae serve --models {export_root}; "
        f"production (TF Serving Docker image): {SERVING_README}",
    ])
    print(report)
    return report


def configure_demo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="demo_out",
                        help="where results and figures go; OUT/export gets the SS-VAE as a new version, refused "
                             "before training when OUT/export already serves models of another image shape or "
                             "latent size (the demo never changes what an export serves)")
    parser.add_argument("--epochs", type=int, default=DEMO_CONFIG.epochs, help="epochs per model")
    parser.add_argument("--n-images", type=int, default=DEMO_CONFIG.n_images, help="generated line images")
    parser.add_argument("--tune", action="store_true",
                        help="also run a tiny KerasTuner search (about a minute) into OUT/tune")


def run_demo(args: argparse.Namespace) -> None:
    out = Path(args.out)
    config, _ = demo_configs(args.epochs, args.n_images)
    check_export_root(out / "export", (config.image_size, config.image_size, 1), config.latent_dim)
    table = train_and_compare(out, epochs=args.epochs, n_images=args.n_images)
    print("[3/3] export for TF Serving, serve locally, encode and decode over gRPC")
    export_and_serve_roundtrip(out / "ss-vae", out / "export", n_images=4)
    print()
    print(table)
    if args.tune:
        from tuning.search import run_demo_search

        run_demo_search(out / "tune")
    print(f"\nresults and figures in {out.resolve()}")


COMMANDS = (
    Command("demo", "train the SS-VAE and the pixel baseline on the paper's lines, compare, export and serve "
                    "them (a few minutes on 2 cores)", configure_demo, run_demo),
)
