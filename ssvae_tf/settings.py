"""Every setting of a training run, as one value: :class:`TrainConfig`.

Light at import (no TensorFlow): the command line builds its options from
these fields, their defaults and their help texts, so each is written once,
here.  A run records its ``TrainConfig`` in ``config.json``
(:class:`ssvae_tf.run_dir.RunDir`); a search overrides some of its fields per
trial (``tuning``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ssvae_tf._checks import check_positive_int
from ssvae_tf._io import read_toml_or_json

#: Built-in data sets accepted by ``TrainConfig.data`` besides a path: name -> description.
BUILTIN_DATA = {
    "lines": "the paper's line images, 1-4 vertical or horizontal lines",
    "lines-hard": "the harder line set, 3-7 lines",
    "microstructure": "two-phase Gaussian random fields, volume fraction 0.3-0.7, "
    "correlation lengths 4 px (rows) x 2 px (columns)",
}
#: The built-in data sets whose images hold lines (line count and orientation apply).
LINE_DATA = ("lines", "lines-hard")
DEFAULT_IMAGE_SIZE = 64
#: Image sides the convolutional encoder and decoder accept, in px.
MIN_SIDE, MAX_SIDE = 16, 256
#: Phase indicators a run's statistics loss may use.
INDICATORS = ("soft", "linear")
#: Pixel losses of the data-space term.
DATA_LOSSES = ("sse", "mse", "bce")
#: The architecture's defaults: latent size, first convolution's filters, dense units.
DEFAULT_LATENT_DIM, DEFAULT_FILTERS, DEFAULT_HIDDEN_UNITS = 9, 32, 256


def _setting(default: Any, help: str, *, kind: type | None = None, choices: tuple | None = None) -> Any:
    """A ``TrainConfig`` field with its help text, its value type (``kind``, when the default
    is ``None``) and its allowed values: what ``ssvae train`` and a search need to know."""
    metadata = {"help": help, "kind": kind or type(default), "choices": choices}
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run (what ``ssvae train`` exposes).

    Checked at construction: a bad value raises ``ValueError`` naming it.
    ``loss_weights`` gives the ``(alpha, beta, gamma)`` actually trained.
    """

    data: str = _setting("lines", "lines | lines-hard | microstructure | PATH (.npy, .npz or a folder of PNG/TIFF)")
    image_size: int | None = _setting(
        None, f"side of the generated images in px, {MIN_SIDE}-{MAX_SIDE} (default {DEFAULT_IMAGE_SIZE}; "
        "a PATH brings its own)", kind=int)
    n_images: int = _setting(2000, "number of generated images (built-in data sets)")
    latent_dim: int = _setting(DEFAULT_LATENT_DIM, "size of the latent space")
    alpha: float = _setting(1.0, "weight of the statistics loss")
    beta: float = _setting(1.0, "weight of the KL term")
    gamma: float = _setting(0.0, "weight of the pixel loss")
    baseline: bool = _setting(False, "the paper's data-space baseline: pixel loss + KL (alpha=0, gamma=1)")
    data_loss: str = _setting("sse", "pixel loss: sum of squares, mean of squares or binary cross-entropy",
                              choices=DATA_LOSSES)
    epochs: int = _setting(20, "training epochs")
    batch_size: int = _setting(32, "images per batch")
    learning_rate: float = _setting(1e-3, "Adam's learning rate, halved for the last 10 %% of the epochs "
                                          "(the paper's schedule)")
    depth: int | None = _setting(None, "stride-2 convolutions (default 4, fewer for images under 32 px)", kind=int)
    filters: int = _setting(DEFAULT_FILTERS, "filters of the first convolution (doubling per level, capped 8x)")
    hidden_units: int = _setting(DEFAULT_HIDDEN_UNITS, "width of the dense layer before the latent heads")
    validation_split: float = _setting(0.3, "fraction of the images held out for validation")
    stats_scale: float | None = _setting(
        None, "divide the statistics by this (default: the largest volume fraction in the data, the paper's)",
        kind=float)
    indicator: str = _setting("soft", "phase indicator of the statistics loss: the paper's soft one or "
                                      "linear (1 - x)", choices=INDICATORS)
    shift_augment: bool = _setting(False, "shift each training image by a random periodic offset "
                                          "(keeps periodic statistics)")
    seed: int = _setting(0, "seed of the data, the split, the weights and the sampling noise")

    def __post_init__(self):
        for name in ("n_images", "latent_dim", "epochs", "batch_size", "filters", "hidden_units"):
            check_positive_int(getattr(self, name), name)
        for name in ("image_size", "depth"):
            if getattr(self, name) is not None:
                check_positive_int(getattr(self, name), name)
        if self.image_size is not None and not MIN_SIDE <= self.image_size <= MAX_SIDE:
            raise ValueError(f"image_size must be between {MIN_SIDE} and {MAX_SIDE} px, got {self.image_size}")
        for name in ("alpha", "beta", "gamma"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ValueError(f"learning_rate must be a positive number, got {self.learning_rate!r}")
        if not 0 <= self.validation_split < 1:
            raise ValueError(f"validation_split must be in [0, 1), got {self.validation_split!r}")
        if self.stats_scale is not None and not (math.isfinite(self.stats_scale) and self.stats_scale > 0):
            raise ValueError(f"stats_scale must be a positive number, got {self.stats_scale!r}")
        for name in ("data_loss", "indicator"):
            allowed = setting_choices(name)
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.data not in BUILTIN_DATA and not Path(self.data).exists():
            raise ValueError(
                f"data must be one of {sorted(BUILTIN_DATA)} or an existing .npy/.npz file or image "
                f"folder, got {self.data!r}"
            )

    @property
    def loss_weights(self) -> tuple[float, float, float]:
        """``(alpha, beta, gamma)`` as trained (the baseline switches the statistics off)."""
        return (0.0, self.beta, 1.0) if self.baseline else (self.alpha, self.beta, self.gamma)

    @property
    def data_description(self) -> str:
        """What the run trains on, in words."""
        return BUILTIN_DATA.get(self.data, f"images from {self.data}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], origin: str = "settings") -> "TrainConfig":
        """A config from ``{field: value}``; fields left out take their defaults.

        Raises:
            ValueError: naming ``origin`` and an unknown field.
        """
        unknown = sorted(set(values) - set(setting_names()))
        if unknown:
            raise ValueError(f"{origin}: unknown setting {unknown[0]!r}; expected some of {setting_names()}")
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        """Every field as plain JSON."""
        return dataclasses.asdict(self)


def setting_names() -> list[str]:
    """The names of :class:`TrainConfig`'s fields, in order."""
    return [f.name for f in dataclasses.fields(TrainConfig)]


def _field(name: str) -> dataclasses.Field:
    return {f.name: f for f in dataclasses.fields(TrainConfig)}[name]


def setting_default(name: str) -> Any:
    """The default of one :class:`TrainConfig` field."""
    return _field(name).default


def setting_help(name: str) -> str:
    """The help text of one :class:`TrainConfig` field."""
    return _field(name).metadata["help"]


def setting_kind(name: str) -> type:
    """The value type of one :class:`TrainConfig` field: ``int``, ``float``, ``bool`` or ``str``."""
    return _field(name).metadata["kind"]


def setting_choices(name: str) -> tuple | None:
    """The allowed values of one :class:`TrainConfig` field, or ``None`` when any value of its kind goes."""
    return _field(name).metadata["choices"]


def read_settings_file(path: str | Path) -> dict[str, Any]:
    """``{field: value}`` from a run's ``config.json`` (its ``settings``) or a TOML/JSON file of fields.

    Raises:
        ValueError: (one line) for a missing or unreadable file, or one that is not a table of settings.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"settings file {path} does not exist; expected a run's config.json or a .toml/.json "
                         "file of TrainConfig fields")
    values = read_toml_or_json(path)
    if isinstance(values, dict) and "settings" in values:  # a run's config.json
        from ssvae_tf.run_dir import RunDir

        values = RunDir.recorded_settings(values, path)
    if not isinstance(values, dict):
        raise ValueError(f"{path} must hold a table of TrainConfig fields, got {type(values).__name__}")
    TrainConfig.from_mapping(values, origin=str(path))  # unknown fields named now, with the file
    return values
