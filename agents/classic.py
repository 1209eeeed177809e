"""The classic (2017) Q-network: one dense layer, 16 one-hot inputs to 4 Q-values, no bias.

The recipe, kept as it was: weights drawn from uniform(0, 0.01); SGD with learning rate 0.1 on the
summed squared TD error ``sum((Q_target - Q(s))^2)`` where ``Q_target`` is ``Q(s)`` with the taken
action's entry replaced by ``r + gamma * max Q(s')``; gamma 0.99; epsilon ``1 / (episode/50 + 10)``;
one update after every env step. (One fix: a terminated transition does not bootstrap.)

What changed is where it runs. Calling TensorFlow twice per env step (act, then update) costs
about a millisecond a step in Python round trips. Here whole episodes run inside one compiled
TensorFlow loop over a tensor copy of the env's transition table: acting, the env step, the loss,
its gradient and the SGD update happen in-graph, step by step, with the same semantics. Randomness
is stateless, keyed by (seed, env step), so a resumed run continues exactly.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from agents.config import ClassicConfig
from agents.episodes import EpisodeBatch
from agents.tf_checkpoint import TFCheckpoint
from common.errors import UsageError

MAX_CHUNK_EPISODES = 100


def build_classic_qnetwork(n_states: int, n_actions: int, seed: int) -> keras.Model:
    return keras.Sequential(
        [
            keras.Input(shape=(n_states,), name="one_hot_state"),
            keras.layers.Dense(
                n_actions,
                use_bias=False,
                name="q_values",
                kernel_initializer=keras.initializers.RandomUniform(0.0, 0.01, seed=seed),
            ),
        ],
        name="classic_qnetwork",
    )


class ClassicQNetworkAgent:
    kind = "classic"

    def __init__(self, env, config: ClassicConfig, seed: int) -> None:
        base = env.unwrapped
        if not hasattr(base, "table"):
            raise UsageError(
                "--q-net classic needs an environment with a transition table (frozenlake)"
            )
        self.env, self.config, self._seed = env, config, seed
        self.loop_state: dict | None = None  # the training loop's counters, kept in checkpoints
        table = base.table
        self.n_states, self.n_actions = table.n_states, table.n_actions
        self.model = build_classic_qnetwork(self.n_states, self.n_actions, seed)
        self.kernel = self.model.layers[-1].kernel
        self.optimizer = keras.optimizers.SGD(
            config.lr
        )  # no state: kept for the checkpoint's record
        outcomes = 3 if base.slippery else 1
        self._next_states = tf.constant(table.next_states[:, :, :outcomes], dtype=tf.int32)
        self._outcomes = outcomes
        self._goal = tf.constant(table.goal, dtype=tf.float32)
        self._terminal = tf.constant(table.terminal)
        self._start = int(base.start_state)
        self._max_steps = int(base.max_episode_steps)
        self._episodes = tf.Variable(0, dtype=tf.int64, trainable=False)
        self._env_steps = tf.Variable(0, dtype=tf.int64, trainable=False)
        # A plain graph: XLA compiles this nested loop into something ten times slower on CPU.
        self._run = tf.function(self._run_episodes)
        self._checkpoint = TFCheckpoint(
            model=self.model, episodes=self._episodes, env_steps=self._env_steps
        )

    @property
    def episodes(self) -> int:
        return int(self._episodes.numpy())

    @property
    def env_steps(self) -> int:
        return int(self._env_steps.numpy())

    # -- the compiled episodes ---------------------------------------------------------------------
    def _q(self, weights, state):
        """The network's forward pass: one-hot state times the kernel."""
        return tf.matmul(tf.one_hot(state[None], self.n_states), weights)[0]

    def _run_episodes(self, n_episodes):
        gamma, lr = tf.constant(self.config.gamma), tf.constant(self.config.lr)
        seed = tf.constant(self._seed, dtype=tf.int64)
        returns = tf.TensorArray(tf.float32, size=MAX_CHUNK_EPISODES)
        lengths = tf.TensorArray(tf.int32, size=MAX_CHUNK_EPISODES)
        weights = tf.identity(self.kernel)
        steps = self._env_steps.read_value()
        first_episode = self._episodes.read_value()

        for e in tf.range(n_episodes):
            epsilon = 1.0 / (
                tf.cast(first_episode + tf.cast(e, tf.int64), tf.float32) / 50.0 + 10.0
            )
            state = tf.constant(self._start, dtype=tf.int32)
            total = tf.constant(0.0)
            t = tf.constant(0, dtype=tf.int32)
            done = tf.constant(False)
            while not done and t < self._max_steps:
                u = tf.random.stateless_uniform([3], seed=tf.stack([seed, steps]))
                with tf.GradientTape() as tape:
                    tape.watch(weights)
                    q = self._q(weights, state)
                    greedy = tf.argmax(q, output_type=tf.int32)
                    random_action = tf.minimum(
                        tf.cast(u[1] * self.n_actions, tf.int32), self.n_actions - 1
                    )
                    action = tf.where(u[0] < epsilon, random_action, greedy)
                    outcome = tf.minimum(
                        tf.cast(u[2] * self._outcomes, tf.int32), self._outcomes - 1
                    )
                    next_state = self._next_states[state, action, outcome]
                    reward = self._goal[next_state]
                    terminated = self._terminal[next_state]
                    next_q = tf.stop_gradient(self._q(weights, next_state))
                    bootstrap = tf.where(terminated, 0.0, gamma * tf.reduce_max(next_q))
                    target = tf.stop_gradient(
                        tf.tensor_scatter_nd_update(q, [[action]], [reward + bootstrap])
                    )
                    loss = tf.reduce_sum(tf.square(target - q))
                weights = weights - lr * tape.gradient(loss, weights)
                total += reward
                steps += 1
                t += 1
                state = next_state
                done = terminated
            returns = returns.write(e, total)
            lengths = lengths.write(e, t)

        self.kernel.assign(weights)
        self._env_steps.assign(steps)
        self._episodes.assign_add(tf.cast(n_episodes, tf.int64))
        return returns.stack(), lengths.stack()

    def train_chunk(self, max_episodes: int, max_steps: int | None = None) -> EpisodeBatch:
        """Up to ``max_episodes`` whole episodes in one compiled call. ``max_steps`` only
        shortens the chunk to a few episodes (an episode's length is not known in advance)."""
        n = int(min(max_episodes, MAX_CHUNK_EPISODES))
        if max_steps is not None and max_steps < 1_000:
            n = min(n, 10)
        steps_before = self.env_steps
        returns, lengths = self._run(tf.constant(n, dtype=tf.int32))
        return EpisodeBatch.from_lists(
            returns.numpy()[:n], lengths.numpy()[:n], self.env_steps - steps_before
        )

    # -- what the loop, the dashboard and evaluation read ------------------------------------------
    @property
    def exploration_rate(self) -> float:
        return 1.0 / (self.episodes / 50.0 + 10.0)

    @property
    def learning_rate(self) -> float:
        return float(self.config.lr)

    def q_table(self) -> np.ndarray:
        return self.kernel.numpy().astype(np.float64)

    def q_values(self, observations) -> np.ndarray:
        return self.q_table()[np.asarray(observations, dtype=np.int64)]

    def greedy_action(self, observation) -> int:
        return int(self.q_table()[int(observation)].argmax())

    def write_summaries(self, step: int) -> None:
        tf.summary.histogram("weights/q_values/kernel", self.kernel, step=step)

    def trace_graph(self) -> None:
        return None  # the whole episode loop is one graph: too large to be worth a look

    # -- checkpoints -------------------------------------------------------------------------------
    def _meta(self) -> dict:
        return {
            "agent_kind": self.kind,
            "env_identity": self.env.unwrapped.identity,
            "n_states": self.n_states,
            "n_actions": self.n_actions,
        }

    def save(self, directory: str | Path, best: bool = False) -> Path:
        state = {"env_steps": self.env_steps, "loop": self.loop_state}
        return self._checkpoint.save(directory, meta=self._meta(), state=state)

    def restore(self, directory: str | Path) -> None:
        state = self._checkpoint.restore(directory, meta=self._meta())
        self.loop_state = state.get("loop")
