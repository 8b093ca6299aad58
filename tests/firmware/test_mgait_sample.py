"""MGait's per-sample work in one native call (`mgait._sample_viper`) keeps the words the three
kernels it replaced kept, sample for sample: `_pre`, `ahrs.step` and `_post` one after another
(`MGait._feed_plain`, which CPython runs), on 64-bit and on emulated 32-bit words.

Why: `feed` made three viper calls a sample (eight buffer conversions) and looked up nine
attributes for them, ~3 000 instructions of the knee sleeve's ~31 000 (docs/benchmarks.md,
"Through the board drivers"). Viper has no inlining, so the kernel holds copies of
`_pre_viper`'s and `ahrs._step_viper`'s bodies; the first test keeps them verbatim. The stream
walks the shipped CMU walk, then stands still long enough for the static re-alignment (the
kernel stops before the filter step for it), then full-scale noise (saturation), an IMU that
reads zeros and one that freezes (dropout), then walks again.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pytest

from gaitloop.export.device_runner import micropython_binary
from gaitloop.word32 import emulate
from tests.conftest import FIRMWARE, ROOT

pytestmark = pytest.mark.micropython


def _body(text: str, header: str, start: str, end: str) -> str:
    a = text.index(start, text.index(header))
    a = text.rindex("\n", 0, a) + 1
    return textwrap.dedent(text[a:text.index(end, a)])


def test_the_sample_kernel_holds_pre_and_the_filter_step_verbatim() -> None:
    mg = (FIRMWARE / "gaitfw" / "mgait.py").read_text()
    ah = (FIRMWARE / "gaitfw" / "ahrs.py").read_text()
    pre = _body(mg, "def _pre_viper(", "    flags = 0\n", "    return flags\n")
    step = _body(ah, "def _step_viper(", "    for leg in range(n):\n", "    return 0\n")
    k = mg[mg.index("def _sample_viper("):]
    assert _body(k, "", "# -- _pre_viper's body\n", "# -- end of _pre_viper's body").split("\n", 1)[1] == pre
    assert _body(k, "", "# -- ahrs._step_viper's body\n", "# -- end of ahrs._step_viper").split("\n", 1)[1] == step
    assert pre.count("\n") > 50 and step.count("\n") > 150


def _stream(path: Path) -> int:
    from gaitloop.sim.sources import make_replay

    walk = make_replay("knee", "both", ROOT / "data" / "mocap" / "cmu" / "35_01.amc").counts.astype(np.int64)
    walk = np.tile(walk, (4, 1))  # 8 s of walk, four times
    rng = np.random.default_rng(5)
    still = np.repeat(walk[:1], 400, axis=0)  # standing: the first (calibration) row, small noise
    still[:, [1, 2, 3, 8, 9, 10]] += rng.integers(-20, 21, size=(400, 6))
    still[:, [4, 5, 6, 11, 12, 13]] += rng.integers(-3, 4, size=(400, 6))
    loud = rng.choice([32767, -32768, 0, 31000], size=(300, 14))
    loud[::3] = rng.integers(-32768, 32768, size=(100, 14))
    zeros = np.repeat(walk[1500:1501], 60, axis=0)
    zeros[:30, [1, 2, 3]] = 0  # an accelerometer reading zeros, then a frozen gyro
    rows = np.concatenate([walk[:2500], still, walk[2500:3000], loud, zeros, still[:150], walk[:1500]])
    rows = np.clip(rows, -32768, 32767).astype("<i2")
    rows.tofile(path)
    return len(rows)


_SCRIPT = """
import gc, json
from array import array
from gaitfw.feedback import Feedback
from gaitfw.mgait import MGait
ev = [[], []]
rec = [1]
ms = []
for k in range(2):
    def emit(t, c, s, a, b, k=k):
        if rec[0]:
            ev[k].append([t, c, s, a, b])
    ms.append(MGait(emit, {}, 100, Feedback(emit, {}), viper=(k == 0)))
re = [0]
f0 = ms[0]._realign
def realign():
    re[0] += 1
    f0()
ms[0]._realign = realign
row = array('h', [0] * 14)
mv = memoryview(row)
f = open(PATH, 'rb')
i = 0
bad = -1
flags = 0
while f.readinto(mv) == 28:
    ms[0].feed(i * 10, row)
    ms[1].feed(i * 10, row)
    flags |= ms[0].st
    if bad < 0 and (list(ms[0].K) != list(ms[1].K) or list(ms[0].angles) != list(ms[1].angles)):
        bad = i
    i += 1
m = ms[0]
rec[0] = 0  # the walk again, events not kept: feed allocates nothing
f.seek(0)
k = a0 = heap = 0  # globals made before the window (a new one may grow the module's dict)
gc.collect()
a0 = gc.mem_alloc()
while k < 3000 and f.readinto(mv) == 28:
    m.feed(i * 10, row)
    i += 1
    k += 1
heap = gc.mem_alloc() - a0
print(json.dumps({'n': i, 'bad': bad, 'ev': ev[0] == ev[1], 'nev': len(ev[0]), 're': re[0], 'st': flags,
                  'heap': heap, 'mode': m.K[63]}))
"""


@pytest.mark.parametrize("words", ["64-bit", "32-bit"])
def test_the_sample_kernel_keeps_the_three_kernels_words(tmp_path: Path, words: str) -> None:
    n = _stream(tmp_path / "knee.bin")
    fw = FIRMWARE
    if words == "32-bit":
        fw = tmp_path / "firmware"
        assert emulate(FIRMWARE, fw).get("gaitfw/mgait.py", 0) > 0
    env = dict(os.environ, MICROPYPATH=f"{fw}:.frozen")
    p = subprocess.run([micropython_binary(), "-X", "heapsize=8M", "-c",
                        f"PATH = {str(tmp_path / 'knee.bin')!r}\n" + _SCRIPT],
                       capture_output=True, text=True, timeout=600, env=env, cwd=str(ROOT))
    assert p.returncode == 0, p.stderr[-2000:]
    got = json.loads(p.stdout.strip().splitlines()[-1])
    assert got["n"] == n + 3000 and got["bad"] == -1, got
    assert got["ev"] and got["nev"] > 50, got  # calibration, steps, strides, feedback
    assert got["re"] >= 2, got  # both still stretches re-aligned the filter
    assert got["st"] & (1 << 18) and got["st"] & (1 << 19), got  # saturated, dropout seen
    assert got["heap"] == 0 and got["mode"] == 0, got
