"""Float references of every knee-sleeve stage, and the three paths the evaluation compares.

Why three paths: the fixed-point board path (the exact firmware modules), the same stages in
float64 (median offsets, `ahrs.filters.Madgwick`, eq. 1 boxcar, numpy atan2 and sines) and
the ideal-angle path (hip and knee angles straight from the skeleton) separate the model's
error (ideal) from sensing error (float) and from fixed-point error (board vs float).
The event state machine is shared (gaitfw.mgait_events works on int or float centidegrees).
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

import numpy as np

from gaitfw.boards import knee as board
from gaitfw.mgait import MGait
from gaitfw.mgait_events import GaitEvents
from gaitloop.mgait.synth import KneeStreams

SIDE_NAMES = ("l", "r")


@dataclass
class Step:
    """One detected step: contact time [s], front side, angles at the events [deg], length [m]."""

    t_ic: float
    side: str
    af: float
    bf: float
    ab: float
    bb: float
    length: float


def closed_form(l1: float, l2: float, d5: float, af, bf, ab, bb):
    """Paper eq. 6 in float (angles in degrees, lengths in any unit)."""
    r = np.radians
    return l2 * np.sin(r(af - bf)) + l1 * np.sin(r(af)) + l1 * np.sin(r(-ab)) + l2 * np.sin(r(bb - ab)) + d5


def features(af, bf, ab, bb) -> np.ndarray:
    """RLS regressor h = [sin af - sin ab, sin(af - bf) + sin(bb - ab), 1] (paper eq. 9)."""
    r = np.radians
    af, bf, ab, bb = (np.asarray(v, dtype=float) for v in (af, bf, ab, bb))
    return np.stack([np.sin(r(af)) - np.sin(r(ab)), np.sin(r(af - bf)) + np.sin(r(bb - ab)), np.ones_like(af)], axis=-1)


def decimate(x: np.ndarray, m: int) -> np.ndarray:
    """Paper eq. 1: mean of the last 2M samples every M samples (streaming alignment)."""
    n = (len(x) // m) * m
    blocks = x[:n].reshape(n // m, m, *x.shape[1:]).sum(axis=1)
    out = np.empty_like(blocks, dtype=float)
    out[0] = blocks[0] / (2 * m)  # first window is half-filled on the board too
    out[1:] = (blocks[1:] + blocks[:-1]) / (2 * m)
    return out


def madgwick_float(gyro_dps: np.ndarray, acc_g: np.ndarray, rate_hz: float, beta: float) -> np.ndarray:
    """Float Madgwick (ahrs package) from identity; returns the up vector (n, 3) per sample."""
    from ahrs.filters import Madgwick

    f = Madgwick(frequency=float(rate_hz), gain=beta)
    q = np.array([1.0, 0.0, 0.0, 0.0])
    gyr = np.radians(gyro_dps)
    acc = acc_g * 9.80665
    up = np.empty((len(gyr), 3))
    for i in range(len(gyr)):
        q = f.updateIMU(q, gyr[i], acc[i])
        w, x, y, z = q
        up[i] = (2 * (x * z - w * y), 2 * (w * x + y * z), 2 * (0.5 - x * x - y * y))
    return up


class _Collect:
    """Event sink that keeps the steps (float path and ideal path)."""

    def __init__(self, l1: float, l2: float, d5: float, bias=(0.0, 0.0, 0.0, 0.0)):
        self.l1, self.l2, self.d5, self.bias = l1, l2, d5, bias
        self.steps: list[Step] = []
        self.ics: list[tuple[float, str]] = []

    def on_ic(self, t, side, a, b):
        self.ics.append((t / 1000.0, SIDE_NAMES[side]))

    def on_fo(self, t, side, a, b):
        pass

    def on_lost(self, t, reason):
        pass

    def on_step(self, t, front, af, bf, ab, bb, t_ic):
        ang = [v / 100.0 - bi for v, bi in zip((af, bf, ab, bb), self.bias, strict=True)]
        d = float(closed_form(self.l1, self.l2, self.d5, *ang))
        self.steps.append(Step(t_ic / 1000.0, SIDE_NAMES[front], *ang, d))


def _run_events(t_ms: np.ndarray, al, bl, ar, br, sink: _Collect, cfg: dict) -> None:
    ev = GaitEvents(sink, cfg.get("knee_prom_cdeg", 2000), cfg.get("hip_prom_cdeg", 1000), numtype=float)
    for i in range(len(t_ms)):
        ev.feed(int(t_ms[i]), float(al[i]), float(bl[i]), float(ar[i]), float(br[i]))


def _tick_times(n_ticks: int, rate: int, m: int, n_cal: int) -> np.ndarray:
    half = ((2 * m - 1) * 1000) // (2 * rate)
    idx = n_cal + (np.arange(n_ticks) + 1) * m - 1
    return idx * (1000 // rate) - half


def ideal_path(streams: KneeStreams, l1: float, l2: float, d5: float, cfg: dict | None = None) -> list[Step]:
    """Angles straight from the skeleton (thigh pitch without the mounting tilt, true knee angle)."""
    cfg = cfg or {}
    rate = streams.rate_hz
    m = rate // 25
    n_cal = int(cfg.get("cal_s", 2) * rate)
    sink = _Collect(l1, l2, d5)
    a = {s: decimate(streams.alpha_deg[s][n_cal:] * 100, m) for s in SIDE_NAMES}
    b = {s: decimate(streams.beta_deg[s][n_cal:] * 100, m) for s in SIDE_NAMES}
    t = _tick_times(len(a["l"]), rate, m, n_cal)
    _run_events(t, a["l"], b["l"], a["r"], b["r"], sink, cfg)
    return sink.steps


def float_path(streams: KneeStreams, l1: float, l2: float, d5: float, cfg: dict | None = None, beta: float = 0.033) -> tuple[list[Step], dict]:
    """The board's stages in float64 on the same counts; returns steps and the 25 Hz angles."""
    cfg = cfg or {}
    rate = streams.rate_hz
    m = rate // 25
    n_cal = int(cfg.get("cal_s", 2) * rate)
    c = streams.counts.astype(float)
    angles = {}
    for k, s in enumerate(SIDE_NAMES):
        o = 7 * k
        med = np.median(c[:n_cal, o : o + 7], axis=0)
        acc = (c[n_cal:, o + 1 : o + 4] - (med[1:4] - np.array([0, 0, board.ACCEL_LSB_PER_G]))) / board.ACCEL_LSB_PER_G
        gyr = (c[n_cal:, o + 4 : o + 7] - med[4:7]) / board.GYRO_LSB_PER_DPS
        up = madgwick_float(gyr, acc, rate, beta)
        upd = decimate(up, m)
        angles[f"alpha_{s}"] = np.degrees(np.arctan2(upd[:, 0], upd[:, 2])) * 100
        raw0, raw90 = streams.bend_cal[k]
        bend = decimate(c[n_cal:, o], m)
        angles[f"beta_{s}"] = (bend - med[0]) * 9000.0 / (raw90 - raw0)
    t = _tick_times(len(angles["alpha_l"]), rate, m, n_cal)
    sink = _Collect(l1, l2, d5)
    _run_events(t, angles["alpha_l"], angles["beta_l"], angles["alpha_r"], angles["beta_r"], sink, cfg)
    return sink.steps, angles


def board_path(streams: KneeStreams, cfg: dict, feedback: bool = False) -> tuple[list[Step], list[tuple], dict]:
    """The firmware MGait processor on the counts (CPython, plain kernels): steps, events, angles."""
    events: list[tuple] = []

    def emit(t, code, side, a, b):
        events.append((t, code, side, a, b))

    full = dict(cfg)
    full.setdefault("bend_cal", streams.bend_cal)
    fb = None
    if feedback:
        from gaitfw.feedback import Feedback

        fb = Feedback(emit, full)
    mg = MGait(emit, full, streams.rate_hz, fb)
    row = array("h", [0] * streams.counts.shape[1])
    ang: list[list[int]] = []
    for i, r in enumerate(streams.counts.tolist()):
        for j, v in enumerate(r):
            row[j] = v
        mg.feed(i * (1000 // streams.rate_hz), row)
        if mg.k == 0 and mg.ncal >= mg.n_cal and i >= mg.n_cal:
            ang.append(list(mg.angles))
    from gaitfw.events import EV_MG_FO, EV_MG_IC, EV_MG_STEP

    steps = []
    last_ic: dict[int, tuple] = {}
    last_fo = None
    for t, code, side, a, b in events:
        if code == EV_MG_IC:
            last_ic[side] = (t, a, b)
        elif code == EV_MG_FO:
            last_fo = (a, b)
        elif code == EV_MG_STEP and side in last_ic and last_fo is not None:
            ti, af, bf = last_ic[side]
            ab, bb = last_fo
            bias = full.get("bias_cdeg", [0, 0, 0, 0])
            steps.append(
                Step(ti / 1000.0, SIDE_NAMES[side], (af - bias[0]) / 100, (bf - bias[1]) / 100, (ab - bias[2]) / 100, (bb - bias[3]) / 100, a / 1000.0)
            )
    arr = np.array(ang) if ang else np.zeros((0, 4))
    angles = {"alpha_l": arr[:, 0], "beta_l": arr[:, 1], "alpha_r": arr[:, 2], "beta_r": arr[:, 3]}
    return steps, events, angles
