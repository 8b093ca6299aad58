"""Sample-loop jitter and long-run drift, measured on the virtual board. See docs/benchmarks.md.

The virtual board runs the real firmware under the MicroPython Unix port on a profile's
drivers (part models under the `machine` stand-in, `gaitloop sim --hal drivers`), at real
time, with the real boards' overrun policy (catch up at most 2 samples, then skip). Figures:

1. Jitter: how far the sample instants fall behind the ideal grid start + n x period,
   measured by the board itself (gaitfw/pacer.py: ticks_us when the sample is read minus when
   it was due; a histogram of 200 us bins) and read with CMD_TIMING: mean, p99, max, samples a
   period or more late, ticks skipped.
2. Long-run drift: the board's sample clock (index / rate, refined by CMD_TIME to the
   microsecond) against the host's monotonic clock, from a probe after warm-up to one at the
   end; each probe is placed at the midpoint of its send and receive times (uncertainty: half
   the round trip, printed). On the Unix port both clocks are CLOCK_MONOTONIC, so this shows
   what the loop itself adds; a real board adds its crystal's tolerance (docs/hardware.md).

The machine this runs on is shared: lateness there is the host OS scheduling a user process,
an upper bound of what a board's own asyncio loop sees.

Run: .venv/bin/python tools/bench/bench_loop_timing.py [--seconds 60] [--profile picow-insole]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "firmware"))
sys.path.insert(0, str(ROOT / "host"))

from gaitfw import protocol as P  # noqa: E402
from gaitloop.power import PowerClient  # noqa: E402
from gaitloop.sim.vboard import VirtualBoard  # noqa: E402
from gaitloop.timeprobe import board_time_s  # noqa: E402

DATA = {"insole": ROOT / "data" / "gaitpdb" / "GaCo01_01.txt",
        "knee": sorted((ROOT / "data" / "mocap" / "cmu").glob("*.amc"))[0]}


def _probe(pc: PowerClient, rate: int, tries: int = 15) -> tuple[float, float, float]:
    """(board seconds, host seconds, uncertainty): of `tries` CMD_TIME probes the one with the
    shortest round trip, placed at the midpoint of its send and receive times (the board's
    instant lies between them, so half the round trip bounds the error)."""
    best = None
    for _ in range(tries):
        t0 = time.monotonic()
        ack = pc.client.request(P.CMD_TIME, what="time")
        t1 = time.monotonic()
        b = board_time_s(ack.reply, rate, 1.0)
        if b is None:
            raise SystemExit("malformed CMD_TIME answer")
        if best is None or t1 - t0 < 2 * best[2]:
            best = (b, (t0 + t1) / 2, (t1 - t0) / 2)
        time.sleep(0.013)  # a different phase of the board's 10 ms reader poll each time
    assert best is not None
    return best


def measure(profile: str, seconds: float, warmup: float = 5.0) -> dict:
    from gaitfw import profiles

    board = profiles.get(profile)["board"]
    cfg = {"catchup": 2, "idle_after_s": 0}  # a real board's overrun policy; never idle here
    with VirtualBoard(board, "left", DATA[board], hal="drivers", profile=profile, config=cfg) as vb:
        pc = PowerClient(vb.port)
        try:
            time.sleep(warmup)  # boot, first GC, MGait's standing calibration
            pc.timing(reset=True)
            b0, h0, u0 = _probe(pc, 100)
            time.sleep(seconds)
            b1, h1, u1 = _probe(pc, 100)
            timing = pc.timing()
        finally:
            pc.close()
    span = h1 - h0
    drift_ms = ((b1 - b0) - span) * 1000
    return {"profile": profile, "seconds": round(span, 1), **timing,
            "drift_ms": round(drift_ms, 3), "drift_ppm": round(drift_ms / 1000 / span * 1e6, 1),
            "probe_uncertainty_ms": round((u0 + u1) * 1000, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--profile", action="append", help="board profile(s); default picow-insole and picow-knee")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    rows = [measure(p, a.seconds) for p in (a.profile or ["picow-insole", "picow-knee"])]
    if a.json:
        print(json.dumps(rows, indent=1))
        return
    print("sample-loop timing on the virtual board (MicroPython Unix port, --hal drivers, real time)")
    print(f"{'profile':<14} {'s':>5} {'samples':>8} {'mean us':>8} {'p99 us':>7} {'max us':>7} "
          f"{'late':>5} {'skipped':>7} {'drift ms':>9} {'ppm':>6} {'+-ms':>6}")
    for r in rows:
        print(f"{r['profile']:<14} {r['seconds']:>5} {r['n']:>8} {r['mean_us']:>8} {r['p99_us']:>7} "
              f"{r['max_us']:>7} {r['late']:>5} {r['skipped']:>7} {r['drift_ms']:>9} {r['drift_ppm']:>6} "
              f"{r['probe_uncertainty_ms']:>6}")
    print("late: samples taken a period (10 ms) or more after they were due; skipped: ticks beyond "
          "the 2-sample catch-up, lost and counted; drift: board sample clock minus host clock")


if __name__ == "__main__":
    main()
