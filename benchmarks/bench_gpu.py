"""The SS-VAE on a GPU: its throughput against the pixel VAE's, the statistics loss's share of a
step, and the XLA and mixed-precision speed-ups.

Run from the repository root with the project's virtualenv, on a machine with a GPU:

    python benchmarks/bench_gpu.py            # full run, a few minutes on one GPU
    python benchmarks/bench_gpu.py --quick    # smoke run (numbers are not meaningful)
    make bench-gpu

Refuses with one line (status 2) where TensorFlow sees no GPU.  What is
measured: images/s of ``model.fit`` per epoch after a warm-up epoch (tracing
and XLA compilation excluded), batch 32, the paper's line images at 64 and
224 px, the default architecture.  Contenders at each size, all float32 with
XLA off unless named:

  * SS-VAE: the library's model (``TrainConfig()`` defaults);
  * pixel VAE: the library's baseline (``baseline=True``), which still
    evaluates the statistics for its ``stats_distance`` metric, forward only;
  * pixel VAE without statistics (``bench_training.PixelOnlyVAE``): the cost
    of a step without any statistics, so ``1 - SS-VAE / this`` is the
    statistics' share of an SS-VAE step;
  * SS-VAE with XLA, with mixed precision (``mixed_float16``), with both.

Target (issue 12): SS-VAE >= 0.9x the pixel VAE's throughput at 224 px.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import (  # noqa: E402  (sets TF_CPP_MIN_LOG_LEVEL before TensorFlow loads)
    ForeignLoad,
    parse_args,
    print_machine_info,
    print_ratio,
    print_table,
    set_seeds,
)
from bench_step import PRECISIONS, configured_model, measure  # noqa: E402
from bench_training import BATCH, PixelOnlyVAE  # noqa: E402

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

SS_VAE, PIXEL, NO_STATS = "SS-VAE", "pixel VAE", "pixel VAE without statistics"


def contenders(size: int, seed: int) -> dict[str, keras.Model]:
    models = {name if name != "float32" else SS_VAE: configured_model(size, seed, **settings)
              for name, settings in PRECISIONS.items()}
    models[PIXEL] = configured_model(size, seed, baseline=True, jit_compile=False)
    reference = configured_model(size, seed, baseline=True, jit_compile=False)
    models[NO_STATS] = PixelOnlyVAE(reference.encoder, reference.decoder, alpha=0.0, gamma=1.0, beta=reference.beta,
                                    data_loss="sse", seed=seed)
    models[NO_STATS].compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=False)
    return models


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        print("bench_gpu: no GPU visible to TensorFlow (tf.config.list_physical_devices('GPU') is empty); "
              "run it on a machine with one, or bench_step.py here", file=sys.stderr)
        sys.exit(2)
    set_seeds(args.seed)
    foreign = ForeignLoad()
    print_machine_info("bench_gpu" + (" --quick" if args.quick else ""))
    print(f"GPU       {tf.config.experimental.get_device_details(gpus[0]).get('device_name', gpus[0].name)}\n")
    plan, rounds = ([(64, 256), (224, 64)], 1) if args.quick else ([(64, 4096), (224, 1024)], 3)
    results = {}
    for size, n_images in plan:
        results[size] = measure(contenders(size, args.seed), size, n_images, args.seed, rounds)

    print()
    print(f"Training throughput, batch {BATCH}, median of {rounds} epoch(s) after a warm-up epoch")
    print_table(["size", "model", "images/s", "ms/step"],
                [[f"{size}x{size}", name, rate, 1000 * BATCH / rate]
                 for size, rates in results.items() for name, rate in rates.items()])
    for size, rates in results.items():
        print_ratio(f"{size}: SS-VAE / pixel VAE", rates[SS_VAE], rates[PIXEL], target=0.90 if size == 224 else None)
        print(f"share {size}: statistics' share of an SS-VAE step   {1 - rates[SS_VAE] / rates[NO_STATS]:6.1%}")
        for name in list(PRECISIONS)[1:]:
            print_ratio(f"{size}: SS-VAE {name} / float32", rates[name], rates[SS_VAE])
    print(f"\n{foreign.report()}")


if __name__ == "__main__":
    main()
