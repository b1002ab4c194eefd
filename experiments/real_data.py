"""A recorded run on real data: the nanopore volume of nanomesh, in 2-D and 3-D, into docs/real-data.md.

The data: ``nanomesh/data/nanopores3d.npy`` of nanomesh 0.9.1 (a 200^3 uint8
grey volume of a nanoporous material from focused-ion-beam tomography,
Apache-2.0; https://github.com/hpgem/nanomesh).  It ships inside the
package's wheel, so this script fetches the wheel with
``pip download --no-deps nanomesh==0.9.1`` into a cache folder and reads the
array out of it; it never installs the package.

Then, for each of two settings,

* 2-D: the 200 slices (z) as images, random 64 px crops, the last 35 % of the
  rows of every slice held out (``--validation-slab``);
* 3-D: the volume itself, random 32^3 crops, the last 35 % of its slices held out;

it trains the statistics VAE and the pixel baseline at equal budgets
(``ssvae train`` subprocesses, one thread each, both at once; finished runs
are reused, interrupted ones resume), thresholding the grey values with
Otsu's method (``--threshold otsu``), evaluates both on the held-out crops
(``ssvae_tf.evaluation.compare_runs`` into ``docs/figures/real-data-<2d|3d>/``)
and rewrites ``docs/real-data.md``, keeping the notes below its
``NOTES_MARKER`` line.

Not part of the test run.  Usage (from the repository root):

    .venv/bin/python experiments/real_data.py                 # both settings
    .venv/bin/python experiments/real_data.py --settings 2d --epochs 10   # a shorter 2-D run
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

from reproduce import ROOT, TECHNIQUES, rewrite_keeping_notes, train_runs, wall_time
from ssvae_tf._io import atomic_write, write_json
from ssvae_tf.settings import TrainConfig

PACKAGE, VERSION = "nanomesh", "0.9.1"
#: The array's path inside the wheel.
MEMBER = "nanomesh/data/nanopores3d.npy"
#: The two settings: name -> (data file, crop side, TrainConfig fields besides the data, the budget included).
#: 3-D convolutions are slow on a CPU (about 6 s per batch of 16 32^3 crops on one core), hence fewer epochs.
SETTINGS = {
    "2d": ("slices.npy", 64, {"filters": 16, "hidden_units": 512, "batch_size": 32, "crops_per_epoch": 1024,
                              "epochs": 30}),
    "3d": ("volume.npy", 32, {"filters": 8, "hidden_units": 256, "batch_size": 16, "crops_per_epoch": 256,
                              "epochs": 12}),
}
#: The held-out slab: the last 35 % of every slice's rows (2-D) or of the volume's slices (3-D), 70 of 200,
#: so a 64 px crop fits in it.
VALIDATION_SPLIT = 0.35
#: Targets (issue 11): statistics-error ratio SS-VAE / baseline and volume-fraction difference of the SS-VAE.
TARGET_RATIO, TARGET_VOLUME_FRACTION_PCT = 0.5, 5.0


def fetch_wheel(cache: Path) -> Path:
    """The nanomesh wheel in ``cache``, downloaded with pip (no dependencies, no install) if absent."""
    cache.mkdir(parents=True, exist_ok=True)
    found = sorted(cache.glob(f"{PACKAGE}-{VERSION}-*.whl"))
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                        f"{PACKAGE}=={VERSION}", "--dest", str(cache)], check=True)
        found = sorted(cache.glob(f"{PACKAGE}-{VERSION}-*.whl"))
    if not found:
        raise SystemExit(f"pip left no {PACKAGE}-{VERSION} wheel in {cache}")
    return found[0]


def read_volume(wheel: Path) -> np.ndarray:
    """The grey volume ``(D, H, W)`` stored in ``wheel`` at :data:`MEMBER`.

    Raises:
        ValueError: if the wheel holds no such array or it is not a 3-D volume.
    """
    with zipfile.ZipFile(wheel) as archive:
        if MEMBER not in archive.namelist():
            raise ValueError(f"{wheel} holds no {MEMBER}")
        volume = np.load(io.BytesIO(archive.read(MEMBER)))
    if volume.ndim != 3:
        raise ValueError(f"{MEMBER} in {wheel} has shape {volume.shape}; expected a volume (D, H, W)")
    return volume


def write_data(volume: np.ndarray, folder: Path) -> dict[str, Path]:
    """The training files of both settings, written atomically into ``folder``: ``slices.npy``, the
    volume as a stack of ``D`` images ``(D, H, W)``, and ``volume.npy``, one volume ``(1, D, H, W)``.
    The stored grey values are kept (``ssvae train --threshold otsu`` binarises them)."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"slices.npy": volume, "volume.npy": volume[np.newaxis]}
    for name, array in arrays.items():
        atomic_write(folder / name, lambda tmp, array=array: np.save(tmp, array))
    return {name: folder / name for name in arrays}


def run_configs(data_file: Path, patch_size: int, fields: dict, seed: int) -> dict[str, TrainConfig]:
    """The SS-VAE (the ``ours`` preset's statistics settings) and the pixel baseline of one setting."""
    from ssvae_tf.presets import preset

    ours = preset("ours")
    common = dict(data=str(data_file), image_size=None, threshold="otsu", patch_size=patch_size,
                  validation_slab=True, validation_split=VALIDATION_SPLIT, seed=seed, latent_dim=ours.latent_dim,
                  **fields)
    techniques = {name: getattr(ours, name) for name in TECHNIQUES}
    return {"ss-vae": TrainConfig(**common, **techniques),
            "baseline": TrainConfig(**common, baseline=True)}


def run_setting(name: str, data_file: Path, args: argparse.Namespace) -> dict:
    """Train and evaluate one setting; returns (and writes) its ``results.json`` record."""
    from ssvae_tf.evaluation import compare_runs
    from ssvae_tf.evaluation.figures import plot_learning_curves
    from ssvae_tf.run_dir import RunDir

    _, patch_size, fields = SETTINGS[name]
    configs = run_configs(data_file, patch_size, {**fields, **({"epochs": args.epochs} if args.epochs else {})},
                          args.seed)
    runs_dir = args.runs_dir / name
    runs_dir.mkdir(parents=True, exist_ok=True)
    train_runs(configs, runs_dir)
    out = args.docs_dir / "figures" / f"real-data-{name}"
    comparison = compare_runs(runs_dir / "ss-vae", runs_dir / "baseline", out, n_images=args.n_eval)
    plot_learning_curves({label: RunDir(runs_dir / label).read_history() for label in configs},
                         out / "learning_curves.png", title=f"nanopores, {name.upper()}: validation statistics error")
    record = {
        "setting": name, "patch_size": patch_size,
        "settings": {label: config.to_json() for label, config in configs.items()},
        "reading": RunDir(runs_dir / "ss-vae").record().get("reading", {}),
        "summaries": comparison.summaries, "ratio": comparison.ratio, "ratio_ci": comparison.ratio_ci,
        "table": comparison.table,
        "training_seconds": {label: wall_time(runs_dir / label) for label in configs},
        "evaluation_seconds": comparison.seconds, "machine": f"{os.cpu_count()} CPU cores",
    }
    write_json(out / "results.json", record)
    return record


def _section(record: dict) -> str:
    from ssvae_tf.evaluation.summary import format_interval

    name, ours = record["setting"], record["summaries"]["ss-vae"]
    side = record["patch_size"]
    crops = f"{side} px crops of the slices" if name == "2d" else f"{side}^3 crops of the volume"
    ratio_met = record["ratio_ci"][1] <= TARGET_RATIO if record["ratio_ci"] else record["ratio"] <= TARGET_RATIO
    vf = ours["volume_fraction_diff_mean"]
    settings = record["settings"]["ss-vae"]
    seconds = record["training_seconds"]
    return (
        f"## {name.upper()}: {crops}\n\n"
        f"Otsu's threshold {record['reading']['threshold']:.3f} (grey level: darker voxels are the black phase 0 the loss compares), "
        f"seed {settings['seed']}, "
        f"{settings['epochs']} epochs of {settings['crops_per_epoch']} crops per model; "
        f"training {seconds['ss-vae'] / 60:.1f} min (SS-VAE) and {seconds['baseline'] / 60:.1f} min (baseline), "
        f"{record['machine']}, both at once.\n\n"
        f"| target | required | measured [95 % CI] | |\n|---|---|---|---|\n"
        f"| SS-VAE / baseline statistics error | ≤ {TARGET_RATIO} | {record['ratio']:.2f}x"
        f"{format_interval(record['ratio_ci'], '{:.2f}')} | {'met' if ratio_met else '**not met**'} |\n"
        f"| volume-fraction difference, SS-VAE (%) | ≤ {TARGET_VOLUME_FRACTION_PCT:g} | {vf:.1f}"
        f"{format_interval((ours['volume_fraction_diff_mean_ci_low'], ours['volume_fraction_diff_mean_ci_high']), '{:.1f}')}"
        f" | {'met' if vf <= TARGET_VOLUME_FRACTION_PCT else '**not met**'} |\n\n"
        f"{record['table']}\n\n"
        f"![reconstructions](figures/real-data-{name}/pairs_ss-vae.png)\n\n"
        f"![learning curves](figures/real-data-{name}/learning_curves.png)\n\n"
        f"The full report: [figures/real-data-{name}/report.md](figures/real-data-{name}/report.md).\n"
    )


def write_doc(docs_dir: Path) -> Path:
    """Rewrite ``docs/real-data.md`` from the ``results.json`` of each setting run so far."""
    import json

    doc = docs_dir / "real-data.md"
    records = [json.loads(path.read_text()) for name in SETTINGS
               if (path := docs_dir / "figures" / f"real-data-{name}" / "results.json").is_file()]
    header = (
        "# Real data: the nanopore volume, in 2-D and 3-D\n\n"
        "Generated by `experiments/real_data.py` (do not edit above the notes marker). The volume is "
        f"`{MEMBER}` of {PACKAGE} {VERSION} (200^3 grey voxels from focused-ion-beam tomography of a nanoporous "
        "material, Apache-2.0), fetched as the package's wheel and never installed. Both models train on random "
        "crops of the same thresholded data at the same budget; the last "
        f"{VALIDATION_SPLIT * 100:.0f} % of every slice's rows (2-D) or of the volume's slices (3-D) is never trained on, and every number below is measured on fixed crops from "
        "there. Statistics error: mean squared difference of the periodic autocorrelations of the black phase "
        "(hard indicator of the input, the soft one of the reconstruction), as in docs/reproduction.md; brackets "
        "are 95 % bootstrap intervals over the evaluated crops (paired for the ratio).\n"
    )
    body = "\n".join(_section(record) for record in records)
    return rewrite_keeping_notes(doc, f"{header}\n{body}\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs per model (default: 30 in 2-D, 12 in 3-D, see SETTINGS)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the crops and the weights (default 0)")
    parser.add_argument("--n-eval", type=int, default=1000, help="validation crops evaluated, at most (default 1000)")
    parser.add_argument("--cache", type=Path, default=ROOT / "experiments" / "cache",
                        help="where the wheel and the data files go (default experiments/cache)")
    parser.add_argument("--runs-dir", type=Path, default=ROOT / "experiments" / "runs" / "real-data",
                        help="where the run directories go (default experiments/runs/real-data)")
    parser.add_argument("--docs-dir", type=Path, default=ROOT / "docs",
                        help="where real-data.md and figures/ go (default docs)")
    args = parser.parse_args(argv)
    from ssvae_tf.commands.base import import_tensorflow_quietly

    files = write_data(read_volume(fetch_wheel(args.cache)), args.cache)
    import_tensorflow_quietly()
    for name in args.settings:
        started = time.perf_counter()
        record = run_setting(name, files[SETTINGS[name][0]], args)
        print(f"{name}: SS-VAE / baseline statistics error {record['ratio']:.2f}x "
              f"({time.perf_counter() - started:.0f} s)")
        print(f"wrote {write_doc(args.docs_dir)}")


if __name__ == "__main__":
    main()
