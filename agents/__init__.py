"""Agents: tabular and neural Q-learning, the shared training loop, evaluation, the Python API
(``from agents import DQN, TabularQ, ClassicQNet``) and the CLI (``python -m agents.run``)."""

import os

# TensorFlow's C++ start-up chatter (CUDA probing on CPU machines) drowns the dashboard.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__all__ = ["DQN", "Algorithm", "ClassicQNet", "TabularQ"]


def __getattr__(name: str):
    """The API classes, imported on first use: ``import agents.config`` stays light."""
    if name in __all__:
        from agents import api

        return getattr(api, name)
    raise AttributeError(f"module 'agents' has no attribute {name!r}")


from common.signals import install_interrupt_hook  # noqa: E402

# A Ctrl-C while TensorFlow imports prints "interrupted" (exit 130), not a traceback.
install_interrupt_hook()
