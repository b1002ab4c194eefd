"""The serving step of ``ssvae demo``: export, serve locally, encode and decode over gRPC."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

#: Where the build/run instructions for the TF Serving Docker image are.
SERVING_README = Path(__file__).resolve().parent / "README.md"


def export_and_serve_roundtrip(model_path: str | os.PathLike, export_root: str | os.PathLike,
                               n_images: int = 4, seed: int = 0) -> str:
    """Export a trained model, serve it on a free loopback port, and round-trip images over gRPC.

    Encodes ``n_images`` of the paper's line images of the model's size through
    the local TF Serving-compatible server, decodes their ``z_mean``, and
    compares both answers with the in-process Keras model.

    Args:
        model_path: a run directory (``model.keras`` + ``config.json``) or a ``.keras`` file
            of a 2-D single-channel model.
        export_root: where the SavedModels go (a new version is added).

    Returns:
        A short report (also printed): the export, the differences gRPC vs
        in-process, and where the Docker instructions are.
    """
    from serving.client import SSVAEClient
    from serving.server import start_server
    from ssvae_tf.data import generate_lines
    from ssvae_tf.export import export_for_serving
    from ssvae_tf.run_dir import data_description, load_model

    model = load_model(model_path)
    if len(model.image_shape) != 3 or model.image_shape[-1] != 1:
        raise ValueError(f"the serving demo needs a 2-D single-channel model, got image shape {model.image_shape}")
    # the demo's own folder: a demo run at another size replaces the served shapes on purpose
    result = export_for_serving(model, export_root, data_description=data_description(model_path),
                                allow_signature_change=True)
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
