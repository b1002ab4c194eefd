"""Where a training run computes: the ``tf.distribute`` strategy, this process's role in it, and
the precision policy.

``ssvae train --strategy`` and ``ssvae tune --strategy`` take one of
:data:`~ssvae_tf.settings.STRATEGIES`:

* ``auto``: ``MirroredStrategy`` over the GPUs when more than one is visible,
  otherwise TensorFlow's default strategy (one device);
* ``one-device``: the first GPU, or the CPU;
* ``mirrored``: ``MirroredStrategy`` over every GPU, or, without one, every
  logical CPU device (one, unless the program configured more);
* ``multi-worker``: ``MultiWorkerMirroredStrategy``, one process per worker,
  the cluster and this process's task given by the ``TF_CONFIG`` environment
  variable (https://www.tensorflow.org/guide/distributed_training).

The strategy is created before anything else touches TensorFlow (a multi-worker
one must be).  ``--batch-size`` is the global batch; the model divides its
per-replica mean loss by the replica count, so the gradients summed across
replicas are those of the global mean.  In a multi-worker job the chief (task
``chief``, or ``worker`` 0 when there is none) writes the run directory; every
other worker writes its own copy under ``OUT/.workers/`` (its backup, so a
killed job resumes) and removes it when the job finishes.

Light at import: TensorFlow is imported when a function needs it.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from dataclasses import dataclass
from typing import Any

from ssvae_tf.settings import STRATEGIES

#: Default wait for every worker of a multi-worker job to come up, s.
PEER_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class WorkerRole:
    """This process's place in a job: ``task`` (``"worker-1"``...; ``"chief"`` for the one that
    writes the run directory) and the number of worker processes."""

    task: str = "chief"
    n_workers: int = 1

    @property
    def is_chief(self) -> bool:
        return self.task == "chief"


def read_tf_config(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """The checked ``TF_CONFIG`` of a multi-worker job.

    >>> read_tf_config({"TF_CONFIG": '{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", '
    ...                 '"index": 1}}'})["task"]
    {'type': 'worker', 'index': 1}

    Raises:
        ValueError: (one line) when it is missing, not JSON, or does not describe a cluster with this
            process's task in it.
    """
    text = (os.environ if environ is None else environ).get("TF_CONFIG")
    expected = ('expected JSON such as {"cluster": {"worker": ["host1:port", "host2:port"]}, '
                '"task": {"type": "worker", "index": 0}}')
    if not text:
        raise ValueError(f"--strategy multi-worker needs the TF_CONFIG environment variable; {expected}")
    try:
        config = json.loads(text)
    except ValueError:
        raise ValueError(f"TF_CONFIG is not JSON ({text[:80]!r}); {expected}") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not cluster.get("worker") and not cluster.get("chief"):
        raise ValueError(f"TF_CONFIG names no cluster of workers; {expected}")
    for job, addresses in cluster.items():
        if job not in ("chief", "worker") or not isinstance(addresses, list) or not all(
                isinstance(address, str) and ":" in address for address in addresses):
            raise ValueError(f"TF_CONFIG's cluster job {job!r} must be 'chief' or 'worker' with a list of "
                             f"'host:port' addresses, got {addresses!r}")
    if not isinstance(task, dict) or task.get("type") not in cluster:
        raise ValueError(f"TF_CONFIG's task must name one of the cluster's jobs {sorted(cluster)}, got {task!r}")
    index = task.get("index")
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(cluster[task["type"]]):
        raise ValueError(f"TF_CONFIG's task index must be 0..{len(cluster[task['type']]) - 1} for job "
                         f"{task['type']!r}, got {index!r}")
    return config


def make_strategy(name: str = "auto", peer_timeout: float = PEER_TIMEOUT_S):
    """The ``tf.distribute.Strategy`` called ``name`` (one of :data:`STRATEGIES`).

    Args:
        name: see the module's docstring.
        peer_timeout: multi-worker only: seconds to wait for every worker to
            come up before giving up.

    Raises:
        ValueError: (one line) for an unknown name, or a missing or malformed ``TF_CONFIG``.
        ConnectionError: (one line) when the other workers do not all come up within
            ``peer_timeout`` (:func:`wait_for_peers`).
    """
    if name not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {name!r}")
    if not (isinstance(peer_timeout, (int, float)) and 0 < peer_timeout < 86_400):
        raise ValueError(f"peer_timeout must be a number of seconds in (0, 86400), got {peer_timeout!r}")
    if name == "multi-worker":
        return _multi_worker_strategy(read_tf_config(), peer_timeout)
    import tensorflow as tf

    gpus = [device.name for device in tf.config.list_logical_devices("GPU")]
    if name == "one-device":
        return tf.distribute.OneDeviceStrategy(gpus[0] if gpus else "/cpu:0")
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(gpus or [d.name for d in tf.config.list_logical_devices("CPU")])
    return tf.distribute.MirroredStrategy(gpus) if len(gpus) > 1 else tf.distribute.get_strategy()


def _multi_worker_strategy(tf_config: dict[str, Any], peer_timeout: float):
    """``MultiWorkerMirroredStrategy``, once every worker of ``tf_config`` answers (:func:`wait_for_peers`)."""
    import tensorflow as tf

    wait_for_peers(tf_config, peer_timeout)
    return tf.distribute.MultiWorkerMirroredStrategy()


def wait_for_peers(tf_config: dict[str, Any], timeout: float) -> None:
    """Listen on this task's port and wait until every other task's port accepts a connection.

    TensorFlow waits for the other workers in a C++ call that holds Python's
    lock and has no time limit, so a worker whose peers never come would hang:
    this check comes first.  Each worker listens (without accepting) on its
    own address while it waits, so workers started in any order find each
    other; a worker that moved on to TensorFlow is found on the same port by
    TensorFlow's server.

    Raises:
        ConnectionError: (one line) when some tasks do not answer within ``timeout`` s, or this
            task's port is taken.
    """
    cluster, task = tf_config["cluster"], tf_config["task"]
    own = cluster[task["type"]][task["index"]]
    peers = {address for addresses in cluster.values() for address in addresses} - {own}
    name = f"{task['type']} {task['index']}"
    try:
        listener = socket.create_server(("", int(own.rsplit(":", 1)[1])))
    except OSError as error:
        raise ConnectionError(f"{name} cannot listen on {own} (from TF_CONFIG): {error.strerror or error}") from None
    deadline = time.monotonic() + timeout
    with listener:
        while peers:
            for address in sorted(peers):
                host, port = address.rsplit(":", 1)
                with contextlib.suppress(OSError), socket.create_connection((host, int(port)), timeout=1.0):
                    peers.discard(address)
            if peers and time.monotonic() > deadline:
                raise ConnectionError(f"{name} could not reach {', '.join(sorted(peers))} within {timeout:g} s; "
                                      "start every worker (the same command, each with its own TF_CONFIG task) "
                                      "within --peer-timeout")
            time.sleep(0.2 if peers else 0)


def worker_role(strategy) -> WorkerRole:
    """This process's :class:`WorkerRole` in ``strategy``'s job (the chief, alone, outside a
    multi-worker job)."""
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return WorkerRole()
    resolver = strategy.cluster_resolver
    jobs = resolver.cluster_spec().as_dict()
    n_workers = sum(len(addresses) for addresses in jobs.values())
    chief = resolver.task_type == "chief" or (resolver.task_type == "worker" and resolver.task_id == 0
                                              and "chief" not in jobs)
    return WorkerRole("chief" if chief else f"{resolver.task_type}-{resolver.task_id}", n_workers)


def agreed_minimum(strategy, value: int) -> int:
    """The smallest of every worker's ``value`` (each process passes its own): what all workers of
    a multi-worker job can agree on, e.g. the last epoch every one of them backed up.  Outside a
    multi-worker job, ``value``."""
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return int(value)
    values = strategy.experimental_distribute_values_from_function(
        lambda _context: tf.constant([float(value)]))
    return int(tf.reduce_min(strategy.gather(values, axis=0)).numpy())


def shardable(dataset):
    """``dataset`` with an explicit auto-shard policy: each worker reads the whole (seeded, hence
    identical) pipeline and keeps its share of the batches (``DATA``).  ``None`` stays ``None``."""
    import tensorflow as tf

    if dataset is None:
        return None
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def mixed_precision_policy() -> str:
    """The mixed-precision policy for this machine: ``mixed_float16`` with a GPU (its tensor
    cores), ``mixed_bfloat16`` on a CPU (float16 there is emulated and slow)."""
    import tensorflow as tf

    return "mixed_float16" if tf.config.list_logical_devices("GPU") else "mixed_bfloat16"
