"""Training speed of the four decoders, in 2-D and in 3-D, measured side by side in one run.

Run from the repository root with the project's virtualenv:

    python benchmarks/bench_decoders.py            # full run, ~6 min on 2 idle cores
    python benchmarks/bench_decoders.py --quick    # smoke run (numbers are not meaningful)

What is measured: images (or volumes) per second of ``model.fit`` (one epoch per measurement, timed
from epoch begin to epoch end, so tracing and ``fit`` set-up are excluded) for the SS-VAE that
``ssvae_tf.training.build_model`` makes from ``TrainConfig`` at ``ssvae train``'s defaults with each
``--decoder``: on 64x64 images and on 32x32x32 volumes (two-phase random fields), batch 32.  Each
model gets a warm-up epoch, then they alternate for several rounds; the table shows medians and the
ratios to the transposed convolutions (the paper's decoder).
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
from bench_training import BATCH, epoch_medians  # noqa: E402

import tensorflow as tf  # noqa: E402

from ssvae_tf.data.random_fields import generate_random_fields  # noqa: E402
from ssvae_tf.settings import DECODERS, TrainConfig  # noqa: E402
from ssvae_tf.training import build_model  # noqa: E402

#: The denominator of every ratio.
REFERENCE = "transpose"


def volumes_dataset(shape: tuple[int, ...], n: int, seed: int) -> tf.data.Dataset:
    """``n`` two-phase random fields of ``shape`` (spatial sides) as a batched, cached dataset."""
    images = generate_random_fields(n, shape, seed=seed, progress=False).images
    return tf.data.Dataset.from_tensor_slices(images).cache().batch(BATCH).prefetch(tf.data.AUTOTUNE)


def bench(shape: tuple[int, ...], n: int, seed: int, rounds: int) -> dict[str, float]:
    """Median images/s of the SS-VAE with each decoder on ``n`` images of ``shape`` (spatial sides)."""
    models = {decoder: build_model(TrainConfig(data="microstructure", image_size=shape[0], dims=len(shape),
                                               decoder=decoder, seed=seed, batch_size=BATCH), (*shape, 1), scale=0.2)
              for decoder in DECODERS}
    return epoch_medians(models, volumes_dataset(shape, n, seed), n, rounds, "x".join(map(str, shape)))


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    set_seeds(args.seed)
    foreign = ForeignLoad()
    print_machine_info("bench_decoders" + (" --quick" if args.quick else ""))
    cases = ([((64, 64), 64, 1), ((32, 32, 32), 32, 1)] if args.quick
             else [((64, 64), 512, 3), ((32, 32, 32), 128, 3)])
    for shape, n, rounds in cases:
        rates = bench(shape, n, args.seed, rounds)
        side = "x".join(map(str, shape))
        print(f"\nSS-VAE training throughput at {side}, batch {BATCH}, ssvae train's defaults but the decoder, "
              f"median of {rounds} epoch(s) of {n} after a warm-up epoch")
        print_table(["decoder", "images/s", "ms/step"], [[name, rate, 1000 * BATCH / rate] for name, rate in rates.items()])
        for name in rates:
            if name != REFERENCE:
                print_ratio(f"{side}: {REFERENCE} time / {name} time", rates[name], rates[REFERENCE])
    print(f"\n{foreign.report()}")


if __name__ == "__main__":
    main()
