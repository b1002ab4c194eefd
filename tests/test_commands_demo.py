"""``ssvae demo`` (``ssvae_tf.commands.demo``): it never changes what an existing export serves.
(The demo end to end: test_cli.py; its serving round trip: test_serving_cli.py.)"""

import pytest

from ssvae_tf.commands import demo
from ssvae_tf.commands.cli import main
from ssvae_tf.export import export_for_serving, model_versions
from ssvae_tf.model import build_vae


def test_an_export_of_another_signature_is_refused_before_training(tmp_path, monkeypatch, capsys):
    export = tmp_path / "demo" / "export"
    export_for_serving(build_vae((16, 16, 1), latent_dim=2, depth=2, filters=4, hidden_units=8, seed=0), export)
    trained = []
    monkeypatch.setattr(demo, "train_and_compare", lambda *args, **kwargs: trained.append(args))
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"ssvae_encoder version 1 in {export} serves images (16, 16, 1)" in err
    assert f"the demo does not change what an export serves: choose another --out or move {export} away" in err
    assert not trained and model_versions(export / "ssvae_encoder") == [1]
    demo.check_export_root(export, (16, 16, 1), 2)  # the same signature: a new version is fine
    with pytest.raises(ValueError, match="serves images"):
        demo.check_export_root(export, (16, 16, 1), 3)
