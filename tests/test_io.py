"""Atomic writes never leave a half-written or missing file behind."""

import json
import os
from pathlib import Path

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


def test_a_full_disk_is_one_line_naming_the_file(tmp_path, monkeypatch):
    import errno
    import shutil
    from collections import namedtuple

    from ssvae_tf._io import DiskFullError

    def no_space(tmp):
        tmp.write_bytes(b"part")
        raise OSError(errno.ENOSPC, "No space left on device")

    target = tmp_path / "designs.npy"
    with pytest.raises(DiskFullError) as error:
        atomic_write(target, no_space)
    assert str(error.value) == f"no space left on device writing {target}" and error.value.errno == errno.ENOSPC
    assert os.listdir(tmp_path) == []

    def short_write(tmp):  # NumPy's message on a full disk, without an errno
        raise OSError("65536 requested and 15328 written")

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda folder: usage(10, 10, 0))
    with pytest.raises(DiskFullError, match="no space left on device writing .*designs.npy"):
        atomic_write(target, short_write)
    monkeypatch.setattr(shutil, "disk_usage", lambda folder: usage(10, 5, 5))  # room left: another failure
    with pytest.raises(OSError, match="65536 requested") as error:
        atomic_write(target, short_write)
    assert not isinstance(error.value, DiskFullError) and os.listdir(tmp_path) == []


def test_write_files_writes_all_of_a_set_or_none(tmp_path, monkeypatch):
    import errno

    from ssvae_tf._io import DiskFullError, write_files

    out = tmp_path / "out"
    out.mkdir()
    (out / "a.txt").write_text("old a")
    (out / "mine.txt").write_text("kept")

    def full(tmp):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(DiskFullError, match=f"writing {out / 'b.npy'}$"):
        write_files(out, {"a.txt": lambda tmp: tmp.write_text("new a"), "b.npy": full, "c.json": lambda tmp: None})
    assert sorted(os.listdir(out)) == ["a.txt", "mine.txt"] and (out / "a.txt").read_text() == "old a"
    with pytest.raises(DiskFullError):
        write_files(tmp_path / "new", {"b.npy": full})
    assert not (tmp_path / "new").exists()  # a folder made for the set goes with it

    renamed = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda tmp, path: (renamed.append(Path(path).name), real_replace(tmp, path)))
    paths = write_files(out, {"a.txt": lambda tmp: tmp.write_text("new a"),
                              "record.json": lambda tmp: tmp.write_text("{}")})
    assert paths == [out / "a.txt", out / "record.json"] and renamed == ["a.txt", "record.json"]  # written, then
    assert (out / "a.txt").read_text() == "new a" and sorted(os.listdir(out)) == ["a.txt", "mine.txt", "record.json"]


def test_remove_temporaries_removes_only_those_of_the_named_files(tmp_path):
    from ssvae_tf._io import remove_temporaries

    left = [".model-ab12cd_3.keras", ".epoch-3-zz99yy00.weights.h5", ".config-a1b2c3d4.json"]
    kept = [".model-notes.txt", ".model-ab12cd.keras", "model-ab12cd_3.keras", ".lock", ".other-ab12cd_3.json"]
    for name in left + kept:
        (tmp_path / name).write_text("")
    removed = remove_temporaries(tmp_path, ["model.keras", "epoch-*.weights.h5", "config.json"])
    assert sorted(p.name for p in removed) == sorted(left)
    assert sorted(os.listdir(tmp_path)) == sorted(kept)
    written = []
    atomic_write(tmp_path / "model.keras", lambda tmp: written.append(tmp.name) or tmp.write_text(""))
    (tmp_path / written[0]).write_text("")  # a name atomic_write really gives is one remove_temporaries finds
    assert remove_temporaries(tmp_path, ["model.keras"]) == [tmp_path / written[0]]


def test_remove_temporaries_removes_a_temporary_folder_with_its_files(tmp_path):
    from ssvae_tf._io import remove_temporaries, temporary_folder

    staging = temporary_folder(tmp_path / "tensorboard")
    (staging / "events").write_text("half")
    assert staging.parent == tmp_path and staging.name.startswith(".tensorboard-")
    assert remove_temporaries(tmp_path, ["tensorboard"]) == [staging] and not staging.exists()


def test_a_settings_file_that_is_not_utf8_is_named(tmp_path):
    from ssvae_tf._io import read_toml_or_json

    path = tmp_path / "search.toml"
    path.write_bytes(b'name = "caf\xe9"\n')
    with pytest.raises(ValueError, match=f"^{path}: not UTF-8 text .*byte 11") as error:
        read_toml_or_json(path)
    assert "\n" not in str(error.value)
