"""Lopez-Meyer threshold labels (eq. 2, alpha = 0.094) and the paper's four statuses.

Why: the paper trains and scores CSM against these post-hoc labels (Sec. 2.2.1, 2.3). The
threshold needs per-cycle maxima and minima; cycles are found with a mid-range hysteresis
split (the paper does not say how it segments; any split that isolates one peak and one
trough per cycle gives the same extremes). "Combined with filtering" (Sec. 3.4) is read as
removing on/off runs shorter than t_W, which are the abnormal values of Fig. 2.

Four statuses (Sec. 2.3), with t_W = 5 samples (50 ms at 100 Hz), laid out as in the authors'
`.ini` files (On onset - Initial on-ground onset = 5 samples):
3 on-ground; 1 initial off-ground = first t_W samples below threshold; 0 off-ground;
2 initial on-ground = last t_W samples below threshold before the first sample above it.
"""

from __future__ import annotations

import numpy as np

ALPHA = 0.094
T_W = 5
ON, IOFF, OFF, ION = 3, 1, 0, 2


def runs(b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(starts, ends exclusive, values) of the constant runs of a 1-D array."""
    b = np.asarray(b)
    if len(b) == 0:
        return np.zeros(0, int), np.zeros(0, int), np.zeros(0, b.dtype)
    cut = np.flatnonzero(b[1:] != b[:-1]) + 1
    starts = np.concatenate([[0], cut])
    ends = np.concatenate([cut, [len(b)]])
    return starts, ends, b[starts]


def cycle_extremes(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-cycle maxima (of each loaded run) and minima (of each unloaded run)."""
    lo, hi = np.percentile(x, 2), np.percentile(x, 98)
    mid, hyst = 0.5 * (lo + hi), 0.1 * (hi - lo)
    state = np.empty(len(x), dtype=bool)
    s = bool(x[0] > mid)
    for i, v in enumerate(x.tolist()):
        if s and v < mid - hyst:
            s = False
        elif not s and v > mid + hyst:
            s = True
        state[i] = s
    st, en, val = runs(state)
    maxima = np.array([x[a:b].max() for a, b, v in zip(st, en, val, strict=True) if v])
    minima = np.array([x[a:b].min() for a, b, v in zip(st, en, val, strict=True) if not v])
    return maxima, minima


def lopez_meyer_threshold(x: np.ndarray, alpha: float = ALPHA) -> float:
    """Thr = alpha * (mean cycle max - mean cycle min) + mean cycle min (eq. 2)."""
    x = np.asarray(x, dtype=np.float64)
    maxima, minima = cycle_extremes(x)
    if len(maxima) == 0 or len(minima) == 0:
        return float(np.nan)
    t_max, t_min = maxima.mean(), minima.mean()
    return float(alpha * (t_max - t_min) + t_min)


def drop_short_runs(g: np.ndarray, min_len: int = T_W) -> np.ndarray:
    """Flip interior runs shorter than min_len (glitches), shortest first."""
    g = np.asarray(g, dtype=np.int8).copy()
    for _ in range(50):
        st, en, _val = runs(g)
        ln = en - st
        interior = np.ones(len(st), dtype=bool)
        if len(st):
            interior[0] = interior[-1] = False
        bad = np.flatnonzero(interior & (ln < min_len))
        if len(bad) == 0:
            break
        k = bad[np.argmin(ln[bad])]
        g[st[k]:en[k]] = 1 - g[st[k]]
    return g


def binary_labels(x: np.ndarray, alpha: float = ALPHA, min_len: int = T_W) -> np.ndarray:
    """1 on-ground / 0 off-ground by the Lopez-Meyer threshold, short glitches removed."""
    thr = lopez_meyer_threshold(x, alpha)
    return drop_short_runs((np.asarray(x) >= thr).astype(np.int8), min_len)


def four_states(g: np.ndarray, t_w: int = T_W) -> np.ndarray:
    """Binary labels -> statuses 3 / 1 / 0 / 2 (see module docstring)."""
    g = np.asarray(g, dtype=np.int8)
    s = np.where(g == 1, ON, OFF).astype(np.int8)
    st, en, val = runs(g)
    for a, b, v in zip(st, en, val, strict=True):
        if v == 0:
            if a > 0:  # a real lift-off, not the recording start
                s[a:min(a + t_w, b)] = IOFF
            if b < len(g):  # followed by a contact
                s[max(b - t_w, a):b] = np.where(s[max(b - t_w, a):b] == IOFF, IOFF, ION)
    return s


def transitions(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sample indices of on-onsets (first on sample) and off-onsets (first off sample)."""
    g = np.asarray(g, dtype=np.int8)
    d = np.diff(g)
    return np.flatnonzero(d == 1) + 1, np.flatnonzero(d == -1) + 1
