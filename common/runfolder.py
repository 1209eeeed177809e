"""Run folders: one process at a time, never overwritten by accident, outputs checked up front.

The rules both CLIs follow:

* a new run never writes into a folder that already holds a run: ``--resume`` continues it,
  ``--overwrite`` replaces it (and only a run folder: never an arbitrary folder of files; a
  new run may share a folder of other files, whose names its outputs are checked against);
* a run holds a lock on its folder (``.run.lock``, ``flock``: released by the kernel when the
  process ends, even by ``kill -9``, so a dead process's lock is stale by construction; the file
  names the holder's pid and host for the message); a second process gets one line, exit 2;
* every output path is checked before any work starts (:func:`check_output_file`,
  :func:`check_output_dir`): under a regular file, equal to a folder, in ``/proc``, unwritable,
  or naming one of the run's own files (checkpoint, model) is refused;
* paths inside the folder are stored relative to it (:func:`stored_path`), so a copied or moved
  run folder resumes from its own checkpoints, never the original's;
* a run that fails before it saved anything leaves no folder behind; temp files of writes cut
  short by ``kill -9`` are removed when the folder is next claimed.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import socket
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from common.errors import UsageError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the pid check below stands alone
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".run.lock"
SYSTEM_ROOTS = tuple(Path(p) for p in ("/proc", "/sys", "/dev"))
# common.atomic's temp names: ".<target>.<8 random chars>.tmp[.suffix]"
ATOMIC_TEMP = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp(\.[A-Za-z0-9]+)?$")
# TensorFlow's in-flight checkpoint shards: "<prefix>_temp/" or "<prefix>_temp_<uuid>/" folders
TF_TEMP = re.compile(r"^.+_temp(_[0-9a-f]{32})?$")


# -- output paths ---------------------------------------------------------------------------------
def _in_system_folder(path: Path) -> Path | None:
    real = Path(os.path.realpath(path))
    for root in SYSTEM_ROOTS:
        if real == root or root in real.parents:
            return root
    return None


def _check_location(path: Path, what: str, shown: Path | None = None) -> None:
    """The path can be created: no system folder, no file among its folders, writable.
    ``shown`` is the path named in messages (a folder, when ``path`` is a file in it)."""
    name = shown if shown is not None else path
    root = _in_system_folder(path)
    if root is not None:
        raise UsageError(f"cannot write {name} ({what}): {root} is a system folder")
    absolute = Path(os.getcwd(), path)  # not normalised: "file/.." fails as the OS would
    prefix = Path(absolute.anchor)
    for part in absolute.parts[1:-1]:
        prefix = prefix / part
        if os.path.lexists(prefix) and not prefix.is_dir():
            raise UsageError(f"cannot write {name} ({what}): {prefix} is a file, not a folder")
    for parent in Path(os.path.realpath(absolute)).parents:
        if os.path.lexists(parent):
            if not os.access(parent, os.W_OK | os.X_OK):
                raise UsageError(f"cannot write {name} ({what}): folder {parent} is not writable")
            return


def _same_or_inside(path: Path, other: Path) -> bool:
    a, b = Path(os.path.realpath(path)), Path(os.path.realpath(other))
    return a == b or b in a.parents


def check_output_file(
    path: str | os.PathLike,
    what: str,
    protected: Mapping[str, str | os.PathLike | None] | None = None,
    *,
    replace: bool = False,
) -> Path:
    """Refuse, in one line and before any work, a file path the run could not write or must not
    replace. ``protected`` names the run's own files and folders (``{"checkpoint": dir}``); an
    existing file is replaced only when ``replace`` (``--overwrite``, a resumed run's own)."""
    if not str(path).strip():
        raise UsageError(f"{what} is empty: give a file path")
    target = Path(path)
    _check_location(target, what)
    if target.is_dir() or os.path.basename(os.fspath(path)) in ("", ".", ".."):
        raise UsageError(f"{what} {target} is a folder: give a file path")
    if os.path.lexists(target) and not target.is_file():
        raise UsageError(f"{what} {target} exists and is not a regular file")
    if target.exists() and not replace:
        raise UsageError(
            f"{what} {target} already exists: choose another path, delete it, or add --overwrite"
        )
    for name, other in (protected or {}).items():
        if other is not None and _same_or_inside(target, Path(other)):
            raise UsageError(
                f"{what} {target} would replace the run's {name} ({other}); choose another path"
            )
    return target


def check_output_dir(path: str | os.PathLike, what: str) -> Path:
    """Refuse a folder path the run could not create or write (a file, under a file, /proc)."""
    if not str(path).strip():
        raise UsageError(f"{what} is empty: give a folder path")
    folder = Path(path)
    if os.path.lexists(folder) and not folder.is_dir():
        raise UsageError(f"{what} {folder} is a file, not a folder; choose another path")
    _check_location(folder / "x", what, shown=folder)
    return folder


def check_distinct(paths: Mapping[str, str | os.PathLike | None]) -> None:
    """Two outputs of one run must not be the same file (the summary over the model...)."""
    seen: dict[str, str] = {}
    for name, path in paths.items():
        if path is None:
            continue
        key = os.path.realpath(path)
        if key in seen:
            raise UsageError(f"{name} and {seen[key]} are the same file ({path}): give two paths")
        seen[key] = name


# -- paths stored inside a run folder -----------------------------------------------------------
def stored_path(path: str | os.PathLike, folder: str | os.PathLike) -> str:
    """How a run's ``config.json`` records ``path``: relative to the run folder when inside it
    (a copied folder then uses its own files), absolute otherwise."""
    absolute = Path(os.path.abspath(path))
    base = Path(os.path.abspath(folder))
    if absolute == base or base in absolute.parents:
        return absolute.relative_to(base).as_posix() or "."
    return str(absolute)


def resolve_stored(stored: str | os.PathLike, folder: str | os.PathLike) -> Path:
    """The path a ``config.json`` entry names: relative entries are inside the run folder."""
    p = Path(stored)
    return p if p.is_absolute() else Path(folder) / p


# -- the lock -----------------------------------------------------------------------------------
def _describe(info: dict) -> str:
    since = info.get("since")
    when = time.strftime(" since %H:%M:%S UTC", time.gmtime(since)) if since else ""
    return f"process {info.get('pid', '?')} on {info.get('host', '?')}{when}"


def _read_info(path: Path) -> dict:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        return info if isinstance(info, dict) else {}
    except (OSError, ValueError):
        return {}


def _alive(info: dict) -> bool:
    """Whether the holder named in a lock file still runs (only knowable on this host)."""
    if info.get("host") != socket.gethostname():
        return True  # another machine: assume so
    pid = info.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunFolderLock:
    """An exclusive lock on a run folder (which must exist), held until :meth:`release`."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def _refuse(self, info: dict) -> UsageError:
        return UsageError(
            f"run folder {self.folder} is in use by {_describe(info)}: wait for it to finish "
            "or choose another --logdir"
        )

    def acquire(self) -> RunFolderLock:
        while self._fd is None:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                locked = self._flock(fd)
                if not locked:
                    raise self._refuse(_read_info(self.path))
                try:  # the holder before us may have removed the file: lock the new one
                    same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
                except FileNotFoundError:
                    same = False
                if not same:
                    os.close(fd)
                    continue
            except BaseException:
                os.close(fd)
                raise
            info = {"pid": os.getpid(), "host": socket.gethostname(), "since": int(time.time())}
            os.ftruncate(fd, 0)
            os.write(fd, json.dumps(info).encode())
            self._fd = fd
        return self

    def _flock(self, fd: int) -> bool:
        """True when locked; False when another process holds it."""
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                return False
            except OSError as exc:  # a file system without flock: fall back on the pid check
                if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                    raise
        info = _read_info(self.path)
        return not info or info.get("pid") == os.getpid() or not _alive(info)

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)  # while still locked: a waiter re-checks the inode
        finally:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> RunFolderLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def clean_temp_files(folder: str | os.PathLike) -> list[Path]:
    """Remove temp files of atomic writes cut short (``kill -9``) anywhere under ``folder``.
    Call it while holding the folder's lock: no writer of ours is running then."""
    removed = []
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in filenames:
            if ATOMIC_TEMP.match(name):
                path = Path(dirpath) / name
                path.unlink(missing_ok=True)
                removed.append(path)
        for name in list(dirnames):
            if TF_TEMP.match(name):
                path = Path(dirpath) / name
                shutil.rmtree(path, ignore_errors=True)
                dirnames.remove(name)
                removed.append(path)
    return removed


# -- claiming a run folder ----------------------------------------------------------------------
class RunFolder:
    """Claim ``folder`` for a new run, a resumed one (``resume``) or a replacement
    (``overwrite``): checked by :meth:`check` before any work, held by ``with``.

    ``markers`` are the files that make a folder a run of this project (``config.json``...).
    On leaving with an error, a folder this claim created is removed again unless
    :meth:`keep` was called (the run saved something worth keeping)."""

    def __init__(
        self,
        folder: str | os.PathLike,
        *,
        resume: bool = False,
        overwrite: bool = False,
        markers: Iterable[str] = ("config.json", "summary.json"),
        flag: str = "--logdir",
        resume_hint: str = "",
    ) -> None:
        self.folder = Path(folder)
        self.resume, self.overwrite = resume, overwrite
        self.markers = tuple(markers)
        self.flag = flag
        self.resume_hint = resume_hint
        self.lock = RunFolderLock(self.folder)
        self.created = False
        self._keep = False

    def holds_run(self) -> bool:
        return any((self.folder / m).exists() for m in self.markers)

    def _contents(self) -> list[Path]:
        try:
            return [p for p in self.folder.iterdir() if p.name != LOCK_NAME]
        except FileNotFoundError:
            return []

    def check(self) -> RunFolder:
        """The policy, in one line when refused; touches nothing."""
        check_output_dir(self.folder, self.flag)
        if self.resume and self.overwrite:
            raise UsageError("--resume continues a run and --overwrite replaces it: give one")
        holds_run = self.holds_run()
        if self.resume:
            if not holds_run:
                raise UsageError(
                    f"{self.folder} holds no run to resume (no {' or '.join(self.markers)}): "
                    f"give the run's {self.flag}, or start without --resume"
                )
            return self
        if holds_run and not self.overwrite:
            raise UsageError(
                f"{self.folder} already holds a run: add --resume to continue it, --overwrite "
                f"to replace it, or choose another {self.flag}"
            )
        if self.overwrite and self._contents() and not holds_run:
            raise UsageError(
                f"--overwrite replaces run folders only, and {self.folder} holds files that are "
                f"not a run (no {' or '.join(self.markers)}): choose another {self.flag}"
            )
        return self

    def keep(self) -> None:
        """The run saved something: the folder stays even if the run fails later."""
        self._keep = True

    def __enter__(self) -> RunFolder:
        self.check()
        self.created = not self.folder.exists()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot create {self.flag} {self.folder}: {exc.strerror}") from None
        try:
            self.lock.acquire()
        except BaseException:
            self._remove_if_created()
            raise
        if self.overwrite:
            for path in self._contents():
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
        clean_temp_files(self.folder)
        return self

    def _remove_if_created(self) -> None:
        if self.created and not self._keep:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self.lock.release()
        if exc_type is not None:  # failed or interrupted before it saved anything
            self._remove_if_created()
