"""What an export promises its servers and clients: model names, the signature, the version range, file names.

The one home of these facts.  :mod:`ssvae_tf.export` writes exports by them,
``serving`` serves and reads them, and ``ssvae export | serve | encode | decode``
show them in ``--help``, so this module imports nothing (no TensorFlow): the
command line stays light.

Each SavedModel has one signature, :data:`SIGNATURE`, float32, batch dimension ``None``:

* encoder (:data:`ENCODER_MODEL`): :data:`ENCODER_INPUT` ``(batch, *image_shape)`` ->
  :data:`ENCODER_OUTPUTS` ``z_mean`` and ``z_log_var``, each ``(batch, latent_dim)``;
* decoder (:data:`DECODER_MODEL`): :data:`DECODER_INPUT` ``(batch, latent_dim)`` ->
  :data:`DECODER_OUTPUTS` ``images`` ``(batch, *image_shape)`` in (0, 1).
"""

from __future__ import annotations

#: The default model names of the encoder and the decoder.
ENCODER_MODEL, DECODER_MODEL = "ssvae_encoder", "ssvae_decoder"
#: The one signature of each SavedModel (TF Serving's default signature name).
SIGNATURE = "serving_default"
ENCODER_INPUT, ENCODER_OUTPUTS = "images", ("z_mean", "z_log_var")
DECODER_INPUT, DECODER_OUTPUTS = "z", ("images",)
#: The export root's two files: TF Serving's model_config_list, and one record per export.
MODELS_CONFIG, EXPORT_RECORD = "models.config", "ssvae_export.json"
#: Where the Dockerfile puts the export root inside the TF Serving image.
DOCKER_MODEL_ROOT = "/models"
#: The largest version TF Serving accepts (versions are int64; folders named by larger numbers are ignored).
MAX_VERSION = 2**63 - 1
