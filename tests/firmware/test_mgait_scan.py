"""MGait's event machine in one native call per tick (`mgait_events._scan_viper`) makes the
decisions the bytecode machine made: the same contacts, foot-offs, steps and timeouts, bit
for bit, on 64-bit and on emulated 32-bit words, with no heap growth.

Why: the bytecode loop over the four signals cost ~26 000 instructions per 25 Hz tick under
MicroPython (tools/bench/bench_stream.py, knee sleeve); the kernel now scans and the bytecode
runs only for what it found. The reference is that loop itself (`GaitEvents._feed_bytecode`
on an integer machine, the code the board ran before), on streams that reach the kernel's
corners: gait-like angles with noise, pauses past the step timeout, plateaus (a derivative of
exactly zero), and angles up to the 2^28 cdeg bound, where the five-point derivative needs
more than a 32-bit word and the kernel takes its sign in parts.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from gaitloop.export.device_runner import micropython_binary
from gaitloop.word32 import emulate
from tests.conftest import FIRMWARE, ROOT

pytestmark = pytest.mark.micropython

_BIG = (1 << 28) - 1  # the widest angle the kernel is exact for (mgait_events._scan_viper)


def _gait(rng: np.random.Generator, n: int, amp: int, noise: int) -> list[list[int]]:
    """Two legs in antiphase, knee and hip, with noise, a few pauses and plateaus."""
    rows, t = [], 0
    period = int(rng.integers(18, 40))
    lag = int(rng.integers(-3, 5))
    for i in range(n):
        t += 40 if rng.random() > 0.01 else int(rng.integers(1000, 4000))  # pauses: timeouts
        vals = []
        for leg in (0, 1):
            ph = ((i + leg * period // 2) % period) / period
            knee = math.sin(math.pi * (ph - 0.45) / 0.55) if ph > 0.45 else 0.1 + 0.2 * math.sin(math.pi * ph / 0.45)
            hip = math.cos(2 * math.pi * (ph - lag / period))
            vals += [hip, knee]
        row = [int(v * amp) + int(rng.integers(-noise, noise + 1)) for v in vals]
        if rng.random() < 0.05:  # a plateau: the same angles again
            row = rows[-1][1:] if rows else row
        rows.append([t] + [max(-_BIG, min(_BIG, v)) for v in row])
    return rows


def _streams() -> list[dict]:
    rng = np.random.default_rng(15)
    out = []
    for k in range(24):
        amp = [3000, 9000, 40000, 1 << 20, 1 << 26, _BIG][k % 6]
        noise = [0, 50, 400, 1 << 12, 1 << 22, 1 << 27][k % 6] if k % 4 else 0
        prom = [int(rng.integers(0, 3000)), int(rng.integers(0, 3000))] if k % 3 else [2000, 1000]
        if amp > 1 << 20:
            prom = [p * (amp >> 14) for p in prom]
        out.append({"prom": prom, "rows": _gait(rng, 400, amp, noise)})
    for _ in range(6):  # random walks at the bound: every derivative path, both signs
        t, rows, v = 0, [], [0, 0, 0, 0]
        for _ in range(400):
            t += 40
            v = [max(-_BIG, min(_BIG, x + int(rng.integers(-(1 << 27), 1 << 27)))) for x in v]
            if rng.random() < 0.1:
                v = [int(rng.choice([_BIG, -_BIG, 0])) for _ in v]
            rows.append([t] + v)
        out.append({"prom": [int(rng.integers(0, 1 << 27)), int(rng.integers(0, 1 << 27))], "rows": rows})
    return out


_SCRIPT = """
import gc, json
from array import array
from gaitfw.mgait_events import GaitEvents
class Sink:
    def __init__(self):
        self.log = []
    def on_ic(self, t, side, a, b):
        self.log.append(['ic', t, side, a, b])
    def on_fo(self, t, side, a, b):
        self.log.append(['fo', t, side, a, b])
    def on_lost(self, t, reason):
        self.log.append(['lost', t, reason])
    def on_step(self, t, front, af, bf, ab, bb, t_ic):
        self.log.append(['step', t, front, af, bf, ab, bb, t_ic])
streams = json.load(open(CASES))
out = {}
for name in ('viper', 'plain', 'bytecode'):
    res = []
    for s in streams:
        sink = Sink()
        ev = GaitEvents(sink, s['prom'][0], s['prom'][1], viper=name == 'viper')
        feed = ev._feed_bytecode if name == 'bytecode' else ev.feed
        for r in s['rows']:
            feed(r[0], r[1], r[2], r[3], r[4])
        res.append(sink.log)
    out[name] = res
ev = GaitEvents(Sink())
v = array('i', [0, 0, 0, 0])
scan = ev.scan; b = ev.buf; w = ev.w
gc.collect()
a0 = gc.mem_alloc()
for k in range(3000):
    v[0] = k; v[1] = -k; v[3] = (k * 37) % 500
    scan(v, b, w, 40 * k)
out['heap'] = gc.mem_alloc() - a0
print(json.dumps(out))
"""


def _run(fw: Path, cases_path: Path) -> dict:
    env = dict(os.environ, MICROPYPATH=f"{fw}:.frozen")
    p = subprocess.run([micropython_binary(), "-X", "heapsize=16M", "-c", f"CASES = {str(cases_path)!r}\n" + _SCRIPT],
                       capture_output=True, text=True, timeout=600, env=env, cwd=str(ROOT))
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(p.stdout)


@pytest.mark.parametrize("words", ["64-bit", "32-bit"])
def test_scan_kernel_makes_the_bytecode_machines_decisions(tmp_path: Path, words: str) -> None:
    streams = _streams()
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(streams))
    fw = FIRMWARE
    if words == "32-bit":
        fw = tmp_path / "firmware"
        assert emulate(FIRMWARE, fw).get("gaitfw/mgait_events.py", 0) > 0
    got = _run(fw, path)
    assert got["viper"] == got["bytecode"]
    assert got["plain"] == got["bytecode"]
    assert got["heap"] == 0
    # the streams reach what they claim: every kind of event, on small and on huge angles
    kinds = [e[0] for log in got["bytecode"] for e in log]
    assert min(kinds.count(k) for k in ("ic", "fo", "step", "lost")) >= 20, {k: kinds.count(k) for k in set(kinds)}
    assert sum(len(log) for log in got["bytecode"][-6:]) >= 50  # the random walks at the bound
    assert sum(len(log) for log in got["bytecode"][4:24:6]) >= 20  # gait at amplitude 2^26


def test_emulation_would_catch_a_one_piece_derivative(tmp_path: Path) -> None:
    """The 32-bit run is a real check: with the derivative always taken in one piece
    (8p + q, up to 2^32), the emulated words make other decisions on the widest angles."""
    src = (FIRMWARE / "gaitfw" / "mgait_events.py").read_text()
    guard = ("        if p >= 67108864:\n            pos = 1\n        elif p > -67108864:\n")
    assert src.count(guard) == 1
    shutil.copytree(FIRMWARE, tmp_path / "src")
    (tmp_path / "src" / "gaitfw" / "mgait_events.py").write_text(src.replace(guard, "        if 1:\n"))
    bad = tmp_path / "bad"
    emulate(tmp_path / "src", bad)
    streams = _streams()[-6:]
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(streams))
    got = _run(bad, path)
    assert got["plain"] == got["bytecode"]
    assert got["viper"] != got["bytecode"]
