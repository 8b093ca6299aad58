"""Benchmark of the update path. Prints its figures; see docs/benchmarks.md ("Pushing an update").

1. Transfer time of the shipped GRF student (.gldm) over serial to a virtual board (the real
   firmware under MicroPython behind a pty, replaying at 5x), per window size: BEGIN -> DATA
   -> END including the board's verification, self-test and switch; samples streamed and
   sample gaps during the push.
2. The board's heap during a transfer under MicroPython: the App + Updater in one process,
   fed the same command frames; gc.mem_alloc() peak over the transfer without collection,
   what stays allocated once collected, and bytes allocated per DATA chunk.
3. Verification cost under MicroPython: SHA-256 of a slot file per KB (time, and callgrind
   instructions when valgrind is installed), the manifest's HMAC, and the END step for the
   model (hash + load + self-test + processor rebuild).

Run: .venv/bin/python tools/bench/bench_push.py [--no-callgrind] [--runs 3]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GRF = ROOT / "models" / "student_grf.gldm"
WALK = ROOT / "data" / "gaitpdb" / "GaCo01_01.txt"
MPY = str(Path(sys.executable).with_name("micropython"))
KEY = bytes(range(32))


def transfer_times(runs: int, ble: bool = False, windows: tuple[int, ...] = (1, 2, 4, 8)) -> list[dict]:
    """Push timings per window; over the board's serial pty, or (`ble`) over the simulator's
    BLE stack (bumble; MTU 247, connection events every 15 ms, 4 packets each)."""
    from gaitfw import manifest as M
    from gaitloop.link import open_link
    from gaitloop.sim.vboard import VirtualBoard
    from gaitloop.update.client import UpdateClient
    from gaitloop.update.image import model

    out = []
    with tempfile.TemporaryDirectory() as d:
        kf = Path(d) / "device.key"
        kf.write_bytes(M.key_file_bytes("bench", KEY))
        with VirtualBoard("insole", "left", WALK, speed=5, files={"device.key": kf}, ble=ble) as vb:
            spec = f"ble:{vb.ble_name()}@{vb.ble_transport}" if ble else vb.port
            version = 1
            for window in windows:
                times = []
                streamed = gaps = 0
                for _ in range(runs):
                    c = UpdateClient(open_link(spec))
                    try:
                        c.open()
                        art = model(GRF, version=version)
                        version += 1
                        s0 = c.ch.state.samples
                        t0 = time.perf_counter()
                        c.push(art, KEY, "insole", window=window)
                        times.append(time.perf_counter() - t0)
                        streamed += c.ch.state.samples - s0
                        gaps += c.ch.state.sample_gaps
                    finally:
                        c.close()
                best = min(times)
                out.append({"window": window, "bytes": GRF.stat().st_size, "best_s": best,
                            "median_s": sorted(times)[len(times) // 2],
                            "kb_per_s": GRF.stat().st_size / 1024 / best,
                            "samples_streamed": streamed, "sample_gaps": gaps,
                            "samples_per_s_during": streamed / sum(times)})
    return out


_RAM = r"""
import gc, sys, os, hashlib, time
from gaitfw import app as A, update as U, manifest as M, protocol as P
from gaitfw.boards import insole as B
KEY = bytes(range(32))
with open('device.key', 'wb') as f:
    f.write(M.key_file_bytes('bench', KEY))
class Out:
    def write(self, buf, off, n):
        pass
upd = U.Updater(B, {'board': 'insole', 'side': 'left'})
app = A.App(B, upd.cfg, None, Out())
upd.attach(app)
with open(PATH, 'rb') as f:
    payload = f.read()
man = M.pack(KEY, M.KIND_MODEL, M.BOARD_INSOLE, 2, 1, len(payload), hashlib.sha256(payload).digest())
frames = []
off = 0
while off < len(payload):
    d = payload[off:off + 512]
    a = bytearray(6 + len(d))
    P.put_u32(a, 0, off)
    P.put_u16(a, 4, P.crc16(d, 0, len(d)))
    a[6:] = d
    frames.append(bytes(a))
    off += len(d)
payload = None
peak = base = m = t0 = t1 = t2 = kept = 0
gc.collect()
base = gc.mem_alloc()
gc.disable()
app.handle_command(1, P.CMD_UPD_BEGIN, man)
for fr in frames:
    app.handle_command(2, P.CMD_UPD_DATA, fr)
    m = gc.mem_alloc()
    if m > peak:
        peak = m
per_chunk = (gc.mem_alloc() - base) / len(frames)
gc.enable()
gc.collect()
kept = gc.mem_alloc() - base
gc.disable()
t0 = time.ticks_us()
app.handle_command(3, P.CMD_UPD_END, b'')
t1 = time.ticks_us()
end_peak = gc.mem_alloc() - base
gc.enable()
gc.collect()
print('RESULT', peak - base, per_chunk, kept, gc.mem_alloc() - base, end_peak,
      time.ticks_diff(t1, t0), len(frames))
"""


def board_ram() -> dict:
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, MICROPYPATH=f"{ROOT / 'firmware'}:.frozen")
        script = Path(d) / "bench_ram.py"
        script.write_text(f"PATH={str(GRF)!r}\n" + _RAM)
        p = subprocess.run([MPY, "-X", "heapsize=2M", str(script)], capture_output=True, text=True,
                           env=env, cwd=d, timeout=300)
        if p.returncode != 0:
            raise RuntimeError(p.stderr[-2000:] + p.stdout[-2000:])
        peak, per_chunk, kept, after_end, end_peak, end_us, n = p.stdout.split()[-7:]
        return {"peak_alloc_during_transfer_B": int(peak), "alloc_per_chunk_B": float(per_chunk),
                "kept_after_transfer_B": int(kept), "kept_after_end_B": int(after_end),
                "end_alloc_B": int(end_peak),
                "end_ms": int(end_us) / 1000, "chunks": int(n)}


_VERIFY = r"""
import time, hashlib
from gaitfw import store, manifest as M
N = %d
buf = bytearray(512)
t0 = time.ticks_us()
d = store.file_sha256(PATH, buf)
t1 = time.ticks_us()
h = 0
for i in range(20):
    h = M.hmac_sha256(bytes(32), bytes(48))
t2 = time.ticks_us()
print('RESULT', time.ticks_diff(t1, t0), time.ticks_diff(t2, t1) / 20)
"""


def verify_cost(use_callgrind: bool) -> dict:
    out: dict = {}
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, MICROPYPATH=f"{ROOT / 'firmware'}:.frozen")
        data = Path(d) / "slot.bin"
        kb = 64
        data.write_bytes(os.urandom(kb * 1024))
        script = Path(d) / "bench_verify.py"
        script.write_text(f"PATH={str(data)!r}\n" + _VERIFY % kb)
        p = subprocess.run([MPY, str(script)], capture_output=True, text=True, env=env, cwd=d, timeout=300)
        if p.returncode != 0:
            raise RuntimeError(p.stderr[-2000:])
        us, hmac_us = p.stdout.split()[-2:]
        out["sha256_us_per_kb"] = int(us) / kb
        out["hmac_manifest_us"] = float(hmac_us)
        if use_callgrind and shutil.which("valgrind"):
            counts = []
            for size in (16, 32):
                data.write_bytes(os.urandom(size * 1024))
                script.write_text(f"PATH={str(data)!r}\n" + _VERIFY % size)
                cg = Path(d) / "cg.out"
                p = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={cg}",
                                    MPY, str(script)], capture_output=True, text=True, env=env,
                                   cwd=d, timeout=900)
                m = re.search(r"Collected\s*:\s*(\d+)", p.stderr)
                counts.append(int(m.group(1)) if m else None)
            if all(counts):
                out["sha256_instructions_per_kb"] = (counts[1] - counts[0]) / 16
    return out


def _print_transfer(r: dict) -> None:
    print(f"  window {r['window']}: best {r['best_s'] * 1000:.0f} ms (median "
          f"{r['median_s'] * 1000:.0f} ms) = {r['kb_per_s']:.1f} KB/s; streamed "
          f"{r['samples_streamed']} samples meanwhile ({r['samples_per_s_during']:.0f}/s), "
          f"{r['sample_gaps']} gaps")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-callgrind", action="store_true")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    print(f"artifact: {GRF.name}, {GRF.stat().st_size} bytes, sha256 "
          f"{hashlib.sha256(GRF.read_bytes()).hexdigest()[:16]}")
    print("\n1. transfer over serial to a virtual board (MicroPython behind a pty, replay 5x)")
    for r in transfer_times(args.runs):
        _print_transfer(r)
    print("\n1b. the same over the simulator's BLE link (bumble; MTU 247, 15 ms connection events)")
    for r in transfer_times(args.runs, ble=True, windows=(4, 8)):
        _print_transfer(r)
    print("\n2. board heap during the transfer (MicroPython, App + Updater, 512-byte chunks)")
    r = board_ram()
    print(f"  peak gc.mem_alloc() above the start, no collection: {r['peak_alloc_during_transfer_B']} B "
          f"({r['alloc_per_chunk_B']:.0f} B per chunk, all garbage)")
    print(f"  kept once collected, after {r['chunks']} chunks: {r['kept_after_transfer_B']} B")
    print(f"  allocated by END, no collection (old processors still held): {r['end_alloc_B']} B")
    print(f"  kept after END (the new model and processors live): {r['kept_after_end_B']} B")
    print(f"  END (hash check, load, self-test, rebuild, state switch): {r['end_ms']:.0f} ms")
    print("\n3. verification under MicroPython")
    v = verify_cost(not args.no_callgrind)
    print(f"  SHA-256 of a slot file: {v['sha256_us_per_kb']:.0f} us per KB"
          + (f", {v['sha256_instructions_per_kb']:.0f} instructions per KB"
             if "sha256_instructions_per_kb" in v else ""))
    print(f"  HMAC-SHA256 of a manifest (48 bytes): {v['hmac_manifest_us']:.0f} us")


if __name__ == "__main__":
    main()
