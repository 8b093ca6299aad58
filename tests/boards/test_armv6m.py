"""The armv6m literal words behind issue #15's hang (gaitloop.sim.armv6m): the scanner finds
the emitter's two literal-reading sequences, and our firmware's armv6m code has them, so a
board image needs its frozen native code 4-aligned (tools/rp2040/mpy-tool-armv6m-align.patch;
tests/boards/test_rp2040.py checks a built image)."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest

from gaitloop.sim.armv6m import literal_sites
from gaitloop.toolpath import find_tool

FW = Path(__file__).resolve().parents[2] / "firmware" / "gaitfw"


def _code(*halfwords: int) -> bytes:
    return struct.pack(f"<{len(halfwords)}H", *halfwords)


def test_literal_sites_finds_the_emitters_constant_and_far_jump() -> None:
    """From the armv6m code of app._tick_viper (mpy-cross -march=armv6m, objdump):
    `ldr r2, [pc, #0]; b.n +2; .word 0x3fffffff` and `ldr r1, [pc, #0]; add pc, r1; .word`."""
    const = _code(0xBF00, 0x4A00, 0xE001, 0xFFFF, 0x3FFF, 0x4011)
    far = _code(0x4900, 0x448F, 0x1002, 0x0000, 0x6BE0)
    assert literal_sites(const) == [2]
    assert literal_sites(far) == [0]
    assert literal_sites(const + far) == [2, 12]


def test_literal_sites_ignores_other_pc_loads_and_branches() -> None:
    # ldr r1,[pc,#4] (not the emitter's #0); add pc, r2 (not its r1); b.n +2 after a plain ldr
    assert literal_sites(_code(0x4901, 0xE001, 0x4A00, 0x448F, 0x6828, 0xE001)) == []


@pytest.mark.parametrize("module", ["app.py", "csm.py", "drvnative.py"])
def test_firmware_armv6m_code_reads_literal_words(module: str, tmp_path: Path) -> None:
    """Fails when the module's armv6m viper code no longer reads literal words (then the
    image would not depend on 4-aligned frozen code; update gaitloop.sim.armv6m's account)."""
    mpy_cross = find_tool("mpy-cross")
    if not mpy_cross:
        pytest.skip("mpy-cross not found")
    out = tmp_path / "m.mpy"
    subprocess.run([mpy_cross, "-march=armv6m", "-o", str(out), str(FW / module)], check=True)
    code = out.read_bytes()  # native code sits at a byte offset of either parity in a .mpy
    sites = literal_sites(code) + literal_sites(code[1:])
    # more than the one literal every viper function with arguments has (its argument-count
    # check, on the error path): a mask or wrap constant, or a far jump
    assert len(sites) > sum(1 for ln in (FW / module).read_text().splitlines()
                                          if ln.strip() == "@micropython.viper"), module
