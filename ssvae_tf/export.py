"""The encoder and decoder as TensorFlow Serving SavedModels.

``export_for_serving`` writes TF Serving's layout::

    EXPORT_ROOT/
      models.config            model_config_list of every model in the root
      ssvae_export.json        one record per export: version, model names, image
                               shape, latent size, alpha/beta/gamma, training data
      ssvae_encoder/<version>/ saved_model.pb, variables/, ...
      ssvae_decoder/<version>/ ...

Each SavedModel has one ``serving_default`` signature, float32 throughout,
batch dimension ``None`` (the names below are stable):

* encoder: ``images`` ``(batch, *image_shape)`` -> ``z_mean`` and
  ``z_log_var``, each ``(batch, latent_dim)``;
* decoder: ``z`` ``(batch, latent_dim)`` -> ``images`` ``(batch, *image_shape)``
  in (0, 1).

A version appears atomically: both SavedModels are written under hidden
temporary names beside their final place and renamed when complete, so a
server polling the root never sees half a model; an export that fails leaves
no version behind.  Existing versions are never touched.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from ssvae_tf._io import atomic_write, write_json
from ssvae_tf._checks import check_positive_int
from ssvae_tf.model import SpatialStatsVAE

ENCODER_MODEL, DECODER_MODEL = "ssvae_encoder", "ssvae_decoder"
SIGNATURE = "serving_default"
ENCODER_INPUT, ENCODER_OUTPUTS = "images", ("z_mean", "z_log_var")
DECODER_INPUT, DECODER_OUTPUTS = "z", ("images",)
MODELS_CONFIG, EXPORT_RECORD = "models.config", "ssvae_export.json"
#: Where the Dockerfile puts the export root inside the TF Serving image.
DOCKER_MODEL_ROOT = "/models"

_VERSION = re.compile(r"[0-9]+")
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class ExportResult:
    """Where one export went: the version and the paths written."""

    version: int
    encoder_path: Path
    decoder_path: Path
    models_config: Path
    record: Path


def model_versions(model_dir: str | os.PathLike) -> list[int]:
    """Sorted versions of a model directory: its subdirectories named by an integer."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and _VERSION.fullmatch(p.name))


def export_for_serving(
    model: SpatialStatsVAE,
    export_root: str | os.PathLike,
    version: int | None = None,
    *,
    encoder_name: str = ENCODER_MODEL,
    decoder_name: str = DECODER_MODEL,
    data_description: str | None = None,
    serving_root: str = DOCKER_MODEL_ROOT,
) -> ExportResult:
    """Write ``model``'s encoder and decoder as version ``version`` of two TF Serving models.

    Args:
        model: a :class:`SpatialStatsVAE` (its ``encoder`` and ``decoder`` are exported).
        export_root: the directory TF Serving (or ``ssvae serve``) watches; created if missing.
        version: a positive integer not used yet by either model; default: one
            more than the highest version of either.
        encoder_name, decoder_name: the model names clients ask for.
        data_description: what the model was trained on (for ``ssvae_export.json``).
        serving_root: where the export root is inside the server (the Docker
            image's ``/models``); ``models.config`` base paths start with it.

    Returns:
        The version and the paths written.

    Raises:
        ValueError: for a bad model, name or version, or a version that exists already.
    """
    if not isinstance(model, SpatialStatsVAE):
        raise ValueError(f"model must be a SpatialStatsVAE, got {type(model).__name__}")
    names = (_check_model_name(encoder_name), _check_model_name(decoder_name))
    if names[0] == names[1]:
        raise ValueError(f"encoder and decoder need different model names, both are {names[0]!r}")
    root = Path(export_root)
    if root.exists() and not root.is_dir():
        raise ValueError(f"export root {root} exists and is not a directory")
    version = _choose_version(root, names, version)
    writers = {
        names[0]: lambda tmp: _write_savedmodel(model.encoder, ENCODER_INPUT, ENCODER_OUTPUTS, tmp),
        names[1]: lambda tmp: _write_savedmodel(model.decoder, DECODER_INPUT, DECODER_OUTPUTS, tmp),
    }
    staged: list[tuple[Path, Path]] = []
    published: list[Path] = []
    try:
        for name, write in writers.items():
            (root / name).mkdir(parents=True, exist_ok=True)
            # a hidden, non-numeric name: servers ignore it until the rename
            tmp = Path(tempfile.mkdtemp(prefix=f".{version}-", suffix=".partial", dir=root / name))
            staged.append((tmp, root / name / str(version)))
            write(tmp)
        for tmp, final in staged:
            os.rename(tmp, final)
            published.append(final)
        config = write_models_config(root, serving_root)
        record = _append_record(root, version, names, model, data_description)
    except BaseException:
        for tmp, _ in staged:
            shutil.rmtree(tmp, ignore_errors=True)
        for final in published:
            shutil.rmtree(final, ignore_errors=True)
        raise
    return ExportResult(version, published[0], published[1], config, record)


def _check_model_name(name: str) -> str:
    if not isinstance(name, str) or not _MODEL_NAME.fullmatch(name):
        raise ValueError(f"model name {name!r} must be letters, digits, '_', '.' or '-', starting with a "
                         "letter or digit")
    return name


def _choose_version(root: Path, names: Sequence[str], version: int | None) -> int:
    existing = {v for name in names for v in model_versions(root / name)}
    if version is None:
        return max(existing, default=0) + 1
    check_positive_int(version, "version")
    if version in existing:
        raise ValueError(f"version {version} already exists in {root} (existing versions: "
                         f"{sorted(existing)}); exported versions are never overwritten")
    return version


def _write_savedmodel(network: keras.Model, input_name: str, output_names: Sequence[str], path: Path) -> None:
    """One functional Keras model as a SavedModel with a dict-output ``serving_default`` signature."""
    archive = keras.export.ExportArchive()
    archive.track(network)

    def serve(inputs):
        outputs = network(inputs, training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        return {name: tf.cast(t, tf.float32) for name, t in zip(output_names, outputs, strict=True)}

    spec = tf.TensorSpec((None, *network.input_shape[1:]), tf.float32, name=input_name)
    archive.add_endpoint(SIGNATURE, serve, input_signature=[spec])
    archive.write_out(str(path), verbose=False)


def models_config_text(model_names: Sequence[str], serving_root: str = DOCKER_MODEL_ROOT) -> str:
    """TF Serving's ``--model_config_file`` (an ASCII ``ModelServerConfig``) for ``model_names``.

    Every version on disk is served (``model_version_policy { all {} }``), as
    ``ssvae serve`` does: requests without a version get the highest.
    """
    config = model_server_config_pb2.ModelServerConfig()
    for name in model_names:
        entry = config.model_config_list.config.add()
        entry.name = name
        entry.base_path = f"{serving_root.rstrip('/')}/{name}"
        entry.model_platform = "tensorflow"
        entry.model_version_policy.all.SetInParent()
    header = (f"# TF Serving model config written by `ssvae export`; base paths are where the export root\n"
              f"# is inside the server ({serving_root}).\n")
    return header + text_format.MessageToString(config)


def write_models_config(export_root: str | os.PathLike, serving_root: str = DOCKER_MODEL_ROOT) -> Path:
    """(Re)write ``EXPORT_ROOT/models.config`` listing every model in the root that has a version."""
    root = Path(export_root)
    names = sorted(p.name for p in root.iterdir() if p.is_dir() and model_versions(p))
    text = models_config_text(names, serving_root)
    return atomic_write(root / MODELS_CONFIG, lambda tmp: tmp.write_text(text))


def _append_record(root: Path, version: int, names: Sequence[str], model: SpatialStatsVAE,
                   data_description: str | None) -> Path:
    path = root / EXPORT_RECORD
    records = json.loads(path.read_text()) if path.is_file() else []
    records.append({
        "version": version,
        "encoder_model": names[0],
        "decoder_model": names[1],
        "signature": SIGNATURE,
        "image_shape": list(model.image_shape),
        "latent_dim": model.latent_dim,
        "alpha": model.alpha,
        "beta": model.beta,
        "gamma": model.gamma,
        "data_description": data_description,
        "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    })
    return write_json(path, records)
