"""The README's promises: its two commands come first and its script example runs."""

import re
from pathlib import Path

import pytest

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_readme_opens_with_the_demo_and_test_commands_and_how_to_reach_ssvae():
    first_block = re.search(r"```bash\n(.*?)```", README, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.strip().splitlines()]
    assert commands == ["make demo", "make test", "make test-fast"]
    after = README[README.index(first_block) + len(first_block):].split("\n\n")[1]  # the paragraph below
    assert "source .venv/bin/activate" in after and ".venv/bin/ssvae" in after


def test_readme_installs_extras_from_the_clone():
    """No package index serves ``ssvae-tf``: an extra comes from the clone, ``pip install -e ".[extra]"``."""
    assert "pip install ssvae-tf" not in README
    assert 'pip install -e ".[bayesian]"' in README


@pytest.mark.slow
def test_script_example_runs():
    code = re.search(r"```python\n(.*?)```", README, re.S).group(1)
    small = code.replace("generate_lines(2000", "generate_lines(40").replace("epochs=20", "epochs=1, verbose=0")
    namespace = {}
    exec(compile(small, "README.md", "exec"), namespace)
    assert namespace["z_mean"].shape == (8, 9)
    assert namespace["new_images"].shape == (8, 64, 64, 1)


@pytest.mark.slow
def test_train_example_with_callbacks_and_a_strategy_runs(tmp_path):
    code = re.findall(r"```python\n(.*?)```", README, re.S)[1]
    small = (code.replace('image_size=64, epochs=100', 'image_size=16, n_images=48, epochs=2, filters=4, '
                          'hidden_units=8, latent_dim=2')
             .replace('"runs/micro"', repr(str(tmp_path / "micro"))))
    assert small != code
    namespace = {}
    exec(compile(small, "README.md", "exec"), namespace)
    assert len(namespace["history"]["val_stats_distance"]) == 2
    assert (tmp_path / "micro" / "model.keras").is_file()
