"""A model from slices on its held-out crops (``ssvae_tf.evaluation.slices``): the slice MSE per plane
against a NumPy definition, the planes' perimeter per volume axis against a hand count, the metrics of a
volume that repeats its crop, and ``ssvae evaluate`` end to end on a tiny run from slices."""

import json

import numpy as np
import pytest
from test_stats_two_point import numpy_indicators

from ssvae_tf.evaluation.metrics import volume_fraction_difference
from ssvae_tf.evaluation.slices import plane_perimeters, plane_targets, slice_metrics, slice_mse

SIDE = 8


def _crops(n: int, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((n, SIDE, SIDE, 1)) < 0.5).astype(np.float32)


def _centred_autocorrelation(indicator: np.ndarray) -> np.ndarray:
    """Periodic autocorrelation mean_x m(x) m(x + r) of one array, zero lag at index side // 2 (NumPy FFT)."""
    spectrum = np.fft.fftn(indicator)
    return np.fft.fftshift(np.fft.ifftn(spectrum * np.conj(spectrum)).real / indicator.size)


def _numpy_plane_error(target: np.ndarray, volume: np.ndarray, normal: int) -> float:
    """Hard statistics of the target crop vs the soft volume statistics on the plane through the zero lag
    normal to ``normal``, mean squared difference over the plane's lags."""
    hard = _centred_autocorrelation(numpy_indicators(target[np.newaxis], 2, "hard")[0, ..., 0])
    soft = _centred_autocorrelation(numpy_indicators(volume[np.newaxis], 2, "soft")[0, ..., 0])
    return float(np.mean((hard - np.take(soft, SIDE // 2, axis=normal)) ** 2))


def test_slice_mse_is_each_planes_statistics_error_recomputed():
    crops, others = _crops(2), _crops(4, seed=1)
    targets = plane_targets(crops, (others[:2], others[2:]))
    volumes = np.random.default_rng(2).random((2, SIDE, SIDE, SIDE, 1)).astype(np.float32)
    expected = [[_numpy_plane_error(targets[i, k], volumes[i], k) for k in range(3)] for i in range(2)]
    np.testing.assert_allclose(slice_mse(targets, volumes), expected, rtol=1e-4)


def test_plane_targets_repeat_the_crop_without_plane_micrographs():
    crops = _crops(3)
    targets = plane_targets(crops)
    assert targets.shape == (3, 3, SIDE, SIDE, 1)
    for k in range(3):
        np.testing.assert_array_equal(targets[:, k], crops)


def test_plane_perimeters_give_each_axis_the_mean_of_the_planes_that_hold_it():
    stripes = np.zeros((1, SIDE, SIDE, 1), np.float32)
    stripes[:, 1::2] = 1.0  # rows alternate: every step along the crop's first axis changes phase, none along its second
    along_rows = (SIDE - 1) / SIDE  # changes per pixel along the rows' axis
    # one crop for every plane: z is the first axis of the x-z and y-z planes, y of x-y (rows) and of y-z
    # (columns), x the second axis of x-y and x-z
    np.testing.assert_allclose(plane_perimeters(plane_targets(stripes)), [[along_rows, along_rows / 2, 0.0]])


def test_a_volume_that_repeats_its_crop_has_its_volume_fraction_and_perimeter_in_plane():
    crops = _crops(3)
    volumes = np.repeat(crops[:, np.newaxis], SIDE, axis=1)  # every z-slice is the crop
    metrics = slice_metrics(crops, volumes)
    np.testing.assert_allclose(metrics["volume_fraction_diff_pct"], 0.0)
    np.testing.assert_allclose(metrics["binarised_volume_fraction_error_points"], 0.0)
    np.testing.assert_allclose(metrics["binary_share_pct"], 100.0)
    np.testing.assert_allclose(metrics["binarised_perimeter_axis0_reconstruction"], 0.0)  # constant along z
    for a, column in ((1, 0), (2, 1)):  # y and x: the crop's rows and columns
        np.testing.assert_allclose(metrics[f"binarised_perimeter_axis{a}_reconstruction"],
                                   [np.mean(np.diff(c[..., 0], axis=column) != 0) * (SIDE - 1) / SIDE
                                    for c in crops])
    np.testing.assert_allclose(metrics["slice_mse"], np.mean([metrics[f"slice_mse_plane{k}"] for k in range(3)], axis=0))
    assert all(values.shape == (3,) for values in metrics.values())


def test_real_pairs_of_identical_crops_have_no_error():
    crops = np.repeat(_crops(1), 3, axis=0)
    metrics = slice_metrics(crops, np.random.default_rng(0).random((3, SIDE, SIDE, SIDE, 1)).astype(np.float32))
    np.testing.assert_allclose(metrics["real_pair_volume_fraction_error_points"], 0.0)
    np.testing.assert_allclose(metrics["real_pair_perimeter_error_pct"], 0.0)


def test_volume_fraction_difference_of_a_crop_and_its_volume_compares_black_shares():
    crops = _crops(2)
    volumes = np.random.default_rng(3).random((2, SIDE, SIDE, SIDE, 1)).astype(np.float32)
    shares = [(np.mean(c < 0.05), np.mean(v < 0.05)) for c, v in zip(crops, volumes)]
    np.testing.assert_allclose(volume_fraction_difference(crops, volumes),
                               [100 * abs(c - v) / c for c, v in shares])


@pytest.fixture(scope="module")
def slices_run(tmp_path_factory):
    """A tiny run from slices (16 px crops of four 56 x 40 micrographs, one epoch) and a real volume file."""
    from ssvae_tf.commands.cli import main

    root = tmp_path_factory.mktemp("slices-run")
    rng = np.random.default_rng(0)
    np.save(root / "xy.npy", (rng.random((4, 56, 40)) < 0.5).astype(np.float32))
    np.save(root / "volume.npy", (rng.random((18, 20, 17)) < 0.5).astype(np.float32))
    assert main(["train", "--data", str(root / "xy.npy"), "--from-slices", "--patch-size", "16",
                 "--validation-slab", "--crops-per-epoch", "32", "--epochs", "1", "--filters", "4",
                 "--hidden-units", "16", "--out", str(root / "run"), "--quiet"]) in (0, None)
    return root


@pytest.mark.slow
@pytest.mark.parametrize("with_volumes", [False, True])
def test_evaluate_a_model_from_slices(slices_run, tmp_path, with_volumes):
    from ssvae_tf.commands.cli import main

    volumes = ["--volumes", str(slices_run / "volume.npy")] if with_volumes else []
    assert main(["evaluate", "--model", str(slices_run / "run"), "--out", str(tmp_path), "--n-images", "4",
                 "--quiet", *volumes]) in (0, None)
    header = (tmp_path / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"slice_mse", "slice_mse_plane0", "slice_mse_plane2", "volume_fraction_diff_pct", "binary_share_pct",
            "binarised_perimeter_axis0_reconstruction", "binarised_perimeter_axis0_original"} <= set(header)
    assert not {"pixel_mse", "nn_pixel_mse", "stats_mse"} & set(header)
    report = (tmp_path / "report.md").read_text()
    assert "Model from slices" in report and "Not computed for a model from slices" in report
    assert (tmp_path / "pairs_ss-vae.png").is_file() and not (tmp_path / "nearest_ss-vae.png").exists()
    assert ("Samples against real volumes" in report) == with_volumes
    assert (tmp_path / "real_volumes.png").is_file() == with_volumes
    if with_volumes:
        record = json.loads((tmp_path / "real_volumes.json").read_text())
        assert record["n"] == 4 and record["shape"] == [16, 16, 16]
        assert record["statistics_error"] >= 0 and record["real_statistics_error"] >= 0
        assert "volume_fraction" in record["realism"]


@pytest.mark.slow
def test_evaluate_refuses_volumes_smaller_than_the_models_in_one_line(slices_run, tmp_path, capsys):
    capsys.readouterr()
    from ssvae_tf.commands.cli import main

    np.save(tmp_path / "small.npy", np.zeros((8, 20, 20), np.float32))
    assert main(["evaluate", "--model", str(slices_run / "run"), "--out", str(tmp_path / "out"), "--n-images", "2",
                 "--quiet", "--volumes", str(tmp_path / "small.npy")]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "(8, 20, 20)" in error and "(16, 16, 16)" in error
