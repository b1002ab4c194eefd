"""Lazy public names for package ``__init__`` modules: ``import`` stays light, ``dir()`` lists the API."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy_exports(package: str, names: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package`` that import each public name from its module on first use.

    Args:
        package: the package's ``__name__`` (for the error message).
        names: public name -> the module that defines it.

    Returns:
        ``(__getattr__, __dir__)``: assign both in the package's ``__init__``.
    """

    def __getattr__(name: str) -> Any:
        if name in names:
            return getattr(import_module(names[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__
