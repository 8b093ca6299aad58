"""End to end: two real virtual insoles (left and right foot of one gaitpdb walk) on one timeline.

Both boards replay the same walk from sample 0, so sample k is the same moment of the walk on
both; they differ on the host only by when each MicroPython process started. That moment is
taken independently of the stream: the launcher's bridge stamps the first bytes each board
writes (its boot HELLO, sent just before sample 0). The timeline, fed only with frames and their
receive times, must find each board's rate (the replay speed) and put the two boards' sample 0
where the launcher saw them start; then the walk's left/right steps computed on the host
timeline (launch gap removed) equal those computed on the shared walk clock.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gaitfw import events as ev
from gaitloop.asymmetry import LiveSteps, StepAsymmetry, recording_asymmetry
from gaitloop.link import open_link
from gaitloop.record import Recorder, aligned_event_times, read_recording
from gaitloop.sim.vboard import VirtualBoard
from gaitloop.stream import StreamSession

ROOT = Path(__file__).resolve().parents[2]
WALK = ROOT / "data" / "gaitpdb" / "GaCo01_01.txt"
SPEED = 2.0  # at 4x and more a loaded machine's virtual board samples late at times


class StampedBoard(VirtualBoard):
    """A virtual board whose launcher notes (monotonic) when the board first wrote bytes."""

    first_out: float | None = None

    def _to_user(self, chunk: bytes) -> None:
        if self.first_out is None and chunk:
            self.first_out = time.monotonic()
        super()._to_user(chunk)


def test_two_insoles_of_one_walk_line_up(tmp_path):
    boards = [StampedBoard("insole", side, WALK, speed=SPEED, device=f"sim-{side}") for side in ("left", "right")]
    for b in boards:
        b.prepare()
    try:
        ports = []
        for b in boards:
            ports.append(b.start())
            time.sleep(0.15)  # a launch gap the timeline must find
        deadline = time.monotonic() + 20
        while any(b.first_out is None for b in boards) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert all(b.first_out is not None for b in boards), "boards did not boot"
        rec_path = tmp_path / "walk.glsession"
        live = LiveSteps(keep=1000)
        session = StreamSession([open_link(p) for p in ports], Recorder(rec_path), [live])
        session.run(seconds=16.0, wake_after=0)
    finally:
        for b in boards:
            b.stop()
    wall0 = session._wall0
    starts = []
    for ch, b in zip(session.channels, boards, strict=True):
        fit = ch.clock.fit
        assert fit is not None and ch.state.samples > 3000
        # the board's sample clock runs SPEED x the host's (same kernel clock: no real drift;
        # a virtual board on a loaded machine samples a little late at times: 1000 ppm)
        assert abs(fit.slope * SPEED - 1.0) < 1000e-6, fit.slope
        starts.append(ch.host_time(0.0) - wall0)
        # sample 0 lands where the launcher saw the board start (HELLO just before sample 0)
        assert abs(starts[-1] - b.first_out) < 0.01, (starts[-1], b.first_out)
    gap_true = boards[1].first_out - boards[0].first_out
    gap_est = starts[1] - starts[0]
    assert abs(gap_est - gap_true) < 0.01, (gap_est, gap_true)  # measured 0.05-1.2 ms

    # the walk's steps: on the shared walk clock (board ms) vs on the host timeline
    rec = read_recording(rec_path)
    for link in (0, 1):  # the live fit is in the recording's STATS too
        assert rec.links[link].stats["clock"]["slope"] == pytest.approx(1 / SPEED, rel=1e-3)
    walk_t: dict[str, dict[int, list[float]]] = {}
    host_t: dict[str, dict[int, list[float]]] = {}
    for side, link in (("left", 0), ("right", 1)):
        walk_t[side] = {ev.EV_HEEL_STRIKE: [], ev.EV_TOE_OFF: []}
        host_t[side] = {ev.EV_HEEL_STRIKE: [], ev.EV_TOE_OFF: []}
        shift = starts[link] + wall0  # host time of this board's walk start
        for (t_ms, _, e), th in zip(rec.events(link), aligned_event_times(rec, link), strict=True):
            if e.code in walk_t[side]:
                walk_t[side][e.code].append(t_ms / 1000.0)
                host_t[side][e.code].append((th - shift) * SPEED)  # back to walk seconds
    hs, to = ev.EV_HEEL_STRIKE, ev.EV_TOE_OFF
    truth = StepAsymmetry().estimate(walk_t["left"][hs], walk_t["right"][hs],
                                     walk_t["left"][to], walk_t["right"][to]).summary()
    aligned = StepAsymmetry().estimate(host_t["left"][hs], host_t["right"][hs],
                                       host_t["left"][to], host_t["right"][to]).summary()
    assert truth["step"]["n_left"] >= 10 and truth["step"]["n_right"] >= 10
    for k in ("step", "stance", "double"):
        for side in ("left_ms", "right_ms"):
            # 10 ms of walk = 5 ms of host time at 2x
            assert aligned[k][side] == pytest.approx(truth[k][side], abs=10.0), (k, side)
    # `gaitloop info` and the live line work from the recording / the stream alone. They see the
    # launch gap as a real offset between the feet (the sim boards are not in step, so their
    # cross-board figures depend on that random gap: checked above with the gap removed);
    # their within-board figures must be the walk's
    summary = recording_asymmetry(rec)
    live_s = live.summary()
    assert summary is not None and live_s is not None
    for name, got in (("info", summary), ("live", live_s)):
        for k in ("stance", "swing"):
            for side in ("left", "right"):
                assert got[k][f"n_{side}"] >= truth[k][f"n_{side}"] - (2 if name == "info" else 6), (name, k)
                assert got[k][f"{side}_ms"] == pytest.approx(truth[k][f"{side}_ms"], abs=10.0), (name, k, side)
    print("timeline e2e:", {"slope_err_ppm": [round((c.clock.fit.slope * SPEED - 1) * 1e6, 1) for c in session.channels], "start_err_ms": [round((s - b.first_out) * 1000, 2) for s, b in zip(starts, boards, strict=True)], "gap_err_ms": round((gap_est - gap_true) * 1000, 2), "truth": truth["step"], "aligned": aligned["step"], "info": summary["step"], "live": live_s["step"]})


def test_boards_sharing_a_replay_epoch_stay_in_step_despite_a_launch_gap(tmp_path):
    """`replay_epoch_ms` (what `gaitloop demo` and `gaitloop sim --epoch-ms` give both insoles):
    a board that boots later joins the walk where it is, so `gaitloop info`'s cross-board
    figures, taken from the recording alone, are the walk's own and not the launch gap's."""
    epoch = time.time_ns() // 1_000_000
    boards = [VirtualBoard("insole", side, WALK, speed=SPEED, device=f"sim-{side}",
                           replay_epoch_ms=epoch) for side in ("left", "right")]
    try:
        ports = []
        for b in boards:
            ports.append(b.start())
            time.sleep(0.6)  # a launch gap far larger than the tolerance below
        rec_path = tmp_path / "walk.glsession"
        StreamSession([open_link(p) for p in ports], Recorder(rec_path)).run(seconds=14.0, wake_after=0)
    finally:
        for b in boards:
            b.stop()
    rec = read_recording(rec_path)
    walk_t: dict[str, dict[int, list[float]]] = {}
    starts = []
    for side, link in (("left", 0), ("right", 1)):
        replay = rec.links[link].hello.extra["replay"]
        starts.append(replay["start"])
        rate = rec.links[link].hello.rate
        walk_t[side] = {ev.EV_HEEL_STRIKE: [], ev.EV_TOE_OFF: []}
        for t_ms, _, e in rec.events(link):
            if e.code in walk_t[side]:  # the walk's own clock: where this boot joined it, plus board time
                walk_t[side][e.code].append(replay["start"] / rate + t_ms / 1000.0)
    assert starts[1] - starts[0] > 0.4 * SPEED * 100, starts  # the later board joined later
    hs, to = ev.EV_HEEL_STRIKE, ev.EV_TOE_OFF
    truth = StepAsymmetry().estimate(walk_t["left"][hs], walk_t["right"][hs],
                                     walk_t["left"][to], walk_t["right"][to]).summary()
    got = recording_asymmetry(rec)
    assert got is not None and truth["step"]["n_left"] >= 8
    for k in ("step", "double"):
        for side in ("left_ms", "right_ms"):
            # 20 ms of walk = 10 ms of host time at 2x: where sampling starts vs the join
            assert got[k][side] == pytest.approx(truth[k][side], abs=20.0), (k, side, got[k], truth[k])
