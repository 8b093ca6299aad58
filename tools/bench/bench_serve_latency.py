"""Latency of `gaitloop serve`: a sample leaving the board -> its value drawn on the live page.

Runs the real CLI (`gaitloop serve`) on the full set of virtual boards at real time (two
insoles and the knee sleeve), opens the live page in Debian's chromium (Playwright), and reads
the page's own figure: for every display frame, the page's clock when the frame was drawn
(requestAnimationFrame) minus the host time at which the newest sample drawn left its board.
That host time comes from the one host timeline (`timeline.py`: board time -> the lower
envelope of receive times, minus a BLE link's declared flush floor), so the figure counts the
link's excess over its fastest frame, the stream thread, the WebSocket and the page; it does
not count the board's own batching (a SAMPLES frame carries 100 ms of samples: its oldest
sample is that much older) nor a serial link's fixed minimum transit (unknowable here).

Run: .venv/bin/python tools/bench/bench_serve_latency.py [--ble] [--seconds 30]
  default: all three boards over serial; --ble: `gaitloop serve --demo` (insoles over the
  virtual BLE stack, the knee sleeve over serial).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from gaitloop.demo import _knee_walk  # noqa: E402
from gaitloop.sim.vboard import VirtualBoard  # noqa: E402
from tests.web.serving import WALK, free_port, serving  # noqa: E402

#: the page's breakdown (live.js): each a difference of two wall clocks on this machine
STAGES = ["board -> read by the stream process (link)", "read -> display frame built (stream process)",
          "built -> read by the server process (socketpair)", "read -> sent by the page's task (event loop)",
          "sent -> received by the page (WebSocket, browser)", "received -> drawn (page, animation frame)"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--ble", action="store_true", help="insoles over virtual BLE (serve --demo)")
    args = ap.parse_args()
    if shutil.which("chromium") is None:
        sys.exit("error: chromium is not installed (apt-get install chromium)")

    boards: list[VirtualBoard] = []
    out = Path("/tmp") / f"bench_serve_{free_port()}"
    if args.ble:
        serve_args = ["--demo", "--speed", "1"]
    else:
        boards = [VirtualBoard("insole", s, WALK, speed=1.0, device=f"insole-{s[0].upper()}") for s in ("left", "right")]
        knee = _knee_walk()
        if knee is not None:
            boards.append(VirtualBoard("knee", "left", knee, speed=1.0, device="knee-sleeve", limp=0.3))
        serve_args = []  # serving() starts the boards and passes their ports
    with serving(boards, out, *serve_args, browser=True, timeout=120, page_timeout_ms=60000) as srv:
        page = srv.page
        page.wait_for_function("window.gaitloop.points > 100 && document.querySelectorAll('.board h2').length >= 2")
        page.wait_for_timeout(3000)  # the timeline settles
        page.evaluate("window.gaitloop.latency_ms = []; window.gaitloop.latency_link = []; window.gaitloop.stages = []")
        time.sleep(args.seconds)
        got = page.evaluate("[window.gaitloop.latency_ms.slice(), window.gaitloop.latency_link.slice(), "
                            "window.gaitloop.stages.slice()]")
        lat, link, stages = np.asarray(got[0]), np.asarray(got[1]), np.asarray(got[2]).reshape(-1, len(STAGES))
        names = page.evaluate("Array.from(document.querySelectorAll('.board h2')).map(h => h.textContent.split(' ')[0])")
        drops = page.evaluate("window.gaitloop.drops")
    how = "insoles over virtual BLE, knee sleeve over serial" if args.ble else "all boards over serial"
    print(f"serve latency, sample leaving the board -> drawn on the page ({how}, {args.seconds:g} s, "
          f"{len(lat)} display updates, {drops} dropped):")
    print(f"  all boards: p50 {np.percentile(lat, 50):.1f} ms, p95 {np.percentile(lat, 95):.1f} ms, "
          f"p99 {np.percentile(lat, 99):.1f} ms, max {lat.max():.1f} ms (goal p99 < 50 ms)")
    print("  by stage (p50 / p95 / p99 ms):")
    for k, stage in enumerate(STAGES):
        x = stages[:, k]
        print(f"    {stage:<52} {np.percentile(x, 50):6.1f} / {np.percentile(x, 95):6.1f} / {np.percentile(x, 99):6.1f}")
    for i, name in enumerate(names):
        x = lat[link == i]
        if len(x):
            print(f"  {name}: p50 {np.percentile(x, 50):.1f} ms, p99 {np.percentile(x, 99):.1f} ms ({len(x)})")


if __name__ == "__main__":
    main()
