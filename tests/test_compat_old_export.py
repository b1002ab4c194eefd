"""``ssvae export`` writes what the code before the table of served models wrote, and reads its export roots.

``tests/fixtures/old_export`` holds the two root files that code (commit 3e88c0a) wrote for
``ssvae export --model tests/fixtures/old_run`` (version 1, default names) and then with
``--encoder-name enc2 --decoder-name dec2 --version 3``; the SavedModels are left out (220 KB), as
their writer did not change: the tests export them anew.
"""

import json
import shutil
from pathlib import Path

import pytest

from ssvae_tf.commands.cli import main
from ssvae_tf.export import export_for_serving, read_export_index
from ssvae_tf.run_dir import load_model

FIXTURES = Path(__file__).parent / "fixtures"
OLD_RUN, OLD_EXPORT = FIXTURES / "old_run", FIXTURES / "old_export"
#: Every path the old code wrote under the export root, folders included.
OLD_LAYOUT = sorted([
    "models.config", "ssvae_export.json",
    *(f"{name}/{version}{leaf}" for name, version in (("ssvae_encoder", 1), ("ssvae_decoder", 1),
                                                       ("enc2", 3), ("dec2", 3))
      for leaf in ("", "/assets", "/fingerprint.pb", "/saved_model.pb", "/variables",
                   "/variables/variables.data-00000-of-00001", "/variables/variables.index")),
    "ssvae_encoder", "ssvae_decoder", "enc2", "dec2"])
OLD_RECORD_KEYS = ["alpha", "beta", "data_description", "decoder_model", "encoder_model", "exported_at", "gamma",
                   "image_shape", "latent_dim", "signature", "version"]


def without_times(records):
    return [{key: value for key, value in record.items() if key != "exported_at"} for record in records]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The two exports of the fixture, written by today's ``ssvae export``."""
    root = tmp_path_factory.mktemp("export")
    for extra in ([], ["--encoder-name", "enc2", "--decoder-name", "dec2", "--version", "3"]):
        assert main(["export", "--model", str(OLD_RUN), "--out", str(root), *extra]) == 0
    return root


def test_the_files_records_and_models_config_are_those_of_the_old_code(exported):
    assert sorted(str(p.relative_to(exported)) for p in exported.rglob("*")) == OLD_LAYOUT
    records = json.loads((exported / "ssvae_export.json").read_text())
    old = json.loads((OLD_EXPORT / "ssvae_export.json").read_text())
    assert [sorted(record) for record in records] == [OLD_RECORD_KEYS] * 2
    assert without_times(records) == without_times(old)
    assert (exported / "models.config").read_text() == (OLD_EXPORT / "models.config").read_text()


def test_the_command_prints_what_it_printed(tmp_path, capsys):
    assert main(["export", "--model", str(OLD_RUN), "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().out == (f"exported version 1:\n  {tmp_path}/ssvae_encoder/1\n"
                                       f"  {tmp_path}/ssvae_decoder/1\n  {tmp_path}/models.config\n"
                                       f"  {tmp_path}/ssvae_export.json\n")


def test_an_old_export_root_is_read_and_extended(exported, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(exported, root)
    shutil.copy(OLD_EXPORT / "ssvae_export.json", root / "ssvae_export.json")  # the old code's own bytes
    old = json.loads((OLD_EXPORT / "ssvae_export.json").read_text())
    assert read_export_index(root) == old
    result = export_for_serving(load_model(OLD_RUN), root)  # the signature is read from the old version
    assert result.version == 2 and result.paths == {"encoder": root / "ssvae_encoder" / "2",
                                                    "decoder": root / "ssvae_decoder" / "2"}
    records = read_export_index(root)
    assert records[:2] == old and [sorted(record) for record in records] == [OLD_RECORD_KEYS] * 3
