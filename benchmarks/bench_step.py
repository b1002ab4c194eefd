"""What mixed precision and XLA do to the SS-VAE's training speed on this machine.

Run from the repository root with the project's virtualenv:

    python benchmarks/bench_step.py            # full run, ~4 min on 2 idle cores
    python benchmarks/bench_step.py --quick    # smoke run (numbers are not meaningful)

What is measured: images/s of ``model.fit`` (one epoch per measurement, timed
from epoch begin to epoch end, so tracing, XLA compilation and ``fit`` set-up
are excluded) on the paper's line images, batch 32, for the model
``ssvae_tf.training.build_model`` makes from ``TrainConfig`` with the
default architecture and each of:

  * float32, no XLA (``jit_compile=False``);
  * ``mixed_precision=True`` (``mixed_bfloat16`` on a CPU, ``mixed_float16``
    on a GPU);
  * ``jit_compile=True`` (XLA);
  * both.

Each gets a warm-up epoch, then they alternate for several rounds; the table
shows medians and the ratios to float32 without XLA.  ``bench_gpu.py`` uses
the same measurement on a GPU.
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
from bench_training import BATCH, epoch_medians, make_dataset  # noqa: E402

import keras  # noqa: E402

from ssvae_tf.settings import TrainConfig  # noqa: E402
from ssvae_tf.training import build_model  # noqa: E402

#: The contenders: name -> TrainConfig fields.
PRECISIONS = {
    "float32": {"mixed_precision": False, "jit_compile": False},
    "mixed precision": {"mixed_precision": True, "jit_compile": False},
    "XLA": {"mixed_precision": False, "jit_compile": True},
    "mixed precision + XLA": {"mixed_precision": True, "jit_compile": True},
}


def configured_model(size: int, seed: int, **settings) -> keras.Model:
    """The library's model for ``size`` px line images with ``settings`` (``TrainConfig`` fields)."""
    config = TrainConfig(image_size=size, seed=seed, batch_size=BATCH, **settings)
    return build_model(config, (size, size, 1), scale=0.2)


def measure(models: dict[str, keras.Model], size: int, n_images: int, seed: int, rounds: int) -> dict[str, float]:
    """Median images/s of each model over ``rounds`` interleaved epochs, after a warm-up epoch each."""
    return epoch_medians(models, make_dataset(size, n_images, seed), n_images, rounds, f"{size}x{size}")


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    set_seeds(args.seed)
    foreign = ForeignLoad()
    print_machine_info("bench_step" + (" --quick" if args.quick else ""))
    size, n_images, rounds = (64, 128, 1) if args.quick else (64, 512, 3)
    models = {name: configured_model(size, args.seed, **settings) for name, settings in PRECISIONS.items()}
    rates = measure(models, size, n_images, args.seed, rounds)

    print()
    print(f"SS-VAE training throughput at {size}x{size}, batch {BATCH}, median of {rounds} epoch(s) of "
          f"{n_images} images after a warm-up epoch")
    print_table(["setting", "dtype policy", "images/s", "ms/step"],
                [[name, models[name].dtype_policy.name, rate, 1000 * BATCH / rate] for name, rate in rates.items()])
    for name in list(PRECISIONS)[1:]:
        print_ratio(f"{name} / float32", rates[name], rates["float32"])
    print(f"\n{foreign.report()}")


if __name__ == "__main__":
    main()
