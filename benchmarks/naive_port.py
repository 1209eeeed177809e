"""The baseline the Q-network agents are measured against: the 2017 classic Q-network loop ported
naively to TF2, one ``tf.function`` call to act and one to update at every env step."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from agents.classic import build_classic_qnetwork


class NaiveClassicPort:
    def __init__(self, env, seed: int = 0, gamma: float = 0.99, lr: float = 0.1) -> None:
        self.env, self.gamma, self.lr = env, gamma, lr
        self.n_states = env.observation_space.n
        self.model = build_classic_qnetwork(self.n_states, 4, seed)
        self.rng = np.random.default_rng(seed)
        self.eye = np.eye(self.n_states, dtype=np.float32)
        self.episodes = 0
        self.env_steps = 0
        env.reset(seed=seed)

    @tf.function
    def act(self, state):
        q = self.model(state)
        return tf.argmax(q, axis=1)[0]

    @tf.function
    def update(self, state, action, reward, next_state, terminated):
        next_q = self.model(next_state)
        with tf.GradientTape() as tape:
            q = self.model(state)
            target_value = reward + tf.where(terminated, 0.0, self.gamma * tf.reduce_max(next_q))
            target = tf.tensor_scatter_nd_update(q, [[0, action]], [target_value])
            loss = tf.reduce_sum(tf.square(tf.stop_gradient(target) - q))
        grads = tape.gradient(loss, self.model.trainable_variables)
        for var, grad in zip(self.model.trainable_variables, grads, strict=True):
            var.assign_sub(self.lr * grad)
        return loss

    def run_episode(self) -> None:
        state, _ = self.env.reset()
        epsilon = 1.0 / (self.episodes / 50 + 10)
        while True:
            action = int(self.act(self.eye[state : state + 1]))
            if self.rng.random() < epsilon:
                action = int(self.rng.integers(4))
            next_state, reward, terminated, truncated, _ = self.env.step(action)
            self.update(
                self.eye[state : state + 1],
                np.int32(action),
                np.float32(reward),
                self.eye[next_state : next_state + 1],
                bool(terminated),
            )
            self.env_steps += 1
            state = next_state
            if terminated or truncated:
                break
        self.episodes += 1
