"""Run folders: locks, overwrite/resume policy, output-path checks, relative paths."""

import os
import subprocess
import sys
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.errors import UsageError
from common.runfolder import (
    LOCK_NAME,
    RunFolder,
    RunFolderLock,
    check_distinct,
    check_output_dir,
    check_output_file,
    clean_temp_files,
    resolve_stored,
    stored_path,
)
from tests.hostile.helpers import ROOT, assert_one_line, snapshot

FIXTURE = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def test_second_lock_is_refused_and_released_on_exit(tmp_path):
    with RunFolderLock(tmp_path):
        with pytest.raises(UsageError, match=f"in use by process {os.getpid()}") as info:
            RunFolderLock(tmp_path).acquire()
        assert_one_line(str(info.value))
    assert not (tmp_path / LOCK_NAME).exists()
    with RunFolderLock(tmp_path):  # free again
        pass


def test_lock_of_a_killed_process_is_stale(tmp_path):
    code = textwrap.dedent(
        f"""
        import os, sys
        sys.path.insert(0, {str(ROOT)!r})
        from common.runfolder import RunFolderLock
        RunFolderLock({str(tmp_path)!r}).acquire()
        print("locked", flush=True)
        os.kill(os.getpid(), 9)
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == -9 and "locked" in proc.stdout
    assert (tmp_path / LOCK_NAME).exists()  # left behind by kill -9...
    with RunFolderLock(tmp_path):  # ...but stale: the kernel dropped the flock
        pass


def test_lock_held_by_another_live_process_is_refused(tmp_path):
    code = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from common.runfolder import RunFolderLock
        RunFolderLock({str(tmp_path)!r}).acquire()
        print("locked", flush=True)
        time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(UsageError, match=f"process {proc.pid}"):
            RunFolderLock(tmp_path).acquire()
    finally:
        proc.kill()
        proc.wait()


def make_run(folder, files=("config.json",)):
    folder.mkdir(parents=True, exist_ok=True)
    for name in files:
        (folder / name).write_text("{}")
    return snapshot(folder)


def test_new_run_never_writes_into_an_existing_run(tmp_path):
    before = make_run(tmp_path / "run", ("config.json", "events"))
    with pytest.raises(UsageError, match="--resume.*--overwrite") as info:
        RunFolder(tmp_path / "run").__enter__()
    assert_one_line(str(info.value))
    assert snapshot(tmp_path / "run") == before


def test_overwrite_replaces_runs_only(tmp_path):
    make_run(tmp_path / "run", ("config.json", "old-events"))
    with RunFolder(tmp_path / "run", overwrite=True) as rf:
        assert [p.name for p in rf.folder.iterdir()] == [LOCK_NAME]
    home = tmp_path / "notes"
    before = make_run(home, ("thesis.tex",))
    with pytest.raises(UsageError, match="replaces run folders only"):
        RunFolder(home, overwrite=True).__enter__()
    assert snapshot(home) == before


def test_resume_needs_a_run_and_excludes_overwrite(tmp_path):
    with pytest.raises(UsageError, match="holds no run to resume"):
        RunFolder(tmp_path / "none", resume=True).check()
    make_run(tmp_path / "run")
    with pytest.raises(UsageError, match="give one"):
        RunFolder(tmp_path / "run", resume=True, overwrite=True).check()
    with RunFolder(tmp_path / "run", resume=True):
        pass


def test_failed_run_leaves_no_folder_unless_it_saved(tmp_path):
    with pytest.raises(RuntimeError), RunFolder(tmp_path / "a" / "run"):
        (tmp_path / "a" / "run" / "events").write_text("x")
        raise RuntimeError("data not found")
    assert not (tmp_path / "a" / "run").exists()
    with pytest.raises(RuntimeError), RunFolder(tmp_path / "b") as rf:
        rf.keep()
        raise RuntimeError("failed after the first checkpoint")
    assert (tmp_path / "b").is_dir()


def test_claiming_cleans_temp_files_of_killed_writes(tmp_path):
    make_run(tmp_path, ("config.json", "checkpoint.npz", ".checkpoint.npz.a1b2_c3d.tmp.npz"))
    (tmp_path / "ckpt" / "ckpt-3_temp").mkdir(parents=True)
    (tmp_path / "ckpt" / "ckpt-3_temp" / "part-00000-of-00001").write_text("x")
    with RunFolder(tmp_path, resume=True):
        names = sorted(p.name for p in tmp_path.rglob("*"))
    assert names == [LOCK_NAME, "checkpoint.npz", "ckpt", "config.json"]
    assert clean_temp_files(tmp_path) == []


path_parts = st.lists(
    st.sampled_from(["file", "dir", "new", "..", "model.keras", "ckpt"]), min_size=1, max_size=4
)


@FIXTURE
@given(parts=path_parts, as_dir=st.booleans(), replace=st.booleans())
def test_output_paths_are_checked_before_any_work(tmp_path, parts, as_dir, replace):
    """Whatever path is given: accepted (and then writable), or one line and nothing changed."""
    (tmp_path / "dir").mkdir(exist_ok=True)
    (tmp_path / "file").write_text("keep me")
    (tmp_path / "model.keras").write_text("model")
    (tmp_path / "ckpt").mkdir(exist_ok=True)
    before = snapshot(tmp_path)
    target = tmp_path.joinpath(*parts)
    protected = {"model": tmp_path / "model.keras", "checkpoints": tmp_path / "ckpt"}
    try:
        if as_dir:
            check_output_dir(target, "--logdir")
        else:
            check_output_file(target, "--summary-json", protected, replace=replace)
    except UsageError as exc:
        assert_one_line(str(exc))
        assert snapshot(tmp_path) == before
        return
    assert snapshot(tmp_path) == before
    real = os.path.realpath(target)
    assert not real.startswith(os.path.realpath(tmp_path / "file") + "/")
    if not as_dir:
        assert replace or not os.path.exists(real)
        assert not os.path.isdir(real)
        assert real != os.path.realpath(tmp_path / "model.keras")
        assert not real.startswith(os.path.realpath(tmp_path / "ckpt"))


@pytest.mark.parametrize("path", ["/proc/x", "/proc", "/sys/kernel/y", "/dev/null"])
def test_system_folders_are_refused(path):
    with pytest.raises(UsageError, match="system folder"):
        check_output_file(path, "--summary-json")


def test_two_outputs_may_not_be_one_file(tmp_path):
    with pytest.raises(UsageError, match="same file"):
        check_distinct({"--save": tmp_path / "a", "--summary-json": tmp_path / "x" / ".." / "a"})


@given(st.lists(st.sampled_from(["a", "b", "..", "."]), max_size=4))
def test_stored_paths_follow_a_copied_folder(parts):
    folder = "/runs/orig"
    inside = os.path.join(folder, "checkpoints", *parts)
    stored = stored_path(inside, folder)
    if os.path.normpath(inside).startswith(folder + os.sep) or os.path.normpath(inside) == folder:
        assert not os.path.isabs(stored)
        assert os.path.normpath(resolve_stored(stored, "/runs/copy")) == os.path.normpath(
            inside.replace("/runs/orig", "/runs/copy", 1)
        )
    else:
        assert os.path.isabs(stored)
        assert str(resolve_stored(stored, "/runs/copy")) == os.path.abspath(inside)
