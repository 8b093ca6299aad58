"""Framing kernels and the STATUS heap walk under MicroPython: the figures of docs/benchmarks.md
("CRC-16 and COBS ... 0.6 us per 60-byte frame each, against 25 us and 18 us in plain
MicroPython. The STATUS heap walk (`gc.mem_free()`) ...").

Why a separate script: bench_stream.py measures the whole sample path; these are the parts
inside it that the docs quote on their own. Times are wall clock on the Unix port (best of
7 runs of 2000 calls, per call; the empty loop's time per iteration is printed beside them), so they move with the machine's load;
the heap walk is timed with the firmware's insole app imported and started, i.e. with the
heap the board has at run time (4 MB heap on the Unix port: the board's is smaller, so its
walk is not this one; the ~1 ms board figure is an estimate, not measured here).

    .venv/bin/python tools/bench/bench_framing.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MPY = str(Path(sys.executable).with_name("micropython"))

SCRIPT = r"""
import gc, time, json
from gaitfw import protocol as P
N = 2000
frame = bytearray(60)
for i in range(60):
    frame[i] = (i * 37 + 11) & 0xFF if i % 9 else 0  # some zero bytes, as in real frames
dst = bytearray(60 + 60 // 254 + 2)

T = P.CRC_TABLE
cv, cp, ov, op = P._crc16_viper, P._crc16_plain, P._cobs_encode_viper, P._cobs_encode_plain


def best(k):
    # explicit calls, no *args: a star call allocates its argument tuple on every call
    ts = []
    for _ in range(7):
        t0 = time.ticks_us()
        if k == 0:
            for _ in range(N):
                cv(frame, 0, 60, 0xFFFF, T)
        elif k == 1:
            for _ in range(N):
                cp(frame, 0, 60, 0xFFFF, T)
        elif k == 2:
            for _ in range(N):
                ov(frame, 60, dst)
        elif k == 3:
            for _ in range(N):
                op(frame, 60, dst)
        else:
            for _ in range(N):
                pass
        ts.append(time.ticks_diff(time.ticks_us(), t0))
    return min(ts) / N


res = {"crc16_viper_us": best(0), "crc16_plain_us": best(1), "cobs_viper_us": best(2),
       "cobs_plain_us": best(3), "empty_loop_us": best(4)}
assert P._crc16_viper(frame, 0, 60, 0xFFFF, P.CRC_TABLE) == P._crc16_plain(frame, 0, 60, 0xFFFF, P.CRC_TABLE)
from gaitfw import app as A
from gaitfw.boards import insole
gc.collect()
ts = []
for _ in range(21):
    t0 = time.ticks_us()
    gc.mem_free()
    ts.append(time.ticks_diff(time.ticks_us(), t0))
ts.sort()
res["heap_walk_us"] = ts[10]
res["heap_alloc_bytes"] = gc.mem_alloc()
print(json.dumps(res))
"""


def main() -> int:
    env = dict(os.environ, MICROPYPATH=f"{ROOT / 'firmware'}:.frozen")
    p = subprocess.run([MPY, "-X", "heapsize=4M", "-c", SCRIPT], capture_output=True, text=True,
                       timeout=300, env=env, cwd=str(ROOT))
    if p.returncode != 0:
        print(f"bench_framing: micropython failed: {p.stderr.strip().splitlines()[-1:]}",
              file=sys.stderr)
        return 1
    r = json.loads(p.stdout.strip().splitlines()[-1])
    print("Framing kernels per 60-byte frame, MicroPython Unix port (wall us per call, best of 7 x 2000)")
    print(f"{'kernel':10} {'viper us':>9} {'plain us':>9} {'plain/viper':>12}")
    for k in ("crc16", "cobs"):
        v, pl = r[f"{k}_viper_us"], r[f"{k}_plain_us"]
        print(f"{k:10} {v:9.2f} {pl:9.2f} {pl / max(v, 1e-9):12.1f}")
    print(f"(the empty loop: {r['empty_loop_us']:.3f} us per iteration, included above)")
    print(f"gc.mem_free() heap walk: {r['heap_walk_us']} us (median of 21; "
          f"{r['heap_alloc_bytes']} B allocated, 4 MB heap; the Unix port, not the board)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
