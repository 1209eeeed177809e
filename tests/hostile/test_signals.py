"""Ctrl-C and SIGTERM: the first asks to stop, the second interrupts; exit 130 / 143."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from common.errors import Terminated, run_main
from common.signals import StopRequest, exit_code
from tests.hostile.helpers import ROOT


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_first_signal_requests_a_stop_second_interrupts(sig, code):
    seen = []
    # What was there before (SIG_IGN for SIGINT in a background job, else Python's default).
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with StopRequest(on_request=seen.append) as stop:
        os.kill(os.getpid(), sig)
        time.sleep(0.01)
        assert stop.requested and seen == [sig] and stop.exit_code == code
        with pytest.raises(KeyboardInterrupt if sig == signal.SIGINT else Terminated):
            os.kill(os.getpid(), sig)
            time.sleep(0.01)
    assert {s: signal.getsignal(s) for s in before} == before  # restored on leaving
    assert exit_code(sig) == code


def test_run_main_turns_interrupts_into_one_line(capsys):
    def interrupted(argv):
        raise KeyboardInterrupt

    def terminated(argv):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1)
        return 0

    assert run_main(interrupted) == 130
    assert run_main(terminated) == 143
    assert capsys.readouterr().err.splitlines() == ["interrupted", "terminated"]


def test_ctrl_c_while_importing_is_one_line():
    code = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from common.signals import install_interrupt_hook
        install_interrupt_hook()
        raise KeyboardInterrupt  # as if it landed inside `import tensorflow`
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 130
    assert proc.stderr.strip() == "interrupted"
