"""A development server speaking TF Serving's gRPC and REST APIs: ``ssvae serve``.

A stand-in for ``tensorflow_model_server`` on a laptop and in tests, so the
client, ``ssvae encode | decode`` and the served design path can be tried
without Docker.  It is not a replacement for TF Serving: production serving
is the official ``tensorflow/serving`` image (``serving/README.md``).

* :mod:`serving.dev_server.server` — :func:`start_server`:
  ``PredictionService.Predict``/``GetModelMetadata`` and
  ``ModelService.GetModelStatus`` over an export root, and with
  :mod:`serving.dev_server.rest` TF Serving's REST API over the same models.
* :mod:`serving.dev_server.repository` — the SavedModel versions it serves, refreshed by polling.
* :mod:`serving.dev_server.handlers` — the request handling, answering as TF Serving does (both APIs).
* :mod:`serving.dev_server.monitoring` — request counts and latencies, for ``--monitoring``'s Prometheus page.
* :mod:`serving.dev_server.batching` — server-side batching after TF Serving's (``--enable-batching``).

Importing this package is light; ``start_server`` and ``LocalServer`` import
TensorFlow and gRPC on first use.
"""

from ssvae_tf._lazy import lazy_exports

_PUBLIC = {"start_server": "serving.dev_server.server", "LocalServer": "serving.dev_server.server",
           "raise_open_file_limit": "serving.dev_server.rest",
           "read_batching_parameters": "serving.dev_server.batching"}
__all__ = list(_PUBLIC)

__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
