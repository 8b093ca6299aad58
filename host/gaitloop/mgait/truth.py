"""Ground truth from foot positions: heel strikes, step and stride lengths, walking speed.

Why Zeni's rule: a heel strike is where the foot is farthest ahead of the pelvis along the
walking direction (Zeni et al., Gait & Posture 2008). It needs no force plate and works on
overground and treadmill walks alike. Step length = separation of the two feet along the
walking direction at the front foot's heel strike (the paper's Definition 5.1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.ndimage import uniform_filter1d
from scipy.signal import find_peaks

from gaitloop.mgait.mocap import SIDES, Walk


@dataclass
class TrueStep:
    t: float  # heel strike time of the front foot [s]
    side: str  # front foot
    length: float  # [m]


def walking_direction(walk: Walk) -> np.ndarray:
    """Unit horizontal walking direction per frame (n, 3): smoothed pelvis velocity, or for a
    treadmill walk (pelvis nearly still) the principal axis of the feet's motion."""
    p = walk.pelvis.copy()
    p[:, 2] = 0
    win = max(3, int(walk.rate_hz))
    v = np.gradient(uniform_filter1d(p, win, axis=0, mode="nearest"), axis=0) * walk.rate_hz
    speed = np.linalg.norm(v, axis=1)
    if np.median(speed) < 0.3:
        rel = walk.ankle["l"] - walk.pelvis
        rel = rel[:, :2] - rel[:, :2].mean(axis=0)
        axis = np.linalg.svd(rel, full_matrices=False)[2][0]
        fwd = np.array([axis[0], axis[1], 0.0])
        # the foot moves forward fast in swing: orient so the swing motion is +
        d = np.gradient(rel @ axis)
        if np.sum(d[d > 0] ** 2) < np.sum(d[d < 0] ** 2):
            fwd = -fwd
        return np.tile(fwd, (walk.n, 1))
    fwd = v / np.maximum(speed[:, None], 1e-9)
    # frames with no motion borrow the nearest moving direction
    moving = speed > 0.1
    if not moving.any():
        return np.tile(np.array([1.0, 0.0, 0.0]), (walk.n, 1))
    idx = np.where(moving)[0]
    near = idx[np.clip(np.searchsorted(idx, np.arange(walk.n)), 0, len(idx) - 1)]
    return fwd[near]


def feet(walk: Walk) -> dict[str, np.ndarray]:
    """The foot points used for truth: heel markers when the file has them, else ankles."""
    return getattr(walk, "heel_markers", None) or walk.ankle


def heel_strikes(walk: Walk) -> dict[str, np.ndarray]:
    """Heel-strike frame indices per side (Zeni: maxima of foot-minus-pelvis along fwd)."""
    fwd = walking_direction(walk)
    f = feet(walk)
    out = {}
    for s in SIDES:
        rel = np.sum((f[s] - walk.pelvis) * fwd, axis=1)
        rel = uniform_filter1d(rel, max(1, int(walk.rate_hz * 0.05)), mode="nearest")
        pk, _ = find_peaks(rel, distance=max(1, int(0.5 * walk.rate_hz)), prominence=0.08)
        out[s] = pk
    return out


def true_steps(walk: Walk, min_len: float = 0.10, subframe: bool = False) -> list[TrueStep]:
    """Every heel strike with the step length at that instant, in time order.

    `subframe`: the heel strike between frames (the maximum of a cubic spline through the
    foot-minus-pelvis signal, within a frame of the sampled one) and the feet's separation
    there (the same spline through it). Why: at Zeni's instant the front foot still moves at
    the pelvis's speed while the back foot is down, so the separation grows at ~1 m/s; at a
    30 Hz capture the frame nearest the contact is up to 17 ms off, which moves the true step
    by 1.5 % mean absolute on the Bandai-Namco walks. The simulated sensors see the same
    spline-interpolated motion between frames, so an estimate read at the physical instant
    is scored against the step at that instant, not at the nearest frame."""
    fwd = walking_direction(walk)
    f = feet(walk)
    hs = heel_strikes(walk)
    t = walk.t
    steps = []
    for s in SIDES:
        o = "r" if s == "l" else "l"
        sep = np.sum((f[s] - f[o]) * fwd, axis=1)
        if subframe and walk.n >= 4:
            rel = np.sum((f[s] - walk.pelvis) * fwd, axis=1)
            rel = uniform_filter1d(rel, max(1, int(walk.rate_hz * 0.05)), mode="nearest")
            rel_s, sep_s = CubicSpline(t, rel), CubicSpline(t, sep)
        for k in hs[s]:
            tk, d = k / walk.rate_hz, float(sep[k])
            if subframe and walk.n >= 4 and 0 < k < walk.n - 1:
                grid = np.linspace(t[k - 1], t[k + 1], 201)
                tk = float(grid[int(np.argmax(rel_s(grid)))])
                d = float(sep_s(tk))
            if d >= min_len:
                steps.append(TrueStep(tk, s, d))
    steps.sort(key=lambda st: st.t)
    return steps
