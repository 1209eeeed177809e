"""perception.devices: flags and planning in-process; anything that configures TF in a subprocess.

TensorFlow freezes its devices when it creates its first tensor, so every test that configures
devices runs in a fresh interpreter. The subprocesses hide any GPU (CUDA_VISIBLE_DEVICES=-1) so
the results are the same on every machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.errors import UsageError
from perception.cluster import parse_tf_config
from perception.devices import (
    DeviceConfig,
    GpuInfo,
    add_device_arguments,
    choose_strategy,
    parse_device,
    plan_devices,
    replica_count,
    scale_batch_size,
)

ROOT = Path(__file__).resolve().parents[2]
TF_NOISE = re.compile(
    r"^([IWEF]\d{4} |WARNING: All log messages|To enable the following instructions|\s*$)"
)


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
        CUDA_VISIBLE_DEVICES="-1",
        TF_CPP_MIN_LOG_LEVEL="2",
    )
    env.update(extra)
    return env


def _run(args: list[str], timeout: float = 90, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _devices(*flags: str, timeout: float = 90, **env: str) -> subprocess.CompletedProcess[str]:
    return _run(["-m", "perception.devices", *flags], timeout=timeout, **env)


def _messages(stderr: str) -> list[str]:
    """stderr without TensorFlow's C++ start-up log lines."""
    return [line for line in stderr.splitlines() if not TF_NOISE.match(line)]


def _one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert result.returncode == 2, result.stderr
    lines = _messages(result.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    for needle in needles:
        assert needle in lines[0]
    assert result.stdout == ""
    return lines[0]


H100 = dict(model="NVIDIA H100", compute_capability=(9, 0), memory_mb=81_559)


def gpus(n: int, **kw: object) -> list[GpuInfo]:
    info = H100 | kw
    return [GpuInfo(i, f"/physical_device:GPU:{i}", **info) for i in range(n)]  # type: ignore[arg-type]


# ---------------------------------------------------------------- flags (no TensorFlow)


def test_flags_round_trip_into_config() -> None:
    parser = add_device_arguments(argparse.ArgumentParser())
    args = parser.parse_args(
        [
            "--device",
            "gpu:1,gpu:0",
            "--memory-limit",
            "2048",
            "--soft-placement",
            "--log-placement",
            "--mixed-precision",
            "--xla",
            "--strategy",
            "mirrored",
            "--cpu-devices",
            "3",
        ]
    )
    config = DeviceConfig.from_args(args)
    assert config == DeviceConfig(
        device="gpu:1,gpu:0",
        memory_limit_mb=2048,
        soft_placement=True,
        log_placement=True,
        mixed_precision=True,
        xla=True,
        strategy="mirrored",
        cpu_devices=3,
    )
    assert config.device_spec.indices == (1, 0)
    assert config.jit_compile is True
    assert DeviceConfig.from_args(argparse.Namespace()) == DeviceConfig()  # parser without flags


@pytest.mark.parametrize(
    ("text", "kind", "indices"),
    [("auto", "auto", None), ("CPU", "cpu", None), ("gpu", "gpu", None), ("/GPU:3", "gpu", (3,))],
)
def test_parse_device_accepts(text: str, kind: str, indices: tuple[int, ...] | None) -> None:
    spec = parse_device(text)
    assert (spec.kind, spec.indices) == (kind, indices)


@pytest.mark.parametrize(
    "text", ["tpu", "gpu:x", "gpu:-1", "cuda:0", "gpu:0,,gpu:1", "cpu,gpu:0", ""]
)
def test_parse_device_rejects(text: str) -> None:
    with pytest.raises(UsageError, match="unknown device"):
        parse_device(text)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(device="gpu:0,gpu:0"), "listed twice"),
        (dict(memory_limit_mb="lots"), "whole number of megabytes"),
        (dict(memory_limit_mb=0), "positive"),
        (dict(memory_growth=True, memory_limit_mb=1024), "cannot be combined"),
        (dict(cpu_devices=0), "at least 1"),
        (dict(strategy="parameter-server"), "unknown strategy"),
        (dict(connect_timeout=0), "positive number of seconds"),
    ],
)
def test_config_rejects(kwargs: dict, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        DeviceConfig(**kwargs)


def test_help_teaches_every_flag() -> None:
    text = " ".join(add_device_arguments(argparse.ArgumentParser()).format_help().split())
    for flag in (
        "--device",
        "--memory-growth",
        "--memory-limit",
        "--soft-placement",
        "--log-placement",
        "--mixed-precision",
        "--xla",
        "--strategy",
        "--cpu-devices",
        "--connect-timeout",
    ):
        assert flag in text
    assert "multiworker" in text and "TF_CONFIG" in text
    assert "compute capability" in text and "per_process_gpu_memory_fraction" in text


# ---------------------------------------------------------------- planning (fake GPUs)


def test_plan_auto_mirrors_over_several_gpus_and_renumbers() -> None:
    plan = plan_devices(DeviceConfig(), gpus(2))
    assert (plan.strategy, plan.strategy_devices, plan.visible_gpus) == (
        "mirrored",
        ("/gpu:0", "/gpu:1"),
        (0, 1),
    )
    picked = plan_devices(DeviceConfig(device="gpu:2", strategy="one"), gpus(3))
    assert picked.visible_gpus == (2,) and picked.strategy_devices == ("/gpu:0",)
    assert plan_devices(DeviceConfig(), gpus(1)).strategy == "default"
    assert plan_devices(DeviceConfig(device="cpu"), gpus(2)).visible_gpus == ()


def test_plan_cpu_mirrors_over_logical_cpus() -> None:
    plan = plan_devices(DeviceConfig(strategy="mirrored", cpu_devices=2), [])
    assert plan.strategy_devices == ("/cpu:0", "/cpu:1") and plan.visible_gpus == ()
    one = plan_devices(DeviceConfig(strategy="one", cpu_devices=2), [])
    assert one.strategy_devices == ("/cpu:0",) and "mirrored" in one.warnings[0]


def test_plan_missing_gpu_is_an_error_or_a_fallback() -> None:
    with pytest.raises(UsageError, match="no GPU on this machine"):
        plan_devices(DeviceConfig(device="gpu"), [])
    with pytest.raises(UsageError, match=r"no gpu:2; TensorFlow sees gpu:0, gpu:1"):
        plan_devices(DeviceConfig(device="gpu:0,gpu:2"), gpus(2))
    soft = plan_devices(DeviceConfig(device="gpu:0,gpu:2", soft_placement=True), gpus(2))
    assert soft.visible_gpus == (0,) and "running on gpu:0" in soft.warnings[0]
    cpu = plan_devices(DeviceConfig(device="gpu", soft_placement=True), [])
    assert cpu.visible_gpus == () and cpu.strategy_devices == ("/cpu:0",)


def test_plan_memory_limit_checked_against_the_device() -> None:
    with pytest.raises(
        UsageError,
        match=r"--memory-limit 90000 MB is more than gpu:1 \(NVIDIA H100\) has \(81559 MB\)",
    ):
        plan_devices(DeviceConfig(device="gpu:1", memory_limit_mb=90_000), gpus(2))
    assert plan_devices(DeviceConfig(memory_limit_mb=4096), gpus(2)).memory_limit_mb == 4096
    unknown = gpus(1, memory_mb=None)
    assert plan_devices(DeviceConfig(memory_limit_mb=10**6), unknown).memory_limit_mb == 10**6
    ignored = plan_devices(DeviceConfig(memory_limit_mb=4096), [])
    assert ignored.memory_limit_mb is None and "GPUs only" in ignored.warnings[0]


def test_plan_mixed_precision_warns_where_it_will_not_pay() -> None:
    assert plan_devices(DeviceConfig(mixed_precision=True), gpus(1)).warnings == ()
    old = plan_devices(DeviceConfig(mixed_precision=True), gpus(1, compute_capability=(6, 1)))
    assert "below 7.0" in old.warnings[0]
    assert "slower" in plan_devices(DeviceConfig(mixed_precision=True), []).warnings[0]


def test_strategy_choice_alone() -> None:
    assert choose_strategy(DeviceConfig(), 0) == ("default", ("/cpu:0",), [])
    assert choose_strategy(DeviceConfig(cpu_devices=3), 0)[:2] == ("default", ("/cpu:0",))
    assert choose_strategy(DeviceConfig(), 3)[:2] == ("mirrored", ("/gpu:0", "/gpu:1", "/gpu:2"))
    assert choose_strategy(DeviceConfig(strategy="mirrored"), 1)[:2] == ("mirrored", ("/gpu:0",))
    assert choose_strategy(DeviceConfig(strategy="one"), 1) == ("one", ("/gpu:0",), [])
    name, devices, warnings = choose_strategy(DeviceConfig(strategy="one"), 2)
    assert (name, devices) == ("one", ("/gpu:0",)) and "would use all 2" in warnings[0]


def test_plan_keeps_warnings_in_flag_order() -> None:
    config = DeviceConfig(
        device="gpu:0,gpu:5",
        soft_placement=True,
        memory_limit_mb=1024,
        mixed_precision=True,
        strategy="one",
    )
    warnings = plan_devices(config, []).warnings
    assert [w.split()[0] for w in warnings] == ["--device", "--memory-limit", "--mixed-precision"]
    warnings = plan_devices(config, gpus(1, compute_capability=(6, 1))).warnings
    assert len(warnings) == 2 and "running on gpu:0" in warnings[0] and "below 7.0" in warnings[1]


def test_batch_size_scaling() -> None:
    assert scale_batch_size(32, 4) == 128 and replica_count(3) == 3
    with pytest.raises(UsageError, match="at least 1"):
        scale_batch_size(0, 2)


# ---------------------------------------------------------------- subprocesses (real TensorFlow)


def test_unknown_device_is_one_line_exit_2() -> None:
    _one_line_error(_devices("--device", "tpu:0"), "unknown device 'tpu:0'")


def test_the_report_refuses_multiworker_in_one_line() -> None:
    result = _devices("--strategy", "multiworker")
    assert result.returncode == 2 and "invalid choice: 'multiworker'" in result.stderr


TRAIN = ["-m", "networks.train", "softmax", "--epochs", "1", "--strategy", "multiworker"]
TWO = {"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, "task": {"type": "worker"}}


@pytest.mark.parametrize(
    ("tf_config", "needles"),
    [
        ("", ("TF_CONFIG environment variable", "not set", "e.g.")),
        ('{"cluster": ', ("not valid JSON",)),
        (json.dumps({**TWO, "task": {"type": "worker", "index": 2}}), ("index 2 is out of range",)),
        (json.dumps({**TWO, "task": {"type": "ps", "index": 0}}), ("'ps' is not a job",)),
    ],
)
def test_bad_tf_config_is_one_line_before_any_server(tf_config: str, needles: tuple) -> None:
    _one_line_error(_run([*TRAIN], TF_CONFIG=tf_config), "TF_CONFIG", *needles)


def test_unreachable_peer_is_one_line_within_the_connect_timeout(tmp_path: Path) -> None:
    for _ in range(3):  # the port may be taken between _free_port and TensorFlow's bind: retry
        tf_config = {
            "cluster": {"worker": [f"127.0.0.1:{_free_port()}", "127.0.0.1:9"]},  # 9: nobody
            "task": {"type": "worker", "index": 0},
        }
        args = [*TRAIN, "--connect-timeout", "3", "--logdir", str(tmp_path / "run")]
        start = time.monotonic()
        result = _run(args, timeout=120, TF_CONFIG=json.dumps(tf_config))
        if "cannot listen on" not in result.stderr:
            break
    line = _one_line_error(result, "no answer within 3s", "127.0.0.1:9", "--connect-timeout")
    assert time.monotonic() - start < 100, line
    assert not (tmp_path / "run" / "model.keras").exists()


def _free_port() -> int:
    """A port for TensorFlow, released before TensorFlow binds it (its gRPC server does not set
    SO_REUSEPORT, so holding it would block TensorFlow): callers retry on "cannot listen on"."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- TF_CONFIG (generated inputs)

addresses = st.lists(
    st.tuples(st.sampled_from(["127.0.0.1", "host-a", "10.0.0.7"]), st.integers(1, 65535)).map(
        lambda hp: f"{hp[0]}:{hp[1]}"
    ),
    min_size=1,
    max_size=5,
    unique=True,
)


@settings(max_examples=60, deadline=None)
@given(addresses, st.data())
def test_tf_config_round_trips_and_refuses_bad_indices(workers: list[str], data) -> None:
    index = data.draw(st.integers(-3, len(workers) + 3))
    text = json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})
    if 0 <= index < len(workers):
        spec = parse_tf_config(text)
        assert spec.address == workers[index] and spec.num_workers == len(workers)
        assert spec.is_chief == (index == 0)
    else:
        with pytest.raises(UsageError, match="out of range"):
            parse_tf_config(text)


@settings(max_examples=100, deadline=None)
@given(
    st.one_of(
        st.text(max_size=80),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=8),
            lambda kids: (
                st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3)
            ),
            max_leaves=8,
        ).map(json.dumps),
    )
)
def test_any_tf_config_text_parses_or_is_one_usage_error(text: str) -> None:
    try:
        parse_tf_config(text)
    except UsageError as exc:
        assert "\n" not in str(exc) and "TF_CONFIG" in str(exc)


def test_gpu_on_cpu_only_machine_is_one_line_exit_2() -> None:
    _one_line_error(_devices("--device", "gpu"), "--device gpu", "no GPU", "--soft-placement")


def test_soft_placement_falls_back_to_cpu_with_warning() -> None:
    result = _devices("--device", "gpu:0", "--soft-placement")
    assert result.returncode == 0, result.stderr
    assert "warning: --device gpu:0: no GPU found; running on the CPU" in result.stderr
    assert "Devices TensorFlow sees" in result.stdout and "none found" in result.stdout
    assert "Effective settings" in result.stdout and "CPU:0" in result.stdout


def test_flags_are_applied_and_read_back_from_tensorflow() -> None:
    result = _devices("--device", "cpu", "--mixed-precision", "--xla", "--log-placement", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["mixed_precision"]["policy"] == "mixed_float16"
    settings = report["settings"]
    assert settings["xla_jit"] == "autoclustering" and settings["log_placement"] is True
    assert settings["visible_gpus"] == [] and settings["replicas"] == 1
    assert report["xla_available"] is True
    assert any("slower" in w for w in report["warnings"])


MIRRORED = """
import json
from perception.devices import DeviceConfig, configure_devices
from perception.device_report import try_train
strategy = configure_devices(DeviceConfig(device="cpu", strategy="mirrored", cpu_devices=2))
import tensorflow as tf
mirrored = try_train(strategy, 8)
single = try_train(tf.distribute.get_strategy(), 8)
try:  # too late: TensorFlow has created tensors
    configure_devices(DeviceConfig(cpu_devices=3))
    late = "no error"
except RuntimeError as exc:
    late = str(exc)
print(json.dumps({"mirrored": mirrored, "single": single, "late": late,
                  "devices": [d.name for d in tf.config.list_logical_devices("CPU")]}))
"""


def test_mirrored_over_two_logical_cpus_trains_like_one_device() -> None:
    result = _run(["-c", MIRRORED])
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["devices"] == ["/device:CPU:0", "/device:CPU:1"]
    mirrored, single = out["mirrored"], out["single"]
    assert mirrored["replicas"] == 2 and single["replicas"] == 1
    assert [c.rsplit("/", 1)[-1] for c in mirrored["copies"]] == ["device:CPU:0", "device:CPU:1"]
    assert mirrored["copies_equal"]
    assert mirrored["weights_after"] != pytest.approx(mirrored["weights_before"], abs=1e-4)
    # Same global batch and weights: averaging over replicas must give the one-device step.
    assert mirrored["loss"] == pytest.approx(single["loss"], rel=1e-5)
    assert mirrored["weights_after"] == pytest.approx(single["weights_after"], rel=1e-5)
    assert "must run before TensorFlow creates any tensor" in out["late"]


def test_try_train_from_the_command_line() -> None:
    result = _devices("--cpu-devices", "2", "--strategy", "mirrored", "--try-train", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["settings"]["strategy"] == "MirroredStrategy"
    assert report["settings"]["replicas"] == 2
    trained = report["try_train"]
    assert trained["replicas"] == 2 and trained["global_batch"] == 8 and trained["copies_equal"]
    assert trained["weights_after"] != pytest.approx(trained["weights_before"], abs=1e-4)


@given(st.integers(min_value=-(2**40), max_value=0))
def test_cpu_devices_below_one_is_refused_not_read_as_one(n):
    args = add_device_arguments(argparse.ArgumentParser()).parse_args([f"--cpu-devices={n}"])
    with pytest.raises(UsageError, match="--cpu-devices"):
        DeviceConfig.from_args(args)


@pytest.mark.parametrize("flags, expected", [([], False), (["--soft-placement"], True)])
def test_the_report_shows_soft_placement_as_the_user_set_it(flags, expected, tmp_path):
    # TensorFlow 2's own getter is True either way; the report must say what was asked.
    done = subprocess.run(
        [sys.executable, "-m", "perception.devices", "--json", *flags],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["settings"]["soft_placement"] is expected
