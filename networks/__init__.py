"""The curriculum's networks: datasets, registered models (:mod:`networks.catalog`),
``networks.train``, ``networks.predict`` and ``networks.generate``."""

import os

# TensorFlow's C++ start-up chatter (CUDA probing on CPU machines) drowns the progress display.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
