"""Shared validation: argument types, options records, and image arrays' layout.

Image arrays are stacks ``(n, *spatial)`` or ``(n, *spatial, 1)`` with 2 or 3
spatial axes (their values are checked where they are read: ``ssvae_tf.data.sources``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

import numpy as np

Options = TypeVar("Options")


def is_int(value: object) -> bool:
    """True for Python and NumPy integers, excluding ``bool``."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_real(value: object) -> bool:
    """True for Python and NumPy integers and floats, excluding ``bool``."""
    return is_int(value) or isinstance(value, (float, np.floating))


def options_from_record(cls: type[Options], record: "Mapping[str, Any] | Options | None", what: str) -> Options:
    """A frozen options dataclass ``cls`` from a partial record of its fields (the rest default), or
    ``record`` itself when it already is one; ``None`` gives the defaults.

    Raises:
        ValueError: naming ``what``, the unknown fields and the known ones.
    """
    if isinstance(record, cls):
        return record
    record = dict(record or {})
    known = [field.name for field in dataclasses.fields(cls)]
    unknown = sorted(set(record) - set(known))
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; expected some of {known}")
    return cls(**record)


def check_positive_int(value: object, name: str, minimum: int = 1) -> int:
    """Return ``value`` as ``int`` or raise ``ValueError`` unless it is an integer >= ``minimum`` (>= 1)."""
    if not is_int(value) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_median_side(value: object) -> int:
    """``value`` as the side of a median filter: an odd number of px >= 1 (1: no filter), else
    ``ValueError`` naming it."""
    if not is_int(value) or value < 1 or value % 2 == 0:
        raise ValueError(f"median must be an odd number of px >= 1 (1: no filter), got {value!r}")
    return int(value)


def check_count(value: object, name: str) -> int:
    """Return ``value`` as ``int`` or raise ``ValueError`` unless it is an integer >= 0."""
    if not is_int(value) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


def check_positive_real(value: object, name: str, allow_zero: bool = False) -> float:
    """Return ``value`` as ``float`` or raise ``ValueError`` unless it is a finite number > 0 (>= 0 with
    ``allow_zero``)."""
    if not is_real(value) or not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be a finite number {'>=' if allow_zero else '>'} 0, got {value!r}")
    return float(value)


def check_share(value: object, name: str) -> float:
    """Return ``value`` as ``float`` or raise ``ValueError`` unless it is a number in (0, 1]."""
    if not is_real(value) or not 0 < value <= 1:
        raise ValueError(f"{name} must be in (0, 1], got {value!r}")
    return float(value)


def check_bool(value: object, name: str) -> bool:
    """Return ``value`` as ``bool`` or raise ``ValueError`` unless it is a Python or NumPy bool (text such
    as ``"no"`` is refused: it would count as true)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_instance(value: object, expected: type, name: str) -> Any:
    """Return ``value`` or raise ``TypeError`` naming ``name`` and ``expected`` unless it is an instance of it."""
    if not isinstance(value, expected):
        raise TypeError(f"{name} must be a {expected.__name__}, got {type(value).__name__} {value!r:.80}")
    return value


def stack_layout(shape: tuple[int, ...], what: str) -> tuple[tuple[int, ...], bool]:
    """Interpret the shape of an image stack.

    Args:
        shape: shape of the stack, ``(n, *spatial)`` or ``(n, *spatial, 1)``.
        what: description of the data for error messages (e.g. a file name).

    Returns:
        ``(image_shape, has_channel)``: ``image_shape`` is ``(*spatial, 1)`` and
        ``has_channel`` tells whether the trailing channel axis is already there.
        A trailing axis of size 1 on a rank-4 or rank-5 stack is the channel axis.
    """
    has_channel = len(shape) in (4, 5) and shape[-1] == 1
    spatial = tuple(int(side) for side in (shape[1:-1] if has_channel else shape[1:]))
    if len(spatial) not in (2, 3):
        raise ValueError(
            f"{what} has shape {tuple(shape)}; expected (n, *spatial) or (n, *spatial, 1) "
            "with 2 or 3 spatial axes"
        )
    return spatial + (1,), has_channel


def with_channel_axis(array: np.ndarray, what: str) -> np.ndarray:
    """View a stack (n, *spatial) or (n, *spatial, 1) as (n, *spatial, 1), without copying."""
    _, has_channel = stack_layout(array.shape, what)
    return array if has_channel else array[..., np.newaxis]
