"""The ``ssvae`` command line: one module per command on one small base (:mod:`ssvae_tf.commands.base`).

The command layer is the top of the package: the only part of ``ssvae_tf``
that uses ``tuning`` and ``serving``.  :func:`ssvae_tf.commands.cli.main` is
the console script ``ssvae`` and ``python -m ssvae_tf``.
"""
