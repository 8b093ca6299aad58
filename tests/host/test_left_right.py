"""Left and right in step from a recording alone: two insoles with their own clocks (booted
0.7 s apart, +150 / -120 ppm), events stamped in board ms, receive times bursty."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gaitfw import events as ev
from gaitfw import protocol as P
from gaitloop.asymmetry import LiveSteps, StepAsymmetry, recording_asymmetry
from gaitloop.messages import frame_from_decoded
from gaitloop.record import Recorder, read_recording

T0 = 1.8e9
BOARDS = {"left": (T0 + 0.2, 150e-6), "right": (T0 + 0.9, -120e-6)}  # boot host time, drift


def board_ms(side: str, host: float) -> float:
    boot, drift = BOARDS[side]
    return (host - boot) * (1 + drift) * 1000.0


def host_of(side: str, ms: float) -> float:
    boot, drift = BOARDS[side]
    return boot + ms / 1000.0 / (1 + drift)


def walk_events(seconds: float = 60.0):
    """True host times: left HS every 1.2 s, right HS 0.65 s after it (left step 0.55 s,
    right 0.65 s), stance 0.7 s on both."""
    out = []
    t = T0 + 2.0
    while t < T0 + seconds:
        out += [("left", ev.EV_HEEL_STRIKE, t), ("left", ev.EV_TOE_OFF, t + 0.7),
                ("right", ev.EV_HEEL_STRIKE, t + 0.65), ("right", ev.EV_TOE_OFF, t + 0.65 + 0.7)]
        t += 1.2
    return out


def record(path, seconds: float = 60.0) -> None:
    rng = np.random.default_rng(4)
    rows = []  # (receive host time, link, frame)
    for link, side in enumerate(("left", "right")):
        w = P.FrameWriter()
        hello = json.dumps({"device": f"ins-{side}", "kind": "insole", "side": side, "fw": "0", "proto": 1,
                            "rate": 100, "channels": ["heel", "ball"], "units": ["N", "N"],
                            "scale": [0.1, 0.1]}).encode()
        w.frame(P.MSG_HELLO, 0, hello)
        rows.append((BOARDS[side][0] + 0.01, link, frame_from_decoded(bytes(w.raw[: P.HEADER_LEN + len(hello) + 2]))))
        k = 0
        while True:
            last_ms = k * 100 + 90
            true = host_of(side, last_ms)
            if true > T0 + seconds:
                break
            w.begin(P.MSG_SAMPLES, k * 100)
            P.samples_header(w.raw, k * 10, 2, 10)
            for i in range(40):
                w.raw[P.HEADER_LEN + P.SAMPLES_HEADER + i] = 0
            w.finish(P.SAMPLES_HEADER + 40)
            fr = frame_from_decoded(bytes(w.raw[: P.HEADER_LEN + P.SAMPLES_HEADER + 40 + 2]))
            # connection events every 7.5 ms, clumps, sometimes much later
            delay = (-(true - T0) % 0.0075) + rng.exponential(0.0005) + (rng.random() < 0.05) * rng.uniform(0, 0.2)
            rows.append((true + delay, link, fr))
            k += 1
    for side, code, t in walk_events(seconds):
        link = 0 if side == "left" else 1
        w = P.FrameWriter()
        w.event(int(round(board_ms(side, t))), code, link, 0, 0)
        rows.append((t + 0.06, link, frame_from_decoded(bytes(w.raw[: P.HEADER_LEN + 12]))))
    rows.sort(key=lambda r: r[0])
    with Recorder(path) as rec:
        for link in (0, 1):
            rec.add_link(link, {"port": f"p{link}"})
        for t, link, fr in rows:
            rec.add_frame(link, fr, t)


def test_steps_across_two_clocks(tmp_path):
    path = tmp_path / "lr.glsession"
    record(path)
    s = recording_asymmetry(read_recording(path))
    assert s is not None
    assert s["step"]["left_ms"] == pytest.approx(550, abs=1.5)
    assert s["step"]["right_ms"] == pytest.approx(650, abs=1.5)
    assert s["step"]["si_pct"] == pytest.approx(100 * 100 / 600, abs=0.3)
    assert s["stance"]["left_ms"] == pytest.approx(700, abs=1.5)
    assert s["double"]["left_ms"] == pytest.approx(700 - 550, abs=1.5)
    assert s["step"]["n_left"] >= 45


def test_raw_board_times_would_be_wrong(tmp_path):
    """The same events on the boards' own clocks (no alignment): the steps are off by the boot
    gap, so the test above can fail."""
    path = tmp_path / "lr.glsession"
    record(path)
    rec = read_recording(path)
    t = {side: {c: [ms / 1000 for ms, _, e in rec.events(link) if e.code == c]
                for c in (ev.EV_HEEL_STRIKE, ev.EV_TOE_OFF)} for link, side in ((0, "left"), (1, "right"))}
    hs = ev.EV_HEEL_STRIKE
    raw = StepAsymmetry().estimate(t["left"][hs], t["right"][hs]).summary()
    assert raw["step"]["left_ms"] is None or abs(raw["step"]["left_ms"] - 550) > 100  # off, or none


def test_live_steps_sink():
    """The live line's sink takes events with each board's live mapping."""

    class Clock:
        def __init__(self, offset: float) -> None:
            self.offset = offset
            self.fit = type("F", (), {"slope": 1.0})()

    class Ch:
        def __init__(self, side: str, offset: float) -> None:
            self.state = type("S", (), {"hello": type("H", (), {"kind": "insole", "side": side})()})()
            self.clock = Clock(offset)

        def host_time(self, t_ms: float) -> float:
            return self.clock.offset + t_ms / 1000.0

    class Fr:
        def __init__(self, t_ms: int) -> None:
            self.t_ms = t_ms

    class Msg:
        def __init__(self, code: int) -> None:
            self.code = code

    sink = LiveSteps()
    left, right = Ch("left", 1000.0), Ch("right", 1000.4)  # right board booted 0.4 s later
    assert sink.summary() is None
    for k in range(10):
        t = 1.2 * k
        sink(0, left, Fr(int(t * 1000)), Msg(ev.EV_HEEL_STRIKE))
        sink(1, right, Fr(int((t + 0.65 - 0.4) * 1000)), Msg(ev.EV_HEEL_STRIKE))
    s = sink.summary()
    assert s is not None
    assert s["step"]["left_ms"] == pytest.approx(550, abs=0.5)
    assert s["step"]["right_ms"] == pytest.approx(650, abs=0.5)
    assert "step 550" in sink.text()
