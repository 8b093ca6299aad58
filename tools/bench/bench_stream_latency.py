"""Latency of the terminal view (`gaitloop stream`'s live table): a sample leaving the board ->
the table that shows its value rendered.

The same pieces as `gaitloop stream` (links, StreamSession, `live.LiveView` drawn by
`live.live_table` as the CLI draws it: in place on the terminal (`termscreen`), when frames
arrive, at most 60 times a second; in one process) on the three virtual boards at real time;
the output goes to an in-memory terminal. For each board, at the first draw that shows a new
sample, the figure is the clock when that draw has been written minus the host time at which
the newest sample shown left its board (the one timeline, as the web bench). `--refresh N`
draws the pre-session-6 way instead, with rich's `Live` on its own timer at N per second (the
CLI's way before session 5, at 4; the figure is then taken when rich lays the view out), for
a side-by-side figure.

Run: .venv/bin/python tools/bench/bench_stream_latency.py [--ble] [--seconds 30] [--max-hz 60 | --refresh 4]
  --ble: the insoles over the simulated BLE, as `gaitloop demo` streams them
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from gaitloop.demo import demo_boards, start_demo_links  # noqa: E402
from tests.web.test_browser import WALK  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--ble", action="store_true",
                    help="the insoles over the simulated BLE (as `gaitloop demo`), the knee over serial")
    ap.add_argument("--max-hz", type=float, default=60.0, help="live_table's draw cap (the CLI's: 60)")
    ap.add_argument("--refresh", type=float, default=None,
                    help="draw on rich's own timer at this rate instead (the CLI before session 5: 4)")
    args = ap.parse_args()
    from rich.console import Console
    from rich.live import Live

    from gaitloop.live import LiveView, live_table
    from gaitloop.messages import Samples
    from gaitloop.stream import StreamSession

    boards = demo_boards(WALK, 1.0, ble=args.ble)  # the demo's boards: insoles with the GRF student
    lat: list[float] = []
    newest: dict[int, float] = {}
    drawn: dict[int, float] = {}  # board -> the newest sample time the table has shown
    measuring = [False]
    drew = "draws on rich's timer"

    def shown_now(session, upto: dict[int, float]) -> None:  # noqa: ANN001
        """The draw just made shows each board's newest sample as of `upto`."""
        now = session.host_now()
        if measuring[0]:
            for ch in session.channels:
                t = upto.get(ch.id)
                if t is None or drawn.get(ch.id) == t:
                    continue  # counted at the draw that first showed it: a latency, not an age
                drawn[ch.id] = t
                shown = ch.host_time(t)
                if shown is not None:
                    lat.append((now - shown) * 1000.0)

    class TimedView(LiveView):
        def lines(self, width):  # type: ignore[no-untyped-def]
            out = super().lines(width)
            if args.refresh:  # rich's timer thread lays the view out: measured there
                shown_now(self.session, dict(newest))
            return out

    try:
        links = start_demo_links(boards, Console(file=io.StringIO()))
        session = StreamSession(links)
        view = TimedView(session)

        def on_samples(link, ch, frame, msg) -> None:  # noqa: ANN001 - a StreamSession sink
            # board time of the newest sample, whose value the table's "latest values" shows
            if isinstance(msg, Samples) and ch.state.hello is not None:
                newest[link] = frame.t_ms + (len(msg.counts) - 1) * 1000.0 / ch.state.hello.rate

        session.sinks.append(on_samples)
        cpu0 = time.process_time()
        console = Console(file=io.StringIO(), force_terminal=True, width=160)
        t_end = [time.monotonic() + 5.0 + args.seconds]

        def tick() -> None:
            if not measuring[0] and time.monotonic() > t_end[0] - args.seconds:
                measuring[0] = True  # after 5 s: the boards said HELLO, the timeline settled
            if time.monotonic() > t_end[0]:
                session.stop()

        if args.refresh:
            with Live(view, console=console, refresh_per_second=args.refresh):
                session.run(None, on_tick=tick)
        else:
            with live_table(view, console, max_hz=args.max_hz) as redraw:
                def both() -> None:
                    tick()
                    upto, n = dict(newest), redraw.draws
                    redraw()
                    if redraw.draws != n:  # drawn and written: what it shows is on the terminal
                        shown_now(session, upto)

                session.run(None, on_tick=both)
                screen = redraw.target.screen
            drew = (f"{redraw.draws} draws, {redraw.draw_s * 1000:.2f} ms of CPU per draw (smoothed), "
                    f"{screen.bytes / max(1, screen.writes):.0f} bytes written per draw")
    finally:
        for b in boards:
            b.stop()
    cpu_s = time.process_time() - cpu0
    x = np.asarray(lat)
    how = "insoles over simulated BLE, knee over serial" if args.ble else "over serial"
    print(f"terminal view latency, sample leaving the board -> table rendered ({len(boards)} boards {how}, "
          f"{f'rich Live on its timer {args.refresh:g}/s' if args.refresh else f'drawn in place on arrival, at most {args.max_hz:g}/s'}, "
          f"{args.seconds:g} s, {len(x)} board rows rendered, load average {os.getloadavg()[0]:.1f}):")
    print(f"  p50 {np.percentile(x, 50):.1f} ms, p95 {np.percentile(x, 95):.1f} ms, "
          f"p99 {np.percentile(x, 99):.1f} ms, max {x.max():.1f} ms")
    print(f"  CPU of the stream process (links, decoding, the table's draws): "
          f"{100 * cpu_s / (args.seconds + 5):.1f} % of one core; {drew}")


if __name__ == "__main__":
    main()
