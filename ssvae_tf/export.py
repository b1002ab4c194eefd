"""The served models of :data:`~ssvae_tf.export_contract.SERVED_MODELS` (the encoder and the decoder) as
TensorFlow Serving SavedModels.

``export_for_serving`` writes TF Serving's layout::

    EXPORT_ROOT/
      models.config            model_config_list of every model in the root
      ssvae_export.json        one record per export: version, model names, image
                               shape, latent size, alpha/beta/gamma, training data,
                               the fitted latent prior (GaussianMixture.to_json)
      ssvae_encoder/<version>/ saved_model.pb, variables/, ...
      ssvae_decoder/<version>/ ...

Each SavedModel has one ``serving_default`` signature, float32 throughout,
batch dimension ``None`` (the names, stable, are in :mod:`ssvae_tf.export_contract`'s table):

* encoder: ``images`` ``(batch, *image_shape)`` -> ``z_mean`` and
  ``z_log_var``, each ``(batch, latent_dim)``;
* decoder: ``z`` ``(batch, latent_dim)`` -> ``images`` ``(batch, *image_shape)``
  in (0, 1).

Versions are what TF Serving accepts: positive int64 numbers (1 to
``MAX_VERSION``).  A new version under model names that already have versions
must keep their signature (image shape and latent size), unless
``allow_signature_change`` is given: clients asking for "the latest version"
would otherwise get another shape.

A version appears atomically: all SavedModels are written under hidden
temporary names beside their final place (``.<version>-XXXX.partial``) and
renamed when complete, so a server polling the root never sees half a model;
an export that fails leaves no version behind.  Existing versions are never
touched.  The record in ``ssvae_export.json`` is written before the renames,
so every published version has one.

An export that is killed can leave staged folders behind.  The next export
to the same root tidies up (:func:`tidy_export_root`): a staged folder is
*abandoned* when the process that wrote it is gone (same host and PID
namespace, recorded beside it in ``.<version>-XXXX.partial.writer.json`` with
the process's start time, so a reused PID is told apart; psutil asks the
system, on Linux, macOS and Windows alike) or, where that cannot be told
(writers on other hosts sharing the root, no writer file), when nothing in
it changed for ``STALE_SECONDS`` (one hour).
A folder whose writer still runs on this host is never touched.
Abandoned folders are removed, except a complete
one whose version other served models of its export already renamed into place:
that one is renamed too, finishing the interrupted publish.  The index is
then made to match the folders: records of versions no longer on disk are
dropped, and versions on disk without a record get one rebuilt from their
signature (``"recovered": true``; training settings unknown).
"""

from __future__ import annotations

import datetime
import errno
import json
import math
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import psutil
import tensorflow as tf
from google.protobuf import message as protobuf_message
from google.protobuf import text_format
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.config import model_server_config_pb2

from ssvae_tf._checks import is_int, is_real
from ssvae_tf._io import atomic_write, write_json
from ssvae_tf.export_contract import (
    DOCKER_MODEL_ROOT,
    EXPORT_RECORD,
    IMAGE_TENSOR,
    LATENT_TENSORS,
    MAX_VERSION,
    MODELS_CONFIG,
    SERVED_MODELS,
    SIGNATURE,
    default_names,
    served_model,
)
from ssvae_tf.model import SpatialStatsVAE

#: A staged folder (or temporary file) unchanged this long, in seconds, belongs to a killed export.
STALE_SECONDS = 3600.0

_VERSION = re.compile(r"[0-9]+")
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_STAGED = re.compile(r"\.([0-9]+)-[^/]*\.partial")
_WRITER_SUFFIX = ".writer.json"
#: Temporary names of ``atomic_write`` for the root's two files.
_TEMPORARY_FILE = re.compile(r"\.models-[^/]+\.config|\.ssvae_export-[^/]+\.json")


@dataclass(frozen=True)
class ExportResult:
    """Where one export went: the version and the paths written.

    ``paths``: the version folder of each served model, ``{role: EXPORT_ROOT/<name>/<version>}``, in table order.
    """

    version: int
    paths: Mapping[str, Path]
    models_config: Path
    record: Path

    @property
    def encoder_path(self) -> Path:
        return self.paths["encoder"]

    @property
    def decoder_path(self) -> Path:
        return self.paths["decoder"]


@dataclass(frozen=True)
class ServingSignature:
    """What the served models of an export take and give: the shape of the images the encoder takes, the
    latent size, and the shape of what the decoder draws (the images' shape, or volumes ``(N, N, N, 1)``
    for a model from slices).

    Read from one served model, a part it does not show (the encoder draws nothing, the decoder takes no
    images) is ``None``.
    """

    image_shape: tuple[int, ...] | None
    latent_dim: int | None
    decoded_shape: tuple[int, ...] | None = None

    def __str__(self) -> str:
        parts = ([] if self.image_shape is None else [f"images {self.image_shape}"]) + \
            ([] if self.latent_dim is None else [f"latent size {self.latent_dim}"])
        if self.decoded_shape is not None and self.decoded_shape != self.image_shape:
            parts.append(f"decoded shape {self.decoded_shape}")
        return " with ".join(parts)

    def limited_to(self, shown: ServingSignature) -> ServingSignature:
        """This signature with the parts ``shown`` lacks left out (``None``), to compare it with ``shown``."""
        return ServingSignature(None if shown.image_shape is None else self.image_shape,
                                None if shown.latent_dim is None else self.latent_dim,
                                None if shown.decoded_shape is None else self.decoded_shape)


class ExportWriteError(OSError):
    """Writing an export failed (disk full, no permission, ...); nothing was published."""


def model_versions(model_dir: str | os.PathLike) -> list[int]:
    """Sorted versions of a model directory: its subdirectories named by a number TF Serving accepts
    (0 to ``MAX_VERSION``; TF Serving ignores other names, and so does this)."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir()
                  if _VERSION.fullmatch(p.name) and int(p.name) <= MAX_VERSION and p.is_dir())


def check_version(version: object, what: str = "version") -> int:
    """``version`` as ``int`` if TF Serving accepts it (1 to ``MAX_VERSION``), else a one-line ``ValueError``."""
    if not is_int(version) or not 1 <= version <= MAX_VERSION:
        raise ValueError(f"{what} must be an integer from 1 to {MAX_VERSION} (TF Serving's versions are positive "
                         f"int64 numbers), got {version!r}")
    return int(version)


def export_for_serving(
    model: SpatialStatsVAE,
    export_root: str | os.PathLike,
    version: int | None = None,
    *,
    data_description: str | None = None,
    serving_root: str = DOCKER_MODEL_ROOT,
    allow_signature_change: bool = False,
    **names: str,
) -> ExportResult:
    """Write ``model``'s served networks (``SERVED_MODELS``: encoder, decoder) as version ``version`` of
    one TF Serving model each.

    Args:
        model: a :class:`SpatialStatsVAE` (its networks named in ``SERVED_MODELS`` are exported).
        export_root: the directory TF Serving (or ``ssvae serve``) watches; created if missing.
        version: an integer from 1 to ``MAX_VERSION`` not used yet by any of the models; default: one
            more than the highest version of any.
        names: ``<role>_name=`` the model name clients ask for, per served model (``encoder_name``,
            ``decoder_name``); default: its ``default_name``.
        data_description: what the model was trained on (for ``ssvae_export.json``).
        serving_root: where the export root is inside the server (the Docker
            image's ``/models``); ``models.config`` base paths start with it.
        allow_signature_change: add the version even if the latest version under
            these names has another image shape or latent size.

    Returns:
        The version and the paths written.

    Raises:
        ValueError: for a bad model, name or version, a version that exists already, a
            signature change, or an unreadable ``ssvae_export.json``.
        ExportWriteError: (an ``OSError``) when writing fails, e.g. on a full disk; the
            export is rolled back.
    """
    unknown = sorted(set(names) - {f"{served.role}_name" for served in SERVED_MODELS})
    if unknown:
        raise TypeError(f"export_for_serving() got an unexpected keyword argument {unknown[0]!r}")
    if not isinstance(model, SpatialStatsVAE):
        raise ValueError(f"model must be a SpatialStatsVAE, got {type(model).__name__}")
    names = _model_names(names)
    if version is not None:
        version = check_version(version)
    root = Path(export_root)
    if root.exists() and not root.is_dir():
        raise ValueError(f"export root {root} exists and is not a directory")
    if root.is_dir():
        tidy_export_root(root, names)
    version = _choose_version(root, names, version)
    signature = model_signature(model)
    if not allow_signature_change:
        check_signature_unchanged(root, signature, names)
    record = {
        "version": version,
        **{served_model(role).record_key: name for role, name in names.items()},
        "signature": SIGNATURE,
        "image_shape": list(signature.image_shape),
        # only where it differs (a model from slices): the other records keep the keys their readers know
        **({} if signature.decoded_shape == signature.image_shape else {"decoded_shape": list(signature.decoded_shape)}),
        "latent_dim": signature.latent_dim,
        "alpha": model.alpha,
        "beta": model.beta,
        "gamma": model.gamma,
        "data_description": data_description,
        # the density clients draw codes for the decoder from (the mixture `ssvae train` fitted), where there is one
        **({} if model.latent_prior is None else {"latent_prior": model.latent_prior.to_json()}),
        "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    try:
        return _publish(model, root, version, names, record, serving_root)
    except (OSError, tf.errors.OpError) as error:
        raise _write_error(error, root, version) from None


def model_signature(model: SpatialStatsVAE) -> ServingSignature:
    """The signature ``model``'s export serves."""
    return ServingSignature(tuple(int(side) for side in model.image_shape), int(model.latent_dim),
                            tuple(int(side) for side in model.decoded_shape))


def read_signature(version_dir: str | os.PathLike, role: str = "encoder") -> ServingSignature:
    """The signature of an exported version of the served model ``role``, read from its ``saved_model.pb``.

    The image shape comes from its input ``images`` tensor, the decoded shape from its output ``images``
    tensor, the latent size from its first latent tensor (``z``, ``z_mean``, ...; ``IMAGE_TENSOR``,
    ``LATENT_TENSORS``); a part it has no tensor for is ``None``.

    Raises:
        ValueError: (one line) when the folder holds no SavedModel with an ssvae ``serving_default``.
    """
    served = served_model(role)
    path = Path(version_dir) / "saved_model.pb"
    try:
        saved = saved_model_pb2.SavedModel.FromString(path.read_bytes())
        signatures = saved.meta_graphs[0].signature_def
        if SIGNATURE not in signatures:
            raise KeyError(SIGNATURE)
        inputs, outputs = signatures[SIGNATURE].inputs, signatures[SIGNATURE].outputs
        tensors = [(inputs, served.input_key), *((outputs, key) for key in served.output_keys)]
        image = _sides(inputs, IMAGE_TENSOR) if served.input_key == IMAGE_TENSOR else None
        decoded = _sides(outputs, IMAGE_TENSOR) if IMAGE_TENSOR in served.output_keys else None
        latent_key = next(((infos, key) for infos, key in tensors if key in LATENT_TENSORS), None)
        if latent_key is None:
            return ServingSignature(image, None, decoded)
        latent = _sides(*latent_key)
        if len(latent) != 1:
            raise ValueError(f"{latent_key[1]} has {len(latent)} dimensions besides the batch")
        return ServingSignature(image, latent[0], decoded)
    except (OSError, IndexError, KeyError, ValueError, protobuf_message.DecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise ValueError(f"cannot read the {SIGNATURE} signature of the {role} "
                         f"in {version_dir} ({type(error).__name__}: {' '.join(reason.split())})") from None


def _sides(infos, key: str) -> tuple[int, ...]:
    if key not in infos:
        raise KeyError(key)
    shape = infos[key].tensor_shape
    if shape.unknown_rank:
        raise ValueError(f"{key} has an unknown rank")
    return tuple(int(dim.size) for dim in shape.dim[1:])


def _check_model_name(name: str) -> str:
    if not isinstance(name, str) or not _MODEL_NAME.fullmatch(name):
        raise ValueError(f"model name {name!r} must be letters, digits, '_', '.' or '-', starting with a "
                         "letter or digit")
    return name


def _model_names(names: Mapping[str, str]) -> dict[str, str]:
    """``{role: model name}`` of every served model from ``export_for_serving``'s ``<role>_name`` keywords."""
    chosen = {served.role: names.get(f"{served.role}_name", served.default_name) for served in SERVED_MODELS}
    for name in chosen.values():
        _check_model_name(name)
    roles = list(chosen)
    for index, role in enumerate(roles):
        for other in roles[index + 1:]:
            if chosen[role] == chosen[other]:
                raise ValueError(f"{role} and {other} need different model names, both are {chosen[role]!r}")
    return chosen


def _choose_version(root: Path, names: Mapping[str, str], version: int | None) -> int:
    existing = {v for name in names.values() for v in model_versions(root / name)}
    if version is None:
        # versions being written by a running export are skipped too
        taken = existing | {v for name in names.values() for v in _staged_versions(root / name)}
        version = max(taken, default=0) + 1
        if version > MAX_VERSION:
            raise ValueError(f"{root} already holds version {MAX_VERSION}, the largest TF Serving accepts; "
                             "give a free --version below it")
        return version
    if version in existing:
        raise ValueError(f"version {version} already exists in {root} (existing versions: "
                         f"{_shown_versions(existing)}); exported versions are never overwritten")
    return version


def _shown_versions(versions: set[int]) -> str:
    ordered = sorted(versions)
    return str(ordered) if len(ordered) <= 10 else f"{len(ordered)} from {ordered[0]} to {ordered[-1]}"


def check_signature_unchanged(export_root: str | os.PathLike, new: ServingSignature,
                              names: Mapping[str, str] | None = None, remedy: str | None = None) -> None:
    """Refuse a new version of signature ``new`` under ``names`` (``{role: model name}``; default: the
    default names) when the latest version under one of them serves another signature or cannot be read.

    Raises:
        ValueError: one line ending in ``remedy`` (default: how ``ssvae export`` gets past it).
    """
    root = Path(export_root)
    names = default_names() if names is None else names
    flags = ", ".join(f"--{role}-name" for role in names)
    for role, name in names.items():
        versions = model_versions(root / name)
        if not versions:
            continue
        latest = versions[-1]
        try:
            old = read_signature(root / name / str(latest), role)
        except ValueError as error:
            raise ValueError(f"{error}; {remedy or 'pass --allow-signature-change to export anyway'}") from None
        shown = new.limited_to(old)
        if old != shown:
            raise ValueError(
                f"{name} version {latest} in {root} serves {old}, this model {shown}: a new version under "
                f"the same model name would change the shapes its clients get; "
                f"{remedy or f'export under new names ({flags}) or pass --allow-signature-change'}")


def _write_savedmodel(network: keras.Model, input_name: str, output_names: Sequence[str], path: Path) -> None:
    """One functional Keras model as a SavedModel with a dict-output ``serving_default`` signature.

    The network is not ``track``-ed: the archive saves the variables its endpoint
    uses, and tracking the model as well stores every weight a second time (as
    the Keras variables besides the TensorFlow ones; keras-team/keras#23553).
    Tracking is only needed for lookup tables, which these models have none of.
    """
    archive = keras.export.ExportArchive()

    def serve(inputs):
        outputs = network(inputs, training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        return {name: tf.cast(t, tf.float32) for name, t in zip(output_names, outputs, strict=True)}

    spec = tf.TensorSpec((None, *network.input_shape[1:]), tf.float32, name=input_name)
    archive.add_endpoint(SIGNATURE, serve, input_signature=[spec])
    archive.write_out(str(path), verbose=False)


def _publish(model: SpatialStatsVAE, root: Path, version: int, names: Mapping[str, str], record: dict[str, Any],
             serving_root: str) -> ExportResult:
    """Stage every SavedModel, record the export, rename them all into place, rewrite ``models.config``."""
    staged: list[tuple[Path, Path]] = []
    published: list[Path] = []
    recorded = False
    try:
        for role, name in names.items():
            served = served_model(role)
            (root / name).mkdir(parents=True, exist_ok=True)
            # a hidden, non-numeric name: servers ignore it until the rename
            tmp = Path(tempfile.mkdtemp(prefix=f".{version}-", suffix=".partial", dir=root / name))
            staged.append((tmp, root / name / str(version)))
            _write_writer_file(tmp, version, list(names.values()), complete=False)
            _write_savedmodel(getattr(model, served.network), served.input_key, served.output_keys, tmp)
        for tmp, _ in staged:
            _write_writer_file(tmp, version, list(names.values()), complete=True)
        record_path = _add_record(root, record)  # before the renames: no published version without a record
        recorded = True
        for tmp, final in staged:
            os.rename(tmp, final)
            published.append(final)
        config = write_models_config(root, serving_root)
    except BaseException:
        for tmp, _ in staged:
            shutil.rmtree(tmp, ignore_errors=True)
            _writer_file(tmp).unlink(missing_ok=True)
        for final in published:
            shutil.rmtree(final, ignore_errors=True)
        if recorded:
            try:
                _remove_record(root, record)
            except (OSError, ValueError):
                pass  # the next export drops a record whose version is not on disk
        raise
    for tmp, _ in staged:
        _writer_file(tmp).unlink(missing_ok=True)
    return ExportResult(version, dict(zip(names, published, strict=True)), config, record_path)


def _write_error(error: BaseException, root: Path, version: int) -> ExportWriteError:
    """A one-line :class:`ExportWriteError` for ``error`` (an ``OSError`` or TensorFlow's ``OpError``)."""
    code = getattr(error, "errno", None)
    if isinstance(error, OSError) and code is None and len(error.args) == 1 and is_int(error.args[0]):
        code = int(error.args[0])  # OSError(errno.ENOSPC): a code without its message
    if isinstance(error, OSError):
        reason = error.strerror or (os.strerror(code) if code else str(error)) or type(error).__name__
        if error.filename:
            reason += f": {error.filename}"
    else:
        reason = str(getattr(error, "message", error))
        code = errno.ENOSPC if "no space left" in reason.lower() else None
    hint = " (free some space and export again)" if code == errno.ENOSPC else ""
    failure = ExportWriteError(f"writing version {version} to {root} failed, nothing was published: "
                               f"{' '.join(reason.split())}{hint}")
    failure.errno = code
    return failure


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


# ------------------------------------------------------------------ the index: ssvae_export.json
def read_export_index(export_root: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of ``EXPORT_ROOT/ssvae_export.json`` (``[]`` when there is none).

    Raises:
        ValueError: (one line, naming the file) when it is not a JSON list of export records.
    """
    path = Path(export_root) / EXPORT_RECORD
    if not path.exists():
        return []
    expected = ("expected the JSON list of export records `ssvae export` writes (fix it, or move it away: "
                "the next export rebuilds it from the version folders)")
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not text; {expected}") from None
    except ValueError as error:
        raise ValueError(f"{path} is not valid JSON ({' '.join(str(error).split())}); {expected}") from None
    if not isinstance(records, list):
        raise ValueError(f"{path} holds a JSON {_json_kind(records)}; {expected}")
    required = [served.record_key for served in SERVED_MODELS if served.in_every_record]
    for index, record in enumerate(records):
        if not (isinstance(record, dict) and is_int(record.get("version"))
                and all(isinstance(record.get(served.record_key), str)
                        and _MODEL_NAME.fullmatch(record[served.record_key])
                        for served in SERVED_MODELS if served.in_every_record or served.record_key in record)):
            raise ValueError(f"{path}: entry {index} is not an export record (an object with an integer version "
                             f"and the {' and '.join(required)} names); {expected}")
    return records


def _recorded_names(record: dict[str, Any]) -> list[str]:
    """The model names a record of ``ssvae_export.json`` lists (older records lack later served models)."""
    return [record[served.record_key] for served in SERVED_MODELS if served.record_key in record]


def _json_kind(value: Any) -> str:
    return {dict: "object", str: "string", bool: "boolean", int: "number", float: "number"}.get(
        type(value), "null" if value is None else type(value).__name__)


def _add_record(root: Path, record: dict[str, Any]) -> Path:
    records = read_export_index(root)
    records.append(record)
    return write_json(root / EXPORT_RECORD, records)


def _remove_record(root: Path, record: dict[str, Any]) -> None:
    records = read_export_index(root)
    if record in records:
        records.remove(record)
        write_json(root / EXPORT_RECORD, records)


def _staged_versions(model_dir: Path) -> set[int]:
    """Versions of the staged (``.<version>-XXXX.partial``) folders in ``model_dir``."""
    if not model_dir.is_dir():
        return set()
    return {int(match.group(1)) for p in model_dir.iterdir() if (match := _STAGED.fullmatch(p.name)) and p.is_dir()}


def _repair_index(root: Path, names: Mapping[str, str]) -> None:
    """Make the index match the folders: drop records of versions gone from disk, rebuild missing ones."""
    records = read_export_index(root)

    def on_disk(record: dict[str, Any]) -> bool:
        version = record["version"]
        return any((root / name / str(version)).is_dir() or version in _staged_versions(root / name)
                   for name in _recorded_names(record))

    kept = [record for record in records if on_disk(record)]
    missing = sorted({version for name in names.values() for version in model_versions(root / name)
                      if not any(record["version"] == version and name in _recorded_names(record)
                                 for record in kept)})
    if kept != records or missing:
        write_json(root / EXPORT_RECORD, kept + [_recovered_record(root, names, version) for version in missing])


def _recovered_record(root: Path, names: Mapping[str, str], version: int) -> dict[str, Any]:
    """A record for a version on disk that has none: what its SavedModels tell (training settings unknown)."""
    folders = [(root / name / str(version), role) for role, name in names.items()]
    folders = [(folder, role) for folder, role in folders if folder.is_dir()]
    signature = None
    for folder, role in folders:
        try:
            signature = read_signature(folder, role)
            break
        except ValueError:
            continue
    written = max(folder.stat().st_mtime for folder, _ in folders)
    return {
        "version": version,
        **{served_model(role).record_key: name for role, name in names.items()},
        "signature": SIGNATURE,
        "image_shape": None if signature is None or signature.image_shape is None else list(signature.image_shape),
        "latent_dim": None if signature is None else signature.latent_dim,
        "alpha": None,
        "beta": None,
        "gamma": None,
        "data_description": None,
        "exported_at": datetime.datetime.fromtimestamp(written, datetime.timezone.utc).isoformat(timespec="seconds"),
        "recovered": True,
    }


# ------------------------------------------------------------------ leftovers of killed exports
def _writer_file(staged: Path) -> Path:
    """Beside a staged folder: who writes it, and whether it is complete."""
    return staged.with_name(staged.name + _WRITER_SUFFIX)


def _pid_namespace() -> str | None:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


#: Start times of one process read at two moments differ by up to this, s: they are on the system clock
#: (psutil), which NTP and users adjust.  A process that reuses a dead writer's PID starts long after it
#: (the PIDs must wrap around first), and a writer lives longer than this before it writes its file.
_SAME_START_S = 5.0


def _process_start(pid: int) -> float | None:
    """When process ``pid`` started (s since the epoch; psutil, on every platform), telling a reused PID
    apart; ``None`` when no such process runs (a zombie has ended too).

    Raises:
        psutil.AccessDenied: for a process the system does not describe to this user (it runs).
    """
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, OverflowError, ValueError):
        return None


def _write_writer_file(staged: Path, version: int, names: Sequence[str], complete: bool) -> None:
    # written in place: a damaged writer file only makes the folder wait for STALE_SECONDS
    _writer_file(staged).write_text(json.dumps({
        "version": version, "models": list(names), "complete": complete, "host": socket.gethostname(),
        "pid": os.getpid(), "pid_namespace": _pid_namespace(), "created": _process_start(os.getpid())}))


def _read_writer_file(staged: Path) -> dict[str, Any] | None:
    try:
        writer = json.loads(_writer_file(staged).read_text())
    except (OSError, ValueError):
        return None
    return writer if isinstance(writer, dict) else None


def _last_change(path: Path) -> float:
    """The newest modification time of ``path`` and everything in it."""
    latest = path.lstat().st_mtime
    for folder, subfolders, files in os.walk(path):
        for name in (*subfolders, *files):
            try:
                latest = max(latest, os.lstat(os.path.join(folder, name)).st_mtime)
            except OSError:
                continue
    return latest


def _abandoned(staged: Path, writer: dict[str, Any] | None, now: float) -> bool:
    """True when no running export writes ``staged``: its writer (on this host and PID namespace) is gone,
    or, when that cannot be told, nothing in it changed for ``STALE_SECONDS``."""
    local = (writer is not None and is_int(writer.get("pid")) and writer["pid"] > 0
             and writer.get("host") == socket.gethostname() and writer.get("pid_namespace") == _pid_namespace())
    if local:
        try:
            running_since = _process_start(int(writer["pid"]))
        except psutil.AccessDenied:  # it runs, since when is not told: the age decides
            running_since = math.nan
        if running_since is None:
            return True  # no such process: the writer is gone
        # older writer files record no "created": a reused PID is not told apart, the age decides
        if is_real(writer.get("created")) and math.isfinite(running_since):
            return abs(writer["created"] - running_since) > _SAME_START_S  # another process got the PID
    try:
        changed = max(_last_change(staged), _writer_file(staged).lstat().st_mtime if writer is not None else 0.0)
    except FileNotFoundError:
        return False  # renamed or removed meanwhile
    return now - changed > STALE_SECONDS


def _completes_a_publish(root: Path, name: str, version: int, writer: dict[str, Any] | None) -> bool:
    """True when the complete staged ``version`` of ``name`` was left unrenamed by an export that had begun
    renaming its folders into place (another of its models has the version published)."""
    if writer is None or writer.get("complete") is not True or writer.get("version") != version:
        return False
    models = writer.get("models")
    if not isinstance(models, list) or name not in models or (root / name / str(version)).exists():
        return False
    others = [other for other in models if other != name]
    return (all(isinstance(other, str) and _MODEL_NAME.fullmatch(other) for other in others)
            and any((root / other / str(version)).is_dir() for other in others))


def tidy_export_root(export_root: str | os.PathLike, names: Mapping[str, str] | None = None,
                     now: float | None = None) -> list[Path]:
    """Clear up after killed exports (see the module's docstring); ``export_for_serving`` calls it first.

    Removes abandoned staged folders (or renames a complete one whose export had
    published the version under another of its names), their writer files, and
    ``atomic_write`` temporaries of ``models.config``/``ssvae_export.json`` older
    than ``STALE_SECONDS``; then makes ``ssvae_export.json`` match the version
    folders of ``names`` (``{role: model name}``; default: the default names of ``SERVED_MODELS``).

    Returns:
        The staged folders removed or published.

    Raises:
        ValueError: when ``ssvae_export.json`` is damaged (nothing is changed in it then).
    """
    root = Path(export_root)
    now = time.time() if now is None else now
    handled, completed = [], False
    for model_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for staged in sorted(model_dir.iterdir()):
            match = _STAGED.fullmatch(staged.name)
            if match is None or not staged.is_dir():
                continue
            writer = _read_writer_file(staged)
            if not _abandoned(staged, writer, now):
                continue
            version = int(match.group(1))
            if _completes_a_publish(root, model_dir.name, version, writer):
                os.rename(staged, model_dir / str(version))
                completed = True
            else:
                shutil.rmtree(staged, ignore_errors=True)
            _writer_file(staged).unlink(missing_ok=True)
            handled.append(staged)
        for writer_file in model_dir.glob(".*.partial" + _WRITER_SUFFIX):
            if not writer_file.with_name(writer_file.name[: -len(_WRITER_SUFFIX)]).exists():
                writer_file.unlink(missing_ok=True)  # its folder was renamed (or removed) before it was
    for temporary in root.iterdir():
        if _TEMPORARY_FILE.fullmatch(temporary.name) and temporary.is_file():
            try:
                if now - temporary.stat().st_mtime > STALE_SECONDS:
                    temporary.unlink()
            except FileNotFoundError:
                pass
    _repair_index(root, default_names() if names is None else names)
    if completed:  # a model may have got its first version
        write_models_config(root, _serving_root_of(root))
    return handled


def _serving_root_of(root: Path) -> str:
    """The serving root the root's ``models.config`` was written for (``DOCKER_MODEL_ROOT`` if unknown)."""
    try:
        config = text_format.Parse((root / MODELS_CONFIG).read_text(), model_server_config_pb2.ModelServerConfig())
        base = config.model_config_list.config[0].base_path
        return base.rsplit("/", 1)[0] or "/"
    except (OSError, IndexError, text_format.ParseError):
        return DOCKER_MODEL_ROOT
