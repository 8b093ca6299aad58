"""Alignment error of the host timeline (host/gaitloop/timeline.py) after 30 s, per scenario.

Each scenario (gaitloop.sim.clocks.scenarios: seeded) simulates one board's clock (offset up
to 5 s, drift up to +-200 ppm, a reboot) and its link (BLE connection-event clumps at 7.5 /
15 / 28.75 / 30 ms with a packet cap per event, USB frames, random extra delays, host stalls
of up to 3 s, gaps). The error is the estimated host time of a frame's board time minus the
true one, over every frame received 30 s or more into a boot: `live` is the online mapping
when the frame arrived (what the stream shows), `export` the hindsight mapping `gaitloop
export` writes. `grid` is the worst case any estimator on receive times has at zero relative
drift (gcd of the 100 ms frame period and the link interval, see `phase_grid_ms`).
`probed` is the live mapping with CMD_TIME probes every ~0.25 s (what `gaitloop stream` does
over BLE; the simulated probe timing is described in gaitloop.sim.clocks).

`--seeds N` adds, for the 15 / 30 ms scenarios, the spread of the probed worst case over N
other seeds (the same scenario, other random draws: link delays, probe times).

Run: .venv/bin/python tools/bench/bench_align.py [--seeds 10]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "firmware"))

from gaitloop.sim.clocks import align_errors, phase_grid_ms, scenarios  # noqa: E402
from gaitloop.timeprobe import PROBE_EVERY_S  # noqa: E402


def seed_spread(n: int) -> None:
    print(f"\n| scenario (probed, {n} seeds) | worst case after 30 s: median / max (ms) | seeds over 2 ms |")
    print("|---|---|---|")
    for sc in scenarios():
        if sc.link.interval_ms < 15:
            continue
        w = np.array([np.abs(align_errors(dataclasses.replace(sc, seed=1000 + k),
                                          probe_every_s=PROBE_EVERY_S)["live"]).max() * 1000
                      for k in range(n)])
        print(f"| {sc.name} | {np.median(w):.2f} / {w.max():.2f} | {(w > 2).sum()} of {n} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=0)
    args = ap.parse_args()
    print("| scenario | offset | drift | grid | live mean / p99 / max (ms) | export mean / p99 / max (ms) "
          "| probed live mean / p99 / max (ms) | frames |")
    print("|---|---|---|---|---|---|---|---|")
    t0 = time.perf_counter()
    for sc in scenarios():
        e = align_errors(sc)
        e["probed"] = align_errors(sc, probe_every_s=PROBE_EVERY_S)["live"]
        cells = []
        for k in ("live", "offline", "probed"):
            a = np.abs(e[k]) * 1000
            cells.append(f"{a.mean():.2f} / {np.percentile(a, 99):.2f} / {a.max():.2f}")
        print(f"| {sc.name} | {sc.offset_s:.1f} s | {sc.drift_ppm:+.0f} ppm | {phase_grid_ms(sc):g} ms | "
              f"{cells[0]} | {cells[1]} | {cells[2]} | {len(e['live'])} |")
    if args.seeds:
        seed_spread(args.seeds)
    print(f"\n({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
