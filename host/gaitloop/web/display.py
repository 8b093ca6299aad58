"""Display frames for the live page, built in the stream thread from decoded messages.

Why a separate reduction: a board sends 100 samples/s per channel (N x that in a replay), a
page needs ~25 points/s per trace. Block means (not every k-th sample) keep short peaks'
area visible. Events that a clinician reads (gait phases, steps, feedback) pass unreduced.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from gaitfw import events as ev
from gaitloop.asymmetry import LiveSteps
from gaitloop.messages import Event, Samples, Status

#: display points per second of board time per trace (plus the partial block at each frame)
DISPLAY_HZ = 25

#: events the page shows (phases, steps, feedback); the rest only count in link health
PAGE_EVENTS = {
    ev.EV_HEEL_STRIKE, ev.EV_FOOT_FLAT, ev.EV_HEEL_OFF, ev.EV_TOE_OFF,
    ev.EV_MG_STEP, ev.EV_MG_SPEED, ev.EV_MG_STANCE, ev.EV_MG_ASYM,
    ev.EV_MG_BUZZ, ev.EV_MG_BUZZ_OFF, ev.EV_MG_LED, ev.EV_MG_LED_OFF, ev.EV_MG_SPEED_TREND,
}
FEEDBACK = {ev.EV_MG_BUZZ, ev.EV_MG_BUZZ_OFF, ev.EV_MG_LED, ev.EV_MG_LED_OFF, ev.EV_MG_SPEED_TREND}


def shown_channels(h: Any) -> list[int]:
    """The channels a page draws: those in the first channel's unit (an insole's two forces in
    N, the knee sleeve's two knee angles in deg, not its 12 IMU channels): less to send."""
    return [i for i, u in enumerate(h.units) if u == h.units[0]]


class BoardTrace:
    """Pending display points of one board: block means of `k` samples, carried across frames."""

    def __init__(self) -> None:
        self.carry: np.ndarray | None = None
        self.carry_t: float = 0.0
        self.t: list[float] = []
        self.v: list[list[float]] = []
        self.last_t: float | None = None
        self.shown_t: float | None = None  # board time of the newest sample in an emitted point
        self.rx: float | None = None  # when the newest sample added was read (unix s)
        self.shown_rx: float | None = None  # ... and the newest sample in an emitted point

    def add(self, t0_s: float, rate: int, values: np.ndarray, rx: float | None = None) -> None:
        self.rx = rx
        k = max(1, rate // DISPLAY_HZ)
        if self.carry is not None and len(self.carry):
            values = np.vstack([self.carry, values])
            t0_s = self.carry_t
        n = (len(values) // k) * k
        if n:
            means = values[:n].reshape(-1, k, values.shape[1]).mean(axis=1)
            self.t.extend((t0_s + np.arange(len(means)) * k / rate).round(3).tolist())
            self.v.extend(np.round(means, 2).tolist())
            self.shown_t = t0_s + (n - 1) / rate
            self.shown_rx = rx
        self.carry = values[n:]
        self.carry_t = t0_s + n / rate
        self.last_t = t0_s + (len(values) - 1) / rate

    def take(self) -> tuple[list[float], list[list[float]]]:
        """The points since the last take, the unfinished block included (its mean, at its
        start): a sample is drawn in the first display frame after it arrives."""
        if self.carry is not None and len(self.carry):
            self.t.append(round(self.carry_t, 3))
            self.v.append(np.round(self.carry.mean(axis=0), 2).tolist())
            self.shown_t = self.last_t
            self.shown_rx = self.rx
            self.carry = None
        t, v = self.t, self.v
        self.t, self.v = [], []
        return t, v


class DisplayBuilder:
    """A StreamSession sink plus `frame()`: everything new since the last frame, as JSON-able
    dicts. Runs in the stream thread only (no locks)."""

    def __init__(self) -> None:
        self.traces: dict[int, BoardTrace] = {}
        self.events: list[dict[str, Any]] = []
        self.status: dict[int, dict[str, Any]] = {}
        self.knee: dict[str, Any] = {}
        self.steps = LiveSteps()
        self.rx: dict[int, list[tuple[float, int]]] = {}  # (wall s, samples) for the live rate
        self.new = 0  # messages for the page since the last frame
        # the left/right summary changes only with a heel strike or toe off; it costs ms of numpy
        # (more on a loaded machine), so `refresh` computes it after a frame went out, never
        # between a sample's arrival and its frame: it reaches the page one frame later
        self._asym: dict[str, Any] | None = None
        self._asym_stale = False

    def __call__(self, link: int, ch: Any, frame: Any, msg: Any) -> None:
        h = ch.state.hello
        self.new += 1
        if isinstance(msg, Samples) and h is not None:
            cols = shown_channels(h)
            scale = np.asarray(h.scale, float)[cols]
            self.traces.setdefault(link, BoardTrace()).add(frame.t_ms / 1000.0, h.rate, msg.counts[:, cols] * scale,
                                                           time.time())
            self.rx.setdefault(link, []).append((time.monotonic(), len(msg.counts)))
        elif isinstance(msg, Event):
            self.steps(link, ch, frame, msg)
            self._asym_stale |= msg.code in (ev.EV_HEEL_STRIKE, ev.EV_TOE_OFF)
            if msg.code in PAGE_EVENTS:
                e = {"link": link, "t": frame.t_ms / 1000.0, "name": msg.name, "code": msg.code,
                     "side": msg.side, "a": msg.a, "b": msg.b, "feedback": msg.code in FEEDBACK,
                     "fields": msg.fields()}
                self.events.append(e)
                self._knee_numbers(msg)
        elif isinstance(msg, Status):
            self.status[link] = {"flags": msg.flags, "events_dropped": msg.events_dropped,
                                 "tx_dropped": msg.tx_dropped}

    def _knee_numbers(self, msg: Event) -> None:
        """Latest step length per side, speed and cadence from the knee sleeve (MGait events)."""
        side = "left" if msg.side == 0 else "right"
        if msg.code == ev.EV_MG_STEP:
            self.knee[f"step_{side}_m"] = msg.a / 1000.0
        elif msg.code == ev.EV_MG_SPEED:
            self.knee["speed_m_s"] = msg.a / 1000.0
            self.knee["cadence_spm"] = msg.b / 10.0
        elif msg.code == ev.EV_MG_ASYM:
            self.knee["asym_pct"] = msg.a / 100.0

    def _rate(self, link: int, now: float, window: float = 2.0) -> float | None:
        rx = self.rx.get(link, [])
        while rx and rx[0][0] < now - window:
            rx.pop(0)
        if len(rx) < 2 or rx[-1][0] - rx[0][0] < 0.2:
            return None
        return sum(n for _, n in rx[1:]) / (rx[-1][0] - rx[0][0])

    def refresh(self) -> None:
        """Work off the latency path (the worker calls it after sending a frame): the left/right
        summary, when a heel strike or toe off came since it was last computed."""
        if self._asym_stale:
            self._asym_stale = False
            self._asym = self.steps.summary()
            self.new += 1  # the next frame carries it, also without new samples

    def frame(self, channels: list[Any]) -> dict[str, Any]:
        now = time.monotonic()
        boards = []
        for ch in channels:
            h = ch.state.hello
            tr = self.traces.get(ch.id)
            t, v = tr.take() if tr else ([], [])
            st = ch.state
            rate = self._rate(ch.id, now)
            boards.append({
                "link": ch.id, "port": ch.link.name,
                "device": h.device if h else None, "kind": h.kind if h else None,
                "side": h.side if h else None, "rate_hz": h.rate if h else None,
                "channels": [h.channels[i] for i in shown_channels(h)] if h else [],
                "units": [h.units[i] for i in shown_channels(h)] if h else [],
                "t": t, "v": v, "now": tr.last_t if tr else None,
                # when the newest sample drawn left the board, on the host clock (unix s; the
                # one timeline): the page's latency figure is its own clock minus this
                "shown_host": ch.host_time(tr.shown_t * 1000.0) if tr and tr.shown_t is not None else None,
                # ... and when the stream process read it (the bench's breakdown by stage)
                "shown_rx": tr.shown_rx if tr else None,
                "health": {"rx_rate_hz": round(rate, 1) if rate else None, "samples": st.samples,
                           "gaps": st.seq_gaps, "samples_missing": st.sample_gaps,
                           "crc_errors": ch.decoder.stats.crc_errors, "resumes": ch.resumes,
                           **self.status.get(ch.id, {})},
            })
        events, self.events = self.events, []
        self.new = 0
        asym = self._asym
        return {"type": "frame", "boards": boards, "events": events, "knee": dict(self.knee),
                "asymmetry": asym, "built": round(time.time(), 4)}
