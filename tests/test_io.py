"""Atomic writes never leave a half-written or missing file behind."""

import json
import os

import pytest

from ssvae_tf._io import atomic_write, check_free_space, write_json


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "model.keras"
    target.write_text("precious")

    def half_write(tmp):
        tmp.write_text("partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(target, half_write)
    assert target.read_text() == "precious"
    assert os.listdir(tmp_path) == ["model.keras"]


def test_write_replaces_whole_file_with_normal_permissions(tmp_path):
    target = write_json(tmp_path / "sub" / "config.json", {"a": 1})
    assert json.loads(target.read_text()) == {"a": 1}
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask
    seen = []
    atomic_write(target, lambda tmp: (seen.append(tmp.name), tmp.write_text("{}")))
    assert seen[0].startswith(".config-") and seen[0].endswith(".json") and target.read_text() == "{}"
    atomic_write(tmp_path / "latest.weights.h5", lambda tmp: seen.append(tmp.name) or tmp.write_text(""))
    assert seen[1].startswith(".latest-") and seen[1].endswith(".weights.h5")


def test_a_write_that_cannot_fit_is_refused_before_it_starts(tmp_path, monkeypatch):
    import errno
    import shutil
    from collections import namedtuple

    check_free_space(tmp_path / "not" / "yet", 1, "a byte")  # the nearest existing folder is asked
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda folder: usage(10 * 2**20, 9 * 2**20, 2**20))
    with pytest.raises(OSError) as error:
        check_free_space(tmp_path, 3 * 2**20, "the weights w.h5")
    assert error.value.errno == errno.ENOSPC
    assert "for the weights w.h5: 3.0 MiB needed, 1.0 MiB free" in str(error.value)
