"""Atomic file writes: a file the user already has is replaced whole or not at all.

A write goes to a hidden temporary beside its file, ``.<stem>-XXXXXXXX<suffixes>`` (``XXXXXXXX``:
eight random letters, digits or ``_``), renamed over the file when complete.  A process killed
mid-write leaves that temporary behind: :func:`remove_temporaries` clears them.  A write that fails
for want of space raises :class:`DiskFullError`, one line naming the file.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

#: The random part of a temporary's name (``tempfile``'s: eight of ``[a-z0-9_]``), as a glob.
_RANDOM_PART = "[a-z0-9_]" * 8


class DiskFullError(OSError):
    """A write that failed for want of space (errno ``ENOSPC``): one line, "no space left on device
    writing PATH"; ``filename`` is PATH."""

    def __init__(self, path: str | os.PathLike):
        super().__init__(errno.ENOSPC, "no space left on device", str(path))

    def __str__(self) -> str:
        return f"no space left on device writing {self.filename}"


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _split_name(name: str) -> tuple[str, str]:
    """``"epoch-3.weights.h5"`` -> ``("epoch-3", ".weights.h5")``: the stem and every suffix."""
    suffix = "".join(Path(name).suffixes)
    return name[: len(name) - len(suffix)], suffix


def _temporary(path: Path) -> Path:
    """A new empty file beside ``path`` with the module's temporary name (every suffix of ``path`` kept:
    Keras and Matplotlib pick the format from it, e.g. ``.weights.h5``), normal permissions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    stem, suffix = _split_name(path.name)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{stem}-", suffix=suffix, dir=path.parent)
    os.close(handle)
    os.chmod(tmp_name, 0o666 & ~_current_umask())
    return Path(tmp_name)


def temporary_folder(path: str | os.PathLike) -> Path:
    """A new empty folder beside ``path`` with the module's temporary name (``.<name>-XXXXXXXX``), to
    fill and rename into place as ``path``; :func:`remove_temporaries` clears one a killed process left."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))


def _is_disk_full(error: BaseException, folder: Path) -> bool:
    """Whether ``error`` is a write that failed for want of space: ``ENOSPC``, or NumPy's short write
    ("N requested and M written", no errno) on a file system with no space left."""
    if not isinstance(error, OSError):
        return False
    if error.errno == errno.ENOSPC:
        return True
    try:
        return error.errno is None and shutil.disk_usage(folder).free == 0
    except OSError:
        return False


def _write_temporary(path: Path, write: Callable[[Path], None]) -> Path:
    """``write(tmp)`` on a new temporary beside ``path``; returns it, or removes it and raises
    (:class:`DiskFullError` naming ``path`` when the disk is full)."""
    tmp = _temporary(path)
    try:
        write(tmp)
    except BaseException as error:
        full = _is_disk_full(error, path.parent)  # asked before the temporary's space is freed
        tmp.unlink(missing_ok=True)
        if full:
            raise DiskFullError(path) from None
        raise
    return tmp


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary path beside ``path``, then rename it over ``path``.

    The temporary name keeps every suffix of ``path`` (Keras and Matplotlib
    pick the format from it, e.g. ``.weights.h5``).  If ``write`` fails, the temporary file is removed and
    ``path`` is left as it was.

    Raises:
        DiskFullError: (an ``OSError``, one line naming ``path``) when the disk fills up.
    """
    path = Path(path)
    tmp = _write_temporary(path, write)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_files(folder: str | os.PathLike, writers: Mapping[str, Callable[[Path], None]]) -> list[Path]:
    """Write the files ``writers`` names into ``folder`` as one set: all of them or none.

    Each ``write(tmp)`` writes a temporary beside its file; only when every one has succeeded are they
    renamed into place, in ``writers``' order (so the last, e.g. a record that says the set is whole,
    appears last).  If one fails, the temporaries are removed, the files already in ``folder`` are left
    as they were, and ``folder`` is removed again if this call made it and it is empty.

    Returns:
        The paths written, in order.

    Raises:
        DiskFullError: (an ``OSError``, one line naming the file) when the disk fills up.
    """
    folder = Path(folder)
    made = not folder.exists()
    staged: list[tuple[Path, Path]] = []
    try:
        for name, write in writers.items():
            staged.append((_write_temporary(folder / name, write), folder / name))
        for tmp, path in staged:
            os.replace(tmp, path)
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        if made and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
        raise
    return [path for _, path in staged]


def remove_temporaries(folder: str | os.PathLike, names: Iterable[str]) -> list[Path]:
    """Remove the temporaries (files, or folders of :func:`temporary_folder`) that writes of the files
    or folders ``names`` (glob patterns allowed, e.g. ``"epoch-*.weights.h5"``) left in ``folder``
    when their process was killed; call it only while no other process writes them.  Returns the
    paths removed."""
    folder = Path(folder)
    removed = []
    for name in names:
        stem, suffix = _split_name(name)
        for tmp in folder.glob(f".{stem}-{_RANDOM_PART}{suffix}"):
            if tmp.is_symlink():
                continue
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def check_free_space(folder: str | os.PathLike, needed: int, what: str) -> None:
    """Refuse (``OSError`` ENOSPC, one line) to write ``needed`` bytes of ``what`` into ``folder``
    when its file system has less free: some writers (HDF5's) crash the process instead of raising
    when the disk fills up under them."""
    folder = Path(folder)
    while not folder.exists():
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise OSError(errno.ENOSPC, f"no space left on the device of {folder} for {what}: {needed / 2**20:.1f} MiB "
                                    f"needed, {free / 2**20:.1f} MiB free")


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as indented JSON, atomically."""
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def _toml_module():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise ValueError("reading TOML files on Python 3.10 needs the tomli package (pip install tomli), "
                             "or give the file as .json") from None
    return tomllib


def parse_toml_value(text: str) -> Any:
    """One value in TOML syntax (``4``, ``0.5``, ``"a"``, ``[1, 2]``, ``{min = 1}``); raises ``ValueError``."""
    return _toml_module().loads(f"v = {text}")["v"]


def read_toml_or_json(path: str | os.PathLike) -> Any:
    """The parsed content of a ``.json`` file, or of a TOML file (any other suffix).

    Raises:
        ValueError: (one line) naming the file when it is not valid JSON/TOML.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start}); expected a TOML or "
                         "JSON file in UTF-8") from None
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        return _toml_module().loads(text)
    except ValueError as exc:  # TOMLDecodeError and JSONDecodeError are ValueErrors
        kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
        raise ValueError(f"{path}: not valid {kind}: {' '.join(str(exc).split())}") from None
