"""The BLE link stage alone: a sample leaving the board -> read by the host's stream session.

`bench_serve_latency.py --ble` measures the whole way to the browser, where chromium's share
and the machine's load blur the link's part. This runs only the link: the demo's two insoles
(firmware under MicroPython, the `bluetooth` shim, the simulated radio with its connection
events, bumble, bleak on the bumble backend) into one `StreamSession`, the code `gaitloop
stream` and `serve` run (CMD_TIME probes and the online board clock included). For every
SAMPLES frame it takes the read time minus the host time its last sample left the board, as
the live page does: on the online timeline (what the page shows), and on the lower envelope of
the whole run fitted afterwards (the link's own spread, free of the online fit's error).

Run: .venv/bin/python tools/bench/bench_ble_link.py [--seconds 30] [--interval-ms 15] [--skip 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from gaitfw import protocol as P  # noqa: E402
from gaitloop.demo import DEFAULT_WALK  # noqa: E402
from gaitloop.link.ble_link import BleLink  # noqa: E402
from gaitloop.sim.vboard import VirtualBoard  # noqa: E402
from gaitloop.stream import StreamSession  # noqa: E402
from gaitloop.timeline import fit_lower_envelope, last_sample_s  # noqa: E402


def _pcts(x: np.ndarray) -> str:
    return " / ".join(f"{np.percentile(x, q):5.1f}" for q in (50, 95, 99)) + f" / {x.max():5.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--interval-ms", type=float, default=15.0, help="simulated connection interval")
    ap.add_argument("--skip", type=float, default=3.0, help="seconds of streaming not counted (start-up)")
    args = ap.parse_args()

    epoch = time.time_ns() // 1_000_000
    boards = [VirtualBoard("insole", s, DEFAULT_WALK, speed=1.0, device=f"insole-{s[0].upper()}", ble=True,
                           replay_epoch_ms=epoch, ble_interval_ms=args.interval_ms) for s in ("left", "right")]
    rows: list[tuple[int, float, float, float]] = []  # link, board s, read (host s), online latency
    links = []
    try:
        for vb in boards:
            vb.start()
        links = [BleLink(vb.ble_name(), vb.ble_transport) for vb in boards]
        t_start = [0.0]

        def sink(link_id: int, ch, frame, msg) -> None:  # noqa: ANN001 - stream.Sink
            if frame.kind != P.MSG_SAMPLES or ch.state.hello is None:
                return
            now = session.host_now()
            t_last = last_sample_s(frame.t_ms, len(msg.counts), ch.state.hello.rate)  # board s
            left = ch.host_time(t_last * 1000.0)
            if left is not None and now - t_start[0] > args.skip:
                rows.append((link_id, t_last, now, now - left))

        session = StreamSession(links, sinks=[sink])
        session.open()
        t_start[0] = session.host_now()
        end = time.monotonic() + args.seconds + args.skip
        while time.monotonic() < end:
            session.poll()
        probes = [ch.clock.probes for ch in session.channels]
    finally:
        for link in links:
            link.close()
        for vb in boards:
            vb.stop()
    r = np.asarray(rows)
    print(f"BLE link stage, two insoles over the simulated radio ({args.interval_ms:g} ms connection events), "
          f"{args.seconds:g} s after {args.skip:g} s, {len(r)} SAMPLES frames, probes {probes}, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("  ms, p50 / p95 / p99 / max")
    print(f"  online timeline (what the page shows)      {_pcts(r[:, 3] * 1000)}")
    offline = []
    for i in range(len(boards)):
        s = r[r[:, 0] == i]
        a, b = fit_lower_envelope(list(s[:, 1] - s[0, 1]), list(s[:, 2] - s[0, 2]))
        offline.append((s[:, 2] - s[0, 2]) - (a + b * (s[:, 1] - s[0, 1])))
    print(f"  whole-run lower envelope (the link alone)  {_pcts(np.concatenate(offline) * 1000)}")


if __name__ == "__main__":
    main()
