"""Per-sample cost of the knee pipeline under MicroPython: fixed point (plain, viper) vs float.

Why side by side in one run: the ratios (float / fixed instructions, heap growth) are only
meaningful on the same interpreter, the same input and the same machine. The knee pipeline
per 100 Hz sample = two Madgwick updates (both thighs) + eq. 1 smoothing + (every 4th
sample) atan2, bend calibration and the event state machine, + per step the closed form and
feedback. The float variant is the same pipeline with float Madgwick, float smoothing and
math.atan2/math.sin, written in plain MicroPython.

Usage: .venv/bin/python tools/bench/bench_mgait.py [--walk FILE] [--no-callgrind]
Prints: us/sample (wall, Unix port, the harness loop's own time subtracted), heap growth over the walk, callgrind instructions per
sample (difference of two runs of different length, so start-up cancels), float/fixed
ratio and an ESP32-S3 projection.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "host"))
sys.path.insert(0, str(ROOT / "firmware"))
WALK = ROOT.parent / "shared" / "data" / "mocap" / "bandai_namco" / "dataset-2" / "data" / "dataset-2_walk_normal_001.bvh"

RUNNER = r"""
import gc, sys, time
from array import array
VARIANT = sys.argv[1]
LIMIT = int(sys.argv[2])
BIN = sys.argv[3]
ev = array('i', [0] * 5 * 512)
n_ev = [0]
def emit(t, code, side, a, b):
    i = n_ev[0]
    if i < 512:
        o = 5 * i
        ev[o] = t; ev[o + 1] = code; ev[o + 2] = side; ev[o + 3] = a; ev[o + 4] = b
        n_ev[0] = i + 1
cfg = {"bend_cal": [[150, 9420], [150, 9420]]}
if VARIANT == "null":
    class _Null:
        def feed(self, t, s):
            pass
    mg = _Null()
elif VARIANT == "float":
    from mgait_float import FloatKnee
    mg = FloatKnee(emit, 100)
else:
    from gaitfw.feedback import Feedback
    from gaitfw.mgait import MGait
    mg = MGait(emit, cfg, 100, Feedback(emit, cfg), viper=(VARIANT == "viper"))
row = array('h', [0] * 14)
mv = memoryview(row)
f = open(BIN, 'rb')
i = 0
a0 = 0
t0 = 0
while i < LIMIT:
    if f.readinto(mv) != 28:
        f.seek(0)
        continue
    if i == 400:
        gc.collect()
        a0 = gc.mem_alloc()
        t0 = time.ticks_us()
    mg.feed(i * 10, row)
    i += 1
dt = time.ticks_diff(time.ticks_us(), t0)
print("RESULT", VARIANT, i, gc.mem_alloc() - a0, dt / max(1, i - 400), n_ev[0])
"""

FLOAT_MODULE = r'''
"""Float twin of the knee pipeline for the benchmark (plain MicroPython floats)."""
import math
from gaitfw.mgait_events import GaitEvents

class _Sink:
    def __init__(self, emit):
        self.emit = emit
    def on_ic(self, t, side, a, b):
        self.emit(t, 52, side, int(a), int(b))
    def on_fo(self, t, side, a, b):
        self.emit(t, 53, side, int(a), int(b))
    def on_lost(self, t, r):
        self.emit(t, 64, 2, r, 0)
    def on_step(self, t, front, af, bf, ab, bb, t_ic):
        r = math.pi / 18000
        d = 410 * (math.sin((af - bf) * r) + math.sin((bb - ab) * r)) + 391 * (math.sin(af * r) - math.sin(ab * r))
        self.emit(t, 48, front, int(d), 0)

class FloatKnee:
    def __init__(self, emit, rate):
        self.dt = 1.0 / rate
        self.beta = 0.033
        self.q = [[1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]]
        self.off = [0] * 14
        self.cur = [0.0] * 6
        self.prev = [0.0] * 6
        self.k = 0
        self.ncal = 0
        self.ev = GaitEvents(_Sink(emit), 2000, 1000, numtype=float)
        self.gs = math.pi / 180 / 32.8

    def _mad(self, q, gx, gy, gz, ax, ay, az):
        q0, q1, q2, q3 = q
        d0 = 0.5 * (-q1 * gx - q2 * gy - q3 * gz)
        d1 = 0.5 * (q0 * gx + q2 * gz - q3 * gy)
        d2 = 0.5 * (q0 * gy - q1 * gz + q3 * gx)
        d3 = 0.5 * (q0 * gz + q1 * gy - q2 * gx)
        n = math.sqrt(ax * ax + ay * ay + az * az)
        if n > 0:
            ax /= n; ay /= n; az /= n
            f0 = 2 * (q1 * q3 - q0 * q2) - ax
            f1 = 2 * (q0 * q1 + q2 * q3) - ay
            f2 = 2 * (0.5 - q1 * q1 - q2 * q2) - az
            s0 = -2 * q2 * f0 + 2 * q1 * f1
            s1 = 2 * q3 * f0 + 2 * q0 * f1 - 4 * q1 * f2
            s2 = -2 * q0 * f0 + 2 * q3 * f1 - 4 * q2 * f2
            s3 = 2 * q1 * f0 + 2 * q2 * f1
            n = math.sqrt(s0 * s0 + s1 * s1 + s2 * s2 + s3 * s3)
            if n > 0:
                b = self.beta / n
                d0 -= b * s0; d1 -= b * s1; d2 -= b * s2; d3 -= b * s3
        dt = self.dt
        q0 += d0 * dt; q1 += d1 * dt; q2 += d2 * dt; q3 += d3 * dt
        n = math.sqrt(q0 * q0 + q1 * q1 + q2 * q2 + q3 * q3)
        q[0] = q0 / n; q[1] = q1 / n; q[2] = q2 / n; q[3] = q3 / n

    def feed(self, t, s):
        if self.ncal < 200:
            self.ncal += 1
            return
        off = self.off
        gs = self.gs
        cur = self.cur
        for leg in range(2):
            o = 7 * leg
            q = self.q[leg]
            self._mad(q, (s[o + 4] - off[o + 4]) * gs, (s[o + 5] - off[o + 5]) * gs, (s[o + 6] - off[o + 6]) * gs,
                      s[o + 1] / 4096.0, s[o + 2] / 4096.0, s[o + 3] / 4096.0)
            q0, q1, q2, q3 = q
            cur[3 * leg] += 2 * (q1 * q3 - q0 * q2)
            cur[3 * leg + 1] += 1 - 2 * (q1 * q1 + q2 * q2)
            cur[3 * leg + 2] += s[o]
        self.k += 1
        if self.k == 4:
            self.k = 0
            a = [0.0] * 4
            for leg in range(2):
                j = 3 * leg
                a[2 * leg] = math.atan2(cur[j] + self.prev[j], cur[j + 1] + self.prev[j + 1]) * 5729.578
                a[2 * leg + 1] = ((cur[j + 2] + self.prev[j + 2]) / 8 - 150) * 0.9554
                self.prev[j] = cur[j]; self.prev[j + 1] = cur[j + 1]; self.prev[j + 2] = cur[j + 2]
                cur[j] = 0.0; cur[j + 1] = 0.0; cur[j + 2] = 0.0
            self.ev.feed(t - 35, a[0], a[1], a[2], a[3])
'''


def micropython() -> str:
    here = Path(sys.executable).with_name("micropython")
    return str(here) if here.exists() else shutil.which("micropython") or "micropython"


def run(variant: str, n: int, binf: Path, tmp: Path, callgrind: bool = False) -> tuple[dict, int | None]:
    env = dict(os.environ, MICROPYPATH=f"{ROOT / 'firmware'}:{tmp}")
    cmd = [micropython(), "-X", "heapsize=4M", str(tmp / "runner.py"), variant, str(n), str(binf)]
    ir = None
    if callgrind:
        out = tmp / f"cg.{variant}.{n}"
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"] + cmd
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    if p.returncode != 0:
        raise SystemExit(f"{variant}: micropython failed\n{p.stdout}\n{p.stderr}")
    line = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT")][0].split()
    res = {"samples": int(line[2]), "heap_growth": int(line[3]), "us_per_sample": float(line[4]), "events": int(line[5])}
    if callgrind:
        m = re.search(r"Collected\s*:\s*(\d+)", p.stderr)
        ir = int(m.group(1)) if m else None
    return res, ir


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--walk", type=Path, default=WALK)
    ap.add_argument("--no-callgrind", action="store_true")
    ap.add_argument("--repeat", type=int, default=3, help="wall-clock runs per variant (best kept)")
    args = ap.parse_args()
    from gaitloop.mgait.mocap import load_walk
    from gaitloop.mgait.synth import synthesize

    s = synthesize(load_walk(args.walk))
    tmp = Path(tempfile.mkdtemp(prefix="bench_mgait_"))
    binf = tmp / "knee.bin"
    s.counts.astype("<i2").tofile(binf)
    (tmp / "runner.py").write_text(RUNNER)
    (tmp / "mgait_float.py").write_text(FLOAT_MODULE)
    n_long = 3000
    print(f"walk: {args.walk.name}, {len(s.counts)} samples at 100 Hz, 14 channels; timed samples after 400")
    rows = {}
    for v in ("null", "viper", "plain", "float"):
        best = None
        for _ in range(args.repeat):
            r, _ = run(v, n_long, binf, tmp)
            if best is None or r["us_per_sample"] < best["us_per_sample"]:
                best = r
        rows[v] = best
        print(f"{v:6s} wall {best['us_per_sample'] - (rows['null']['us_per_sample'] if v != 'null' else 0):7.2f} us/sample net  heap growth {best['heap_growth']:7d} B over "
              f"{best['samples'] - 400} samples ({best['heap_growth'] / (best['samples'] - 400):.2f} B/sample)  events {best['events']}")
    if not args.no_callgrind and shutil.which("valgrind"):
        n_short = 1400
        ipc = {}
        for v in ("null", "viper", "plain", "float"):
            _, a = run(v, n_short, binf, tmp, callgrind=True)
            _, b = run(v, n_long, binf, tmp, callgrind=True)
            ipc[v] = (b - a) / (n_long - n_short)
        for v in ("viper", "plain", "float"):
            ipc[v] -= ipc["null"]  # the harness loop (readinto, counter) is not the pipeline
            print(f"{v:6s} callgrind {ipc[v]:10.0f} instructions/sample (harness {ipc['null']:.0f} subtracted)")
        print(f"float / fixed-viper instructions: {ipc['float'] / ipc['viper']:.1f}x; float / fixed-plain: {ipc['float'] / ipc['plain']:.1f}x")
        # ESP32-S3 projection: one x86-64 instruction ~ 1.5 Xtensa instructions at ~1.3 cycles each
        for v in ("viper", "plain", "float"):
            us = ipc[v] * 1.5 * 1.3 / 240.0
            print(f"{v:6s} ESP32-S3 @240 MHz projection {us:7.1f} us/sample = {us / 10000 * 100:5.2f} % of the 10 ms period")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
