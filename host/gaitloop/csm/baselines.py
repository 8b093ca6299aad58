"""Baselines the paper compares against: PM (Yu et al. 2015) and STTTA (Tang et al. 2018).

Sources: the full texts were not reachable from here, so both are implemented from their
published abstracts and from the CSM paper's description of them (Sec. 1):

* PM, L. Yu et al., "Adaptive method for real-time gait phase detection based on ground
  contact forces", Gait & Posture 41 (2015) 269-275: real time, "calculates the sums and
  proportions of GCFs", "two proportional factors were optimized and selected for all
  subjects". Read here as: a sensor switches on when its force exceeds the previous swing
  minimum plus k_on times the previous cycle's peak-to-trough range, and off when it falls
  below the minimum plus k_off times that range (two proportions, hysteresis).
* STTTA, J. Tang et al., "Self-Tuning Threshold Method for Real-Time Gait Phase Detection
  Based on Ground Contact Forces Using FSRs", Sensors 18 (2018) 481: "three thresholds
  (high, middle, low) ... used to search out the maximum and minimum GCFs for the
  self-adjustments of thresholds; the high-threshold was the main threshold used to divide
  the GCFs into on-ground and off-ground statuses"; "three initial threshold values were
  set for all subjects". Read here as: the maximum is searched while the force is above the
  middle threshold, the minimum while it is below the low threshold, and after each cycle
  all three are re-set from those extremes (high = min + a_h * range, middle = min + 0.5 *
  range, low = min + 0.25 * range).

Both run causally on the same counts as CSM; their factors are chosen on the training
streams by a small grid search, as "optimized for all subjects" suggests.

* Fixed threshold (`threshold_detect`, the fault benchmark's simplest insole detector): the
  first 3 s of the stream calibrate the unloaded level and the load range, the threshold is
  set once at level + a * range and never adapts (what a start-up calibration gives).
"""

from __future__ import annotations

import itertools

import numpy as np

from .dataset import Stream
from .metrics import Counts, score


def _init_range(x: list[float], n: int = 100) -> tuple[float, float]:
    head = x[:n] if len(x) >= n else x
    return min(head), max(head)


def pm_detect(counts: np.ndarray, k_on: float = 0.15, k_off: float = 0.10) -> np.ndarray:
    """Proportion method, per sensor, causal."""
    x = np.asarray(counts, dtype=np.float64).tolist()
    lo, hi = _init_range(x)
    g = 1
    cur_max, cur_min = -np.inf, np.inf
    out = np.empty(len(x), dtype=np.int8)
    for i, v in enumerate(x):
        rng = max(hi - lo, 1e-9)
        if g == 1:
            cur_max = max(cur_max, v)
            if v < lo + k_off * rng:
                g = 0
                hi = cur_max
                cur_min = v
        else:
            cur_min = min(cur_min, v)
            if v > lo + k_on * rng:
                g = 1
                lo = cur_min
                cur_max = v
        out[i] = g
    return out


def sttta_detect(counts: np.ndarray, a_h: float = 0.15) -> np.ndarray:
    """Self-tuning triple threshold, per sensor, causal."""
    x = np.asarray(counts, dtype=np.float64).tolist()
    lo, hi = _init_range(x)
    th, tm, tl = lo + a_h * (hi - lo), lo + 0.5 * (hi - lo), lo + 0.25 * (hi - lo)
    g = 1
    run_max, run_min = -np.inf, np.inf
    have_max = False
    out = np.empty(len(x), dtype=np.int8)
    for i, v in enumerate(x):
        if v > tm:
            run_max = max(run_max, v)
            have_max = True
        if v < tl:
            run_min = min(run_min, v)
        if g == 1 and v < th:
            g = 0
        elif g == 0 and v > th:
            g = 1
            if have_max and np.isfinite(run_min):  # a full cycle seen: self-tune
                rng = run_max - run_min
                th, tm, tl = run_min + a_h * rng, run_min + 0.5 * rng, run_min + 0.25 * rng
                run_max, run_min, have_max = -np.inf, np.inf, False
        out[i] = g
    return out


CALIB = 300  # samples (3 s) of start-up calibration for the fixed threshold


def threshold_detect(counts: np.ndarray, a: float = 0.15) -> np.ndarray:
    """Fixed threshold calibrated once on the first 3 s (lo + a * (hi - lo)), causal."""
    x = np.asarray(counts, dtype=np.float64)
    head = x[:CALIB]
    lo, hi = float(head.min()), float(head.max())
    th = lo + a * max(hi - lo, 1e-9)
    return (x > th).astype(np.int8)


def _e4(streams: list[Stream], fn) -> float:
    c = Counts()
    for s in streams:
        c += score(fn(s.counts), s.labels, s.states, s.valid)
    return c.err / max(c.n, 1)


class Baselines:
    """Fit PM / STTTA / fixed-threshold factors on training streams (grid search on E4), then detect."""

    def __init__(self, max_streams: int = 24, seed: int = 0) -> None:
        self.max_streams = max_streams
        self.seed = seed

    def fit(self, streams: list[Stream]) -> Baselines:
        use = [s for s in streams if s.usable]
        rng = np.random.default_rng(self.seed)
        if len(use) > self.max_streams:
            use = [use[i] for i in sorted(rng.choice(len(use), self.max_streams, replace=False))]
        grid = (0.05, 0.10, 0.15, 0.25)
        best = min(((k1, k2) for k1, k2 in itertools.product(grid, grid) if k2 <= k1),
                   key=lambda k: _e4(use, lambda c: pm_detect(c, k[0], k[1])))
        self.pm_ = {"k_on": best[0], "k_off": best[1]}
        a = min(grid, key=lambda a: _e4(use, lambda c: sttta_detect(c, a)))
        self.sttta_ = {"a_h": a}
        a = min(grid, key=lambda a: _e4(use, lambda c: threshold_detect(c, a)))
        self.threshold_ = {"a": a}
        return self

    def params(self) -> dict:
        return {"pm": self.pm_, "sttta": self.sttta_, "threshold": self.threshold_}

    def pm(self, counts: np.ndarray) -> np.ndarray:
        return pm_detect(counts, **self.pm_)

    def sttta(self, counts: np.ndarray) -> np.ndarray:
        return sttta_detect(counts, **self.sttta_)

    def threshold(self, counts: np.ndarray) -> np.ndarray:
        return threshold_detect(counts, **self.threshold_)
