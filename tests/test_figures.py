"""Figures: the plotted statistics are the centred autocorrelation; the PNG is written."""

import numpy as np

from ssvae_tf.figures import centred_autocorrelation, plot_reconstructions
from ssvae_tf.model import DEFAULT_STATS_OPTIONS


def test_centred_autocorrelation_is_fftshifted_periodic_statistic():
    images = (np.random.default_rng(0).random((2, 12, 10, 1)) > 0.5).astype(np.float32)
    options = {**DEFAULT_STATS_OPTIONS, "kind": "hard"}
    m0 = 1.0 - images[..., 0]  # black phase
    power = np.abs(np.fft.fft2(m0)) ** 2
    expected = np.fft.fftshift(np.fft.ifft2(power).real, axes=(1, 2)) / 120
    np.testing.assert_allclose(centred_autocorrelation(images, options), expected, atol=1e-6)


def test_plot_reconstructions_writes_a_png(tmp_path):
    rng = np.random.default_rng(0)
    images = (rng.random((3, 16, 16, 1)) > 0.5).astype(np.float32)
    path = tmp_path / "figure.png"
    plot_reconstructions(images, rng.random((3, 16, 16, 1)).astype(np.float32), DEFAULT_STATS_OPTIONS, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 5000
    volumes = rng.random((2, 16, 16, 16, 1)).astype(np.float32)
    plot_reconstructions(volumes, volumes, DEFAULT_STATS_OPTIONS, tmp_path / "volume.png")
    assert (tmp_path / "volume.png").exists()
