"""The physical size of a pixel: the one home of the unit that reports give lengths in.

``ssvae stats``, ``ssvae evaluate`` and ``ssvae design`` take ``--pixel-size VALUE UNIT``
(``--pixel-size 5 nm``, like porespy's ``voxel_size``): every length they report (lags, radii,
chord lengths, correlation lengths) is then ``VALUE * length_in_px`` UNIT, and every density per
length (specific perimeter and surface) ``per_px / VALUE`` per UNIT.  Without it lengths stay in
grid units, ``px`` for images and ``voxels`` for volumes (:func:`grid_unit`), as computed.

The statistics are always computed in px; a :class:`PixelSize` only converts and labels what is
reported.  Standard library only (light: ``ssvae --help`` reads it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PixelSize:
    """The side of one pixel (voxel) in ``unit``: ``PixelSize(5, "nm")`` reads 1 px as 5 nm.

    Attributes:
        value: the side, a finite number > 0.
        unit: the unit's name as reports write it (``"nm"``, ``"µm"``), not empty.

    Raises:
        ValueError: (one line) for a value that is not a finite number > 0 or an empty unit.
    """

    value: float = 1.0
    unit: str = "px"

    def __post_init__(self) -> None:
        value = self.value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"the pixel size must be a finite number > 0, got {value!r}")
        if not isinstance(self.unit, str) or not self.unit.strip():
            raise ValueError(f"the pixel size needs a unit, e.g. 5 nm; got the unit {self.unit!r}")
        object.__setattr__(self, "value", float(value))
        object.__setattr__(self, "unit", self.unit.strip())

    @classmethod
    def parse(cls, value: str, unit: str) -> PixelSize:
        """``PixelSize`` from the two words of ``--pixel-size VALUE UNIT``; ``ValueError`` (one line) when
        ``value`` is not a number or either is refused by the class."""
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"--pixel-size takes a number and a unit, e.g. --pixel-size 5 nm; got {value!r} "
                             "as the number") from None
        return cls(number, unit)

    @property
    def label(self) -> str:
        """The unit of lengths, for axis labels and report keys: ``"nm"``."""
        return self.unit

    @property
    def inverse_label(self) -> str:
        """The unit of densities per length (a specific perimeter): ``"1/nm"``."""
        return f"1/{self.unit}"

    @property
    def is_grid(self) -> bool:
        """Whether lengths stay in grid units (a side of 1 px or 1 voxel, :func:`grid_unit`)."""
        return self.value == 1.0 and self.unit in GRID_UNITS

    def length(self, px: Any) -> Any:
        """A length (or an array of them, or NaN) measured in px, in :attr:`unit`."""
        return px * self.value

    def per_length(self, per_px: Any) -> Any:
        """A density per length (or an array of them) measured per px, per :attr:`unit`."""
        return per_px / self.value

    def describe(self) -> str:
        """``"1 px = 5 nm"`` for reports."""
        return f"1 px = {self.value:g} {self.unit}"

    def to_json(self) -> dict[str, Any]:
        """``{"value": 5.0, "unit": "nm"}``."""
        return {"value": self.value, "unit": self.unit}


#: The grid units: lengths of images in px, of volumes in voxels.
GRID_UNITS = ("px", "voxels")


def grid_unit(spatial_rank: int) -> PixelSize:
    """The size of one grid cell in itself: ``PixelSize(1, "px")`` for images (2 spatial axes),
    ``PixelSize(1, "voxels")`` for volumes (3)."""
    return PixelSize(1.0, GRID_UNITS[0] if spatial_rank == 2 else GRID_UNITS[1])


def is_physical(pixel_size: PixelSize | None) -> bool:
    """Whether ``pixel_size`` puts lengths in a physical unit (not ``None``, nor 1 px or 1 voxel)."""
    return pixel_size is not None and not pixel_size.is_grid


def resolve(pixel_size: PixelSize | None, spatial_rank: int) -> PixelSize:
    """``pixel_size``, or the :func:`grid_unit` of ``spatial_rank`` axes when there is none."""
    return pixel_size if pixel_size is not None else grid_unit(spatial_rank)


__all__ = ["GRID_UNITS", "PixelSize", "grid_unit", "is_physical", "resolve"]
