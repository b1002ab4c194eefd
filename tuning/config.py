"""Search configurations: a small TOML (or JSON) file, checked whole before anything runs.

A config has three tables (every key is optional; the defaults are below)::

    [data]                       # what every trial trains on
    source = "lines"             # lines | lines-hard | microstructure | PATH (.npy/.npz or image folder)
    image_size = 64              # side of the generated images (built-in data only)
    n_images = 1000              # generated images (built-in data only)
    validation_split = 0.3       # held out; the objective is measured on it
    batch_size = 32
    stats_scale = "auto"         # or a number: the statistics normalisation (see ssvae train)
    # and every other data setting of ssvae train (DATA_KEYS; each off by default): dims (2 | 3,
    # generated data), phases (label images), threshold ("otsu" | a grey level), patch_size, ...

    [search]
    tuner = "random"             # random | bayesian (needs scikit-learn) | hyperband
    objective = "val_stats_distance"   # | val_prior_stats_distance | val_combined
    max_trials = 10              # trials in all (hyperband: an upper bound)
    executions_per_trial = 1     # trainings per trial, metrics averaged
    epochs = 8                   # epochs per trial (hyperband: the longest trial)
    seed = 0                     # data split, sampling of the space, weight initialisation
    hyperband_factor = 3
    objective_weights = { val_stats_distance = 1.0, val_prior_stats_distance = 1.0 }  # val_combined only

    [space]                      # any of SPACE_KEYS: every TrainConfig field of the model and loss groups,
                                 # learning_rate and shift_augment; each a value (fixed), {values = [...]}
                                 # or, for numbers, {min, max, sampling}; a field left out keeps its
                                 # TrainConfig default
    latent_dim = { min = 2, max = 128, sampling = "log" }
    alpha = { min = 0.1, max = 10.0, sampling = "log" }
    beta = { min = 0.001, max = 1.0, sampling = "log" }
    learning_rate = { min = 3e-4, max = 3e-3, sampling = "log" }
    filters = { values = [16, 32] }
    depth = "auto"               # stride-2 convolutions: "auto" (4, fewer for small images) or a number
    indicator = { values = ["soft", "linear"] }
    shift_augment = true

Anything wrong (an unknown table or key, an empty range, an unknown
objective or tuner, a value of the wrong type or one that ``TrainConfig``
refuses) raises one ``ValueError`` naming where the value came from (the file,
or the ``--set`` or flag that set it), the key and what was expected.  Light
at import (the standard library and ``ssvae_tf.settings``).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ssvae_tf._io import parse_toml_value, read_toml_or_json
from ssvae_tf.settings import (
    BUILTIN_DATA,
    MAX_SEED,
    MIN_SIDE,
    TrainConfig,
    setting_default,
    setting_group,
    setting_kind,
    setting_names,
)

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
#: Configs shipped with the package, usable by name: ``ssvae tune --config lines``
#: (``demo`` is the tiny search of ``ssvae demo --tune``).
BUILTIN_CONFIGS = ("lines", "microstructure", "microstructure-3d", "demo")
TUNERS = ("random", "bayesian", "hyperband")
#: Objectives that do not depend on alpha and beta (see tuning/README.md).
OBJECTIVES = ("val_stats_distance", "val_prior_stats_distance", "val_combined")
#: Metrics a weighted ``val_combined`` may combine.
COMBINABLE = ("val_stats_distance", "val_prior_stats_distance", "val_pixel_mse")
SAMPLINGS = ("linear", "log")

#: [data] keys whose default in a search is its own (a smaller data set; the statistics scale computed once
#: from the data), in the order ``tune_config.json`` lists them: key -> default.  ``source`` is
#: ``TrainConfig.data``; ``batch_size``, a fit setting, is the same for every trial.
SEARCH_DATA_DEFAULTS = {"source": "lines", "image_size": 64, "n_images": 1000, "validation_split": 0.3,
                        "batch_size": 32, "stats_scale": "auto"}
#: The [data] keys: every data setting of :class:`~ssvae_tf.settings.TrainConfig` and the batch size.
DATA_KEYS = tuple(dict.fromkeys([*SEARCH_DATA_DEFAULTS, *(name for name in setting_names("data") if name != "data")]))
#: The fit settings a trial may vary; the others are the search's own: ``batch_size`` in [data], ``epochs``
#: and ``seed`` in [search], and the epoch a trial keeps is KerasTuner's choice (no ``early_stopping``).
SEARCHED_FIT_SETTINGS = ("learning_rate", "shift_augment")
#: The :class:`~ssvae_tf.settings.TrainConfig` fields a search may set per trial, in field order: every
#: model and loss setting and :data:`SEARCHED_FIT_SETTINGS`; a field absent from [space] keeps its
#: ``TrainConfig`` default.  The data, the epochs and the seed are the same for every trial: [data] and
#: [search] set them.
SPACE_KEYS = tuple(name for name in setting_names()
                   if setting_group(name) in ("model", "loss") or name in SEARCHED_FIT_SETTINGS)


@dataclass(frozen=True)
class Param:
    """One entry of the search space: fixed (``value``), a choice (``values``)
    or a range (``min``/``max`` with ``sampling``)."""

    name: str
    kind: str  # "fixed" | "choice" | "range"
    value: Any = None
    values: tuple = ()
    min: float | None = None
    max: float | None = None
    sampling: str = "linear"

    @property
    def searched(self) -> bool:
        return self.kind != "fixed"

    def declare(self, hp):
        """Register this entry on a ``keras_tuner.HyperParameters`` and return its value."""
        if self.kind == "fixed":
            return hp.Fixed(self.name, self.value)
        if self.kind == "choice":
            return hp.Choice(self.name, list(self.values))
        if setting_kind(self.name) is int:
            return hp.Int(self.name, int(self.min), int(self.max), sampling=self.sampling)
        return hp.Float(self.name, float(self.min), float(self.max), sampling=self.sampling)

    def to_json(self) -> Any:
        if self.kind == "fixed":
            return self.value
        if self.kind == "choice":
            return {"values": list(self.values)}
        return {"min": self.min, "max": self.max, "sampling": self.sampling}


def _search_data_default(key: str) -> Any:
    return SEARCH_DATA_DEFAULTS[key] if key in SEARCH_DATA_DEFAULTS else setting_default(key)


def _train_settings(self) -> dict[str, Any]:
    """These settings as ``TrainConfig`` fields."""
    fields = dataclasses.asdict(self)
    fields["data"] = fields.pop("source")
    scale = fields.pop("stats_scale")
    return {**fields, "stats_scale": None if scale == "auto" else scale}


#: The [data] table of a search: one field per key of :data:`DATA_KEYS`, with its default (the search's
#: own, else ``TrainConfig``'s); ``train_settings()`` gives them as ``TrainConfig`` fields.
DataSettings = dataclasses.make_dataclass(
    "DataSettings", [(key, Any, field(default=_search_data_default(key))) for key in DATA_KEYS], frozen=True,
    namespace={"train_settings": _train_settings, "__module__": __name__})


@dataclass(frozen=True)
class SearchSettings:
    tuner: str = "random"
    objective: str = "val_stats_distance"
    max_trials: int = 10
    executions_per_trial: int = 1
    epochs: int = 8
    seed: int = 0
    hyperband_factor: int = 3
    objective_weights: dict[str, float] = field(
        default_factory=lambda: {"val_stats_distance": 1.0, "val_prior_stats_distance": 1.0})


@dataclass(frozen=True)
class TuneConfig:
    """A checked search configuration (see the module docstring for the file format)."""

    data: DataSettings = field(default_factory=DataSettings)
    search: SearchSettings = field(default_factory=SearchSettings)
    space: dict[str, Param] = field(default_factory=dict)
    source_file: str = "<defaults>"

    def to_json(self) -> dict[str, Any]:
        """Every setting as plain JSON (written to ``tune_config.json`` of a search)."""
        return {
            "data": dataclasses.asdict(self.data),
            "search": dataclasses.asdict(self.search),
            "space": {name: param.to_json() for name, param in self.space.items()},
        }

    @property
    def searched(self) -> list[str]:
        return [name for name, param in self.space.items() if param.searched]


# ----------------------------------------------------------------- parsing
def _key_path(where: str, key: str | None = None) -> tuple[str, ...]:
    """The config keys a checker's ``where`` names: ``"[space] beta min"`` -> ``("space", "beta", "min")``
    (a choice's ``value`` is in its ``values``), ``"the top level"`` -> ``()``; then ``key``, if given."""
    path: list[str] = []
    if where.startswith("["):
        table, _, rest = where[1:].partition("]")
        path = [table, *(part for word in rest.split() for part in word.split("."))]
    path = ["values" if part == "value" else part for part in path]
    return (*path, *([key] if key is not None else []))


class _Checker:
    """Builds ``ValueError``s that name where the value came from: the config file, or the override
    (``--set TABLE.KEY=VALUE``, a flag) that set it.

    Args:
        origin: the config file's name.
        given: ``{key path: what set it}`` of the overrides applied to the file's values.
    """

    def __init__(self, origin: str, given: Mapping[tuple[str, ...], str] | None = None):
        self.origin = origin
        self.given = dict(given or {})

    def source(self, path: tuple[str, ...]) -> str:
        """Who set the value at ``path``: the last override of it or of a table holding it; the
        file with the overrides inside it; else the file."""
        setters = [label for given, label in self.given.items() if path[: len(given)] == given]
        if setters:
            return setters[-1]
        inside = [label for given, label in self.given.items() if given[: len(path)] == path]
        return f"tuning config {self.origin}" + (f" with {', '.join(inside)}" if inside else "")

    def error(self, where: str, message: str, key: str | None = None) -> ValueError:
        return ValueError(f"{self.source(_key_path(where, key))}: {where} {message}")

    def table(self, raw: Any, where: str, allowed: tuple[str, ...] | list[str]) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise self.error(where, f"must be a table, got {raw!r}")
        unknown = sorted(set(raw) - set(allowed))
        if unknown:
            raise self.error(where, f"has unknown key {unknown[0]!r}; expected some of {sorted(allowed)}",
                             key=unknown[0])
        return raw

    def integer(self, value: Any, where: str, low: int = 1, high: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
            span = f">= {low}" if high is None else f"from {low} to {high}"
            raise self.error(where, f"must be an integer {span}, got {value!r}")
        return value

    def number(self, value: Any, where: str, positive: bool = False) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.error(where, f"must be a finite number, got {value!r}")
        if positive and value <= 0:
            raise self.error(where, f"must be > 0, got {value!r}")
        return float(value)

    def choice(self, value: Any, where: str, allowed: tuple[str, ...], hint: str = "") -> str:
        if value not in allowed:
            raise self.error(where, f"must be one of {list(allowed)}{hint}, got {value!r}")
        return value


def _parse_data(check: _Checker, raw: dict[str, Any]) -> DataSettings:
    defaults = DataSettings()
    raw = check.table(raw, "[data]", DATA_KEYS)
    source = raw.get("source", defaults.source)
    if not isinstance(source, str) or not source:
        raise check.error("[data] source", f"must be one of {list(BUILTIN_DATA)} or a path, got {source!r}")
    builtin = source in BUILTIN_DATA
    image_size = raw.get("image_size", defaults.image_size if builtin else None)
    if image_size is not None:
        image_size = check.integer(image_size, "[data] image_size", low=MIN_SIDE)
    split = raw.get("validation_split", defaults.validation_split)
    split = check.number(split, "[data] validation_split")
    if not 0 < split < 1:
        raise check.error("[data] validation_split", f"must be in (0, 1) (the objective needs validation "
                                                     f"data), got {split!r}")
    scale = raw.get("stats_scale", defaults.stats_scale)
    if scale != "auto":
        scale = check.number(scale, "[data] stats_scale", positive=True)
    reading = {name: raw[name] for name in DATA_KEYS if name in raw and name not in SEARCH_DATA_DEFAULTS}
    data = DataSettings(
        source=source,
        image_size=image_size,
        n_images=check.integer(raw.get("n_images", defaults.n_images), "[data] n_images", low=2),
        validation_split=split,
        batch_size=check.integer(raw.get("batch_size", defaults.batch_size), "[data] batch_size"),
        stats_scale=scale,
        **reading,
    )
    try:
        checked = TrainConfig.from_mapping(data.train_settings())
    except (ValueError, TypeError) as error:
        raise check.error("[data]", str(error)) from None
    return dataclasses.replace(data, threshold=checked.threshold)


def _parse_search(check: _Checker, raw: dict[str, Any]) -> SearchSettings:
    defaults = SearchSettings()
    raw = check.table(raw, "[search]", [f.name for f in dataclasses.fields(SearchSettings)])
    objective = raw.get("objective", defaults.objective)
    hint = " (val_loss depends on alpha and beta, so it cannot compare trials)" if objective == "val_loss" else ""
    objective = check.choice(objective, "[search] objective", OBJECTIVES, hint)
    weights = raw.get("objective_weights", defaults.objective_weights)
    weights = check.table(weights, "[search] objective_weights", COMBINABLE)
    weights = {name: check.number(w, f"[search] objective_weights.{name}") for name, w in weights.items()}
    if any(w < 0 for w in weights.values()) or not any(w > 0 for w in weights.values()):
        raise check.error("[search] objective_weights", f"must be >= 0 with at least one > 0, got {weights}")
    factor = check.integer(raw.get("hyperband_factor", defaults.hyperband_factor), "[search] hyperband_factor",
                           low=2)
    return SearchSettings(
        tuner=check.choice(raw.get("tuner", defaults.tuner), "[search] tuner", TUNERS),
        objective=objective,
        max_trials=check.integer(raw.get("max_trials", defaults.max_trials), "[search] max_trials"),
        executions_per_trial=check.integer(raw.get("executions_per_trial", defaults.executions_per_trial),
                                           "[search] executions_per_trial"),
        epochs=check.integer(raw.get("epochs", defaults.epochs), "[search] epochs"),
        seed=check.integer(raw.get("seed", defaults.seed), "[search] seed", low=0, high=MAX_SEED),
        hyperband_factor=factor,
        objective_weights=weights,
    )


def _parse_param(check: _Checker, name: str, raw: Any, data_settings: dict[str, Any]) -> Param:
    """One [space] entry; every value it can take is checked as a ``TrainConfig`` field beside the [data]
    table's ``TrainConfig`` fields ``data_settings`` (``isotropy`` needs ``from_slices``)."""
    kind, where = setting_kind(name), f"[space] {name}"

    def scalar(value: Any, at: str) -> Any:
        if kind is int:
            value = check.integer(value, at)
        elif kind is float:
            value = check.number(value, at)
        elif not isinstance(value, kind):
            raise check.error(at, f"must be a {kind.__name__}, got {value!r}")
        try:
            TrainConfig.from_mapping({**data_settings, name: value})
        except ValueError as error:
            raise check.error(at, str(error)) from None
        return value

    if name == "depth" and raw == "auto":
        return Param(name, "fixed", value="auto")
    if not isinstance(raw, dict):
        return Param(name, "fixed", value=scalar(raw, where))
    if "values" in raw:
        check.table(raw, where, ["values"])
        values = raw["values"]
        if not isinstance(values, list) or not values:
            raise check.error(where, f"has an empty choice: values must be a non-empty list, got {values!r}")
        values = tuple(dict.fromkeys(scalar(v, f"{where} value") for v in values))
        return Param(name, "choice", values=values) if len(values) > 1 else Param(name, "fixed", value=values[0])
    if kind not in (int, float):
        raise check.error(where, f"must be a {kind.__name__} or {{ values = [...] }}, got {raw!r}")
    check.table(raw, where, ["min", "max", "sampling"])
    if "min" not in raw or "max" not in raw:
        raise check.error(where, "needs both min and max (or values = [...], or a single number)")
    low, high = scalar(raw["min"], f"{where} min"), scalar(raw["max"], f"{where} max")
    if low > high:
        raise check.error(where, f"has an empty range: min {low} > max {high}")
    sampling = check.choice(raw.get("sampling", "linear"), f"{where} sampling", SAMPLINGS)
    if sampling == "log" and low <= 0:
        raise check.error(where, f"has log sampling from min {low}; log sampling needs min > 0")
    if low == high:
        return Param(name, "fixed", value=low)
    return Param(name, "range", min=low, max=high, sampling=sampling)


def _parse_space(check: _Checker, raw: dict[str, Any], data: DataSettings) -> dict[str, Param]:
    """The [space] entries given, each checked beside the [data] settings; the other searchable fields keep
    their ``TrainConfig`` defaults."""
    raw = check.table(raw, "[space]", list(SPACE_KEYS))
    data_settings = data.train_settings()
    return {name: _parse_param(check, name, raw[name], data_settings) for name in SPACE_KEYS if name in raw}


def parse_config(raw: dict[str, Any], origin: str = "<dict>",
                 given: Mapping[tuple[str, ...], str] | None = None) -> TuneConfig:
    """Check a config given as nested dicts (the parsed file) and return a :class:`TuneConfig`.

    Args:
        raw: the tables.
        origin: the file's name, for errors.
        given: ``{key path: what set it}`` for values that overrides set (``--set ...``), named in
            errors instead of ``origin``.
    """
    check = _Checker(origin, given)
    raw = check.table(raw, "the top level", ["data", "search", "space"])
    data = _parse_data(check, raw.get("data", {}))
    return TuneConfig(
        data=data,
        search=_parse_search(check, raw.get("search", {})),
        space=_parse_space(check, raw.get("space", {}), data),
        source_file=origin,
    )


def resolve_config_path(name_or_path: str | Path) -> Path:
    """A built-in config name (``lines``, ``microstructure``) or a path to a .toml/.json file."""
    path = Path(name_or_path)
    if not path.exists() and str(name_or_path) in BUILTIN_CONFIGS:
        path = CONFIG_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        raise ValueError(f"tuning config {name_or_path!r} is not a file nor one of the built-in configs "
                         f"{list(BUILTIN_CONFIGS)}")
    return path


def parse_assignment(text: str) -> tuple[list[str], Any]:
    """``"section.key=value"`` (value in TOML syntax, else a string) -> (path, value)."""
    if "=" not in text:
        raise ValueError(f"--set expects SECTION.KEY=VALUE (e.g. search.max_trials=4), got {text!r}")
    key, value_text = (part.strip() for part in text.split("=", 1))
    path = key.split(".")
    if len(path) < 2 or not all(path):
        raise ValueError(f"--set expects SECTION.KEY=VALUE (e.g. space.beta.max=0.5), got {text!r}")
    try:
        value = parse_toml_value(value_text)
    except ValueError:
        value = value_text
    return path, value


def apply_overrides(raw: dict[str, Any], assignments: list[tuple[list[str], Any]]) -> dict[str, Any]:
    """A copy of ``raw`` with each ``(path, value)`` set (creating tables on the way)."""
    raw = json.loads(json.dumps(raw))
    for path, value in assignments:
        node = raw
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):  # e.g. space.beta.max on a fixed beta: make it a range
                child = node[part] = {}
            node = child
        node[path[-1]] = value
    return raw


def load_config(name_or_path: str | Path = "lines",
                overrides: Sequence[tuple[list[str], Any] | tuple[list[str], Any, str]] | None = None) -> TuneConfig:
    """Read, override and check a search config.

    Args:
        name_or_path: ``lines``, ``microstructure`` or a path to a ``.toml``/``.json`` file.
        overrides: ``(["search", "max_trials"], 4)``-style assignments applied before checking; a third
            item says what set it, for errors (default ``--set search.max_trials``).

    Raises:
        ValueError: one line naming where the bad value came from (the file or the override), the key
            and what was expected.
    """
    path = resolve_config_path(name_or_path)
    overrides = list(overrides or [])
    raw = apply_overrides(read_toml_or_json(path), [(keys, value) for keys, value, *_ in overrides])
    given = {tuple(keys): (label[0] if label else f"--set {'.'.join(keys)}") for keys, _, *label in overrides}
    return parse_config(raw, origin=path.name, given=given)
