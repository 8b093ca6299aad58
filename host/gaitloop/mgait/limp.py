"""Limp cases for the buzzer rule: one leg's real motion changed through the kinematic model.

Why this way: no labelled limping data exists for the knee sleeve. We take a real captured
walk and, from a chosen moment on, reduce one leg's hip flexion (the thigh, knee and ankle
rotate together about the hip's lateral axis), so that leg's steps shorten while everything
else stays real. Truth steps are measured again from the modified feet, and each stride is
labelled by its true asymmetry (paper eq. 7) against the rule's threshold -- the label comes
from geometry, not from the detector. The sensors are then simulated from the modified walk
and the firmware (MGait + Feedback) decides per stride.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from gaitfw.events import EV_MG_ASYM, EV_MG_BUZZ, EV_MG_BUZZ_OFF
from gaitloop.mgait.evaluate import match_steps
from gaitloop.mgait.mocap import Walk, list_walks, load_walk
from gaitloop.mgait.reference import board_path
from gaitloop.mgait.synth import SensorModel, hip_angle_from_rot, synthesize
from gaitloop.mgait.truth import true_steps

REDUCTIONS = (0.1, 0.2, 0.3, 0.4)


def limp_walk(walk: Walk, side: str, reduction: float, onset: float = 1 / 3, ramp_s: float = 1.0) -> Walk:
    """Copy of `walk` whose `side` hip flexion is scaled by (1 - k) after `onset` of the walk.

    k = 1.5 * reduction roughly shortens that leg's steps by `reduction` (the achieved value is
    measured from the modified feet, not assumed).
    """
    w = copy.deepcopy(walk)
    w.name = f"{walk.name}_limp_{side}_{int(reduction * 100)}"
    alpha = np.radians(hip_angle_from_rot(walk.thigh_rot[side]))
    t = walk.t
    t0 = onset * t[-1]
    ramp = np.clip((t - t0) / ramp_s, 0, 1)
    k = min(1.5 * reduction, 0.95)
    theta = k * np.maximum(alpha, 0.0) * ramp  # rotate the leg back by this much
    lat = walk.thigh_rot[side].apply(np.array([0.0, 1.0, 0.0]))
    R = Rotation.from_rotvec(lat * theta[:, None])
    hip = walk.hip[side]
    w.knee[side] = hip + R.apply(walk.knee[side] - hip)
    w.ankle[side] = hip + R.apply(walk.ankle[side] - hip)
    w.thigh_rot[side] = R * walk.thigh_rot[side]
    return w


def _strides(walk: Walk, model: SensorModel, cfg: dict, thr_pct: float) -> list[tuple[bool, bool, bool, bool]]:
    """(true label, buzzer on live, confirmed, the stride's own estimated asymmetry over the
    threshold) per detected stride whose steps match the truth."""
    truth = true_steps(walk)
    st = synthesize(walk, model)
    c = dict(cfg)
    c.update({"l1_mm": round(walk.l1() * 1000), "l2_mm": round(walk.l2() * 1000), "d5_mm": 0, "bend_cal": st.bend_cal})
    steps, events, _ = board_path(st, c, feedback=True)
    m = match_steps(steps, truth, st.t0_walk)
    from gaitfw.events import EV_MG_STEP

    rows = []  # (step index closing the stride, estimated asym %, buzzer on after it)
    k = -1
    buzz = False
    pending = None
    for _t, code, _side, a, _b in events:
        if code == EV_MG_STEP:
            if pending is not None:
                rows.append((pending[0], pending[1], buzz))
                pending = None
            k += 1
        elif code == EV_MG_ASYM:
            pending = (k, a / 100.0)
        elif code == EV_MG_BUZZ:
            buzz = True
        elif code == EV_MG_BUZZ_OFF:
            buzz = False
    if pending is not None:
        rows.append((pending[0], pending[1], buzz))
    on = float(cfg.get("asym_pct", 25))
    # "confirmed": the over-threshold strides that led to a firing count as detected too
    confirmed = [r[2] for r in rows]
    for i in range(len(rows) - 1, 0, -1):
        if confirmed[i] and not rows[i - 1][2] and rows[i - 1][1] >= on:
            confirmed[i - 1] = True
    out = []
    for (kk, asym, live), conf in zip(rows, confirmed, strict=True):
        lab = _label(kk, m, truth, thr_pct)
        if lab is not None:
            out.append((lab, live, conf, asym >= on))
    return out


def _label(k: int, m: list[int], truth, thr_pct: float):
    """True label of the stride closed by detected step k: eq. 7 on the matched true steps."""
    if k < 1 or k >= len(m) or m[k] < 0 or m[k - 1] < 0:
        return None
    a, b = truth[m[k]].length, truth[m[k - 1]].length
    return bool(abs(a - b) / (0.5 * (a + b)) * 100 >= thr_pct)


def evaluate_limp(directory: str | Path, model: SensorModel | None = None, thr_pct: float = 25.0, reductions=REDUCTIONS, limit: int | None = None, wait_steps: int = 5, onset: float = 1 / 3) -> dict:
    """Precision/recall/F1 of the buzzer rule per stride over normal and limp versions of walks.

    `onset`: fraction of each walk walked normally before the limp ramps in (0: the whole trial
    limps, as in the paper's imitated-limping trials)."""
    model = model or SensorModel()
    cfg = {"asym_pct": thr_pct, "wait_steps": wait_steps}
    files = list_walks(directory)[:limit] if limit else list_walks(directory)
    pairs: list[tuple[bool, bool, bool, bool]] = []
    n_cases = 0
    for i, f in enumerate(files):
        w = load_walk(f)
        pairs += _strides(w, model, cfg, thr_pct)
        side = "l" if i % 2 == 0 else "r"
        for r in reductions:
            pairs += _strides(limp_walk(w, side, r, onset=onset), model, cfg, thr_pct)
            n_cases += 1
    y = np.array([p[0] for p in pairs], dtype=bool)
    out = {"strides": int(len(y)), "limp_strides": int(y.sum()), "cases": n_cases, "walks": len(files)}
    # live: the buzzer's state; confirmed: + the strides of the run that fired it; per_stride:
    # eq. 7 on the stride's estimated steps against the threshold, no waiting (the detector
    # the buzzer debounces)
    for name, col in (("live", 1), ("confirmed", 2), ("per_stride", 3)):
        yhat = np.array([p[col] for p in pairs], dtype=bool)
        tp = int(np.sum(y & yhat))
        fp = int(np.sum(~y & yhat))
        fn = int(np.sum(y & ~yhat))
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        out[name] = {"precision": prec, "recall": rec, "f1": f1, "tp": tp, "fp": fp, "fn": fn}
    out.update(out["live"])
    return {
        **out,
        "threshold_pct": thr_pct,
        "onset": onset,
        "wait_steps": wait_steps,
    }
