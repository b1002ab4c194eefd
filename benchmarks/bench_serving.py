"""Serving throughput and latency: gRPC (local TF Serving-compatible server) vs the SavedModel in-process.

Run from the repository root with the project's virtualenv:

    python benchmarks/bench_serving.py            # full run, ~1.5 min on 2 cores
    python benchmarks/bench_serving.py --quick    # smoke run, ~20 s
    python benchmarks/bench_serving.py --load     # the server under load, ~5 min on 2 cores
    python benchmarks/bench_serving.py --load --quick   # its smoke run, ~1.5 min
    python benchmarks/bench_serving.py --batching # server-side batching vs in-process, ~1 min

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

``--load``: the server under concurrent load (issue 13).  ``ssvae serve
--rest-port 0`` (8 gRPC workers, 8 REST threads behind one reader) answers encode
requests (images -> z_mean, z_log_var) from 1, 8 and 32 client threads over
gRPC and over REST, batch 1 and 64.  Requests are built once and sent as they
are (gRPC: the serialised PredictRequest on one shared channel, the answer
parsed into arrays; REST: the JSON body on one keep-alive connection per
thread, the answer's status checked and its body read), so the numbers are
the server's, not the client's: throughput, p50/p99 latency and errors
(anything but an answer; must be 0).  The server's resident memory is read
before and after 10 000 batch-1 requests (half gRPC, half REST, 8 threads)
sent after the load table warmed it up: it must not grow by more than
``RSS_BOUND_MB``.  For comparison the same SavedModel is called in-process
(its ``serving_default`` signature on ``tf.constant(batch)``, outputs to
NumPy) from 1 and 8 threads, at batch 1 and 256, in short blocks alternating
with the same gRPC load (the order swapped every pair); the ratios
gRPC / in-process are printed against the targets (>= 0.75 at batch 1,
>= 0.9 at batch 256).

``--batching``: server-side batching (``ssvae serve --enable-batching`` with
``serving/batching.config``).  Encode at batch 1 from 8 client threads, in
short blocks alternated (the order rotated every block): the SavedModel
in-process (8 threads calling its signature), gRPC to ``ssvae serve``, and
gRPC to ``ssvae serve --enable-batching`` (both servers running the whole
time); the ratios gRPC / in-process against the target >= 0.75.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import (  # noqa: E402  (sets TF_CPP_MIN_LOG_LEVEL before TensorFlow loads)
    ForeignLoad,
    calls_for,
    print_machine_info,
    print_ratio,
    print_table,
    set_seeds,
)

import grpc  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow_serving.apis import predict_pb2  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the serving package, also when it is not installed

from serving.client import SSVAEClient  # noqa: E402
from ssvae_tf.data import generate_lines  # noqa: E402
from ssvae_tf.export import export_for_serving  # noqa: E402
from ssvae_tf.export_contract import SIGNATURE  # noqa: E402
from ssvae_tf.model import build_vae  # noqa: E402

SIZE, LATENT = 64, 9
BATCHES = (1, 16, 256)
IN_PROCESS, GRPC = "in-process SavedModel", "gRPC (ssvae serve)"
BATCHED = "gRPC (ssvae serve --enable-batching)"
#: --load: client threads, batch sizes of the load table, and of the in-process comparison.
CONCURRENCY, LOAD_BATCHES, RATIO_BATCHES = (1, 8, 32), (1, 64), (1, 256)
#: --load: requests of the memory check, and how much the server's resident memory may grow over them (MB).
RSS_REQUESTS, RSS_BOUND_MB = 10_000, 50.0
#: --load: the targets of gRPC / in-process throughput, by batch size, and the blocks each is measured in.
RATIO_TARGETS, RATIO_BLOCKS = {1: 0.75, 256: 0.9}, 8
PREDICT_METHOD = "/tensorflow.serving.PredictionService/Predict"


def parse_args(description: str) -> argparse.Namespace:
    """``--quick`` and ``--seed`` as every benchmark takes them, and ``--load``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="short smoke run (numbers are not meaningful)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data and the models (default 0)")
    parser.add_argument("--load", action="store_true",
                        help="the server under concurrent load: gRPC and REST, 1/8/32 threads, memory, ratios")
    parser.add_argument("--batching", action="store_true",
                        help="server-side batching: gRPC with and without it vs in-process, batch 1, 8 threads")
    return parser.parse_args()


def start_server(export_root: Path, rest: bool = False, *flags: str) -> tuple[subprocess.Popen, str, str | None]:
    """``ssvae serve [flags]`` on free loopback ports; returns the process, its gRPC target and its REST URL
    (or None)."""
    command = [sys.executable, "-m", "ssvae_tf", "serve", "--models", str(export_root), "--port", "0", *flags]
    process = subprocess.Popen(command + (["--rest-port", "0"] if rest else []), cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    for line in process.stdout:
        match = re.search(r" on (\S+) \(gRPC\)(?: and (\S+) \(REST\))?", line)
        if match:
            return process, match.group(1), match.group(2)
    raise RuntimeError(f"ssvae serve exited with status {process.wait()}")


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MB (Linux)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024


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


# ------------------------------------------------------------------ --load
class GrpcLoad:
    """Encode requests over one shared gRPC channel: the serialised request sent as it is, the answer parsed."""

    def __init__(self, target: str):
        self.channel = grpc.insecure_channel(target, options=[("grpc.max_receive_message_length", 1 << 26),
                                                             ("grpc.max_send_message_length", 1 << 26)])
        self.predict = self.channel.unary_unary(PREDICT_METHOD)

    @staticmethod
    def body(images: np.ndarray) -> bytes:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "ssvae_encoder"
        request.inputs["images"].CopyFrom(tf.make_tensor_proto(images))
        return request.SerializeToString()

    def session(self) -> Callable[[bytes], None]:
        def send(body: bytes) -> None:
            response = predict_pb2.PredictResponse.FromString(self.predict(body, timeout=120))
            for tensor in response.outputs.values():
                np.frombuffer(tensor.tensor_content, np.float32)
        return send

    def close(self) -> None:
        self.channel.close()


class RestLoad:
    """Encode requests over REST: the JSON body sent as it is, on one keep-alive connection per thread."""

    def __init__(self, url: str):
        self.host, port = url.removeprefix("http://").rsplit(":", 1)
        self.port = int(port)

    @staticmethod
    def body(images: np.ndarray) -> bytes:
        return json.dumps({"instances": images.tolist()}).encode()

    def session(self) -> Callable[[bytes], None]:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=120)

        def send(body: bytes) -> None:
            connection.request("POST", "/v1/models/ssvae_encoder:predict", body=body,
                               headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            answer = response.read()
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}: {answer[:200]!r}")
        return send

    def close(self) -> None:
        pass


def in_process_load(export_root: Path) -> Callable[[np.ndarray], Callable[[], Callable[[np.ndarray], object]]]:
    """The encoder SavedModel loaded here; each session calls its signature on ``tf.constant(batch)``."""
    encoder = tf.saved_model.load(str(export_root / "ssvae_encoder" / "1")).signatures[SIGNATURE]

    def session() -> Callable[[np.ndarray], object]:
        return lambda x: {k: v.numpy() for k, v in encoder(images=tf.constant(x)).items()}
    return session


def run_load(session: Callable[[], Callable[[object], object]], payload: object, threads: int, *,
             seconds: float | None = None, requests: int | None = None) -> dict[str, object]:
    """``threads`` threads each sending ``payload`` with a session of their own, back to back, for ``seconds``
    or until ``requests`` were sent in all; request latencies, errors and wall time."""
    lock, start = threading.Lock(), threading.Barrier(threads + 1)
    latencies: list[float] = []
    errors: list[str] = []
    budget = [requests if requests is not None else float("inf")]
    deadline = [float("inf")]

    def worker() -> None:
        try:
            send = session()
        except Exception as error:  # noqa: BLE001 - a benchmark counts failures, it does not stop at them
            errors.append(f"{type(error).__name__}: {error}")
            start.wait()
            return
        start.wait()
        mine = []
        while time.perf_counter() < deadline[0]:
            with lock:
                if budget[0] <= 0:
                    break
                budget[0] -= 1
            begin = time.perf_counter()
            try:
                send(payload)
            except Exception as error:  # noqa: BLE001
                with lock:
                    errors.append(f"{type(error).__name__}: {' '.join(str(error).split())[:200]}")
                continue
            mine.append(time.perf_counter() - begin)
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for thread in workers:
        thread.start()
    began = time.perf_counter()
    if seconds is not None:
        deadline[0] = began + seconds
    start.wait()
    for thread in workers:
        thread.join()
    return {"latencies": latencies, "errors": errors, "wall": time.perf_counter() - began}


def summary(result: dict[str, object], batch: int) -> dict[str, float]:
    times = np.array(result["latencies"]) if result["latencies"] else np.array([np.nan])
    done = len(result["latencies"])
    return {"requests": done, "errors": len(result["errors"]), "rate": batch * done / result["wall"],
            "p50": 1e3 * float(np.percentile(times, 50)), "p99": 1e3 * float(np.percentile(times, 99))}


def merged(parts: list[dict[str, object]]) -> dict[str, object]:
    return {"latencies": [t for part in parts for t in part["latencies"]],
            "errors": [e for part in parts for e in part["errors"]], "wall": sum(part["wall"] for part in parts)}


def load_main(args: argparse.Namespace, foreign: ForeignLoad) -> None:
    seconds = 0.4 if args.quick else 4.0
    rss_requests = 500 if args.quick else RSS_REQUESTS
    images = generate_lines(max(RATIO_BATCHES), SIZE, seed=args.seed, progress=False).images
    model = build_vae((SIZE, SIZE, 1), latent_dim=LATENT, seed=args.seed)
    table, ratios, errors_seen = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        export_root = Path(tmp) / "export"
        export_for_serving(model, export_root)
        local = in_process_load(export_root)
        process, target, rest_url = start_server(export_root, rest=True)
        try:
            apis = {"gRPC": GrpcLoad(target), "REST": RestLoad(rest_url)}
            bodies = {(name, batch): api.body(images[:batch]) for name, api in apis.items()
                      for batch in sorted(set(LOAD_BATCHES) | set(RATIO_BATCHES))
                      if name == "gRPC" or batch in LOAD_BATCHES}
            rss = {"started": rss_mb(process.pid)}
            for (name, batch), body in bodies.items():  # warm-up: every request kind once
                run_load(apis[name].session, body, 1, requests=2)
            rss["warmed up"] = rss_mb(process.pid)

            for name, api in apis.items():
                for batch in LOAD_BATCHES:
                    for threads in CONCURRENCY:
                        result = summary(run_load(api.session, bodies[name, batch], threads, seconds=seconds), batch)
                        table.append([name, batch, threads, result["requests"], result["rate"],
                                      result["rate"] / batch, result["p50"], result["p99"], result["errors"]])
                        errors_seen.append(result["errors"])
                        print(f"{name} batch {batch} x{threads}: done", flush=True)
            rss["after the load table"] = rss_mb(process.pid)

            half = rss_requests // 2
            parts = [run_load(apis[name].session, bodies[name, 1], 8, requests=half) for name in ("gRPC", "REST")]
            memory = summary(merged(parts), 1)
            errors_seen.append(memory["errors"])
            rss[f"after {2 * half} more batch-1 requests"] = rss_mb(process.pid)

            for batch in RATIO_BATCHES:  # in-process vs gRPC in short blocks, alternated, the order swapped
                for threads in (1, 8):
                    contenders = {IN_PROCESS: (local, images[:batch]),
                                  GRPC: (apis["gRPC"].session, bodies["gRPC", batch])}
                    runs = {IN_PROCESS: [], GRPC: []}
                    for block in range(RATIO_BLOCKS):
                        for name in list(contenders) if block % 2 == 0 else list(contenders)[::-1]:
                            session, payload = contenders[name]
                            runs[name].append(run_load(session, payload, threads, seconds=seconds / RATIO_BLOCKS))
                    by_path = {name: summary(merged(parts), batch) for name, parts in runs.items()}
                    errors_seen.append(by_path[GRPC]["errors"] + by_path[IN_PROCESS]["errors"])
                    ratios.append((batch, threads, by_path))
                    print(f"in-process vs gRPC batch {batch} x{threads}: done", flush=True)
            for api in apis.values():
                api.close()
        finally:
            process.terminate()
            process.wait()

    print()
    print(f"Serving under load: encode {SIZE}x{SIZE} images (latent_dim {LATENT}), ssvae serve with 8 gRPC workers "
          f"on 127.0.0.1, ~{seconds:g} s per row")
    print_table(["API", "batch", "threads", "requests", "images/s", "requests/s", "p50 ms", "p99 ms", "errors"], table)
    print(f"Memory check: {memory['requests']} batch-1 requests (half gRPC, half REST) from 8 threads at "
          f"{memory['rate']:.0f} requests/s, p50 {memory['p50']:.3g} ms, p99 {memory['p99']:.3g} ms")
    print_table(["server resident memory", "MB"], [[when, value] for when, value in rss.items()])
    growth = rss[f"after {2 * half} more batch-1 requests"] - rss["after the load table"]
    print(f"growth over the {2 * half} requests: {growth:+.1f} MB (bound {RSS_BOUND_MB:g} MB: "
          f"{'met' if growth <= RSS_BOUND_MB else 'NOT met'})")
    print(f"errors in all: {sum(errors_seen)} (must be 0: {'met' if sum(errors_seen) == 0 else 'NOT met'})")
    print()
    print(f"In-process SavedModel vs gRPC, encode: {RATIO_BLOCKS} blocks of ~{seconds / RATIO_BLOCKS:g} s each, "
          "alternated (the order swapped every pair)")
    print_table(["batch", "threads", "path", "images/s", "p50 ms", "p99 ms", "errors"],
                [[batch, threads, name, r["rate"], r["p50"], r["p99"], r["errors"]]
                 for batch, threads, by_path in ratios for name, r in by_path.items()])
    for batch, threads, by_path in ratios:
        print_ratio(f"encode batch {batch}, {threads} threads: gRPC / in-process", by_path[GRPC]["rate"],
                    by_path[IN_PROCESS]["rate"], target=RATIO_TARGETS.get(batch))
    print("(one thread, from the median latencies, which other jobs' bursts move less:)")
    for batch, threads, by_path in ratios:
        if threads == 1:
            print_ratio(f"encode batch {batch}: in-process p50 / gRPC p50", by_path[IN_PROCESS]["p50"],
                        by_path[GRPC]["p50"], target=RATIO_TARGETS.get(batch))


def batching_main(args: argparse.Namespace) -> None:
    """In-process vs gRPC without and with server-side batching: encode at batch 1 from 8 threads."""
    seconds, threads = (0.4 if args.quick else 6.0), 8
    image = generate_lines(1, SIZE, seed=args.seed, progress=False).images
    model = build_vae((SIZE, SIZE, 1), latent_dim=LATENT, seed=args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        export_root = Path(tmp) / "export"
        export_for_serving(model, export_root)
        servers = {GRPC: start_server(export_root), BATCHED: start_server(export_root, False, "--enable-batching")}
        try:
            loads = {name: GrpcLoad(target) for name, (_, target, _) in servers.items()}
            contenders = {IN_PROCESS: (in_process_load(export_root), image),
                          **{name: (load.session, load.body(image)) for name, load in loads.items()}}
            for session, payload in contenders.values():  # warm-up
                run_load(session, payload, threads, requests=4 * threads)
            runs = {name: [] for name in contenders}
            for block in range(RATIO_BLOCKS):
                names = list(contenders)
                for name in names[block % len(names):] + names[:block % len(names)]:
                    session, payload = contenders[name]
                    runs[name].append(run_load(session, payload, threads, seconds=seconds / RATIO_BLOCKS))
            for load in loads.values():
                load.close()
        finally:
            for process, _, _ in servers.values():
                process.terminate()
                process.wait()
    results = {name: summary(merged(parts), 1) for name, parts in runs.items()}
    print()
    print(f"Encode {SIZE}x{SIZE} images at batch 1 from {threads} threads: {RATIO_BLOCKS} blocks of "
          f"~{seconds / RATIO_BLOCKS:g} s per path, alternated (serving/batching.config for --enable-batching)")
    print_table(["path", "images/s", "p50 ms", "p99 ms", "errors"],
                [[name, r["rate"], r["p50"], r["p99"], r["errors"]] for name, r in results.items()])
    for name in (GRPC, BATCHED):
        print_ratio(f"{name} / in-process", results[name]["rate"], results[IN_PROCESS]["rate"],
                    target=RATIO_TARGETS[1])


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    set_seeds(args.seed)
    if args.batching:
        foreign = ForeignLoad()
        print_machine_info("bench_serving --batching" + (" --quick" if args.quick else ""))
        batching_main(args)
        print(f"\n{foreign.report()}")
        return
    if args.load:
        foreign = ForeignLoad()
        print_machine_info("bench_serving --load" + (" --quick" if args.quick else ""))
        load_main(args, foreign)
        print(f"\n{foreign.report()}")
        return
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
        process, target, _ = start_server(export_root)
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
