"""The built-in demo: the paper's claim on your own machine in a few minutes.

Generates the paper's line images, trains the spatial-statistics VAE and the
data-space (pixel) baseline with the same architecture and budget, and
compares how well each keeps the two-point statistics and the pixels of the
validation images.
"""

from __future__ import annotations

from pathlib import Path

from ssvae_tf._io import atomic_write
from ssvae_tf.paper import paper_ratio_note
from ssvae_tf.presets import preset
from ssvae_tf.settings import TrainConfig

#: The ``ours`` preset (a narrow network, 30 epochs) on fewer and smaller images (32 px, beta
#: scaled to them), so both models train in about three minutes on two cores.
DEMO_CONFIG = preset("ours", n_images=1500, image_size=32)


def demo_configs(epochs: int = DEMO_CONFIG.epochs, n_images: int = DEMO_CONFIG.n_images) -> tuple[TrainConfig,
                                                                                                  TrainConfig]:
    """The demo's statistics VAE and its pixel baseline: the ``ours`` preset's pair at this budget."""
    budget = dict(epochs=epochs, n_images=n_images, image_size=DEMO_CONFIG.image_size)
    return preset("ours", **budget), preset("ours", baseline=True, **budget)

_ROWS = (
    ("statistics MSE per lag (val)", "val_stats_distance"),
    ("pixel MSE (val)", "val_pixel_mse"),
)


def final_metrics_table(ss_history: dict, baseline_history: dict) -> str:
    """Markdown table of the final validation errors of both runs and their ratio."""
    lines = ["| metric | pixel baseline | SS-VAE | SS-VAE / baseline |", "|---|---|---|---|"]
    for label, key in _ROWS:
        ours, theirs = ss_history[key][-1], baseline_history[key][-1]
        lines.append(f"| {label} | {theirs:.3e} | {ours:.3e} | {ours / theirs:.2f}x |")
    return "\n".join(lines)


def run_demo(out_dir: str | Path = "demo_out", epochs: int = DEMO_CONFIG.epochs, n_images: int = DEMO_CONFIG.n_images,
             verbose: int | str = 2) -> str:
    """Train both models into ``out_dir/ss-vae`` and ``out_dir/baseline``, then
    export the SS-VAE to ``out_dir/export`` and round-trip a few images through
    the local TF Serving-compatible gRPC server.

    Replaces an earlier demo's runs in ``out_dir`` (its export gets a new version); returns the comparison
    tables (final validation metrics, and the paper's evaluation protocol from
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

    from serving.demo import export_and_serve_roundtrip

    print("[3/3] export for TF Serving, serve locally, encode and decode over gRPC")
    # a new version each demo: nothing already in out_dir/export is deleted
    export_and_serve_roundtrip(out_dir / "ss-vae", out_dir / "export", n_images=4)
    return table
