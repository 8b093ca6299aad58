"""One host timeline for all boards: each board's clock offset and drift, estimated online.

Why a lower envelope: a board stamps frames with its sample clock; the host sees them at
receive time = true send time + link latency, and latency is never negative but bursty
(BLE notifications wait for the next connection event, serial for the next USB frame, the
host for its poll). So the receive times lie *above* the true line host = a + b * board,
and the frames that arrived fastest touch it. The estimator is the linear-programming fit of
Moon, Skelly and Towsley (1999): the line below every point that minimises the summed
distance to them, i.e. the lower convex hull's edge over the mean board time. Late frames
(bursts, host stalls, resends after a reconnect) can only lie above it and never pull it;
slope and offset come out together, so drift (a crystal's +-200 ppm, or a replay's N x
speed) needs no prior.

Which points: only SAMPLES frames, stamped at their *last* sample (the earliest moment the
board can send the frame; the header time is the first sample's). Events are stamped at
the gait event, detected later, so they would only add scatter.

Robustness: a BOOT event, or the sample clock going back and staying back (a reboot the host
did not see announced), starts a new segment; board time going back briefly (a resend of
buffered frames) is not a reboot. Points far *below* the line are impossible for a working
link: one is dropped, several in a row mean the board clock jumped, so a segment restarts.
Gaps need nothing: the line spans them. A sliding window (120 s of board time) follows slow
drift changes (temperature).

Probes (CMD_TIME): receive times alone leave the true delay unknown within the phase grid
(10 ms at a 30 ms BLE interval, see sim.clocks.phase_grid_ms). A probe answers "the board's
sample clock read B at an instant between the host's send time t_s and receive time t_r", so
the true line passes *above* (B, t_s): a lower bound, as every frame is an upper bound. Sent
at random phases against the connection events, the best probes reach the board just after
they leave, so the upper hull of the (B, t_s) points is the true line within a fraction of a
millisecond; once there are probes it is the estimate, kept under the recent frames
(causality only, no model of the link's timing). A declared latency floor is then not
subtracted: the probes see it.

Clock: the stream session feeds a step-free host clock (monotonic, shifted once to unix
time), the same value the recorder stores per frame, so `gaitloop export` recomputes the
mapping from the file and gets what the live session saw, refined with hindsight.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from gaitfw import events as ev
from gaitloop.messages import Event, Frame, Hello, Message, Samples


@dataclass(frozen=True)
class ClockFit:
    """host_s = host0 + offset_s + slope * (board_s - board0): one segment's mapping."""

    board0: float
    host0: float
    offset_s: float
    slope: float
    probed: bool = False  # from CMD_TIME probes (two-sided): a latency floor is already in it

    def to_host(self, board_s: float) -> float:
        return self.host0 + self.offset_s + self.slope * (board_s - self.board0)

    @property
    def drift_ppm(self) -> float:
        """Board clock rate error against the host, ppm (+: the board runs fast)."""
        return (1.0 / self.slope - 1.0) * 1e6 if self.slope > 0 else float("nan")


def lower_hull(xs: Sequence[float], ys: Sequence[float]) -> list[int]:
    """Indices of the lower convex hull of points sorted by x (Andrew's monotone chain)."""
    hull: list[int] = []
    for i in range(len(xs)):
        x, y = xs[i], ys[i]
        while len(hull) >= 2:
            j, k = hull[-2], hull[-1]
            # keep k only if j -> k -> i turns left (counter-clockwise)
            if (xs[k] - xs[j]) * (y - ys[j]) - (ys[k] - ys[j]) * (x - xs[j]) <= 0:
                hull.pop()
            else:
                break
        hull.append(i)
    return hull


def fit_lower_envelope(xs: Sequence[float], ys: Sequence[float], prior_slope: float = 1.0,
                       min_span: float = 1.0, band: tuple[float, float] | None = None) -> tuple[float, float]:
    """(intercept, slope) of the line under all points closest to them on the whole.

    The LP optimum is the lower hull's edge spanning mean(x). With less than `min_span` of x
    the slope is barely determined, so `prior_slope` is kept and only the intercept fitted.

    `band`: the slopes a clock can have (`slope_band`). The summed distance is convex in the
    slope (the intercept for a slope b is min(y - b x), a concave function of b), so the best
    line with its slope in the band has the free optimum's slope clamped into it.
    """
    n = len(xs)
    if n == 0:
        raise ValueError("no points")
    if xs[-1] - xs[0] < min_span or n < 2:
        slope = prior_slope
    else:
        hull = lower_hull(xs, ys)
        xm = sum(xs) / n
        pos = bisect_left([xs[i] for i in hull], xm)
        k = min(max(pos, 1), len(hull) - 1)
        i, j = hull[k - 1], hull[k]
        slope = (ys[j] - ys[i]) / (xs[j] - xs[i])
        if not slope > 0:  # degenerate (cannot happen with a real clock): keep the prior
            slope = prior_slope
    if band is not None:
        slope = min(max(slope, band[0]), band[1])
    return min(y - slope * x for x, y in zip(xs, ys, strict=True)), slope


#: How far a board's clock rate may be from its nominal rate: the boards' crystals are within
#: tens of ppm (docs/hardware.md) and Linux slews the host clock by at most 500 ppm. A slope
#: outside it is the links' timing, not the clocks: a board that sends late for seconds (a
#: host stall, a starved process) lifts one end of the lower hull and tilts it, by 2 000 ppm
#: seen on a loaded machine, which over 12 s is 25 ms between two boards.
SLOPE_TOL = 500e-6


def slope_band(nominal: float, tol: float = SLOPE_TOL) -> tuple[float, float]:
    """Host s per board s a clock of nominal rate `nominal` can have."""
    return nominal * (1.0 - tol), nominal * (1.0 + tol)


def nominal_slope(hello: Hello | None) -> float:
    """Host s per board s the HELLO announces: 1, or 1/N for a replay at N x speed (the
    sample clock of a replay runs N board seconds per second)."""
    replay = hello.extra.get("replay") if hello is not None else None
    speed = replay.get("speed") if isinstance(replay, dict) else None
    return 1.0 / float(speed) if isinstance(speed, int | float) and speed > 0 else 1.0


class _Segment:
    """Points of one uninterrupted board clock, relative to its first point (float precision:
    unix seconds ~1.8e9 leave only ~0.2 us resolution, so work in offsets)."""

    def __init__(self, sid: int, x: float, y: float, window_s: float, keep: bool) -> None:
        self.id = sid
        self.x0, self.y0 = x, y
        self.xs: deque[float] = deque()
        self.ys: deque[float] = deque()
        self.window_s = window_s
        self.keep = keep  # keep every point (offline use), not only the window
        self.all_x: list[float] = []
        self.all_y: list[float] = []
        self.a, self.b = 0.0, 1.0
        self.band: tuple[float, float] | None = None  # the slopes its clock can have
        self.fitted_at: float | None = None
        self.first_host = y
        # CMD_TIME probes: (board time, host send time), relative; their upper-hull line
        self.px: deque[float] = deque()
        self.py: deque[float] = deque()
        self.pa: float | None = None
        self.pb = 1.0

    @property
    def last_x(self) -> float:
        return self.xs[-1] + self.x0 if self.xs else self.x0

    def add(self, x: float, y: float) -> None:
        rx, ry = x - self.x0, y - self.y0
        if self.ys and self.ys[-1] == ry:  # same read (one clump): the later board time dominates
            self.xs[-1] = rx
            if self.keep:
                self.all_x[-1] = rx
        else:
            self.xs.append(rx)
            self.ys.append(ry)
            if self.keep:
                self.all_x.append(rx)
                self.all_y.append(ry)
        while self.xs and self.xs[-1] - self.xs[0] > self.window_s:
            self.xs.popleft()
            self.ys.popleft()

    def refit(self, prior_slope: float, band: tuple[float, float] | None = None) -> None:
        self.band = band
        self.a, self.b = fit_lower_envelope(list(self.xs), list(self.ys), prior_slope, band=band)  # O(1) indexing
        self.fitted_at = self.xs[-1]

    def residual(self, x: float, y: float) -> float:
        return (y - self.y0) - (self.a + self.b * (x - self.x0))

    def add_probe(self, x: float, y_sent: float, min_span: float) -> None:
        """A lower bound: the board's clock read x at a host instant after y_sent."""
        rx, ry = x - self.x0, y_sent - self.y0
        if self.px and rx <= self.px[-1]:
            return  # out of order (a late ACK after a newer one): keep the deque sorted
        self.px.append(rx)
        self.py.append(ry)
        while self.px[-1] - self.px[0] > self.window_s:
            self.px.popleft()
            self.py.popleft()
        # the upper hull of the lower bounds = the lower hull of their point reflection (same
        # slope); with less than min_span of board time the frames' slope is kept and only the
        # offset fitted
        a, b = fit_lower_envelope([-v for v in reversed(self.px)], [-v for v in reversed(self.py)],
                                  self.b, min_span, self.band)
        # recent frames are hard upper bounds (received after their last sample): never above
        top = -a
        for i in range(len(self.xs) - 1, -1, -1):
            if self.xs[i] < rx - 10.0:
                break
            top = min(top, self.ys[i] - b * self.xs[i])
        self.pa, self.pb = top, b

    def fit(self) -> ClockFit:
        """The probes' line once there are probes (tight from below, and kept under the recent
        frames, which bound it from above), else the frames' envelope. Not the lower of the
        two: the envelope's slope can be off by hundreds of ppm when the frames' wait sits on
        the phase grid, and extrapolated it may pass below the true line."""
        if self.pa is not None:
            return ClockFit(self.x0, self.y0, self.pa, self.pb, True)
        return ClockFit(self.x0, self.y0, self.a, self.b)


class BoardClock:
    """Online offset + drift of one board's sample clock against the host clock.

    Feed it with `observe(board_s, host_s)` for every SAMPLES frame (board time of its last
    sample), or `observe_message(...)` with decoded frames; read `to_host(board_s)`.
    """

    def __init__(self, window_s: float = 120.0, refit_s: float = 5.0, below_tol_s: float = 0.05,
                 below_restart: int = 3, reboot_confirm_s: float = 2.0, keep_history: bool = False,
                 prior_slope: float = 1.0, latency_s: float = 0.0) -> None:
        self.window_s, self.refit_s = window_s, refit_s
        # a link's latency floor the fit cannot see (every frame waits at least this long,
        # e.g. a BLE board's notification flush timer): subtracted from the mapping
        self.latency_s = latency_s
        self.below_tol_s, self.below_restart = below_tol_s, below_restart
        self.reboot_confirm_s = reboot_confirm_s
        self.keep_history = keep_history
        self.prior_slope = prior_slope
        # the slopes the board's clock can have, once its HELLO says its nominal rate
        self.band: tuple[float, float] | None = None
        self.seg: _Segment | None = None
        self._cand: _Segment | None = None  # board time went back: a reboot, or a resend?
        self._last_main_host = 0.0
        self._below = 0
        self._next_id = 0
        self.segments: list[_Segment] = []  # all, when keep_history
        self.merged: dict[int, int] = {}  # dropped candidate id -> segment it belonged to
        self.restarts = 0
        self.dropped_below = 0
        self.points = 0
        self.probes = 0  # CMD_TIME probes taken
        self.probes_rejected = 0  # ... inconsistent with the frames (another segment's clock)

    # -- feeding ------------------------------------------------------------------------

    def _new_segment(self, x: float, y: float) -> _Segment:
        s = _Segment(self._next_id, x, y, self.window_s, self.keep_history)
        self._next_id += 1
        if self.keep_history:
            self.segments.append(s)
        return s

    def reset(self) -> None:
        """The board rebooted (BOOT event): its clock starts over."""
        if self.seg is not None:
            self.prior_slope = self.seg.b
            self.restarts += 1
        self.seg = None
        self._cand = None
        self._below = 0

    def observe(self, board_s: float, host_s: float) -> int:
        """Add one (board time, receive time) point; return the id of its segment."""
        self.points += 1
        seg = self.seg
        if seg is None:
            self.seg = seg = self._new_segment(board_s, host_s)
            seg.add(board_s, host_s)
            seg.refit(self.prior_slope, self.band)
            self._last_main_host = host_s
            return seg.id
        if board_s <= seg.last_x:  # back, or a repeat: a resend or a reboot
            return self._observe_back(board_s, host_s)
        if self._cand is not None:  # the main clock went on: that was a resend
            self.merged[self._cand.id] = seg.id
            if self.keep_history:
                self.segments.remove(self._cand)
            self._cand = None
        self._last_main_host = host_s
        span = seg.xs[-1] - seg.xs[0] if seg.xs else 0.0
        r = seg.residual(board_s, host_s)
        if r < -self.below_tol_s and span >= 5.0:
            self._below += 1
            if self._below < self.below_restart:
                self.dropped_below += 1
                return seg.id
            # the board clock jumped: start over from here
            self.reset()
            return self.observe(board_s, host_s)
        self._below = 0
        seg.add(board_s, host_s)
        # Refit every refit_s, and sooner while the segment is young: a slope taken over a span
        # S is off by about (transit jitter) / S, and extrapolated over t that is an offset error
        # of jitter x t / S. Refitting once a quarter of the span has passed keeps it to a
        # quarter of the jitter (BLE: 15 ms jitter over the first 1-2 s once put 40-50 ms into
        # the mapping before the first 5 s refit; docs/benchmarks.md, "Web dashboard latency").
        if r < 0 or seg.fitted_at is None or seg.xs[-1] - seg.fitted_at >= min(self.refit_s, 0.25 * span):
            seg.refit(self.prior_slope, self.band)
        return seg.id

    def _observe_back(self, board_s: float, host_s: float) -> int:
        cand = self._cand
        if cand is None or board_s <= cand.last_x:
            if cand is not None:  # a second resend (or a second reboot) in a row
                if self.seg is not None:
                    self.merged[cand.id] = self.seg.id
                if self.keep_history:
                    self.segments.remove(cand)
            self._cand = cand = self._new_segment(board_s, host_s)
        cand.add(board_s, host_s)
        if host_s - self._last_main_host >= self.reboot_confirm_s \
                and host_s - cand.first_host >= self.reboot_confirm_s:
            # the old clock has been silent while the new one ran: a reboot
            if self.seg is not None:
                self.prior_slope = self.seg.b
            self.restarts += 1
            self.seg, self._cand, self._below = cand, None, 0
            self._last_main_host = host_s
        cand.refit(self.prior_slope, self.band)
        return cand.id

    def set_nominal(self, slope: float) -> None:
        """The board's clock runs `slope` host s per board s nominally (its HELLO): the fits
        keep their slope within `SLOPE_TOL` of it, and a segment's first second takes it."""
        band = slope_band(slope)
        if band == self.band:
            return
        self.band = band
        if self.seg is None or not (band[0] <= self.prior_slope <= band[1]):
            self.prior_slope = slope
        for seg in (self.seg, self._cand):
            if seg is not None and seg.xs:
                seg.refit(self.prior_slope, band)

    def observe_message(self, msg: Message | None, frame: Frame, host_s: float, rate_hz: int) -> int | None:
        """Take what a decoded frame says about the clock (HELLO its nominal rate, BOOT resets,
        SAMPLES are points); return the segment the frame's time belongs to (None: the next
        one to start)."""
        if isinstance(msg, Hello):
            self.set_nominal(nominal_slope(msg))
        elif isinstance(msg, Event) and msg.code == ev.EV_BOOT:
            self.reset()
        elif isinstance(msg, Samples) and len(msg.counts) and rate_hz > 0:  # rate 0: no HELLO yet
            return self.observe(last_sample_s(frame.t_ms, len(msg.counts), rate_hz), host_s)
        return self.seg.id if self.seg is not None else None

    def probe(self, board_s: float, sent_s: float, recv_s: float, min_span: float = 10.0) -> bool:
        """A CMD_TIME answer: the board's sample clock read `board_s` at a host instant within
        [sent_s, recv_s]. Returns whether it was taken: a probe the current segment's frames
        contradict (the board time belongs to a clock not yet seen, or the round trip went
        through a reboot) is dropped."""
        seg = self.seg
        if seg is None or self._cand is not None or recv_s < sent_s:
            return False
        x = board_s - seg.x0
        top = seg.a + seg.b * x + seg.y0  # frames: the true line lies below this
        span = seg.xs[-1] - seg.xs[0] if seg.xs else 0.0
        # (only once the frames' slope is known: before, it is the prior, 1.0, and a replay
        # at N x would be extrapolated wrong by far more than the tolerance)
        if (span >= 5.0 and sent_s - top > self.below_tol_s) or board_s < seg.x0:
            self.probes_rejected += 1
            return False
        if board_s < seg.last_x - self.reboot_confirm_s:  # behind the frames: a rebooted clock
            self.probes_rejected += 1
            return False
        seg.add_probe(board_s, sent_s, min_span)
        self.probes += 1
        return True

    # -- reading ------------------------------------------------------------------------

    @property
    def fit(self) -> ClockFit | None:
        return self.seg.fit() if self.seg is not None else None

    def to_host(self, board_s: float) -> float | None:
        """Host time (the session's clock, unix seconds) of a board time in the current segment."""
        f = self.fit
        if f is None:
            return None
        return f.to_host(board_s) - (0.0 if f.probed else self.latency_s)

    def summary(self) -> dict[str, float | int | None]:
        """What STATS records carry: the live mapping, so a recording keeps it too."""
        f = self.fit
        if f is None:
            return {"points": self.points}
        return {
            "board0_s": f.board0, "host0_s": f.host0, "offset_s": round(f.offset_s, 6),
            "slope": f.slope, "drift_ppm": round(f.drift_ppm, 2),
            "points": self.points, "restarts": self.restarts, "dropped_below": self.dropped_below,
            "probes": self.probes, "probed": f.probed,
        }


def last_sample_s(t_ms: int, n: int, rate_hz: int) -> float:
    """Board time (s) of the last sample of a SAMPLES frame whose first sample is at t_ms."""
    return (t_ms + (n - 1) * 1000.0 / rate_hz) / 1000.0


class SegmentFits:
    """Offline (hindsight) mapping of one segment: a lower-envelope fit per block of board
    time over the window centred on it, so drift that changes over a long session is followed
    and every point is mapped with data from both sides of it."""

    def __init__(self, seg: _Segment, window_s: float = 120.0, block_s: float = 10.0,
                 prior_slope: float = 1.0) -> None:
        band = seg.band
        xs, ys = seg.all_x or list(seg.xs), seg.all_y or list(seg.ys)
        self.x0, self.y0 = seg.x0, seg.y0
        self.block_s = block_s
        self.fits: list[tuple[float, float]] = []
        end = xs[-1] if xs else 0.0
        nblocks = int(end // block_s) + 1
        for k in range(nblocks):
            mid = (k + 0.5) * block_s
            lo = bisect_left(xs, mid - window_s / 2)
            hi = bisect_right(xs, mid + window_s / 2)
            if hi - lo < 1:
                self.fits.append(self.fits[-1] if self.fits else (seg.a, seg.b))
                continue
            self.fits.append(fit_lower_envelope(xs[lo:hi], ys[lo:hi], prior_slope, band=band))

    def to_host(self, board_s: float) -> float:
        rx = board_s - self.x0
        k = min(max(int(rx // self.block_s), 0), len(self.fits) - 1)
        a, b = self.fits[k]
        return self.y0 + a + b * rx


class RecordedClock:
    """A recorded board's mapping with hindsight: the live estimator re-run over the recorded
    receive times (the same segments), then `SegmentFits` per segment. `gaitloop export`
    writes its `t_host` column from this; recordings made before it existed work the same."""

    def __init__(self, frames: Sequence[tuple[float, Frame]], rate_hz: int, latency_s: float = 0.0) -> None:
        from gaitloop.messages import PayloadError, decode_payload

        clock = BoardClock(keep_history=True)
        seg_of: list[int | None] = []
        pending: list[int] = []  # frames seen before their segment's first samples
        for i, (t, fr) in enumerate(frames):
            try:
                msg: Message | None = decode_payload(fr)
            except PayloadError:
                msg = None
            sid = clock.observe_message(msg, fr, t, rate_hz)
            seg_of.append(sid)
            if sid is None:
                pending.append(i)
            else:
                for j in pending:
                    seg_of[j] = sid
                pending.clear()
        self._seg_of = seg_of
        self._merged = clock.merged
        self._fits = {s.id: SegmentFits(s, clock.window_s) for s in clock.segments if s.xs}
        self.restarts = clock.restarts
        self.latency_s = latency_s
        slopes = [b for f in self._fits.values() for _, b in f.fits]
        #: host seconds per board second (1 +- ppm for a real board; 1/N for a replay at N x)
        self.slope = float(sorted(slopes)[len(slopes) // 2]) if slopes else 1.0

    def to_host(self, frame_pos: int, board_s: float) -> float:
        """Host time of `board_s`, a time of the board's clock while frame `frame_pos` was current."""
        sid = self._seg_of[frame_pos]
        sid = self._merged.get(sid, sid) if sid is not None else None
        fit = self._fits.get(sid) if sid is not None else None
        return float("nan") if fit is None else fit.to_host(board_s) - self.latency_s
