"""MGait's 25 Hz tick in one native call (`mgait._angles_viper`) gives the angles the bytecode
tick gave: bit-exact on 64-bit and on emulated 32-bit words, for every bend calibration.

Why: the tick used to be a bytecode loop calling `mgait_trig.atan2_cd` per leg; the viper
kernel inlines the arctangent and splits the bend product (bs * bgain needs up to 2^45 with a
one-count two-point span, beyond a 32-bit word). The reference here is that old formula,
computed on CPython with `atan2_cd` itself, on random and extreme inputs: hip sums over the
whole range the Madgwick state gives (|vx|, |vz| up to 2 x 2^16), both signs, the axes and the
diagonal; bend sums at and beyond the clamp; bend0 at int16's ends; bgain from 0 to the
largest the calibration can set (9000 * 65536 // 2, span 1 at M = 1), negative too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gaitloop.export.device_runner import micropython_binary
from gaitloop.word32 import emulate
from tests.conftest import FIRMWARE, ROOT

pytestmark = pytest.mark.micropython

_HALF = 65932  # one block's hip sum at M = 4: 4 x 16483 (|q|^2 up to 1.006, Q14)
_GAINS = [0, 1, -1, 8192, 16383, 16384, -16384, 65535, 65536, -65537, 73728000, -73728000,
          9000 * 65536 // 2, -(9000 * 65536 // 2), 4718592, -4718592]


def _cases(n: int) -> list[list[int]]:
    """[cur 0-5, prev 0-5, n2, bend0 l, bend0 r, bgain l, bgain r] per case."""
    rng = np.random.default_rng(11)
    out = []
    for k in range(n):
        hip = [int(v) for v in rng.integers(-_HALF, _HALF + 1, size=8)]  # cur x, z l r; prev
        if k % 7 == 0:  # on an axis, at zero, at the ends
            pick = [0, _HALF, -_HALF, 1, -1, hip[0]]
            hip = [pick[int(rng.integers(0, len(pick)))] for _ in range(8)]
        if k % 11 == 0:  # |vx| == |vz|: the diagonal, either sign
            hip[5] = hip[0] + hip[4] - hip[1] if k % 2 else -(hip[0] + hip[4]) - hip[1]
        bend = [int(v) for v in rng.integers(-8 * 32768, 8 * 32768, size=4)]
        cur = [hip[0], hip[1], bend[0], hip[2], hip[3], bend[1]]
        prev = [hip[4], hip[5], bend[2], hip[6], hip[7], bend[3]]
        n2 = int(rng.choice([2, 4, 8, 16]))
        b0 = [int(rng.choice([0, 32767, -32768, int(rng.integers(-32768, 32768))])) for _ in range(2)]
        g = [int(rng.choice(_GAINS)) if rng.random() < 0.5 else int(rng.integers(-(1 << 28), 1 << 28))
             for _ in range(2)]
        out.append(cur + prev + [n2] + b0 + g)
    return out


def _reference(case: list[int]) -> list[int]:
    """The bytecode tick before the kernel (MGait._tick up to commit 3e687a1), on CPython."""
    sys.path.insert(0, str(FIRMWARE))
    try:
        from gaitfw.mgait_trig import atan2_cd
    finally:
        sys.path.remove(str(FIRMWARE))
    cur, prev, n2, bend0, bgain = case[0:6], case[6:12], case[12], case[13:15], case[15:17]
    ang = [0, 0, 0, 0]
    for leg in range(2):
        j = 3 * leg
        vx = cur[j] + prev[j]
        vz = cur[j + 1] + prev[j + 1]
        bs = cur[j + 2] + prev[j + 2] - n2 * bend0[leg]
        bs = max(-131071, min(131071, bs))
        ang[2 * leg] = atan2_cd(vx, vz)
        ang[2 * leg + 1] = (bs * bgain[leg]) >> 16
    return ang + cur + [0] * 6  # angles, then prev (the block), then cur (cleared)


_SCRIPT = """
import gc, json
from array import array
from gaitfw import mgait as G
from gaitfw.mgait_trig import ATAN_TAB
cases = json.load(open(CASES))
cur = array('i', [0] * 6); prev = array('i', [0] * 6); ang = array('i', [0] * 4)
cal = array('i', [0] * 5)
out = {}
for name, fn in (('viper', G._angles_viper), ('plain', G._angles_plain)):
    res = []
    for c in cases:
        for i in range(6):
            cur[i] = c[i]; prev[i] = c[6 + i]
        for i in range(5):
            cal[i] = c[12 + i]
        fn(cur, prev, ang, cal, ATAN_TAB)
        res.append(list(ang) + list(prev) + list(cur))
    out[name] = res
c = cases[1]
for i in range(5):
    cal[i] = c[12 + i]
gc.collect()
a0 = gc.mem_alloc()
for k in range(2000):
    cur[0] = k; cur[4] = -k; cur[2] = 40 * k
    G._angles_viper(cur, prev, ang, cal, ATAN_TAB)
out['heap'] = gc.mem_alloc() - a0
print(json.dumps(out))
"""


def _run(fw: Path, cases_path: Path) -> dict:
    env = dict(os.environ, MICROPYPATH=f"{fw}:.frozen")
    p = subprocess.run([micropython_binary(), "-X", "heapsize=8M", "-c",
                        f"CASES = {str(cases_path)!r}\n" + _SCRIPT],
                       capture_output=True, text=True, timeout=300, env=env, cwd=str(ROOT))
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(p.stdout)


@pytest.mark.parametrize("words", ["64-bit", "32-bit"])
def test_angle_kernel_equals_the_bytecode_tick(tmp_path: Path, words: str) -> None:
    cases = _cases(3000)
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(cases))
    fw = FIRMWARE
    if words == "32-bit":
        fw = tmp_path / "firmware"
        assert emulate(FIRMWARE, fw).get("gaitfw/mgait.py", 0) > 0
    got = _run(fw, path)
    want = [_reference(c) for c in cases]
    assert got["viper"] == want
    assert got["plain"] == want
    assert got["heap"] == 0
    # the inputs reach what the comments claim: hip sums past 2^17, gains past 2^26, both signs
    assert max(abs(c[0] + c[6]) for c in cases) > 1 << 17
    assert max(c[15] for c in cases) > 1 << 26 and min(c[16] for c in cases) < -(1 << 26)
    assert len({a[0] for a in want}) > 2000 and len({a[1] for a in want}) > 1500  # not a constant


def test_emulation_would_catch_a_one_piece_bend_product(tmp_path: Path) -> None:
    """The 32-bit run is a real check: with the unsplit product (bs * bgain) >> 16 in the
    kernel, the emulated words give other knee angles on large gains."""
    src = (FIRMWARE / "gaitfw" / "mgait.py").read_text()
    split = "ang[2 * leg + 1] = bs * (g >> 16) + (((bs >> 8) * gl + (((bs & 0xFF) * gl) >> 8)) >> 8)"
    assert src.count(split) == 1
    shutil.copytree(FIRMWARE, tmp_path / "src")
    (tmp_path / "src" / "gaitfw" / "mgait.py").write_text(src.replace(split, "ang[2 * leg + 1] = (bs * g) >> 16"))
    bad = tmp_path / "bad"
    emulate(tmp_path / "src", bad)
    cases = [c for c in _cases(400) if abs(c[15]) > 1 << 20]
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(cases))
    got = _run(bad, path)
    want = [_reference(c) for c in cases]
    assert got["plain"] == want
    assert got["viper"] != want
