"""Where the knee pipeline's time goes per sample: the per-sample part vs the 25 Hz tick.

docs/benchmarks.md (MGait section) splits the viper path's wall time into the per-sample part
(offsets and fault checks, both Madgwick updates, eq. 1 block sums, the `feed` glue) and the
25 Hz tick (atan2, bend calibration, the event machine) that runs on every 4th sample. This
script measures that split: it times every `MGait.feed` call of a real walk (simulated
sensors, as bench_mgait.py) under the MicroPython Unix port and groups the calls by sample
index modulo 4; the slowest class is the tick. Medians per class, so GC pauses and the
machine's load spikes do not land in the figure; `ticks_us` resolution is 1 us, so each
figure is rounded to that; the cost of the timer pair itself is printed (the empty-timer line).

    .venv/bin/python tools/bench/bench_mgait_stages.py [--walk FILE]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "host"))
sys.path.insert(0, str(ROOT / "firmware"))
WALK = ROOT.parent / "shared" / "data" / "mocap" / "bandai_namco" / "dataset-2" / "data" / "dataset-2_walk_normal_001.bvh"
MPY = str(Path(sys.executable).with_name("micropython"))

RUNNER = r"""
import sys, time
from array import array
from gaitfw.feedback import Feedback
from gaitfw.mgait import MGait
N = int(sys.argv[2])
def emit(t, code, side, a, b):
    pass
cfg = {"bend_cal": [[150, 9420], [150, 9420]]}
mg = MGait(emit, cfg, 100, Feedback(emit, cfg), viper=True)
row = array('h', [0] * 14)
mv = memoryview(row)
dts = array('H', [0] * N)
f = open(sys.argv[1], 'rb')
i = 0
tu, td = time.ticks_us, time.ticks_diff
while i < N:
    if f.readinto(mv) != 28:
        f.seek(0)
        continue
    t0 = tu()
    mg.feed(i * 10, row)
    dts[i] = td(tu(), t0)
    i += 1
empty = array('H', [0] * 2000)
for k in range(2000):
    t0 = tu()
    empty[k] = td(tu(), t0)
def med(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]
def mean(xs):
    return sum(xs) / len(xs)
skip = 400  # standing calibration and warm-up
for c in range(4):
    xs = [dts[j] for j in range(skip, N) if j % 4 == c]
    print("CLASS", c, med(xs), mean(xs))
print("EMPTY", med(empty), mean(empty))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--walk", type=Path, default=WALK)
    ap.add_argument("--samples", type=int, default=3000)
    a = ap.parse_args()
    from gaitloop.mgait.mocap import load_walk
    from gaitloop.mgait.synth import synthesize

    s = synthesize(load_walk(a.walk))
    with tempfile.TemporaryDirectory(prefix="bench_mgait_stages_") as td:
        binf = Path(td) / "knee.bin"
        s.counts.astype("<i2").tofile(binf)
        env = dict(os.environ, MICROPYPATH=f"{ROOT / 'firmware'}")
        p = subprocess.run([MPY, "-X", "heapsize=4M", "-c", RUNNER, str(binf), str(a.samples)],
                           capture_output=True, text=True, env=env, timeout=600)
    if p.returncode != 0:
        print(f"bench_mgait_stages: micropython failed: {p.stderr.strip()[-300:]}", file=sys.stderr)
        return 1
    classes = {}
    empty = (0.0, 0.0)
    for ln in p.stdout.splitlines():
        f = ln.split()
        if f[0] == "CLASS":
            classes[int(f[1])] = (float(f[2]), float(f[3]))
        elif f[0] == "EMPTY":
            empty = (float(f[1]), float(f[2]))
    tick = max(classes, key=lambda c: classes[c][0])
    other = [classes[c][0] for c in classes if c != tick]
    per_sample = sorted(other)[len(other) // 2]
    print(f"walk {a.walk.name}, {a.samples} samples (first 400 skipped), viper path, wall us per feed call")
    for c in sorted(classes):
        tag = "  <- 25 Hz tick" if c == tick else ""
        print(f"  sample index % 4 == {c}: median {classes[c][0]:.0f} us, mean {classes[c][1]:.1f} us{tag}")
    print(f"  empty timer pair: median {empty[0]:.0f} us, mean {empty[1]:.2f} us")
    print(f"per-sample part ~{per_sample:.0f} us; tick sample ~{classes[tick][0]:.0f} us, i.e. the tick adds "
          f"~{classes[tick][0] - per_sample:.0f} us every 4th sample = "
          f"~{(classes[tick][0] - per_sample) / 4:.1f} us per sample")
    return 0


if __name__ == "__main__":
    sys.exit(main())
