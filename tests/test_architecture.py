"""The floor plan of docs/architecture.md, checked: layers import downwards only, no import cycles, light contracts.

The import graph is read from the source (every ``import`` statement, also
those inside functions), so a lazy import cannot hide an arrow pointing up.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ssvae_tf", "tuning", "serving")

#: Lowest layer first; a module belongs to the first layer holding one of its prefixes, and imports only modules
#: of its own layer or below.  The same list, in words, is the table of docs/architecture.md.
LAYERS = (
    ("utilities and contracts", ("ssvae_tf._checks", "ssvae_tf._io", "ssvae_tf._lazy", "ssvae_tf._progress",
                                 "ssvae_tf.volume_tiff",
                                 "ssvae_tf.paper", "ssvae_tf.export_contract", "ssvae_tf.design.defaults",
                                 "ssvae_tf.stats.phases", "ssvae_tf.stats.units", "serving.contract")),
    ("data", ("ssvae_tf.data",)),
    ("statistics", ("ssvae_tf.stats", "ssvae_tf.latent_prior")),
    ("settings", ("ssvae_tf.settings", "ssvae_tf.schedules", "ssvae_tf.presets")),
    ("model", ("ssvae_tf.model", "ssvae_tf.augment")),
    ("workflows", ("ssvae_tf.training", "ssvae_tf.callbacks", "ssvae_tf.distribute", "ssvae_tf.run_dir",
                   "ssvae_tf.evaluation", "ssvae_tf.inference", "ssvae_tf.design", "ssvae_tf.export",
                   "ssvae_tf.figures")),
    ("tuning and serving", ("tuning", "serving")),
    ("commands", ("ssvae_tf.commands", "ssvae_tf.__main__")),
)
#: Modules that must import without TensorFlow: what ``--help`` and the contracts read.
LIGHT = ("ssvae_tf", "ssvae_tf.commands.cli", "ssvae_tf.settings", "ssvae_tf.presets", "ssvae_tf.export_contract",
         "ssvae_tf.design.defaults", "ssvae_tf.stats.phases", "ssvae_tf.stats.units", "serving.contract")


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports (``from package import module`` counts the module only)."""
    known = modules()

    def resolve(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                imported = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
            else:
                continue
            targets |= {target for target in map(resolve, imported) if target and target != name}
        graph[name] = targets
    return graph


def layer(module: str) -> int:
    for index, (_, prefixes) in enumerate(LAYERS):
        if any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes):
            return index
    raise AssertionError(f"{module} is in no layer of LAYERS")


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), ignoring the root package's lazy table."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v] - {"ssvae_tf"}:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_every_module_is_in_a_layer_and_imports_downwards_only():
    graph = {source: targets - {"ssvae_tf"} for source, targets in import_graph().items() if source != "ssvae_tf"}
    upward = [f"{source} ({LAYERS[layer(source)][0]}) imports {target} ({LAYERS[layer(target)][0]})"
              for source, targets in graph.items() for target in sorted(targets) if layer(target) > layer(source)]
    assert upward == []


def test_only_the_command_layer_uses_tuning_and_serving():
    graph = import_graph()
    users = {source for source, targets in graph.items() if source.startswith("ssvae_tf")
             and any(t.split(".")[0] in ("tuning", "serving") for t in targets)}
    assert {u for u in users if not u.startswith("ssvae_tf.commands")} == set()


@pytest.mark.slow
def test_contracts_and_help_import_no_tensorflow():
    code = (f"import importlib, sys\nfor name in {LIGHT!r}:\n    importlib.import_module(name)\n"
            "print(sorted({'tensorflow', 'keras', 'grpc'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


#: Standard-library modules that exist on POSIX systems only: importing one stops the package on Windows.
POSIX_ONLY = {"fcntl", "termios", "resource", "pwd", "grp", "posix", "tty", "pty", "syslog"}


def test_no_module_imports_a_posix_only_module():
    """The package runs on Linux, macOS and Windows (pyproject's classifiers): the run directory's lock
    is ``filelock``'s, an export's writer is looked up with ``psutil``."""
    users = {}
    for name, path in modules().items():
        tree = ast.parse(path.read_text())
        guarded = {id(inner) for node in ast.walk(tree) if isinstance(node, ast.Try)
                   and any(_catches_import_error(handler) for handler in node.handlers)
                   for statement in node.body for inner in ast.walk(statement)}
        for node in ast.walk(tree):
            if id(node) in guarded:  # try: import x / except ImportError: works without it
                continue
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            users.update({name: top for top in (n.split(".")[0] for n in names) if top in POSIX_ONLY})
    assert users == {}


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    caught = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(kind, ast.Name) and kind.id in ("ImportError", "ModuleNotFoundError") for kind in caught)
