"""Throughput of the two-point statistics and of the statistics loss.

Run from the repository root with the project's virtualenv:

    python benchmarks/bench_spatial_stats.py            # full run, ~2 min on 2 idle cores
    python benchmarks/bench_spatial_stats.py --quick    # smoke run, a few seconds

Inputs: the paper's line images (``generate_lines``) at 64x64 and 256x256,
batch 64, turned into the soft microstructure function (eps 0.25); the
statistic is the periodic autocorrelation (0, 0) of the line phase.

Part 1, the statistic (images -> microstructure function is done once,
outside the timing):
  * ours: ``two_point_stats`` in a ``tf.function``, ``cutoff="full"`` (every
    lag, fftshift layout) and the default cutoff ``(side - 1) // 2``;
  * NumPy: ``rfft2`` -> ``|F|^2`` -> ``irfft2`` -> ``fftshift`` on float32.
  The max abs difference between the two is printed.

Part 2, the loss ``spatial_stats_distance(x, y)`` (soft indicator inside,
sum of squared differences) forward only and forward + gradient w.r.t. ``y``:
  * Parseval fast path (``cutoff="full"``, rfft2d, no inverse FFT);
  * the same value through the inverse FFT (two explicit statistics,
    ``StatsOptions.statistics`` with ``cutoff="full"``, every lag);
  * the library's inverse-FFT path with ``cutoff=(side - 1) // 2``;
  * the Parseval form written directly on the line phase's indicator with
    stock TensorFlow ops (the "direct" contender: one ``(batch, H, W)``
    indicator, ``|F|^2`` as re^2 + im^2, TensorFlow's registered FFT
    gradients), once with ``rfft2d`` and once with the complex
    ``tf.signal.fft2d``: the pair isolates the real-FFT gain, and the rfft2d
    one against the library shows what the library's generality costs
    (target: library / direct >= 1 / 1.2).

Part 2b, the same loss in 3-D: random binary volumes 32^3, batch 16, forward
and forward + gradient, the library's Parseval path against the direct form
on the one indicator with ``rfft3d`` (forward only: TensorFlow registers no
gradient for it), with the complex ``fft3d``, and with ``rfft2d`` over the
last two axes plus a complex ``fft`` over depth (the differentiable stock real
FFT).  The ratio line compares the library with the fastest direct form of
each mode.

Part 3, the loss with its gradient w.r.t. ``y`` in 3-D against 2-D: random
binary volumes 32^3 and images 64x64, batch 16 each, through the Parseval
path (``cutoff="full"``) and the inverse-FFT path (``cutoff=(n - 1) // 2``,
side ``n``).
The library's 3-D real FFT is ``rfft3d`` with its own gradient (TensorFlow
registers none); the table is in voxels (pixels) per second and the ratio
lines give the 3-D cost per voxel against the 2-D cost per pixel.

The library's real FFTs carry their own gradient (the exact adjoint, one
inverse real FFT), so with the gradient it may beat the direct forms, which
use TensorFlow's registered FFT gradients.

Every contender is traced and warmed up first, then all are run in
interleaved rounds; the tables show the median images/s.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import (  # noqa: E402  (sets TF_CPP_MIN_LOG_LEVEL before TensorFlow loads)
    calls_for,
    ForeignLoad,
    interleaved_medians,
    parse_args,
    print_machine_info,
    print_ratio,
    print_table,
    rate_of,
    set_seeds,
)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from ssvae_tf.data import generate_lines  # noqa: E402
from ssvae_tf.stats.two_point import (  # noqa: E402
    StatsOptions,
    microstructure_function,
    spatial_stats_distance,
    two_point_stats,
)

SOFT = {"kind": "soft", "n_phases": 2, "eps": 0.25}
AUTO = ((0, 0),)

# Names of the contenders (table rows).
OURS_FULL, NUMPY = "ours two_point_stats, cutoff=full", "NumPy rfft2/irfft2/fftshift"
FAST, INVERSE_ALL = "Parseval, rfft2d (library fast path)", "inverse rfft2d, all lags"
FAST_3D = "Parseval, rfft3d (library fast path)"
STATE0_RFFT, STATE0_FFT = "Parseval, rfft2d, state 0 only", "Parseval, complex fft2d, state 0 only"
#: Within 1.2x of the direct form: library / direct >= 1 / 1.2.
DIRECT_TARGET = 1.0 / 1.2


def ours_cutoff_name(size: int) -> str:
    return f"ours two_point_stats, cutoff={(size - 1) // 2}"


def inverse_cutoff_name(size: int) -> str:
    return f"inverse rfft2d, cutoff={(size - 1) // 2} (library)"


# --------------------------------------------------------------------------- #
# Inputs
# --------------------------------------------------------------------------- #
def reconstruction_like(images: np.ndarray, seed: int) -> tf.Tensor:
    """A grey, noisy version of binary ``images``, in [0, 1], same shape."""
    noise = np.random.default_rng(seed).normal(0.0, 0.05, images.shape).astype(np.float32)
    return tf.constant(np.clip(0.8 * images + 0.1 + noise, 0.0, 1.0).astype(np.float32))


def make_batch(size: int, batch: int, seed: int) -> tuple[tf.Tensor, tf.Tensor]:
    """Line images ``x`` ``(batch, size, size, 1)`` and a reconstruction-like ``y``, both in [0, 1]."""
    images = generate_lines(batch, size, seed=seed, progress=False).images
    return tf.constant(images), reconstruction_like(images, seed)


def random_batch(spatial: tuple[int, ...], batch: int, seed: int) -> tuple[tf.Tensor, tf.Tensor]:
    """Random binary images ``x`` ``(batch, *spatial, 1)`` and a reconstruction-like ``y``."""
    images = (np.random.default_rng(seed).random((batch, *spatial, 1)) > 0.5).astype(np.float32)
    return tf.constant(images), reconstruction_like(images, seed)


# --------------------------------------------------------------------------- #
# The statistic: ours and the NumPy reference
# --------------------------------------------------------------------------- #
def ours_stats(cutoff):
    return tf.function(lambda m: two_point_stats(m, correlations=AUTO, periodic=True, cutoff=cutoff))


# Traced once per input shape and reused.
ours_stats_full = ours_stats("full")
ours_stats_default = ours_stats(None)


def numpy_autocorrelation(m: np.ndarray) -> np.ndarray:
    """Periodic autocorrelation of state 0, zero lag at ``N // 2``: ``(batch, H, W)``."""
    m0 = m[..., 0]
    spectrum = np.fft.rfft2(m0)
    power = spectrum.real**2 + spectrum.imag**2
    corr = np.fft.irfft2(power, s=m0.shape[1:]) / (m0.shape[1] * m0.shape[2])
    return np.fft.fftshift(corr, axes=(1, 2))


def central_window(stats: np.ndarray, cutoff: int) -> np.ndarray:
    """Lags ``-cutoff..cutoff`` of fftshift-ed statistics ``(batch, H, W)``."""
    rows, cols = (slice(n // 2 - cutoff, n // 2 + cutoff + 1) for n in stats.shape[1:3])
    return stats[:, rows, cols]


def stats_agreement(m: tf.Tensor, cutoff: int) -> tuple[float, float]:
    """Max abs difference ours vs NumPy, for cutoff="full" and the default cutoff."""
    reference = numpy_autocorrelation(m.numpy())
    full = ours_stats_full(m).numpy()[..., 0]
    window = ours_stats_default(m).numpy()[..., 0]
    return (float(np.max(np.abs(full - reference))),
            float(np.max(np.abs(window - central_window(reference, cutoff)))))


# --------------------------------------------------------------------------- #
# The loss: four ways to the same kind of distance
# --------------------------------------------------------------------------- #
def parseval_rfft(x, y):
    return spatial_stats_distance(x, y, correlations=AUTO, periodic=True, cutoff="full", **SOFT)


def library_cutoff(cutoff: int):
    def distance(x, y):
        return spatial_stats_distance(x, y, correlations=AUTO, periodic=True, cutoff=cutoff, **SOFT)
    return distance


#: The statistics the loss compares, as ``StatsOptions.statistics`` computes them (only the
#: indicator of state 0 is built).
FULL_STATS = StatsOptions(correlations=AUTO, periodic=True, cutoff="full", **SOFT)


def inverse_rfft_all_lags(x, y):
    """The Parseval distance's value, computed from two explicit statistics (two inverse FFTs)."""
    fx = FULL_STATS.statistics(x)
    fy = FULL_STATS.statistics(y)
    return tf.reduce_sum(tf.square(fy - tf.stop_gradient(fx)), axis=[1, 2, 3])


def line_indicator(images: tf.Tensor) -> tf.Tensor:
    """Soft indicator of the line phase (grey level 0) only: ``(batch, *spatial)``.

    The same values as ``microstructure_function(images, kind="soft")[..., 0]``
    without building the channels-last ``(batch, H, W, 2)`` tensor.
    """
    return tf.exp(-tf.square(images[..., 0]) / (2.0 * SOFT["eps"] ** 2))


def direct_spectrum(m: tf.Tensor, transform: str) -> tf.Tensor:
    """Spectrum of ``(batch, *spatial)`` over its 2 or 3 spatial axes with stock ``tf.signal``.

    ``transform``: ``"rfft"`` (``rfft2d``/``rfft3d``, half spectrum), ``"fft"``
    (complex ``fft2d``/``fft3d``, full spectrum) or ``"rfft2d+fft"`` (3-D only:
    ``rfft2d`` over the last two axes, then a complex ``fft`` over depth between
    two transposes, the same half spectrum as ``rfft3d`` with gradients).
    """
    rank = m.shape.rank - 1
    if transform == "rfft":
        return (tf.signal.rfft2d if rank == 2 else tf.signal.rfft3d)(m)
    if transform == "fft":
        return (tf.signal.fft2d if rank == 2 else tf.signal.fft3d)(tf.complex(m, tf.zeros_like(m)))
    half = tf.signal.rfft2d(m)  # (batch, D, H, K)
    return tf.transpose(tf.signal.fft(tf.transpose(half, [0, 2, 3, 1])), [0, 3, 1, 2])


def parseval_single_state(real_fft: bool = True, transform: str | None = None):
    """Parseval distance of the line-phase autocorrelation from ``line_indicator``, 2-D or 3-D.

    ``real_fft`` picks ``rfft2d``/``rfft3d`` (half spectrum, weighted) or the
    complex ``fft2d``/``fft3d`` (full spectrum); ``transform`` names a
    :func:`direct_spectrum` transform instead.  Everything else is identical.
    """
    transform = transform or ("rfft" if real_fft else "fft")
    half = transform != "fft"

    def power(images):
        spectrum = direct_spectrum(line_indicator(images), transform)
        return tf.square(tf.math.real(spectrum)) + tf.square(tf.math.imag(spectrum))

    def distance(x, y):
        spatial = x.shape[1:-1]
        width = spatial[-1]
        weights = np.ones(width // 2 + 1 if half else width, np.float32)
        if half:
            weights[1:(width + 1) // 2] = 2.0  # columns present twice in the full spectrum
        diff = power(y) - tf.stop_gradient(power(x))
        axes = list(range(1, len(spatial) + 1))
        return tf.reduce_sum(tf.square(diff) * weights, axis=axes) / float(np.prod(spatial)) ** 3
    return distance


def forward_and_gradient(distance):
    """``tf.function`` returning the summed distance and its gradient w.r.t. ``y``."""
    @tf.function
    def run(x, y):
        with tf.GradientTape() as tape:
            tape.watch(y)
            total = tf.reduce_sum(distance(x, y))
        return total, tape.gradient(total, y)
    return run


def loss_contenders(size: int) -> dict[str, object]:
    return {
        FAST: parseval_rfft,
        INVERSE_ALL: inverse_rfft_all_lags,
        inverse_cutoff_name(size): library_cutoff((size - 1) // 2),
        STATE0_RFFT: parseval_single_state(real_fft=True),
        STATE0_FFT: parseval_single_state(real_fft=False),
    }


def loss_agreement(distances: dict, x, y) -> str:
    """Differences from the fast path of the distances over every lag (same value)."""
    reference = distances[FAST](x, y).numpy()
    parts = []
    for name in (INVERSE_ALL, STATE0_RFFT, STATE0_FFT):
        value = distances[name](x, y).numpy()
        parts.append(f"\n    {name}: max abs {np.max(np.abs(value - reference)):.2e}, "
                     f"max rel {np.max(np.abs(value - reference) / np.abs(reference)):.2e}")
    return "".join(parts)


# --------------------------------------------------------------------------- #
# Runs
# --------------------------------------------------------------------------- #
def measurement(work, batch: int, seconds: float):
    """Warm ``work`` up (trace) and return a callable giving one sample of ``batch`` units
    (images, or voxels) per second."""
    work()
    work()
    calls = calls_for(work, seconds)
    return lambda: rate_of(work, batch, calls)


def bench_size(size: int, batch: int, seed: int, rounds: int, seconds: float) -> dict[str, dict[str, float]]:
    x, y = make_batch(size, batch, seed)
    m = microstructure_function(x, **SOFT)
    m_numpy = m.numpy()
    full, window = stats_agreement(m, (size - 1) // 2)
    print(f"{size}x{size}: ours vs NumPy max abs diff: cutoff=full {full:.2e}, default cutoff {window:.2e}")

    distances = {name: tf.function(fn) for name, fn in loss_contenders(size).items()}
    print(f"{size}x{size}: loss agreement vs fast path: {loss_agreement(distances, x, y)}")

    contenders = {
        ("stats", OURS_FULL): measurement(lambda: ours_stats_full(m), batch, seconds),
        ("stats", ours_cutoff_name(size)): measurement(lambda: ours_stats_default(m), batch, seconds),
        ("stats", NUMPY): measurement(lambda: numpy_autocorrelation(m_numpy), batch, seconds),
    }
    for name, distance in distances.items():
        grad = forward_and_gradient(distance)
        contenders[("forward", name)] = measurement(lambda d=distance: d(x, y), batch, seconds)
        contenders[("fwd+grad", name)] = measurement(lambda g=grad: g(x, y), batch, seconds)
    medians = interleaved_medians(contenders, rounds)
    return {part: {name: rate for (p, name), rate in medians.items() if p == part}
            for part in ("stats", "forward", "fwd+grad")}


# --------------------------------------------------------------------------- #
# Part 2b: the loss in 3-D, library against the direct forms
# --------------------------------------------------------------------------- #
LOSS_3D_BATCH = 16
LOSS_3D_SHAPE = (32, 32, 32)
DIRECT_3D = {  # name -> direct_spectrum transform
    "Parseval, rfft3d, state 0 only": "rfft",
    "Parseval, complex fft3d, state 0 only": "fft",
    "Parseval, rfft2d + fft over depth, state 0 only": "rfft2d+fft",
}
NO_GRADIENT = {"rfft"}  # TensorFlow registers no gradient for rfft3d


def bench_3d_loss(seed: int, rounds: int, seconds: float) -> dict[str, dict[str, float]]:
    """Median volumes/s of the 3-D loss, ``{mode: {contender: rate}}``."""
    x, y = random_batch(LOSS_3D_SHAPE, LOSS_3D_BATCH, seed)
    distances = {FAST_3D: parseval_rfft}
    distances.update({name: parseval_single_state(transform=t) for name, t in DIRECT_3D.items()})
    distances = {name: tf.function(fn) for name, fn in distances.items()}
    reference = distances[FAST_3D](x, y).numpy()
    for name, distance in list(distances.items())[1:]:
        value = distance(x, y).numpy()
        print(f"3-D 32^3: {name}: max rel difference from the library "
              f"{np.max(np.abs(value - reference) / np.abs(reference)):.2e}")
    contenders = {}
    for name, distance in distances.items():
        contenders[("forward", name)] = measurement(lambda d=distance: d(x, y), LOSS_3D_BATCH, seconds)
        if DIRECT_3D.get(name) not in NO_GRADIENT:
            grad = forward_and_gradient(distance)
            contenders[("fwd+grad", name)] = measurement(lambda g=grad: g(x, y), LOSS_3D_BATCH, seconds)
    medians = interleaved_medians(contenders, rounds)
    return {mode: {name: rate for (m, name), rate in medians.items() if m == mode} for mode in ("forward", "fwd+grad")}


def report_3d_loss(rates: dict[str, dict[str, float]]) -> None:
    label = "x".join(map(str, LOSS_3D_SHAPE))
    print(f"Loss spatial_stats_distance in 3-D {label}, batch {LOSS_3D_BATCH} (median volumes/s)")
    print_table(["implementation", "forward", "fwd+grad"],
                [[name, rate, rates["fwd+grad"].get(name, "n/a (no gradient)")]
                 for name, rate in rates["forward"].items()])
    for mode, mode_rates in rates.items():
        best = max((name for name in mode_rates if name != FAST_3D), key=mode_rates.get)
        print_ratio(f"3-D {mode}: library Parseval / fastest direct", mode_rates[FAST_3D], mode_rates[best],
                    target=DIRECT_TARGET)
        print(f"      (fastest direct {mode}: {best})")


# --------------------------------------------------------------------------- #
# Part 3: the loss + gradient in 3-D against 2-D, per voxel
# --------------------------------------------------------------------------- #
PER_VOXEL_BATCH = 16
PER_VOXEL_SHAPES = {"3-D 32^3": (32, 32, 32), "2-D 64x64": (64, 64)}
PARSEVAL_PATH, CUTOFF_PATH = "Parseval, cutoff=full", "inverse FFT, cutoff=(n-1)//2"


def bench_per_voxel(seed: int, rounds: int, seconds: float) -> dict[tuple[str, str], float]:
    """Median voxels (pixels) per second of the loss + gradient, keyed ``(shape label, path)``."""
    contenders = {}
    for label, spatial in PER_VOXEL_SHAPES.items():
        x, y = random_batch(spatial, PER_VOXEL_BATCH, seed)
        paths = {PARSEVAL_PATH: parseval_rfft, CUTOFF_PATH: library_cutoff((min(spatial) - 1) // 2)}
        voxels = PER_VOXEL_BATCH * int(np.prod(spatial))
        for path, distance in paths.items():
            grad = forward_and_gradient(distance)
            contenders[(label, path)] = measurement(lambda g=grad, x=x, y=y: g(x, y), voxels, seconds)
    return interleaved_medians(contenders, rounds)


def report_per_voxel(rates: dict[tuple[str, str], float]) -> None:
    print()
    print(f"Loss spatial_stats_distance + gradient w.r.t. y, batch {PER_VOXEL_BATCH} "
          "(median voxels/s, pixels/s in 2-D)")
    print_table(["images", "loss path", "voxels/s", "ms/batch"],
                [[label, path, rate, 1000.0 * PER_VOXEL_BATCH * np.prod(PER_VOXEL_SHAPES[label]) / rate]
                 for (label, path), rate in rates.items()])
    volume, image = PER_VOXEL_SHAPES
    for path in (PARSEVAL_PATH, CUTOFF_PATH):
        print_ratio(f"3-D / 2-D per voxel: {path}", rates[(volume, path)], rates[(image, path)])


def report(results: dict[int, dict[str, dict[str, float]]], batch: int) -> None:
    print()
    print(f"Two-point statistic, autocorrelation (0,0), batch {batch} (median images/s)")
    print_table(["size", "implementation", "images/s", "ms/batch"],
                [[f"{s}x{s}", name, rate, 1000.0 * batch / rate]
                 for s, parts in results.items() for name, rate in parts["stats"].items()])
    print(f"Loss spatial_stats_distance, batch {batch} (median images/s)")
    print_table(["size", "implementation", "forward", "fwd+grad"],
                [[f"{s}x{s}", name, rate, parts["fwd+grad"][name]]
                 for s, parts in results.items() for name, rate in parts["forward"].items()])
    for size, parts in results.items():
        print_ratio(f"{size}: ours full / NumPy", parts["stats"][OURS_FULL], parts["stats"][NUMPY])
        for mode in ("forward", "fwd+grad"):
            rates = parts[mode]
            print_ratio(f"{size} {mode}: Parseval / inverse FFT (all lags)", rates[FAST], rates[INVERSE_ALL])
            print_ratio(f"{size} {mode}: Parseval / inverse FFT (cutoff)", rates[FAST],
                        rates[inverse_cutoff_name(size)])
            print_ratio(f"{size} {mode}: rfft2d / fft2d (Parseval, state 0 only)", rates[STATE0_RFFT],
                        rates[STATE0_FFT])
            print_ratio(f"{size} {mode}: library Parseval / direct (rfft2d)", rates[FAST], rates[STATE0_RFFT],
                        target=DIRECT_TARGET)


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    set_seeds(args.seed)
    foreign = ForeignLoad()
    print_machine_info("bench_spatial_stats" + (" --quick" if args.quick else ""))
    batch, rounds, seconds = (8, 2, 0.02) if args.quick else (64, 7, 0.35)
    results = {size: bench_size(size, batch, args.seed, rounds, seconds) for size in (64, 256)}
    loss_3d = bench_3d_loss(args.seed, rounds, seconds)
    per_voxel = bench_per_voxel(args.seed, rounds, seconds)
    report(results, batch)
    report_3d_loss(loss_3d)
    report_per_voxel(per_voxel)
    print(f"\n{foreign.report()}")


if __name__ == "__main__":
    main()
