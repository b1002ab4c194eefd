"""Tests of the real-data experiment's loader (experiments/real_data.py) on a small wheel made here:
nothing is downloaded."""

import importlib.util
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


@pytest.fixture(scope="module")
def real_data():
    sys.path.insert(0, str(EXPERIMENTS))
    try:
        spec = importlib.util.spec_from_file_location("real_data", EXPERIMENTS / "real_data.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(EXPERIMENTS))
    return module


def _wheel(path, member, array):
    with zipfile.ZipFile(path, "w") as archive:
        with archive.open(member, "w") as stream:
            np.save(stream, array)
    return path


def test_the_volume_is_read_from_the_wheel_and_written_for_both_settings(real_data, tmp_path):
    volume = np.random.default_rng(0).integers(0, 256, size=(20, 18, 16), dtype=np.uint8)
    wheel = _wheel(tmp_path / "nanomesh-0.9.1-py3-none-any.whl", real_data.MEMBER, volume)
    assert real_data.fetch_wheel(tmp_path) == wheel  # a cached wheel is reused, pip is not called
    read = real_data.read_volume(wheel)
    np.testing.assert_array_equal(read, volume)
    files = real_data.write_data(read, tmp_path / "data")
    np.testing.assert_array_equal(np.load(files["slices.npy"]), volume)
    np.testing.assert_array_equal(np.load(files["volume.npy"]), volume[np.newaxis])
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["slices.npy", "volume.npy"]


def test_a_wheel_without_the_volume_or_with_a_flat_array_is_refused(real_data, tmp_path):
    empty = _wheel(tmp_path / "a.whl", "nanomesh/data/other.npy", np.zeros((2, 2)))
    with pytest.raises(ValueError, match="holds no nanomesh/data/nanopores3d.npy"):
        real_data.read_volume(empty)
    flat = _wheel(tmp_path / "b.whl", real_data.MEMBER, np.zeros((4, 4)))
    with pytest.raises(ValueError, match=r"has shape \(4, 4\); expected a volume"):
        real_data.read_volume(flat)


def test_both_models_of_a_setting_share_data_crops_and_budget(real_data, tmp_path):
    data = tmp_path / "slices.npy"
    np.save(data, np.zeros((3, 80, 80), dtype=np.uint8))
    _, side, fields = real_data.SETTINGS["2d"]
    configs = real_data.run_configs(data, side, {**fields, "epochs": 3}, seed=1)
    ours, baseline = configs["ss-vae"].to_json(), configs["baseline"].to_json()
    shared = ("data", "threshold", "patch_size", "crops_per_epoch", "validation_slab", "epochs", "seed",
              "latent_dim", "filters", "hidden_units", "batch_size")
    assert {k: ours[k] for k in shared} == {k: baseline[k] for k in shared}
    assert baseline["baseline"] and not ours["baseline"] and ours["threshold"] == "otsu"
