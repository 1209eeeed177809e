"""Every command in the README's code blocks runs, shrunk to seconds, so the README cannot rot.

The commands are read from README.md when the tests run (a new section is picked up as it is
written) and run in order in one scratch folder, so a command can use what an earlier one wrote
(``--save faces.keras``, ``runs/<dataset>__<model>__<seed>__<time>``). Shrinking is generic:

* ``agents.run``: ``--episodes`` set to a few dozen (``--steps`` to a few hundred if given);
* ``networks.train``: ``--epochs 1`` and ``--max-examples`` capped; every dataset is a tiny
  self-made one (``--data-dir`` and the ``DLTF_*_DIR`` variables point at it; no download);
* ``<...>`` in a path matches what an earlier command wrote; a picture the reader would bring
  (``my_digit.png``) is drawn; ``DIR`` or ``~/data/...`` after ``--data-dir`` is the tiny data;
* a ``toml`` block whose first line is ``# FILE — COMMAND`` is written to FILE and COMMAND runs;
* ``python`` blocks: their imports must resolve (the blocks are fragments, not programs);
* the set-up line: the extras it installs must exist; its last command runs like the others;
  ``python -m pytest`` is what ``.ci/run`` runs; ``tensorboard --logdir runs`` loads the runs
  through TensorBoard's own (fast) loader;
* benchmark scripts: every flag the README gives must be in the script's ``--help`` (the
  scripts run shrunk in tests/test_rl_benchmarks.py and tests/networks/test_benchmark.py).

``python -m`` commands run in this process (TensorFlow loads once), but those with a flag that
sets TensorFlow's devices (``--device``, ``--cpu-devices``, ...) in a fresh one.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import io
import os
import re
import shlex
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
# Flags that set TensorFlow's devices, which only a fresh process can do.
FRESH_PROCESS_FLAGS = ("--cpu-devices", "--memory-limit", "--try-train", "--device")
EPISODES, STEPS, MAX_EXAMPLES = "30", "300", "2000"
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


@dataclass(frozen=True)
class Command:
    kind: str  # "bash", "toml", "python" or "setup"
    text: str
    line: int
    file: tuple[str, str] | None = None  # (name, content) a toml block writes first

    @property
    def id(self) -> str:
        return f"L{self.line}:{self.text[:60]}"


def readme_commands() -> list[Command]:
    text = README.read_text(encoding="utf-8")
    found: list[Command] = []
    for match in BLOCK.finditer(text):
        lang, body = match.group(1), match.group(2)
        line = text.count("\n", 0, match.start()) + 2
        if lang == "bash":
            for i, raw in enumerate(body.splitlines()):
                cmd = strip_comment(raw)
                if cmd:
                    kind = "setup" if "pip install" in cmd else "bash"
                    found.append(Command(kind, cmd, line + i))
        elif lang == "toml":
            first = body.splitlines()[0]
            head = re.match(r"#\s*(\S+)\s+[—-]+\s+(.+)$", first)
            assert head, f"README line {line}: a toml block starts with '# FILE — COMMAND'"
            found.append(Command("toml", head.group(2).strip(), line, (head.group(1), body)))
        elif lang == "python":
            found.append(Command("python", body, line))
    return found


def strip_comment(raw: str) -> str:
    """The command without a trailing ``# comment`` (a ``#`` inside quotes is kept)."""
    quote = ""
    for pos, char in enumerate(raw):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (pos == 0 or raw[pos - 1].isspace()):
            return raw[:pos].strip()
    return raw.strip()


# --- the scratch folder and its tiny data ------------------------------------------------------


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    from tests.networks.conftest import write_fer_npz, write_mnist_npz
    from tests.networks.textdata import write_imdb_dir, write_ptb

    root = tmp_path_factory.mktemp("readme")
    data = root / "tiny-data"
    write_mnist_npz(data / "mnist", n_train=320, n_test=64)
    write_fer_npz(data / "fer2013", n=64)
    write_imdb_dir(data / "imdb")
    write_ptb(data / "ptb", lines=(600, 150, 150))
    work = root / "work"
    work.mkdir()
    return work


@pytest.fixture
def in_workdir(workdir, monkeypatch) -> Path:
    data = workdir.parent / "tiny-data"
    monkeypatch.chdir(workdir)
    for name in ("mnist", "fer2013", "imdb", "ptb"):
        monkeypatch.setenv(f"DLTF_{name.upper()}_DIR", str(data / name))
    monkeypatch.setenv("DLTF_OFFLINE", "1")
    monkeypatch.setenv("DLTF_CACHE_DIR", str(workdir.parent / "cache"))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    return workdir


DATASET_OF = {"frozenlake-digits": "mnist", "emotion-cnn": "fer2013"}


def dataset_of(argv: list[str]) -> str:
    from networks.model_names import MODEL_NAMES

    for word in argv:
        for dataset, names in MODEL_NAMES.items():
            if word in names:
                return dataset
        if word in DATASET_OF:
            return DATASET_OF[word]
    return "mnist"


# --- shrinking ---------------------------------------------------------------------------------


def set_flag(argv: list[str], flag: str, value: str, *, only_if_present: bool = False) -> None:
    if flag in argv:
        argv[argv.index(flag) + 1] = value
    elif not only_if_present:
        argv += [flag, value]


def resolve_path(word: str, work: Path) -> str:
    """``runs/x__<time>/model.keras`` -> the newest match an earlier command wrote."""
    if "<" not in word:
        return word
    pattern = re.sub(r"<[^>]+>", "*", word)
    matches = sorted(work.glob(pattern), key=lambda p: p.stat().st_mtime)
    assert matches, f"{word}: no earlier README command wrote {pattern}"
    return str(matches[-1].relative_to(work))


def draw_inputs(argv: list[str], work: Path) -> None:
    """Pictures the reader would bring: a dark digit on paper, a grey face."""
    from PIL import Image

    for word in argv:
        if word.lower().endswith((".png", ".jpg", ".jpeg")) and not (work / word).exists():
            img = np.full((90, 70), 230, np.uint8)
            img[20:70, 30:38] = 20  # a "1"
            Image.fromarray(img).save(work / word)


def shrink(module: str, argv: list[str], work: Path) -> list[str]:
    argv = [resolve_path(w, work) for w in argv]
    if "--help" in argv or "-h" in argv or "--list" in argv:
        return argv
    data = work.parent / "tiny-data"
    if "--data-dir" in argv:
        set_flag(argv, "--data-dir", str(data / dataset_of(argv)))
    if module == "agents.run":
        set_flag(argv, "--episodes", EPISODES)
        set_flag(argv, "--steps", STEPS, only_if_present=True)
        if "--logdir" not in argv:
            set_flag(argv, "--logdir", f"runs/readme-{len(list(work.glob('runs/*')))}")
    elif module == "networks.train":
        set_flag(argv, "--epochs", "1")
        if "--max-examples" in argv:
            given = int(argv[argv.index("--max-examples") + 1])
            set_flag(argv, "--max-examples", str(min(given, int(MAX_EXAMPLES))))
        else:
            set_flag(argv, "--max-examples", MAX_EXAMPLES)
    draw_inputs(argv, work)
    return argv


# --- running -----------------------------------------------------------------------------------


def run_in_process(module: str, argv: list[str]) -> tuple[int, str, str]:
    """``python -m module argv`` in this process: its ``main`` if it has one, else the module
    run as ``__main__`` (as ``-m`` does)."""
    import runpy

    from common.errors import run_main

    main = getattr(importlib.import_module(module), "main", None)
    out, err = io.StringIO(), io.StringIO()
    saved_argv = sys.argv
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            if main is not None:
                code = run_main(main, argv)
            else:
                sys.argv = [module, *argv]
                with warnings.catch_warnings():
                    # runpy notes the module is already imported: its __main__ copy runs beside
                    # it (as `python -m` would run it alone), which is what we want here.
                    warnings.simplefilter("ignore", RuntimeWarning)
                    runpy.run_module(module, run_name="__main__", alter_sys=True)
                code = 0
        except SystemExit as exc:  # --help, argparse errors, scripts' sys.exit
            code = exc.code if isinstance(exc.code, int) else 0
        finally:
            sys.argv = saved_argv
    return code, out.getvalue(), err.getvalue()


def run_subprocess(argv: list[str], work: Path, timeout: int = 300) -> tuple[int, str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        argv, cwd=work, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    return done.returncode, done.stdout, done.stderr


def run_command(text: str, work: Path) -> None:
    argv = shlex.split(text)
    assert argv[0] in ("python", "python3", "tensorboard"), f"unexpected command {text!r}"
    if argv[0] == "tensorboard":
        return check_tensorboard(argv, work)
    if argv[1] == "-m":
        module, args = argv[2], argv[3:]
        if module == "pytest":  # this very suite: the README's test command must be CI's
            ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
            assert text in ci.splitlines(), f".ci/run no longer runs {text!r}"
            return None
        args = shrink(module, args, work)
        if any(flag in args for flag in FRESH_PROCESS_FLAGS):
            code, out, err = run_subprocess([sys.executable, "-m", module, *args], work)
        else:
            code, out, err = run_in_process(module, args)
        if code == 2 and "gpu" in " ".join(args) and "gpu" in err.lower():
            return (
                None  # a GPU command on a machine without one: refused in one line, as documented
            )
        assert code == 0, f"{text}\n-> {' '.join(args)}\nexit {code}\n{(out + err)[-3000:]}"
        return None
    if argv[1].startswith("benchmarks/"):
        return check_script_flags(argv[1], argv[2:])
    raise AssertionError(f"unexpected command {text!r}")


def check_script_flags(script: str, args: list[str]) -> None:
    path = REPO / script
    assert path.is_file(), f"{script} does not exist"
    code, out, err = run_subprocess([sys.executable, str(path), "--help"], REPO)
    assert code == 0, err[-2000:]
    for flag in (a.split("=")[0] for a in args if a.startswith("--")):
        assert re.search(rf"{re.escape(flag)}\b", out), f"{script} has no {flag} any more"


def check_tensorboard(argv: list[str], work: Path) -> None:
    from tests.networks.test_tensorboard_fast import read_back

    assert argv[1] == "--logdir"
    exe = Path(sys.executable).with_name("tensorboard")
    assert exe.is_file(), "the tensorboard command is not installed next to this Python"
    found = read_back(work / argv[2])
    assert found["scalars"], f"tensorboard found no scalars under {argv[2]}"
    return None


def check_setup(text: str, work: Path) -> None:
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    for part in (p.strip() for p in text.split("&&")):
        if part.startswith("pip install"):
            wanted = re.findall(r"\.\[([\w,-]+)\]", part)
            assert wanted, part
            for extra in wanted[0].split(","):
                assert extra in extras, f"the set-up installs the extra [{extra}], which is gone"
        elif part.startswith("python -m"):
            run_command(part, work)
        else:
            assert part.startswith(("python3 -m venv", ". .venv/bin/activate")), part


def check_python(code: str) -> None:
    """Every import of the block resolves to something that exists."""
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                importlib.import_module(alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module:
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name), f"{node.module} has no {alias.name}"


COMMANDS = readme_commands()


def test_the_readme_has_commands():
    kinds = {c.kind for c in COMMANDS}
    assert {"setup", "bash", "toml", "python"} <= kinds and len(COMMANDS) > 20


@pytest.mark.parametrize("command", COMMANDS, ids=[c.id for c in COMMANDS])
def test_readme_command(command, in_workdir):
    if command.kind == "python":
        return check_python(command.text)
    if command.kind == "setup":
        return check_setup(command.text, in_workdir)
    if command.file is not None:
        name, content = command.file
        (in_workdir / name).write_text(content, encoding="utf-8")
    return run_command(command.text, in_workdir)
