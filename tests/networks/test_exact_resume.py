"""A networks.train run stopped by Ctrl-C mid-epoch and resumed with ``--resume`` is the
uninterrupted run bit for bit: every variable (weights, optimizer, seed generators), the
history, the summary's numbers and the TensorBoard curves. The models carry Dropout (mnist-cnn),
random augmentation (emotion-cnn) or noise drawn in the data pipeline (the denoiser), so the
data order and every random state must continue, not be drawn anew."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from common.errors import run_main
from networks.feed import epoch_order, ordered_batches
from networks.train import main
from tests.networks.conftest import write_fer_npz, write_mnist_npz

EPOCHS, BATCH, SEED = 3, 40, 7  # 288 MNIST training examples: 7 full batches and one of 8


def cli(model: str, data: Path, logdir: Path) -> list[str]:
    return [
        model, "--epochs", str(EPOCHS), "--batch-size", str(BATCH), "--seed", str(SEED),
        "--data-dir", str(data), "--logdir", str(logdir), "--no-dashboard",
    ]  # fmt: skip


def stop_mid_epoch(monkeypatch, model: str, epoch: int, batch: int) -> None:
    """Ctrl-C lands after ``batch`` batches of ``epoch`` (0-based): the user's path."""
    from networks import catalog
    from networks.feed import ordered_fit

    class CtrlC(keras.callbacks.Callback):
        def on_train_batch_end(self, b, logs=None):
            if self._epoch == epoch and b + 1 == batch:
                os.kill(os.getpid(), signal.SIGINT)

        def on_epoch_begin(self, e, logs=None):
            self._epoch = e

    spec = catalog.MODELS[model]
    inner = spec.fit or ordered_fit

    def fit(m, context, **kwargs):
        kwargs["callbacks"] = [*kwargs["callbacks"], CtrlC()]
        return inner(m, context, **kwargs)

    monkeypatch.setitem(catalog.MODELS, model, dataclasses.replace(spec, fit=fit))


def events(folder: Path) -> Counter:
    """Every (tag, step, value) in a TensorBoard folder's event files, as a multiset. Layer
    numbers are dropped from histogram tags (``dense_3/kernel``): Keras numbers layers per
    process and these runs share one."""
    seen: Counter = Counter()
    for path in folder.glob("events.out.tfevents.*"):
        for raw in tf.data.TFRecordDataset(str(path)):
            event = tf.compat.v1.Event.FromString(raw.numpy())
            for v in event.summary.value:
                tag = re.sub(r"_\d+/", "/", v.tag)
                seen[(tag, event.step, v.tensor.SerializeToString())] += 1
    return seen


def arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


@pytest.mark.parametrize(
    "model, dataset",
    [("mnist-cnn", "mnist"), ("denoising-autoencoder", "mnist"), ("emotion-cnn", "fer")],
)
def test_interrupted_and_resumed_is_the_uninterrupted_run_bit_for_bit(
    tmp_path, monkeypatch, capsys, model, dataset
):
    if dataset == "mnist":
        data = write_mnist_npz(tmp_path / "data").parent
    else:
        data = write_fer_npz(tmp_path / "data", n=120).parent
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert run_main(main, cli(model, data, whole)) == 0

    stop_mid_epoch(monkeypatch, model, epoch=1, batch=2)
    assert run_main(main, cli(model, data, cut)) == 130
    assert "--resume" in capsys.readouterr().err
    monkeypatch.undo()
    assert json.loads((cut / "checkpoint" / "state.json").read_text())["epochs_done"] == 1
    assert run_main(main, ["--logdir", str(cut), "--resume", "--no-dashboard"]) == 0

    a, b = (json.loads((d / "summary.json").read_text()) for d in (whole, cut))
    assert b["resumed_after"] == 1 and a["epochs"] == b["epochs"] == EPOCHS
    assert a["history"] == b["history"]
    for key in ("test_loss", "test_accuracy", "confusion_matrix", "test_mse", "test_psnr"):
        assert (key in a) == (key in b) and a.get(key) == b.get(key), key
    # Every variable of the last checkpoint: weights, optimizer, seed-generator states.
    wa, wb = arrays(whole / "checkpoint" / "state.npz"), arrays(cut / "checkpoint" / "state.npz")
    assert wa.keys() == wb.keys()
    assert any(k.startswith("s") for k in wa) == (model != "denoising-autoencoder")  # seeds
    for key in wa:
        assert wa[key].dtype == wb[key].dtype and np.array_equal(wa[key], wb[key]), key
    ma, mb = (keras.saving.load_model(d / "model.keras", safe_mode=True) for d in (whole, cut))
    for va, vb in zip(ma.weights, mb.weights, strict=True):
        assert np.array_equal(va.numpy(), vb.numpy()), va.path
    # TensorBoard: the same curves and histograms, no point of the cut epoch left over.
    for sub in ("train", "validation"):
        assert events(whole / sub) == events(cut / sub), sub


def batches_of(ds: tf.data.Dataset) -> list[np.ndarray]:
    return [x.numpy() for x, _ in ds]


@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(1, 50),
    batch=st.integers(1, 16),
    seed=st.integers(0, 2**32 - 1),
    first=st.integers(0, 3),
)
def test_an_epochs_batches_depend_on_seed_and_epoch_only(n, batch, seed, first):
    x = np.arange(n, dtype=np.int64)
    epochs = first + 2
    steps = -(-n // batch)
    from_start = batches_of(ordered_batches(x, x, batch, seed, 0, epochs))
    resumed = batches_of(ordered_batches(x, x, batch, seed, first, epochs))
    assert len(from_start) == steps * epochs and len(resumed) == steps * (epochs - first)
    for got, want in zip(resumed, from_start[first * steps :], strict=True):
        assert np.array_equal(got, want)
    for e in range(epochs):  # every example once per epoch, in epoch_order(seed, e)
        order = np.concatenate(from_start[e * steps : (e + 1) * steps])
        assert np.array_equal(order, epoch_order(seed, e, n))
        assert [len(b) for b in from_start[e * steps : (e + 1) * steps]] == [
            min(batch, n - i) for i in range(0, n, batch)
        ]


def test_batch_keys_follow_the_batch_not_the_process():
    x = np.arange(10, dtype=np.float32)
    seen = []

    def transform(xb, yb, key):
        return xb, tf.broadcast_to(key, [tf.shape(yb)[0], 2])

    for first in (0, 2):
        ds = ordered_batches(x, x, 4, 5, first, 3, transform)
        seen.append([k.numpy()[0].tolist() for _, k in ds])
    assert seen[0][6:] == seen[1] and len(set(map(tuple, seen[0]))) == 9
    assert {s for s, _ in seen[0]} == {5}


DRIVER = """
import sys
from common.errors import run_main
from networks.train import main
from tests.networks.test_exact_resume import stop_mid_epoch

class Patch:  # pytest's monkeypatch.setitem, in a fresh process
    setitem = staticmethod(lambda d, k, v: d.__setitem__(k, v))

if sys.argv[1] == "cut":
    stop_mid_epoch(Patch, "mnist-cnn", epoch=1, batch=3)
sys.exit(run_main(main, sys.argv[2:]))
"""


def test_exact_under_a_mirrored_strategy_of_two_devices(tmp_path):
    """--strategy mirrored over two logical CPUs (a fresh process each: devices are set before
    TensorFlow starts): the batches split over the replicas, the resume still exact."""
    data = write_mnist_npz(tmp_path / "data").parent
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root), "TF_CPP_MIN_LOG_LEVEL": "2"}
    mirrored = ["--strategy", "mirrored", "--cpu-devices", "2"]

    def run(kind: str, *args: str) -> int:
        cmd = [sys.executable, "-c", DRIVER, kind, *args, *mirrored]
        done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert "Traceback" not in done.stderr, done.stderr[-3000:]
        return done.returncode

    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert run("whole", *cli("mnist-cnn", data, whole)) == 0
    assert run("cut", *cli("mnist-cnn", data, cut)) == 130
    assert run("resume", "--logdir", str(cut), "--resume", "--no-dashboard") == 0
    a, b = (json.loads((d / "summary.json").read_text()) for d in (whole, cut))
    assert b["resumed_after"] == 1 and a["history"] == b["history"]
    assert (a["test_loss"], a["confusion_matrix"]) == (b["test_loss"], b["confusion_matrix"])
    wa, wb = arrays(whole / "checkpoint" / "state.npz"), arrays(cut / "checkpoint" / "state.npz")
    assert int(wa["o0"]) == EPOCHS * -(-288 // (2 * BATCH))  # global batches of two replicas
    assert any("r" in key for key in wa)  # batch-norm statistics kept per replica
    assert wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)
    for sub in ("train", "validation"):
        assert events(whole / sub) == events(cut / sub), sub


def tiny_model(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inp = keras.Input((4,))
    out = keras.layers.Dense(2)(keras.layers.Dropout(0.5)(keras.layers.Dense(3)(inp)))
    model = keras.Model(inp, out)
    model.compile(optimizer="adam", loss="mse")
    model.optimizer.build(model.trainable_variables)
    return model


def state_of(model: keras.Model) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(v) for v in [*model.variables, *model.optimizer.variables]]


def test_the_checkpoint_holds_every_variable_and_refuses_what_does_not_fit(tmp_path):
    from common.errors import UsageError
    from networks.random_state import seed_states
    from networks.resume import TrainCheckpoint

    model = tiny_model(1)
    model.fit(np.ones((8, 4)), np.zeros((8, 2)), epochs=1, verbose=0)  # seeds and moments move
    checkpoint = TrainCheckpoint(tmp_path, {"model": "tiny"})
    checkpoint.save(model, 1, {"loss": [0.5]})
    other = tiny_model(2)
    assert len(seed_states(other)) == 1
    pairs = zip(state_of(model), state_of(other), strict=True)
    assert not all(np.array_equal(a, b) for a, b in pairs)
    checkpoint.restore(other)
    assert all(np.array_equal(a, b) for a, b in zip(state_of(model), state_of(other), strict=True))

    saved = arrays(checkpoint.arrays)
    for extra, match in (({"w99": np.zeros(1)}, "does not fit"), ({"w0r1": np.zeros(1)}, "shape")):
        np.savez(checkpoint.arrays, **saved, **extra)
        with pytest.raises(UsageError, match=match) as info:
            checkpoint.restore(tiny_model(3))
        assert "\n" not in str(info.value)

    def rewrite(state: dict) -> None:
        meta = np.frombuffer(json.dumps(state).encode(), np.uint8)
        np.savez(checkpoint.arrays, **{**saved, "meta": meta})

    state = json.loads(bytes(saved["meta"]))
    assert state == json.loads(checkpoint.state.read_text())  # state.json: a readable copy
    for count, match in ((2, "2 seed generators saved"), ("1", "damaged")):
        rewrite({**state, "seed_states": count})
        with pytest.raises(UsageError, match=match):
            checkpoint.restore(tiny_model(3))
    # Killed between the arrays and state.json: the arrays' own count and history win.
    rewrite({**state, "epochs_done": 2, "history": {"loss": [0.5, 0.25]}})
    assert checkpoint.read() == (2, {"loss": [0.5, 0.25]})
    # A checkpoint from before seed states were saved (no meta, no seeds): resumes, the
    # model's own seeds kept.
    del state["seed_states"]
    checkpoint.state.write_text(json.dumps(state))
    np.savez(checkpoint.arrays, **{k: v for k, v in saved.items() if k[0] in "wo"})
    assert checkpoint.read() == (1, {"loss": [0.5]})
    fresh = tiny_model(3)
    own = keras.ops.convert_to_numpy(seed_states(fresh)[0])
    checkpoint.restore(fresh)
    assert np.array_equal(keras.ops.convert_to_numpy(seed_states(fresh)[0]), own)
    assert np.array_equal(fresh.get_weights()[0], model.get_weights()[0])


@settings(max_examples=40, deadline=None)
@given(
    meta=st.binary(max_size=40)
    | st.dictionaries(
        st.sampled_from(["identity", "epochs_done", "history", "seed_states"]),
        st.none() | st.integers(-3, 3) | st.text(max_size=3) | st.just({"model": "tiny"}),
    ).map(lambda d: json.dumps(d).encode())
)
def test_a_damaged_checkpoint_meta_is_one_line(tmp_path_factory, meta):
    from common.errors import UsageError
    from networks.resume import TrainCheckpoint

    checkpoint = TrainCheckpoint(tmp_path_factory.mktemp("ck"), {"model": "tiny"})
    checkpoint.folder.mkdir()
    np.savez(checkpoint.arrays, w0=np.zeros(2), meta=np.frombuffer(meta, np.uint8))
    try:
        done, history = checkpoint.read()
    except UsageError as exc:
        assert "\n" not in str(exc) and str(checkpoint.folder) in str(exc)
    else:
        assert isinstance(done, int) and done >= 0 and isinstance(history, dict)


RATES = ("words/s", "reviews/s")  # wall-clock throughput: never the same twice


@pytest.mark.parametrize("name, dropout", [("ptb-lm-small", 0.0), ("ptb-lm-medium", 0.3)])
def test_a_language_model_resumes_exactly(tmp_path, monkeypatch, capsys, name, dropout):
    """The ptb-lm models keep their own checkpoint (<logdir>/resume); with dropout (medium's
    recipe, here tiny) the seed generators must continue too."""
    from networks import catalog
    from networks.language_model import LMConfig, lm_spec
    from tests.networks.textdata import write_ptb

    tiny = LMConfig(units=16, steps=5, dropout=dropout, init=0.5, decay=0.5, decay_after=1)
    spec = lm_spec(name, tiny, f"tiny, dropout {dropout}", epochs=EPOCHS)
    monkeypatch.setitem(catalog.MODELS, name, spec)
    data = write_ptb(tmp_path / "data", lines=(120, 15, 15))
    args = [name, "--epochs", str(EPOCHS), "--batch-size", "4", "--lr", "0.5"]
    args += ["--seed", str(SEED), "--data-dir", str(data), "--no-dashboard"]
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert run_main(main, [*args, "--logdir", str(whole)]) == 0

    with monkeypatch.context() as patch:
        stop_mid_epoch(patch, name, epoch=1, batch=2)
        assert run_main(main, [*args, "--logdir", str(cut)]) == 130
    assert json.loads((cut / "resume" / "state.json").read_text())["epochs_done"] == 1
    assert run_main(main, ["--logdir", str(cut), "--resume", "--no-dashboard"]) == 0
    assert f"resuming {name} after epoch 1" in capsys.readouterr().err

    a, b = (json.loads((d / "summary.json").read_text()) for d in (whole, cut))
    assert b["resumed_after"] == 1 and a["epochs"] == b["epochs"] == EPOCHS
    assert {k: v for k, v in a["history"].items() if k not in RATES} == {
        k: v for k, v in b["history"].items() if k not in RATES
    }
    for key in ("test_perplexity", "valid_perplexity", "test_loss"):
        assert a[key] == b[key], key
    ma, mb = (keras.saving.load_model(d / "model.keras", safe_mode=True) for d in (whole, cut))
    for va, vb in zip(ma.weights, mb.weights, strict=True):
        assert np.array_equal(va.numpy(), vb.numpy()), va.path
    for sub in ("train", "validation"):
        ea, eb = events(whole / sub), events(cut / sub)
        assert {k: n for k, n in ea.items() if not k[0].endswith(RATES)} == {
            k: n for k, n in eb.items() if not k[0].endswith(RATES)
        }, sub


def test_the_language_model_checkpoint_pairs_its_files_whatever_the_kill(tmp_path, monkeypatch):
    """Files of epoch K+1 written, state.json not yet (a kill in between): the checkpoint is
    still epoch K's, weights, seeds and optimizer; once the JSON names K+1, K's files go."""
    from networks import lm_checkpoint
    from networks.language_model import LMConfig, lm_network, stateful_twin
    from networks.lm_checkpoint import Checkpoint

    cfg = LMConfig(units=8, steps=3, dropout=0.3, init=0.5, decay=0.5, decay_after=1)
    vocab = tuple(f"w{i}" for i in range(6))

    def twin() -> keras.Model:
        return stateful_twin(lm_network("lm", cfg, vocab), cfg, batch=2, lr=1.0)

    def values(model: keras.Model) -> list[np.ndarray]:
        every = [*model.variables, *model.optimizer.variables]
        return [keras.ops.convert_to_numpy(v) for v in every]

    keras.utils.set_random_seed(0)
    model, x, y = twin(), tf.constant([["w1", "w2", "w3"], ["w4", "w5", "w0"]]), np.ones((2, 3))
    model.fit(x, y, epochs=1, verbose=0)
    checkpoint = Checkpoint(tmp_path / "resume", {"model": "lm"})
    checkpoint.save(model, 1, {"loss": [1.0]})
    after_1 = values(model)
    model.fit(x, y, epochs=1, verbose=0)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(lm_checkpoint, "write_json", killed)
        with pytest.raises(KeyboardInterrupt):
            checkpoint.save(model, 2, {"loss": [1.0, 0.5]})
    assert len(list(checkpoint.folder.glob("epoch-*"))) == 4  # both epochs' files
    fresh = twin()
    assert checkpoint.load(fresh) == (1, {"loss": [1.0]})
    assert all(np.array_equal(a, b) for a, b in zip(values(fresh), after_1, strict=True))
    checkpoint.save(model, 2, {"loss": [1.0, 0.5]})
    assert sorted(p.name for p in checkpoint.folder.glob("epoch-*")) == [
        "epoch-2.npz",
        "epoch-2.weights.h5",
    ]
    assert checkpoint.load(twin())[0] == 2


def test_killed_with_sigkill_anywhere_and_resumed_is_still_the_same_run(tmp_path):
    """kill -9 (no handler runs) at random moments after each of the first checkpoints, then
    --resume, until the run ends: the numbers of the run that was never killed."""
    import random
    import time

    data = write_mnist_npz(tmp_path / "data", n_train=1200, n_test=64).parent
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root), "TF_CPP_MIN_LOG_LEVEL": "3"}
    args = ["mlp-relu-dropout", "--epochs", "4", "--batch-size", "8", "--seed", "3"]
    args += ["--data-dir", str(data), "--no-dashboard"]

    def start(*extra: str) -> subprocess.Popen:
        cmd = [sys.executable, "-m", "networks.train", *args, *extra]
        return subprocess.Popen(cmd, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)

    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert start("--logdir", str(whole)).wait(timeout=600) == 0
    state, rng, kills = cut / "checkpoint" / "state.json", random.Random(5), 0
    proc = start("--logdir", str(cut))
    for target in (1, 2):
        while proc.poll() is None and not (
            state.is_file() and json.loads(state.read_text())["epochs_done"] >= target
        ):
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 1.5))  # mid-epoch, mid-write, or after the next one
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        _, err = proc.communicate(timeout=600)
        assert "Traceback" not in err, err[-3000:]
        proc = start("--logdir", str(cut), "--resume")
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0 and kills >= 1, err[-3000:]
    a, b = (json.loads((d / "summary.json").read_text()) for d in (whole, cut))
    assert a["history"] == b["history"] and a["test_loss"] == b["test_loss"]
    wa, wb = arrays(whole / "checkpoint" / "state.npz"), arrays(cut / "checkpoint" / "state.npz")
    assert wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)
    # A kill after an epoch's TensorBoard point and before its checkpoint leaves that point
    # twice (the resumed run writes it again, bit for bit the same): compared as sets.
    for sub in ("train", "validation"):
        assert set(events(whole / sub)) == set(events(cut / sub)), sub
    assert not list(cut.rglob("*.tmp*"))  # no temporary file left behind
