"""The SavedModels a local server serves: found on disk as TF Serving finds them, loaded once.

Models come from an export root (every subdirectory is a model, its latest
version served: TF Serving's default policy) or from a TF Serving
``models.config`` (names, base paths and version policies as written there:
``latest { num_versions: N }``, ``all {}``, ``specific { versions: ... }``;
relative base paths are relative to the config file).  A model's versions are
its subdirectories named by an integer.  :meth:`ModelRepository.refresh`
loads versions that appeared and drops those that went away or that the
policy no longer selects, once a selected one has loaded (as TF Serving's
availability-preserving policy: a new version that fails to load leaves the
old ones served);
:meth:`ModelRepository.start_polling` calls it periodically, so a new export
is served without a restart.  A version that failed to load (a folder caught
mid-copy, a broken SavedModel) is tried again once its folder has changed and
then stayed the same for one poll (:func:`folder_signature`), so replacing or
finishing it is enough: no restart.
"""

from __future__ import annotations

import enum
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tensorflow as tf
from google.protobuf import text_format
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2
from tensorflow_serving.config import file_system_storage_path_source_pb2, model_server_config_pb2

from serving.contract import DEFAULT_POLL_SECONDS
from ssvae_tf.export import model_versions

log = logging.getLogger(__name__)

VersionPolicy = file_system_storage_path_source_pb2.FileSystemStoragePathSourceConfig.ServableVersionPolicy
#: Signature that TF Serving hides from clients.
INIT_OP_SIGNATURE = "__saved_model_init_op"
#: Most files and folders :func:`folder_signature` looks at (a SavedModel has a handful).
SIGNATURE_ENTRIES = 10_000
#: Longest name (model, signature, input...) an error message repeats in full.
SHOWN_CHARACTERS = 100


def shown(name: str, limit: int = SHOWN_CHARACTERS) -> str:
    """``name`` for an error message: cut to ``limit`` characters, saying how long it was.

    Requests can carry names of any length; echoing a megabyte name back would
    overflow gRPC's metadata limit, and the client would see RESOURCE_EXHAUSTED
    instead of the real answer.
    """
    name = str(name)
    return name if len(name) <= limit else f"{name[:limit]}...({len(name)} characters)"


class ModelNotFound(LookupError):
    """No servable for the requested model name or version (TF Serving's NOT_FOUND)."""


class State(enum.Enum):
    """A version's state, as ``ModelVersionStatus.State`` names it."""

    AVAILABLE = "AVAILABLE"
    END = "END"


@dataclass(frozen=True)
class ModelSource:
    """One model as a TF Serving ``ModelConfig`` describes it."""

    name: str
    base_path: Path
    policy: VersionPolicy


@dataclass(frozen=True)
class VersionStatus:
    """Where a version is: ``AVAILABLE``, or ``END`` (unloaded, or failed to load: ``error``)."""

    state: State
    error: str = ""


@dataclass(frozen=True)
class LoadedVersion:
    """One loaded SavedModel version.

    ``signature_defs`` are the SignatureDefs of its ``serve`` MetaGraph (without
    ``__saved_model_init_op``), read from ``saved_model.pb``; ``functions`` the
    matching callables: keyword tensors in, a dict of tensors out.
    """

    name: str
    version: int
    path: Path
    signature_defs: dict[str, meta_graph_pb2.SignatureDef]
    functions: dict[str, Any]
    loaded: Any  # the object tf.saved_model.load returned: keeps the variables alive


def latest_version() -> VersionPolicy:
    """TF Serving's default policy, that of an export root: serve the highest version only."""
    policy = VersionPolicy()
    policy.latest.num_versions = 1
    return policy


def select_versions(policy: VersionPolicy, on_disk: list[int]) -> list[int]:
    """The versions a TF Serving version policy serves out of ``on_disk`` (sorted); no policy is ``latest``,
    and ``latest`` without ``num_versions`` one version, as in TF Serving."""
    choice = policy.WhichOneof("policy_choice")
    if choice == "all":
        return sorted(on_disk)
    if choice == "specific":
        return sorted(set(on_disk) & set(policy.specific.versions))
    count = policy.latest.num_versions if choice == "latest" and policy.latest.num_versions > 0 else 1
    return sorted(on_disk)[-count:]


def sources_in_root(root: Path) -> list[ModelSource]:
    """Every subdirectory of an export root as a model serving its latest version."""
    return [ModelSource(p.name, p, latest_version()) for p in sorted(root.iterdir())
            if p.is_dir() and not p.name.startswith(".")]


def sources_in_config(config_file: Path) -> list[ModelSource]:
    """The models of a TF Serving ``models.config`` (ASCII ``ModelServerConfig``)."""
    config = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(config_file.read_text(), config)
    except text_format.ParseError as error:
        raise ValueError(f"{config_file} is not a TF Serving ModelServerConfig: {error}") from error
    sources = []
    for entry in config.model_config_list.config:
        base = config_file.parent / entry.base_path  # an absolute base_path stays as it is
        if not base.is_dir():
            raise ValueError(f"base_path {entry.base_path!r} of model {entry.name!r} in {config_file} is not a "
                             "directory here (a models.config written by `ssvae export` names the paths inside "
                             "the Docker image: serve the export root directory instead)")
        sources.append(ModelSource(entry.name, base, entry.model_version_policy))
    if not sources:
        raise ValueError(f"{config_file} lists no models (expected a model_config_list)")
    return sources


def read_signature_defs(version_dir: Path) -> dict[str, meta_graph_pb2.SignatureDef]:
    """SignatureDefs of the ``serve`` MetaGraph in ``version_dir/saved_model.pb``."""
    saved_model = saved_model_pb2.SavedModel()
    saved_model.ParseFromString((version_dir / "saved_model.pb").read_bytes())
    for meta_graph in saved_model.meta_graphs:
        if "serve" in meta_graph.meta_info_def.tags:
            return {key: value for key, value in meta_graph.signature_def.items() if key != INIT_OP_SIGNATURE}
    raise ValueError(f"{version_dir} has no MetaGraph tagged 'serve'")


def folder_signature(path: Path) -> tuple | None:
    """What a version folder holds now: every file and folder under it with its size and modification
    time (the first :data:`SIGNATURE_ENTRIES` in name order), or ``None`` when it cannot be read.

    Two equal signatures mean nothing was written, added or removed in between (to the resolution of
    the file system's timestamps).
    """
    entries: list[tuple] = []
    pending = [path]
    try:
        while pending and len(entries) < SIGNATURE_ENTRIES:
            folder = pending.pop()
            with os.scandir(folder) as listing:
                for entry in sorted(listing, key=lambda e: e.name):
                    info = entry.stat(follow_symlinks=False)
                    entries.append((os.path.relpath(entry.path, path), entry.is_dir(follow_symlinks=False),
                                    info.st_size, info.st_mtime_ns))
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(Path(entry.path))
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime_ns, tuple(entries)


@dataclass
class _Failure:
    """A version that failed to load: its folder's signature then, and at the last poll."""

    at_failure: tuple | None
    last_seen: tuple | None


def load_version(name: str, version: int, path: Path) -> LoadedVersion:
    """Load one SavedModel version with its signatures."""
    signature_defs = read_signature_defs(path)
    loaded = tf.saved_model.load(str(path), tags=["serve"])
    functions = {key: loaded.signatures[key] for key in signature_defs}
    return LoadedVersion(name, version, path, signature_defs, functions, loaded)


class ModelRepository:
    """The models and versions being served, and the state of every version seen.

    Args:
        path: an export root directory, or a TF Serving ``models.config`` file.
        poll_seconds: how often :meth:`start_polling` looks for new versions.

    Lookups (:meth:`get`, :meth:`status`) are thread-safe and never wait for a
    refresh: a new version is served once it has loaded.
    """

    def __init__(self, path: str | os.PathLike, poll_seconds: float = DEFAULT_POLL_SECONDS):
        self.path = Path(path)
        if not self.path.exists():
            raise ValueError(f"{self.path} does not exist; expected an export root or a models.config file")
        if not poll_seconds > 0:
            raise ValueError(f"poll_seconds must be > 0, got {poll_seconds!r}")
        self.poll_seconds = float(poll_seconds)
        self._fixed_sources = None if self.path.is_dir() else sources_in_config(self.path)
        self._served: dict[str, dict[int, LoadedVersion]] = {}
        self._states: dict[str, dict[int, VersionStatus]] = {}
        self._failures: dict[tuple[str, int], _Failure] = {}
        self._refresh_lock = threading.Lock()
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    def sources(self) -> list[ModelSource]:
        """The models to serve now (an export root is scanned again on every call)."""
        return self._fixed_sources if self._fixed_sources is not None else sources_in_root(self.path)

    def refresh(self) -> None:
        """Load the versions that appeared on disk; stop serving those that went away.

        A version that fails to load is reported ``END`` with the error, and tried
        again on a later refresh once its folder has changed since the failure and
        not changed since the previous refresh (a copy in progress is left to finish).
        """
        with self._refresh_lock:
            served: dict[str, dict[int, LoadedVersion]] = {}
            states = {name: dict(versions) for name, versions in self._states.items()}
            on_disk: set[tuple[str, int]] = set()
            for source in self.sources():
                current = self._served.get(source.name, {})
                model_states = states.setdefault(source.name, {})
                wanted = select_versions(source.policy, model_versions(source.base_path))
                on_disk.update((source.name, version) for version in wanted)
                versions = {v: current[v] for v in wanted if v in current}
                for version in wanted:
                    if version not in current and self._should_load(source, version):
                        loaded, model_states[version] = self._load(source, version)
                        if loaded is not None:
                            versions[version] = loaded
                if wanted and not versions:  # none of the selected versions loaded: keep those served
                    versions = dict(current)
                for version in set(current) - set(versions):
                    model_states[version] = VersionStatus(State.END)
                    log.info("unloaded %s version %d", source.name, version)
                served[source.name] = versions
            for name in set(self._served) - set(served):  # the model itself went away
                states[name].update({version: VersionStatus(State.END) for version in self._served[name]})
            for gone in set(self._failures) - on_disk:  # a failed version removed: tried afresh if it comes back
                del self._failures[gone]
            self._served, self._states = served, states

    def _should_load(self, source: ModelSource, version: int) -> bool:
        """Whether to (try to) load a version not served: a new one, or a failed one whose folder changed and
        then stayed the same for one refresh."""
        failure = self._failures.get((source.name, version))
        if failure is None:
            return True
        now = folder_signature(source.base_path / str(version))
        settled = now is not None and now == failure.last_seen and now != failure.at_failure
        failure.last_seen = now
        if settled:
            log.info("%s version %d changed since it failed to load: trying again", source.name, version)
        return settled

    def _load(self, source: ModelSource, version: int) -> tuple[LoadedVersion | None, VersionStatus]:
        path = source.base_path / str(version)
        before = folder_signature(path)  # taken first: a change during the load shows at the next refresh
        try:
            loaded = load_version(source.name, version, path)
        except Exception as error:  # noqa: BLE001 - any broken SavedModel: report it, keep serving the rest
            message = " ".join(str(error).split()) or type(error).__name__
            log.error("could not load %s version %d: %s", source.name, version, message)
            self._failures[source.name, version] = _Failure(before, before)
            return None, VersionStatus(State.END, message)
        self._failures.pop((source.name, version), None)
        log.info("serving %s version %d from %s", source.name, version, loaded.path)
        return loaded, VersionStatus(State.AVAILABLE)

    def get(self, name: str, version: int | None = None) -> LoadedVersion:
        """The servable for a request: ``version``, or the highest one served."""
        versions = self._served.get(name, {})
        if version is None:
            if not versions:
                raise ModelNotFound(f"Servable not found for request: Latest({shown(name)})")
            return versions[max(versions)]
        if version not in versions:
            raise ModelNotFound(f"Servable not found for request: Specific({shown(name)}, {version})")
        return versions[version]

    def status(self, name: str, version: int | None = None) -> dict[int, VersionStatus]:
        """States of the versions of ``name`` seen so far (or of ``version`` only)."""
        states = self._states.get(name, {})
        if not states:
            raise ModelNotFound(f"Could not find any versions of model {shown(name)}")
        if version is None:
            return dict(sorted(states.items()))
        if version not in states:
            raise ModelNotFound(f"Could not find version {version} of model {shown(name)}")
        return {version: states[version]}

    def knows(self, name: str) -> bool:
        """Whether ``name`` is a model seen (served now or before)."""
        return name in self._states

    def served(self) -> dict[str, list[int]]:
        """Model name -> versions being served."""
        return {name: sorted(versions) for name, versions in sorted(self._served.items())}

    def start_polling(self) -> None:
        """Refresh every ``poll_seconds`` in a background thread until :meth:`stop_polling`."""
        if self._poller is not None:
            return
        self._stop.clear()
        self._poller = threading.Thread(target=self._poll, name="model-repository-poll", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.refresh()
            except OSError as error:  # the root vanished for a moment: keep what is loaded
                log.warning("could not scan %s: %s", self.path, error)

    def stop_polling(self) -> None:
        """Stop the background refresh (waits for a refresh in progress)."""
        if self._poller is None:
            return
        self._stop.set()
        self._poller.join()
        self._poller = None
