"""`gaitloop flash --profile NAME` refuses, in one line and before a file is copied, a board
whose `sys.implementation._machine` is not the profile's MCU (here: the Unix-port virtual
board against the Pico W and ESP32-S3 profiles). Flashing a matching board needs the board.
"""

from __future__ import annotations

import subprocess

import pytest

from gaitloop.flash import probe_machine, wait_for_hello
from gaitloop.sim.vboard import VirtualBoard
from tests.conftest import ROOT, SHIPPED_GAITPDB
from tests.e2e.test_flash import _board_files
from tests.e2e.test_virtual_board import GAITLOOP

pytestmark = pytest.mark.micropython


def _flash(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*GAITLOOP, "flash", *args], capture_output=True, text=True, timeout=120, cwd=str(ROOT))


def test_flash_with_a_profile_for_another_board_is_refused_and_changes_nothing() -> None:
    with VirtualBoard("insole", "left", SHIPPED_GAITPDB / "GaPt03_01.txt", speed=5) as vb:
        assert "linux" in probe_machine(vb.port)
        before = _board_files(vb.fs)
        for name, mcu in (("picow-insole", "RP2040"), ("esp32s3-knee", "ESP32-S3")):
            r = _flash("--port", vb.port, "--profile", name)
            assert r.returncode == 1 and "Traceback" not in r.stderr
            (line,) = r.stderr.strip().splitlines()
            assert f"profile {name}" in line and mcu in line and "nothing was changed" in line, line
        assert _board_files(vb.fs) == before
        assert wait_for_hello(vb.port).device == vb.device  # still streams what it had


def test_unknown_profile_and_mismatched_arch_are_one_line_errors() -> None:
    r = _flash("--port", "/dev/null", "--profile", "nrf52")
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
    assert "unknown board profile 'nrf52'" in r.stderr
    r = _flash("--port", "/dev/null", "--profile", "picow-knee", "--arch", "xtensawin")
    assert r.returncode == 1 and "does not match profile picow-knee (-march=armv6m)" in r.stderr
