"""Design with a decoder alone (``ssvae_tf.design.served``): the derivative-free search on a known
minimum and with an in-process decoder, then against a decoder served over gRPC (issue 14 §4, slow).

A tiny VAE (16 px, untrained: design only needs a decoder) is exported with
``export_for_serving`` and served by the local TF Serving-compatible server on
loopback; ``design_with_decoder`` runs ``encode``, the derivative-free
``latent`` search and ``refine`` through ``SSVAEClient`` and must find what the
same searches find with the in-process decoder.
"""

import numpy as np
import pytest

from design_helpers import SIDE, band, tiny_model
from ssvae_tf.design import design, design_with_decoder, latent_evolution
from ssvae_tf.export import export_for_serving
from ssvae_tf.export_contract import SIGNATURE, served_model

LATENT = 2  # tiny_model's latent size
ATOL = 1e-5


@pytest.fixture(scope="module")
def model():
    return tiny_model()


# ------------------------------------------------------ in process
def test_the_evolution_strategy_finds_a_quadratics_minimum():
    centre = np.array([0.5, -1.0, 2.0])

    def loss(z):
        values = np.square(z - centre).sum(axis=1).astype(np.float64)
        return values, values

    found = latent_evolution(loss, np.zeros((3, 3), np.float32), generations=80, population=8,
                             rng=np.random.default_rng(0))
    assert found["total"].shape == (81, 3) and np.all(np.diff(found["total"], axis=0) <= 0)  # best so far
    np.testing.assert_allclose(found["z"], np.tile(centre, (3, 1)), atol=0.05)
    np.testing.assert_allclose(found["total"][-1], np.square(found["z"] - centre).sum(axis=1), rtol=1e-5)


def test_design_with_a_decoder_alone(model):
    decode = lambda z: model.decode(z).numpy()  # noqa: E731  (what a served decoder answers: arrays)
    found = design_with_decoder(decode, 2, band(), "latent", n=2, generations=6, population=4, seed=0)
    history = found.history["latent"]
    assert history.shape == (7, 2) and np.all(np.diff(history, axis=0) <= 0) and history[-1].max() < history[0].max()
    np.testing.assert_allclose(found.images, decode(found.latents), atol=1e-6)
    np.testing.assert_allclose(found.objective, found.history["latent_objective"][-1], rtol=1e-4)
    encoded = design_with_decoder(decode, None, band(), "encode", n=2, encode=model.encode, seed=0)
    np.testing.assert_allclose(encoded.images, design(model, band(), "encode", n=2, seed=0).images, atol=1e-6)
    refined = design_with_decoder(decode, 2, band(), "refine", n=2, generations=2, population=4, refine_steps=3)
    pixel = refined.history["pixel"]
    assert pixel.shape == (4, 2) and np.all(pixel[-1] <= pixel[0])
    with pytest.raises(ValueError, match="'encode' needs an encoder"):
        design_with_decoder(decode, 2, band(), "encode")
    with pytest.raises(ValueError, match=r"shape \(1, 8, 8, 1\); the target needs \(1, 16, 16, 1\)"):
        design_with_decoder(lambda z: np.zeros((len(z), 8, 8, 1)), 2, band(), "latent", n=1, generations=1)


# ------------------------------------------------------ served over gRPC
SERVED = pytest.mark.slow  # end to end: a gRPC server over an exported SavedModel


@pytest.fixture(scope="module")
def client(model, tmp_path_factory):
    from serving.client import SSVAEClient
    from serving.dev_server import start_server

    root = tmp_path_factory.mktemp("export")
    export_for_serving(model, root)
    with start_server(root, port=0) as server, SSVAEClient(server.target, timeout=60) as served:
        yield served


def in_process(model):
    return lambda z: model.decode(z).numpy()


@SERVED
def test_the_served_decoder_tells_its_latent_size(client):
    shape = client.metadata()[client.decoder]["signatures"][SIGNATURE]["inputs"][served_model("decoder").input_key]["shape"]
    assert shape == (None, LATENT)


@SERVED
def test_encode_served_equals_encode_in_process(client, model):
    served = design_with_decoder(client.decode, LATENT, band(), "encode", n=3, encode=client.encode, seed=0)
    local = design(model, band(), "encode", n=3, seed=0)
    np.testing.assert_allclose(served.latents, local.latents, atol=ATOL)
    np.testing.assert_allclose(served.images, local.images, atol=ATOL)
    np.testing.assert_allclose(served.stats_error, local.stats_error, rtol=1e-3, atol=1e-9)


@SERVED
def test_the_derivative_free_search_through_the_served_decoder(client, model):
    settings = dict(n=2, generations=5, population=4, seed=0)
    served = design_with_decoder(client.decode, LATENT, band(), "latent", **settings)
    local = design_with_decoder(in_process(model), LATENT, band(), "latent", **settings)
    np.testing.assert_allclose(served.latents, local.latents, atol=1e-4)  # the same search, step for step
    np.testing.assert_allclose(served.images, model.decode(served.latents).numpy(), atol=ATOL)
    history = served.history["latent"]
    assert history.shape == (6, 2) and np.all(np.diff(history, axis=0) <= 0)
    assert np.all(history[-1] <= history[0]) and served.settings["search"].startswith("evolution")


@SERVED
def test_refine_through_the_served_decoder_improves_its_start(client):
    refined = design_with_decoder(client.decode, LATENT, band(), "refine", n=2, generations=2, population=4,
                                  refine_steps=5, seed=0)
    pixel = refined.history["pixel"]
    assert pixel.shape == (6, 2) and np.all(pixel[-1] < pixel[0])
    assert refined.images.shape == (2, SIDE, SIDE, 1) and 0 <= refined.images.min() <= refined.images.max() <= 1


@SERVED
def test_a_decoder_of_another_size_is_refused_in_one_line(client):
    with pytest.raises(ValueError, match=r"shape \(1, 16, 16, 1\); the target needs \(1, 32, 32, 1\)") as error:
        design_with_decoder(client.decode, LATENT, np.ones((32, 32, 1), np.float32), "latent", n=1, generations=1)
    assert "\n" not in str(error.value)
