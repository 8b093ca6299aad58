"""Live two-sleeve step length: a `StreamSession` sink for a left and a right knee board.

Why on the host: each sleeve board sees one leg; the same-instant step needs the other
leg's angles at this leg's heel strike, i.e. both boards on one clock. The host already
holds that clock (`gaitloop.timeline`, each board's `host_time`), so it runs each board's
own angle code (`twoknee.LegAngles`, the firmware's MGait on one leg) on the samples the
board streams, maps the 25 Hz ticks to the session's timeline and merges them
(`twoknee.TwoSleeves`, the same class the evaluation scores). The board keeps eq. 6 for its
own feedback loop (docs/mgait.md, "Two sleeves: where the step is computed").

Which leg a board wears: its HELLO `side` (left/right); its samples carry the knee board's
14 channels and the sink takes that side's seven (`bend_l ... gz_l` or `..._r`).
"""

from __future__ import annotations

import json
from typing import Any, TextIO

import numpy as np

from gaitfw.mgait import DEFAULTS
from gaitloop.messages import Samples
from gaitloop.mgait.twoknee import NCH, LegAngles, TwoSleeves, TwoStep, asymmetry_pct

SIDES = ("left", "right")
SETTLE_MS = 3000.0  # board time of ticks per leg before the timeline's scale is fixed
HOLD_MAX = 2000  # ticks held meanwhile (25 Hz per leg: 40 s of one board alone)
LAG_KEEP_MS = 20000.0  # angle history per leg on the live timeline (25 Hz: 500 ticks per leg)


def common_scale(slopes: list[float]) -> float:
    """The legs' one timeline scale (host s per board s): the boards' mean."""
    return float(sum(slopes) / len(slopes))


class LiveTwoSleeves:
    """Sink: per knee board (left/right) its leg's angles; steps with lengths [m] in `steps`.

    `cfg`: the board keys l1_mm, l2_mm, d5_mm (calibrated values from `gaitloop calibrate`;
    the firmware defaults otherwise) and bend_cal; `out`: a text stream that gets one JSON
    line per step (`gaitloop stream --format jsonl`)."""

    def __init__(self, cfg: dict | None = None, out: TextIO | None = None, keep: int = 200) -> None:
        c = dict(DEFAULTS)
        c.update(cfg or {})
        self.cfg = c
        self.l1, self.l2, self.d5 = c["l1_mm"] / 1000, c["l2_mm"] / 1000, c["d5_mm"] / 1000
        self.out = out
        self.keep = keep
        self.legs: dict[str, tuple[LegAngles, int]] = {}  # side -> (pipeline, link)
        self._cols: dict[str, np.ndarray] = {}  # side -> that leg's columns in the samples
        self.t0: float | None = None
        # live, one board's frames may arrive seconds after the other's (a loaded host, a BLE
        # link catching up; a replay at 4x turns 1 s of lag into 4 s of walk): hold LAG_KEEP_MS
        self.merge = TwoSleeves(c["knee_prom_cdeg"], c["hip_prom_cdeg"], reach=(self.l1, self.l2),
                                on_step=self._on_step, keep=keep, keep_ms=LAG_KEEP_MS)
        self.steps: list[tuple[str, float, float]] = []  # (side, host-timeline s, length m)
        self.min_step, self.max_step = c["min_step_mm"] / 1000, c["max_step_mm"] / 1000
        self.rejected = 0  # steps outside the board's own plausible range (min/max_step_mm)
        self._chans: dict[str, Any] = {}  # side -> its link's channel (for the clock fits)
        self.scale: float | None = None  # host s per walk s: one for both legs (`_settle`)
        self._held: list[tuple[int, float, float, float]] = []  # ticks before the timeline is fixed

    def _leg(self, link: int, ch: Any) -> tuple[LegAngles, int] | None:
        h = ch.state.hello
        if h is None or h.kind != "knee" or h.side not in SIDES:
            return None
        got = self.legs.get(h.side)
        if got is not None:
            return got if got[1] == link else None  # a second board on the same side: ignored
        k = SIDES.index(h.side)
        bend_cal = self.cfg["bend_cal"][k] if len(self.cfg["bend_cal"]) > k else (0, 9000)
        suffix = "_l" if k == 0 else "_r"
        cols = [i for i, n in enumerate(h.channels) if n.endswith(suffix)]
        if len(cols) != NCH:
            return None
        self.legs[h.side] = (LegAngles(self.cfg, h.rate, bend_cal), link)
        self._cols[h.side] = np.array(cols)
        return self.legs[h.side]

    def __call__(self, link: int, ch: Any, frame: Any, msg: Any) -> None:
        if not isinstance(msg, Samples):
            return
        leg = self._leg(link, ch)
        if leg is None:
            return
        # each leg's pipeline runs from its board's first sample, before the other board is
        # heard: its standing calibration is in the first seconds of a walk (as the recording
        # is recomputed); ticks join the merge once both boards' clocks are known (`_settle`)
        la, _ = leg
        side = ch.state.hello.side
        k = SIDES.index(side)
        self._chans[side] = ch
        rate = ch.state.hello.rate
        rows = msg.counts[:, self._cols[side]].tolist()
        dt = 1000.0 / rate
        for i, r in enumerate(rows):
            for t_b, a, b in la.feed(int(round(frame.t_ms + i * dt)), r):
                if self.scale is None:
                    self._held.append((k, t_b, float(a), float(b)))
                    continue
                host = ch.host_time(t_b)
                if host is not None:
                    self.merge.add(k, (host - self.t0) * 1000.0 / self.scale, float(a), float(b))
        if self.scale is None:
            self._settle()

    def _settle(self) -> None:
        """Fix the timeline once both legs have SETTLE_MS of ticks: its scale (host s per
        walk s) and origin, then merge the ticks held so far, mapped with the clocks as they
        are now (a board's first second maps with an assumed rate of 1).

        Why one scale for both legs: they meet on the host timeline; the scale only turns
        host seconds into walk seconds for the merge's windows (a replay at N x runs N board
        s per host s). Each board's own slope would stretch each leg differently (two replays
        on a loaded machine differ by ~5 %: 1.4 s over 30 s of walk) and pair wrong instants."""
        spans: dict[int, tuple[float, float]] = {}
        for k, t_b, _, _ in self._held:
            lo, hi = spans.get(k, (t_b, t_b))
            spans[k] = (min(lo, t_b), max(hi, t_b))
        if len(spans) < len(SIDES) or any(hi - lo < SETTLE_MS for lo, hi in spans.values()):
            if len(self._held) > HOLD_MAX:  # the other board never comes: keep the newest
                del self._held[: len(self._held) - HOLD_MAX]
            return
        slopes = []
        for k, (lo, hi) in spans.items():
            ch = self._chans[SIDES[k]]
            h0, h1 = ch.host_time(lo), ch.host_time(hi)
            if h0 is None or h1 is None or not h1 > h0:
                return
            slopes.append((h1 - h0) * 1000.0 / (hi - lo))
        mapped = []
        for k, t_b, a, b in self._held:
            host = self._chans[SIDES[k]].host_time(t_b)
            if host is not None:
                mapped.append((host, k, a, b))
        if not mapped:
            return
        self._held.clear()
        mapped.sort(key=lambda m: (m[0], m[1]))
        self.scale, self.t0 = common_scale(slopes), mapped[0][0]
        for host, k, a, b in mapped:
            self.merge.add(k, (host - self.t0) * 1000.0 / self.scale, a, b)

    def _on_step(self, s: TwoStep) -> None:
        d = float(s.step(self.l1, self.l2, self.d5).length)
        if not self.min_step <= d <= self.max_step:  # as the board rejects its own (EV_MG_STEP_REJECT 3)
            self.rejected += 1
            return
        self.steps.append((s.side, s.t_ic, d))
        del self.steps[: -self.keep]
        if self.out is not None:
            self.out.write(json.dumps({"type": "two_sleeve_step", "side": s.side, "t_s": round(s.t_ic, 3),
                                       "length_m": round(d, 4), "angles_deg": [round(v, 2) for v in
                                                                                (s.af, s.bf, s.ab, s.bb)]}) + "\n")
            self.out.flush()

    def summary(self) -> dict[str, Any] | None:
        """Last step per side, last stride and its eq. 7 asymmetry, median step per side."""
        if not self.steps:
            return None
        last: dict[str, float] = {}
        for side, _, d in self.steps:
            last[side] = d
        out: dict[str, Any] = {"n_steps": len(self.steps), "n_rejected": self.rejected}
        for side in ("l", "r"):
            ds = [d for s, _, d in self.steps if s == side]
            out[f"median_{side}_m"] = float(np.median(ds)) if ds else None
            out[f"last_{side}_m"] = last.get(side)
        if len(self.steps) >= 2 and self.steps[-1][0] != self.steps[-2][0]:
            a, b = self.steps[-1][2], self.steps[-2][2]
            out["stride_m"] = a + b
            out["asymmetry_pct"] = asymmetry_pct(a, b)
        last = self.steps[-11:]
        if len(last) == 11 and all(a[0] != b[0] and 0 < b[1] - a[1] <= 2.0 for a, b in zip(last, last[1:], strict=False)):
            # over five strides = ten contiguous steps, as the board computes it
            out["speed_m_s"] = sum(d for _, _, d in last[1:]) / (last[-1][1] - last[0][1])
        return out

    def text(self) -> str:
        s = self.summary()
        if s is None:
            return "two sleeves: waiting for steps of a left and a right knee board" if self.legs else ""

        def m(v: float | None) -> str:
            return "-" if v is None else f"{v:.3f}"

        line = f"two sleeves: {s['n_steps']} steps, last L {m(s['last_l_m'])} m | R {m(s['last_r_m'])} m"
        if "stride_m" in s:
            line += f", stride {s['stride_m']:.3f} m, asymmetry {s['asymmetry_pct']:.1f} %"
        if "speed_m_s" in s:
            line += f", speed {s['speed_m_s']:.2f} m/s"
        return line


def recording_two_sleeves(rec: Any, cfg: dict | None = None) -> dict[str, Any] | None:
    """Two-sleeve steps of a recording with a left and a right knee board, recomputed from
    the recorded samples on the recording's one timeline (`record.aligned_sample_times`):
    what `gaitloop stream` showed live, refined with hindsight. None without both boards."""
    from gaitloop.record import aligned_sample_times, recorded_clock

    links: dict[str, int] = {}
    for lr in rec.links.values():
        h = lr.hello
        if h is not None and h.kind == "knee" and h.side in SIDES:
            links.setdefault(h.side, lr.link)
    if set(links) != set(SIDES):
        return None
    live = LiveTwoSleeves(cfg)
    ticks = []
    slopes = []
    for k, side in enumerate(SIDES):
        link = links[side]
        h = rec.links[link].hello
        t_ms, _, _, counts = rec.samples(link)
        host = aligned_sample_times(rec, link)
        if len(t_ms) < 2 or len(host) != len(t_ms):
            return None
        slopes.append(recorded_clock(rec, link).slope or 1.0)
        cols = [i for i, n in enumerate(h.channels) if n.endswith("_l" if k == 0 else "_r")]
        bend_cal = live.cfg["bend_cal"][k] if len(live.cfg["bend_cal"]) > k else (0, 9000)
        la = LegAngles(live.cfg, h.rate, bend_cal)
        out = []
        for t, r in zip(t_ms.tolist(), counts[:, cols].tolist(), strict=True):
            out.extend(la.feed(int(t), r))
        if not out:
            continue
        tb = np.array([o[0] for o in out], float)
        th = np.interp(tb, t_ms.astype(float), host)  # tick centres between samples
        ok = np.isfinite(th)  # samples outside every clock segment have no host time
        ticks.append((k, th[ok], [o for o, g in zip(out, ok.tolist(), strict=True) if g]))
    if len(ticks) < 2 or not all(len(th) for _, th, _ in ticks):
        return {"n_steps": 0}
    slope = common_scale(slopes)  # one scale for both legs, as live (`LiveTwoSleeves._scale`)
    t0 = min(float(th[0]) for _, th, _ in ticks)
    rows = [((th[i] - t0) * 1000.0 / slope, k, out[i][1], out[i][2])
            for k, th, out in ticks for i in range(len(out))]
    rows.sort(key=lambda r: (r[0], r[1]))
    for t, k, a, b in rows:
        live.merge.add(k, t, float(a), float(b))
    live.merge.flush()  # the recording ended: its last contact is read with the ticks there are
    s = live.summary() or {"n_steps": 0}
    if live.steps:
        strides = [asymmetry_pct(a[2], b[2]) for a, b in zip(live.steps, live.steps[1:], strict=False) if a[0] != b[0]]
        s["median_asymmetry_pct"] = float(np.median(strides)) if strides else None
    return s
