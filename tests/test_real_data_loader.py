"""Tests of the real-data experiment's loader (experiments/real_data.py) on small wheels made here:
nothing is downloaded."""

import importlib.util
import io
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
        sys.modules["real_data"] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(EXPERIMENTS))
    yield module
    sys.modules.pop("real_data", None)


def _wheel(path, member, array):
    with zipfile.ZipFile(path, "w") as archive:
        with archive.open(member, "w") as stream:
            np.save(stream, array)
    return path


def _tif_wheel(path, member, image):
    from PIL import Image

    raw = io.BytesIO()
    Image.fromarray(image).save(raw, format="TIFF")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(member, raw.getvalue())
    return path


def test_the_volume_is_read_from_the_wheel_and_written_for_both_settings(real_data, tmp_path):
    volume = np.random.default_rng(0).integers(0, 256, size=(20, 18, 16), dtype=np.uint8)
    source = real_data.SOURCES["nanopores"]
    wheel = _wheel(tmp_path / "nanomesh-0.9.1-py3-none-any.whl", source.member, volume)
    assert real_data.fetch_wheel(tmp_path, source) == wheel  # a cached wheel is reused, pip is not called
    read = real_data.read_member(wheel, source)
    np.testing.assert_array_equal(read, volume)
    files = real_data.write_data(tmp_path / "data", ["2d", "3d"], {"nanopores": read})
    np.testing.assert_array_equal(np.load(files["2d"]), volume)
    np.testing.assert_array_equal(np.load(files["3d"]), volume[np.newaxis])
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["slices.npy", "volume.npy"]


def test_the_gold_micrograph_is_read_from_its_tiff_and_loses_its_data_bar(real_data, tmp_path):
    source = real_data.SOURCES["gold"]
    image = np.random.default_rng(1).integers(0, 256, size=(768, 40), dtype=np.uint8)
    wheel = _tif_wheel(tmp_path / "aquami-1.1.0-py3-none-any.whl", source.member, image)
    assert real_data.fetch_wheel(tmp_path, source) == wheel
    read = real_data.read_member(wheel, source)
    np.testing.assert_array_equal(read, image)
    files = real_data.write_data(tmp_path / "data", ["gold-2d"], {"gold": read})
    stored = np.load(files["gold-2d"])
    assert stored.shape == (1, real_data.GOLD_BAR_FIRST_ROW, 40) and stored.dtype == np.uint8
    np.testing.assert_array_equal(stored[0], image[:real_data.GOLD_BAR_FIRST_ROW])


def test_the_otsu_figure_binarises_as_training_does(real_data, tmp_path):
    from PIL import Image

    image = np.zeros((32, 32), np.uint8)
    image[:, 16:] = 200  # two grey levels: Otsu's threshold falls between them
    image[:4, :4] = 100
    threshold = real_data.write_binarisation_figures(image, tmp_path)
    assert 0 < threshold < 200 / 255
    binary = np.asarray(Image.open(tmp_path / "otsu.png"))
    np.testing.assert_array_equal(binary, np.where(image / 255 > threshold, 255, 0))
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "image.png")), image)


def test_a_wheel_without_the_member_or_with_the_wrong_axes_is_refused(real_data, tmp_path):
    source = real_data.SOURCES["nanopores"]
    empty = _wheel(tmp_path / "a.whl", "nanomesh/data/other.npy", np.zeros((2, 2)))
    with pytest.raises(ValueError, match="holds no nanomesh/data/nanopores3d.npy"):
        real_data.read_member(empty, source)
    flat = _wheel(tmp_path / "b.whl", source.member, np.zeros((4, 4)))
    with pytest.raises(ValueError, match=r"has shape \(4, 4\); expected a volume"):
        real_data.read_member(flat, source)
    gold = real_data.SOURCES["gold"]
    stack = _tif_wheel(tmp_path / "c.whl", gold.member, np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match=r"has shape \(4, 4, 3\); expected an image"):
        real_data.read_member(stack, gold)


@pytest.mark.parametrize("name", ["2d", "3d", "gold-2d"])
def test_both_models_of_a_data_set_share_data_crops_and_budget(real_data, tmp_path, name):
    data = tmp_path / "data.npy"
    np.save(data, np.zeros((3, 80, 80), dtype=np.uint8))
    dataset = real_data.DATASETS[name]
    configs = real_data.run_configs(data, dataset.patch_size, {"epochs": 3}, seed=1)
    ours, baseline = configs["ss-vae"].to_json(), configs["baseline"].to_json()
    shared = ("data", "threshold", "patch_size", "crops_per_epoch", "validation_slab", "epochs", "seed",
              "latent_dim", "filters", "hidden_units", "batch_size")
    assert {k: ours[k] for k in shared} == {k: baseline[k] for k in shared}
    assert baseline["baseline"] and not ours["baseline"] and ours["threshold"] == "otsu"
    assert ours["patch_size"] == (32 if name == "3d" else 64) and ours["epochs"] == 3


def test_the_models_train_at_the_ssvae_train_defaults(real_data, tmp_path):
    from ssvae_tf.settings import TrainConfig

    np.save(tmp_path / "x.npy", np.zeros((1, 80, 80), dtype=np.uint8))
    configs = real_data.run_configs(tmp_path / "x.npy", 64, {}, seed=0)
    default = TrainConfig().to_json()
    chosen = {"data", "image_size", "threshold", "median", "patch_size", "validation_slab", "validation_split", "seed",
              "baseline"}
    assert {k: v for k, v in configs["ss-vae"].to_json().items() if k not in chosen} == \
        {k: v for k, v in default.items() if k not in chosen}
