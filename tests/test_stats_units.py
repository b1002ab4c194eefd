"""``PixelSize`` (``ssvae_tf.stats.units``): conversions, grid units, refusals; and ``--pixel-size`` on the
commands that take it, parsed once (a bad one: one line, status 2, before anything runs)."""

import math
import subprocess
import sys

import numpy as np
import pytest

from ssvae_tf.stats.units import PixelSize, grid_unit, is_physical, resolve


def test_lengths_scale_by_the_side_and_densities_by_its_inverse():
    size = PixelSize(5, "nm")
    assert (size.value, size.unit, size.label, size.inverse_label) == (5.0, "nm", "nm", "1/nm")
    assert size.length(3) == 15.0 and size.per_length(0.2) == pytest.approx(0.04)
    np.testing.assert_allclose(size.length(np.arange(3)), [0, 5, 10])
    assert math.isnan(size.length(math.nan))
    assert size.to_json() == {"value": 5.0, "unit": "nm"} and size.describe() == "1 px = 5 nm"
    assert PixelSize.parse("0.25", " µm ") == PixelSize(0.25, "µm")


def test_grid_units_are_px_for_images_and_voxels_for_volumes():
    assert grid_unit(2) == PixelSize(1, "px") == PixelSize() and grid_unit(3) == PixelSize(1, "voxels")
    assert resolve(None, 3).label == "voxels" and resolve(PixelSize(2, "nm"), 3).label == "nm"
    assert not is_physical(None) and not is_physical(PixelSize()) and is_physical(PixelSize(1, "nm"))
    assert is_physical(PixelSize(2, "px"))  # 2 px per pixel is a change of unit


@pytest.mark.parametrize("value, unit, message", [
    (0, "nm", "finite number > 0, got 0"), (-1.5, "nm", "finite number > 0, got -1.5"),
    (math.inf, "nm", "finite number > 0, got inf"), (math.nan, "nm", "finite number > 0, got nan"),
    (True, "nm", "finite number > 0, got True"), (5, "", "needs a unit"), (5, "  ", "needs a unit"),
])
def test_bad_pixel_sizes_are_refused_naming_the_value(value, unit, message):
    with pytest.raises(ValueError, match=message):
        PixelSize(value, unit)


def test_the_option_is_parsed_once_for_each_command():
    from ssvae_tf.commands.cli import build_parser

    parser = build_parser()
    for argv in (["stats", "lines"], ["evaluate", "--model", "m"], ["design", "--target", "t"]):
        args = parser.parse_args([*argv, "--out", "o", "--pixel-size", "2.5", "um"])
        assert args.pixel_size == PixelSize(2.5, "um")
        assert parser.parse_args([*argv, "--out", "o"]).pixel_size is None


@pytest.mark.parametrize("words, message", [
    (["0", "nm"], "finite number > 0, got 0.0"), (["-5", "nm"], "finite number > 0, got -5.0"),
    (["nan", "nm"], "finite number > 0, got nan"), (["inf", "nm"], "finite number > 0, got inf"),
    (["five", "nm"], "takes a number and a unit"), (["5", ""], "needs a unit"),
])
def test_a_bad_pixel_size_is_one_line_and_status_2(words, message, capsys):
    from ssvae_tf.commands.cli import main

    with pytest.raises(SystemExit) as stopped:
        main(["stats", "lines", "--out", "never", "--pixel-size", *words])
    assert stopped.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("ssvae stats: error: --pixel-size") and message in err


def test_the_unit_module_is_light():
    code = "import sys, ssvae_tf.stats.units; print('tensorflow' in sys.modules or 'numpy' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"
