"""TF Serving for ssvae-tf: a client, a local TF Serving-compatible server, deployment files.

* :mod:`serving.client` — :class:`~serving.client.SSVAEClient`: ``encode`` /
  ``decode`` / ``metadata`` / ``status`` over TF Serving's gRPC or REST API
  (NumPy in, NumPy out); talks to TF Serving and to the local server alike.
* :mod:`serving.server` — :func:`~serving.server.start_server`: a development
  and test stand-in for ``tensorflow_model_server`` implementing
  ``PredictionService.Predict``/``GetModelMetadata`` and
  ``ModelService.GetModelStatus`` over an export root (``ssvae serve``), and
  with :mod:`serving.rest` TF Serving's REST API over the same models.
* :mod:`serving.repository` — the SavedModel versions it serves, refreshed by polling.
* :mod:`serving.handlers` — the request handling, answering as TF Serving does
  (both APIs).
* :mod:`ssvae_tf.commands.serving` — ``ssvae export | serve | encode | decode``;
  :mod:`serving.files` — their input and output files.
* :mod:`serving.demo` — the serving step of ``ssvae demo``.
* ``README.md``, ``batching.config``, ``docker-compose.yml`` — production
  serving with the official ``tensorflow/serving`` image (``Dockerfile`` at the
  top of the repository).

The models themselves are written by :func:`ssvae_tf.export.export_for_serving`.
Importing this package is light; each module imports TensorFlow and gRPC itself.
"""
