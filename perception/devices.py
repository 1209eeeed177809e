"""Device management for every training command: which devices, how much memory, what precision.

TensorFlow fixes its device set the first time it creates a tensor, so everything here must run
*before* any model, dataset or tensor exists. Commands therefore do, in this order::

    add_device_arguments(parser)
    args = parser.parse_args(argv)
    strategy = configure_devices(DeviceConfig.from_args(args))   # first TensorFlow call
    with strategy.scope():
        model = build_model(...)
    model.fit(data.batch(scale_batch_size(args.batch_size, strategy)), ...)

Three steps, so that the first two can be tested without TensorFlow: the flags
(:meth:`DeviceConfig.from_args`), the plan (:func:`plan_devices`, a pure function of the config and
the GPUs :mod:`perception.hardware` finds) and applying it (:func:`apply_device_config`).
``python -m perception.devices`` runs the report in :mod:`perception.device_report`.
``--strategy multiworker`` reads its cluster from TF_CONFIG (:mod:`perception.cluster`, checked
before TensorFlow starts) and builds ``MultiWorkerMirroredStrategy`` with bounded waits.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from common.errors import UsageError
from perception.cluster import DEFAULT_CONNECT_TIMEOUT, build_multiworker, cluster_from_env
from perception.hardware import GpuInfo, import_tensorflow, list_gpus

if TYPE_CHECKING:  # TensorFlow is imported lazily: `--help` and flag errors stay instant.
    import tensorflow as tf

STRATEGIES = ("auto", "one", "mirrored", "multiworker")
MIXED_PRECISION_MIN_CC = (7, 0)  # Tensor Cores: float16 matmuls are fast from Volta on.
FALLBACK = "add --soft-placement to fall back to the CPU"
INSTALL_HINT = "install the GPU build with `pip install -e '.[gpu]'`"

# --------------------------------------------------------------------------------------------
# Flags


def add_device_arguments(
    parser: argparse.ArgumentParser, *, multiworker: bool = True
) -> argparse.ArgumentParser:
    """Add the device flags every training command shares, in one --help group.

    ``multiworker=False``: a command that runs on one machine only (the flag then refuses
    'multiworker' in one line, and --connect-timeout is left out)."""
    group = parser.add_argument_group(
        "devices",
        "Where and how TensorFlow computes, applied before any tensor exists; "
        "`python -m perception.devices` shows what your machine offers.",
    )
    add = group.add_argument
    add(
        "--device",
        default="auto",
        metavar="cpu|gpu|gpu:N[,gpu:M...]",
        help="'auto' (default): every GPU TensorFlow finds, else the CPU; 'cpu' hides the GPUs; "
        "'gpu' needs one; 'gpu:0,gpu:2' picks GPUs by index. A missing GPU is an error unless "
        "--soft-placement is given.",
    )
    add(
        "--memory-growth",
        action="store_true",
        help="take GPU memory as needed instead of nearly all of it at start-up (lets several "
        "processes share a GPU)",
    )
    add(
        "--memory-limit",
        metavar="MB",
        help="cap each chosen GPU at MB megabytes (TF1's per_process_gpu_memory_fraction); "
        "not with --memory-growth",
    )
    add(
        "--soft-placement",
        action="store_true",
        help="run on the CPU, with a warning, what cannot run on a requested GPU",
    )
    add("--log-placement", action="store_true", help="print the device every op runs on")
    add(
        "--mixed-precision",
        action="store_true",
        help="float16 math, float32 weights (Keras 'mixed_float16'): faster on GPUs with compute "
        "capability >= 7.0, slower on CPUs",
    )
    add("--xla", action="store_true", help="compile graphs with XLA auto-clustering")
    multi = (
        "'multiworker': one process per machine, the cluster read from the TF_CONFIG "
        "environment variable (see the README's multi-worker section)"
        if multiworker
        else "'multiworker' is for networks.train only"
    )
    add(
        "--strategy",
        choices=STRATEGIES if multiworker else STRATEGIES[:-1],
        default="auto",
        help="'auto' (default): mirrored over several GPUs, else one device; 'one': the first "
        "chosen device; 'mirrored': a model copy per chosen device, gradients averaged each step; "
        + multi,
    )
    if multiworker:
        add(
            "--connect-timeout",
            type=float,
            default=DEFAULT_CONNECT_TIMEOUT,
            metavar="SECONDS",
            help="--strategy multiworker: how long a worker waits for the others to start and "
            f"answer before it gives up with an error (default {DEFAULT_CONNECT_TIMEOUT:g})",
        )
    add(
        "--cpu-devices",
        type=int,
        default=1,
        metavar="N",
        help="split the CPU into N logical devices, to try --strategy mirrored without GPUs",
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
        if int(match.group(1)) in indices:
            raise UsageError(f"--device {text}: gpu:{match.group(1)} is listed twice")
        indices.append(int(match.group(1)))
    return DeviceSpec("gpu", tuple(indices))


def parse_memory_limit(value: object) -> int | None:
    """--memory-limit as a positive whole number of megabytes; None or '' means no limit."""
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


def check_strategy(strategy: str) -> None:
    """Refuse a strategy nothing can run."""
    if strategy not in STRATEGIES:
        raise UsageError(f"unknown strategy {strategy!r}: expected one of {', '.join(STRATEGIES)}")


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
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT

    def __post_init__(self) -> None:
        parse_device(self.device)
        check_strategy(self.strategy)
        if not self.connect_timeout > 0:
            raise UsageError(
                f"--connect-timeout {self.connect_timeout:g}: must be a positive number of seconds"
            )
        object.__setattr__(self, "memory_limit_mb", parse_memory_limit(self.memory_limit_mb))
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
        """Value for Keras ``Model.compile(jit_compile=...)``: True with --xla, else 'auto'."""
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
            cpu_devices=_given(args, "cpu_devices", 1),  # 0 is refused, not read as 1
            connect_timeout=float(_given(args, "connect_timeout", DEFAULT_CONNECT_TIMEOUT)),
        )


def _given(args: argparse.Namespace, name: str, default):
    """The flag's value when given (0 included), else ``default``."""
    value = getattr(args, name, None)
    return default if value is None else value


# --------------------------------------------------------------------------------------------
# Planning (pure: what to do, given the hardware)


@dataclass(frozen=True)
class DevicePlan:
    """The decisions :func:`apply_device_config` carries out."""

    visible_gpus: tuple[int, ...]
    cpu_devices: int
    memory_growth: bool
    memory_limit_mb: int | None
    strategy: str  # default | one | mirrored | multiworker
    strategy_devices: tuple[str, ...]
    warnings: tuple[str, ...] = field(default_factory=tuple)


Warnings = list[str]


def _gpu_names(indices: Sequence[int]) -> str:
    return ", ".join(f"gpu:{i}" for i in indices)


def _missing_gpus(
    config: DeviceConfig, problem: str, fallback: str, kept: tuple[int, ...]
) -> tuple[tuple[int, ...], Warnings]:
    """An error, or with --soft-placement a warning and the GPUs that do exist."""
    if not config.soft_placement:
        raise UsageError(f"--device {config.device}: {problem}")
    return kept, [f"--device {config.device}: {fallback} (--soft-placement)"]


def choose_gpus(config: DeviceConfig, found: Sequence[int]) -> tuple[tuple[int, ...], Warnings]:
    """The physical GPU indices to keep visible, in the order --device names them."""
    spec = config.device_spec
    if spec.kind == "cpu":
        return (), []
    if spec.kind == "auto" or (spec.indices is None and found):
        return tuple(sorted(found)), []
    if not found:
        problem = (
            "TensorFlow sees no GPU on this machine (CPU only); "
            f"use --device cpu, {FALLBACK}, or {INSTALL_HINT}"
        )
        return _missing_gpus(config, problem, "no GPU found; running on the CPU", ())
    assert spec.indices is not None
    missing = [i for i in spec.indices if i not in found]
    if not missing:
        return spec.indices, []
    kept = tuple(i for i in spec.indices if i in found)
    problem = f"no {_gpu_names(missing)}; TensorFlow sees {_gpu_names(sorted(found))}; {FALLBACK}"
    where = _gpu_names(kept) if kept else "the CPU"
    return _missing_gpus(config, problem, f"no {_gpu_names(missing)}; running on {where}", kept)


def choose_memory_limit(
    config: DeviceConfig, chosen: Sequence[GpuInfo]
) -> tuple[int | None, Warnings]:
    """The per-GPU cap; more than a GPU has is an error, a cap without a GPU is ignored."""
    limit = config.memory_limit_mb
    if not chosen:
        if config.memory_growth or limit is not None:
            flag = "--memory-growth" if config.memory_growth else "--memory-limit"
            return None, [f"{flag} applies to GPUs only; no GPU in use, ignored"]
        return None, []
    for gpu in chosen:
        if limit is not None and gpu.memory_mb is not None and limit > gpu.memory_mb:
            raise UsageError(
                f"--memory-limit {limit} MB is more than {gpu.label()} has ({gpu.memory_mb} MB)"
            )
    return limit, []


def precision_warnings(config: DeviceConfig, chosen: Sequence[GpuInfo]) -> Warnings:
    """Where --mixed-precision will not pay: the CPU, or GPUs without Tensor Cores."""
    if not config.mixed_precision:
        return []
    if not chosen:
        return [
            "--mixed-precision on the CPU: float16 math runs but is usually slower than float32"
        ]
    cc = MIXED_PRECISION_MIN_CC
    slow = ", ".join(g.label() for g in chosen if tuple(g.compute_capability or cc) < cc)
    if not slow:
        return []
    return [
        f"--mixed-precision: {slow} has compute capability below 7.0; expect little or no speed-up"
    ]


def choose_strategy(config: DeviceConfig, gpus: int) -> tuple[str, tuple[str, ...], Warnings]:
    """Strategy name and its logical devices (GPUs are renumbered from 0 once others are hidden)."""
    kind, count = ("gpu", gpus) if gpus else ("cpu", config.cpu_devices)
    devices = tuple(f"/{kind}:{k}" for k in range(count))
    if config.strategy == "multiworker":  # every local device is one replica of the cluster
        return "multiworker", devices, []
    if config.strategy == "mirrored" or (config.strategy == "auto" and gpus > 1):
        return "mirrored", devices, []
    if config.strategy == "auto":
        return "default", devices[:1], []
    if len(devices) == 1:
        return "one", devices, []
    unused = f"--strategy one uses {devices[0]} only; --strategy mirrored would use all {count}"
    return "one", devices[:1], [unused]


def plan_devices(config: DeviceConfig, gpus: Sequence[GpuInfo]) -> DevicePlan:
    """Decide devices, memory settings and strategy; raise UsageError for what cannot work."""
    by_index = {gpu.index: gpu for gpu in gpus}
    visible, device_warnings = choose_gpus(config, list(by_index))
    chosen = [by_index[i] for i in visible]
    memory_limit, memory_warnings = choose_memory_limit(config, chosen)
    strategy, devices, strategy_warnings = choose_strategy(config, len(visible))
    return DevicePlan(
        visible_gpus=visible,
        cpu_devices=config.cpu_devices,
        memory_growth=config.memory_growth and bool(visible),
        memory_limit_mb=memory_limit,
        strategy=strategy,
        strategy_devices=devices,
        warnings=(*device_warnings, *memory_warnings, *precision_warnings(config, chosen))
        + tuple(strategy_warnings),
    )


# --------------------------------------------------------------------------------------------
# Applying


@dataclass
class DeviceSetup:
    """Everything :func:`apply_device_config` did: the request, the plan and the live strategy."""

    config: DeviceConfig
    plan: DevicePlan
    gpus: list[GpuInfo]
    strategy: tf.distribute.Strategy


def _apply_devices(tf: Any, plan: DevicePlan) -> None:
    physical = {int(d.name.rsplit(":", 1)[-1]): d for d in tf.config.list_physical_devices("GPU")}
    if physical:
        tf.config.set_visible_devices([physical[i] for i in plan.visible_gpus], "GPU")
    for index in plan.visible_gpus:
        if plan.memory_growth:
            tf.config.experimental.set_memory_growth(physical[index], True)
        if plan.memory_limit_mb is not None:
            limit = tf.config.LogicalDeviceConfiguration(memory_limit=plan.memory_limit_mb)
            tf.config.set_logical_device_configuration(physical[index], [limit])
    if plan.cpu_devices > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        logical = [tf.config.LogicalDeviceConfiguration() for _ in range(plan.cpu_devices)]
        tf.config.set_logical_device_configuration(cpu, logical)


def _apply_options(tf: Any, config: DeviceConfig) -> None:
    if config.soft_placement:
        tf.config.set_soft_device_placement(True)
    if config.log_placement:
        tf.debugging.set_log_device_placement(True)
    if config.mixed_precision:
        import keras

        keras.mixed_precision.set_global_policy("mixed_float16")
    if config.xla:
        tf.config.optimizer.set_jit(True)


def build_strategy(plan: DevicePlan) -> tf.distribute.Strategy:
    """The tf.distribute strategy the plan names; 'default' is TensorFlow's own."""
    tf = import_tensorflow()
    if plan.strategy == "multiworker":
        return build_multiworker(cluster_from_env(), DEFAULT_CONNECT_TIMEOUT)
    if plan.strategy == "one":
        return tf.distribute.OneDeviceStrategy(plan.strategy_devices[0])
    if plan.strategy == "mirrored":
        return tf.distribute.MirroredStrategy(devices=list(plan.strategy_devices))
    return tf.distribute.get_strategy()


def apply_device_config(config: DeviceConfig, *, quiet: bool = False) -> DeviceSetup:
    """Plan, print warnings to stderr, configure TensorFlow and build the strategy.

    Must run before TensorFlow creates any tensor: visible devices, memory settings and logical
    devices are frozen at that moment.
    """
    # TF_CONFIG is checked before anything starts: its errors are one line, not a late failure.
    cluster = cluster_from_env() if config.strategy == "multiworker" else None
    gpus = list_gpus()
    plan = plan_devices(config, gpus)
    if not quiet:
        for warning in plan.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    tf = import_tensorflow()
    try:
        _apply_devices(tf, plan)
    except RuntimeError as exc:
        raise RuntimeError(
            "configure_devices() must run before TensorFlow creates any tensor; call it first "
            f"in main ({exc})"
        ) from exc
    _apply_options(tf, config)
    if cluster is not None:
        strategy = build_multiworker(cluster, config.connect_timeout)
    else:
        strategy = build_strategy(plan)
    return DeviceSetup(config, plan, gpus, strategy)


def configure_devices(config: DeviceConfig) -> tf.distribute.Strategy:
    """Apply ``config`` before any tensor exists and return the strategy to train under."""
    return apply_device_config(config).strategy


# --------------------------------------------------------------------------------------------
# Batch size


def replica_count(strategy: tf.distribute.Strategy | int) -> int:
    """Model copies trained in step (1 for the default strategy)."""
    return strategy if isinstance(strategy, int) else int(strategy.num_replicas_in_sync)


def scale_batch_size(per_replica: int, strategy: tf.distribute.Strategy | int) -> int:
    """Global batch for a per-device batch: each replica then sees ``per_replica`` examples.

    A fixed per-replica batch makes a command behave the same per device however many devices
    run it; the global batch (and so the useful learning rate) grows with the replicas.
    """
    if per_replica < 1:
        raise UsageError(f"batch size {per_replica}: must be at least 1")
    return per_replica * replica_count(strategy)


if __name__ == "__main__":
    # The report is its own module; running it by name keeps this module free of imports of it.
    import runpy

    runpy.run_module("perception.device_report", run_name="__main__", alter_sys=True)
