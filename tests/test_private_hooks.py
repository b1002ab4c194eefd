"""The private Keras, KerasTuner and TensorFlow internals the project overrides or uses are still there.

``pyproject.toml`` pins the minor versions these were written against
(keras 3.15.x, keras-tuner 1.4.x; TensorFlow < 2.22).  A new release may
rename or drop any of them without notice: then the override is silently
never called (a backup written non-atomically again, trials saved
non-atomically) or the attribute access fails mid-run.  These tests fail
first, naming the hook and the project file that needs it.

``test_every_private_use_is_listed`` greps the package sources: a new use of
a private name from outside the project must be added to ``HOOKS`` below.
"""

import ast
import inspect
import json
import re
import textwrap
from pathlib import Path

import keras
import keras_tuner
import numpy as np
import pytest
from tensorflow.python.distribute import collective_all_reduce_strategy

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("ssvae_tf", "tuning", "serving")


def _tuner_oracle():
    return keras_tuner.oracles.RandomSearchOracle(objective="val_loss", max_trials=1)


#: (where the owner is, how to get it, the private name, what the project does with it, the file that does it)
#: kind: "override" = a method we override, which the library must still define *and call*;
#: "method" = a method we call; "attribute" = an instance attribute we read or write; "class attribute".
HOOKS = [
    ("keras.callbacks.BackupAndRestore", "_save_model", "override", "ssvae_tf/callbacks.py"),
    ("keras.callbacks.BackupAndRestore", "_weights_path", "attribute", "ssvae_tf/callbacks.py"),
    ("keras.callbacks.BackupAndRestore", "_training_metadata_path", "attribute", "ssvae_tf/callbacks.py"),
    ("keras.callbacks.BackupAndRestore", "_current_epoch", "attribute", "ssvae_tf/callbacks.py"),
    ("keras.callbacks.BackupAndRestore", "_last_batch_seen", "attribute", "ssvae_tf/callbacks.py"),
    ("keras.Model", "_initial_epoch", "attribute", "ssvae_tf/callbacks.py"),
    ("keras_tuner.Oracle", "_save_trial", "override", "tuning/search.py"),
    ("keras_tuner.Oracle", "_get_oracle_fname", "method", "tuning/search.py"),
    ("keras_tuner.Oracle", "_get_trial_dir", "method", "tuning/search.py"),
    ("keras_tuner.Oracle", "_retry_queue", "attribute", "tuning/search.py"),
    ("keras_tuner.Oracle", "_display", "attribute", "tuning/results.py"),
    ("keras_tuner.Tuner", "_is_worker", "method", "tuning/search.py"),
    ("keras_tuner.Tuner", "_get_tuner_fname", "method", "tuning/search.py"),
    ("tf.distribute.MultiWorkerMirroredStrategy.extended", "_in_multi_worker_mode", "method", "ssvae_tf/model.py"),
]

#: The libraries whose private names are tracked here (their versions are pinned).
WATCHED = ("keras", "keras_tuner", "tensorflow")
#: Private names of the standard library the package uses (argparse's help formatter).
STDLIB_PRIVATE = {"_get_help_string"}


def owner_class(owner: str):
    return {
        "keras.callbacks.BackupAndRestore": keras.callbacks.BackupAndRestore,
        "keras.Model": keras.Model,
        "keras_tuner.Oracle": keras_tuner.Oracle,
        "keras_tuner.Tuner": keras_tuner.Tuner,
        "tf.distribute.MultiWorkerMirroredStrategy.extended": collective_all_reduce_strategy.CollectiveAllReduceExtended,
    }[owner]


def owner_instance(owner: str, tmp_path: Path):
    if owner == "keras.callbacks.BackupAndRestore":
        return keras.callbacks.BackupAndRestore(backup_dir=str(tmp_path / "backup"))
    if owner == "keras_tuner.Oracle":
        return _tuner_oracle()
    if owner == "keras.Model":
        return keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    raise AssertionError(f"no instance recipe for {owner}")


def test_installed_versions_are_the_pinned_minor_versions():
    """The hooks below were checked against these: a newer minor version needs them checked again."""
    assert keras.__version__.split(".")[:2] == ["3", "15"], keras.__version__
    assert keras_tuner.__version__.split(".")[:2] == ["1", "4"], keras_tuner.__version__


@pytest.mark.parametrize("owner, name, kind, user", HOOKS,
                         ids=[f"{hook[0].split('.')[-1]}.{hook[1]}" for hook in HOOKS])
def test_private_hook_still_exists(owner, name, kind, user, tmp_path):
    message = (f"{owner}.{name} ({kind}) is gone from the installed version; {user} relies on it: "
               "adapt it (and this list) before moving the version pin in pyproject.toml")
    cls = owner_class(owner)
    if kind in ("override", "method"):
        assert callable(getattr(cls, name, None)), message
    elif kind == "class attribute":
        assert name in vars(cls), message
    else:
        assert hasattr(owner_instance(owner, tmp_path), name), message
    if kind == "override":  # defined is not enough: the library must still call it
        source = inspect.getsource(inspect.getmodule(cls))
        assert f"self.{name}(" in source, f"{owner} no longer calls self.{name}(): {user}'s override is dead; {message}"


def test_keras_tuner_display_keeps_trial_numbers():
    """tuning/results.py reads ``oracle._display.trial_number`` ({trial_id: number shown on the console})."""
    display = _tuner_oracle()._display
    assert isinstance(getattr(display, "trial_number", None), dict)


def test_hyperband_init_only_builds_its_oracle():
    """tuning.search.HyperbandTuner calls ``keras_tuner.Tuner.__init__`` instead of ``Hyperband.__init__`` (to
    pass its own oracle), so Hyperband's ``__init__`` must set nothing that its other methods need."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(keras_tuner.Hyperband.__init__)))
    assigned = [node for node in ast.walk(tree) if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign))
                for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
                if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
                and target.value.id == "self"]
    assert assigned == [], "keras_tuner.Hyperband.__init__ now sets attributes that HyperbandTuner never sets"


def test_keras_fit_still_resumes_from_model_initial_epoch():
    """ssvae_tf/callbacks.py resumes a run by setting ``model._initial_epoch``, which ``fit`` must read."""
    from keras.src.backend.tensorflow import trainer

    assert "self._initial_epoch" in inspect.getsource(trainer.TensorFlowTrainer.fit)


def test_keras_reduces_step_logs_along_axis_0_only_in_multi_worker_mode():
    """ssvae_tf/model.py's ``_step_logs`` gives the logs a length-1 axis exactly when Keras' ``fit`` averages
    them across workers along axis 0: when the strategy's ``extended._in_multi_worker_mode()``."""
    from keras.src.backend.tensorflow import trainer

    assert "_in_multi_worker_mode()" in inspect.getsource(trainer._collective_all_reduce_multi_worker)
    assert 'strategy.reduce("MEAN", v, axis=0)' in inspect.getsource(trainer.reduce_per_replica)


@pytest.mark.slow
def test_the_atomic_backup_is_written_by_fit_and_resumes_it(tmp_path):
    """End to end through Keras' ``fit``: it calls the ``_save_model`` override after each epoch (with
    ``_current_epoch`` set), and a new run resumes after the epochs backed up."""
    from ssvae_tf.training import AtomicBackupAndRestore

    x = np.random.default_rng(0).random((8, 2), dtype=np.float32)
    y = x.sum(axis=1, keepdims=True)

    def fit(epochs):
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        seen = []
        history = keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: seen.append(epoch))
        model.fit(x, y, epochs=epochs, batch_size=4, verbose=0,
                  callbacks=[AtomicBackupAndRestore(str(tmp_path)), history])
        return model, seen

    first, seen = fit(2)
    assert seen == [0, 1] and any(tmp_path.iterdir()), "fit never called AtomicBackupAndRestore._save_model"
    assert json.loads((tmp_path / "training_metadata.json").read_text())["epoch"] == 2
    _, resumed = fit(3)
    assert resumed == [2], "fit did not resume after the backed-up epochs"


def _package_sources() -> dict[Path, str]:
    return {path: path.read_text() for package in PACKAGES for path in sorted((REPO / package).rglob("*.py"))}


def _names_defined(tree: ast.AST) -> set[str]:
    """Names the project gives things: functions, classes, variables, its own attributes (``self._x = ...``,
    tuple targets included), import aliases.  Whether a ``self._x`` is really another library's is checked
    by :func:`test_every_private_override_and_attribute_is_listed`."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.For, ast.With, ast.NamedExpr)):
            targets = (node.targets if isinstance(node, ast.Assign) else
                       [item.optional_vars for item in node.items if item.optional_vars] if isinstance(node, ast.With)
                       else [node.target])
            for target in targets:
                for leaf in ast.walk(target):
                    if isinstance(leaf, ast.Attribute) and isinstance(leaf.value, ast.Name) \
                            and leaf.value.id in ("self", "cls"):
                        names.add(leaf.attr)  # (``self.model._x = ...`` sets another library's attribute)
                    elif isinstance(leaf, ast.Name):
                        names.add(leaf.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update(alias.asname or alias.name.split(".")[0] for alias in node.names)
    return names


def test_every_private_use_is_listed():
    """Every ``x._name`` (or ``getattr(x, "_name")``) in the package whose ``_name`` the project does not
    define itself is one of ``HOOKS`` (or a known standard-library one): new ones must be added there."""
    sources = _package_sources()
    defined = {path.stem for path in sources} | {path.name for path in REPO.glob("*/_*") if path.is_dir()}
    for text in sources.values():
        defined |= _names_defined(ast.parse(text))
    overridden = {name for _, name, kind, _ in HOOKS if kind == "override"}
    listed = {name for _, name, _, _ in HOOKS} | STDLIB_PRIVATE
    unlisted = {}
    for path, text in sources.items():
        for match in re.finditer(r"\.(_[a-z]\w*)\b|getattr\([^,()]+,\s*[\"'](_[a-z]\w*)[\"']", text):
            name = match.group(1) or match.group(2)
            if (name not in defined or name in overridden) and name not in listed:
                unlisted.setdefault(name, set()).add(str(path.relative_to(REPO)))
    assert not unlisted, f"private names of other libraries used but not listed in HOOKS: {unlisted}"


def test_every_listed_hook_is_still_used():
    """A hook nobody uses any more should leave the list (and maybe the version pin can relax)."""
    sources = "\n".join(_package_sources().values())
    for owner, name, kind, user in HOOKS:
        assert re.search(rf"\b{name}\b", sources), f"nothing uses {owner}.{name} any more (was in {user})"


def _project_modules() -> list[str]:
    names = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _self_attributes(cls) -> set[str]:
    """The ``_x`` of every ``self._x`` in ``cls``'s source."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):
        return set()
    return {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name) and node.value.id == "self" and re.fullmatch(r"_[a-z]\w*", node.attr)}


def test_every_private_override_and_attribute_is_listed():
    """In every project class with a Keras, KerasTuner or TensorFlow base: each ``_name`` it defines that such a
    base defines too (an override), and each ``self._name`` it uses that such a base uses too (the base's
    attribute), must be one of ``HOOKS``."""
    import importlib
    import sys

    listed = {name for _, name, _, _ in HOOKS} | STDLIB_PRIVATE
    overrides = {name for _, name, kind, _ in HOOKS if kind == "override"} | STDLIB_PRIVATE
    ours = tuple(f"{package}." for package in PACKAGES) + PACKAGES
    found, wrong_kind = {}, {}
    for module_name in _project_modules():
        if module_name.endswith("__main__"):
            continue
        module = sys.modules.get(module_name) or importlib.import_module(module_name)
        for cls in vars(module).values():
            if not inspect.isclass(cls) or cls.__module__ != module_name:
                continue
            external = [base for base in cls.__mro__[1:] if base.__module__.startswith(WATCHED)]
            if not external:
                continue
            theirs = set().union(*(_self_attributes(base) | set(vars(base)) for base in external))
            for own in (base for base in cls.__mro__ if base.__module__.startswith(ours)):
                for name in (set(vars(own)) | _self_attributes(own)) & theirs:
                    if not re.fullmatch(r"_[a-z]\w*", name):
                        continue
                    found.setdefault(name, set()).add(f"{module_name}.{cls.__name__}")
                    if name in vars(own) and callable(vars(own)[name]) and name not in overrides:
                        wrong_kind.setdefault(name, set()).add(f"{module_name}.{cls.__name__}")
    unlisted = {name: sorted(where) for name, where in found.items() if name not in listed}
    assert not unlisted, f"private names of other libraries overridden or used but not listed in HOOKS: {unlisted}"
    assert not wrong_kind, f"private methods overridden but not listed as overrides in HOOKS: {wrong_kind}"
