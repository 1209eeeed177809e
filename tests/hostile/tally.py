"""Tries per class of hostile input, and how many end cleanly: ``python -m tests.hostile.tally``.

Each class feeds seeded random inputs (the kinds the tests generate) to the project's own
entry points, in process, and counts the outcomes: ``clean`` (accepted and sane, or refused
with one UsageError line / argparse exit 2), ``traceback`` (any other exception) and
``accepted_bad`` (a NaN, a negative seed... taken as valid). Prints JSON. Seconds to minutes.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import random
import shutil
import sys
import tempfile
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np

from common.errors import UsageError

TRIES = int(os.environ.get("TALLY_TRIES", "100"))


def outcome(call, sane=lambda result: True) -> str:
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            result = call()
    except UsageError as exc:
        return "clean" if "\n" not in str(exc).strip() else "multi_line"
    except SystemExit as exc:
        return "clean" if exc.code == 2 else f"exit_{exc.code}"
    except Exception as exc:  # noqa: BLE001 - what we count
        return f"traceback:{type(exc).__name__}"
    return "clean" if sane(result) else "accepted_bad"


def damage(raw: bytes, rng: random.Random) -> bytes:
    out = bytearray(raw)
    how = rng.choice(["truncate", "flip", "garbage"])
    if how == "truncate":
        return bytes(out[: rng.randrange(max(1, len(out)))])
    if how == "flip":
        for _ in range(rng.randint(1, 6)):
            i = rng.randrange(len(out))
            out[i] ^= 1 << rng.randrange(8)
        return bytes(out)
    return rng.randbytes(rng.randrange(300))


def random_text(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(n)))


# -- classes ----------------------------------------------------------------------------------
def maps(rng, tmp):
    from envs.maps import parse_map

    def one():
        kind = rng.random()
        if kind < 0.3:
            spec = "random:" + random_text(rng, "0123456789٣３-e ", 4)
        elif kind < 0.6:
            h, w = rng.randint(1, 130), rng.randint(1, 130)
            rows = ["".join(rng.choice("FFFH") for _ in range(w)) for _ in range(h)]
            rows[0] = "S" + rows[0][1:]
            rows[-1] = rows[-1][:-1] + "G"
            spec = ",".join(rows)
        else:
            spec = random_text(rng, "SFHG,x ٣\n", 40)
        return parse_map(spec)

    return one


TOML_KEYS = ["episodes", "seed", "map", "map-seed", "lr", "gamma", "q-net", "agent",
             "hidden", "max-episode-steps", "buffer-size", "num-envs", "grad-clip"]  # fmt: skip
TOML_VALUES = ["nan", "inf", "-1", "4294967296", "1e300", "5", "0.5", '"mlp"', '"evil"', "[]",
               '"random:٣"', '"1000000000"', "1000000000", "true", '"10"', "{a = 1}"]  # fmt: skip


def sane_run_config(result) -> bool:
    cfg = result[0]
    floats = [v for s in (cfg, cfg.agent_config) for v in vars(s).values() if isinstance(v, float)]
    return all(math.isfinite(v) for v in floats) and 0 <= cfg.seed < 2**32


def toml_values(rng, tmp):
    from agents.run import resolve_config

    def one():
        lines = [f"{rng.choice(TOML_KEYS)} = {rng.choice(TOML_VALUES)}" for _ in range(3)]
        path = tmp / "run.toml"
        path.write_text("\n".join(dict.fromkeys(lines)), encoding="utf-8")
        return resolve_config(["frozenlake", "--config", str(path)])

    return one, sane_run_config


def toml_files(rng, tmp):
    """Whole files: damaged bytes, deep nesting, non-UTF-8, through agents.run."""
    from agents.run import resolve_config

    def one():
        kind = rng.random()
        if kind < 0.3:
            raw = b"a = " + b"[" * rng.randint(100, 5000) + b"]" * 10
        elif kind < 0.6:
            raw = damage(b'episodes = 100\nlr = 0.1\nmap = "4x4"\n', rng)
        else:
            raw = b'map = "4x4"\nlr = 0.1 # ' + rng.randbytes(8)
        (tmp / "f.toml").write_bytes(raw)
        return resolve_config(["frozenlake", "--config", str(tmp / "f.toml")])

    return one, sane_run_config


def config_json_agents(rng, tmp):
    from agents.run import resolve_config

    keys = ["agent", "seed", "lr", "episodes", "map", "checkpoint_dir", "hidden", "env"]
    values = [None, -1, 2**40, "evil", [], {}, 1.5, "nan", True, "4x4", "dqn", "١"]

    def one():
        run = tmp / "run"
        run.mkdir(exist_ok=True)
        if rng.random() < 0.3:
            raw = damage(b'{"agent": "tabular", "seed": 0, "episodes": 100}', rng)
        else:
            doc = {rng.choice(keys): rng.choice(values) for _ in range(3)}
            raw = json.dumps(doc if rng.random() < 0.9 else list(doc)).encode()
        (run / "config.json").write_bytes(raw)
        return resolve_config(["frozenlake", "--logdir", str(run), "--resume"])

    return one, sane_run_config


def config_json_networks(rng, tmp):
    from networks.train import build_parser, config_from_args

    keys = ["model", "seed", "lr", "epochs", "batch_size", "save", "noise_level", "x"]
    values = [None, -1, 2**40, "evil", [], {}, 1.5, "softmax", True, 0, "model.keras"]

    def one():
        run = tmp / "run"
        run.mkdir(exist_ok=True)
        if rng.random() < 0.3:
            raw = damage(b'{"model": "softmax", "seed": 0, "epochs": 2}', rng)
        else:
            raw = json.dumps({rng.choice(keys): rng.choice(values) for _ in range(3)}).encode()
        (run / "config.json").write_bytes(raw)
        args = build_parser().parse_args(["--logdir", str(run), "--resume"])
        return config_from_args(args)

    def sane(cfg):
        return 0 <= cfg.seed < 2**32 and (cfg.lr is None or math.isfinite(cfg.lr))

    return one, sane


def number_flags(rng, tmp):
    from agents.run import resolve_config
    from networks.generate import build_parser as generate_parser
    from networks.generate import check_options
    from networks.train import build_parser as train_parser
    from networks.train import config_from_args

    texts = ["nan", "inf", "-1", "4294967296", "٣", "１", "1e999", "0x10", "1_0", "3", "0.5",
             "1e-320", "1000000000", " 7", "+2"]  # fmt: skip

    def one():
        text = rng.choice(texts)
        which = rng.randrange(3)
        if which == 0:
            flag = rng.choice(["--seed", "--lr", "--episodes", "--gamma", "--map-seed"])
            return resolve_config(["frozenlake", flag, text])[0]
        if which == 1:
            flag = rng.choice(["--seed", "--lr", "--epochs", "--batch-size"])
            return config_from_args(train_parser().parse_args(["softmax", flag, text]))
        flag = rng.choice(["--seed", "--temperature", "--words"])
        a = generate_parser().parse_args(["m.keras", flag, text])
        check_options(a.temperature, a.words, a.seed)
        return a

    def sane(result):
        if isinstance(result, tuple):
            result = result[0]
        seed = getattr(result, "seed", 0)
        floats = [v for v in vars(result).values() if isinstance(v, float)]
        return 0 <= seed < 2**32 and all(math.isfinite(v) for v in floats)

    return one, sane


def npz_tabular(rng, tmp):
    """A tabular checkpoint, damaged or crafted, through the agent's restore (today's code)."""
    import envs
    from agents.config import build_config
    from agents.tabular import TabularQAgent

    cfg = build_config({}, {})
    env = envs.make("frozenlake")
    agent = TabularQAgent(env, cfg.agent_config, seed=0) if _takes_seed(TabularQAgent) else None
    folder = tmp / "ck"
    folder.mkdir(exist_ok=True)
    if agent is None:
        return None
    agent.save(folder)
    good = (folder / "checkpoint.npz").read_bytes()
    arrays = dict(np.load(folder / "checkpoint.npz"))

    def one():
        kind = rng.random()
        if kind < 0.5:
            (folder / "checkpoint.npz").write_bytes(damage(good, rng))
        else:
            crafted = dict(arrays)
            crafted[rng.choice(["q", "episodes", "env_steps"])] = rng.choice(
                [np.full_like(arrays["q"], np.nan), np.int64(-5), np.zeros((2, 2)), np.int64(2**62)]
            )
            np.savez(folder / "checkpoint.npz", **crafted)
        agent.restore(folder)
        return agent

    def sane(a):
        return bool(np.isfinite(a.q).all()) and a.episodes >= 0 and a.env_steps >= 0

    return one, sane


def npz_tabular_proposed(rng, tmp):
    """The same files through common.safe_npz with the tabular specs (the proposed edit)."""
    from common.safe_npz import ArraySpec, read_npz

    made = npz_tabular(rng, tmp)
    if made is None:
        return None
    folder = tmp / "ck"
    specs = {
        "q": ArraySpec("f", (16, 4)),
        "episodes": ArraySpec("iu", (), min=0),
        "env_steps": ArraySpec("iu", (), min=0),
    }
    good = (folder / "checkpoint.npz").read_bytes()
    arrays = dict(np.load(folder / "checkpoint.npz"))

    def one():
        if rng.random() < 0.5:
            (folder / "checkpoint.npz").write_bytes(damage(good, rng))
        else:
            crafted = dict(arrays)
            crafted[rng.choice(["q", "episodes", "env_steps"])] = rng.choice(
                [np.full_like(arrays["q"], np.nan), np.int64(-5), np.zeros((2, 2)), np.int64(2**62)]
            )
            np.savez(folder / "checkpoint.npz", **crafted)
        return read_npz(folder / "checkpoint.npz", specs)

    return one


def toml_files_proposed(rng, tmp):
    """The same files through common.toml_config.load_toml (the proposed read_toml edit)."""
    from agents.config import normalise_keys
    from common.toml_config import load_toml

    def one():
        kind = rng.random()
        if kind < 0.3:
            raw = b"a = " + b"[" * rng.randint(100, 5000) + b"]" * 10
        elif kind < 0.6:
            raw = damage(b'episodes = 100\nlr = 0.1\nmap = "4x4"\n', rng)
        else:
            raw = b'map = "4x4"\nlr = 0.1 # ' + rng.randbytes(8)
        (tmp / "f.toml").write_bytes(raw)
        return normalise_keys(load_toml(str(tmp / "f.toml")), "config file f.toml")

    return one


def _takes_seed(cls) -> bool:
    import inspect

    return "seed" in inspect.signature(cls).parameters


def npz_generic(rng, tmp):
    from common.safe_npz import ArraySpec, read_npz

    np.savez(tmp / "g.npz", q=np.zeros((16, 4)), n=np.arange(3))
    good = (tmp / "g.npz").read_bytes()

    def one():
        if rng.random() < 0.3:  # a header claiming a huge array
            buf = io.BytesIO()
            shape = tuple(rng.choice([10**6, 10**5, 3, 0]) for _ in range(rng.randint(1, 3)))
            np.lib.format.write_array_header_1_0(
                buf, {"descr": "<f8", "fortran_order": False, "shape": shape}
            )
            with zipfile.ZipFile(tmp / "b.npz", "w") as zf:
                zf.writestr("q.npy", buf.getvalue() + b"\0" * 16)
        else:
            (tmp / "b.npz").write_bytes(damage(good, rng))
        return read_npz(tmp / "b.npz", {"q": ArraySpec("f", (16, 4))})

    return one


def replay(rng, tmp):
    from agents.replay import ReplayBuffer

    buf = ReplayBuffer(32, (4,))
    buf.add_batch(np.ones((8, 4)), np.zeros(8, int), np.ones(8), np.ones((8, 4)), np.ones(8))
    buf.save(tmp / "replay.npz")
    good = (tmp / "replay.npz").read_bytes()

    def one():
        (tmp / "r.npz").write_bytes(damage(good, rng))
        ReplayBuffer(32, (4,)).load(tmp / "r.npz")

    return one


def dqn_state(rng, tmp):
    """The JSON state of a DQN checkpoint (counters, streams, episodes in flight), one leaf
    replaced by a random value or removed."""
    import envs
    from agents.config import DQNConfig
    from agents.dqn import DQNAgent

    def make():
        config = DQNConfig(num_envs=2, n_step=2, hidden=(8,), learning_starts=8, batch_size=4)
        return DQNAgent(envs.make_vector("frozenlake", 2), config, seed=0)

    played, fresh = make(), make()
    played.train_chunk(3)
    checkpoint, real_save = played._checkpoint, played._checkpoint.save
    junk = [None, True, -1, 2**70, 1e308, float("nan"), "x", [], [1, "a"], {}, {"a": 1}]

    def leaves(tree, path=()):
        items = tree.items() if isinstance(tree, dict) else enumerate(tree)
        for key, value in items:
            if isinstance(value, (dict, list)) and value:
                yield from leaves(value, (*path, key))
            else:
                yield (*path, key)

    def damaging_save(directory, *, meta, state):
        number, state = state["env_steps"], json.loads(json.dumps(state))
        path = rng.choice(list(leaves(state)))
        node = state
        for key in path[:-1]:
            node = node[key]
        if rng.random() < 0.8:
            node[path[-1]] = rng.choice(junk)
        else:
            del node[path[-1]]
        return real_save(directory, meta=meta, state=state, number=number)

    count = [0]

    def one():
        count[0] += 1
        checkpoint.save = damaging_save
        try:
            played.save(tmp / f"ck{count[0]}")
        finally:
            checkpoint.save = real_save
        fresh.restore(tmp / f"ck{count[0]}")

    return one


def tf_checkpoints(rng, tmp):
    import glob

    import tensorflow as tf

    from agents.tf_checkpoint import TFCheckpoint

    ck = TFCheckpoint(v=tf.Variable(tf.zeros((20, 10))))
    meta = {"agent_kind": "dqn", "env_identity": "e"}
    ck.save(tmp / "tf", meta=meta, state={"env_steps": 5})
    files = {p: Path(p).read_bytes() for p in glob.glob(str(tmp / "tf" / "ckpt-*"))}

    def one():
        victim = rng.choice(sorted(files))
        for p, raw in files.items():
            Path(p).write_bytes(damage(raw, rng) if p == victim else raw)
        return ck.restore(tmp / "tf", meta=meta)

    return one


def archives(rng, tmp):
    import tarfile

    from networks.download import safe_extract_tar

    def tar(mode):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode=mode) as t:
            info = tarfile.TarInfo("a/train.txt")
            body = b"hello " * 100
            info.size = len(body)
            t.addfile(info, io.BytesIO(body))
        return buf.getvalue()

    goods = {m: tar(m) for m in ("w:gz", "w:xz", "w:bz2")}

    def one():
        raw = damage(goods[rng.choice(sorted(goods))], rng)
        (tmp / "a.tar").write_bytes(raw if rng.random() < 0.9 else b"")
        out = tmp / "out"
        shutil.rmtree(out, ignore_errors=True)
        return safe_extract_tar(tmp / "a.tar", out)

    return one


def imdb_archives(rng, tmp):
    """The IMDB reader of networks/text.py (not issue 15's file): today's behaviour."""
    import tarfile

    from networks.text import read_imdb_tar

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz") as t:
        for i, split in enumerate(["train/pos", "train/neg", "test/pos", "test/neg"]):
            info = tarfile.TarInfo(f"aclImdb/{split}/{i}_7.txt")
            info.size = 4
            t.addfile(info, io.BytesIO(b"good"))
    good = buf.getvalue()

    def one():
        (tmp / "aclImdb_v1.tar.xz").write_bytes(damage(good, rng) if rng.random() < 0.9 else b"")
        return read_imdb_tar(tmp / "aclImdb_v1.tar.xz")

    return one


def mnist_arrays(rng, tmp):
    from networks.datasets import load_dataset

    def one():
        x = np.random.default_rng(rng.randrange(99)).integers(0, 256, (40, 28, 28))
        dtype = rng.choice(["float32", "complex64", "int64", "bool", "<U1"])
        x = x.astype(dtype) if dtype != "<U1" else x.astype(str).astype("<U1")
        if dtype in ("float32", "complex64"):
            x.flat[rng.randrange(x.size)] = rng.choice([np.nan, np.inf, -1, 300, 5])
        folder = tmp / "m"
        folder.mkdir(exist_ok=True)
        np.savez(folder / "mnist.npz", x_train=x, y_train=np.arange(40) % 10,
                 x_test=x[:10], y_test=np.arange(10))  # fmt: skip
        return load_dataset("mnist", folder)

    def sane(data):
        return data.x_train.dtype == np.uint8

    return one, sane


def output_paths(rng, tmp):
    from common.runfolder import check_output_dir, check_output_file

    (tmp / "file").write_text("x")
    (tmp / "dir").mkdir(exist_ok=True)
    parts = ["file", "dir", "new", "..", ".", "/proc/self", "/dev/null", "ckpt"]

    def one():
        path = os.path.join(str(tmp), *[rng.choice(parts) for _ in range(rng.randint(1, 3))])
        if rng.random() < 0.5:
            return check_output_dir(path, "--logdir")
        return check_output_file(path, "--summary-json", {"checkpoint": tmp / "ckpt"})

    return one


CLASSES = {
    "maps": maps,
    "toml values (agents.run)": toml_values,
    "toml files (agents.run)": toml_files,
    "toml files (after the read_toml edit)": toml_files_proposed,
    "config.json on --resume (agents.run)": config_json_agents,
    "config.json on --resume (networks.train)": config_json_networks,
    "numbers on the command line (3 CLIs)": number_flags,
    "tabular checkpoint npz (agents)": npz_tabular,
    "tabular checkpoint npz (after the load_npz edit)": npz_tabular_proposed,
    "npz headers and damage (common.safe_npz)": npz_generic,
    "replay.npz": replay,
    "TF checkpoints": tf_checkpoints,
    "DQN checkpoint state (episodes in flight)": dqn_state,
    "archives (networks.download)": archives,
    "IMDB archive (networks.text)": imdb_archives,
    "MNIST arrays": mnist_arrays,
    "output paths": output_paths,
}


def main() -> None:
    only = sys.argv[1:]
    report = {}
    for name, make in CLASSES.items():
        if only and not any(o in name for o in only):
            continue
        tmp = Path(tempfile.mkdtemp())
        rng = random.Random(15)
        try:
            made = make(rng, tmp)
        except Exception as exc:  # noqa: BLE001
            report[name] = {"setup_failed": f"{type(exc).__name__}: {exc}"[:200]}
            continue
        if made is None:
            report[name] = {"setup_failed": "entry point changed"}
            continue
        one, sane = made if isinstance(made, tuple) else (made, lambda result: True)
        counts = Counter(outcome(one, sane) for _ in range(TRIES))
        report[name] = {"tries": TRIES, "clean": counts.pop("clean", 0), **dict(counts)}
        shutil.rmtree(tmp, ignore_errors=True)
        print(json.dumps({name: report[name]}), file=sys.stderr, flush=True)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
