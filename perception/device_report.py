"""``python -m perception.devices``: what TensorFlow sees and what the device flags make of it.

Every setting is read back from TensorFlow after :func:`perception.devices.apply_device_config`,
so the report shows what a training command would really get. ``--try-train`` trains a tiny Keras
model one step under the chosen strategy.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from typing import Any

from common.errors import OneLineArgumentParser, UsageError, run_main
from perception.devices import (
    MIXED_PRECISION_MIN_CC,
    DeviceConfig,
    DeviceSetup,
    add_device_arguments,
    apply_device_config,
    replica_count,
)
from perception.hardware import import_tensorflow


def _xla_available(tf: Any) -> bool:
    try:
        return bool(tf.test.is_built_with_xla())
    except AttributeError:  # removed in some builds; XLA ships with every TF 2 wheel
        return True


def _strategy_devices(setup: DeviceSetup) -> list[str]:
    try:
        return list(setup.strategy.extended.worker_devices)
    except (RuntimeError, AttributeError):  # the default strategy: TensorFlow's default device
        return list(setup.plan.strategy_devices[:1])


def _precision(setup: DeviceSetup) -> dict[str, Any]:
    import keras

    fast = [
        gpu.label()
        for gpu in setup.gpus
        if gpu.index in setup.plan.visible_gpus
        and tuple(gpu.compute_capability or (0, 0)) >= MIXED_PRECISION_MIN_CC
    ]
    advice = "no GPU with compute capability >= 7.0 in use: expect no speed-up"
    return {
        "policy": keras.mixed_precision.global_policy().name,
        "fast_on": fast,
        "advice": "float16 Tensor Cores available" if fast else advice,
    }


def _settings(setup: DeviceSetup) -> dict[str, Any]:
    tf = import_tensorflow()
    visible = tf.config.get_visible_devices("GPU")
    growth = {d.name: bool(tf.config.experimental.get_memory_growth(d)) for d in visible}
    strategy = setup.strategy
    return {
        "device": setup.config.device,
        "visible_gpus": [d.name for d in visible],
        "memory_growth": growth,
        "memory_limit_mb": setup.plan.memory_limit_mb,
        # As the user set it: TensorFlow 2's own op-level soft placement is always on, so its
        # getter would say True even without --soft-placement.
        "soft_placement": setup.config.soft_placement,
        "log_placement": bool(tf.debugging.get_log_device_placement()),
        "xla_jit": tf.config.optimizer.get_jit() or "off",
        "strategy": (
            "default (one device, no distribution)"
            if setup.plan.strategy == "default"
            else type(strategy).__name__
        ),
        "replicas": replica_count(strategy),
        "strategy_devices": _strategy_devices(setup),
    }


def describe(setup: DeviceSetup) -> dict[str, Any]:
    """What TensorFlow sees and the effective settings, read back from TensorFlow itself."""
    tf = import_tensorflow()
    import keras

    build = dict(tf.sysconfig.get_build_info())
    return {
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "cuda_build": bool(build.get("is_cuda_build", False)),
        "cuda_version": build.get("cuda_version"),
        "cpus": {"physical": len(tf.config.list_physical_devices("CPU")), "cores": os.cpu_count()},
        "gpus": [asdict(g) | {"in_use": g.index in setup.plan.visible_gpus} for g in setup.gpus],
        "physical_gpus": len(tf.config.list_physical_devices("GPU")),
        "logical_devices": [d.name for d in tf.config.list_logical_devices()],
        "xla_available": _xla_available(tf),
        "mixed_precision": _precision(setup),
        "settings": _settings(setup),
        "warnings": list(setup.plan.warnings),
    }


def try_train(strategy: Any, global_batch: int | None = None) -> dict[str, Any]:
    """Train a tiny Keras model one step (``Model.fit``) under ``strategy``.

    The data, the initial weights and the global batch do not depend on the strategy, so one
    device and several mirrored devices must end with the same weights. The global batch defaults
    to 4 examples per replica and must split evenly over the replicas.
    """
    import keras
    import numpy as np

    tf = import_tensorflow()
    replicas = replica_count(strategy)
    batch = global_batch or 4 * replicas
    if batch % replicas:
        raise UsageError(f"batch {batch} does not split evenly over {replicas} replicas")
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(batch, 3)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5]], dtype="float32")
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch)
    with strategy.scope():
        model = keras.Sequential(
            [
                keras.Input((3,)),
                keras.layers.Dense(4, activation="relu"),
                keras.layers.Dense(1, dtype="float32"),  # float32 output under mixed precision
            ]
        )
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    before = float(sum(np.abs(w).sum() for w in model.get_weights()))
    start = time.perf_counter()
    loss = float(model.fit(data, epochs=1, shuffle=False, verbose=0).history["loss"][0])
    seconds = time.perf_counter() - start
    kernel = model.layers[0].kernel
    kernel = getattr(kernel, "value", kernel)  # the tf.Variable under Keras' backend-neutral one
    copies = getattr(kernel, "values", (kernel,))  # a mirrored variable holds one copy per device
    return {
        "global_batch": batch,
        "replicas": replicas,
        "loss": loss,
        "weights_before": before,
        "weights_after": float(sum(np.abs(w).sum() for w in model.get_weights())),
        "copies": [c.device for c in copies],
        "copies_equal": all(np.array_equal(np.asarray(c), np.asarray(copies[0])) for c in copies),
        "seconds": round(seconds, 3),
    }


def _device_rows(report: dict[str, Any]) -> list[tuple[str, ...]]:
    rows = [("cpu", f"{report['cpus']['cores']} cores", "-", "host RAM", "yes")]
    for gpu in report["gpus"]:
        cc, mb = gpu["compute_capability"], gpu["memory_mb"]
        rows.append(
            (
                f"gpu:{gpu['index']}",
                gpu["model"] or "?",
                f"{cc[0]}.{cc[1]}" if cc else "?",
                f"{mb} MB" if mb is not None else "?",
                "yes" if gpu["in_use"] else "no",
            )
        )
    if not report["gpus"]:
        rows.append(("gpu", "none found", "-", "-", "-"))
    return rows


def _setting_rows(report: dict[str, Any]) -> list[tuple[str, str]]:
    s, precision = report["settings"], report["mixed_precision"]
    growth = ", ".join(f"{k}: {v}" for k, v in s["memory_growth"].items())
    limit = s["memory_limit_mb"]
    devices = ", ".join(s["strategy_devices"]) or "default device"
    return [
        ("logical devices", ", ".join(report["logical_devices"])),
        ("memory growth", growth or "n/a (no GPU)"),
        ("memory limit", f"{limit} MB per GPU" if limit else "none"),
        ("soft placement", str(s["soft_placement"])),
        ("log placement", str(s["log_placement"])),
        ("XLA", f"available: {report['xla_available']}; jit: {s['xla_jit']}"),
        ("mixed precision", f"policy {precision['policy']}; {precision['advice']}"),
        ("strategy", f"{s['strategy']}: {s['replicas']} replica(s) on {devices}"),
    ]


def render(report: dict[str, Any], trained: dict[str, Any] | None) -> None:
    """Print the report as rich tables."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    build = f"CUDA build {report['cuda_version']}" if report["cuda_build"] else "CPU-only build"
    console.print(f"[bold]TensorFlow {report['tensorflow']}[/] (Keras {report['keras']}), {build}")
    devices = Table(title="Devices TensorFlow sees", title_justify="left")
    for column in ("device", "model", "compute capability", "memory", "in use"):
        devices.add_column(column)
    for row in _device_rows(report):
        devices.add_row(*row)
    console.print(devices)
    settings = Table(title="Effective settings", title_justify="left", show_header=False)
    settings.add_column(style="bold")
    settings.add_column()
    for row in _setting_rows(report):
        settings.add_row(*row)
    console.print(settings)
    if trained is not None:
        console.print(
            f"one training step: global batch {trained['global_batch']} over "
            f"{trained['replicas']} replica(s), loss {trained['loss']:.4f}, {trained['seconds']} s"
        )


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog="python -m perception.devices",
        description="Show the CPUs and GPUs TensorFlow sees and what the device flags make of "
        "them. Every training command (agents.run, networks.train) takes the same flags.",
    )
    add_device_arguments(parser, multiworker=False)  # the report covers this machine
    parser.add_argument(
        "--try-train",
        action="store_true",
        help="also train a tiny Keras model one step under the chosen strategy",
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
        render(report, trained)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
