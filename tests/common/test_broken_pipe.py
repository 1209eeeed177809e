import subprocess
import sys

from common.errors import EXIT_BROKEN_PIPE


def test_a_closed_pipe_is_a_quiet_exit_141_not_a_traceback():
    # `python -m networks.train --list | head -1`: the reader leaves after one line.
    proc = subprocess.Popen(
        [sys.executable, "-c", "from common.errors import run_main\n"
         "def main(argv):\n    [print('line', i, flush=True) for i in range(10**6)]\n    return 0\n"
         "raise SystemExit(run_main(main))"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout.readline() == b"line 0\n"
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == EXIT_BROKEN_PIPE
    assert "Traceback" not in err and "Exception ignored" not in err, err
