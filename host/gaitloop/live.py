"""The `live` view of a stream: one row per board, refreshed a few times a second (rich)."""

from __future__ import annotations

import time

from rich.console import Group
from rich.table import Table
from rich.text import Text

from gaitloop.asymmetry import LiveSteps
from gaitloop.flags import flag_text
from gaitloop.stream import StreamSession


class LiveView:
    """Renders a StreamSession: board, side, measured rate, latest values, gaps, events."""

    def __init__(self, session: StreamSession) -> None:
        self.session = session
        self._t0 = time.monotonic()
        self._last: dict[int, tuple[float, int]] = {}
        self._rate: dict[int, float] = {}
        self.steps = LiveSteps()  # left/right across boards, on the session's one timeline
        session.sinks.append(self.steps)

    def _measure(self) -> None:
        now = time.monotonic()
        for ch in self.session.channels:
            t, n = self._last.get(ch.id, (self._t0, 0))
            if now - t >= 1.0:
                self._rate[ch.id] = (ch.state.samples - n) / (now - t)
                self._last[ch.id] = (now, ch.state.samples)

    def __rich__(self) -> Group:
        self._measure()
        table = Table(title=f"gaitloop live  {time.monotonic() - self._t0:6.1f} s", expand=False)
        for col in ("board", "side", "rate Hz", "samples", "latest", "gaps", "crc err", "status"):
            table.add_column(col)
        events = Table(title="latest events", show_header=True)
        for col in ("board", "t (s)", "event", "values"):
            events.add_column(col)
        for ch in self.session.channels:
            st = ch.state
            h = st.hello
            latest = "  ".join(f"{k}={v:7.1f}" for k, v in st.latest_values().items())
            flags = flag_text(st.last_status.flags) if st.last_status else "-"
            table.add_row(
                h.device if h else ch.link.name,
                h.side if h else "?",
                f"{self._rate.get(ch.id, 0.0):6.0f}",
                str(st.samples),
                latest,
                f"{st.seq_gaps}/{st.sample_gaps}",
                str(ch.decoder.stats.crc_errors),
                flags,
            )
            for t_ms, ev in list(st.recent_events)[-4:]:
                vals = " ".join(f"{k}={v}" for k, v in ev.fields().items())
                events.add_row(h.device if h else "?", f"{t_ms / 1000:8.2f}", ev.name, vals)
        return Group(table, events, Text(self.steps.text()),
                     Text("gaps = frames/samples lost; Ctrl-C to stop", style="dim"))
