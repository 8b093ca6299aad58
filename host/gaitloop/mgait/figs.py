"""Angle-based MGait events on the Huang recordings (real hip/knee angles + heel/ball pressure).

Why: these are real joint-angle recordings with foot pressure measured at the same time, so
the paper's event rule (knee minimum of the front limb = initial contact) can be scored
against heel strikes seen in the pressure, independent of any simulation. The angles feed
the same state machine as the board (gaitfw.mgait_events), after the paper's eq. 1
smoothing. Assumptions, stated because the files do not: 100 Hz sampling (as the same
group's insole files), hip flexion positive, knee flexion negative (so beta = -knee).
Reference heel strike: the foot's total pressure rises through 20 % of its robust range
after at least 150 ms below it (swing).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gaitfw.mgait_events import GaitEvents
from gaitloop.mgait.reference import decimate

RATE_HZ = 100
M = 4
TOL_S = 0.100


class _Ics:
    def __init__(self):
        self.ics: list[tuple[float, int]] = []
        self.steps = 0

    def on_ic(self, t, side, a, b):
        self.ics.append((t / 1000.0, side))

    def on_fo(self, t, side, a, b):
        pass

    def on_lost(self, t, reason):
        pass

    def on_step(self, *a):
        self.steps += 1


def pressure_strikes(total: np.ndarray, rate: float = RATE_HZ) -> np.ndarray:
    """Heel-strike times [s] from one foot's total pressure (NaN-safe)."""
    x = np.nan_to_num(total, nan=0.0)
    lo, hi = np.percentile(x, 5), np.percentile(x, 95)
    if hi - lo <= 0:
        return np.zeros(0)
    on = x > lo + 0.2 * (hi - lo)
    need = int(0.15 * rate)
    out = []
    off_run = 0
    for i in range(1, len(on)):
        if not on[i - 1]:
            off_run += 1
        if on[i] and not on[i - 1]:
            if off_run >= need:
                out.append(i / rate)
            off_run = 0
    return np.array(out)


def score_recording(rec: dict[str, np.ndarray]) -> dict:
    """Detected initial contacts vs pressure heel strikes in one recording."""
    keys = ("hip_l", "knee_l", "hip_r", "knee_r")
    good = np.all([np.isfinite(rec[k]) for k in keys + ("total_l", "total_r")], axis=0)
    # the longest run without NaN
    edges = np.diff(np.concatenate(([0], good.astype(int), [0])))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    if len(starts) == 0:
        return {"tp": 0, "fp": 0, "fn": 0, "errors_s": []}
    k = int(np.argmax(stops - starts))
    a, b = starts[k], stops[k]
    sig = {kk: rec[kk][a:b] for kk in keys}
    al, ar = decimate(sig["hip_l"] * 100, M), decimate(sig["hip_r"] * 100, M)
    bl, br = decimate(-sig["knee_l"] * 100, M), decimate(-sig["knee_r"] * 100, M)
    sink = _Ics()
    ev = GaitEvents(sink, numtype=float)
    half = (2 * M - 1) * 1000 / (2 * RATE_HZ)
    for i in range(len(al)):
        t = ((i + 1) * M - 1) * 1000 / RATE_HZ - half
        ev.feed(int(t), float(al[i]), float(bl[i]), float(ar[i]), float(br[i]))
    tp = fp = fn = 0
    errs: list[float] = []
    for side, tot in ((0, "total_l"), (1, "total_r")):
        ref = pressure_strikes(rec[tot][a:b])
        det = np.array([t for t, s in sink.ics if s == side])
        used = np.zeros(len(ref), bool)
        for t in det:
            if len(ref) == 0:
                fp += 1
                continue
            d = np.abs(ref - t)
            d[used] = np.inf
            j = int(np.argmin(d))
            if d[j] <= TOL_S:
                used[j] = True
                tp += 1
                errs.append(float(t - ref[j]))
            else:
                fp += 1
        # only strikes inside the span where the detector could run count as misses
        inside = (ref > 0.5) & (ref < (b - a) / RATE_HZ - 0.5)
        fn += int(np.sum(~used & inside))
    return {"tp": tp, "fp": fp, "fn": fn, "errors_s": errs}


def _summary(rows: list[dict]) -> dict:
    tp = sum(r["tp"] for r in rows)
    fp = sum(r["fp"] for r in rows)
    fn = sum(r["fn"] for r in rows)
    errs = [e for r in rows for e in r["errors_s"]]
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    return {
        "recordings": len(rows),
        "precision": prec,
        "recall": rec,
        "f1": 2 * prec * rec / (prec + rec) if prec + rec else 0.0,
        "median_timing_error_ms": float(np.median(errs) * 1000) if errs else float("nan"),
        "median_abs_timing_error_ms": float(np.median(np.abs(errs)) * 1000) if errs else float("nan"),
        "matched": tp,
    }


def evaluate_figs(directory: str | Path) -> dict:
    """Precision, recall and median timing error over the deduplicated recordings.

    `level`: recordings whose motion mode is only 0/1 (standing / level walking, the paper's
    setting); `all`: every recording, stairs and ramps included (modes 2-6), where the
    paper's level-walking rule is not expected to hold.
    """
    from gaitloop.data.imu_figs import list_recordings, load_fig

    level, every = [], []
    for f in list_recordings(directory):
        rec = load_fig(f)
        r = score_recording(rec)
        every.append(r)
        modes = set(np.unique(rec["mode"][np.isfinite(rec["mode"])]).astype(int).tolist())
        if modes <= {0, 1}:
            level.append(r)
    return {
        "level": _summary(level),
        "all": _summary(every),
        "assumed_rate_hz": RATE_HZ,
        "tolerance_ms": TOL_S * 1000,
    }
