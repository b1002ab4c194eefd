"""``ssvae design`` (``ssvae_tf.commands.design``): the files it writes, its one-line errors, and a
parser that imports no TensorFlow.  A tiny untrained model, 16 px."""

import json
from pathlib import Path

import numpy as np
import pytest

from design_helpers import SIDE, band, tiny_model
from ssvae_tf.commands.base import ArgumentParser
from ssvae_tf.commands.design import COMMANDS, DESIGN_FILES, INTERPOLATION_FILES
from ssvae_tf.design.defaults import DEFAULT_STEPS, MAX_DESIGN_VALUES, METHODS
from ssvae_tf.run_dir import RunDir


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run directory holding the tiny model, and a target stack of one beside it."""
    root = tmp_path_factory.mktemp("design-run")
    RunDir(root / "run").save_model(tiny_model())
    np.save(root / "target.npy", band()[np.newaxis])
    return root


def run_design(*argv: str) -> None:
    """Run ``ssvae design`` as the CLI parses it, errors propagating."""
    (command,) = COMMANDS
    parser = ArgumentParser(prog=f"ssvae {command.name}")
    command.configure(parser)
    command.run(parser.parse_args(list(argv)))


def test_the_command_writes_every_file(run, tmp_path, capsys):
    out = tmp_path / "out"
    run_design("--model", str(run / "run"), "--target", str(run / "target.npy"), "--method", "latent", "--n", "3",
               "--steps", "4", "--out", str(out), "--quiet")
    assert sorted(p.name for p in out.iterdir()) == sorted(DESIGN_FILES)
    assert np.load(out / "designs.npy").shape == (3, SIDE, SIDE, 1)
    record = json.loads((out / "design.json").read_text())
    assert record["method"] == "latent" and len(record["stats_error"]) == 3 and record["seconds"] > 0
    assert record["settings"]["steps"] == 4 and record["target"]["volume_fraction"] == 0.25
    assert record["model"].endswith("run") and "designs in" in capsys.readouterr().out
    vf = tmp_path / "vf"
    run_design("--model", str(run / "run"), "--volume-fraction", "0.3", "--correlation-length", "2", "--n", "2",
               "--steps", "2", "--out", str(vf), "--quiet")
    assert json.loads((vf / "design.json").read_text())["target"]["volume_fraction"] == pytest.approx(0.3, abs=2e-3)
    strip = tmp_path / "strip"
    run_design("--model", str(run / "run"), "--interpolate", str(run / "target.npy"), str(run / "target.npy"),
               "--frames", "3", "--out", str(strip))
    assert sorted(p.name for p in strip.iterdir()) == sorted(INTERPOLATION_FILES)
    assert np.load(strip / "interpolation.npy").shape == (3, SIDE, SIDE, 1)


def test_the_command_errors_are_one_line(run, tmp_path):
    (tmp_path / "empty").mkdir()
    big = tmp_path / "big.npy"
    np.save(big, band((32, 32))[np.newaxis])
    cases = [
        (["--model", str(tmp_path / "empty"), "--target", str(run / "target.npy")], "neither a run directory"),
        (["--model", str(run / "run"), "--target", str(big)], "32x32 px image but the model takes 16x16"),
        (["--model", str(run / "run"), "--volume-fraction", "1.2"], r"in \(0, 1\)"),
        (["--target", str(run / "target.npy")], "--method latent needs --model RUN"),
        (["--model", str(run / "run"), "--target", str(run / "target.npy"), "--correlation-length", "2"],
         "give --volume-fraction too"),
    ]
    for argv, message in cases:
        with pytest.raises(ValueError, match=message) as error:
            run_design(*argv, "--out", str(tmp_path / "never"))
        assert "\n" not in str(error.value)
    assert not (tmp_path / "never").exists()


def test_the_help_names_every_method_and_default_step():
    """(That building it imports no TensorFlow is test_cli's check of every command.)"""
    parser = ArgumentParser()
    COMMANDS[0].configure(parser)
    flat = " ".join(parser.format_help().split())
    assert all(method in flat for method in METHODS)
    assert all(f"{method} {steps}" in flat for method, steps in DEFAULT_STEPS.items() if steps)


def test_the_figures_are_not_pyplot_figures():
    """The design figures are drawn on ``matplotlib.figure.Figure``: pyplot keeps no figure of them."""
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    from ssvae_tf.commands.design import grid_figure

    before = plt.get_fignums()
    fig = grid_figure(np.zeros((2, 8, 8, 1), np.float32), ["a", "b"], "heading")
    assert isinstance(fig, Figure) and plt.get_fignums() == before


def test_out_of_range_values_are_refused_naming_the_option_and_the_limit(run, tmp_path):
    target, model = str(run / "target.npy"), str(run / "run")
    most = MAX_DESIGN_VALUES // SIDE**2  # values in all, not a count: 16384 images of 16x16 px
    cases = [
        (["--model", model, "--target", target, "--n", "1000000000"],
         rf"--n must be an integer from 1 to {most} for 16x16 px images .*, got 1000000000$"),
        (["--model", model, "--interpolate", target, target, "--frames", str(most + 1)],
         rf"--frames must be an integer from 2 to {most} for 16x16 px images .*, got {most + 1}$"),
        (["--model", model, "--volume-fraction", "0.3", "--correlation-length", "inf"],
         "correlation_length must be a finite number > 0 .* got inf"),
        (["--model", model, "--target", target, "--cutoff", str(SIDE // 2 + 1)],
         f"cutoff 9 px reaches beyond the 16x16 px image: its largest lag is {SIDE // 2} px"),
    ]
    for argv, message in cases:
        with pytest.raises(ValueError, match=message) as error:
            run_design(*argv, "--out", str(tmp_path / "never"), "--quiet")
        assert "\n" not in str(error.value)
    assert not (tmp_path / "never").exists()


def test_a_target_array_is_one_image_and_uint8_reads_as_a_png_does(tmp_path):
    from PIL import Image

    from ssvae_tf.commands.design import read_target

    image = band()[..., 0]
    grey = np.round(image * 200 + 30).astype(np.uint8)
    Image.fromarray(grey).save(tmp_path / "target.png")
    arrays = {"hw.npy": image, "hw1.npy": image[..., None], "stack.npy": image[None],
              "uint8.npy": grey, "uint8-stack.npy": grey[None, ..., None]}
    for name, array in arrays.items():
        np.save(tmp_path / name, array)
    for name in ("hw.npy", "hw1.npy", "stack.npy"):
        np.testing.assert_array_equal(read_target(tmp_path / name), band())
    from_png = read_target(tmp_path / "target.png")
    np.testing.assert_allclose(from_png[..., 0], grey / 255.0, rtol=1e-6)
    for name in ("uint8.npy", "uint8-stack.npy"):
        np.testing.assert_array_equal(read_target(tmp_path / name), from_png)
    volume = np.stack([image] * 6)
    np.save(tmp_path / "volume.npy", volume)
    assert read_target(tmp_path / "volume.npy", spatial_rank=3).shape == (6, SIDE, SIDE, 1)  # a model of volumes
    with pytest.raises(ValueError, match="holds 6 images of shape"):
        read_target(tmp_path / "volume.npy", spatial_rank=2)  # a model of images: a stack of six


def test_a_full_disk_leaves_no_partial_design_run(run, tmp_path, monkeypatch):
    import errno

    from ssvae_tf._io import DiskFullError

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "save", no_space)
    out = tmp_path / "out"
    with pytest.raises(DiskFullError) as error:
        run_design("--method", "pixel", "--target", str(run / "target.npy"), "--n", "1", "--steps", "1",
                   "--out", str(out), "--quiet")
    assert str(error.value) == f"no space left on device writing {out / 'designs.npy'}" and not out.exists()


def test_the_grids_draw_at_most_grid_most_images(run, tmp_path, monkeypatch):
    """Laying out a thousand panels takes a minute: designs.png shows the first GRID_MOST designs,
    interpolation.png GRID_MOST frames evenly spaced, both ends included; the arrays keep every one."""
    from ssvae_tf.commands import design as command

    drawn = []
    real_grid = command.grid_figure
    monkeypatch.setattr(command, "grid_figure", lambda images, titles, heading: (
        drawn.append((len(images), titles[0], titles[-1], heading)), real_grid(images[:1], titles[:1], heading))[1])
    frames = np.zeros((3 * command.GRID_MOST, 8, 8, 1), np.float32)
    command.write_interpolation(tmp_path / "strip", frames)
    assert drawn.pop() == (command.GRID_MOST, "t = 0.00", "t = 1.00", "decoded latent interpolation from the first "
                           f"image to the second ({command.GRID_MOST} of {len(frames)} frames, evenly spaced)")
    assert np.load(tmp_path / "strip" / "interpolation.npy").shape == frames.shape
    n = command.GRID_MOST + 6
    run_design("--model", str(run / "run"), "--method", "encode", "--target", str(run / "target.npy"), "--n", str(n),
               "--out", str(tmp_path / "designs"), "--quiet")
    shown, first, last, heading = drawn.pop()
    assert (shown, first[:2], last[:3]) == (command.GRID_MOST, "0:", f"{command.GRID_MOST - 1}:")
    assert heading.endswith(f"(the first {command.GRID_MOST} of {n})")
    assert len(np.load(tmp_path / "designs" / "designs.npy")) == n


def test_a_pixel_size_puts_the_statistics_figure_in_its_unit_and_is_recorded(run, tmp_path, monkeypatch):
    import ssvae_tf.figures as figures

    drawn = []
    monkeypatch.setattr(figures, "save_figure", lambda fig, path: drawn.append(fig))
    run_design("--method", "pixel", "--target", str(run / "target.npy"), "--n", "1", "--steps", "2", "--quiet",
               "--out", str(tmp_path / "nm"), "--pixel-size", "2", "nm")
    run_design("--method", "pixel", "--target", str(run / "target.npy"), "--n", "1", "--steps", "2", "--quiet",
               "--out", str(tmp_path / "px"))
    assert json.loads((tmp_path / "nm" / "design.json").read_text())["pixel_size"] == {"value": 2.0, "unit": "nm"}
    assert "pixel_size" not in json.loads((tmp_path / "px" / "design.json").read_text())
    (_, statistics_nm), (_, statistics_px) = drawn[:2], drawn[2:]
    labels = {ax.get_xlabel() for ax in statistics_nm.axes}
    assert {"lag x [nm]", "|r| [nm]"} <= labels and {"lag x [px]", "|r| [px]"} <= {
        ax.get_xlabel() for ax in statistics_px.axes}
    lag_map = next(ax for ax in statistics_nm.axes if ax.get_xlabel() == "lag x [nm]")
    assert lag_map.images[0].get_extent()[:2] == [-2 * (SIDE // 2 + 0.5), 2 * ((SIDE - 1) // 2 + 0.5)]
    profile = next(ax for ax in statistics_nm.axes if ax.get_xlabel() == "|r| [nm]")
    np.testing.assert_allclose(profile.lines[0].get_xdata(), 2 * np.arange(SIDE // 2 + 1))
    assert "1 px = 2 nm" in statistics_nm._suptitle.get_text()


def save_png(path, image: np.ndarray) -> str:
    """``image`` ``(H, W[, 1])`` in [0, 1] as an 8-bit PNG at ``path``; returns the path."""
    from PIL import Image

    Image.fromarray(np.round(np.asarray(image)[..., 0] * 255).astype(np.uint8)).save(path)
    return str(path)


def test_dims_3_designs_volumes_from_a_slice_and_writes_tiffs(tmp_path, capsys):
    from PIL import Image

    from ssvae_tf.stats.two_point import StatsOptions

    slice_png = save_png(tmp_path / "slice.png", band((12, 14)))  # not square: its centred 12 x 12 crop
    out = tmp_path / "out"
    run_design("--method", "pixel", "--dims", "3", "--target", slice_png, "--n", "2", "--steps", "5", "--seed", "3",
               "--out", str(out), "--quiet")
    assert sorted(p.name for p in out.iterdir()) == sorted([*DESIGN_FILES, "designs_000.tif", "designs_001.tif"])
    volumes = np.load(out / "designs.npy")
    record = json.loads((out / "design.json").read_text())
    assert volumes.shape == (2, 12, 12, 12, 1) and record["target"]["shape"] == [12, 12, 12]
    crop = (band((12, 14))[:, 1:13] >= 0.5).astype(np.float32)  # one micrograph for every plane
    distance = StatsOptions(metric="mse").slice_distance(np.repeat(crop[np.newaxis], 2, axis=0), volumes).numpy()
    np.testing.assert_allclose(record["stats_error"], distance, rtol=1e-4)
    np.testing.assert_allclose(np.mean(record["plane_errors"], axis=1), distance, rtol=1e-4)
    binary = volumes >= 0.5
    assert record["binary"]["volume_fraction"] == pytest.approx((~binary).mean(axis=(1, 2, 3, 4)).tolist())
    np.testing.assert_allclose(record["binary"]["stats_error"], StatsOptions(metric="mse").slice_distance(
        np.repeat(crop[np.newaxis], 2, axis=0), binary.astype(np.float32)).numpy(), rtol=1e-4)
    assert record["target"]["planes"] == ["xy", "xz", "yz"] and record["target"]["isotropic"]
    with Image.open(out / "designs_001.tif") as tiff:
        pages = [np.array(tiff.seek(z) or tiff) for z in range(tiff.n_frames)]
    np.testing.assert_array_equal(np.stack(pages), np.round(volumes[1, ..., 0] * 255).astype(np.uint8))
    assert "slice distance median" in capsys.readouterr().out


def test_dims_3_takes_a_micrograph_per_plane_and_a_side(tmp_path):
    files = [save_png(tmp_path / f"{plane}.png", band((16, 16), slice(k, k + 4))) for k, plane in
             enumerate(("xy", "xz", "yz"))]
    out = tmp_path / "planes"
    run_design("--method", "pixel", "--dims", "3", "--target", files[0], "--target-xz", files[1], "--target-yz",
               files[2], "--side", "8", "--n", "1", "--steps", "2", "--out", str(out), "--quiet")
    record = json.loads((out / "design.json").read_text())
    assert record["target"]["shape"] == [8, 8, 8] and not record["target"]["isotropic"]
    assert [Path(path).name for path in record["target_files"]] == ["xy.png", "xz.png", "yz.png"]


def test_dims_3_errors_are_one_line(run, tmp_path):
    slice_png = save_png(tmp_path / "slice.png", band())
    cases = [
        (["--method", "latent", "--model", str(run / "run"), "--dims", "3", "--target", slice_png],
         "--dims 3 designs with --method pixel only for now, got --method latent: the latent methods need a model "
         "of volumes"),
        (["--method", "pixel", "--dims", "3", "--target", slice_png, "--target-xz", slice_png],
         "give both --target-xz and --target-yz"),
        (["--method", "pixel", "--target", slice_png, "--target-xz", slice_png, "--target-yz", slice_png],
         "--target-xz describes a volume from 2-D micrographs; give --dims 3 too"),
        (["--method", "pixel", "--dims", "3", "--target", slice_png, "--side", "17"],
         "the volume's side must be an integer from 4 to 16 px"),
    ]
    for argv, message in cases:
        with pytest.raises(ValueError, match=message) as error:
            run_design(*argv, "--out", str(tmp_path / "never"), "--quiet")
        assert "\n" not in str(error.value)
    assert not (tmp_path / "never").exists()


def test_volume_figures_show_three_mid_slices_and_three_planes(tmp_path, monkeypatch):
    import ssvae_tf.figures as figures

    drawn = []
    monkeypatch.setattr(figures, "save_figure", lambda fig, path: drawn.append(fig))
    run_design("--method", "pixel", "--dims", "3", "--target", save_png(tmp_path / "s.png", band((8, 8), slice(2, 4))),
               "--n", "2", "--steps", "1", "--out", str(tmp_path / "out"), "--quiet")
    grid, statistics = drawn
    titles = [ax.get_title() for ax in grid.axes]
    assert titles == ["slice z = 4", "slice y = 4", "slice x = 4"] * 2
    titles = {ax.get_title() for ax in statistics.axes}
    assert {"target crop, plane xy", "target crop, plane yz", "$S_2(r)$, lag x = 0", "plane xz: radial mean over "
            "its lags"} <= titles
    assert {ax.get_xlabel() for ax in statistics.axes} >= {"x [voxels]", "y [voxels]", "lag y [voxels]"}
