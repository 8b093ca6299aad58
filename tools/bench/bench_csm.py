"""CSM cost per sample under MicroPython: plain vs viper fixed point vs float reference.

Why instructions: wall time on this shared 2-core machine is noisy; `valgrind --tool=callgrind`
counts executed instructions exactly. The per-sample cost is isolated by differencing a run of
N samples and a run of 2N samples (start-up, imports and warm-up cancel out). Time per sample
(ticks_us, best of 3) and heap growth per sample (gc.mem_alloc over N and 2N) come from
runs without valgrind.

    .venv/bin/python tools/bench/bench_csm.py [--n 2000] [--no-callgrind]

Prints one table; docs/benchmarks.md records a run and the ESP32-S3 projection.
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

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
TEMPLATES = ROOT / "models" / "csm_default.json"
HUANG = ROOT.parent / "shared" / "data" / "huang_gait_phase" / "events_and_forces"

VARIANTS = {
    "fixed_plain": "s = csm.SensorCSM(T, P, False)\nfeed = s.feed",
    "fixed_viper": "s = csm.SensorCSM(T, P, True)\nfeed = s.feed",
    "float_ref": "s = csm.SensorCSM(T, P, False, TF)\nfeed = s.feed_float",
    "foot_viper": "fp = foot.FootProcessor(emit, 0, T, P, use_viper=True)\nfeed = None",
}

SCRIPT = """
TF = (csm.float_template(d['on']['mu'], d['on']['delta'], d['on']['eps']),
      csm.float_template(d['off']['mu'], d['off']['delta'], d['off']['eps']))
{setup}
def run(m, k0):
    # locals only inside the loops: a global lookup's cost depends on the interpreter's
    # memory layout (docs/benchmarks.md, "Why the foot count moved"), a local's does not
    k = k0
    hh = heel
    nn = n
    if feed is None:
        f = fp.feed
        smp = sample
        bb = ball
        for i in range(m):
            smp[0] = hh[k]
            smp[1] = bb[k]
            f(i, smp)
            k += 1
            if k >= nn:
                k = 0
    else:
        f = feed
        for i in range(m):
            f(hh[k])
            k += 1
            if k >= nn:
                k = 0
    return k
k = run(300, 0)
MODE = {mode!r}
M = {m}
if MODE == 'count':
    run(M, k)
else:
    best = 1e9
    grow = []
    for rep in range(3):
        gc.collect()
        a0 = gc.mem_alloc()
        t0 = time.ticks_us()
        k = run(M, k)
        dt = time.ticks_diff(time.ticks_us(), t0)
        grow.append(gc.mem_alloc() - a0)
        best = min(best, dt)
    gc.collect()
    a0 = gc.mem_alloc()
    k = run(2 * M, k)
    g2 = gc.mem_alloc() - a0
    print(best / M, grow[-1], g2)
"""


def _micropython() -> str:
    here = Path(sys.executable).with_name("micropython")
    return str(here) if here.exists() else shutil.which("micropython") or "micropython"


def _code(variant: str, mode: str, m: int, files: dict) -> str:
    from gaitloop.csm.mpy_scripts import csm_preamble

    pre = csm_preamble(TEMPLATES, files["n_file"], files["heel"], files["ball"])
    return pre + SCRIPT.format(setup=VARIANTS[variant], mode=mode, m=m)


def _run(code: str, valgrind: bool, tmp: Path) -> str:
    env = dict(os.environ, MICROPYPATH=f"{FIRMWARE}:.frozen")
    cmd = [_micropython(), "-X", "heapsize=4M", "-c", code]
    if valgrind:
        out = tmp / "cg.out"
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"] + cmd
        subprocess.run(cmd, check=True, capture_output=True, env=env, cwd=ROOT)
        text = out.read_text(errors="replace")
        m = re.search(r"^(?:summary|totals):\s*(\d+)", text, re.M)
        return m.group(1)
    return subprocess.run(cmd, check=True, capture_output=True, text=True, env=env,
                          cwd=ROOT).stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="samples N (the runs use N and 2N)")
    ap.add_argument("--no-callgrind", action="store_true", help="skip instruction counts")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "host"))
    from gaitloop.csm.io import load_streams

    streams = load_streams(HUANG)
    h = next(s for s in streams if s.recording == "N03_2" and s.sensor == "left_heel")
    b = next(s for s in streams if s.recording == "N03_2" and s.sensor == "left_ball")
    have_vg = shutil.which("valgrind") is not None and not args.no_callgrind
    rows = {}
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        np.asarray(h.counts, "<i2").tofile(tmp / "h.bin")
        np.asarray(b.counts, "<i2").tofile(tmp / "b.bin")
        files = {"n_file": len(h.counts), "heel": str(tmp / "h.bin"), "ball": str(tmp / "b.bin")}
        for v in VARIANTS:
            us, g1, g2 = _run(_code(v, "time", 5 * args.n, files), False, tmp).split()
            row = {"us": float(us), "heap_N": int(g1), "heap_2N": int(g2)}
            if have_vg:
                i1 = int(_run(_code(v, "count", args.n, files), True, tmp))
                i2 = int(_run(_code(v, "count", 2 * args.n, files), True, tmp))
                row["instr"] = (i2 - i1) / args.n
            rows[v] = row
    print(f"{'variant':<12} {'instr/sample':>13} {'us/sample':>10} {'heap N':>8} {'heap 2N':>8}")
    for v, r in rows.items():
        ins = f"{r['instr']:.0f}" if "instr" in r else "-"
        print(f"{v:<12} {ins:>13} {r['us']:>10.2f} {r['heap_N']:>8} {r['heap_2N']:>8}")
    if have_vg:
        loop = "def f(n):\n    for i in range(n):\n        pass\nf(%d)"
        with tempfile.TemporaryDirectory() as td:
            l1 = int(_run(loop % (50 * args.n), True, Path(td)))
            l2 = int(_run(loop % (100 * args.n), True, Path(td)))
        print(f"anchor: empty `for i in range(n)` iteration = {(l2 - l1) / (50 * args.n):.0f} "
              "instructions (x86-64 unix port)")
        fr, fp, fv = rows["float_ref"]["instr"], rows["fixed_plain"]["instr"], rows["fixed_viper"]["instr"]
        print(f"float / fixed_plain instructions: {fr / fp:.2f}x")
        print(f"float / fixed_viper instructions: {fr / fv:.2f}x")
        print(f"fixed_plain / fixed_viper instructions: {fp / fv:.2f}x")
        foot_i = rows["foot_viper"]["instr"]
        for f in (2.0, 4.0):
            us = foot_i * f / 240.0
            print(f"ESP32-S3 projection (foot, 2 sensors, {f:.0f} cycles per x86 instr): "
                  f"{us:.1f} us = {us / 100.0:.2f} % of 10 ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
