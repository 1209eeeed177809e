"""The multi-worker cluster: TF_CONFIG checked before TensorFlow starts a server, and a
watchdog that turns a wait for absent peers into a one-line error after a bounded time.

TensorFlow's own TF_CONFIG errors come late (after the gRPC server starts) and a missing peer
makes it wait for ever, so ``--strategy multiworker`` parses TF_CONFIG here first and arms a
:class:`Watchdog` around every step that needs every worker (start-up, the config check).
"""

from __future__ import annotations

import contextlib
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
# Restarts of a surviving worker after a peer is lost (each waits --connect-timeout at most).
MAX_REJOINS = 3
REJOIN_ENV = "DLTF_MULTIWORKER_REJOIN"


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

    TensorFlow's coordination service waits for absent peers inside C++ without a usable
    timeout, so it is switched off: the strategy then waits for its peers with a Python-level
    health check whose timeout is ``connect_timeout``, and keeps checking them while training
    (a lost peer fails the next collective within seconds; see networks.cluster_ops.rejoin).
    """
    tf = import_tensorflow()
    from tensorflow.python.distribute import collective_all_reduce_strategy as collective
    from tensorflow.python.eager import context

    context.context().configure_coordination_service(service_type="")
    extended = collective.CollectiveAllReduceExtended
    extended._check_health_initial_timeout = max(1, round(connect_timeout))
    # A lost peer is noticed within ~6 s (a collective to it may otherwise wait on gRPC).
    extended._check_health_interval = 2
    extended._check_health_timeout = 2
    extended._check_health_retry_limit = 1
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver)
    except RuntimeError as exc:
        if "Timeout waiting for the cluster" in str(exc):
            raise UsageError(peers_message(cluster, connect_timeout, cluster.describe())) from None
        raise
    except (tf.errors.UnknownError, tf.errors.InternalError) as exc:
        if "gRPC server" in str(exc):
            raise UsageError(
                f"TF_CONFIG: cannot listen on {cluster.address} (is the port in use or the "
                "host not this machine?); give this task a free port on this machine"
            ) from None
        raise
    except (tf.errors.UnavailableError, tf.errors.AbortedError) as exc:
        # A peer restarting while this one starts (a survivor rejoining): start again.
        rejoin(f"start-up: {type(exc).__name__}")
        raise
    set_active(cluster, connect_timeout)
    return strategy


def running_as_command() -> bool:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    return getattr(spec, "name", None) is not None  # python -m <command>


def rejoin(reason: str) -> None:
    """A peer was lost: restart this process with its own command line so it rejoins the
    cluster from the chief's last checkpoint (the lost worker is restarted by its owner)."""
    attempt = int(os.environ.get(REJOIN_ENV, "0")) + 1
    if not running_as_command() or attempt > MAX_REJOINS:
        raise UsageError(
            f"lost contact with a worker ({reason}); restart every worker with the same "
            "command: the run resumes from the last epoch's checkpoint"
        )
    print(
        f"warning: lost contact with a worker ({reason}); rejoining the cluster from the last "
        f"checkpoint (attempt {attempt} of {MAX_REJOINS})",
        file=sys.stderr,
        flush=True,
    )
    sys.stdout.flush()
    os.environ[REJOIN_ENV] = str(attempt)
    for fd in os.listdir("/proc/self/fd") if os.path.isdir("/proc/self/fd") else ():
        # TensorFlow's sockets and event fds must not leak into the new image (it hangs).
        with contextlib.suppress(OSError):
            if int(fd) > 2:
                os.set_inheritable(int(fd), False)
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])
