"""Measured message counts on the virtual BLE link; see docs/benchmarks.md ("BLE").

The full set of boards (two insoles at 100 Hz and the knee sleeve, 14 channels at 100 Hz)
streams at real time over the simulator's BLE stack (firmware under MicroPython, `bluetooth`
shim, bumble, bleak on the bumble backend), one connection per board as each board is its own
peripheral. Printed per board: notifications per second, bytes per notification, frames per
notification, bytes on the link per sample, ENOMEM refusals, and the stream's losses.

What this does not measure: radio timing. The virtual link has none; the notify queue drains
at the simulated connection events (`--interval-ms`, `--per-event`), so the ENOMEM count
says how the firmware copes with that pacing, not what a given phone achieves. The capacity
of a connection at 7.5/15/30 ms is computed (by the clock-alignment work) in the same doc.

Run: .venv/bin/python tools/bench/bench_ble.py [--seconds 20] [--interval-ms 30 --per-event 4] [--speed 10]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

from gaitloop.demo import _knee_walk  # noqa: E402
from gaitloop.link.ble_link import BleLink  # noqa: E402
from gaitloop.sim.vboard import VirtualBoard, nimble_binary  # noqa: E402
from gaitloop.stream import StreamSession  # noqa: E402

WALK = ROOT / "data" / "gaitpdb" / "GaCo01_01.txt"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--interval-ms", type=float, default=30.0, help="simulated connection interval")
    ap.add_argument("--per-event", type=int, default=4, help="notifications per connection event")
    ap.add_argument("--speed", type=float, default=1.0, help="replay speed (10: the boards' throughput test)")
    args = ap.parse_args()
    kw = dict(speed=args.speed, ble=True, ble_interval_ms=args.interval_ms, ble_per_event=args.per_event)
    boards = [VirtualBoard("insole", "left", WALK, device="insole-L", **kw),
              VirtualBoard("insole", "right", WALK, device="insole-R", **kw)]
    knee = _knee_walk()
    if knee is not None:
        boards.append(VirtualBoard("knee", "left", knee, device="knee-sleeve", **kw))
    try:
        for vb in boards:
            vb.start()
        links = [BleLink(vb.ble_name(), vb.ble_transport) for vb in boards]
        radios = [vb.radio for vb in boards]
        enomem0 = [r.enomem for r in radios]
        session = StreamSession(links)
        t0 = time.monotonic()
        session.run(args.seconds)
        wall = time.monotonic() - t0
        rows = []
        for vb, r, e0, link, ch in zip(boards, radios, enomem0, links, session.channels, strict=True):
            st = ch.stats()
            n = link.notifications  # counted where they arrive: the host's bleak callback
            nbytes = link.notify_bytes
            enomem = "n/a" if nimble_binary() else str(r.enomem - e0)  # only the shim counts
            rows.append((vb.device, n / wall, nbytes / max(n, 1), st["frames"] / max(n, 1),
                         nbytes / max(st["samples"], 1), enomem, st, st["samples"] / wall))
    finally:
        for vb in boards:
            vb.stop()
    stack = ("MicroPython's NimBLE (GAITLOOP_NIMBLE_MICROPYTHON)" if nimble_binary() else
             f"the bluetooth shim, connection events every {args.interval_ms:g} ms with up to "
             f"{args.per_event} notifications each")
    print(f"virtual BLE link, {wall:.1f} s at {args.speed:g}x real time, MTU 247, board stack: {stack}")
    print(f"{'board':12s} {'notif/s':>8s} {'B/notif':>8s} {'frames/notif':>12s} {'B/sample':>9s} "
          f"{'ENOMEM':>7s} {'samples/s':>9s}  losses")
    total = 0.0
    for dev, rate, bpn, fpn, bps, enomem, st, sps in rows:
        total += rate
        print(f"{dev:12s} {rate:8.1f} {bpn:8.1f} {fpn:12.2f} {bps:9.2f} {enomem:>7s} {sps:9.1f}  "
              f"{st['seq_gaps']} frame gaps, {st['sample_gaps']} samples missing, {st['crc_errors']} CRC errors")
    print(f"{'all boards':12s} {total:8.1f} notifications/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
