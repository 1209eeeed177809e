"""agents.run's options from generated TOML files and damaged config.json files on --resume:
a checked config, or one line (exit 2); never a traceback, never a NaN, never a wrong type."""

from __future__ import annotations

import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.run import resolve_config
from common.errors import UsageError
from tests.hostile.helpers import assert_one_line, snapshot

FIXTURE = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
KEYS = [
    "episodes", "seed", "map", "map-seed", "lr", "gamma", "q-net", "agent", "slippery",
    "max-episode-steps", "buffer-size", "hidden", "num-envs", "grad-clip", "epsilon-end",
    "batch-size", "eval-episodes", "summary-json", "nonsense",
]  # fmt: skip
values = st.one_of(
    st.booleans(),
    st.integers(-(2**64), 2**64),
    st.floats(),
    st.text(max_size=6),
    st.sampled_from(["mlp", "classic", "evil", "random:٣", "4x4", "SG", "1000000000", "64,64"]),
    st.lists(st.integers(-5, 5), max_size=3),
)


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return (
            "nan"
            if math.isnan(value)
            else ("inf" if value > 0 else "-inf")
            if math.isinf(value)
            else repr(value)
        )
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string for what json writes
    return "[" + ", ".join(toml_value(v) for v in value) + "]"


def accepted_config_is_sane(cfg) -> None:
    for source in (cfg, cfg.agent_config):
        for name, value in vars(source).items():
            if isinstance(value, float):
                assert math.isfinite(value), name
    assert 0 <= cfg.seed < 2**32


@FIXTURE
@given(st.dictionaries(st.sampled_from(KEYS), values, max_size=4))
def test_toml_values_are_checked(tmp_path, document):
    path = tmp_path / "run.toml"
    text = "\n".join(f"{k} = {toml_value(v)}" for k, v in document.items())
    try:
        path.write_text(text, encoding="utf-8")
    except UnicodeEncodeError:
        return
    try:
        cfg, _ = resolve_config(["frozenlake", "--config", str(path)])
    except UsageError as exc:
        assert_one_line(str(exc))
    else:
        accepted_config_is_sane(cfg)


@FIXTURE
@given(
    st.dictionaries(st.sampled_from([*KEYS, "env", "checkpoint_dir"]), values, max_size=4)
    | st.lists(st.integers(), max_size=2)
    | st.binary(max_size=40)
)
def test_damaged_config_json_on_resume_is_one_line(tmp_path, document):
    run = tmp_path / "run"
    run.mkdir(exist_ok=True)
    raw = document if isinstance(document, bytes) else json.dumps(document).encode()
    (run / "config.json").write_bytes(raw)
    before = snapshot(run)
    try:
        cfg, _ = resolve_config(["frozenlake", "--logdir", str(run), "--resume"])
    except UsageError as exc:
        assert_one_line(str(exc))
    else:
        accepted_config_is_sane(cfg)
    assert snapshot(run) == before
