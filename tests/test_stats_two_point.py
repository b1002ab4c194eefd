"""Two-point statistics against independent definitions: a brute-force loop over
lags, the paper's golden 9-row band, analytic identities, finite differences."""

import functools
import itertools
import json

import numpy as np
import pytest
import tensorflow as tf

from ssvae_tf.stats.two_point import (
    StatsOptions,
    batch_size_for,
    microstructure_function,
    n_lags,
    spatial_stats_distance,
    two_point_stats,
)

RNG = np.random.default_rng(1234)


def brute_force_stats(m, pairs, periodic, cutoff):
    """S_ab(r) = sum_x m_a(x) m_b(x + r) / norm(r), looping over every lag (float64).

    ``cutoff``: lags ``-cutoff..cutoff`` per axis, or ``"full"`` (periodic only):
    every lag, the zero lag at index ``N // 2``.
    """
    m = np.asarray(m, dtype=np.float64)
    spatial = m.shape[1:-1]
    axes = tuple(range(1, len(spatial) + 1))
    if cutoff == "full":
        lag_ranges = [range(-(n // 2), (n + 1) // 2) for n in spatial]
    else:
        lag_ranges = [range(-cutoff, cutoff + 1)] * len(spatial)
    out = np.zeros((m.shape[0], *map(len, lag_ranges), len(pairs)))
    for k, (a, b) in enumerate(pairs):
        for lag in itertools.product(*lag_ranges):
            if periodic:
                shifted = np.roll(m[..., b], shift=[-r for r in lag], axis=axes)
                value = (m[..., a] * shifted).sum(axis=axes) / np.prod(spatial)
            else:
                first, second, count = [slice(None)], [slice(None)], 1
                for r, n in zip(lag, spatial):
                    first.append(slice(max(0, -r), n - max(0, r)))
                    second.append(slice(max(0, r), n - max(0, -r)))
                    count *= n - abs(r)
                value = (m[tuple(first)][..., a] * m[tuple(second)][..., b]).sum(axis=axes) / count
            out[(slice(None),) + tuple(r - lags.start for r, lags in zip(lag, lag_ranges)) + (k,)] = value
    return out


def numpy_indicators(images, n_phases, kind, eps=0.25):
    """Phase indicators ``(batch, *spatial, n_phases)`` in float64, by their definitions."""
    x = np.asarray(images)[..., 0]
    if kind == "linear":
        return np.stack([1.0 - x, x], axis=-1).astype(np.float64)
    if kind == "hard":
        labels = x if np.issubdtype(x.dtype, np.integer) else np.round(x * (n_phases - 1))
        return np.stack([labels == h for h in range(n_phases)], axis=-1).astype(np.float64)
    x = x.astype(np.float64)
    return np.stack([np.exp(-((x - h / (n_phases - 1)) ** 2) / (2 * eps**2)) for h in range(n_phases)], axis=-1)


def numpy_distance(x, y, correlations=((0, 0),), periodic=True, cutoff=None, kind="soft", n_phases=2, eps=0.25,
                   metric="sse", scale=1.0, window_sigma=None):
    """``spatial_stats_distance`` from :func:`brute_force_stats` (a loop over lags), float64."""
    spatial = np.asarray(x).shape[1:-1]
    if cutoff != "full":
        max_cutoff = (min(spatial) - 1) // 2
        cutoff = max_cutoff if cutoff is None else min(cutoff, max_cutoff)
    sx, sy = (brute_force_stats(numpy_indicators(v, n_phases, kind, eps), correlations, periodic, cutoff)
              for v in (x, y))
    diff = (sy - sx) / scale
    if window_sigma is not None:
        lags = np.meshgrid(*[np.arange(side) - side // 2 for side in diff.shape[1:-1]], indexing="ij")
        diff = diff * np.exp(-sum(lag**2 for lag in lags) / (2 * window_sigma**2))[..., None]
    sse = np.sum(diff**2, axis=tuple(range(1, diff.ndim)))
    return {"sse": sse, "mse": sse / diff[0].size, "l2": np.sqrt(sse)}[metric]


def tape_distance_and_gradient(x, y, **options):
    """``spatial_stats_distance(x, y, **options)`` (float32) and the gradient of its sum with respect
    to ``y``, both as float64 arrays."""
    y_var = tf.Variable(np.asarray(y, np.float32))
    with tf.GradientTape() as tape:
        distance = spatial_stats_distance(np.asarray(x, np.float32), y_var, **options)
        total = tf.reduce_sum(distance)
    return distance.numpy().astype(np.float64), tape.gradient(total, y_var).numpy().astype(np.float64)


def summed_distance_and_gradient(x, y, **options):
    """The sum of ``spatial_stats_distance(x, y, **options)`` and its gradient with respect to ``y``, as
    tensors: traceable, for the ``tf.function`` and XLA checks."""
    with tf.GradientTape() as tape:
        tape.watch(y)
        total = tf.reduce_sum(spatial_stats_distance(x, y, **options))
    return total, tape.gradient(total, y)


@pytest.mark.parametrize("shape", [(2, 9, 12, 2), (2, 10, 8, 3), (1, 6, 7, 5, 2)])
@pytest.mark.parametrize("periodic", [True, False])
@pytest.mark.parametrize("cutoff", [None, 2, 50])
def test_matches_brute_force_loop(shape, periodic, cutoff):
    m = RNG.random(shape).astype(np.float32)
    pairs = [(0, 0), (0, 1), (1, 0), (1, 1)]
    got = two_point_stats(m, pairs, periodic=periodic, cutoff=cutoff).numpy()
    max_cutoff = (min(shape[1:-1]) - 1) // 2
    effective = max_cutoff if cutoff is None else min(cutoff, max_cutoff)
    expected = brute_force_stats(m, pairs, periodic, effective)
    assert got.shape == expected.shape
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-5)


def band_image(rows=9, size=224):
    image = np.ones((1, size, size, 1), np.float32)
    image[0, 100 : 100 + rows] = 0.0
    return image


def test_golden_band_hard_statistics():
    m = microstructure_function(band_image(), kind="hard")
    stats = two_point_stats(m, [(0, 0)], cutoff=20).numpy()[0, ..., 0]
    centre = 20
    assert stats[centre, centre] == pytest.approx(0.0401786, abs=1e-6)
    assert stats[centre + 1, centre] == pytest.approx(0.0357143, abs=1e-6)
    for dy in range(-20, 21):
        expected = max(9 - abs(dy), 0) * 224 / 50176
        np.testing.assert_allclose(stats[centre + dy], expected, atol=1e-6)


def test_golden_band_soft_statistics():
    m = microstructure_function(band_image(), kind="soft", eps=0.25)
    zero_lag = two_point_stats(m, [(0, 0)], cutoff=0).numpy()[0, 0, 0, 0]
    a, vf = np.exp(-8.0), 9 / 224
    assert zero_lag == pytest.approx(a**2 + 2 * a * (1 - a) * vf + (1 - a) ** 2 * vf, abs=1e-7)
    assert zero_lag == pytest.approx(0.04017868, abs=1e-7)


def test_zero_lag_is_volume_fraction_and_autocorrelation_is_symmetric():
    labels = RNG.integers(0, 3, size=(3, 16, 20, 1))
    m = microstructure_function(labels, n_phases=3, kind="hard")
    stats = two_point_stats(m, [(0, 0), (1, 1), (2, 2), (0, 1), (1, 0)]).numpy()
    c = 7
    for phase in range(3):
        np.testing.assert_allclose(stats[:, c, c, phase], (labels[..., 0] == phase).mean(axis=(1, 2)), atol=1e-6)
        np.testing.assert_allclose(stats[..., phase], stats[:, ::-1, ::-1, phase], atol=1e-6)
    # S_01(r) = S_10(-r)
    np.testing.assert_allclose(stats[..., 3], stats[:, ::-1, ::-1, 4], atol=1e-6)


@pytest.mark.parametrize("shape", [(2, 8, 10, 1), (1, 7, 9, 1), (1, 6, 5, 4, 1)])
def test_full_cutoff_is_fftshifted_periodic_autocorrelation(shape):
    m = RNG.random(shape)
    axes = tuple(range(1, len(shape) - 1))
    spectrum = np.fft.fftn(m[..., 0], axes=axes)
    expected = np.fft.fftshift(np.fft.ifftn(np.abs(spectrum) ** 2, axes=axes).real, axes=axes)
    expected /= np.prod(shape[1:-1])
    got = two_point_stats(m.astype(np.float32), cutoff="full").numpy()[..., 0]
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert n_lags(shape[1:-1], cutoff="full") == np.prod(shape[1:-1])


def test_microstructure_functions():
    x = RNG.random((2, 16, 16, 1)).astype(np.float32)
    linear = microstructure_function(x, kind="linear").numpy()
    np.testing.assert_allclose(linear[..., 0], 1 - x[..., 0])
    np.testing.assert_allclose(linear[..., 1], x[..., 0])
    soft = microstructure_function(x, n_phases=3, kind="soft", eps=0.1).numpy()
    for h, level in enumerate([0.0, 0.5, 1.0]):
        np.testing.assert_allclose(soft[..., h], np.exp(-((x[..., 0] - level) ** 2) / (2 * 0.01)), rtol=1e-5)
    hard = microstructure_function(np.array([[[[0], [2]], [[1], [1]]]] * 16).reshape(1, 8, 8, 1) % 3,
                                   n_phases=3, kind="hard").numpy()
    assert hard.sum(axis=-1).min() == 1.0
    binary = microstructure_function(np.array(x > 0.5, np.float32), kind="hard").numpy()
    np.testing.assert_array_equal(binary[..., 1], (x[..., 0] > 0.5).astype(np.float32))


def explicit_distance(x, y, metric, scale=1.0, sigma=None, floor=0.0, **stats_kw):
    mx = microstructure_function(x, kind="soft").numpy()
    my = microstructure_function(y, kind="soft").numpy()
    diff = (two_point_stats(my, **stats_kw).numpy() - two_point_stats(mx, **stats_kw).numpy()) / scale
    if sigma is not None:
        c = (diff.shape[1] - 1) // 2
        r2 = np.add.outer(np.arange(-c, c + 1) ** 2, np.arange(-c, c + 1) ** 2)
        diff = diff * (floor + (1 - floor) * np.exp(-r2 / (2 * sigma**2)))[None, :, :, None]
    sse = (diff.astype(np.float64) ** 2).sum(axis=(1, 2, 3))
    return {"sse": sse, "mse": sse / diff[0].size, "l2": np.sqrt(sse)}[metric]


@pytest.mark.parametrize("metric", ["sse", "mse", "l2"])
@pytest.mark.parametrize("size", [(16, 16), (15, 17)])
def test_parseval_distance_equals_explicit_statistics(metric, size):
    x = (RNG.random((3, *size, 1)) > 0.6).astype(np.float32)
    y = RNG.random((3, *size, 1)).astype(np.float32)
    pairs = [(0, 0), (0, 1)]
    got = spatial_stats_distance(x, y, correlations=pairs, cutoff="full", metric=metric, scale=0.2).numpy()
    expected = explicit_distance(x, y, metric, scale=0.2, correlations=pairs, cutoff="full")
    np.testing.assert_allclose(got, expected, rtol=1e-4)


@pytest.mark.parametrize("periodic", [True, False])
def test_windowed_and_cutoff_distance_equals_explicit(periodic):
    x = (RNG.random((2, 16, 16, 1)) > 0.6).astype(np.float32)
    y = RNG.random((2, 16, 16, 1)).astype(np.float32)
    got = spatial_stats_distance(x, y, periodic=periodic, cutoff=5, window_sigma=2.0).numpy()
    expected = explicit_distance(x, y, "sse", sigma=2.0, periodic=periodic, cutoff=5)
    np.testing.assert_allclose(got, expected, rtol=1e-4)
    plain = spatial_stats_distance(x, y, periodic=periodic).numpy()
    np.testing.assert_allclose(plain, explicit_distance(x, y, "sse", periodic=periodic), rtol=1e-4)


@pytest.mark.parametrize("periodic", [True, False])
def test_a_window_with_a_floor_keeps_the_long_lags_at_the_floor(periodic):
    x = (RNG.random((2, 16, 16, 1)) > 0.6).astype(np.float32)
    y = RNG.random((2, 16, 16, 1)).astype(np.float32)
    got = spatial_stats_distance(x, y, periodic=periodic, cutoff=7, window_sigma=2.0, window_floor=0.3).numpy()
    expected = explicit_distance(x, y, "sse", sigma=2.0, floor=0.3, periodic=periodic, cutoff=7)
    np.testing.assert_allclose(got, expected, rtol=1e-4)
    options = StatsOptions(periodic=periodic, cutoff=7, window_sigma=2.0, window_floor=0.3)
    np.testing.assert_allclose(options.distance(x, y).numpy(), expected, rtol=1e-4)
    # between the plain window (floor 0) and no window (floor 1, every lag alike)
    plain = explicit_distance(x, y, "sse", sigma=2.0, periodic=periodic, cutoff=7)
    unwindowed = explicit_distance(x, y, "sse", periodic=periodic, cutoff=7)
    assert np.all((plain < got) & (got < unwindowed))


@pytest.mark.parametrize("floor, sigma, message", [
    (1.0, 2.0, r"window_floor must be a number in \[0, 1\), got 1.0"),
    (-0.1, 2.0, r"window_floor must be a number in \[0, 1\), got -0.1"),
    (0.2, None, "it needs window_sigma, got window_floor=0.2 with window_sigma=None"),
])
def test_a_window_floor_is_below_one_and_needs_a_window(floor, sigma, message):
    with pytest.raises(ValueError, match=message):
        StatsOptions(window_sigma=sigma, window_floor=floor)


def test_distance_on_labels_with_hard_indicators():
    labels = RNG.integers(0, 3, size=(2, 12, 12, 1))
    other = RNG.integers(0, 3, size=(2, 12, 12, 1))
    pairs = [(0, 2), (1, 1)]
    got = spatial_stats_distance(labels, other, kind="hard", n_phases=3, correlations=pairs).numpy()
    sx, sy = (two_point_stats(microstructure_function(v, 3, "hard"), pairs).numpy() for v in (labels, other))
    np.testing.assert_allclose(got, ((sx - sy) ** 2).sum(axis=(1, 2, 3)), rtol=1e-5)


def test_distance_of_identical_batches_is_zero_with_finite_gradient():
    x = RNG.random((2, 16, 16, 1)).astype(np.float32)
    y = tf.Variable(x)
    with tf.GradientTape() as tape:
        d = spatial_stats_distance(x, y, metric="l2")
    grad = tape.gradient(d, y)
    assert np.all(d.numpy() < 1e-6)
    assert np.all(np.isfinite(grad.numpy()))


def test_reference_gets_no_gradient():
    x = tf.Variable(RNG.random((2, 16, 16, 1)).astype(np.float32))
    y = tf.Variable(RNG.random((2, 16, 16, 1)).astype(np.float32))
    for cutoff in ["full", 3]:
        with tf.GradientTape() as tape:
            d = tf.reduce_sum(spatial_stats_distance(x, y, cutoff=cutoff))
        grad_x, grad_y = tape.gradient(d, [x, y])
        assert grad_x is None
        assert np.abs(grad_y.numpy()).max() > 0


def test_stats_gradient_matches_finite_differences():
    m = RNG.random((1, 6, 7, 2)).astype(np.float32)
    theoretical, numerical = tf.test.compute_gradient(
        lambda t: two_point_stats(t, [(0, 0), (0, 1)], periodic=False), [m], delta=1e-2
    )
    np.testing.assert_allclose(theoretical[0], numerical[0], atol=2e-3)


@pytest.mark.parametrize("cutoff", ["full", 4])
def test_distance_gradient_matches_finite_differences(cutoff):
    x = (RNG.random((2, 12, 12, 1)) > 0.5).astype(np.float64)
    y = RNG.uniform(0.2, 0.8, (2, 12, 12, 1))
    direction = RNG.standard_normal(y.shape)
    y_var = tf.Variable(y.astype(np.float32))
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(spatial_stats_distance(x, y_var, cutoff=cutoff))
    analytic = float(np.sum(tape.gradient(total, y_var).numpy() * direction))
    h = 1e-2

    def value(v):
        return float(np.sum(spatial_stats_distance(x.astype(np.float32), v.astype(np.float32),
                                                   cutoff=cutoff).numpy().astype(np.float64)))

    numeric = (value(y + h * direction) - value(y - h * direction)) / (2 * h)
    assert analytic == pytest.approx(numeric, rel=2e-2)


GRADIENT_CASES_3D = {
    "parseval-even-last-axis": ((2, 6, 5, 4, 1), dict(periodic=True, cutoff="full")),
    "parseval-odd-last-axis": ((2, 5, 4, 7, 1), dict(periodic=True, cutoff="full")),
    "non-periodic-cutoff": ((2, 6, 5, 7, 1), dict(periodic=False, cutoff=2, correlations=[(0, 0), (0, 1)])),
    "periodic-window": ((2, 6, 5, 7, 1), dict(periodic=True, cutoff=2, window_sigma=1.5)),
}


@pytest.mark.parametrize("shape, options", GRADIENT_CASES_3D.values(), ids=list(GRADIENT_CASES_3D))
def test_3d_distance_and_gradient_match_brute_force_and_finite_differences(shape, options):
    """The tape gradient (float32 FFTs) against float64 central differences of the brute-force
    loss, on 5 random coordinates and one random dense direction."""
    rng = np.random.default_rng(7)
    x = (rng.random(shape) > 0.5).astype(np.float64)
    y = rng.uniform(0.2, 0.8, shape)
    distance, grad = tape_distance_and_gradient(x, y, **options)
    np.testing.assert_allclose(distance, numpy_distance(x, y, **options), rtol=1e-4)
    assert np.all(np.isfinite(grad))

    def directional_derivative(direction, h=1e-6):
        forward = numpy_distance(x, y + h * direction, **options).sum()
        backward = numpy_distance(x, y - h * direction, **options).sum()
        return (forward - backward) / (2 * h)

    coordinates = rng.choice(y.size, size=5, replace=False)
    directions = [np.eye(y.size)[i].reshape(shape) for i in coordinates] + [rng.standard_normal(shape)]
    numeric = [directional_derivative(direction) for direction in directions]
    analytic = [np.sum(grad * direction) for direction in directions]
    np.testing.assert_allclose(analytic, numeric, rtol=2e-4, atol=1e-5 * np.abs(grad).max())


@pytest.mark.slow
def test_graph_mode_with_unknown_batch_and_xla():
    x = RNG.random((3, 16, 12, 2)).astype(np.float32)
    eager = two_point_stats(x, [(0, 1)], periodic=False, cutoff=4).numpy()
    spec = tf.TensorSpec([None, 16, 12, 2], tf.float32)
    graph = tf.function(lambda t: two_point_stats(t, [(0, 1)], periodic=False, cutoff=4), input_signature=[spec])
    np.testing.assert_allclose(graph(x).numpy(), eager, atol=1e-6)

    images = RNG.random((3, 16, 16, 1)).astype(np.float32)
    target = (images > 0.5).astype(np.float32)

    loss_and_grad = functools.partial(summed_distance_and_gradient, cutoff="full")

    img_spec = tf.TensorSpec([None, 16, 16, 1], tf.float32)
    d_eager, g_eager = loss_and_grad(tf.constant(target), tf.constant(images))
    xla = tf.function(loss_and_grad, input_signature=[img_spec, img_spec], jit_compile=True)
    d_xla, g_xla = xla(target, images)
    assert float(d_xla) == pytest.approx(float(d_eager), rel=1e-4)
    np.testing.assert_allclose(g_xla.numpy(), g_eager.numpy(), rtol=1e-3, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("options", [dict(cutoff="full"), dict(periodic=False, cutoff=2, correlations=[(0, 1)]),
                                     dict(cutoff=2, window_sigma=1.5)], ids=["parseval", "non-periodic", "window"])
def test_3d_loss_and_gradient_under_xla_with_unknown_batch(options):
    rng = np.random.default_rng(11)
    y = rng.uniform(0.2, 0.8, (3, 6, 5, 7, 1)).astype(np.float32)
    x = (rng.random(y.shape) > 0.5).astype(np.float32)

    loss_and_grad = functools.partial(summed_distance_and_gradient, **options)

    d_eager, g_eager = loss_and_grad(tf.constant(x), tf.constant(y))
    spec = tf.TensorSpec([None, 6, 5, 7, 1], tf.float32)
    d_xla, g_xla = tf.function(loss_and_grad, input_signature=[spec, spec], jit_compile=True)(x, y)
    assert float(d_xla) == pytest.approx(float(d_eager), rel=1e-4)
    np.testing.assert_allclose(g_xla.numpy(), g_eager.numpy(), rtol=1e-3, atol=1e-6 * np.abs(g_eager).max())


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: two_point_stats(np.zeros((4, 4, 1), np.float32)), "2 or 3 spatial axes"),
        (lambda: two_point_stats(np.full((1, 8, 8, 1), np.nan, np.float32)), "NaN or Inf"),
        (lambda: two_point_stats(np.zeros((1, 8, 8, 2), np.float32), [(0, 2)]), "out of range"),
        (lambda: two_point_stats(np.zeros((1, 8, 8, 1), np.float32), cutoff=-1), "non-negative integer"),
        (lambda: two_point_stats(np.zeros((1, 8, 8, 1), np.float32), cutoff=1.5), "non-negative integer"),
        (lambda: two_point_stats(np.zeros((1, 8, 8, 1), np.float32), periodic=False, cutoff="full"), "periodic"),
        (lambda: microstructure_function(np.full((1, 8, 8, 1), 1.5, np.float32)), r"\[0, 1\]"),
        (lambda: microstructure_function(np.zeros((1, 8, 8, 2), np.float32)), "1 channel"),
        (lambda: microstructure_function(np.zeros((1, 8, 8, 1), np.float32), n_phases=3), "n_phases=2"),
        (lambda: microstructure_function(np.full((1, 8, 8, 1), 3), n_phases=3, kind="hard"), r"\[0, 2\]"),
        (lambda: microstructure_function(np.zeros((1, 8, 8, 1), np.float32), kind="fuzzy"), "kind must be"),
        (lambda: spatial_stats_distance(np.zeros((1, 8, 8, 1)), np.zeros((1, 8, 8, 1)), metric="l1"), "metric"),
        (lambda: spatial_stats_distance(np.zeros((1, 8, 8, 1)), np.zeros((1, 8, 6, 1))), "same shape"),
        (lambda: spatial_stats_distance(np.zeros((2, 8, 8, 1)), np.zeros((3, 8, 8, 1))), r"same shape.*\(2, 8, 8, 1\)"),
        (lambda: spatial_stats_distance(np.zeros((1, 8, 8, 1)), np.zeros((1, 8, 8, 1)), scale=0), "scale"),
    ],
)
def test_bad_input_is_a_clear_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --------------------------------------------------------------------------- #
# StatsOptions
# --------------------------------------------------------------------------- #
def test_docstring_examples_run():
    import doctest

    from ssvae_tf.stats import two_point as spatial_stats

    results = doctest.testmod(spatial_stats)
    assert results.failed == 0 and results.attempted >= 8


def test_stats_options_defaults_are_the_papers_loss():
    options = StatsOptions()
    assert (options.correlations, options.periodic, options.cutoff) == (((0, 0),), True, "full")
    assert (options.kind, options.eps, options.metric, options.scale) == ("soft", 0.25, "sse", 1.0)


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(kind="fuzzy"), "kind must be one of"),
        (dict(n_phases=1), "n_phases must be an integer >= 2"),
        (dict(kind="linear", n_phases=3), "n_phases=2 only"),
        (dict(eps=0.0), "eps must be positive"),
        (dict(correlations=[(0, 2)]), "out of range"),
        (dict(correlations=[]), "at least one"),
        (dict(cutoff="all"), "cutoff must be"),
        (dict(cutoff="full", periodic=False), "only defined for periodic"),
        (dict(metric="l1"), "metric must be one of"),
        (dict(scale=0.0), "scale must be a positive"),
        (dict(window_sigma=-1.0), "window_sigma must be"),
        (dict(periodic="no"), r"periodic must be True or False, got 'no'"),
        (dict(n_phases=2.5), r"n_phases must be an integer >= 2, got 2.5"),
        (dict(levels=1.0), r"levels must be an integer >= 1, got 1.0"),
    ],
)
def test_stats_options_are_checked_once_at_construction(changes, message):
    with pytest.raises(ValueError, match=message):
        StatsOptions(**changes)


def test_the_functions_refuse_text_for_periodic_and_a_fractional_phase_count():
    """``periodic="no"`` would count as true; ``n_phases=2.5`` failed inside ``range`` (issue 24)."""
    x = np.zeros((1, 8, 8, 1), np.float32)
    calls = [lambda: two_point_stats(x, periodic="no", cutoff=2), lambda: n_lags((8, 8), periodic="no"),
             lambda: spatial_stats_distance(x, x, periodic="no", cutoff=2)]
    for call in calls:
        with pytest.raises(ValueError, match=r"periodic must be True or False, got 'no'"):
            call()
    with pytest.raises(ValueError, match=r"n_phases must be an integer >= 2, got 2.5"):
        microstructure_function(x, n_phases=2.5, kind="hard")


def test_stats_options_json_round_trip_and_old_records():
    options = StatsOptions(correlations=[(0, 0), (0, 1)], periodic=False, cutoff=5, window_sigma=2.0, window_floor=0.1,
                           scale=0.1)
    record = options.to_json()
    assert record["correlations"] == [[0, 0], [0, 1]]
    assert StatsOptions.from_json(json.loads(json.dumps(record))) == options
    assert StatsOptions.from_json({"scale": 0.2}) == StatsOptions(scale=0.2)  # a partial dict: the rest default
    with pytest.raises(ValueError, match=r"unknown statistics options \['cutof'\]"):
        StatsOptions.from_json({"cutof": 3})


def test_stats_options_compute_what_the_functions_compute():
    x, y = RNG.random((2, 3, 12, 12, 1)).astype(np.float32)
    options = StatsOptions(kind="linear", cutoff=3, periodic=False, metric="l2", scale=0.5)
    expected_stats = two_point_stats(microstructure_function(x, kind="linear"), [(0, 0)], periodic=False, cutoff=3)
    np.testing.assert_allclose(options.statistics(x), expected_stats)
    expected = spatial_stats_distance(x, y, kind="linear", cutoff=3, periodic=False, metric="l2", scale=0.5)
    np.testing.assert_allclose(options.distance(x, y), expected, rtol=1e-6)
    assert options.statistics(x, cutoff=0).shape == (3, 1, 1, 1)


@pytest.mark.parametrize("changes", [dict(), dict(metric="l2", scale=0.3), dict(metric="mse"),
                                     dict(cutoff=4, window_sigma=1.5), dict(correlations=[(0, 0), (1, 1)])])
def test_lag_mse_is_the_unscaled_mean_squared_difference_per_lag(changes):
    x, y = RNG.random((2, 3, 10, 10, 1)).astype(np.float32)
    options = StatsOptions(**changes)
    reference = StatsOptions(**{**changes, "metric": "sse", "scale": 1.0, "window_sigma": None})
    diff = reference.statistics(y).numpy() - reference.statistics(x).numpy()
    expected = np.mean(np.square(diff), axis=(1, 2, 3))
    np.testing.assert_allclose(options.lag_mse(x, y, distance=options.distance(x, y)), expected, rtol=2e-4)
    np.testing.assert_allclose(options.lag_mse(x, y), expected, rtol=2e-4)


def test_levels_add_pooled_statistics_normalised_by_their_zero_lag():
    rng = np.random.default_rng(4)
    x = (rng.random((3, 16, 16, 1)) > 0.6).astype(np.float32)
    y = rng.random((3, 16, 16, 1)).astype(np.float32)

    def soft(images):
        return np.exp(-images[..., 0].astype(np.float64) ** 2 / (2 * 0.25**2))

    def autocorrelation(m):
        return np.fft.ifft2(np.abs(np.fft.fft2(m)) ** 2).real / m[0].size

    def pool(m):
        n, h, w = m.shape
        return m.reshape(n, h // 2, 2, w // 2, 2).mean(axis=(2, 4))

    mx, my = soft(x), soft(y)
    expected = np.sum(((autocorrelation(mx) - autocorrelation(my)) / 0.3) ** 2, axis=(1, 2))
    full_zero_lag = np.maximum((mx**2).mean(axis=(1, 2)), 1e-3)
    for _ in range(2):
        mx, my = pool(mx), pool(my)
        factor = full_zero_lag / (np.maximum((mx**2).mean(axis=(1, 2)), 1e-3) * 0.3)
        expected += np.sum(((autocorrelation(mx) - autocorrelation(my)) * factor[:, None, None]) ** 2, axis=(1, 2))
    options = StatsOptions(scale=0.3, levels=3)
    np.testing.assert_allclose(options.distance(x, y).numpy(), expected, rtol=1e-4)
    # the per-lag error metric stays the full-resolution one
    np.testing.assert_allclose(options.lag_mse(x, y).numpy(), StatsOptions().lag_mse(x, y).numpy(), rtol=1e-5)
    assert StatsOptions.from_json(options.to_json()) == options


def test_levels_need_a_sum_of_squares():
    with pytest.raises(ValueError, match='levels > 1 adds squared differences: it needs metric="sse"'):
        StatsOptions(levels=2, metric="l2")
    with pytest.raises(ValueError, match="levels must be an integer >= 1"):
        StatsOptions(levels=0)


def test_an_eps_tensor_overrides_the_indicator_width():
    import tensorflow as tf

    rng = np.random.default_rng(5)
    x, y = (rng.random((2, 16, 16, 1)).astype(np.float32) for _ in range(2))
    np.testing.assert_allclose(StatsOptions().distance(x, y, eps=tf.constant(0.1)).numpy(),
                               StatsOptions(eps=0.1).distance(x, y).numpy(), rtol=1e-5)


@pytest.mark.parametrize("shape", [(3, 8, 6, 2), (2, 4, 6, 8, 1)])
def test_shift_aligned_sse_is_the_best_periodic_shift_by_brute_force(shape):
    from ssvae_tf.stats.two_point import shift_aligned_sse

    rng = np.random.default_rng(6)
    x, y = (rng.random(shape).astype(np.float32) for _ in range(2))
    spatial_axes = tuple(range(len(shape) - 2))
    expected = [min(np.sum((x[i] - np.roll(y[i], shift, axis=spatial_axes)) ** 2)
                    for shift in itertools.product(*(range(n) for n in shape[1:-1]))) for i in range(shape[0])]
    np.testing.assert_allclose(shift_aligned_sse(x, y).numpy(), expected, rtol=1e-4)


# --------------------------------------------------------------------------- #
# The fast paths (used-state maps, real-FFT gradients, |F|^2, one inverse FFT
# per pair, lag weights) against independent NumPy definitions
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("shape", [(2, 6, 8), (2, 5, 7), (2, 4, 6, 8), (2, 3, 5, 7)],
                         ids=["2d-even", "2d-odd", "3d-even", "3d-odd"])
def test_real_fft_gradients_are_the_numpy_adjoints(shape):
    """The custom gradients of the real FFT and its inverse against adjoints built column by
    column from NumPy's FFTs (and against TensorFlow's own rfft2d gradient in 2-D)."""
    from ssvae_tf.stats.two_point import _irfft, _rfft

    rng = np.random.default_rng(21)
    rank, spatial = len(shape) - 1, shape[1:]
    axes = tuple(range(1, rank + 1))
    half = (shape[0], *spatial[:-1], spatial[-1] // 2 + 1)
    x = tf.constant(rng.standard_normal(shape).astype(np.float32))
    g_spectrum = (rng.standard_normal(half) + 1j * rng.standard_normal(half)).astype(np.complex64)
    g_real = rng.standard_normal(shape).astype(np.float32)

    # d/dx sum Re(rfft(x) * conj(G)): the linear map applied to every unit vector
    with tf.GradientTape() as tape:
        tape.watch(x)
        value = tf.reduce_sum(tf.math.real(_rfft(x, rank) * tf.math.conj(g_spectrum)))
    got = tape.gradient(value, x).numpy()
    units = np.eye(x.numpy().size).reshape(-1, *shape)
    expected = np.array([np.sum(np.real(np.fft.rfftn(u, axes=axes) * np.conj(g_spectrum))) for u in units])
    np.testing.assert_allclose(got, expected.reshape(shape), atol=2e-5)
    np.testing.assert_allclose(_rfft(x, rank).numpy(), np.fft.rfftn(x.numpy(), axes=axes), atol=2e-5)
    if rank == 2:
        with tf.GradientTape() as tape:
            tape.watch(x)
            value = tf.reduce_sum(tf.math.real(tf.signal.rfft2d(x) * tf.math.conj(g_spectrum)))
        np.testing.assert_allclose(got, tape.gradient(value, x).numpy(), atol=2e-5)

    # d/dH sum(irfft(H) * g), as d/dRe + i d/dIm (TensorFlow's convention)
    h = tf.constant(g_spectrum)
    with tf.GradientTape() as tape:
        tape.watch(h)
        value = tf.reduce_sum(_irfft(h, rank, spatial) * g_real)
    got = tape.gradient(value, h).numpy().ravel()
    expected = []
    for i in range(g_spectrum.size):
        parts = []
        for unit in (1.0, 1j):
            e = np.zeros(g_spectrum.size, np.complex128)
            e[i] = unit
            parts.append(np.sum(np.fft.irfftn(e.reshape(half), s=spatial, axes=axes) * g_real))
        expected.append(parts[0] + 1j * parts[1])
    np.testing.assert_allclose(got, expected, atol=2e-6)


def test_real_fft_gradient_is_differentiable_again():
    """Second derivatives through the custom gradients match finite differences of the first."""
    from ssvae_tf.stats.two_point import _power, _rfft

    rng = np.random.default_rng(22)
    weights = rng.random((2, 5, 4)).astype(np.float32)

    def gradient(t):
        with tf.GradientTape() as tape:
            tape.watch(t)
            value = tf.reduce_sum(tf.square(_power(_rfft(t, 2))) * weights)
        return tape.gradient(value, t)

    x = rng.standard_normal((2, 5, 6)).astype(np.float32)
    theoretical, numerical = tf.test.compute_gradient(gradient, [x], delta=1e-2)
    np.testing.assert_allclose(theoretical[0], numerical[0], rtol=2e-2, atol=2e-2 * np.abs(numerical[0]).max())


FAST_PATH_CASES = {
    "parseval-one-phase-of-three": ((2, 9, 8, 1), dict(correlations=[(1, 1)], cutoff="full", n_phases=3)),
    "parseval-cross-l2": ((2, 8, 7, 1), dict(correlations=[(0, 2), (2, 0), (1, 1)], cutoff="full", n_phases=3,
                                             metric="l2", scale=0.3)),
    "periodic-cutoff-window-linear": ((2, 10, 9, 1), dict(correlations=[(0, 1), (1, 1)], cutoff=3, kind="linear",
                                                          window_sigma=1.5)),
    "non-periodic-mse": ((2, 9, 10, 1), dict(correlations=[(1, 0), (0, 0)], periodic=False, cutoff=2,
                                             metric="mse")),
    "periodic-full-window": ((2, 8, 8, 1), dict(correlations=[(0, 0), (0, 1)], cutoff="full", window_sigma=2.0)),
    "3d-parseval-cross": ((2, 4, 5, 6, 1), dict(correlations=[(0, 1)], cutoff="full")),
    "3d-non-periodic-three-phases": ((2, 5, 6, 5, 1), dict(correlations=[(2, 2), (1, 2)], periodic=False, cutoff=2,
                                                           n_phases=3)),
}


@pytest.mark.parametrize("shape, options", FAST_PATH_CASES.values(), ids=list(FAST_PATH_CASES))
def test_distance_and_gradient_match_numpy_brute_force(shape, options):
    """Value and gradient of every distance path against the brute-force loss in float64
    (central differences along random directions)."""
    rng = np.random.default_rng(23)
    x = (rng.random(shape) > 0.5).astype(np.float64)
    y = rng.uniform(0.1, 0.9, shape)
    distance, grad = tape_distance_and_gradient(x, y, **options)
    np.testing.assert_allclose(distance, numpy_distance(x, y, **options), rtol=1e-4)
    for _ in range(3):
        direction = rng.standard_normal(shape)
        h = 1e-6
        numeric = (numpy_distance(x, y + h * direction, **options).sum()
                   - numpy_distance(x, y - h * direction, **options).sum()) / (2 * h)
        assert np.sum(grad * direction) == pytest.approx(numeric, rel=2e-3, abs=1e-6 * np.abs(grad).sum())


def test_hard_labels_of_three_phases_match_numpy_brute_force():
    rng = np.random.default_rng(24)
    labels, other = (rng.integers(0, 3, size=(2, 9, 11, 1)) for _ in range(2))
    options = dict(correlations=[(2, 1), (0, 0)], kind="hard", n_phases=3)
    for extra in (dict(cutoff="full"), dict(periodic=False, cutoff=3), dict(cutoff=2, window_sigma=1.0)):
        got = spatial_stats_distance(labels, other, **options, **extra).numpy()
        np.testing.assert_allclose(got, numpy_distance(labels, other, **options, **extra), rtol=1e-4, atol=1e-9)


@pytest.mark.parametrize("shape", [(2, 9, 8, 1), (1, 5, 6, 4, 1)])
def test_statistics_of_the_used_phases_match_brute_force(shape):
    x = np.random.default_rng(25).random(shape).astype(np.float32)
    pairs = [(2, 1), (1, 1)]
    for periodic, cutoff in ((False, 2), (True, "full")):
        options = StatsOptions(kind="soft", n_phases=3, correlations=pairs, periodic=periodic, cutoff=cutoff)
        effective = cutoff if cutoff == "full" else min(cutoff, (min(shape[1:-1]) - 1) // 2)
        expected = brute_force_stats(numpy_indicators(x, 3, "soft"), pairs, periodic, effective)
        np.testing.assert_allclose(options.statistics(x).numpy(), expected, atol=1e-5)


def test_levels_with_cross_correlations_and_a_window_match_numpy():
    rng = np.random.default_rng(26)
    x = (rng.random((2, 12, 12, 1)) > 0.5).astype(np.float32)
    y = rng.random((2, 12, 12, 1)).astype(np.float32)
    pairs = [(0, 1), (1, 1)]
    options = StatsOptions(correlations=pairs, periodic=False, cutoff=3, window_sigma=2.0, scale=0.5, levels=2)

    expected = numpy_distance(x, y, pairs, periodic=False, cutoff=3, window_sigma=2.0, scale=0.5)
    mx, my = numpy_indicators(x, 2, "soft"), numpy_indicators(y, 2, "soft")
    full_zero_lag = np.stack([np.maximum((mx[..., a] * mx[..., b]).mean(axis=(1, 2)), 1e-3) for a, b in pairs], -1)
    mx, my = (m.reshape(2, 6, 2, 6, 2, 2).mean(axis=(2, 4)) for m in (mx, my))
    zero_lag = np.stack([np.maximum((mx[..., a] * mx[..., b]).mean(axis=(1, 2)), 1e-3) for a, b in pairs], -1)
    factor = full_zero_lag / (zero_lag * 0.5)
    diff = brute_force_stats(my, pairs, False, 2) - brute_force_stats(mx, pairs, False, 2)  # cutoff 3 -> 2 at 6x6
    expected += np.sum((diff * factor[:, None, None, :]) ** 2, axis=(1, 2, 3))
    np.testing.assert_allclose(options.distance(x, y).numpy(), expected, rtol=1e-4)
    np.testing.assert_allclose(options.distance(x, y, eps=tf.constant(0.25)).numpy(), expected, rtol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("options", [dict(cutoff="full"), dict(cutoff=31), dict(correlations=[(0, 1), (1, 1)]),
                                     dict(periodic=False, cutoff=8, correlations=[(1, 0)], window_sigma=4.0)],
                         ids=["parseval", "cutoff", "cross", "non-periodic-window"])
def test_loss_and_gradient_under_xla_at_64(options):
    rng = np.random.default_rng(27)
    y = rng.random((4, 64, 64, 1)).astype(np.float32)
    x = (rng.random(y.shape) > 0.5).astype(np.float32)

    loss_and_grad = functools.partial(summed_distance_and_gradient, **options)

    d_graph, g_graph = tf.function(loss_and_grad)(x, y)
    d_xla, g_xla = tf.function(loss_and_grad, jit_compile=True)(x, y)
    assert float(d_xla) == pytest.approx(float(d_graph), rel=1e-4)
    np.testing.assert_allclose(g_xla.numpy(), g_graph.numpy(), rtol=1e-3, atol=1e-5 * np.abs(g_graph).max())


def test_fft_batches_hold_fewer_volumes_than_images():
    assert [batch_size_for(shape) for shape in ((64, 64, 1), (224, 224, 1), (64, 64, 64, 1), (256,) * 3 + (1,))] \
        == [256, 256, 49, 1]


def test_gradients_through_an_autocorrelation_log_no_complex_cast_warning():
    """An autocorrelation's real power spectrum becomes complex for the inverse FFT; its gradient takes the
    real part explicitly, so TensorFlow's "casting complex64 to float32" warning is not logged on every step
    (of a design, or a training run with a cutoff)."""
    import logging

    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("tensorflow")
    logger.addHandler(handler)
    x, y = (tf.constant(RNG.uniform(size=(2, 8, 8, 1)), tf.float32) for _ in range(2))
    try:
        with tf.GradientTape(persistent=True) as tape:
            tape.watch([x, y])
            stats = tf.reduce_sum(two_point_stats(microstructure_function(x, kind="soft"), [(0, 0)], cutoff=2))
            distance = tf.reduce_sum(spatial_stats_distance(x, y, cutoff=2))  # y against the reference x
        gradients = [tape.gradient(stats, x), tape.gradient(distance, y)]
    finally:
        logger.removeHandler(handler)
    assert all(g is not None and g.dtype == tf.float32 for g in gradients)
    assert not [r.getMessage() for r in records if "complex" in r.getMessage()]

