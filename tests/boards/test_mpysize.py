"""`gaitloop.sim.mpysize` reads the native and bytecode sizes out of real mpy-cross output
for the boards' CPUs: every firmware module parses to its last byte, the viper modules have
machine code and the others none, and a damaged file is refused rather than misread."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gaitloop.sim.mpysize import mpy_size, tree_sizes
from gaitloop.sim.vboard import _compiled_tree
from gaitloop.toolpath import find_tool

# modules with @micropython.viper / @native functions, by the sources
_NATIVE = {"gaitfw.ahrs", "gaitfw.app", "gaitfw.csm", "gaitfw.drvnative", "gaitfw.framering", "gaitfw.int8ops",
           "gaitfw.mgait", "gaitfw.mgait_events", "gaitfw.pacer", "gaitfw.protocol", "gaitfw.replayrow"}


@pytest.mark.parametrize("arch", ["armv6m"])  # the Pico W, where native code is heap
def test_every_firmware_module_parses_and_native_code_is_where_viper_is(arch: str) -> None:
    sizes = tree_sizes(_compiled_tree(arch))
    assert len(sizes) > 25 and "gaitfw.update" in sizes and "gaitfw.boards.insole" in sizes
    assert {m for m, s in sizes.items() if s.native} == _NATIVE
    assert all(s.bytecode > 0 and s.functions >= 1 for s in sizes.values())
    # the same sources give the same bytecode whatever the architecture of the machine code
    assert sum(s.bytecode for s in sizes.values()) == sum(
        s.bytecode for s in tree_sizes(_compiled_tree("host")).values())


def _compile(tmp: Path, src: str, arch: str = "armv6m") -> bytes:
    py, out = tmp / "m.py", tmp / "m.mpy"
    py.write_text(src)
    mpy_cross = find_tool("mpy-cross")
    assert mpy_cross
    subprocess.run([mpy_cross, f"-march={arch}", "-o", str(out), str(py)], check=True, timeout=60)
    return out.read_bytes()


def test_a_viper_function_adds_its_machine_code(tmp_path: Path) -> None:
    base = "X = (1, 2.5, 'a', b'b', 10**30)\n\ndef f(a):\n    return a + 1\n"
    plain = mpy_size(_compile(tmp_path, base))
    assert plain.native == 0 and plain.functions == 2
    viper = mpy_size(_compile(tmp_path, base + (
        "\n@micropython.viper\ndef g(p: ptr8, n: int) -> int:\n"
        "    s = 0\n    for i in range(n):\n        s += p[i]\n    return s\n")))
    assert viper.native > 20 and viper.functions == 3
    assert 0 < viper.bytecode - plain.bytecode < 20  # the module body grew by the def only


def test_damaged_files_are_refused(tmp_path: Path) -> None:
    data = _compile(tmp_path, "def f(a):\n    return a * 2\n")
    with pytest.raises(ValueError, match="truncated"):
        mpy_size(data[:-3])
    with pytest.raises(ValueError, match="after its code"):
        mpy_size(data + b"\x00")
    with pytest.raises(ValueError, match="not an .mpy v6"):
        mpy_size(b"M\x05" + data[2:])
