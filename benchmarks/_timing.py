"""Shared helpers of the benchmark scripts: machine info, seeds, interleaved
median timing, aligned tables, ratio lines and a meter of the CPU used by
other processes (the machine may be shared).

Not a benchmark itself; imported by the ``bench_*.py`` scripts (which put
this directory on ``sys.path``).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import time
from collections.abc import Callable, Mapping, Sequence

# Quiet TensorFlow's C++ start-up banner unless the caller asked otherwise;
# must happen before the first ``import tensorflow``.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

# Each benchmark builds a few tf.functions per image size on purpose; keep
# TensorFlow's retracing warnings out of the report.
tf.get_logger().setLevel("ERROR")

#: A measurement: runs the work once and returns its throughput (images/s).
Measurement = Callable[[], float]


def parse_args(description: str) -> argparse.Namespace:
    """The options every benchmark takes: ``--quick`` and ``--seed``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="short smoke run (numbers are not meaningful)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data and the models (default 0)")
    return parser.parse_args()


def set_seeds(seed: int) -> None:
    """Seed Python, NumPy, TensorFlow and Keras."""
    random.seed(seed)
    np.random.seed(seed)
    import keras

    keras.utils.set_random_seed(seed)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def usable_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def load_average() -> str:
    """1/5/15-minute load averages; above the core count means another job competes."""
    try:
        return "1/5/15 min load average " + " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "load average unavailable"


def _busy_cpu_seconds() -> float | None:
    """CPU seconds all processes have spent busy since boot (Linux ``/proc/stat``)."""
    try:
        with open("/proc/stat", encoding="utf-8") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class ForeignLoad:
    """Share of the machine's CPU used by *other* processes while this one ran.

    Benchmarks on a shared machine are only trustworthy when this is small.
    """

    def __init__(self) -> None:
        self.start = (time.perf_counter(), _busy_cpu_seconds(), sum(os.times()[:4]))

    def report(self) -> str:
        wall0, busy0, own0 = self.start
        busy = _busy_cpu_seconds()
        if busy is None or busy0 is None:
            return "CPU use of other processes: unavailable"
        wall = time.perf_counter() - wall0
        foreign = max(0.0, (busy - busy0) - (sum(os.times()[:4]) - own0))
        share = foreign / (wall * usable_cores())
        warning = ("\nWARNING: other processes competed for the CPU; rerun on a quiet machine "
                   "before trusting these numbers") if share > 0.10 else ""
        return (f"CPU use of other processes during the run: {100 * share:.0f} % "
                f"of {usable_cores()} cores ({foreign:.0f} CPU-s over {wall:.0f} s); {load_average()}{warning}")


def print_machine_info(title: str) -> None:
    """Header: what runs where (cores, CPU, library versions)."""
    import keras

    gpus = tf.config.list_physical_devices("GPU")
    print(f"== {title} ==")
    print(f"date      {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"machine   {usable_cores()} usable cores ({os.cpu_count()} online), {_cpu_model()}, "
          f"{'GPU: ' + str(len(gpus)) if gpus else 'no GPU'}")
    print(f"software  Python {platform.python_version()}, TensorFlow {tf.__version__}, "
          f"Keras {keras.__version__}, NumPy {np.__version__}")
    print(f"load      {load_average()}")
    print(f"threads   TF intra-op {tf.config.threading.get_intra_op_parallelism_threads() or 'default'}, "
          f"inter-op {tf.config.threading.get_inter_op_parallelism_threads() or 'default'}")
    print()


def rate_of(work: Callable[[], object], images_per_call: int, calls: int) -> float:
    """Run ``work`` ``calls`` times back to back; return images per second."""
    start = time.perf_counter()
    for _ in range(calls):
        work()
    return images_per_call * calls / (time.perf_counter() - start)


def calls_for(work: Callable[[], object], seconds: float) -> int:
    """How many back-to-back calls of ``work`` take about ``seconds`` (at least 1)."""
    start = time.perf_counter()
    work()
    return max(1, round(seconds / max(time.perf_counter() - start, 1e-6)))


def interleaved_medians(contenders: Mapping[str, Measurement], rounds: int) -> dict[str, float]:
    """Median throughput of each contender over ``rounds`` interleaved rounds.

    Every round runs each contender once; the order is reversed on odd rounds
    so that slow drifts of the machine (thermal, other load) hit all
    contenders alike.  Warm-up (tracing) is the caller's job.
    """
    names = list(contenders)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(rounds):
        for name in names if round_index % 2 == 0 else reversed(names):
            samples[name].append(contenders[name]())
    return {name: statistics.median(values) for name, values in samples.items()}


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """An aligned plain-text table: text columns left, numbers right."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]
    numeric = [all(isinstance(row[i], (int, float)) for row in rows) for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    print(line(list(headers)))
    print(line(["-" * w for w in widths]))
    for row in cells:
        print(line(row))
    print()


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return str(value)


def print_ratio(label: str, numerator: float, denominator: float, target: float | None = None) -> float:
    """Print ``label: a / b = ratio`` (and whether it meets ``target``); return the ratio."""
    ratio = numerator / denominator
    verdict = "" if target is None else f"   (target >= {target:.2f}: {'met' if ratio >= target else 'NOT met'})"
    print(f"ratio {label:<52} {ratio:6.2f}x{verdict}")
    return ratio
