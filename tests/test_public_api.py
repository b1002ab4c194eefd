"""The public API of ``ssvae_tf``: ``__all__``, ``dir()`` and the lazy names agree."""

import ssvae_tf


def test_dir_lists_the_public_api_and_the_version():
    assert dir(ssvae_tf) == sorted(ssvae_tf.__all__)
    assert "__version__" in dir(ssvae_tf) and "TrainConfig" in dir(ssvae_tf)
    assert not {"wrapt", "import_module", "lazy_exports"} & set(dir(ssvae_tf))


def test_every_name_in_all_resolves_to_what_its_module_defines():
    import importlib

    assert len(set(ssvae_tf.__all__)) == len(ssvae_tf.__all__)
    for name in ssvae_tf.__all__:
        value = getattr(ssvae_tf, name)
        if name != "__version__":
            assert value is getattr(importlib.import_module(ssvae_tf._PUBLIC[name]), name)
