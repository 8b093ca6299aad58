"""The `live` view of a stream: one row per board, refreshed a few times a second (rich).

Rate and speed are shown apart: a 100 Hz board replayed at 10x delivers ~1000 samples per wall
second, but its algorithms see 100 Hz and its stance times stay true. The board's rate comes
from its sample index against its own clock (HELLO's `rate` until two readings exist); the
speed is its clock against the host's wall clock (1 for a real board, N for a replay at Nx).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.text import Text

from gaitloop.asymmetry import LiveSteps
from gaitloop.eventview import event_text, side_text
from gaitloop.flags import flag_text
from gaitloop.messages import Event, Frame, Samples
from gaitloop.stream import BoardChannel, StreamSession
from gaitloop.termscreen import TermScreen, screen_open
from gaitloop.textgrid import Column, Line, grid, paragraph

#: seconds of wall time the rate and speed are measured over
WINDOW_S = 3.0


class RateMeter:
    """Board rate (samples per board second) and replay speed (board s per wall s) of one
    board, over the last `window_s` of wall time."""

    def __init__(self, window_s: float = WINDOW_S, min_step_s: float = 0.1) -> None:
        self.window_s = window_s
        self.min_step_s = min_step_s
        self._pts: deque[tuple[float, int, int]] = deque()  # (wall s, board t_ms, next index)

    def add(self, wall: float, t_ms: int | None, index: int | None) -> None:
        if t_ms is None or index is None:
            return
        if self._pts and (t_ms < self._pts[-1][1] or index < self._pts[-1][2]):
            self._pts.clear()  # the board restarted: its clock and index begin again
        if self._pts and wall - self._pts[-1][0] < self.min_step_s:
            return  # at most one reading per min_step_s: frames come hundreds a second
        self._pts.append((wall, t_ms, index))
        while len(self._pts) > 2 and wall - self._pts[1][0] >= self.window_s:
            self._pts.popleft()

    def rate_hz(self) -> float | None:
        if len(self._pts) < 2:
            return None
        (_, t0, i0), (_, t1, i1) = self._pts[0], self._pts[-1]
        return (i1 - i0) * 1000.0 / (t1 - t0) if t1 > t0 else None

    def speed(self) -> float | None:
        if len(self._pts) < 2:
            return None
        (w0, t0, _), (w1, t1, _) = self._pts[0], self._pts[-1]
        if w1 - w0 < 0.5:  # too short to tell a burst from a rate
            return None
        return (t1 - t0) / 1000.0 / (w1 - w0)


def rate_text(rate_hz: float | None, speed: float | None, hello_rate: int | None) -> str:
    """'100 Hz x10', '100 Hz x1', '100 Hz' (speed not yet known), '-' (nothing known)."""
    rate = rate_hz if rate_hz is not None else hello_rate
    if rate is None:
        return "-"
    out = f"{rate:.0f} Hz"
    if speed is not None:
        out += f" x{speed:.2g}" if speed < 100 else f" x{speed:.0f}"
    return out


class LiveView:
    """Renders a StreamSession: per board its side, rate x speed, samples, losses and STATUS
    flags; then its latest values (with units, and the on-board GRF estimate) and its latest
    events (fields in units; the GRF estimate, one every hop, is a value, not listed)."""

    def __init__(self, session: StreamSession, clock: Callable[[], float] = time.monotonic,
                 n_events: int = 4, extra: Sequence[Callable[[], str]] = ()) -> None:
        self.session = session
        self.clock = clock
        self.n_events = n_events
        self._t0 = clock()
        self._meters: dict[int, RateMeter] = {}
        self._events: dict[int, deque[tuple[int, Event]]] = {}
        self._grf: dict[int, int] = {}  # latest student force estimate, 0.1 N
        # measured and collected as frames arrive, not when drawn: a redirected `stream`
        # draws only once
        session.sinks.append(self._on_message)
        self.steps = LiveSteps()  # left/right across boards, on the session's one timeline
        self.extra = list(extra)  # more one-line summaries (e.g. two knee sleeves' steps)
        session.sinks.append(self.steps)
        self.changed = False  # a frame arrived since the last draw (`Redraw`)
        self._widths: tuple[list[int], list[int], list[int]] = ([], [], [])  # columns only grow
        self._names: dict[int, str] = {}
        self._events_version = 0  # one more per listed event: the events table is kept until then
        self._events_lines: tuple[Any, list[Line]] = (None, [])

    def _on_message(self, link: int, ch: BoardChannel, frame: Frame, msg: object) -> None:
        self.changed = True
        if isinstance(msg, Samples):
            meter = self._meters.setdefault(link, RateMeter())
            meter.add(self.clock(), ch.state.last_t_ms, ch.state.next_index)
        elif isinstance(msg, Event):
            if msg.name == "student_grf":  # every hop: a value, not an event to list
                self._grf[link] = msg.a
            else:
                self._events.setdefault(link, deque(maxlen=self.n_events)).append((frame.t_ms, msg))
                self._events_version += 1

    def _meter(self, ch: BoardChannel) -> RateMeter:
        return self._meters.get(ch.id) or RateMeter()

    def _latest(self, ch: BoardChannel) -> str:
        h = ch.state.hello
        if h is None:
            return ""
        units = dict(zip(h.channels, h.units, strict=False))
        out = [f"{k} {v:.1f} {units.get(k, '')}".rstrip() for k, v in ch.state.latest_values().items()]
        if ch.id in self._grf:  # a vertical force is never negative: clipped, and said so
            dn = self._grf[ch.id]
            out.append(f"student GRF {max(dn, 0) / 10:.1f} N" + (" (clipped)" if dn < 0 else ""))
        return "  ".join(out)

    def lines(self, width: int) -> list[Line]:
        """The view as lines at most `width` cells wide: the boards table, their latest values,
        the latest events, the left/right summary, the extra summaries, the legend."""
        now = self.clock()
        chans = self.session.channels
        names = {ch.id: (ch.state.hello.device if ch.state.hello else ch.link.name) for ch in chans}
        name_w = max((len(n) for n in names.values()), default=5)
        boards: list[tuple[str, ...]] = []
        values: list[tuple[str, ...]] = []
        for ch in chans:
            st = ch.state
            h = st.hello
            meter = self._meter(ch)
            boards.append((
                names[ch.id],
                h.side if h else "?",
                rate_text(meter.rate_hz(), meter.speed(), h.rate if h else None),
                str(st.samples),
                f"{st.seq_gaps}/{st.sample_gaps}",
                str(ch.decoder.stats.crc_errors),
                flag_text(st.last_status.flags).replace(",", ", ") if st.last_status else "-",
            ))
            values.append((names[ch.id], self._latest(ch) or "-"))
        if self._names != names:  # a HELLO named a board: its column may narrow again
            self._names = names
            self._widths = ([], [], [])
        w = self._widths
        out = grid(f"gaitloop live  {now - self._t0:6.1f} s", (
            Column("board", min_width=name_w), Column("side", min_width=5),
            Column("rate", min_width=10), Column("samples", right=True), Column("gaps"),
            Column("crc", right=True), Column("status", fold=True)), boards, width, min_widths=w[0])
        out += grid("latest values", (Column("board", min_width=name_w), Column("values", fold=True)),
                    values, width, header=False, min_widths=w[1])
        out += self._events_table(names, name_w, width)
        out += paragraph(self.steps.text(), width)
        for f in self.extra:
            t = f()
            if t:
                out += paragraph(t, width)
        return out + paragraph(LEGEND, width, "dim")

    def _events_table(self, names: dict[int, str], name_w: int, width: int) -> list[Line]:
        """The latest events table, laid out again only when an event arrived or the screen
        or a name changed (events come a few times a second; draws, tens)."""
        key = (self._events_version, width, name_w, tuple(names.items()))
        if self._events_lines[0] != key:
            rows = [(names[ch.id], f"{t_ms / 1000:.2f}", side_text(ev.side), ev.name,
                     event_text(ev, diagnostics=False))
                    for ch in self.session.channels for t_ms, ev in self._events.get(ch.id, ())]
            lines = grid("latest events", (
                Column("board", min_width=name_w), Column("t (s)", right=True), Column("side"),
                Column("event"), Column("values", fold=True)), rows, width,
                min_widths=self._widths[2]) if rows else []
            self._events_lines = (key, lines)
        return self._events_lines[1]

    def __rich_console__(self, console: Any, options: Any) -> Iterator[Text]:
        """The same lines through rich (a redirected `stream` prints the view once, at the end;
        the tests read it this way)."""
        for style, text in self.lines(options.max_width):
            yield Text(text, style=style or "", no_wrap=True, end="\n")


#: what the view's columns mean, under the tables
LEGEND = ("rate: the board's sample rate x replay speed (its clock per wall second); "
          "gaps: frames/samples lost; crc: frames failing CRC; t: board time; Ctrl-C to stop")


class Redraw:
    """Draws the view (`target.refresh()`) when frames arrive, not on a timer.

    Why: with rich's `refresh_per_second=4` a new value waited up to 250 ms for the next
    draw, so the table showed a sample 50-100 ms after it arrived at the median, 100+ ms at p99
    (`tools/bench/bench_stream_latency.py`). Here the session's loop (`on_tick`) draws as soon
    as a frame arrived, at most `max_hz` times a second, and at least `min_hz` times (the clocks
    and rates move without frames). The draws also keep within `cpu_share` of one core: the
    gap between draws is at least the measured draw time / cpu_share, so a slow machine (or a
    slow renderer: rich took 5-20 ms a draw) draws less often rather than spending the
    stream's CPU on the table. While a draw is held back, the session's select wakes when it
    is due (`poll_timeout`).
    """

    def __init__(self, target: Any, view: LiveView, max_hz: float = 60.0, min_hz: float = 4.0,
                 cpu_share: float = 0.2, clock: Callable[[], float] = time.monotonic,
                 cpu_clock: Callable[[], float] = time.thread_time) -> None:
        self.target, self.view, self.clock, self.cpu_clock = target, view, clock, cpu_clock
        self.fastest, self.max_gap = 1.0 / max_hz, 1.0 / min_hz
        self.min_gap = self.fastest
        self.cpu_share = cpu_share
        self.draw_s = 0.0  # CPU seconds per draw, smoothed
        self.session = view.session
        self.idle_timeout = self.session.poll_timeout
        self._last = -1e9
        self.draws = 0

    def __call__(self) -> None:
        now = self.clock()
        since = now - self._last + 1e-6  # a wake-up `min_gap - since` later is due, not early
        if (self.view.changed and since >= self.min_gap) or since >= self.max_gap:
            self.view.changed = False
            self._last = now
            self.draws += 1
            c0 = self.cpu_clock()
            self.target.refresh()
            cost = self.cpu_clock() - c0
            self.draw_s = cost if self.draws == 1 else 0.8 * self.draw_s + 0.2 * cost
            self.min_gap = min(self.max_gap, max(self.fastest, self.draw_s / self.cpu_share))
            self.session.poll_timeout = self.idle_timeout
        elif self.view.changed:  # held back: wake when the next draw is allowed
            self.session.poll_timeout = max(0.0, self.min_gap - since)
        else:
            self.session.poll_timeout = min(self.idle_timeout, self.max_gap - since)


class ViewOnScreen:
    """`refresh()` lays the view out for the terminal's current size and draws it in place."""

    def __init__(self, view: LiveView, screen: TermScreen) -> None:
        self.view, self.screen = view, screen

    def refresh(self) -> None:
        self.screen.draw(self.view.lines(self.screen.size()[0]))


class _Nothing:
    def refresh(self) -> None:
        pass


@contextmanager
def live_table(view: LiveView, console: Console, max_hz: float = 60.0,
               cpu_share: float = 0.2) -> Iterator[Redraw]:
    """`with live_table(view, console) as redraw: session.run(..., on_tick=redraw)`: the
    terminal view `gaitloop stream` and `gaitloop demo` show, drawn by `Redraw` in place
    (`termscreen`). Output that is not a terminal gets the view once, at the end."""
    if not console.is_terminal:
        try:
            yield Redraw(_Nothing(), view, max_hz=max_hz, cpu_share=cpu_share)
        finally:
            console.print(view)
        return
    screen = TermScreen(console.file, size=lambda: (console.width, console.height),
                        styles=console.color_system is not None)
    with screen_open(screen):
        redraw = Redraw(ViewOnScreen(view, screen), view, max_hz=max_hz, cpu_share=cpu_share)
        redraw()
        yield redraw
