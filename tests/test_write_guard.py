"""The suite's guard (tests/conftest.py) sees a stray write and ignores caches."""

from __future__ import annotations

import tempfile

from tests import conftest


def test_a_new_entry_in_the_repository_is_seen_and_caches_are_not():
    before = conftest._listing()
    probe = conftest.REPO / "runs-probe-of-the-write-guard"
    cache = conftest.REPO / "tests" / ".hypothesis"
    made_cache = not cache.exists()
    probe.mkdir()
    try:
        cache.mkdir(exist_ok=True)
        (conftest.REPO / "tests" / "new_module.py").touch()
        stray = conftest._stray(before, conftest._listing())
    finally:
        probe.rmdir()
        (conftest.REPO / "tests" / "new_module.py").unlink()
        if made_cache:
            cache.rmdir()
    assert stray == [f"new: {probe}"]
    assert conftest._stray(before, conftest._listing()) == []


def test_temporary_files_land_under_the_tests_own_folder(tmp_path_factory):
    with tempfile.NamedTemporaryFile() as fh:
        assert fh.name.startswith(str(tmp_path_factory.getbasetemp()))
