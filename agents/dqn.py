"""DQN family for small discrete problems, in TensorFlow.

    target = r_t..t+n + gamma^n * Q_target(s', argmax_a Q_online(s', a))      (Double DQN)
    target = r_t..t+n + gamma^n * max_a Q_target(s', a)                         (plain DQN)

no bootstrap after a terminated transition, bootstrap after a truncated one (the TD math is
:mod:`agents.td`'s small pure functions). Huber or MSE loss,
Adam, global gradient-norm clipping, a target network updated by hard copies or Polyak averaging.
The Q-network is a featurizer's torso (:mod:`perception.featurizers`: one-hot states, flat
vectors or pixels, a frozen encoder's features, or a conv stack on raw images) plus ReLU layers
and a linear head; the featurizer also turns observations into what replay stores.

Speed comes from where the Python/TensorFlow boundary sits:
- acting: ``num_envs`` environments step together, and one forward pass of a numpy mirror of
  the online network picks all their actions (a tiny MLP is far cheaper in numpy than a call
  into TensorFlow);
- learning: one compiled ``tf.function`` runs several whole updates (forward, loss, gradients,
  clipping, apply, target update) on minibatches stacked as ``(updates, batch, ...)`` and hands
  back the new weights for the mirror. Updates still happen at one per ``train_every`` env steps
  on average; they are grouped into one call per ``ENV_STEPS_PER_CALL`` env steps, which is what
  keeps TensorFlow's fixed cost per call off the env-step budget.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import gymnasium as gym
import keras
import numpy as np
import tensorflow as tf
from gymnasium import spaces

from agents import td
from agents.checkpoint import CheckpointError
from agents.checkpoint import env_identity as single_env_identity
from agents.config import DQNConfig
from agents.episodes import EpisodeBatch
from agents.replay import ReplayBuffer
from agents.rng import restore_rng, rng_state_json
from agents.schedules import decay_length, make_schedule
from agents.tf_checkpoint import TFCheckpoint
from common.errors import first_line
from common.exact_json import decode_array, encode_array
from envs import snapshot as env_snapshot
from perception.encoders import Encoder, EndToEnd
from perception.featurizers import Featurizer, make_featurizer, state_images

# agents.td's functions are plain TensorFlow with Python-level checks: autograph has nothing to
# convert in them, and skipping its conversion saves about a second of tracing per run.
_no_autograph = tf.autograph.experimental.do_not_convert
_td_target, _td_error, _chosen_q = (
    _no_autograph(td.td_target),
    _no_autograph(td.td_error),
    _no_autograph(td.chosen_q),
)
_td_loss, _polyak_update = _no_autograph(td.td_loss), _no_autograph(td.polyak_update)

#: Env steps whose updates one compiled call runs: a call costs ~0.5 ms however small the net,
#: so updates are grouped to pay it once per this many env steps.
ENV_STEPS_PER_CALL = 128


def build_q_network(
    featurizer: Featurizer, n_actions: int, hidden: tuple[int, ...], name: str
) -> keras.Model:
    """The featurizer's torso, ReLU ``hidden_i`` layers, and a linear ``q_values`` head."""
    inputs, x = featurizer.torso()
    for i, units in enumerate(hidden):
        x = keras.layers.Dense(units, activation="relu", name=f"hidden_{i}")(x)
    outputs = keras.layers.Dense(n_actions, name="q_values")(x)
    return keras.Model(inputs, outputs, name=name)


class NumpyMLP:
    """Forward pass of a ReLU MLP from a list of (kernel, bias) arrays: acting without TF calls."""

    def __init__(self, weights: list[np.ndarray]) -> None:
        self.set_weights(weights)

    def set_weights(self, weights: list[np.ndarray]) -> None:
        self.layers = [
            (np.asarray(k), np.asarray(b)) for k, b in zip(weights[::2], weights[1::2], strict=True)
        ]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        for kernel, bias in self.layers[:-1]:
            x = np.maximum(x @ kernel + bias, 0.0)
        kernel, bias = self.layers[-1]
        return x @ kernel + bias


def step_limit(venv) -> int | None:
    """The episode step limit of a vector env's copies, if it has one."""
    limit = getattr(venv, "max_episode_steps", None)
    if limit is None and getattr(venv, "envs", None):
        spec = getattr(venv.envs[0], "spec", None)
        limit = getattr(spec, "max_episode_steps", None)
    if limit is None:
        spec = getattr(venv, "spec", None)
        limit = getattr(spec, "max_episode_steps", None)
    return int(limit) if limit else None


def env_identity(venv) -> str:
    """What a checkpoint must match: the env's own identity if it has one, else one copy's
    (:func:`agents.checkpoint.env_identity`: Gymnasium id, options, step limit)."""
    identity = getattr(venv, "identity", None)
    if identity is not None:
        return str(identity)
    inner = venv
    while not getattr(inner, "envs", None) and getattr(inner, "env", None) is not None:
        inner = inner.env  # vector wrappers
    if getattr(inner, "envs", None):
        return single_env_identity(inner.envs[0])
    try:  # AsyncVectorEnv: ask a copy
        spec = inner.get_attr("spec")[0]
    except Exception:  # noqa: BLE001 - no way to ask: the class name must do
        return type(inner).__name__
    kwargs = json.dumps(spec.kwargs or {}, sort_keys=True, default=str)
    return f"{spec.id}|{kwargs}|steps={spec.max_episode_steps}"


class DQNAgent:
    kind = "dqn"

    def __init__(
        self,
        venv,
        config: DQNConfig,
        seed: int,
        encoder: str | Encoder | EndToEnd | None = None,
        featurizer: Featurizer | None = None,
    ) -> None:
        """``venv``: a Gymnasium vector env of ``config.num_envs`` copies with same-step autoreset;
        ``featurizer``: what the Q-network reads, else one made from the observation space and
        ``encoder`` (for image observations: an ``--encoder`` spec or a loaded encoder; default:
        ``config.encoder``)."""
        self.config = config
        self.venv = venv
        space = venv.single_observation_space
        if featurizer is None:
            featurizer = make_featurizer(
                space, venv, config.encoder if encoder is None else encoder
            )
        elif encoder is not None:
            raise ValueError("give DQNAgent an encoder or a featurizer, not both")
        self.featurizer = featurizer
        self.input_shape = featurizer.input_shape
        self.n_actions = int(venv.single_action_space.n)
        self.n_states = int(space.n) if isinstance(space, spaces.Discrete) else None
        self.rng = np.random.default_rng(seed)
        self._seed = seed
        keras.utils.set_random_seed(seed)
        self.online = build_q_network(featurizer, self.n_actions, config.hidden, "online")
        self.target = build_q_network(featurizer, self.n_actions, config.hidden, "target")
        self.target.set_weights(self.online.get_weights())
        self.optimizer = keras.optimizers.Adam(config.lr)
        self.optimizer.build(self.online.trainable_variables)
        # A tiny MLP acts faster in numpy than through a TensorFlow call; a CNN acts in TensorFlow.
        self.mirror = NumpyMLP(self.online.get_weights()) if featurizer.vector else None
        self._act_fn = (
            None
            if featurizer.vector
            else tf.function(lambda x: self.online(tf.cast(x, tf.float32), training=False))
        )
        self.buffer = ReplayBuffer(config.buffer_size, self.input_shape, featurizer.dtype)
        self.set_budget(None, None)
        self.episodes = 0
        self.env_steps = 0
        self.updates = 0
        self._update_debt = 0.0
        self._last_target_copy = 0
        self._obs: np.ndarray | None = None
        self._env_rng_states: list[str] | None = None
        self._returns = np.zeros(config.num_envs)
        self._lengths = np.zeros(config.num_envs, dtype=np.int64)
        # Each env's last (up to n) steps, waiting to become n-step transitions.
        n, n_envs = config.n_step, config.num_envs
        self._p_obs = np.zeros((n_envs, n, *self.input_shape), dtype=featurizer.dtype)
        self._p_act = np.zeros((n_envs, n), dtype=np.int32)
        self._p_rew = np.zeros((n_envs, n), dtype=np.float64)
        self._count = np.zeros(n_envs, dtype=np.int64)
        self.last_td_errors = np.zeros(0, dtype=np.float32)
        self.loop_state: dict | None = None  # the training loop's counters, kept in checkpoints
        self.updates_per_call = max(1, round(ENV_STEPS_PER_CALL / config.train_every))
        self._update_fn = tf.function(self._update_many, jit_compile=True)
        self._checkpoint = TFCheckpoint(
            online=self.online, target=self.target, optimizer=self.optimizer
        )

    def set_budget(self, episodes: int | None, steps: int | None) -> None:
        """Size the decays (counted in env steps) to the run: fractions of its steps, or of its
        episodes times ``episode_length`` (default: the env's step limit)."""
        cfg = self.config
        if steps is not None:
            budget = float(steps)
        elif episodes is not None:
            length = cfg.episode_length or step_limit(self.venv) or 200
            budget = episodes * float(length)
        else:
            budget = None
        self.lr = make_schedule(
            cfg.lr_schedule, cfg.lr, cfg.lr_end, decay_length(cfg.lr_decay, cfg.lr_fraction, budget)
        )
        self.epsilon = make_schedule(
            cfg.epsilon_schedule,
            cfg.epsilon_start,
            cfg.epsilon_end,
            decay_length(cfg.epsilon_decay, cfg.epsilon_fraction, budget),
        )

    # -- the compiled update ----------------------------------------------------------------------
    def _update_many(self, obs, actions, rewards, next_obs, discounts, copy_target):
        """``self.updates_per_call`` gradient steps, then the target update; returns the new
        weights."""
        cfg = self.config
        online_vars = self.online.trainable_variables
        target_vars = self.target.trainable_variables
        losses = tf.TensorArray(tf.float32, size=self.updates_per_call)
        q_means = tf.TensorArray(tf.float32, size=self.updates_per_call)
        q_maxes = tf.TensorArray(tf.float32, size=self.updates_per_call)
        errors = tf.zeros([cfg.batch_size])
        obs, next_obs = tf.cast(obs, tf.float32), tf.cast(next_obs, tf.float32)
        for i in tf.range(self.updates_per_call):
            next_q_target = self.target(next_obs[i], training=False)
            next_q_online = self.online(next_obs[i], training=False) if cfg.double else None
            targets = _td_target(
                rewards[i], discounts[i], next_q_target, next_q_online, double=cfg.double
            )
            with tf.GradientTape() as tape:
                q = self.online(obs[i], training=True)
                errors = _td_error(targets, _chosen_q(q, actions[i]))
                loss = _td_loss(errors, cfg.loss)
            grads = tape.gradient(loss, online_vars)
            if cfg.grad_clip > 0:
                grads, _ = tf.clip_by_global_norm(grads, cfg.grad_clip)
            self.optimizer.apply_gradients(zip(grads, online_vars, strict=True))
            if cfg.tau < 1.0:
                _polyak_update(target_vars, online_vars, cfg.tau)
            losses = losses.write(i, loss)
            q_means = q_means.write(i, tf.reduce_mean(q))
            q_maxes = q_maxes.write(i, tf.reduce_max(q))
        if cfg.tau >= 1.0 and copy_target:
            _polyak_update(target_vars, online_vars, 1.0)
        stats = tf.stack(
            [
                tf.reduce_mean(losses.stack()),
                tf.reduce_mean(q_means.stack()),
                tf.reduce_max(q_maxes.stack()),
            ]
        )
        return [tf.identity(v) for v in online_vars], stats, errors

    def _learn(self) -> dict[str, float]:
        cfg = self.config
        obs, actions, rewards, next_obs, discounts = self.buffer.sample(
            self.rng, cfg.batch_size, self.updates_per_call
        )
        # Replay keeps what the featurizer stores; a running normaliser reads it with today's
        # statistics (for every other featurizer ``normalize`` is the identity).
        normalize = self.featurizer.normalize
        batch = (normalize(obs), actions, rewards, normalize(next_obs), discounts)
        self.updates += self.updates_per_call
        copy = td.target_copy_due(
            self.env_steps, self._last_target_copy, cfg.target_update, cfg.tau
        )
        if copy:
            self._last_target_copy = self.env_steps
        self.optimizer.learning_rate = self.lr(self.env_steps)
        weights, stats, errors = self._update_fn(*batch, tf.constant(copy))
        if self.mirror is not None:
            self.mirror.set_weights([w.numpy() for w in weights])
        self.last_td_errors = errors.numpy()
        loss, q_mean, q_max = stats.numpy().tolist()
        return {"losses/td_loss": loss, "charts/q_mean": q_mean, "charts/q_max": q_max}

    # -- acting and collecting --------------------------------------------------------------------
    def _reset_all(self) -> None:
        if self._env_rng_states is None:  # a new run: seed once
            raw, _ = self.venv.reset(seed=self._seed)
        else:  # a resumed run: fresh episodes, but the saved random streams go on
            raw, _ = self.venv.reset()
            for generator, state in zip(self._env_generators(), self._env_rng_states, strict=True):
                restore_rng(generator, state)
        self._obs = self._observe(raw)
        self._count[:] = 0
        self._returns[:] = 0.0
        self._lengths[:] = 0

    def _observe(self, raw: np.ndarray) -> np.ndarray:
        """What replay keeps of a batch of raw training observations; a running normaliser
        learns its statistics from them first."""
        if self.featurizer.stateful:
            self.featurizer.update(raw)
        return self.featurizer.store(raw)

    def _env_generators(self) -> list[np.random.Generator]:
        """The batched env's one generator, or a Gymnasium SyncVectorEnv's one per sub-env;
        none for an AsyncVectorEnv (its copies' generators live in their own processes, so a
        resumed asynchronous run is not bit for bit)."""
        inner = self.venv
        while not hasattr(inner, "envs") and isinstance(inner, gym.vector.VectorWrapper):
            inner = inner.env
        if hasattr(inner, "envs"):
            return [env.unwrapped.np_random for env in inner.envs]
        generator = getattr(inner, "np_random", None)
        return [generator] if isinstance(generator, np.random.Generator) else []

    def _collect(self, actions, rewards, next_obs, final_obs, terminated, done) -> tuple:
        """Append this step to each env's pending window and return the finished n-step
        transitions: windows that are full, and every window of an env whose episode ended."""
        cfg, n = self.config, self.config.n_step
        rows = np.arange(cfg.num_envs)
        count = self._count
        self._p_obs[rows, count] = self._obs
        self._p_act[rows, count] = actions
        self._p_rew[rows, count] = rewards
        count += 1
        pieces = []
        full = (count == n) & ~done
        if full.any():
            pieces.append(
                (
                    self._p_obs[full, 0],
                    self._p_act[full, 0],
                    td.n_step_return(self._p_rew[full], cfg.gamma),
                    next_obs[full],
                    np.full(int(full.sum()), cfg.gamma**n, dtype=np.float32),
                )
            )
            if n > 1:
                for arr in (self._p_obs, self._p_act, self._p_rew):
                    arr[full, :-1] = arr[full, 1:]
            count[full] = n - 1
        if done.any():
            windows = td.episode_end_windows(self._p_rew, count, terminated, done, cfg.gamma)
            for j, sel, ret, discount in windows:
                pieces.append(
                    (self._p_obs[sel, j], self._p_act[sel, j], ret, final_obs[sel], discount)
                )
            count[done] = 0
        return pieces

    def train_chunk(self, max_episodes: int, max_steps: int = 4096) -> EpisodeBatch:
        cfg = self.config
        if self._obs is None:
            self._reset_all()
        returns, lengths, metrics = [], [], {}
        steps_before = self.env_steps
        n_envs = cfg.num_envs
        while len(returns) < max_episodes and self.env_steps - steps_before < max_steps:
            eps = self.epsilon(self.env_steps)
            actions = self._q(self.featurizer.normalize(self._obs)).argmax(axis=1)
            explore = self.rng.random(n_envs) < eps
            if explore.any():
                actions = np.where(explore, self.rng.integers(0, self.n_actions, n_envs), actions)
            raw, rewards, terminated, truncated, infos = self.venv.step(actions)
            next_obs = self._observe(raw)
            done = terminated | truncated
            final_obs = next_obs
            if done.any():
                final_obs = next_obs.copy()
                final_obs[done] = self.featurizer.store(np.stack(list(infos["final_obs"][done])))
            pieces = self._collect(actions, rewards, next_obs, final_obs, terminated, done)
            for obs_b, act_b, rew_b, next_b, disc_b in pieces:
                self.buffer.add_batch(obs_b, act_b, rew_b, next_b, disc_b)
            self._returns += rewards
            self._lengths += 1
            if done.any():
                returns.extend(self._returns[done].tolist())
                lengths.extend(self._lengths[done].tolist())
                self._returns[done] = 0.0
                self._lengths[done] = 0
            self._obs = next_obs
            self.env_steps += n_envs
            if self.env_steps >= cfg.learning_starts and len(self.buffer) >= cfg.batch_size:
                self._update_debt += n_envs / cfg.train_every
                while self._update_debt >= self.updates_per_call:
                    self._update_debt -= self.updates_per_call
                    metrics = self._learn()
        self.episodes += len(returns)
        return EpisodeBatch.from_lists(returns, lengths, self.env_steps - steps_before, metrics)

    # -- what the loop, the dashboard and evaluation read -----------------------------------------
    @property
    def exploration_rate(self) -> float:
        return self.epsilon(self.env_steps)

    @property
    def learning_rate(self) -> float:
        return float(self.lr(self.env_steps))

    def _q(self, inputs: np.ndarray) -> np.ndarray:
        if self.mirror is not None:
            return self.mirror(inputs)
        return self._act_fn(inputs).numpy()

    def q_values(self, observations) -> np.ndarray:
        """Q-values of a batch of raw observations."""
        return self._q(self.featurizer(observations))

    def greedy_action(self, observation) -> int:
        """The greedy action for one raw observation."""
        return int(self.q_values(np.asarray(observation)[None]).argmax())

    def q_table(self) -> np.ndarray:
        """Q-values of every state: its index for discrete envs, its clean image for image envs."""
        if self.n_states is not None:
            return self.q_values(np.arange(self.n_states))
        images = state_images(self.venv)
        if images is None:
            raise TypeError("q_table() needs a discrete env or one that renders its states")
        return self.q_values(images)

    # -- TensorBoard extras -----------------------------------------------------------------------
    def write_summaries(self, step: int) -> None:
        """Histograms of the online weights and of the last TD errors (inside a writer context)."""
        for var in self.online.trainable_variables:
            tf.summary.histogram(f"weights/{var.path}", var, step=step)
        if self.last_td_errors.size:
            tf.summary.histogram("losses/td_errors", self.last_td_errors, step=step)

    def trace_graph(self) -> tf.Graph:
        cfg = self.config
        k, b = self.updates_per_call, cfg.batch_size
        obs = tf.TensorSpec([k, b, *self.input_shape], tf.as_dtype(self.featurizer.dtype))
        spec = [
            obs,
            tf.TensorSpec([k, b], tf.int32),
            tf.TensorSpec([k, b], tf.float32),
            obs,
            tf.TensorSpec([k, b], tf.float32),
            tf.TensorSpec([], tf.bool),
        ]
        return self._update_fn.get_concrete_function(*spec).graph

    # -- checkpoints ------------------------------------------------------------------------------
    #: What the agent holds of the episodes in flight (with the env's snapshot, a resume goes on
    #: with them) and the last TD errors (TensorBoard's histogram).
    IN_FLIGHT = ("_obs", "_returns", "_lengths", "_p_obs", "_p_act", "_p_rew", "_count")

    def _in_flight(self) -> dict | None:
        env = env_snapshot.snapshot(self.venv) if self._obs is not None else None
        if env is None:
            return None
        arrays = {name: encode_array(getattr(self, name)) for name in self.IN_FLIGHT}
        arrays["last_td_errors"] = encode_array(self.last_td_errors)
        return {"env": env, "agent": arrays}

    def _restore_in_flight(self, saved: dict, where: str) -> None:
        """Put the episodes in flight back: the env's snapshot and the agent's arrays. A
        snapshot of another shape (``--num-envs`` or ``--n-step`` changed) is ignored: the run
        starts new episodes, as it must."""
        try:
            arrays = {name: decode_array(saved["agent"][name]) for name in self.IN_FLIGHT}
            errors = decode_array(saved["agent"]["last_td_errors"])
            env = saved["env"]
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"checkpoint in {where} holds damaged episodes ({exc})") from None
        for name, array in arrays.items():
            current = getattr(self, name)
            expected = (
                self._p_obs[:, 0].shape if name == "_obs" else current.shape,
                self.featurizer.dtype if name == "_obs" else current.dtype,
            )
            if (array.shape, array.dtype) != expected:
                return
        self.venv.reset()  # every attribute exists; the snapshot then replaces them all
        try:
            env_snapshot.restore(self.venv, env)
        except ValueError as exc:
            raise CheckpointError(f"checkpoint in {where} holds damaged episodes ({exc})") from None
        for name, array in arrays.items():
            setattr(self, name, array)
        self.last_td_errors = errors

    def _meta(self) -> dict:
        return {
            "agent_kind": self.kind,
            "env_identity": env_identity(self.venv),
            "perception": self.featurizer.tag,  # before the shape: another encoder is the cause
            "input_shape": list(self.input_shape),
            "n_actions": self.n_actions,
            "hidden": list(self.config.hidden),
        }

    def save(self, directory: str | Path, best: bool = False) -> Path:
        """A checkpoint of everything a resume needs (``best``: a kept policy, without replay).

        The replay buffer goes to its own ``replay-<env steps>.npz``, written before the
        checkpoint that names it; older ones go after, so a kill at any moment leaves the newest
        checkpoint with the buffer it was saved with."""
        directory = Path(directory)
        replay = None
        if self.config.save_replay and not best:
            replay = f"replay-{self.env_steps}.npz"
            directory.mkdir(parents=True, exist_ok=True)
            self.buffer.save(directory / replay)
        state = {
            "episodes": self.episodes,
            "env_steps": self.env_steps,
            "updates": self.updates,
            "update_debt": self._update_debt,
            "last_target_copy": self._last_target_copy,
            "rng": rng_state_json(self.rng),
            "env_rngs": [rng_state_json(g) for g in self._env_generators()],
            "in_flight": None if best else self._in_flight(),  # a kept policy is not resumed
            "replay": replay,
            "loop": self.loop_state,
        }
        if self.featurizer.stateful:  # the normaliser's statistics: JSON lists, never pickled
            state["featurizer"] = {
                k: np.asarray(v).tolist() for k, v in self.featurizer.get_state().items()
            }
        path = self._checkpoint.save(directory, meta=self._meta(), state=state)
        if replay is not None:
            for old in directory.glob("replay*.npz"):
                if old.name != replay:
                    old.unlink(missing_ok=True)
        return path

    def restore(self, directory: str | Path) -> None:
        """Everything :meth:`save` kept; a damaged or crafted state is one CheckpointError line
        (checked before the counters, streams and episodes are replaced)."""
        state = self._checkpoint.restore(directory, meta=self._meta())
        try:
            counters = {k: int(state[k]) for k in ("episodes", "env_steps", "updates")}
            counters["last_target_copy"] = int(state["last_target_copy"])
            debt = float(state["update_debt"])
            if min(counters.values()) < 0 or not 0 <= debt < 1e9:
                raise ValueError("negative or impossible counters")
            rng = np.random.default_rng()
            restore_rng(rng, state["rng"])
            env_rngs = [str(s) for s in state["env_rngs"]]
            for env_rng in env_rngs:
                restore_rng(np.random.default_rng(), env_rng)
            replay = state.get("replay") or "replay.npz"  # the name before replay-<steps>.npz
            if not isinstance(replay, str) or not re.fullmatch(r"replay(-\d+)?\.npz", replay):
                raise ValueError(f"{str(replay)[:40]!r} is not a replay file name")
        except (KeyError, TypeError, ValueError, OverflowError, AttributeError) as exc:
            raise CheckpointError(
                f"checkpoint in {directory} holds a damaged state ({first_line(exc)})"
            ) from None
        if self.featurizer.stateful:
            try:
                self.featurizer.set_state(
                    {k: np.asarray(v, dtype=np.float64) for k, v in state["featurizer"].items()}
                )
            except (KeyError, ValueError, TypeError, AttributeError) as exc:
                raise CheckpointError(
                    f"checkpoint in {directory} has no usable normaliser state ({exc})"
                ) from None
        self.episodes, self.env_steps = counters["episodes"], counters["env_steps"]
        self.updates, self._update_debt = counters["updates"], debt
        self._last_target_copy = counters["last_target_copy"]
        self.rng.bit_generator.state = rng.bit_generator.state
        self._env_rng_states = env_rngs
        if self.mirror is not None:
            self.mirror.set_weights(self.online.get_weights())
        self.loop_state = state.get("loop") if isinstance(state.get("loop"), dict) else None
        if self.config.save_replay and (Path(directory) / replay).is_file():
            self.buffer.load(Path(directory) / replay)  # damage: one line, buffer untouched
        self._obs = None  # without a snapshot, the resumed run starts new episodes
        if state.get("in_flight"):
            self._restore_in_flight(state["in_flight"], str(directory))
