"""Step length from two knee sleeves: one board per leg, both legs' angles at the same instant.

Why: eq. 6 as the paper defines it takes the back limb at its foot-off (hip-angle minimum),
later than the front heel strike at which the step is measured; on our mocap walks that
alone puts its floor at ~5.4 % step MAPE (`tools/mgait_floor.py`), against ~2.2 % with
both limbs at the heel strike (in double support both feet are down, so the separation the
stick model describes is the step). With a sleeve board on each leg, each board computes
its own leg's angles with the board's code (`gaitfw.mgait.MGait` on one leg); the host puts
both angle streams on one timeline (`gaitloop.timeline`: board ms -> host ms) and, at every
front-limb contact, reads the back limb's angles at the same instant by interpolating its
25 Hz ticks. Calibration (RLS / batch LS) is unchanged: the regressors of eq. 9 are the same.

Contacts come from the board's event machine (`gaitfw.mgait_events.GaitEvents`, float) run
on the merged stream (left ticks as the master clock, right angles interpolated onto them):
its knee-minimum rule needs both legs (alternation, no contact while a step waits for its
back limb), which is why it runs where both streams meet. The paper's one-sleeve step
(back limb at its foot-off) comes out of the same machine and is kept beside it.

One class, `TwoSleeves`, serves the evaluation (`gaitloop.mgait.twoknee_eval`) and the live
stream (`LiveTwoSleeves`): what is scored is what a user sees.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gaitfw.mgait import MGait
from gaitfw.mgait_events import GaitEvents
from gaitloop.mgait.reference import SIDE_NAMES, Step, closed_form

NCH = 7  # channels of one sleeve (gaitfw.boards.knee: bend, ax, ay, az, gx, gy, gz)
KEEP_MS = 4000  # angle history per leg: longer than a step plus the event machine's delay
REACH_SEARCH_MS = 120.0  # heel strike searched this far around the front knee minimum
READ_AHEAD_MS = 170.0  # ticks needed past an instant to read it (`_LegBuf.angle_at`: three, 40 ms apart)


class _Ticks:
    """Event-sink stand-in for MGait: keeps (t_ms, alpha, beta) of slot 0 per 25 Hz tick."""

    def __init__(self) -> None:
        self.out: list[tuple[int, int, int]] = []

    def feed(self, t, al, bl, ar, br):
        self.out.append((t, al, bl))


class LegAngles:
    """One sleeve board's angle pipeline: the board's own MGait code on one leg.

    Why both slots carry the same leg: MGait is written for the wired pair (14 channels);
    feeding this leg's 7 channels into both slots makes its stillness test and static
    re-alignment see only this leg, as a one-leg board's would. Its gait events are not used
    (they need the other leg); `feed` returns the new 25 Hz ticks (board ms, cdeg, cdeg).
    """

    def __init__(self, cfg: dict | None = None, rate_hz: int = 100, bend_cal: Sequence[int] = (0, 9000)) -> None:
        c = dict(cfg or {})
        c["bend_cal"] = [list(bend_cal), list(bend_cal)]
        self.mg = MGait(lambda *a: None, c, rate_hz)
        self.ticks = _Ticks()
        self.mg.events = self.ticks
        self.row = array("h", [0] * (2 * NCH))
        self.wait: deque[tuple[int, list[int]]] | None = deque(maxlen=self.mg.n_cal)
        self.n_seen = 0

    def _still(self) -> bool:
        """The last `cal_s` seconds were a stand: every gyro axis within 10 dps (MGait's own
        motion test), so the board's standing calibration may take them."""
        if len(self.wait) < self.wait.maxlen or self.n_seen % 25:
            return False
        g = np.array([r[4:7] for _, r in self.wait])
        return bool(np.all(g.max(axis=0) - g.min(axis=0) <= 330))

    def feed(self, t_ms: int, leg_row: Sequence[int]) -> list[tuple[int, int, int]]:
        """Why the wait: a host that joins a stream mid-walk must not take walking for the
        standing calibration (gyro offsets from motion make the hip angle drift); it starts
        the board's pipeline at the first still stretch of `cal_s` seconds."""
        if self.wait is not None:
            self.wait.append((t_ms, [int(v) for v in leg_row]))
            self.n_seen += 1
            if not self._still():
                return []
            rows, self.wait = list(self.wait), None
            for t, r in rows:
                self._feed(t, r)
        else:
            self._feed(t_ms, leg_row)
        out = self.ticks.out
        if out:
            self.ticks.out = []
        return out

    def _feed(self, t_ms: int, leg_row: Sequence[int]) -> None:
        row = self.row
        for j in range(NCH):
            row[j] = row[NCH + j] = int(leg_row[j])
        self.mg.feed(t_ms, row)


def leg_ticks(counts: np.ndarray, side: int, cfg: dict | None, bend_cal: Sequence[int], rate_hz: int = 100,
              skip: int = 0) -> np.ndarray:
    """All ticks (n, 3) [board ms, alpha cdeg, beta cdeg] of one leg's board on a recording.

    `skip` samples are dropped at the start: the board powers up later, so its 40 ms tick
    grid has another phase against the other board's (what two unsynchronised boards do)."""
    la = LegAngles(cfg, rate_hz, bend_cal)
    dt = 1000 // rate_hz
    rows = counts[skip:, NCH * side: NCH * side + NCH].tolist()
    out: list[tuple[int, int, int]] = []
    for i, r in enumerate(rows):
        out.extend(la.feed((i + skip) * dt, r))
    return np.array(out, dtype=float).reshape(-1, 3)


@dataclass
class TwoStep:
    """One step seen by two sleeves: contact time on the host timeline [s], front side,
    same-instant angles (eq. 6 inputs, deg) and, when the paper's back-limb event followed,
    its one-sleeve angles (back limb at foot-off)."""

    t_ic: float
    side: str
    af: float
    bf: float
    ab: float
    bb: float
    paper: tuple[float, float, float, float] | None = None
    t_knee: float = float("nan")  # the front knee minimum [s] (the paper's contact)

    def step(self, l1: float, l2: float, d5: float) -> Step:
        return Step(self.t_ic, self.side, self.af, self.bf, self.ab, self.bb,
                    float(closed_form(l1, l2, d5, self.af, self.bf, self.ab, self.bb)))


def sharpen_coef(m: int = 4) -> float:
    """Weight c of the second difference that undoes eq. 1's boxcar on 25 Hz ticks.

    Why: each tick is the mean of the last 2M samples (centred, `MGait.half_ms`), i.e. the
    angle convolved with a 2M-sample boxcar, whose variance is ((2M)^2 - 1) / 12 samples^2.
    To second order a boxcar adds x'' * var / 2, and the ticks' second difference is x'' (M
    samples)^2, so x = s - c (s[i+1] - 2 s[i] + s[i-1]) with c = ((2M)^2 - 1) / (24 M^2)
    (0.164 for M = 4) restores the curvature the smoothing took off. It matters at exactly
    the instants the step is read: near the heel strike the front knee passes its minimum
    and the thigh its maximum, where an 80 ms mean is off by about a degree."""
    return ((2 * m) ** 2 - 1) / (24.0 * m * m)


class _LegBuf:
    """Recent ticks of one leg on the host timeline (ms): `at` interpolates the ticks linearly
    (what the event machine is fed); `angle_at` reconstructs the angle itself between ticks
    (eq. 1's smoothing undone, `sharpen_coef`, then a Catmull-Rom cubic through four ticks)."""

    def __init__(self, m: int = 4, keep_ms: float = KEEP_MS) -> None:
        self.keep_ms = keep_ms
        self.t: deque[float] = deque()
        self.a: deque[float] = deque()
        self.b: deque[float] = deque()
        self.c = sharpen_coef(m)

    def add(self, t: float, a: float, b: float) -> None:
        if self.t and t <= self.t[-1]:
            return  # a resent or duplicated tick
        self.t.append(t)
        self.a.append(a)
        self.b.append(b)
        while self.t and self.t[0] < t - self.keep_ms:
            self.t.popleft()
            self.a.popleft()
            self.b.popleft()

    def last(self) -> float:
        return self.t[-1] if self.t else float("-inf")

    def at(self, t: float, max_gap_ms: float = 100.0) -> tuple[float, float] | None:
        """Angles at host ms `t` (linear between the two ticks around it), None outside."""
        ts = self.t
        i = bisect_left(ts, t)
        if i < len(ts) and ts[i] == t:
            return self.a[i], self.b[i]
        if i == 0 or i >= len(ts) or ts[i] - ts[i - 1] > max_gap_ms:
            return None
        f = (t - ts[i - 1]) / (ts[i] - ts[i - 1])
        return (self.a[i - 1] + f * (self.a[i] - self.a[i - 1]), self.b[i - 1] + f * (self.b[i] - self.b[i - 1]))

    def angle_at(self, t: float, max_gap_ms: float = 100.0) -> tuple[float, float] | None:
        """The leg's angles (cdeg) at host ms `t`, eq. 1's smoothing undone between ticks.

        Why not `at`: linear interpolation of smoothed ticks misses a minimum or maximum
        between ticks by x'' (40 ms)^2 / 8 and the boxcar by x'' * var / 2 more; the step is
        read where the knee and the thigh turn. Needs three ticks before `t` and three after
        (six in all, no gap over `max_gap_ms`); with fewer, the linear value."""
        ts = self.t
        j = bisect_left(ts, t) - 1  # ts[j] < t <= ts[j + 1]
        if j < 2 or j + 3 >= len(ts):
            return self.at(t, max_gap_ms)
        for k in range(j - 2, j + 3):
            if ts[k + 1] - ts[k] > max_gap_ms:
                return self.at(t, max_gap_ms)
        u = (t - ts[j]) / (ts[j + 1] - ts[j])
        c = self.c
        out = []
        for v in (self.a, self.b):
            x = [v[k] - c * (v[k + 1] - 2 * v[k] + v[k - 1]) for k in range(j - 1, j + 3)]
            out.append(_catmull_rom(x, u))
        return out[0], out[1]


def _catmull_rom(p: Sequence[float], u: float) -> float:
    """The cubic through p[1] (u = 0) and p[2] (u = 1) with central-difference slopes."""
    p0, p1, p2, p3 = p
    return p1 + 0.5 * u * ((p2 - p0) + u * ((2 * p0 - 5 * p1 + 4 * p2 - p3) + u * (3 * (p1 - p2) + p3 - p0)))


class TwoSleeves:
    """Merges the two legs' ticks (host ms, cdeg) and yields same-instant steps.

    `add(side, t_ms, alpha, beta)` in any interleaving (each side in time order); steps
    appear in `steps` (and are passed to `on_step`) about 80 ms after the contact, when the
    event machine has seen the minimum. Both legs are read at the sleeve's heel strike
    (`reach` = nominal (l1, l2) in m: the front foot's farthest reach near the knee minimum)
    or, with `reach=None`, at the knee minimum; `offset_ms` is added to that instant.
    """

    def __init__(self, knee_prom_cdeg: int = 2000, hip_prom_cdeg: int = 1000, offset_ms: float = 0.0,
                 on_step: Any = None, reach: tuple[float, float] | None = (0.391, 0.410),
                 search_ms: float = REACH_SEARCH_MS, keep: int | None = None, m: int = 4,
                 keep_ms: float = KEEP_MS) -> None:
        self.legs = (_LegBuf(m, keep_ms), _LegBuf(m, keep_ms))
        self.keep_ms = keep_ms  # also how far one leg may run ahead of the other before it is dropped
        self.pending: deque[tuple[float, float, float]] = deque()  # left ticks waiting for the right
        self.ev = GaitEvents(self, knee_prom_cdeg, hip_prom_cdeg, numtype=float)
        self.offset_ms = offset_ms
        self.reach = reach
        self.search_ms = search_ms
        self.on_step_cb = on_step
        self.steps: list[TwoStep] = []  # the last `keep` (all when None: evaluation)
        self.keep = keep
        self._open: list[TwoStep] = []  # contacts waiting to be read / for the paper's back limb

    # ---------------------------------------------------------------- input
    def add(self, side: int, t_ms: float, alpha: float, beta: float) -> None:
        self.legs[side].add(t_ms, alpha, beta)
        if side == 0:
            self.pending.append((t_ms, alpha, beta))
        self._drain()

    def _drain(self) -> None:
        right = self.legs[1]
        while self.pending:
            t, a, b = self.pending[0]
            if right.last() < t:
                if self.legs[0].last() - t > self.keep_ms / 2:  # the right board went quiet: drop
                    self.pending.popleft()
                    continue
                break
            self.pending.popleft()
            r = right.at(t)
            if r is None:
                continue
            self.ev.feed(int(round(t)), a, b, r[0], r[1])
        self._read_open()

    def flush(self) -> None:
        """The streams ended: read the contacts still waiting whose heel-strike search the
        ticks cover (the last step of a recording; `angle_at` falls back to linear there)."""
        self._read_open(final=True)

    def _read_open(self, final: bool = False) -> None:
        """Contacts whose instant both legs have passed get their back limb read."""
        keep = []
        for s in self._open:
            t = s.t_ic * 1000.0
            front = SIDE_NAMES.index(s.side)
            # ahead of the instant: three ticks to read it between ticks, or at the end of the
            # streams (`final`) one past the heel-strike search, as a linear read needs
            ahead = 50.0 if final else READ_AHEAD_MS
            horizon = t + max(self.offset_ms, 0.0) + (self.search_ms if self.reach else 0) + ahead
            if min(self.legs[0].last(), self.legs[1].last()) < horizon:
                keep.append(s)
                continue
            if self.reach:
                t = self._heel_strike(self.legs[front], t)
            t += self.offset_ms
            s.t_ic = t / 1000.0
            f = self.legs[front].angle_at(t)
            b = self.legs[1 - front].angle_at(t)
            if f is not None and b is not None:
                s.af, s.bf, s.ab, s.bb = f[0] / 100, f[1] / 100, b[0] / 100, b[1] / 100
                self.steps.append(s)
                if self.keep is not None and len(self.steps) > 2 * self.keep:
                    del self.steps[: -self.keep]
                if self.on_step_cb is not None:
                    self.on_step_cb(s)
        self._open = keep

    def _heel_strike(self, leg: _LegBuf, t: float) -> float:
        """Zeni's heel strike on the sleeve: the front foot's reach ahead of the hip,
        l1 sin(alpha) + l2 sin(alpha - beta) (eq. 6's front terms), at its maximum within
        `search_ms` of the knee minimum `t`, on the reconstructed angles (`angle_at`) at 1 ms
        steps around the best tick.

        Why: the knee minimum is not the contact (it comes ~15 ms earlier, sd ~15 ms on our
        walks), and at contact the back foot is still down, so the stick model's separation
        is the step only near the real contact; the reach needs this leg's angles only."""
        l1, l2 = self.reach

        def reach(tt: float) -> float:
            ab = leg.angle_at(tt)
            if ab is None:
                return float("-inf")
            a, b = ab[0] / 100.0, ab[1] / 100.0
            return l1 * np.sin(np.radians(a)) + l2 * np.sin(np.radians(a - b))

        ts = leg.t
        lo, hi = bisect_left(ts, t - self.search_ms), bisect_left(ts, t + self.search_ms)
        if hi - lo < 3:
            return t
        r = [reach(ts[i]) for i in range(lo, hi)]
        k = int(np.argmax(r))
        if k == 0 or k == len(r) - 1:
            return t  # no maximum inside the window: keep the knee minimum
        i = lo + k
        grid = np.arange(ts[i - 1], ts[i + 1] + 0.5, 1.0)
        return float(grid[int(np.argmax([reach(g) for g in grid]))])

    # ------------------------------------------------------- event-machine sink
    def on_ic(self, t, side, af, bf):
        self._open.append(TwoStep(t / 1000.0, SIDE_NAMES[side], af / 100, bf / 100, float("nan"), float("nan"),
                                  t_knee=t / 1000.0))
        self._read_open()

    def on_fo(self, t, side, ab, bb):
        pass

    def on_lost(self, t, reason):
        pass

    def on_step(self, t, front, af, bf, ab, bb, t_ic):
        for s in reversed(self.steps[-3:] + self._open):
            if abs(s.t_knee * 1000 - t_ic) < 1 and s.side == SIDE_NAMES[front]:
                s.paper = (af / 100, bf / 100, ab / 100, bb / 100)
                break


def two_sleeve_steps(ticks_l: np.ndarray, ticks_r: np.ndarray, to_host_l=None, to_host_r=None,
                     cfg: dict | None = None, offset_ms: float = 0.0,
                     reach: tuple[float, float] | None = (0.391, 0.410)) -> list[TwoStep]:
    """Offline: both legs' ticks (board ms) -> steps, fed in arrival order like the live path.

    `to_host_*` map board ms to host ms (a board clock fit; identity by default)."""
    cfg = cfg or {}
    ts = TwoSleeves(cfg.get("knee_prom_cdeg", 2000), cfg.get("hip_prom_cdeg", 1000), offset_ms, reach=reach)
    tl = ticks_l[:, 0] if to_host_l is None else to_host_l(ticks_l[:, 0])
    tr = ticks_r[:, 0] if to_host_r is None else to_host_r(ticks_r[:, 0])
    order = np.argsort(np.r_[tl, tr], kind="stable")
    n = len(tl)
    for k in order:
        if k < n:
            ts.add(0, float(tl[k]), float(ticks_l[k, 1]), float(ticks_l[k, 2]))
        else:
            j = k - n
            ts.add(1, float(tr[j]), float(ticks_r[j, 1]), float(ticks_r[j, 2]))
    ts.flush()
    return ts.steps


def asymmetry_pct(left_m: float, right_m: float) -> float:
    """Paper eq. 7 on one stride: 100 * |L - R| / (0.5 * (L + R)), as `gaitfw.feedback` computes it."""
    m = 0.5 * (left_m + right_m)
    return 100.0 * abs(left_m - right_m) / m if m > 0 else float("nan")
