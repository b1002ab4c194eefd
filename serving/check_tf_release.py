"""Check that an export loads and runs under another TensorFlow release (by default 2.20, TF Serving's).

The Docker image pins ``tensorflow/serving:2.20.0`` (the newest tag known to
exist) while ``ssvae export`` runs under the project's TensorFlow (2.21): a
graph written by a newer TensorFlow may use ops or attributes the older one
does not know.  This script, run by hand (not in CI: it downloads about
600 MB once), checks it the way it can without Docker:

1. in this interpreter, exports a tiny model to a temporary root (or takes
   ``--export ROOT``, a real export root) and computes the answers of every
   version for seeded inputs;
2. creates a virtual environment with ``tensorflow==2.20.*`` (kept in
   ``--venv``, reused next time);
3. there, loads every version twice, with the TF1 session loader (the
   MetaGraph imported into a graph, as TF Serving's C++ loader does: unknown
   ops or attributes fail here) and with ``tf.saved_model.load``, runs
   ``serving_default`` and compares the answers.

Usage (from the repository root)::

    .venv/bin/python serving/check_tf_release.py                 # tiny model, tensorflow==2.20.*
    .venv/bin/python serving/check_tf_release.py --export exports --tensorflow "tensorflow==2.20.0"

Exit status 0 and a line starting ``OK`` when every version agrees (within
``--atol``), 1 and a line starting ``FAILED`` otherwise, 2 when the
environment cannot be built (e.g. no network).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_REQUIREMENT = "tensorflow==2.20.*"
N_INPUTS = 3

# Runs inside the other TensorFlow: argv[1] is the JSON job written by ``main``.
_CHILD = r'''
import json, os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import tensorflow as tf

job = json.loads(open(sys.argv[1]).read())
report = {"tensorflow": tf.__version__, "versions": [], "errors": []}
for item in job["items"]:
    data = np.load(item["data"])
    inputs = {item["input"]: data["input"]}
    expected = {name: data["output_" + name] for name in item["outputs"]}
    answers = {}
    try:
        graph = tf.Graph()
        with tf.compat.v1.Session(graph=graph) as session:
            meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], item["path"])
            signature = meta.signature_def[item["signature"]]
            feeds = {signature.inputs[key].name: value for key, value in inputs.items()}
            fetches = {key: signature.outputs[key].name for key in expected}
            answers["session"] = session.run(fetches, feeds)
        function = tf.saved_model.load(item["path"]).signatures[item["signature"]]
        answers["saved_model.load"] = {key: value.numpy() for key, value in
                                       function(**{key: tf.constant(value) for key, value in inputs.items()}).items()}
    except Exception as error:  # report every failure, go on with the next version
        report["errors"].append(f"{item['name']}: {type(error).__name__}: {' '.join(str(error).split())[:500]}")
        continue
    difference = max(float(np.max(np.abs(np.asarray(answer[key], np.float64) - expected[key])))
                     for answer in answers.values() for key in expected)
    report["versions"].append({"name": item["name"], "max_difference": difference})
print("REPORT " + json.dumps(report))
'''


def reference_answers(export_root: Path, workdir: Path, seed: int = 0) -> list[dict]:
    """Every version of ``export_root``: seeded inputs and this TensorFlow's answers, saved under ``workdir``."""
    import numpy as np
    import tensorflow as tf

    from ssvae_tf.export import model_versions
    from ssvae_tf.export_contract import SIGNATURE

    rng = np.random.default_rng(seed)
    items = []
    for model_dir in sorted(p for p in export_root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for version in model_versions(model_dir):
            path = model_dir / str(version)
            function = tf.saved_model.load(str(path)).signatures[SIGNATURE]
            (input_name, spec), = function.structured_input_signature[1].items()
            shape = [N_INPUTS if side is None else side for side in spec.shape.as_list()]
            value = rng.random(shape, dtype=np.float32)
            outputs = {key: tensor.numpy() for key, tensor in function(**{input_name: tf.constant(value)}).items()}
            data = workdir / f"{model_dir.name}-{version}.npz"
            np.savez(data, input=value, **{f"output_{key}": answer for key, answer in outputs.items()})
            items.append({"name": f"{model_dir.name}/{version}", "path": str(path), "signature": SIGNATURE,
                          "input": input_name, "outputs": sorted(outputs), "data": str(data)})
    if not items:
        raise SystemExit(f"FAILED: no exported versions in {export_root}")
    return items


def tiny_export(root: Path) -> Path:
    """A tiny model (16 px images, 3 latent dimensions) exported to ``root``."""
    from ssvae_tf.export import export_for_serving
    from ssvae_tf.model import build_vae

    model = build_vae((16, 16, 1), latent_dim=3, depth=2, filters=4, hidden_units=16, seed=0)
    export_for_serving(model, root, data_description="check_tf_release.py: untrained tiny model")
    return root


def default_venv(requirement: str) -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "ssvae-tf" / ("venv-" + re.sub(r"[^A-Za-z0-9.]+", "-", requirement).strip("-"))


def ensure_venv(path: Path, requirement: str, python: str | None) -> Path:
    """``path``'s interpreter, after creating the environment and installing ``requirement`` if needed."""
    interpreter = path / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    stamp = path / ".ssvae-requirement"
    if interpreter.exists() and stamp.is_file() and stamp.read_text() == requirement:
        return interpreter
    print(f"creating {path} with {requirement} (a large download, once)", flush=True)
    if python:
        subprocess.run([python, "-m", "venv", "--clear", str(path)], check=True)
    else:
        venv.EnvBuilder(with_pip=True, clear=True).create(path)
    subprocess.run([str(interpreter), "-m", "pip", "install", "--quiet", requirement], check=True)
    stamp.write_text(requirement)
    return interpreter


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tensorflow", default=DEFAULT_REQUIREMENT, metavar="REQUIREMENT",
                        help=f"the TensorFlow to check with, as pip takes it (default: {DEFAULT_REQUIREMENT})")
    parser.add_argument("--export", default=None, metavar="EXPORT_ROOT",
                        help="an export root to check (default: a tiny model exported to a temporary root)")
    parser.add_argument("--venv", default=None, metavar="DIR",
                        help="virtual environment for that TensorFlow, created if needed and reused "
                             "(default: ~/.cache/ssvae-tf/venv-<requirement>)")
    parser.add_argument("--python", default=None,
                        help="interpreter for the environment (default: this one; TensorFlow 2.20 has wheels "
                             "for Python 3.9-3.13)")
    parser.add_argument("--atol", type=float, default=1e-5, help="largest difference accepted")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, str(REPO))

    import tensorflow as tf

    with tempfile.TemporaryDirectory(prefix="ssvae-tf-release-") as tmp:
        workdir = Path(tmp)
        root = Path(args.export) if args.export else tiny_export(workdir / "exports")
        items = reference_answers(root, workdir)
        try:
            interpreter = ensure_venv(Path(args.venv) if args.venv else default_venv(args.tensorflow),
                                      args.tensorflow, args.python)
        except (OSError, subprocess.CalledProcessError) as error:
            print(f"ERROR: cannot build an environment with {args.tensorflow}: {error}")
            return 2
        job = workdir / "job.json"
        job.write_text(json.dumps({"items": items}))
        child = subprocess.run([str(interpreter), "-c", _CHILD, str(job)], capture_output=True, text=True,
                               env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    lines = [line for line in child.stdout.splitlines() if line.startswith("REPORT ")]
    if child.returncode != 0 or not lines:
        print(f"FAILED: the check did not run under {args.tensorflow} (exit status {child.returncode}):\n"
              f"{child.stderr[-3000:]}")
        return 1
    report = json.loads(lines[-1][len("REPORT "):])
    worst = max((entry["max_difference"] for entry in report["versions"]), default=float("nan"))
    names = ", ".join(entry["name"] for entry in report["versions"])
    if report["errors"] or not worst <= args.atol:
        problems = "; ".join(report["errors"]) or f"answers differ by up to {worst:.2e} (> {args.atol:g})"
        print(f"FAILED: TensorFlow {report['tensorflow']} on the export written by TensorFlow {tf.__version__}: "
              f"{problems}")
        return 1
    print(f"OK: TensorFlow {report['tensorflow']} loads (session loader and tf.saved_model.load) and runs {names}, "
          f"written by TensorFlow {tf.__version__}; answers agree within {worst:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
