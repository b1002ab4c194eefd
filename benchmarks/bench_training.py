"""Training throughput of the SS-VAE relative to the same architecture's pixel VAE.

Run from the repository root with the project's virtualenv:

    python benchmarks/bench_training.py            # full run, ~3.5 min on 2 idle cores
    python benchmarks/bench_training.py --quick    # smoke run, ~1 min

What is measured: images/s of ``model.fit`` (one epoch per measurement,
timed from epoch begin to epoch end, so tracing and ``fit`` set-up are
excluded) on the paper's line images, batch 32, fed from
``Dataset.from_tensor_slices(images).cache().batch(32).prefetch(AUTOTUNE)``;
default architecture of ``build_vae`` (latent_dim 9, depth 4, filters 32,
hidden_units 256), Adam 1e-3, default (eager graph, no XLA) compilation.
Contenders, all with identical encoder and decoder:

  * SS-VAE: ``build_vae()`` defaults (alpha 1, gamma 0, Parseval statistics);
  * pixel VAE: ``build_vae(alpha=0.0, gamma=1.0, data_loss="sse")``, the
    library's data-space baseline;
  * pixel VAE without statistics: a benchmark-only subclass whose loss has
    no statistics term at all.  The library's ``alpha=0`` baseline still
    evaluates the statistics distance for its ``stats_distance`` metric
    (forward only: ``SpatialStatsVAE`` keeps a term whose weight is 0 out of
    the backward pass), so this row is the cost of pixel training without
    that metric.

Each model gets one warm-up epoch, then the models alternate for several
rounds; the table shows medians.  Sizes: 64x64 and 128x128 (fewer images).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import (  # noqa: E402  (sets TF_CPP_MIN_LOG_LEVEL before TensorFlow loads)
    ForeignLoad,
    interleaved_medians,
    parse_args,
    print_machine_info,
    print_ratio,
    print_table,
    set_seeds,
)

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from ssvae_tf.data import generate_lines  # noqa: E402
from ssvae_tf.model import SpatialStatsVAE, build_decoder, build_encoder, build_vae  # noqa: E402

BATCH = 32
ARCHITECTURE = {"latent_dim": 9, "depth": 4, "filters": 32, "hidden_units": 256}
SS_VAE, PIXEL, PIXEL_NO_STATS = "SS-VAE (alpha=1, gamma=0)", "pixel VAE (alpha=0, gamma=1, sse)", \
    "pixel VAE, no statistics computed"


class PixelOnlyVAE(SpatialStatsVAE):
    """Benchmark-only reference: the pixel VAE whose graph holds no statistics.

    Same encoder, decoder, sampling, KL and summed squared error as
    ``build_vae(alpha=0, gamma=1, data_loss="sse")``; the statistics terms
    are logged as constant zeros.
    """

    def _loss_terms(self, x, training):
        x = tf.cast(x, tf.float32)
        z_mean, z_log_var = self.encode(x, training=training)
        noise = keras.random.normal(tf.shape(z_mean), seed=self.seed_generator)
        x_hat = self.decode(z_mean + tf.exp(0.5 * z_log_var) * noise, training=training)
        squared = tf.square(x - x_hat)
        kl = -0.5 * tf.reduce_sum(1.0 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var), axis=1)
        terms = {
            "stats_loss": tf.zeros([]),
            "kl_loss": self.beta * tf.reduce_mean(kl),
            "data_loss": self.gamma * tf.reduce_mean(tf.reduce_sum(squared, axis=[1, 2, 3])),
            "stats_distance": tf.zeros([]),
            "pixel_mse": tf.reduce_mean(squared),
        }
        terms["loss"] = terms["kl_loss"] + terms["data_loss"]
        return terms


class EpochTimer(keras.callbacks.Callback):
    """Wall-clock seconds of the last epoch (batches only, no ``fit`` set-up)."""

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds = time.perf_counter() - self.start


def make_dataset(size: int, n_images: int, seed: int) -> tf.data.Dataset:
    images = generate_lines(n_images, size, seed=seed, progress=False).images
    return tf.data.Dataset.from_tensor_slices(images).cache().batch(BATCH).prefetch(tf.data.AUTOTUNE)


def make_models(size: int, seed: int) -> dict[str, keras.Model]:
    shape = (size, size, 1)
    models = {
        SS_VAE: build_vae(image_shape=shape, seed=seed, **ARCHITECTURE),
        PIXEL: build_vae(image_shape=shape, alpha=0.0, gamma=1.0, data_loss="sse", seed=seed, **ARCHITECTURE),
        PIXEL_NO_STATS: PixelOnlyVAE(build_encoder(shape, **ARCHITECTURE), build_decoder(shape, **ARCHITECTURE),
                                     alpha=0.0, gamma=1.0, data_loss="sse", seed=seed),
    }
    for model in models.values():
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
    return models


def epoch_rate(model: keras.Model, dataset: tf.data.Dataset, n_images: int) -> float:
    """Train one epoch; return images/s."""
    timer = EpochTimer()
    model.fit(dataset, epochs=1, shuffle=False, verbose=0, callbacks=[timer])
    return n_images / timer.seconds


def epoch_medians(models: dict[str, keras.Model], dataset: tf.data.Dataset, n_images: int, rounds: int,
                  label: str) -> dict[str, float]:
    """Median images/s of each model over ``rounds`` interleaved epochs of ``dataset`` (``n_images``
    images), after a warm-up epoch each (its time printed after ``label``)."""
    for name, model in models.items():
        start = time.perf_counter()
        epoch_rate(model, dataset, n_images)
        print(f"{label}: warm-up epoch of {name}: {time.perf_counter() - start:.1f} s", flush=True)
    return interleaved_medians(
        {name: (lambda m=model: epoch_rate(m, dataset, n_images)) for name, model in models.items()}, rounds
    )


def bench_size(size: int, n_images: int, seed: int, rounds: int) -> dict[str, float]:
    medians = epoch_medians(make_models(size, seed), make_dataset(size, n_images, seed), n_images, rounds,
                            f"{size}x{size}")
    print(f"{size}x{size}: {rounds} interleaved round(s) done")
    return medians


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    set_seeds(args.seed)
    foreign = ForeignLoad()
    print_machine_info("bench_training" + (" --quick" if args.quick else ""))
    plan = [(64, 128), (128, 64)] if args.quick else [(64, 1024), (128, 256)]
    rounds = 1 if args.quick else 5
    results = {(size, n): bench_size(size, n, args.seed, rounds) for size, n in plan}

    print()
    print(f"Training throughput, batch {BATCH}, median of {rounds} epochs after a warm-up epoch")
    print_table(["size", "images", "model", "images/s", "s/epoch"],
                [[f"{size}x{size}", n, name, rate, n / rate]
                 for (size, n), rates in results.items() for name, rate in rates.items()])
    for (size, _), rates in results.items():
        print_ratio(f"{size}: SS-VAE / pixel VAE", rates[SS_VAE], rates[PIXEL], target=0.90)
        print_ratio(f"{size}: SS-VAE / pixel VAE without statistics", rates[SS_VAE], rates[PIXEL_NO_STATS],
                    target=0.90)
    print(f"\n{foreign.report()}")


if __name__ == "__main__":
    main()
