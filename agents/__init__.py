"""Agents: tabular and neural Q-learning, the shared training loop, evaluation and the CLI."""

import os

# TensorFlow's C++ start-up chatter (CUDA probing on CPU machines) drowns the dashboard.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
