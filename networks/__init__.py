"""The curriculum's networks: datasets, registered models (:mod:`networks.catalog`),
``networks.train``, ``networks.predict`` and ``networks.generate``."""

import os

# TensorFlow's C++ start-up chatter (CUDA probing on CPU machines) drowns the progress display.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from common.signals import install_interrupt_hook  # noqa: E402

# A Ctrl-C while TensorFlow imports prints "interrupted" (exit 130), not a traceback.
install_interrupt_hook()
