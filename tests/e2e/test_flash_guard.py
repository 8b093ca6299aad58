"""`gaitloop flash` reads the board's .mpy version and architecture first (issue #11 item 6).

A firmware built for another architecture (viper code for an ESP32-S3 on the x64 virtual
board) would leave a board that streams nothing until reflashed: it is refused before a
single file is copied, and the board keeps streaming the firmware it had.
"""

from __future__ import annotations

import subprocess
import sys

from gaitloop.flash import NATIVE_ARCHS, mpy_target, probe_board, wait_for_hello
from gaitloop.sim.vboard import VirtualBoard
from tests.conftest import ROOT, SHIPPED_GAITPDB
from tests.e2e.test_flash import _board_files


def test_probe_reads_the_boards_mpy_version_and_arch():
    with VirtualBoard("insole", "left", SHIPPED_GAITPDB / "GaPt03_01.txt", speed=5) as vb:
        version, flags, platform = probe_board(vb.port)
        assert (version, flags) == mpy_target("host")  # the Unix port runs what host builds
        assert platform == "linux" and NATIVE_ARCHS[flags >> 2] in ("x64", "x86", "armv7emsp",
                                                                    "rv64imc", "armv6")


def test_flash_for_another_arch_is_refused_before_touching_the_board():
    with VirtualBoard("insole", "left", SHIPPED_GAITPDB / "GaPt03_01.txt", speed=5) as vb:
        before = _board_files(vb.fs)
        r = subprocess.run([sys.executable, "-m", "gaitloop.cli", "flash", "--port", vb.port,
                            "--arch", "xtensawin"], capture_output=True, text=True, timeout=120,
                           cwd=str(ROOT))
        assert r.returncode == 1 and "Traceback" not in r.stderr
        (line,) = r.stderr.strip().splitlines()
        assert "xtensawin" in line and "nothing was changed" in line, line
        assert _board_files(vb.fs) == before
        hello = wait_for_hello(vb.port)  # still runs, and streams, the firmware it had
        assert hello.device == vb.device and "error" not in hello.extra
