"""TF Serving for ssvae-tf: a client, the serving contract, deployment files, and a development server.

* :mod:`serving.client` — :class:`~serving.client.SSVAEClient`: ``encode`` /
  ``decode`` / ``metadata`` / ``status`` over TF Serving's gRPC or REST API
  (NumPy in, NumPy out); talks to TF Serving and to the development server alike.
* :mod:`serving.contract` — the defaults and limits of the client and the
  server (port 8500, 64 MiB messages, batches of 256, ...), light, shown by
  ``ssvae serve | encode | decode --help``; the export's own facts (model
  names, signature, versions) are in :mod:`ssvae_tf.export_contract`.
* :mod:`serving.files` — the input and output files of ``ssvae encode | decode``.
* ``README.md``, ``batching.config``, ``docker-compose.yml`` — production
  serving with the official ``tensorflow/serving`` image (``Dockerfile`` at the
  top of the repository); ``check_tf_release.py`` checks a new TF Serving release
  against an export.
* :mod:`serving.dev_server` — a development and test stand-in for
  ``tensorflow_model_server`` (``ssvae serve``), not a replacement for TF Serving.

The models themselves are written by :func:`ssvae_tf.export.export_for_serving`;
the commands (``ssvae export | serve | encode | decode``) are in :mod:`ssvae_tf.commands`.
Importing this package is light; each module imports TensorFlow and gRPC itself.
"""
