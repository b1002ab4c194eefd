"""Atomic file writes: a file the user already has is replaced whole or not at all."""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary path beside ``path``, then rename it over ``path``.

    The temporary name keeps every suffix of ``path`` (Keras and Matplotlib
    pick the format from it, e.g. ``.weights.h5``).  If ``write`` fails, the temporary file is removed and
    ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(path.suffixes)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name[: len(path.name) - len(suffix)]}-", suffix=suffix,
                                        dir=path.parent)
    os.close(handle)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_current_umask())
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


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
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        return _toml_module().loads(text)
    except ValueError as exc:  # TOMLDecodeError and JSONDecodeError are ValueErrors
        kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
        raise ValueError(f"{path}: not valid {kind}: {' '.join(str(exc).split())}") from None
