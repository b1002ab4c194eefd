"""Serving throughput and latency: gRPC (local TF Serving-compatible server) vs the SavedModel in-process.

Run from the repository root with the project's virtualenv:

    python benchmarks/bench_serving.py            # full run, ~1.5 min on 2 cores
    python benchmarks/bench_serving.py --quick    # smoke run, ~20 s

What is measured: the default architecture of ``build_vae`` at 64x64
(latent_dim 9, depth 4, filters 32, hidden_units 256, untrained: speed does
not depend on the weights) exported with ``export_for_serving``.  For encode
(images -> z_mean, z_log_var) and decode (z -> images) at batch 1, 16 and
256, two contenders answer the same NumPy batch with NumPy arrays:

  * in-process: the exported SavedModel loaded with ``tf.saved_model.load``,
    its ``serving_default`` signature called on ``tf.constant(batch)`` and the
    outputs turned into NumPy;
  * gRPC: ``SSVAEClient.encode``/``decode`` against ``ssvae serve`` running
    the same SavedModel in a separate process on 127.0.0.1 (one request at a
    time: the latency a design loop sees; serialisation, loopback transfer
    and the server's request handling included).

Each contender is warmed up, then the two alternate call by call (the order
swapped every pair) for about 8 s each per row, so both get the same share of
whatever else runs on the machine; throughput is images/s over all calls,
latency the p50 and p99 of every call.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import (  # noqa: E402  (sets TF_CPP_MIN_LOG_LEVEL before TensorFlow loads)
    ForeignLoad,
    calls_for,
    parse_args,
    print_machine_info,
    print_ratio,
    print_table,
    set_seeds,
)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the serving package, also when it is not installed

from serving.client import SSVAEClient  # noqa: E402
from ssvae_tf.data import generate_lines  # noqa: E402
from ssvae_tf.export import SIGNATURE, export_for_serving  # noqa: E402
from ssvae_tf.model import build_vae  # noqa: E402

SIZE, LATENT = 64, 9
BATCHES = (1, 16, 256)
IN_PROCESS, GRPC = "in-process SavedModel", "gRPC (ssvae serve)"


def start_server(export_root: Path) -> tuple[subprocess.Popen, str]:
    """``ssvae serve`` on a free loopback port; returns the process and its target."""
    process = subprocess.Popen([sys.executable, "-m", "ssvae_tf.cli", "serve", "--models", str(export_root),
                                "--port", "0"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True)
    for line in process.stdout:
        match = re.search(r" on (\S+) \(gRPC\)", line)
        if match:
            return process, match.group(1)
    raise RuntimeError(f"ssvae serve exited with status {process.wait()}")


def in_process_calls(export_root: Path) -> dict[str, Callable[[np.ndarray], object]]:
    encoder = tf.saved_model.load(str(export_root / "ssvae_encoder" / "1")).signatures[SIGNATURE]
    decoder = tf.saved_model.load(str(export_root / "ssvae_decoder" / "1")).signatures[SIGNATURE]
    return {
        "encode": lambda x: {k: v.numpy() for k, v in encoder(images=tf.constant(x)).items()},
        "decode": lambda z: decoder(z=tf.constant(z))["images"].numpy(),
    }


def seconds_of(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def measure(contenders: dict[str, Callable[[], object]], batch: int, seconds: float) -> dict[str, dict[str, float]]:
    """Alternate single calls of the contenders for about ``seconds`` each.

    Call-by-call alternation (the order swapped every pair) gives both the
    same share of whatever else the machine is doing.  Per contender:
    images/s over all calls, p50/p99 latency in ms.
    """
    calls = min(calls_for(work, seconds) for work in contenders.values())  # also warms up
    latencies: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for index in range(max(calls, 5)):
        for name in names if index % 2 == 0 else reversed(names):
            latencies[name].append(seconds_of(contenders[name]))
    return {name: {"rate": batch * len(times) / sum(times),
                   "p50": 1e3 * float(np.percentile(times, 50)),
                   "p99": 1e3 * float(np.percentile(times, 99))} for name, times in latencies.items()}


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    set_seeds(args.seed)
    foreign = ForeignLoad()
    print_machine_info("bench_serving" + (" --quick" if args.quick else ""))
    seconds = 0.5 if args.quick else 8.0

    images = generate_lines(max(BATCHES), SIZE, seed=args.seed, progress=False).images
    z = np.random.default_rng(args.seed).standard_normal((max(BATCHES), LATENT)).astype(np.float32)
    model = build_vae((SIZE, SIZE, 1), latent_dim=LATENT, seed=args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        export_root = Path(tmp) / "export"
        export_for_serving(model, export_root)
        local = in_process_calls(export_root)
        process, target = start_server(export_root)
        try:
            with SSVAEClient(target, timeout=120) as client:
                remote = {"encode": client.encode, "decode": client.decode}
                inputs = {"encode": images, "decode": z}
                results = {}
                for op in ("encode", "decode"):
                    for batch in BATCHES:
                        x = inputs[op][:batch]
                        results[op, batch] = measure({IN_PROCESS: lambda: local[op](x), GRPC: lambda: remote[op](x)},
                                                     batch, seconds)
                        print(f"{op} batch {batch}: done", flush=True)
        finally:
            process.terminate()
            process.wait()

    print()
    print(f"Serving, {SIZE}x{SIZE} images, latent_dim {LATENT}: single calls alternated, ~{seconds:g} s "
          "per contender and row")
    print_table(["op", "batch", "path", "images/s", "p50 ms", "p99 ms"],
                [[op, batch, name, r["rate"], r["p50"], r["p99"]]
                 for (op, batch), by_path in results.items() for name, r in by_path.items()])
    for (op, batch), by_path in results.items():
        print_ratio(f"{op} batch {batch}: gRPC / in-process throughput", by_path[GRPC]["rate"],
                    by_path[IN_PROCESS]["rate"], target=0.8 if batch == max(BATCHES) else None)
    print(f"\n{foreign.report()}")


if __name__ == "__main__":
    main()
