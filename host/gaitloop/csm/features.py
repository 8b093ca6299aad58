"""Vectorised twins of the firmware normaliser and eq. 7 curve features.

Why: training and evaluation run over ~1e6 samples; a per-sample Python loop would be slow,
so the steps of `gaitfw.csm` that have no feedback (normaliser, features, template match) are
computed here with numpy, in a float form (the reference) and an integer form that is
bit-exact to the firmware kernel (checked in tests/csm).
"""

from __future__ import annotations

import numpy as np

from gaitfw import csm as fw

BLK = 32
NBLK = 8
PLAT = 12  # gaitfw.csm._PLAT: samples pinned at the top, raw unchanged -> clipped
CLIP_HOLD = 256  # gaitfw.csm._WIN: samples the stretched range is kept after a plateau
MISSING = fw.MISSING
XBIAS = 32768


def fill_missing(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Forward-fill MISSING counts as the kernel does; returns (biased counts, missing mask)."""
    c = np.asarray(counts, dtype=np.int64)
    miss = c == MISSING
    x = c + XBIAS
    if miss.any():
        idx = np.where(miss, 0, np.arange(len(x)))
        np.maximum.accumulate(idx, out=idx)
        filled = x[idx]
        # a leading missing run repeats the kernel's initial previous value (0 biased)
        lead = miss & (np.cumsum(~miss) == 0)
        filled[lead] = 0
        x = filled
    return x, miss


def prefilter(xb: np.ndarray) -> np.ndarray:
    """The kernel's pre-filter (step 1b): (x + previous x) >> 1, the first sample unchanged.

    A previous value of 0 (a leading missing run, stored as 0 biased) counts as "none yet",
    exactly as the kernel's state slot does.
    """
    prev = np.concatenate([xb[:1], xb[:-1]])
    prev = np.where(prev == 0, xb, prev)
    return (xb + prev) >> 1


def window_lo_hi(xb: np.ndarray, lo_blocks: int = NBLK) -> tuple[np.ndarray, np.ndarray]:
    """Running lo/hi exactly as the kernel's block ring: see gaitfw/csm.py step 2.

    lo comes from the newest `lo_blocks` blocks (params `lo_blocks`), hi from all NBLK.
    """
    n = len(xb)
    nb = -(-n // BLK)
    pad = nb * BLK - n
    xp = np.concatenate([xb, np.repeat(xb[-1:], pad)]) if pad else xb
    xr = xp.reshape(nb, BLK)
    bmin = xr.min(1)
    bmax = xr.max(1)
    cmin = np.minimum.accumulate(xr, axis=1)
    cmax = np.maximum.accumulate(xr, axis=1)
    big = np.iinfo(np.int64).max
    # ring over blocks b-8..b-1 (pos < 31) and b-7..b (pos == 31); lo over the newest lo_blocks
    prev_lo = np.full(nb, big, dtype=np.int64)
    prev_hi = np.full(nb, -big, dtype=np.int64)
    for s in range(1, NBLK + 1):
        if s <= lo_blocks:
            prev_lo[s:] = np.minimum(prev_lo[s:], bmin[:-s] if s < nb else bmin[:0])
        prev_hi[s:] = np.maximum(prev_hi[s:], bmax[:-s] if s < nb else bmax[:0])
    end_lo = np.full(nb, big, dtype=np.int64)
    end_hi = np.full(nb, -big, dtype=np.int64)
    for s in range(0, NBLK):
        if s < lo_blocks:
            end_lo[s:] = np.minimum(end_lo[s:], bmin[: nb - s])
        end_hi[s:] = np.maximum(end_hi[s:], bmax[: nb - s])
    lo = np.minimum(prev_lo[:, None], cmin)
    hi = np.maximum(prev_hi[:, None], cmax)
    lo[:, -1] = end_lo
    hi[:, -1] = end_hi
    return lo.reshape(-1)[:n], hi.reshape(-1)[:n]


def clipped(raw: np.ndarray, xf: np.ndarray, hi: np.ndarray,
            miss: np.ndarray | None = None) -> np.ndarray:
    """Samples whose range the kernel stretches x2 (step 2b of gaitfw/csm.py).

    A run of PLAT samples with the raw count unchanged and the filtered count at the window
    top is a plateau; a plateau at the raw count of the previous plateau is a sensor at its
    rail (a coarse sensor's peak plateaus too, but not at one count stride after stride). The
    stretch lasts CLIP_HOLD samples from the newest sample of such a plateau. `raw`: biased,
    forward-filled counts; `xf`: after the pre-filter.
    """
    n = len(raw)
    prev = np.concatenate([raw[:1], raw[:-1]])
    prev = np.where(prev == 0, raw, prev)
    pin = (raw == prev) & (xf >= hi)
    if miss is not None:  # a missing sample repeats the last count: no sign of a rail
        pin &= ~miss
    # run length of consecutive pinned samples
    idx = np.arange(n)
    last_break = np.maximum.accumulate(np.where(pin, -1, idx))
    run = idx - last_break
    arm = np.flatnonzero(run == PLAT)  # one per plateau, in order
    same = np.zeros(n + 1, dtype=bool)  # by plateau start (last_break + 1)
    if len(arm) > 1:
        hit = arm[1:][raw[arm[1:]] == raw[arm[:-1]]]
        same[last_break[hit] + 1] = True
    trig = np.where((run >= PLAT) & same[last_break + 1], idx, -(CLIP_HOLD + 1))
    return (idx - np.maximum.accumulate(trig)) < CLIP_HOLD


def normalize(counts: np.ndarray, min_range: int, fixed: bool,
              lo_blocks: int = NBLK) -> dict[str, np.ndarray]:
    """Counts -> y and the per-sample flat / warm-up masks.

    y is per-mille of the window range: a float for the reference, an int in tenths of a
    per-mille (x10) for the fixed-point path, exactly as the kernel computes it.
    """
    raw, miss = fill_missing(counts)
    xb = prefilter(raw)
    lo, hi = window_lo_hi(xb, min(max(int(lo_blocks), 1), NBLK))
    rng = hi - lo
    rng = np.where(clipped(raw, xb, hi, miss) & (rng >= min_range), rng + rng, rng)
    flat = rng < min_range
    rng = np.where(flat, min_range, rng)
    if fixed:  # the kernel's integer y: tenths of a per-mille (0..10000)
        y = ((xb - lo) * 10000) // rng
    else:
        y = (xb - lo) * 1000.0 / rng
    warm = np.arange(len(xb)) < BLK - 1
    return {"y": y, "flat": flat, "warm": warm, "missing": miss, "xb": xb}


def curve_features(y: np.ndarray) -> np.ndarray:
    """Eq. 7: (y(i), y(i-1), y(i-2), y(i-3), six scale differences); history starts at 0."""
    y = np.asarray(y)
    z = np.zeros(3, dtype=y.dtype)
    yp = np.concatenate([z, y])
    y0, y1, y2, y3 = yp[3:], yp[2:-1], yp[1:-2], yp[:-3]
    return np.stack([y0, y1, y2, y3, y0 - y1, y0 - y2, y0 - y3, y1 - y2, y1 - y3, y2 - y3], 1)
