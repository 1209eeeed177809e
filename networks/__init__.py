"""The curriculum's networks: datasets, registered models, ``networks.train`` and ``networks.predict``."""

import os

# TensorFlow's C++ start-up chatter (CUDA probing on CPU machines) drowns the progress display.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
