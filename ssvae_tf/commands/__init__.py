"""The ``ssvae`` command line: one module per command on one small base (:mod:`ssvae_tf.commands.base`).

``train``, ``evaluate``, ``demo``, ``design``, ``stats`` (``stats``, ``sample``),
``tune``, ``export``, ``serve`` and ``encode_decode`` (``encode``, ``decode``)
each declare ``COMMANDS``; :mod:`ssvae_tf.commands.cli` collects them into one
parser and holds :func:`~ssvae_tf.commands.cli.main`, the console script
``ssvae`` and ``python -m ssvae_tf``.  The command layer is the top of the
package: the only part of ``ssvae_tf`` that uses ``tuning`` and ``serving``.
"""
