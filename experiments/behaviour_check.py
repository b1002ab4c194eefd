"""Same seeds, same numbers: a fingerprint of what the ``ssvae`` commands compute, for restructurings.

Runs a small, seeded session of every command that computes numbers (train
and its baseline, evaluate, design by latent search and in pixel space,
stats, sample, tune, export and encode/decode through the local server) on
tiny data, one CPU thread, and prints one JSON object of the numbers they
wrote: history columns, report values, array sums.  Run it before and after
a change that should not change behaviour and compare with ``--compare``::

    python experiments/behaviour_check.py --out /tmp/before.json      # on the old tree
    python experiments/behaviour_check.py --compare /tmp/before.json  # on the new tree

It takes about 3 minutes on 2 cores.  Numbers must agree to ``--rtol``
(default 1e-5: the same TensorFlow kernels on the same thread count agree
to the last bit; the tolerance only forgives the JSON round trip).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

SSVAE = [str(Path(sys.executable).with_name("ssvae"))]
ENV = {**os.environ, "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1", "CUDA_VISIBLE_DEVICES": "-1",
       "PYTHONHASHSEED": "0"}
TINY = ["--image-size", "32", "--n-images", "96", "--epochs", "2", "--latent-dim", "4", "--filters", "8",
        "--hidden-units", "32", "--batch-size", "16", "--seed", "0", "--quiet"]


def ssvae(*args: str) -> None:
    subprocess.run([*SSVAE, *args], check=True, env=ENV, stdout=subprocess.DEVNULL)


def numbers(value, prefix: str, into: dict[str, float]) -> None:
    """Every number in a JSON value (dicts and lists walked), keyed by its path."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, (int, float)):
        if not any(word in prefix.rpartition(".")[2] for word in ("second", "time")):  # wall times vary
            into[prefix] = float(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            numbers(item, f"{prefix}.{key}", into)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            numbers(item, f"{prefix}[{index}]", into)


def collect(folder: Path, name: str, into: dict[str, float]) -> None:
    """The numbers of every JSON, CSV and NPY file under ``folder`` (paths and times left out)."""
    for path in sorted(folder.rglob("*")):
        key = f"{name}/{path.relative_to(folder)}"
        if path.suffix == ".json" and "trial" not in path.name:
            record = json.loads(path.read_text())
            numbers(record, key, into)
        elif path.suffix == ".csv":
            with path.open() as file:
                for row_number, row in enumerate(csv.DictReader(file)):
                    for column, text in row.items():
                        if column is None or "second" in column or "time" in column:
                            continue
                        try:
                            into[f"{key}[{row_number}].{column}"] = float(text)
                        except (TypeError, ValueError):
                            pass
        elif path.suffix == ".npy":
            array = np.load(path)
            if array.dtype.kind in "fiub":
                into[f"{key}.sum"] = float(np.sum(array, dtype=np.float64))
                into[f"{key}.abs_sum"] = float(np.sum(np.abs(array), dtype=np.float64))


def run(work: Path) -> dict[str, float]:
    values: dict[str, float] = {}
    ssvae("train", "--data", "lines", *TINY, "--out", str(work / "ss"))
    ssvae("train", "--data", "lines", *TINY, "--baseline", "--out", str(work / "base"))
    ssvae("evaluate", "--model", str(work / "ss"), "--baseline", str(work / "base"), "--n-images", "24",
          "--out", str(work / "report"))
    target = work / "target.npy"
    np.save(target, (np.add.outer(np.arange(32), np.arange(32)) % 8 < 3)[None].astype(np.float32))
    ssvae("design", "--model", str(work / "ss"), "--target", str(target), "--method", "latent", "--n", "2",
          "--steps", "10", "--quiet", "--out", str(work / "design-latent"))
    ssvae("design", "--target", str(target), "--method", "pixel", "--n", "2", "--steps", "10", "--quiet",
          "--out", str(work / "design-pixel"))
    ssvae("design", "--model", str(work / "ss"), "--volume-fraction", "0.3", "--correlation-length", "3",
          "--method", "refine", "--n", "2", "--steps", "5", "--refine-steps", "5", "--quiet",
          "--out", str(work / "design-refine"))
    ssvae("stats", "microstructure", "--image-size", "32", "--n-images", "40", "--seed", "0",
          "--out", str(work / "stats"))
    ssvae("sample", "--model", str(work / "ss"), "--n", "8", "--seed", "0", "--out", str(work / "sample"))
    ssvae("tune", "--config", "lines", "--image-size", "32", "--n-images", "96", "--max-trials", "2",
          "--epochs", "1", "--seed", "0", "--quiet", "--out", str(work / "tune"))
    ssvae("export", "--model", str(work / "ss"), "--out", str(work / "export"))
    for name in ("ss", "base", "report", "design-latent", "design-pixel", "design-refine", "stats", "sample"):
        collect(work / name, name, values)
    collect(work / "tune" / "best", "tune-best", values)
    return values


def compare(before: dict[str, float], after: dict[str, float], rtol: float) -> list[str]:
    """Every number of ``before`` missing or changed in ``after`` (new numbers are no difference)."""
    problems = [f"missing after: {key}" for key in sorted(before.keys() - after.keys())]
    for key in sorted(before.keys() & after.keys()):
        a, b = before[key], after[key]
        if not (math.isclose(a, b, rel_tol=rtol, abs_tol=1e-12) or (math.isnan(a) and math.isnan(b))):
            problems.append(f"{key}: {a!r} -> {b!r}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="write the numbers to this JSON file")
    parser.add_argument("--compare", help="compare with the numbers in this JSON file; exit 1 on a difference")
    parser.add_argument("--rtol", type=float, default=1e-5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as work:
        values = run(Path(work))
    if args.out:
        Path(args.out).write_text(json.dumps(values, indent=0, sort_keys=True))
    print(f"{len(values)} numbers")
    if args.compare:
        problems = compare(json.loads(Path(args.compare).read_text()), values, args.rtol)
        for line in problems[:50]:
            print(line)
        new = len(values.keys() - json.loads(Path(args.compare).read_text()).keys())
        print(f"{len(values) - new} numbers compared, {len(problems)} differences ({new} new numbers)")
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
