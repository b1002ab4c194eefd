"""The named training configurations: the paper's and ours."""

import pytest

from ssvae_tf.presets import preset


def test_presets():
    paper = preset("paper")
    assert (paper.image_size, paper.beta, paper.alpha, paper.latent_dim, paper.batch_size, paper.seed) == (
        224, 1.0, 1.0, 9, 32, 125)
    assert preset("paper", baseline=True).epochs == 400 and paper.epochs == 1500
    assert preset("ours").loss_weights((64, 64)) == (1.0, 0.001, 0.0)
    assert preset("ours", image_size=32).loss_weights((32, 32))[1] == 0.00025
    assert preset("ours", baseline=True, data="lines-hard").loss_weights((64, 64)) == (0.0, 0.001, 1.0)
    # each model with the padding that suits it (docs/reproduction.md)
    shape = (64, 64, 1)
    assert (preset("ours").model_padding(shape), preset("ours", baseline=True).model_padding(shape)) == (
        "circular", "zeros")
    # as docs/reproduction.md measured them: no decoder noise, no perimeter term, ReLUs
    for config in (preset("paper"), preset("ours"), preset("ours", baseline=True)):
        assert not config.model_decoder_noise(shape) and config.loss_schedule.perimeter_weight == 0
        assert config.model_decoder_activation(shape) == "relu"
    assert (preset("ours").encoder_input, preset("ours", baseline=True).encoder_input) == ("statistics", "image")
    with pytest.raises(ValueError, match="preset must be one of"):
        preset("mine")
    with pytest.raises(ValueError, match="unknown TrainConfig fields"):
        preset("ours", epoch=3)
