"""Tests of the pure parts of experiments/ablation_binary.py: the shared flags, reading metrics.csv and the
table, on metric files made here (no training)."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


@pytest.fixture(scope="module")
def ablation():
    spec = importlib.util.spec_from_file_location("ablation_binary", EXPERIMENTS / "ablation_binary.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["ablation_binary"] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("ablation_binary", None)


def _metrics(path: Path, label: str, columns: dict[str, list[float]]) -> Path:
    names = list(columns)
    rows = [f"{label},{i}," + ",".join(f"{columns[name][i]:.6g}" for name in names)
            for i in range(len(columns[names[0]]))]
    path.write_text("model,data_index," + ",".join(names) + "\n" + "\n".join(rows) + "\n")
    return path


def _cells(table: str, variant: str) -> list[str]:
    line = next(line for line in table.splitlines() if line.startswith(f"| {variant} |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_read_means_averages_each_numeric_column_of_the_first_model(ablation, tmp_path):
    path = _metrics(tmp_path / "m.csv", "ss-vae", {"stats_mse": [1.0, 2.0, 6.0], "binary_share": [0.5, 1, 0]})
    with open(path, "a") as handle:
        handle.write("baseline,0,100,100\n")  # a second model's rows are not mixed in
    assert ablation.read_means(path) == pytest.approx({"stats_mse": 3.0, "binary_share": 0.5})


def test_the_table_gives_ratios_to_the_reference_and_na_for_missing_columns(ablation, tmp_path):
    old = _metrics(tmp_path / "old.csv", "baseline", {"stats_mse": [4.0, 4.0], "volume_fraction_diff_pct": [10, 30]})
    new = _metrics(tmp_path / "new.csv", "ss-vae", {"stats_mse": [1.0, 2.0], "volume_fraction_diff_pct": [2, 4],
                                                    "binarised_perimeter_error_pct": [10.0, 20.0]})
    means = {"baseline": ablation.read_means(old), "hard": ablation.read_means(new)}
    table = ablation.ablation_table(means, {"baseline": 120.0, "hard": None})
    header = [cell.strip() for cell in table.splitlines()[0].strip("|").split("|")]
    assert header == ["variant", "stats error / baseline", *ablation.COLUMNS, "training (min)"]
    assert _cells(table, "baseline") == ["baseline", "1", "n/a", "n/a", "20", "n/a", "n/a", "n/a", "n/a", "n/a", "2"]
    assert _cells(table, "hard") == ["hard", "0.375", "n/a", "n/a", "3", "n/a", "n/a", "15", "n/a", "n/a", "n/a"]
    assert "perimeter error (%): `binarised_perimeter_error_pct`" in table


def test_read_means_compares_the_sets_mean_perimeters(ablation, tmp_path):
    path = _metrics(tmp_path / "m.csv", "ss-vae", {
        "stats_mse": [1.0, 1.0], "binarised_perimeter_axis0_original": [0.1, 0.3],
        "binarised_perimeter_axis1_original": [0.2, 0.2], "binarised_perimeter_axis0_reconstruction": [0.3, 0.3],
        "binarised_perimeter_axis1_reconstruction": [0.3, 0.3]})
    assert ablation.read_means(path)["set_perimeter_difference_pct"] == pytest.approx(50.0)  # 0.6 vs 0.4


def test_a_missing_reference_gives_na_ratios(ablation):
    means = {"a": {"stats_mse": 1.0, "volume_fraction_diff_pct": 7.0}}
    table = ablation.ablation_table(means, {"a": 60.0}, reference="absent")
    assert _cells(table, "a")[1:5] == ["n/a", "n/a", "n/a", "7"]


def test_line_images_get_the_share_of_right_orientations_and_counts(ablation, tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("model,data_index,orientation_original,orientation_reconstruction,n_lines_original,"
                    "n_lines_reconstruction\nss,0,vertical,vertical,2,2\nss,1,vertical,horizontal,3,2\n"
                    "ss,2,horizontal,horizontal,1,1\nss,3,horizontal,horizontal,4,3\n")
    means = ablation.read_means(path)
    assert means["orientation_correct_pct"] == pytest.approx(75.0)
    assert means["line_count_correct_pct"] == pytest.approx(50.0)


def test_the_shared_flags_choose_crops_or_generated_images(ablation):
    generated = ablation.train_flags("lines", 32, False, 2, 64, 5, None)
    assert generated == ["--data", "lines", "--image-size", "32", "--epochs", "2", "--seed", "5", "--quiet",
                         "--n-images", "64"]
    crops = ablation.train_flags("x.npy", 32, True, 1, 64, 0, "otsu", crops_per_epoch=16)
    assert crops[2:4] == ["--patch-size", "32"] and "--validation-slab" in crops and "--n-images" not in crops
    assert crops[-4:] == ["--crops-per-epoch", "16", "--threshold", "otsu"]
    assert "--crops-per-epoch" not in ablation.train_flags("x.npy", 32, True, 1, 64, 0, None)


def test_every_variant_is_a_list_of_flags_and_the_reference_is_one(ablation):
    assert ablation.REFERENCE in ablation.VARIANTS
    assert all(isinstance(flags, list) and all(isinstance(f, str) for f in flags)
               for flags in ablation.VARIANTS.values())


def test_the_grid_draws_one_row_per_entry(ablation, tmp_path):
    from PIL import Image

    originals = np.random.default_rng(0).random((3, 8, 8, 1)).astype(np.float32)
    ablation.draw_grid(originals, {"a recon.": originals, "a sample": originals[:2]}, tmp_path / "g.png")
    assert Image.open(tmp_path / "g.png").size[0] > 0


def test_a_finished_run_is_reused_only_for_the_same_command(ablation, tmp_path):
    run = tmp_path / "runs" / "a"
    assert not ablation.reusable(run, ["train", "--epochs", "1"])  # nothing there: train it
    assert (tmp_path / "runs" / "a.command").read_text() == "train --epochs 1"
    run.mkdir()
    (run / "model.keras").write_bytes(b"")  # finished: a model file and no backup folder
    assert ablation.reusable(run, ["train", "--epochs", "1"])
    with pytest.raises(SystemExit, match="holds a finished run of `ssvae train --epochs 1`"):
        ablation.reusable(run, ["train", "--epochs", "2"])
