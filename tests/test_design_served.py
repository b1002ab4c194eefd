"""Design against a decoder served over gRPC (issue 14 §4): what needs no gradient through the decoder.

A tiny VAE (16 px, untrained: design only needs a decoder) is exported with
``export_for_serving`` and served by the local TF Serving-compatible server on
loopback; ``design_with_decoder`` runs ``encode``, the derivative-free
``latent`` search and ``refine`` through ``SSVAEClient`` and must find what the
same searches find with the in-process decoder.
"""

import numpy as np
import pytest

from serving.client import SSVAEClient
from serving.dev_server import start_server
from ssvae_tf.design import design, design_with_decoder
from ssvae_tf.export import export_for_serving
from ssvae_tf.export_contract import DECODER_INPUT, SIGNATURE
from ssvae_tf.model import build_vae

pytestmark = pytest.mark.slow  # end to end: a gRPC server over an exported SavedModel

SIDE, LATENT = 16, 2
ATOL = 1e-5


def band() -> np.ndarray:
    image = np.ones((SIDE, SIDE, 1), np.float32)
    image[4:8] = 0.0
    return image


@pytest.fixture(scope="module")
def model():
    return build_vae((SIDE, SIDE, 1), latent_dim=LATENT, depth=2, filters=4, hidden_units=8, seed=0)


@pytest.fixture(scope="module")
def client(model, tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    export_for_serving(model, root)
    with start_server(root, port=0) as server, SSVAEClient(server.target, timeout=60) as served:
        yield served


def in_process(model):
    return lambda z: model.decode(z).numpy()


def test_the_served_decoder_tells_its_latent_size(client):
    shape = client.metadata()[client.decoder]["signatures"][SIGNATURE]["inputs"][DECODER_INPUT]["shape"]
    assert shape == (None, LATENT)


def test_encode_served_equals_encode_in_process(client, model):
    served = design_with_decoder(client.decode, LATENT, band(), "encode", n=3, encode=client.encode, seed=0)
    local = design(model, band(), "encode", n=3, seed=0)
    np.testing.assert_allclose(served.latents, local.latents, atol=ATOL)
    np.testing.assert_allclose(served.images, local.images, atol=ATOL)
    np.testing.assert_allclose(served.stats_error, local.stats_error, rtol=1e-3, atol=1e-9)


def test_the_derivative_free_search_through_the_served_decoder(client, model):
    settings = dict(n=2, generations=5, population=4, seed=0)
    served = design_with_decoder(client.decode, LATENT, band(), "latent", **settings)
    local = design_with_decoder(in_process(model), LATENT, band(), "latent", **settings)
    np.testing.assert_allclose(served.latents, local.latents, atol=1e-4)  # the same search, step for step
    np.testing.assert_allclose(served.images, model.decode(served.latents).numpy(), atol=ATOL)
    history = served.history["latent"]
    assert history.shape == (6, 2) and np.all(np.diff(history, axis=0) <= 0)
    assert np.all(history[-1] <= history[0]) and served.settings["search"].startswith("evolution")


def test_refine_through_the_served_decoder_improves_its_start(client):
    refined = design_with_decoder(client.decode, LATENT, band(), "refine", n=2, generations=2, population=4,
                                  refine_steps=5, seed=0)
    pixel = refined.history["pixel"]
    assert pixel.shape == (6, 2) and np.all(pixel[-1] < pixel[0])
    assert refined.images.shape == (2, SIDE, SIDE, 1) and 0 <= refined.images.min() <= refined.images.max() <= 1


def test_a_decoder_of_another_size_is_refused_in_one_line(client):
    with pytest.raises(ValueError, match=r"shape \(1, 16, 16, 1\); the target needs \(1, 32, 32, 1\)") as error:
        design_with_decoder(client.decode, LATENT, np.ones((32, 32, 1), np.float32), "latent", n=1, generations=1)
    assert "\n" not in str(error.value)
