"""networks.train run folders: never overwritten by accident, resumed exactly where they
stopped (epochs, optimizer state, schedule), locked, outputs checked before any work."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.errors import UsageError, run_main
from common.runfolder import RunFolderLock
from networks.train import build_parser, config_from_args, main
from tests.hostile.helpers import assert_one_line, snapshot
from tests.networks.conftest import write_mnist_npz


@pytest.fixture
def mnist(tmp_path, monkeypatch):
    monkeypatch.setenv("DLTF_OFFLINE", "1")
    monkeypatch.setenv("DLTF_CACHE_DIR", str(tmp_path / "cache"))
    return write_mnist_npz(tmp_path / "mnist", n_train=160, n_test=32).parent


def cli(mnist, logdir, *extra):
    args = ["softmax", "--batch-size", "32", "--data-dir", str(mnist), "--logdir", str(logdir)]
    return [*args, "--no-dashboard", *extra]


def summary(logdir):
    return json.loads((logdir / "summary.json").read_text())


def optimizer_steps(logdir) -> int:
    with np.load(logdir / "checkpoint" / "state.npz") as data:
        return int(data["o0"])  # the optimizer's iteration counter comes first


def test_new_run_never_replaces_a_run_and_resume_continues_it(mnist, tmp_path, capsys):
    run = tmp_path / "run"
    assert run_main(main, cli(mnist, run, "--epochs", "2")) == 0
    steps_per_epoch = optimizer_steps(run) // 2
    before = snapshot(run)
    assert run_main(main, cli(mnist, run, "--epochs", "2")) == 2  # a new run: refused
    err = capsys.readouterr().err.strip()
    assert_one_line(err)
    assert "--resume" in err and "--overwrite" in err
    assert snapshot(run) == before
    # --epochs not above what is done: refused, config.json untouched
    assert run_main(main, ["--logdir", str(run), "--resume", "--epochs", "2"]) == 2
    assert "above 2" in capsys.readouterr().err and snapshot(run) == before
    # resumed with only --logdir: the saved options, two more epochs
    assert (
        run_main(main, ["--logdir", str(run), "--resume", "--epochs", "4", "--no-dashboard"]) == 0
    )
    s = summary(run)
    assert s["epochs"] == 4 and s["resumed_after"] == 2 and len(s["history"]["loss"]) == 4
    assert optimizer_steps(run) == 4 * steps_per_epoch  # Adam's counter went on: the schedule too
    assert json.loads((run / "config.json").read_text())["save"] == "model.keras"  # relative


def test_a_copied_run_folder_resumes_itself(mnist, tmp_path):
    orig, copy = tmp_path / "orig", tmp_path / "copy"
    assert run_main(main, cli(mnist, orig, "--epochs", "1")) == 0
    shutil.copytree(orig, copy)
    before = snapshot(orig)
    assert (
        run_main(main, ["--logdir", str(copy), "--resume", "--epochs", "2", "--no-dashboard"]) == 0
    )
    assert snapshot(orig) == before
    assert summary(copy)["saved_model"] == str(copy / "model.keras")


def test_overwrite_replaces_and_the_lock_keeps_a_second_process_out(mnist, tmp_path, capsys):
    run = tmp_path / "run"
    assert run_main(main, cli(mnist, run, "--epochs", "1")) == 0
    with RunFolderLock(run):
        assert run_main(main, cli(mnist, run, "--epochs", "1", "--overwrite")) == 2
        err = capsys.readouterr().err
        assert "in use by process" in err and "Traceback" not in err
    assert run_main(main, cli(mnist, run, "--epochs", "1", "--overwrite")) == 0
    assert summary(run)["epochs"] == 1


@pytest.mark.parametrize(
    "extra, match",
    [
        (["--summary-json", "{run}/checkpoint/state.npz"], "run's checkpoint"),
        (["--summary-json", "{run}/m.keras", "--save", "{run}/m.keras"], "same file"),
        (["--summary-json", "{run}/config.json"], "same file"),
        (["--logdir", "{tmp}/file.txt/x"], "is a file"),
        (["--logdir", "{tmp}/file.txt"], "is a file"),
        (["--logdir", "/proc/self/x"], "system folder"),
        (["--save", "{tmp}/file.txt/m.keras"], "is a file"),
        (["--summary-json", "{tmp}/file.txt"], "already exists"),
        (["--seed", "-1"], "0..4294967295"),
        (["--seed", str(2**32)], "0..4294967295"),
        (["--lr", "nan"], "not finite"),
        (["--epochs", "٣"], "ASCII"),
    ],
)
def test_outputs_and_numbers_are_checked_before_any_work(mnist, tmp_path, capsys, extra, match):
    (tmp_path / "file.txt").write_text("keep")
    run = tmp_path / "run"
    extra = [e.format(run=run, tmp=tmp_path) for e in extra]
    before = snapshot(tmp_path)
    try:
        code = run_main(main, cli(mnist, run, "--epochs", "1", *extra))
    except SystemExit as exc:  # argparse's own refusals
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert_one_line(err)
    assert match in err
    assert snapshot(tmp_path) == before and not run.exists()


def test_a_failed_run_leaves_no_folder(mnist, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    run = tmp_path / "runs" / "r"
    args = ["softmax", "--data-dir", str(tmp_path / "empty"), "--logdir", str(run)]
    assert run_main(main, args) == 2
    assert "not found" in capsys.readouterr().err
    assert not run.exists()


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_saves_exits_and_prints_the_resume_command(
    mnist, tmp_path, capsys, monkeypatch, sig, code
):
    import keras

    from networks import catalog

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                os.kill(os.getpid(), sig)

    def fit(model, context, **kwargs):
        kwargs["callbacks"] = [*kwargs["callbacks"], Interrupt()]
        return model.fit(**kwargs)

    monkeypatch.setitem(
        catalog.MODELS, "softmax", dataclasses.replace(catalog.MODELS["softmax"], fit=fit)
    )
    run = tmp_path / "run"
    assert run_main(main, cli(mnist, run, "--epochs", "5")) == code
    err = capsys.readouterr().err
    command = f"python -m networks.train --logdir {run} --resume"
    assert command in err and "Traceback" not in err
    assert summary(run)["interrupted"] and (run / "model.keras").is_file()
    monkeypatch.undo()
    assert run_main(main, [*command.split()[3:], "--no-dashboard"]) == 0
    assert summary(run)["epochs"] == 5 and summary(run)["resumed_after"] == 2


json_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    document=st.dictionaries(
        st.sampled_from(["model", "epochs", "batch_size", "lr", "seed", "save", "noise", "x"]),
        json_values,
        max_size=5,
    )
    | st.lists(st.integers(), max_size=2)
    | st.just("NaN"),
    raw=st.one_of(st.none(), st.binary(max_size=30)),
)
def test_a_damaged_config_json_on_resume_is_one_line(tmp_path, document, raw):
    run = tmp_path / "run"
    run.mkdir(exist_ok=True)
    text = json.dumps(document).encode() if raw is None else raw
    (run / "config.json").write_bytes(text)
    args = build_parser().parse_args(["--logdir", str(run), "--resume"])
    try:
        config = config_from_args(args)
    except UsageError as exc:
        assert_one_line(str(exc))
    else:
        assert config.model in ("softmax", "mnist-cnn") or isinstance(config.model, str)
        assert config.seed >= 0 and (config.lr is None or config.lr > 0)


def test_killed_after_the_last_epoch_resumes_to_save(mnist, tmp_path):
    """The checkpoint holds every epoch but the model and summary were never written (kill -9
    in between): --resume evaluates and saves instead of refusing."""
    run = tmp_path / "run"
    assert run_main(main, cli(mnist, run, "--epochs", "1")) == 0
    (run / "summary.json").unlink()
    (run / "model.keras").unlink()
    assert run_main(main, ["--logdir", str(run), "--resume", "--no-dashboard"]) == 0
    assert summary(run)["epochs"] == 1 and (run / "model.keras").is_file()
