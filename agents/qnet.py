"""Builds the Q-network agent a run asks for (``--q-net mlp`` or ``--q-net classic``)."""

from __future__ import annotations

from agents.config import RunConfig, parse_hidden


def make_qnet_agent(cfg: RunConfig, env, make_vector_env):
    if cfg.agent == "classic":
        from agents.classic import ClassicConfig, ClassicQNetworkAgent

        return ClassicQNetworkAgent(env, ClassicConfig(gamma=cfg.gamma, lr=cfg.lr), cfg.seed)
    from agents.dqn import DQNAgent, DQNConfig

    dqn = DQNConfig(
        hidden=tuple(parse_hidden(cfg.hidden)),
        gamma=cfg.gamma,
        lr=cfg.lr,
        lr_end=cfg.lr_end,
        lr_decay=cfg.lr_decay,
        lr_schedule=cfg.lr_schedule,
        double=cfg.double,
        loss=cfg.loss,
        grad_clip=cfg.grad_clip,
        buffer_size=cfg.buffer_size,
        batch_size=cfg.batch_size,
        learning_starts=cfg.learning_starts,
        train_every=cfg.train_every,
        target_update=cfg.target_update,
        tau=cfg.tau,
        n_step=cfg.n_step,
        num_envs=cfg.num_envs,
        epsilon_start=cfg.epsilon_start,
        epsilon_end=cfg.epsilon_end,
        epsilon_decay=cfg.epsilon_decay,
        epsilon_schedule=cfg.epsilon_schedule,
        save_replay=cfg.save_replay,
    )
    return DQNAgent(make_vector_env(cfg.num_envs), dqn, cfg.seed, encoder=cfg.encoder)
