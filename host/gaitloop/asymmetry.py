"""Left/right step asymmetry across two insoles, on the one host timeline.

Why across boards: each insole sees only its own foot, so its own events give stance, swing
and stride, but a *step* runs from one foot's heel strike to the other's, and double support
from one foot's heel strike to the other's toe off: two clocks. On the aligned timeline
(`gaitloop.timeline`) these become differences of host times.

Asymmetry is the symmetry index of Robinson et al. (1987), SI = 100 * |L - R| / ((L + R) / 2),
on the median of each side (robust to a missed or doubled event). Step time of a side: from
the other foot's heel strike to this foot's (left step = HS_left - preceding HS_right).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gaitfw import events as ev


def symmetry_index(left: float, right: float) -> float:
    m = (left + right) / 2.0
    return float("nan") if not m > 0 else 100.0 * abs(left - right) / m


def _intervals(starts: np.ndarray, ends: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """For each end, time since the latest start before it, kept when in [lo, hi] s and no other
    end lies between that start and this end (one interval per start)."""
    out = []
    if len(starts) == 0:
        return np.zeros(0)
    last_end = -np.inf
    for e in ends:
        i = np.searchsorted(starts, e, side="right") - 1
        if i < 0:
            continue
        s = starts[i]
        if s > last_end and lo <= e - s <= hi:
            out.append(e - s)
        last_end = e
    return np.asarray(out)


class StepAsymmetry:
    """Parameters in `__init__`, one action `estimate`, results with a trailing underscore."""

    def __init__(self, min_step_s: float = 0.2, max_step_s: float = 1.5, max_phase_s: float = 2.0) -> None:
        self.min_step_s, self.max_step_s, self.max_phase_s = min_step_s, max_step_s, max_phase_s

    def estimate(self, hs_left: Sequence[float], hs_right: Sequence[float],
                 to_left: Sequence[float] = (), to_right: Sequence[float] = ()) -> StepAsymmetry:
        """Event times in seconds of one timeline (host s)."""
        hl, hr = np.sort(np.asarray(hs_left, float)), np.sort(np.asarray(hs_right, float))
        tl, tr = np.sort(np.asarray(to_left, float)), np.sort(np.asarray(to_right, float))
        lo, hi, ph = self.min_step_s, self.max_step_s, self.max_phase_s
        # a step ends at a heel strike; it starts at the other foot's latest heel strike, and
        # only when this foot did not strike in between (strict alternation)
        self.step_left_ = self._steps(hr, hl, lo, hi)
        self.step_right_ = self._steps(hl, hr, lo, hi)
        self.stance_left_ = _intervals(hl, tl, 0.1, ph)
        self.stance_right_ = _intervals(hr, tr, 0.1, ph)
        self.swing_left_ = _intervals(tl, hl, 0.05, ph)
        self.swing_right_ = _intervals(tr, hr, 0.05, ph)
        # double support after a heel strike: until the other foot's toe off
        self.double_left_ = _intervals(hl, tr, 0.0, 0.6)
        self.double_right_ = _intervals(hr, tl, 0.0, 0.6)
        return self

    @staticmethod
    def _steps(other: np.ndarray, this: np.ndarray, lo: float, hi: float) -> np.ndarray:
        out = []
        for e in this:
            i = np.searchsorted(other, e, side="right") - 1
            if i < 0:
                continue
            s = other[i]
            j = np.searchsorted(this, e, side="left") - 1  # this foot's previous strike
            if j >= 0 and this[j] > s:
                continue
            if lo <= e - s <= hi:
                out.append(e - s)
        return np.asarray(out)

    def summary(self) -> dict[str, Any]:
        """Medians (ms), counts and symmetry index (%) per measure; None where a side has none
        (JSON-safe)."""
        out: dict[str, Any] = {}
        for name in ("step", "stance", "swing", "double"):
            left, right = getattr(self, f"{name}_left_"), getattr(self, f"{name}_right_")
            ml = float(np.median(left)) * 1000 if len(left) else float("nan")
            mr = float(np.median(right)) * 1000 if len(right) else float("nan")
            out[name] = {"left_ms": _num(ml, 1), "right_ms": _num(mr, 1),
                         "n_left": len(left), "n_right": len(right),
                         "si_pct": _num(symmetry_index(ml, mr), 2)}
        return out


def _num(v: float, digits: int) -> float | None:
    return round(v, digits) if np.isfinite(v) else None


def summary_text(summary: dict[str, Any]) -> str:
    """One line: `step 615 | 630 (2.41 %), stance ...` (median ms left | right, symmetry index)."""
    def f(v: float | None) -> str:
        return "-" if v is None else f"{v:g}"

    return ", ".join(f"{k} {f(v['left_ms'])} | {f(v['right_ms'])} ({f(v['si_pct'])} %)"
                     for k, v in summary.items())


def insole_links(rec: Any) -> tuple[int, int] | None:
    """(left link, right link) of a recording with one insole per side, else None."""
    sides: dict[str, int] = {}
    for lr in rec.links.values():
        h = lr.hello
        if h is not None and h.kind == "insole" and h.side in ("left", "right"):
            sides.setdefault(h.side, lr.link)
    if "left" in sides and "right" in sides:
        return sides["left"], sides["right"]
    return None


def recording_asymmetry(rec: Any) -> dict[str, Any] | None:
    """Left/right asymmetry of a recording with two insoles, from their events on the host
    timeline (`record.aligned_event_times`); None without a left and a right insole."""
    from gaitloop.record import aligned_event_times, recorded_clock

    pair = insole_links(rec)
    if pair is None:
        return None
    times: dict[str, dict[int, list[float]]] = {}
    clocks = [recorded_clock(rec, link) for link in pair]
    # durations in board seconds: the host timeline's intervals over the boards' rate (1 +- ppm
    # for real boards; a replay at N x speed runs N board seconds per host second)
    scale = 2.0 / (clocks[0].slope + clocks[1].slope)
    t0: float | None = None
    for side, link, clock in zip(("left", "right"), pair, clocks, strict=True):
        by_code: dict[int, list[float]] = {ev.EV_HEEL_STRIKE: [], ev.EV_TOE_OFF: []}
        for (_, _, e), t in zip(rec.events(link), aligned_event_times(rec, link, clock), strict=True):
            if e.code in by_code and np.isfinite(t):
                t0 = t if t0 is None else t0  # one origin for both sides: scale differences only
                by_code[e.code].append((t - t0) * scale)
        times[side] = by_code
    hs, to = ev.EV_HEEL_STRIKE, ev.EV_TOE_OFF
    a = StepAsymmetry().estimate(times["left"][hs], times["right"][hs], times["left"][to], times["right"][to])
    return a.summary()


class LiveSteps:
    """A stream sink: heel strikes and toe offs of the left and right insoles on the session's
    timeline (each board's `host_time`), the last `keep` of each, for a live asymmetry line."""

    def __init__(self, keep: int = 40) -> None:
        self.keep = keep
        self.times: dict[tuple[str, int], list[float]] = {}
        self.slopes: dict[str, float] = {}
        self.version = 0  # one more per step event kept: `text` is computed again only then
        self._text: tuple[int, str] = (-1, "")

    def __call__(self, _link: int, ch: Any, frame: Any, msg: Any) -> None:
        h = ch.state.hello
        if h is None or h.kind != "insole" or getattr(msg, "code", None) not in (ev.EV_HEEL_STRIKE, ev.EV_TOE_OFF):
            return
        t = ch.host_time(frame.t_ms)
        if t is None:
            return
        lst = self.times.setdefault((h.side, msg.code), [])
        lst.append(t)
        del lst[: -self.keep]
        self.slopes[h.side] = ch.clock.fit.slope if ch.clock.fit else 1.0
        self.version += 1

    def summary(self) -> dict[str, Any] | None:
        hs, to = ev.EV_HEEL_STRIKE, ev.EV_TOE_OFF
        if len(self.times.get(("left", hs), [])) < 3 or len(self.times.get(("right", hs), [])) < 3:
            return None
        # durations in board seconds, one scale and origin for both sides (replays run N x)
        scale = 2.0 / (self.slopes.get("left", 1.0) + self.slopes.get("right", 1.0))
        t0 = min(v[0] for v in self.times.values() if v)

        def g(side: str, code: int) -> np.ndarray:
            return (np.asarray(self.times.get((side, code), []), float) - t0) * scale

        return StepAsymmetry().estimate(g("left", hs), g("right", hs), g("left", to), g("right", to)).summary()

    def text(self) -> str:
        """The summary as one line; kept until the next step event (the live view asks on
        every draw, tens of times a second, and the medians cost ~1 ms)."""
        if self._text[0] != self.version:
            s = self.summary()
            self._text = (self.version, "left/right: waiting for steps of a left and a right insole" if s is None
                          else "left/right (median ms left | right, symmetry index): " + summary_text(s))
        return self._text[1]
