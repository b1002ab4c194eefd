"""Training speed of the four decoders, in 2-D and in 3-D, measured side by side in one run.

Run from the repository root with the project's virtualenv:

    python benchmarks/bench_decoders.py            # full run, ~6 min on 2 idle cores
    python benchmarks/bench_decoders.py --quick    # smoke run (numbers are not meaningful)

What is measured: images (or volumes) per second of ``model.fit`` (one epoch per measurement, timed
from epoch begin to epoch end, so tracing and ``fit`` set-up are excluded) for the SS-VAE that
``ssvae_tf.training.build_model`` makes from ``TrainConfig`` at ``ssvae train``'s defaults with each
``--decoder``: on 64x64 images and on 32x32x32 volumes (two-phase random fields), batch 32.  Each
model gets a warm-up epoch, then they alternate for several rounds; the table shows medians and the
ratios to the transposed convolutions (the paper's decoder).  In 3-D (where ``ssvae train``'s defaults are
16 filters and leaky ReLUs in the decoder) also ``upsample`` with the 32 filters and ReLUs of images (the 3-D
default before 2026-12-07, seventh session), and the whole SS-VAE as it was before issue 23 (32 filters, ReLUs,
the ``upsample`` decoder with every level's channels as in 2-D and the last convolution at full resolution
after the last linear x2, rebuilt here from public layers), and the ratios to the latter.
"""

from __future__ import annotations

import sys
from dataclasses import replace
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

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from ssvae_tf.data.random_fields import generate_random_fields  # noqa: E402
from ssvae_tf.model import LinearUpsample, SpatialStatsVAE  # noqa: E402
from ssvae_tf.settings import DECODERS, DEFAULT_FILTERS, TrainConfig, default_depth  # noqa: E402
from ssvae_tf.training import build_model  # noqa: E402

#: The denominator of every ratio.
REFERENCE = "transpose"
#: The 3-D default decoder before issue 23: the denominator of the second ratio in 3-D.
PREVIOUS_3D = "upsample before issue 23"
#: The 3-D ``upsample`` model with the filters and activations of images, the 3-D default until 16 filters
#: and leaky ReLUs.
WIDE_3D = "upsample, 32 filters, ReLU"


def volumes_dataset(shape: tuple[int, ...], n: int, seed: int) -> tf.data.Dataset:
    """``n`` two-phase random fields of ``shape`` (spatial sides) as a batched, cached dataset."""
    images = generate_random_fields(n, shape, seed=seed, progress=False).images
    return tf.data.Dataset.from_tensor_slices(images).cache().batch(BATCH).prefetch(tf.data.AUTOTUNE)


def previous_3d_upsample_decoder(config: TrainConfig, image_shape: tuple[int, ...]) -> keras.Model:
    """The 3-D ``upsample`` decoder of issue 22: ``z`` ``(batch, latent_dim)`` -> volumes ``image_shape``
    ``(D, H, W, 1)`` (sides multiples of ``2**depth``); per level a 3x3x3 convolution to ``filters *
    2**min(level, 3)`` channels, then a linear x2; the logits from a 3x3x3 convolution at full resolution."""
    depth = default_depth(image_shape)
    start, top = [side // 2**depth for side in image_shape[:-1]], config.filters * 2 ** min(depth - 1, 3)
    z = keras.Input(shape=(config.latent_dim,), name="z")
    h = keras.layers.Dense(config.hidden_units, activation="relu", name="hidden")(z)
    h = keras.layers.Dense(int(np.prod(start)) * top, activation="relu", name="expand")(h)
    h = keras.layers.Reshape((*start, top), name="reshape")(h)
    for level in reversed(range(depth)):
        h = keras.layers.Conv3D(config.filters * 2 ** min(level, 3), 3, padding="same", activation="relu",
                                name=f"up_{level}")(h)
        h = LinearUpsample(name=f"resize_{level}")(h)
    h = keras.layers.Conv3D(1, 3, padding="same", name="to_image")(h)
    return keras.Model(z, keras.layers.Activation("sigmoid", dtype="float32", name="sigmoid")(h), name="decoder")


def with_decoder(model: SpatialStatsVAE, decoder: keras.Model, learning_rate: float) -> SpatialStatsVAE:
    """``model`` (its encoder, loss and schedule) with another ``decoder``, compiled with Adam."""
    other = SpatialStatsVAE.from_config({**model.get_config(), "decoder": keras.saving.serialize_keras_object(decoder)})
    other.compile(optimizer=keras.optimizers.Adam(learning_rate))
    return other


def bench(shape: tuple[int, ...], n: int, seed: int, rounds: int) -> dict[str, float]:
    """Median images/s of the SS-VAE with each decoder on ``n`` images of ``shape`` (spatial sides); in 3-D
    also with :func:`previous_3d_upsample_decoder`."""
    configs = {decoder: TrainConfig(data="microstructure", image_size=shape[0], dims=len(shape), decoder=decoder,
                                    seed=seed, batch_size=BATCH) for decoder in DECODERS}
    models = {decoder: build_model(config, (*shape, 1), scale=0.2) for decoder, config in configs.items()}
    if len(shape) == 3:
        wide = replace(configs["upsample"], filters=DEFAULT_FILTERS, decoder_activation="relu")
        models[WIDE_3D] = build_model(wide, (*shape, 1), scale=0.2)
        models[PREVIOUS_3D] = with_decoder(models[WIDE_3D], previous_3d_upsample_decoder(wide, (*shape, 1)),
                                           wide.learning_rate)
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
        for reference in (REFERENCE, PREVIOUS_3D):
            for name in [name for name in rates if name != reference] if reference in rates else []:
                print_ratio(f"{side}: {reference} time / {name} time", rates[name], rates[reference])
    print(f"\n{foreign.report()}")


if __name__ == "__main__":
    main()
