"""Device management shared by every training command: which devices, how much memory, what precision.

TensorFlow fixes its device set the first time it creates a tensor, so everything here must run
*before* any model, dataset or tensor exists. Commands therefore do, in this order::

    parser = argparse.ArgumentParser(...)
    add_device_arguments(parser)
    args = parser.parse_args(argv)
    strategy = configure_devices(DeviceConfig.from_args(args))   # first TensorFlow call
    with strategy.scope():
        model = build_model(...)
    model.fit(data.batch(scale_batch_size(args.batch_size, strategy)), ...)

``python -m perception.devices [flags]`` prints what TensorFlow sees and what the flags change.

The flags are checked in two steps so that the checks can be tested without TensorFlow: parsing
(:meth:`DeviceConfig.from_args`, no TensorFlow import) and planning (:func:`plan_devices`, a pure
function of the config, the GPUs found and ``TF_CONFIG``). Only :func:`apply_device_config`
touches TensorFlow's runtime.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from common.errors import UsageError, run_main

if TYPE_CHECKING:  # TensorFlow is imported lazily: `--help` and flag errors stay instant.
    import tensorflow as tf

STRATEGIES = ("auto", "one", "mirrored", "multiworker")
MIXED_PRECISION_MIN_CC = (7, 0)  # Tensor Cores: float16 matmuls are fast from Volta on.

TF_CONFIG_EXAMPLE = (
    'TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
    '"task": {"type": "worker", "index": 0}}\''
)

# --------------------------------------------------------------------------------------------
# Flags


def add_device_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the device flags every training command shares (one group, so --help keeps them together)."""
    group = parser.add_argument_group(
        "devices",
        "Where and how TensorFlow computes. Applied before any tensor exists; "
        "`python -m perception.devices` shows what your machine offers.",
    )
    group.add_argument(
        "--device",
        default="auto",
        metavar="cpu|gpu|gpu:N[,gpu:M...]",
        help="devices to compute on: 'auto' (default) uses every GPU TensorFlow finds, else the CPU; "
        "'cpu' hides all GPUs; 'gpu' requires at least one GPU; 'gpu:0,gpu:2' picks GPUs by index "
        "(as `python -m perception.devices` numbers them). A GPU that is not there is an error, "
        "unless --soft-placement is given.",
    )
    group.add_argument(
        "--memory-growth",
        action="store_true",
        help="let TensorFlow take GPU memory as it needs it instead of reserving nearly all of it "
        "at start-up; lets several processes share one GPU",
    )
    group.add_argument(
        "--memory-limit",
        metavar="MB",
        default=None,
        help="cap the GPU memory TensorFlow may use, in megabytes, on each chosen GPU (the modern "
        "form of TF1's per_process_gpu_memory_fraction); cannot be combined with --memory-growth",
    )
    group.add_argument(
        "--soft-placement",
        action="store_true",
        help="if an op or a requested GPU is not available, run on the CPU with a warning instead "
        "of failing",
    )
    group.add_argument(
        "--log-placement",
        action="store_true",
        help="print the device every op runs on (verbose; useful to see whether work reaches the GPU)",
    )
    group.add_argument(
        "--mixed-precision",
        action="store_true",
        help="compute in float16 and keep weights in float32 (Keras 'mixed_float16' policy): "
        "faster and about half the activation memory on GPUs with compute capability >= 7.0 "
        "(Tensor Cores); slower on CPUs",
    )
    group.add_argument(
        "--xla",
        action="store_true",
        help="compile TensorFlow graphs with XLA (auto-clustering): fuses ops into fewer kernels, "
        "often faster on GPU, with a one-off compile cost",
    )
    group.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default="auto",
        help="how to spread training over devices: 'auto' (default) mirrors over several GPUs, "
        "else runs on one device; 'one' pins everything to the first chosen device; 'mirrored' "
        "keeps a copy of the model on every chosen device of this machine and averages their "
        "gradients each step; 'multiworker' does the same across machines, read from the "
        f"TF_CONFIG environment variable (e.g. {TF_CONFIG_EXAMPLE}, one process per worker)",
    )
    group.add_argument(
        "--cpu-devices",
        type=int,
        default=1,
        metavar="N",
        help="split the CPU into N logical devices, to try --strategy mirrored without GPUs "
        "(default 1)",
    )
    return parser


# --------------------------------------------------------------------------------------------
# Configuration (no TensorFlow)


@dataclass(frozen=True)
class DeviceSpec:
    """A parsed --device: ``kind`` is auto, cpu or gpu; ``indices`` None means every GPU."""

    kind: str
    indices: tuple[int, ...] | None = None


_GPU_INDEX = re.compile(r"^/?gpu:(\d+)$")


def parse_device(text: str) -> DeviceSpec:
    """Parse ``auto``, ``cpu``, ``gpu`` or ``gpu:N[,gpu:M...]`` (case-insensitive)."""
    value = text.strip().lower()
    if value in ("auto", "cpu", "gpu", "/cpu", "/gpu", "cpu:0", "/cpu:0"):
        return DeviceSpec(value.lstrip("/").split(":")[0])
    indices: list[int] = []
    for part in value.split(","):
        match = _GPU_INDEX.match(part.strip())
        if match is None:
            raise UsageError(
                f"unknown device {text!r}: expected auto, cpu, gpu or gpu:N[,gpu:M...] "
                "(e.g. --device gpu:0,gpu:1)"
            )
        index = int(match.group(1))
        if index in indices:
            raise UsageError(f"--device {text}: gpu:{index} is listed twice")
        indices.append(index)
    return DeviceSpec("gpu", tuple(indices))


def _parse_memory_limit(value: object) -> int | None:
    if value is None or value == "":
        return None
    try:
        mb = int(str(value).strip())
    except ValueError:
        raise UsageError(
            f"--memory-limit {value!r}: expected a whole number of megabytes, e.g. 4096"
        ) from None
    if mb <= 0:
        raise UsageError(f"--memory-limit {mb}: must be a positive number of megabytes")
    return mb


@dataclass(frozen=True)
class DeviceConfig:
    """What the user asked for, validated as far as possible without looking at the hardware."""

    device: str = "auto"
    memory_growth: bool = False
    memory_limit_mb: int | None = None
    soft_placement: bool = False
    log_placement: bool = False
    mixed_precision: bool = False
    xla: bool = False
    strategy: str = "auto"
    cpu_devices: int = 1

    def __post_init__(self) -> None:
        parse_device(self.device)
        if self.strategy not in STRATEGIES:
            raise UsageError(
                f"unknown strategy {self.strategy!r}: expected one of {', '.join(STRATEGIES)}"
            )
        object.__setattr__(self, "memory_limit_mb", _parse_memory_limit(self.memory_limit_mb))
        if self.cpu_devices < 1:
            raise UsageError(f"--cpu-devices {self.cpu_devices}: must be at least 1")
        if self.memory_growth and self.memory_limit_mb is not None:
            raise UsageError(
                "--memory-growth and --memory-limit cannot be combined: growth takes memory as "
                "needed, a limit reserves a fixed cap; pick one"
            )

    @property
    def device_spec(self) -> DeviceSpec:
        return parse_device(self.device)

    @property
    def jit_compile(self) -> bool | str:
        """Value for Keras ``Model.compile(jit_compile=...)``: True with --xla, else Keras' 'auto'."""
        return True if self.xla else "auto"

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> DeviceConfig:
        """Build from parsed flags; flags a parser lacks keep their defaults."""
        return cls(
            device=getattr(args, "device", "auto") or "auto",
            memory_growth=bool(getattr(args, "memory_growth", False)),
            memory_limit_mb=getattr(args, "memory_limit", None),
            soft_placement=bool(getattr(args, "soft_placement", False)),
            log_placement=bool(getattr(args, "log_placement", False)),
            mixed_precision=bool(getattr(args, "mixed_precision", False)),
            xla=bool(getattr(args, "xla", False)),
            strategy=getattr(args, "strategy", "auto") or "auto",
            cpu_devices=int(getattr(args, "cpu_devices", 1) or 1),
        )


# --------------------------------------------------------------------------------------------
# TF_CONFIG


@dataclass(frozen=True)
class ClusterSpec:
    """The parts of TF_CONFIG this process needs: everyone's address and who we are."""

    jobs: dict[str, list[str]]
    task_type: str
    task_index: int

    @property
    def num_workers(self) -> int:
        return len(self.jobs.get("worker", [])) + len(self.jobs.get("chief", []))


def parse_tf_config(text: str | None) -> ClusterSpec:
    """Check TF_CONFIG up front: TensorFlow's own errors for it come late and are hard to read."""
    if text is None or not text.strip():
        raise UsageError(
            f"--strategy multiworker reads the cluster from TF_CONFIG, which is not set; e.g. {TF_CONFIG_EXAMPLE}"
        )
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"TF_CONFIG is not valid JSON ({exc.msg} at column {exc.colno}); e.g. {TF_CONFIG_EXAMPLE}"
        ) from None
    if not isinstance(data, dict):
        raise UsageError("TF_CONFIG must be a JSON object with 'cluster' and 'task'")
    cluster, task = data.get("cluster"), data.get("task")
    if not isinstance(cluster, dict) or not cluster:
        raise UsageError(
            'TF_CONFIG needs \'cluster\': an object like {"worker": ["host:port", ...]}'
        )
    jobs: dict[str, list[str]] = {}
    for job, addresses in cluster.items():
        if not isinstance(addresses, list) or not addresses:
            raise UsageError(f"TF_CONFIG cluster.{job} must be a non-empty list of 'host:port'")
        for address in addresses:
            host, _, port = str(address).rpartition(":")
            if (
                not isinstance(address, str)
                or not host
                or not port.isdigit()
                or not 0 < int(port) < 65536
            ):
                raise UsageError(f"TF_CONFIG cluster.{job}: {address!r} is not 'host:port'")
        jobs[str(job)] = list(addresses)
    if "worker" not in jobs and "chief" not in jobs:
        raise UsageError("TF_CONFIG cluster needs a 'worker' (or 'chief') list")
    if not isinstance(task, dict):
        raise UsageError('TF_CONFIG needs \'task\': {"type": "worker", "index": N}')
    task_type, task_index = task.get("type"), task.get("index")
    if task_type not in jobs:
        raise UsageError(
            f"TF_CONFIG task.type {task_type!r} is not a job in cluster ({', '.join(jobs)})"
        )
    if (
        not isinstance(task_index, int)
        or isinstance(task_index, bool)
        or not 0 <= task_index < len(jobs[task_type])
    ):
        raise UsageError(
            f"TF_CONFIG task.index {task_index!r} is out of range for {len(jobs[task_type])} {task_type}(s)"
        )
    return ClusterSpec(jobs, task_type, task_index)


# --------------------------------------------------------------------------------------------
# Planning (pure: what to do, given the hardware)


@dataclass(frozen=True)
class GpuInfo:
    """One physical GPU as TensorFlow numbers it; memory is None where it cannot be known."""

    index: int
    name: str
    model: str | None = None
    compute_capability: tuple[int, int] | None = None
    memory_mb: int | None = None

    def label(self) -> str:
        return f"gpu:{self.index}" + (f" ({self.model})" if self.model else "")


@dataclass(frozen=True)
class DevicePlan:
    """The decisions :func:`apply_device_config` carries out; kept separate so they can be tested."""

    visible_gpus: tuple[int, ...]
    cpu_devices: int
    memory_growth: bool
    memory_limit_mb: int | None
    strategy: str  # default | one | mirrored | multiworker
    strategy_devices: tuple[str, ...]
    cluster: ClusterSpec | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def on_gpu(self) -> bool:
        return bool(self.visible_gpus)


_INSTALL_HINT = "install the GPU build with `pip install -e '.[gpu]'`"


def plan_devices(
    config: DeviceConfig, gpus: Sequence[GpuInfo], tf_config: str | None = None
) -> DevicePlan:
    """Decide devices, memory settings and strategy; raise UsageError for what cannot work."""
    spec = config.device_spec
    warnings: list[str] = []
    available = {gpu.index: gpu for gpu in gpus}
    fallback = "add --soft-placement to fall back to the CPU"

    if spec.kind == "cpu":
        visible: tuple[int, ...] = ()
    elif spec.kind == "auto":
        visible = tuple(sorted(available))
    elif not available:
        message = (
            f"--device {config.device}: TensorFlow sees no GPU on this machine (CPU only); "
            f"use --device cpu, {fallback}, or {_INSTALL_HINT}"
        )
        if not config.soft_placement:
            raise UsageError(message)
        warnings.append(
            f"--device {config.device}: no GPU found; running on the CPU (--soft-placement)"
        )
        visible = ()
    elif spec.indices is None:
        visible = tuple(sorted(available))
    else:
        missing = [i for i in spec.indices if i not in available]
        if missing:
            have = ", ".join(f"gpu:{i}" for i in sorted(available))
            names = ", ".join(f"gpu:{i}" for i in missing)
            if not config.soft_placement:
                raise UsageError(
                    f"--device {config.device}: no {names}; TensorFlow sees {have}; {fallback}"
                )
            kept = [i for i in spec.indices if i in available]
            where = ", ".join(f"gpu:{i}" for i in kept) if kept else "the CPU"
            warnings.append(
                f"--device {config.device}: no {names}; running on {where} (--soft-placement)"
            )
            visible = tuple(kept)
        else:
            visible = spec.indices

    memory_limit = config.memory_limit_mb
    if not visible and (config.memory_growth or memory_limit is not None):
        flag = "--memory-growth" if config.memory_growth else "--memory-limit"
        warnings.append(f"{flag} applies to GPUs only; no GPU in use, ignored")
        memory_limit = None
    for index in visible:
        gpu = available[index]
        if memory_limit is not None and gpu.memory_mb is not None and memory_limit > gpu.memory_mb:
            raise UsageError(
                f"--memory-limit {memory_limit} MB is more than {gpu.label()} has "
                f"({gpu.memory_mb} MB)"
            )

    if config.mixed_precision:
        if not visible:
            warnings.append(
                "--mixed-precision on the CPU: float16 math runs but is usually slower than float32"
            )
        else:
            slow = [
                available[i].label()
                for i in visible
                if available[i].compute_capability is not None
                and tuple(available[i].compute_capability) < MIXED_PRECISION_MIN_CC
            ]
            if slow:
                warnings.append(
                    f"--mixed-precision: {', '.join(slow)} has compute capability below 7.0; "
                    "expect little or no speed-up"
                )

    devices = (
        tuple(f"/gpu:{k}" for k in range(len(visible)))  # logical names: renumbered from 0
        if visible
        else tuple(f"/cpu:{k}" for k in range(config.cpu_devices))
    )
    cluster = None
    if config.strategy == "multiworker":
        cluster = parse_tf_config(tf_config)
        strategy = "multiworker"
    elif config.strategy == "auto":
        strategy = "mirrored" if len(visible) > 1 else "default"
        if strategy == "default":
            devices = devices[:1]
        if tf_config:
            warnings.append(
                "TF_CONFIG is set but --strategy auto ignores it; use --strategy multiworker"
            )
    elif config.strategy == "one":
        if len(devices) > 1:
            warnings.append(
                f"--strategy one uses {devices[0]} only; --strategy mirrored would use all {len(devices)}"
            )
        strategy, devices = "one", devices[:1]
    else:
        strategy = "mirrored"

    return DevicePlan(
        visible_gpus=tuple(visible),
        cpu_devices=config.cpu_devices,
        memory_growth=config.memory_growth and bool(visible),
        memory_limit_mb=memory_limit,
        strategy=strategy,
        strategy_devices=devices,
        cluster=cluster,
        warnings=tuple(warnings),
    )


# --------------------------------------------------------------------------------------------
# Hardware discovery


@contextlib.contextmanager
def _native_stderr_silenced():
    """Hide file descriptor 2 for a moment. TensorFlow's C++ start-up lines (CUDA probing on a
    machine without a GPU) bypass Python and TF_CPP_MIN_LOG_LEVEL and would bury a dashboard;
    Python exceptions still propagate. ``DLTF_TF_VERBOSE=1`` keeps them."""
    if os.environ.get("DLTF_TF_VERBOSE") or not hasattr(os, "dup"):
        yield
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


_TF_MODULE: Any = None


def import_tensorflow() -> Any:
    """Import TensorFlow and let it probe its devices once, without the C++ start-up noise."""
    global _TF_MODULE
    if _TF_MODULE is None:
        with _native_stderr_silenced():
            import tensorflow as tf

            tf.config.list_physical_devices()
        _TF_MODULE = tf
    return _TF_MODULE


def _tf() -> Any:
    return import_tensorflow()


def _cuda_memory_mb() -> dict[int, tuple[str, int]]:
    """Total memory per CUDA ordinal from the driver, without creating a context (no TF start-up).

    Driver ordinals follow CUDA_VISIBLE_DEVICES and CUDA_DEVICE_ORDER exactly as TensorFlow's do.
    Returns {} where there is no driver; callers then skip the check rather than guess.
    """
    try:
        lib = ctypes.CDLL("nvcuda.dll" if sys.platform == "win32" else "libcuda.so.1")
    except OSError:
        return {}
    try:
        if lib.cuInit(0) != 0:
            return {}
        count = ctypes.c_int(0)
        if lib.cuDeviceGetCount(ctypes.byref(count)) != 0:
            return {}
        found: dict[int, tuple[str, int]] = {}
        for ordinal in range(count.value):
            device = ctypes.c_int(0)
            name = ctypes.create_string_buffer(256)
            total = ctypes.c_size_t(0)
            if (
                lib.cuDeviceGet(ctypes.byref(device), ordinal) == 0
                and lib.cuDeviceGetName(name, 256, device) == 0
                and lib.cuDeviceTotalMem_v2(ctypes.byref(total), device) == 0
            ):
                found[ordinal] = (name.value.decode(errors="replace"), total.value // 2**20)
        return found
    except (AttributeError, OSError):
        return {}


def list_gpus() -> list[GpuInfo]:
    """Physical GPUs with model, compute capability and memory; does not start TF's runtime."""
    tf = _tf()
    memory = _cuda_memory_mb()
    gpus = []
    for device in tf.config.list_physical_devices("GPU"):
        index = int(device.name.rsplit(":", 1)[-1])
        try:
            details = tf.config.experimental.get_device_details(device)
        except (ValueError, RuntimeError):
            details = {}
        model = details.get("device_name")
        cc = details.get("compute_capability")
        mem = None
        if index in memory and (model is None or memory[index][0] == model):
            mem = memory[index][1]
        gpus.append(GpuInfo(index, device.name, model, tuple(cc) if cc else None, mem))
    return gpus


# --------------------------------------------------------------------------------------------
# Applying


@dataclass
class DeviceSetup:
    """Everything :func:`apply_device_config` did: the request, the plan and the live strategy."""

    config: DeviceConfig
    plan: DevicePlan
    gpus: list[GpuInfo]
    strategy: tf.distribute.Strategy


def apply_device_config(config: DeviceConfig, *, quiet: bool = False) -> DeviceSetup:
    """Plan, print warnings to stderr, configure TensorFlow and build the strategy.

    Must run before TensorFlow creates any tensor: visible devices, memory settings and logical
    devices are frozen at that moment.
    """
    if config.strategy == "multiworker":  # fail before TensorFlow's slow start-up
        parse_tf_config(os.environ.get("TF_CONFIG"))
    gpus = list_gpus()
    plan = plan_devices(config, gpus, os.environ.get("TF_CONFIG"))
    if not quiet:
        for warning in plan.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    tf = _tf()
    try:
        physical = {
            int(d.name.rsplit(":", 1)[-1]): d for d in tf.config.list_physical_devices("GPU")
        }
        if physical:
            tf.config.set_visible_devices([physical[i] for i in plan.visible_gpus], "GPU")
        for index in plan.visible_gpus:
            if plan.memory_growth:
                tf.config.experimental.set_memory_growth(physical[index], True)
            if plan.memory_limit_mb is not None:
                tf.config.set_logical_device_configuration(
                    physical[index],
                    [tf.config.LogicalDeviceConfiguration(memory_limit=plan.memory_limit_mb)],
                )
        if plan.cpu_devices > 1:
            cpu = tf.config.list_physical_devices("CPU")[0]
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(plan.cpu_devices)]
            )
    except RuntimeError as exc:
        raise RuntimeError(
            "configure_devices() must run before TensorFlow creates any tensor; call it first "
            f"in main ({exc})"
        ) from exc
    if config.soft_placement:
        tf.config.set_soft_device_placement(True)
    if config.log_placement:
        tf.debugging.set_log_device_placement(True)
    if config.mixed_precision:
        import keras

        keras.mixed_precision.set_global_policy("mixed_float16")
    if config.xla:
        tf.config.optimizer.set_jit(True)
    return DeviceSetup(config, plan, gpus, _build_strategy(plan))


def configure_devices(config: DeviceConfig) -> tf.distribute.Strategy:
    """Apply ``config`` to TensorFlow (before any tensor exists) and return the strategy to train under."""
    return apply_device_config(config).strategy


def _build_strategy(plan: DevicePlan) -> tf.distribute.Strategy:
    tf = _tf()
    if plan.strategy == "one":
        return tf.distribute.OneDeviceStrategy(plan.strategy_devices[0])
    if plan.strategy == "mirrored":
        return tf.distribute.MirroredStrategy(devices=list(plan.strategy_devices))
    if plan.strategy == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


# --------------------------------------------------------------------------------------------
# Batch size


def replica_count(strategy: tf.distribute.Strategy | int) -> int:
    """Model copies trained in step: devices per worker times workers (1 for the default strategy)."""
    return strategy if isinstance(strategy, int) else int(strategy.num_replicas_in_sync)


def scale_batch_size(per_replica: int, strategy: tf.distribute.Strategy | int) -> int:
    """Global batch for a per-device batch: each replica then sees ``per_replica`` examples a step.

    Keeping the per-replica batch fixed makes a command behave the same per device however many
    devices run it; the global batch (and so the useful learning rate) grows with the replicas.
    """
    if per_replica < 1:
        raise UsageError(f"batch size {per_replica}: must be at least 1")
    return per_replica * replica_count(strategy)


def split_batch_size(global_batch: int, strategy: tf.distribute.Strategy | int) -> int:
    """Per-replica batch for a fixed global batch; it must divide evenly over the replicas."""
    replicas = replica_count(strategy)
    if global_batch < replicas or global_batch % replicas:
        raise UsageError(
            f"batch size {global_batch} does not split evenly over {replicas} replicas; "
            f"use a multiple of {replicas}"
        )
    return global_batch // replicas


# --------------------------------------------------------------------------------------------
# Report (`python -m perception.devices`)


def describe(setup: DeviceSetup) -> dict[str, Any]:
    """What TensorFlow sees and the effective settings, read back from TensorFlow itself."""
    tf = _tf()
    import keras

    strategy = setup.strategy
    build = dict(tf.sysconfig.get_build_info())
    gpus_in_use = [g for g in setup.gpus if g.index in setup.plan.visible_gpus]
    try:
        xla = bool(tf.test.is_built_with_xla())
    except AttributeError:  # removed in some builds; XLA ships with every TF 2 wheel
        xla = True
    fast_fp16 = [
        g.label()
        for g in gpus_in_use
        if g.compute_capability and tuple(g.compute_capability) >= MIXED_PRECISION_MIN_CC
    ]
    physical_gpus = tf.config.list_physical_devices("GPU")
    growth = {
        d.name: bool(tf.config.experimental.get_memory_growth(d))
        for d in tf.config.get_visible_devices("GPU")
    }
    return {
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "cuda_build": bool(build.get("is_cuda_build", False)),
        "cuda_version": build.get("cuda_version"),
        "cpus": {"physical": len(tf.config.list_physical_devices("CPU")), "cores": os.cpu_count()},
        "gpus": [asdict(g) | {"in_use": g.index in setup.plan.visible_gpus} for g in setup.gpus],
        "physical_gpus": len(physical_gpus),
        "logical_devices": [d.name for d in tf.config.list_logical_devices()],
        "xla_available": xla,
        "mixed_precision": {
            "policy": keras.mixed_precision.global_policy().name,
            "fast_on": fast_fp16,
            "advice": (
                "float16 Tensor Cores available"
                if fast_fp16
                else "no GPU with compute capability >= 7.0 in use: expect no speed-up"
            ),
        },
        "settings": {
            "device": setup.config.device,
            "visible_gpus": [d.name for d in tf.config.get_visible_devices("GPU")],
            "memory_growth": growth,
            "memory_limit_mb": setup.plan.memory_limit_mb,
            "soft_placement": bool(tf.config.get_soft_device_placement()),
            "log_placement": bool(tf.debugging.get_log_device_placement()),
            "xla_jit": tf.config.optimizer.get_jit() or "off",
            "strategy": (
                "default (one device, no distribution)"
                if setup.plan.strategy == "default"
                else "MultiWorkerMirroredStrategy"
                if setup.plan.strategy == "multiworker"
                else type(strategy).__name__
            ),
            "replicas": replica_count(strategy),
            "strategy_devices": _strategy_devices(strategy, setup.plan),
            "workers": setup.plan.cluster.num_workers if setup.plan.cluster else 1,
        },
        "warnings": list(setup.plan.warnings),
    }


def _strategy_devices(strategy: tf.distribute.Strategy, plan: DevicePlan) -> list[str]:
    try:
        return list(strategy.extended.worker_devices)
    except (RuntimeError, AttributeError):  # the default strategy: TF's default device
        return list(plan.strategy_devices[:1])


def make_train_step(
    model: Any,
    per_example_loss: Callable[[Any, Any], Any],
    optimizer: Any,
    strategy: tf.distribute.Strategy,
    global_batch_size: int,
) -> Callable[[Any], Any]:
    """A compiled synchronous training step for custom loops, under any strategy.

    Keras 3's ``Model.fit`` fails under ``MultiWorkerMirroredStrategy`` (keras-team/keras#20585),
    so multi-worker training needs a loop like this. Feed it batches from
    ``strategy.experimental_distribute_dataset(data.batch(global_batch_size))``; it returns the
    mean loss over the global batch. Each replica divides its summed loss by the *global* batch
    size, so summing the replicas' gradients gives the gradient of the global mean.
    """
    tf = _tf()
    import keras

    scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)

    def replica_step(x: Any, y: Any) -> Any:
        with tf.GradientTape() as tape:
            prediction = model(x, training=True)
            losses = tf.cast(per_example_loss(y, prediction), tf.float32)
            loss = tf.nn.compute_average_loss(losses, global_batch_size=global_batch_size)
            target = optimizer.scale_loss(loss) if scaled else loss  # float16 underflow guard
        variables = model.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(target, variables), variables, strict=True))
        return loss

    @tf.function
    def step(batch: Any) -> Any:
        x, y = batch
        per_replica = strategy.run(replica_step, args=(x, y))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    return step


def try_train(
    strategy: tf.distribute.Strategy, global_batch: int = 8, loop: str = "auto"
) -> dict[str, Any]:
    """Train a tiny Keras model one step under ``strategy``: proves the whole setup end to end.

    The data, the initial weights and the global batch do not depend on the strategy, so one
    device, several devices and several workers must all end with the same weights.

    ``loop`` is 'fit' (Keras ``Model.fit``), 'custom' (:func:`make_train_step`) or 'auto': custom
    under multi-worker, where Keras 3's fit does not work, fit elsewhere.
    """
    import keras
    import numpy as np

    tf = _tf()
    if loop == "auto":
        multiworker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        loop = "custom" if multiworker else "fit"
    keras.utils.set_random_seed(0)
    batch = global_batch
    split_batch_size(batch, strategy)  # the global batch must split evenly over the replicas
    x = np.random.default_rng(0).normal(size=(batch, 3)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5]], dtype="float32")).astype("float32")
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch).repeat().with_options(options)
    with strategy.scope():
        model = keras.Sequential(
            [
                keras.Input((3,)),
                keras.layers.Dense(4, activation="relu"),
                keras.layers.Dense(1, dtype="float32"),  # float32 output even under mixed precision
            ]
        )
        optimizer = keras.optimizers.SGD(0.1)
        if keras.mixed_precision.global_policy().name == "mixed_float16" and loop == "custom":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        model.compile(optimizer=optimizer, loss="mse")
    before = float(sum(np.abs(w).sum() for w in model.get_weights()))
    start = time.perf_counter()
    if loop == "fit":
        loss = float(model.fit(data, epochs=1, steps_per_epoch=1, verbose=0).history["loss"][0])
    else:
        step = make_train_step(
            model,
            lambda t, p: tf.reduce_mean(tf.square(t - p), axis=-1),
            optimizer,
            strategy,
            batch,
        )
        loss = float(step(next(iter(strategy.experimental_distribute_dataset(data)))))
    seconds = time.perf_counter() - start
    kernel = model.layers[0].kernel
    kernel = getattr(kernel, "value", kernel)  # the tf.Variable under Keras' backend-neutral one
    copies = getattr(kernel, "values", (kernel,))  # a mirrored variable holds one copy per device
    return {
        "loop": loop,
        "global_batch": batch,
        "replicas": replica_count(strategy),
        "loss": loss,
        "weights_before": before,
        "weights_after": float(sum(np.abs(w).sum() for w in model.get_weights())),
        "copies": [c.device for c in copies],
        "copies_equal": all(np.array_equal(np.asarray(c), np.asarray(copies[0])) for c in copies),
        "seconds": round(seconds, 3),
    }


def _render(report: dict[str, Any], trained: dict[str, Any] | None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(
        f"[bold]TensorFlow {report['tensorflow']}[/] (Keras {report['keras']}), "
        + (f"CUDA build {report['cuda_version']}" if report["cuda_build"] else "CPU-only build")
    )
    devices = Table(title="Devices TensorFlow sees", title_justify="left")
    for column in ("device", "model", "compute capability", "memory", "in use"):
        devices.add_column(column)
    devices.add_row("cpu", f"{report['cpus']['cores']} cores", "-", "host RAM", "yes")
    for gpu in report["gpus"]:
        cc = gpu["compute_capability"]
        devices.add_row(
            f"gpu:{gpu['index']}",
            gpu["model"] or "?",
            f"{cc[0]}.{cc[1]}" if cc else "?",
            f"{gpu['memory_mb']} MB" if gpu["memory_mb"] is not None else "?",
            "yes" if gpu["in_use"] else "no",
        )
    if not report["gpus"]:
        devices.add_row("gpu", "none found", "-", "-", "-")
    console.print(devices)
    s = report["settings"]
    settings = Table(title="Effective settings", title_justify="left", show_header=False)
    settings.add_column(style="bold")
    settings.add_column()
    rows = [
        ("logical devices", ", ".join(report["logical_devices"])),
        (
            "memory growth",
            ", ".join(f"{k}: {v}" for k, v in s["memory_growth"].items()) or "n/a (no GPU)",
        ),
        ("memory limit", f"{s['memory_limit_mb']} MB per GPU" if s["memory_limit_mb"] else "none"),
        ("soft placement", str(s["soft_placement"])),
        ("log placement", str(s["log_placement"])),
        ("XLA", f"available: {report['xla_available']}; jit: {s['xla_jit']}"),
        (
            "mixed precision",
            f"policy {report['mixed_precision']['policy']}; {report['mixed_precision']['advice']}",
        ),
        (
            "strategy",
            f"{s['strategy']}: {s['replicas']} replica(s) on {', '.join(s['strategy_devices']) or 'default device'}"
            + (f", {s['workers']} workers" if s["workers"] > 1 else ""),
        ),
    ]
    for key, value in rows:
        settings.add_row(key, value)
    console.print(settings)
    if trained is not None:
        console.print(
            f"one training step: global batch {trained['global_batch']} over {trained['replicas']} "
            f"replica(s), loss {trained['loss']:.4f}, {trained['seconds']} s"
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m perception.devices",
        description="Show the CPUs and GPUs TensorFlow sees and what the device flags make of them. "
        "Every training command (agents.run, networks.train) takes the same flags.",
    )
    add_device_arguments(parser)
    parser.add_argument(
        "--try-train",
        action="store_true",
        help="also train a tiny model one step under the chosen strategy",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup = apply_device_config(DeviceConfig.from_args(args))
    trained = try_train(setup.strategy) if args.try_train else None
    report = describe(setup)
    if args.json:
        print(json.dumps(report | {"try_train": trained}, indent=2))
    else:
        _render(report, trained)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
