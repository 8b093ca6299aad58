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

It also prints the CPU each part used over the measured seconds (from /proc: the server, the
stream process, the virtual boards, chromium's renderer, GPU and other processes), a figure the
machine's load moves far less than the latency: the share of a core a stage needs is what it
waits for on a busy machine.

Run: .venv/bin/python tools/bench/bench_serve_latency.py [--ble] [--seconds 30]
  default: all three boards over serial; --ble: `gaitloop serve --demo` (insoles over the
  virtual BLE stack, the knee sleeve over serial).
"""

from __future__ import annotations

import argparse
import os
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


def _proc_table() -> dict[int, tuple[int, str, float]]:
    """pid -> (parent pid, command line, CPU seconds used so far), for every process we can read."""
    tck = os.sysconf("SC_CLK_TCK")
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                st = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        out[int(name)] = (int(st[1]), cmd, (int(st[11]) + int(st[12])) / tck)
    return out


def _part(pid: int, table: dict[int, tuple[int, str, float]], serve_pid: int) -> str | None:
    """Which part of the bench a process is (None: not ours)."""
    cmd, chain, p = table[pid][1], [], pid
    while p in table and p > 1 and len(chain) < 20:
        chain.append(p)
        p = table[p][0]
    if os.getpid() not in chain:  # another user's process (the machine is shared)
        return None
    if "micropython" in cmd:
        return "virtual boards (MicroPython)"
    if pid == serve_pid:
        return "server process (uvicorn, fan-out)"
    if serve_pid in chain:
        return "stream process (links, decoder, display frames)" if "multiprocessing" in cmd else "server's other children"
    if "chromium" in cmd:
        return ("chromium renderer (the page)" if "--type=renderer" in cmd else
                "chromium GPU process" if "--type=gpu-process" in cmd else "chromium other")
    return "playwright driver" if "playwright" in cmd else "virtual boards' bridges"


def cpu_shares(t0: dict, t1: dict, seconds: float, serve_pid: int) -> dict[str, float]:
    """Per part: CPU used between two `_proc_table` snapshots, as % of one core."""
    parts: dict[str, float] = {}
    for pid, (_, _, c1) in t1.items():
        if pid not in t0 or (part := _part(pid, t1, serve_pid)) is None:
            continue
        parts[part] = parts.get(part, 0.0) + (c1 - t0[pid][2]) / seconds * 100
    return parts


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
        cpu0, t_0 = _proc_table(), time.monotonic()
        time.sleep(args.seconds)
        cpu = cpu_shares(cpu0, _proc_table(), time.monotonic() - t_0, srv.proc.pid)
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
    load = os.getloadavg()[0]
    print(f"  CPU used, % of one core (load average {load:.1f} on {os.cpu_count()} cores):")
    for part, pct in sorted(cpu.items(), key=lambda kv: -kv[1]):
        print(f"    {part:<52} {pct:5.1f}")


if __name__ == "__main__":
    main()
