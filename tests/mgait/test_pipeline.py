"""The firmware MGait processor on a real walk: accuracy, CPython == MicroPython, no heap growth."""

import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gaitfw.events import EV_MG_IC, EV_MG_SPEED, EV_MG_STANCE, EV_MG_STEP, EV_MG_STRIDE
from gaitloop.mgait.evaluate import match_steps
from gaitloop.mgait.reference import board_path, float_path, ideal_path
from gaitloop.mgait.truth import true_steps
from tests.conftest import run_micropython


def _cfg(walk, streams):
    return {"l1_mm": round(walk.l1() * 1000), "l2_mm": round(walk.l2() * 1000), "d5_mm": 0, "bend_cal": streams.bend_cal}


def test_board_steps_match_truth(normal_walk, normal_streams):
    truth = true_steps(normal_walk)
    steps, events, _ = board_path(normal_streams, _cfg(normal_walk, normal_streams))
    m = match_steps(steps, truth, normal_streams.t0_walk)
    tp = sum(1 for j in m if j >= 0)
    assert tp >= len(truth) - 1 and tp == len(steps)  # every detected step is a real one
    err = [abs(s.length - truth[j].length) / truth[j].length for s, j in zip(steps, m, strict=True) if j >= 0]
    assert np.mean(err) < 0.12  # nominal lengths, no calibration (paper: 10.03 % initial)
    codes = {e[1] for e in events}
    assert {EV_MG_STEP, EV_MG_STRIDE, EV_MG_SPEED, EV_MG_STANCE, EV_MG_IC} <= codes
    for e in events:
        if e[1] == EV_MG_STANCE:
            assert 300 < e[3] < 1200 and 200 < e[4] < 900  # stance, swing ms
        if e[1] == EV_MG_SPEED:
            assert 800 < e[3] < 1500  # mm/s; this walk covers ~10 m in ~9 s


def test_fixed_point_close_to_float_reference(normal_walk, normal_streams):
    cfg = _cfg(normal_walk, normal_streams)
    steps_fx, _, ang_fx = board_path(normal_streams, cfg)
    steps_fl, ang_fl = float_path(normal_streams, normal_walk.l1(), normal_walk.l2(), 0.0, cfg)
    n = min(len(ang_fx["alpha_l"]), len(ang_fl["alpha_l"]))
    for k in ("alpha_l", "alpha_r", "beta_l", "beta_r"):
        d = (np.asarray(ang_fx[k][:n]) - ang_fl[k][:n]) / 100
        assert np.sqrt(np.mean(d**2)) < 0.5, k  # degrees
    assert len(steps_fx) == len(steps_fl)
    dl = [abs(a.length - b.length) for a, b in zip(steps_fx, steps_fl, strict=True)]
    assert max(dl) < 0.015  # metres


def test_ideal_path_detects_every_step(normal_walk, normal_streams):
    steps = ideal_path(normal_streams, normal_walk.l1(), normal_walk.l2(), 0.0)
    truth = true_steps(normal_walk)
    m = match_steps(steps, truth, normal_streams.t0_walk)
    assert sum(1 for j in m if j >= 0) >= len(truth) - 1


def test_micropython_viper_and_plain_equal_cpython_with_zero_heap_growth(normal_walk, normal_streams, knee_bin):
    cfg = _cfg(normal_walk, normal_streams)
    _, ev_cpy, _ = board_path(normal_streams, cfg, feedback=True)
    code = f"""
import gc, json
from array import array
from gaitfw.feedback import Feedback
from gaitfw.mgait import MGait
cfg = json.loads({json.dumps(json.dumps(cfg))})
res = []
for viper in (True, False):
    ev = array('i', [0] * 5 * 400)
    n = [0]
    def emit(t, c, s, a, b):
        o = 5 * n[0]
        if o < len(ev):
            ev[o] = t; ev[o + 1] = c; ev[o + 2] = s; ev[o + 3] = a; ev[o + 4] = b
            n[0] += 1
    mg = MGait(emit, cfg, 100, Feedback(emit, cfg), viper=viper)
    row = array('h', [0] * 14)
    mv = memoryview(row)
    f = open({str(knee_bin)!r}, 'rb')
    i = 0
    a0 = 0
    while f.readinto(mv) == 28:
        if i == 300:
            gc.collect(); a0 = gc.mem_alloc()
        mg.feed(i * 10, row)
        i += 1
    res.append([gc.mem_alloc() - a0, i, list(ev[:5 * n[0]])])
print(json.dumps(res))
"""
    res = json.loads(run_micropython(code))
    flat = [v for e in ev_cpy for v in e]
    for growth, n, evs in res:
        assert growth == 0
        assert n == len(normal_streams.counts)
        assert evs == flat


class _Sink:
    def __init__(self):
        self.steps = []
        self.ics = []
        self.ic_angles = []

    def on_ic(self, t, side, a, b):
        self.ics.append((t, side))
        self.ic_angles.append((a, b))

    def on_fo(self, t, side, a, b):
        pass

    def on_lost(self, t, reason):
        pass

    def on_step(self, t, front, af, bf, ab, bb, t_ic):
        self.steps.append((t, front, af, ab))


def _gait(lag_ticks: int, n: int = 200):
    """Two legs in antiphase; the back hip minimum comes `lag_ticks` after the contact."""
    from gaitfw.mgait_events import GaitEvents

    sink = _Sink()
    ev = GaitEvents(sink)
    period = 28  # ticks of 40 ms: 1.12 s stride
    for i in range(n):
        vals = []
        for leg in (0, 1):
            ph = ((i + leg * period // 2) % period) / period
            # knee: swing flexion peak at 0.7, minimum (contact) at phase 0
            knee = int(6000 * max(0.0, np.sin(np.pi * (ph - 0.45) / 0.55)) if ph > 0.45 else 500 + 1500 * np.sin(np.pi * ph / 0.45))
            # hip: maximum near contact, minimum at phase 0.5 + lag
            hip = int(2500 * np.cos(2 * np.pi * (ph - lag_ticks / period)) + 800)
            vals += [hip, knee]
        ev.feed(i * 40, vals[0], vals[1], vals[2], vals[3])
    return sink


def test_event_machine_alternates_and_pairs_within_the_step():
    for lag in (3, 0, -2):  # back hip minimum after, at, or just before the contact
        s = _gait(lag)
        sides = [st[1] for st in s.steps]
        assert len(s.steps) >= 12, lag
        assert all(a != b for a, b in zip(sides, sides[1:], strict=False)), lag
        # every step completes within 200 ms of its contact (never a stride later)
        ic_t = [t for t, _ in s.ics]
        for t, *_ in s.steps:
            assert min(abs(t - x) for x in ic_t if x <= t) <= 200, lag


def test_minimum_is_placed_between_ticks():
    """The vertex of the parabola through the minimum and its neighbours: a contact that
    falls 30 % of a tick after a sample is reported there, with the other angle of that leg
    read at the same instant (int and float machines agree)."""
    from gaitfw.mgait_events import GaitEvents

    t0 = 10.3  # ticks
    got = []
    for numtype in (int, float):
        sink = _Sink()
        ev = GaitEvents(sink, numtype=numtype)
        for i in range(20):
            knee = numtype(round(400 * (i - t0) ** 2 + 300))  # minimum 3 degrees at tick 10.3
            hip = numtype(round(2000 + 150 * (i - t0)))  # still rising through the contact
            ev.feed(i * 40, hip, knee, numtype(0), numtype(3000))
        assert len(sink.ics) == 1, numtype
        got.append(sink.ics[0])
        t, side = sink.ics[0]
        assert side == 0
        assert abs(t - t0 * 40) <= 2, t  # on the 40 ms grid it would be 12 ms off
        a, b = sink.ic_angles[0]
        assert abs(a - 2000) <= 3 and abs(b - 300) <= 3, (a, b)  # at tick 10: 1955, 336
        got.append((round(a), round(b)))
    assert got[0] == got[2] and abs(got[1][1] - got[3][1]) <= 1


@settings(max_examples=60, deadline=None)
@given(t0=st.floats(8.0, 12.0), curv=st.integers(60, 1200), slope=st.integers(-600, 600))
def test_minimum_vertex_on_random_parabolas(t0, curv, slope):
    """Wherever the true minimum falls between ticks, the int machine places it within a
    couple of ms, reads the vertex and the other angle there, and agrees with the float one."""
    from gaitfw.mgait_events import GaitEvents

    ics = []
    for numtype in (int, float):
        sink = _Sink()
        ev = GaitEvents(sink, numtype=numtype)
        for i in range(20):
            knee = numtype(round(curv * (i - t0) ** 2 + 300))
            ev.feed(i * 40, numtype(round(2000 + slope * (i - t0))), knee, numtype(0), numtype(3000))
        assert len(sink.ics) == 1
        (t, _), (a, b) = sink.ics[0], sink.ic_angles[0]
        assert abs(t - t0 * 40) <= 3, (t, t0 * 40)
        assert abs(b - 300) <= 4 + curv // 200, b  # the vertex, not the nearest sample
        assert abs(a - 2000) <= 4 + abs(slope) // 40, a
        ics.append((t, a, b))
    (ti, ai, bi), (tf, af, bf) = ics
    # integer f is floored to 1/256 tick: one step of it moves the other angle by slope / 256
    assert abs(ti - tf) <= 1 and abs(ai - af) <= 2 + abs(slope) // 100 and abs(bi - bf) <= 3
