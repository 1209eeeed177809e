"""The multi-worker cluster: TF_CONFIG checked before TensorFlow starts a server, and a
watchdog that turns a wait for absent peers into a one-line error after a bounded time.

TensorFlow's own TF_CONFIG errors come late (after the gRPC server starts) and a missing peer
makes it wait for ever, so ``--strategy multiworker`` parses TF_CONFIG here first and arms a
:class:`Watchdog` around every step that needs every worker (start-up, the config check).
"""

from __future__ import annotations

import json
import os
import sys
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from common.errors import EXIT_USAGE, UsageError
from perception.hardware import import_tensorflow

if TYPE_CHECKING:
    import tensorflow as tf

TF_CONFIG_EXAMPLE = (
    'TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
    '"task": {"type": "worker", "index": 0}}\''
)
#: Seconds every worker waits for the others at start-up (--connect-timeout).
DEFAULT_CONNECT_TIMEOUT = 120.0


@dataclass(frozen=True)
class ClusterSpec:
    """The parts of TF_CONFIG this process needs: everyone's address and who we are."""

    jobs: dict[str, list[str]]
    task_type: str
    task_index: int

    @property
    def num_workers(self) -> int:
        return len(self.jobs.get("worker", [])) + len(self.jobs.get("chief", []))

    @property
    def is_chief(self) -> bool:
        """TensorFlow's rule: the 'chief' task, else worker 0 when there is no chief."""
        if "chief" in self.jobs:
            return self.task_type == "chief"
        return self.task_type == "worker" and self.task_index == 0

    @property
    def address(self) -> str:
        return self.jobs[self.task_type][self.task_index]

    def describe(self) -> str:
        return f"{self.task_type} {self.task_index} of {self.num_workers} ({self.address})"


def _fail(problem: str) -> UsageError:
    return UsageError(f"TF_CONFIG {problem}; e.g. {TF_CONFIG_EXAMPLE}")


def _check_address(job: str, address: object) -> None:
    host, _, port = str(address).rpartition(":")
    if not isinstance(address, str) or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise _fail(f"cluster.{job}: {address!r} is not 'host:port'")


def parse_tf_config(text: str | None) -> ClusterSpec:
    """Check TF_CONFIG up front: one line naming the problem, before any server starts."""
    if text is None or not text.strip():
        raise UsageError(
            "--strategy multiworker reads the cluster from the TF_CONFIG environment variable, "
            f"which is not set; set it on every worker, e.g. {TF_CONFIG_EXAMPLE}"
        )
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(f"is not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise _fail("must be a JSON object with 'cluster' and 'task'")
    cluster, task = data.get("cluster"), data.get("task")
    if not isinstance(cluster, dict) or not cluster:
        raise _fail('needs \'cluster\': an object like {"worker": ["host:port", ...]}')
    jobs: dict[str, list[str]] = {}
    for job, addresses in cluster.items():
        if job not in ("chief", "worker"):
            raise _fail(f"cluster.{job}: only 'chief' and 'worker' jobs are supported")
        if not isinstance(addresses, list) or not addresses:
            raise _fail(f"cluster.{job} must be a non-empty list of 'host:port'")
        for address in addresses:
            _check_address(job, address)
        jobs[str(job)] = list(addresses)
    if len(jobs.get("chief", [])) > 1:
        raise _fail("cluster.chief must list exactly one 'host:port'")
    every = [a for addresses in jobs.values() for a in addresses]
    if len(set(every)) != len(every):
        raise _fail("lists an address twice; every task needs its own host:port")
    if not isinstance(task, dict):
        raise _fail('needs \'task\': {"type": "worker", "index": N}')
    task_type, task_index = task.get("type"), task.get("index")
    if task_type not in jobs:
        raise _fail(f"task.type {task_type!r} is not a job in cluster ({', '.join(jobs)})")
    size = len(jobs[task_type])
    if not isinstance(task_index, int) or isinstance(task_index, bool):
        raise _fail(f"task.index {task_index!r} must be a whole number from 0 to {size - 1}")
    if not 0 <= task_index < size:
        raise _fail(
            f"task.index {task_index} is out of range: cluster.{task_type} lists {size} "
            f"address(es), so the index runs from 0 to {size - 1}"
        )
    return ClusterSpec(jobs, task_type, task_index)


def cluster_from_env() -> ClusterSpec:
    return parse_tf_config(os.environ.get("TF_CONFIG"))


class Watchdog:
    """Ends the process with a one-line error (exit 2) unless :meth:`cancel` comes in time.

    A thread and ``os._exit``: TensorFlow blocks in C++ while it waits for peers, where no
    Python exception can reach it.
    """

    def __init__(self, seconds: float, message: str) -> None:
        self.seconds, self.message = seconds, message
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def _expire(self) -> None:
        print(f"error: {self.message}", file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(EXIT_USAGE)

    def __enter__(self) -> Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()

    def cancel(self) -> None:
        self._timer.cancel()


def peers_message(spec: ClusterSpec, seconds: float, what: str) -> str:
    others = [a for addresses in spec.jobs.values() for a in addresses if a != spec.address]
    return (
        f"{what}: no answer within {seconds:g}s from the other workers ({', '.join(others)}); "
        "start every worker with the same command and its own TF_CONFIG task, check the "
        "addresses and firewalls, or raise --connect-timeout"
    )


# The cluster this process joined (set by perception.devices when it builds the strategy).
_ACTIVE: tuple[ClusterSpec, float] | None = None


def set_active(spec: ClusterSpec, connect_timeout: float) -> None:
    global _ACTIVE
    _ACTIVE = (spec, connect_timeout)


def active() -> tuple[ClusterSpec, float]:
    """The cluster and connect timeout of the running multi-worker strategy."""
    if _ACTIVE is None:
        raise RuntimeError("no multi-worker cluster: run configure_devices(multiworker) first")
    return _ACTIVE


def build_multiworker(cluster: ClusterSpec, connect_timeout: float) -> tf.distribute.Strategy:
    """MultiWorkerMirroredStrategy over the TF_CONFIG cluster, with bounded waits.

    TensorFlow's coordination service is configured here (before the strategy does it with its
    defaults): peers must register within ``connect_timeout``, a peer that stops answering is
    noticed within seconds, and a restarted worker may rejoin. The watchdog bounds the wait even
    where TensorFlow itself would block.
    """
    tf = import_tensorflow()
    from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2
    from tensorflow.python.eager import context

    leader = "chief" if "chief" in cluster.jobs else "worker"
    jobs = [
        coordination_config_pb2.CoordinatedJob(name=job, num_tasks=len(cluster.jobs[job]))
        for job in ("chief", "worker")
        if job in cluster.jobs
    ]
    ms = int(connect_timeout * 1000)
    context.context().configure_coordination_service(
        service_type="standalone",
        service_leader=f"/job:{leader}/replica:0/task:0",
        cluster_register_timeout_in_ms=ms,
        heartbeat_timeout_in_ms=10_000,
        shutdown_barrier_timeout_in_ms=ms,
        coordinated_jobs=jobs,
        allow_new_incarnation_to_reconnect=True,
    )
    options = tf.distribute.experimental.CommunicationOptions(
        implementation=tf.distribute.experimental.CommunicationImplementation.AUTO
    )
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    message = peers_message(cluster, connect_timeout, f"TF_CONFIG {cluster.describe()}")
    with Watchdog(connect_timeout, message):
        try:
            strategy = tf.distribute.MultiWorkerMirroredStrategy(
                cluster_resolver=resolver, communication_options=options
            )
        except (tf.errors.UnknownError, tf.errors.InternalError) as exc:
            if "gRPC server" in str(exc):
                raise UsageError(
                    f"TF_CONFIG: cannot listen on {cluster.address} (is the port in use or the "
                    "host not this machine?); give this task a free port on this machine"
                ) from None
            raise
    set_active(cluster, connect_timeout)
    return strategy
