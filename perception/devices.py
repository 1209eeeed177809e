"""Device management for every training command (GPU choice, memory growth and caps, placement,
mixed precision, XLA, tf.distribute strategies): ``python -m perception.devices`` reports them.

The code lives in :mod:`networks.devices` because ``networks.train`` needs it and imports flow
envs <- networks <- perception <- agents; this module is its public home.
"""

from networks.devices import (  # noqa: F401
    MIXED_PRECISION_MIN_CC,
    STRATEGIES,
    TF_CONFIG_EXAMPLE,
    ClusterSpec,
    DeviceConfig,
    DevicePlan,
    DeviceSetup,
    DeviceSpec,
    GpuInfo,
    add_device_arguments,
    apply_device_config,
    build_parser,
    configure_devices,
    describe,
    import_tensorflow,
    list_gpus,
    main,
    make_train_step,
    parse_device,
    parse_tf_config,
    plan_devices,
    replica_count,
    scale_batch_size,
    split_batch_size,
    try_train,
)

if __name__ == "__main__":
    import sys

    from common.errors import run_main

    sys.exit(run_main(main))
