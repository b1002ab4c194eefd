"""What an export promises its servers and clients: the served models, the signature, the versions, file names.

The one home of these facts.  :mod:`ssvae_tf.export` writes exports by them,
``serving`` serves and reads them, and ``ssvae export | serve | encode | decode``
show them in ``--help``, so this module imports nothing (no TensorFlow): the
command line stays light.

:data:`SERVED_MODELS` is the table of the networks an export serves, each as its
own TF Serving model with one signature, :data:`SIGNATURE`, float32, batch
dimension ``None``:

* ``encoder``: ``images`` ``(batch, *image_shape)`` -> ``z_mean`` and
  ``z_log_var``, each ``(batch, latent_dim)``;
* ``decoder``: ``z`` ``(batch, latent_dim)`` -> ``images`` ``(batch, *image_shape)`` in (0, 1).

Serving one more network of a :class:`~ssvae_tf.model.SpatialStatsVAE` is one
more entry: ``ssvae export`` writes it (and gets its ``--<role>-name`` flag), and
``SSVAEClient.predict(role, ...)`` calls it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServedModel:
    """One network of a ``SpatialStatsVAE`` served as a TF Serving model.

    Attributes:
        role: what it does, e.g. ``"encoder"``; names its flag ``--<role>-name`` (``ssvae export``), its
            keyword ``<role>_name`` (``export_for_serving``) and its key ``<role>_model`` in ``ssvae_export.json``.
        default_name: the model name clients ask for unless told another.
        network: the ``SpatialStatsVAE`` attribute holding the Keras network (one input, its outputs in the
            order of ``output_keys``).
        input_key: the signature's one input.
        output_keys: the signature's outputs.
        in_every_record: every record of ``ssvae_export.json`` names it.  True for the encoder and the decoder,
            exported since the first version; a served model added later is False, since the records of older
            exports lack it (and must still be read).
    """

    role: str
    default_name: str
    network: str
    input_key: str
    output_keys: tuple[str, ...]
    in_every_record: bool = False

    @property
    def record_key(self) -> str:
        """Its model name's key in the records of ``ssvae_export.json``, e.g. ``encoder_model``."""
        return f"{self.role}_model"


#: The served models, in the order ``ssvae export`` writes and lists them.
SERVED_MODELS: tuple[ServedModel, ...] = (
    ServedModel("encoder", "ssvae_encoder", "encoder", "images", ("z_mean", "z_log_var"), in_every_record=True),
    ServedModel("decoder", "ssvae_decoder", "decoder", "z", ("images",), in_every_record=True),
)
#: The tensors of the signatures that tell an export's signature: the images (their shape) and the latent
#: vectors (their size); a served model shows whichever of them it takes or gives.
IMAGE_TENSOR, LATENT_TENSORS = "images", ("z", "z_mean", "z_log_var")
#: The one signature of each SavedModel (TF Serving's default signature name).
SIGNATURE = "serving_default"
#: The export root's two files: TF Serving's model_config_list, and one record per export.
MODELS_CONFIG, EXPORT_RECORD = "models.config", "ssvae_export.json"
#: Where the Dockerfile puts the export root inside the TF Serving image.
DOCKER_MODEL_ROOT = "/models"
#: The largest version TF Serving accepts (versions are int64; folders named by larger numbers are ignored).
MAX_VERSION = 2**63 - 1


def served_model(role: str) -> ServedModel:
    """The entry of :data:`SERVED_MODELS` for ``role``, or a one-line ``ValueError`` naming the roles."""
    for served in SERVED_MODELS:
        if served.role == role:
            return served
    raise ValueError(f"no served model has the role {role!r}; the roles are "
                     f"{', '.join(served.role for served in SERVED_MODELS)}")


def default_names() -> dict[str, str]:
    """``{role: default model name}`` of every served model, in table order."""
    return {served.role: served.default_name for served in SERVED_MODELS}
