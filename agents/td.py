"""Temporal-difference math as small pure functions (rlax style), the DQN update's pieces.

Conventions, shared with :mod:`agents.dqn` and its replay buffer:

- a transition stores ``(obs, action, reward, next_obs, discount)`` where ``reward`` is the
  discounted n-step return and ``discount`` what multiplies the bootstrap value: ``0`` after a
  terminated episode (no value beyond a terminal state), ``gamma**k`` after ``k`` steps otherwise
  (a full window, a truncated episode, or a window cut short by the episode's end);
- targets are ``reward + discount * value(next_obs)``: plain DQN scores ``next_obs`` by the
  target network's max, Double DQN by the target network at the online network's argmax.

The TD functions take TensorFlow tensors (they run inside the agent's compiled, XLA-jitted
update) and check shapes statically, at trace time, so a wrong batch fails loudly once instead of
broadcasting silently. The n-step functions are numpy: they run where transitions are collected.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import tensorflow as tf

# -- shape checks (static: free inside a compiled function) -----------------------------------


def _rank(x: tf.Tensor, rank: int, name: str) -> None:
    if x.shape.rank is not None and x.shape.rank != rank:
        raise ValueError(f"{name} must have rank {rank}, got shape {x.shape}")


def _same(a: tf.Tensor, b: tf.Tensor, names: str) -> None:
    if not a.shape.is_compatible_with(b.shape):
        raise ValueError(f"{names} must have the same shape, got {a.shape} and {b.shape}")


def _batch(x: tf.Tensor, batch: tf.Tensor, names: str) -> None:
    if not x.shape[:1].is_compatible_with(batch.shape[:1]):
        raise ValueError(f"{names} must have the same batch size, got {x.shape} and {batch.shape}")


# -- targets and errors -----------------------------------------------------------------------


def q_learning_target(
    rewards: tf.Tensor, discounts: tf.Tensor, next_q_target: tf.Tensor
) -> tf.Tensor:
    """Plain DQN: ``r + discount * max_a Q_target(s', a)``; shapes ``[B]``, ``[B]``, ``[B, A]``."""
    rewards, discounts = tf.convert_to_tensor(rewards), tf.convert_to_tensor(discounts)
    next_q_target = tf.convert_to_tensor(next_q_target)
    _rank(rewards, 1, "rewards")
    _same(rewards, discounts, "rewards and discounts")
    _rank(next_q_target, 2, "next_q_target")
    _batch(next_q_target, rewards, "next_q_target and rewards")
    return tf.stop_gradient(rewards + discounts * tf.reduce_max(next_q_target, axis=1))


def double_q_learning_target(
    rewards: tf.Tensor,
    discounts: tf.Tensor,
    next_q_target: tf.Tensor,
    next_q_online: tf.Tensor,
) -> tf.Tensor:
    """Double DQN: ``r + discount * Q_target(s', argmax_a Q_online(s', a))``: the online network
    picks, the target network scores (van Hasselt et al. 2016). Ties pick the lowest action."""
    rewards, discounts = tf.convert_to_tensor(rewards), tf.convert_to_tensor(discounts)
    next_q_target = tf.convert_to_tensor(next_q_target)
    next_q_online = tf.convert_to_tensor(next_q_online)
    _rank(rewards, 1, "rewards")
    _same(rewards, discounts, "rewards and discounts")
    _rank(next_q_target, 2, "next_q_target")
    _same(next_q_target, next_q_online, "next_q_target and next_q_online")
    _batch(next_q_target, rewards, "next_q_target and rewards")
    best = tf.argmax(next_q_online, axis=1, output_type=tf.int32)
    next_value = tf.gather(next_q_target, best, axis=1, batch_dims=1)
    return tf.stop_gradient(rewards + discounts * next_value)


def td_target(
    rewards: tf.Tensor,
    discounts: tf.Tensor,
    next_q_target: tf.Tensor,
    next_q_online: tf.Tensor | None = None,
    double: bool = True,
) -> tf.Tensor:
    """The DQN target of ``--double`` (needs ``next_q_online``) or plain DQN."""
    if double:
        if next_q_online is None:
            raise ValueError("a Double DQN target needs next_q_online")
        return double_q_learning_target(rewards, discounts, next_q_target, next_q_online)
    return q_learning_target(rewards, discounts, next_q_target)


def chosen_q(q: tf.Tensor, actions: tf.Tensor) -> tf.Tensor:
    """``q[b, actions[b]]``: the values of the actions taken; shapes ``[B, A]``, ``[B]``."""
    q, actions = tf.convert_to_tensor(q), tf.convert_to_tensor(actions)
    _rank(q, 2, "q")
    _rank(actions, 1, "actions")
    _batch(q, actions, "q and actions")
    return tf.gather(q, actions, axis=1, batch_dims=1)


def td_error(targets: tf.Tensor, chosen: tf.Tensor) -> tf.Tensor:
    """``target - Q(s, a)``: positive when the action did better than the network thought."""
    targets, chosen = tf.convert_to_tensor(targets), tf.convert_to_tensor(chosen)
    _rank(targets, 1, "targets")
    _same(targets, chosen, "targets and chosen")
    return targets - chosen


# -- losses -----------------------------------------------------------------------------------


def huber(td: tf.Tensor, delta: float = 1.0) -> tf.Tensor:
    """Elementwise Huber: ``td**2 / 2`` inside ``[-delta, delta]``, linear (slope ``delta``)
    outside, so one surprising transition cannot blow up the gradient."""
    abs_td = tf.abs(td)
    return tf.where(abs_td < delta, 0.5 * tf.square(td), delta * (abs_td - 0.5 * delta))


def td_loss(td: tf.Tensor, kind: str = "huber") -> tf.Tensor:
    """The batch mean of ``huber(td)`` (``kind="huber"``) or of ``td**2`` (``"mse"``: no 1/2)."""
    td = tf.convert_to_tensor(td)
    _rank(td, 1, "td")
    if kind == "huber":
        return tf.reduce_mean(huber(td))
    if kind == "mse":
        return tf.reduce_mean(tf.square(td))
    raise ValueError(f"unknown TD loss {kind!r}: choose huber or mse")


# -- target network ---------------------------------------------------------------------------


def target_copy_due(env_steps: int, last_copy: int, period: int, tau: float) -> bool:
    """Hard updates (``tau >= 1``) copy the online weights once ``period`` env steps have passed
    since the last copy; Polyak averaging (``tau < 1``) never copies."""
    return tau >= 1.0 and env_steps - last_copy >= period


def polyak(target: tf.Tensor, online: tf.Tensor, tau: float) -> tf.Tensor:
    """``tau * online + (1 - tau) * target``: the target network trails the online one."""
    return tau * online + (1.0 - tau) * target


def polyak_update(
    target_vars: Sequence[tf.Variable], online_vars: Sequence[tf.Variable], tau: float
) -> None:
    """Assign :func:`polyak` to every target variable (``tau=1``: a hard copy)."""
    for t, o in zip(target_vars, online_vars, strict=True):
        _same(t, o, "target and online variables")
        t.assign(o if tau >= 1.0 else polyak(t, o, tau))


# -- n-step returns (numpy, where transitions are collected) ----------------------------------


def discount_powers(gamma: float, n: int) -> np.ndarray:
    """``[1, gamma, ..., gamma**(n-1)]``."""
    return gamma ** np.arange(n)


def n_step_return(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """``sum_k gamma**k r_k`` over the last axis: the return of full n-step windows."""
    rewards = np.asarray(rewards)
    return rewards @ discount_powers(gamma, rewards.shape[-1])


def bootstrap_discount(gamma: float, steps: np.ndarray | int, terminated: np.ndarray | bool):
    """What multiplies the value of the state ``steps`` steps later: 0 if the episode
    terminated there, ``gamma**steps`` otherwise (truncated or still running)."""
    return np.where(terminated, 0.0, gamma ** np.asarray(steps))


def episode_end_windows(
    rewards: np.ndarray, count: np.ndarray, terminated: np.ndarray, done: np.ndarray, gamma: float
) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """Transitions flushed when episodes end with ``count`` pending steps in their window.

    ``rewards``: ``[E, n]`` pending rewards of each env (the first ``count[e]`` are real);
    ``done``/``terminated``: ``[E]``. Yields ``(j, rows, returns, discounts)`` for ``j = 0, 1,
    ...``: the transition starting at window slot ``j`` of every ended env in ``rows`` (a mask)
    with at least ``j + 1`` pending steps, its return ``sum_{k>=j} gamma**(k-j) r_k`` over the real
    steps, and its bootstrap discount ``bootstrap_discount(gamma, count - j, terminated)``.
    """
    rewards, count = np.asarray(rewards), np.asarray(count)
    n = rewards.shape[1]
    if count.shape != rewards.shape[:1] or np.shape(done) != count.shape:
        raise ValueError(f"rewards {rewards.shape}, count {count.shape}, done {np.shape(done)}")
    if (count > n).any() or (count < 0).any():
        raise ValueError(f"pending counts must be in [0, {n}], got {count}")
    gammas = discount_powers(gamma, n)
    valid = np.arange(n)[None, :] < count[:, None]
    masked = np.where(valid, rewards, 0.0)
    for j in range(n):
        rows = done & (count > j)
        if not rows.any():
            break
        returns = masked[rows, j:] @ gammas[: n - j]
        yield j, rows, returns, bootstrap_discount(gamma, count[rows] - j, terminated[rows])
