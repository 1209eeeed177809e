"""A real two-worker cluster on 127.0.0.1: `networks.train --strategy multiworker` end to end.

Each test starts worker processes with their own TF_CONFIG. Ports come from the kernel (bind to
port 0) and are released before TensorFlow binds them, so another process may take one in
between: a worker then fails with a one-line "cannot listen" error and the whole cluster is
started again on fresh ports (``run_cluster`` and the kill test retry). Every wait has a timeout.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import keras
import pytest

from tests.networks.conftest import write_mnist_npz

ROOT = Path(__file__).resolve().parents[2]
WAIT = 150  # seconds any worker may take (2 busy cores: TensorFlow's import alone takes ~10 s)
# Accuracy of the cluster vs one process on the same data: the cluster's shuffle and shards differ
# (and it drops the last partial global batch), so the runs are not bit-equal; on this separable
# data both reach near-perfect test accuracy.
TOLERANCE = 0.05
ARGS = ["softmax", "--epochs", "2", "--batch-size", "16", "--lr", "0.01", "--no-progress"]


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def tf_config(ports: list[int], index: int) -> str:
    workers = [f"127.0.0.1:{p}" for p in ports]
    return json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})


class Cluster:
    def __init__(self, tmp: Path, args: list[list[str]], timeout: float = 60) -> None:
        self.tmp, self.args, self.timeout = tmp, args, timeout
        self.ports: list[int] = []
        self.procs: list[subprocess.Popen] = []

    def start_worker(self, i: int) -> subprocess.Popen:
        env = {**os.environ, "TF_CONFIG": tf_config(self.ports, i), "PYTHONPATH": str(ROOT)}
        env.pop("DLTF_MULTIWORKER_REJOIN", None)
        cmd = [sys.executable, "-m", "networks.train", *self.args[i]]
        cmd += ["--strategy", "multiworker", "--connect-timeout", str(self.timeout)]
        out = open(self.tmp / f"w{i}.log", "a")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(cmd, cwd=self.tmp, env=env, stdout=out, stderr=subprocess.STDOUT)
        out.close()
        return proc

    def start(self) -> None:
        self.ports = free_ports(len(self.args))
        self.procs = [self.start_worker(i) for i in range(len(self.args))]

    def log(self, i: int) -> str:
        return (self.tmp / f"w{i}.log").read_text()

    def wait(self) -> list[int]:
        deadline = time.monotonic() + WAIT
        try:
            return [p.wait(timeout=max(1, deadline - time.monotonic())) for p in self.procs]
        finally:
            self.stop()

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)


def run_cluster(tmp: Path, args: list[list[str]], tries: int = 3) -> tuple[Cluster, list[int]]:
    """Start, wait; on a port taken between free_ports and TensorFlow's bind, start again."""
    for attempt in range(tries):
        folder = tmp / f"try{attempt}"
        folder.mkdir()
        cluster = Cluster(folder, args)
        cluster.start()
        codes = cluster.wait()
        if not port_taken(cluster):
            return cluster, codes
    raise AssertionError(f"no free ports in {tries} tries")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    write_mnist_npz(tmp_path / "data", n_train=320, n_test=96)
    return tmp_path / "data"


def test_two_workers_train_like_one_process(tmp_path: Path, data_dir: Path) -> None:
    from networks.train import TrainConfig, train

    out = tmp_path / "cluster-run"
    common = [*ARGS, "--data-dir", str(data_dir), "--logdir", str(out)]
    cluster, codes = run_cluster(tmp_path, [common, common])
    assert codes == [0, 0], cluster.log(0)[-2000:] + cluster.log(1)[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["workers"] == 2 and summary["config"]["global_batch"] == 32
    assert summary["epochs"] == 2 and len(summary["history"]["val_loss"]) == 2
    # Only the chief writes: the model, the summary, TensorBoard and the backup.
    assert {"model.keras", "summary.json", "train", "validation", "backup"} <= {
        p.name for p in out.iterdir()
    }
    assert "(written by the chief)" in cluster.log(1)
    model = keras.saving.load_model(out / "model.keras", safe_mode=True)
    assert model.count_params() == summary["params"]

    single = train(
        TrainConfig(
            "softmax",
            epochs=2,
            batch_size=32,  # the cluster's global batch
            lr=0.01,
            data_dir=str(data_dir),
            logdir=str(tmp_path / "single"),
            progress=False,
        )
    )
    assert abs(summary["test_accuracy"] - single["test_accuracy"]) <= TOLERANCE
    assert summary["test_accuracy"] > 0.8  # both learnt, not both failed alike


def port_taken(cluster: Cluster) -> bool:
    """A port went to another process between free_ports and TensorFlow's bind."""
    return any("cannot listen on" in cluster.log(i) for i in range(len(cluster.args)))


def test_killed_worker_restarts_and_the_run_resumes(tmp_path: Path, data_dir: Path) -> None:
    for attempt in range(3):  # fresh ports when one was taken before TensorFlow bound it
        out = tmp_path / f"run{attempt}"
        common = [*ARGS, "--epochs", "3", "--data-dir", str(data_dir), "--logdir", str(out)]
        tmp_path.joinpath(f"c{attempt}").mkdir()
        cluster = Cluster(tmp_path / f"c{attempt}", [common, common])
        cluster.start()
        state = out / "backup" / "state.json"
        try:
            deadline = time.monotonic() + WAIT
            while not (state.is_file() and '"epochs_done": 1' in state.read_text()):
                assert time.monotonic() < deadline, cluster.log(0)[-2000:]
                if cluster.procs[0].poll() is not None:
                    break
                time.sleep(0.05)
            if cluster.procs[0].poll() is not None:
                assert port_taken(cluster), cluster.log(0)[-2000:]
                cluster.stop()
                continue
            cluster.procs[1].send_signal(signal.SIGKILL)
            cluster.procs[1].wait(timeout=10)
            # The chief notices (a failed collective or its peer health check) and restarts
            # itself; worker 1 restarted after that joins the new chief at once (restarted
            # earlier, it would meet the old chief, fail and rejoin too: slower, also fine).
            while "rejoining the cluster" not in cluster.log(0):
                assert time.monotonic() < deadline, cluster.log(0)[-2000:]
                time.sleep(0.05)
            cluster.procs[1] = cluster.start_worker(1)
        except BaseException:
            cluster.stop()
            raise
        break
    else:
        raise AssertionError("no free ports in 3 tries")
    codes = cluster.wait()
    assert codes == [0, 0], cluster.log(0)[-3000:] + cluster.log(1)[-3000:]
    assert "rejoining the cluster from the last checkpoint" in cluster.log(0)
    for i in (0, 1):
        assert "resuming softmax after epoch" in cluster.log(i)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epochs"] == 3 and len(summary["history"]["loss"]) == 3
    assert summary["test_accuracy"] > 0.8


def test_workers_with_different_flags_refuse_in_one_line(tmp_path: Path, data_dir: Path) -> None:
    base = [*ARGS, "--data-dir", str(data_dir)]
    cluster, codes = run_cluster(
        tmp_path, [[*base, "--logdir", str(tmp_path / "a")], [*base, "--lr", "0.5"]]
    )
    assert codes == [2, 2]
    for i in (0, 1):
        errors = [ln for ln in cluster.log(i).splitlines() if ln.startswith("error:")]
        assert len(errors) == 1 and "different settings" in errors[0], cluster.log(i)[-2000:]
        assert "Traceback" not in cluster.log(i)
    assert not (tmp_path / "a" / "model.keras").exists()
