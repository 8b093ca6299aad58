"""Detection error rates E1-E4 (eq. 13-14) and event timing against the authors' states.

How the paper is read (also in docs/csm.md):

* E1 (off-ground), E2 (on-ground), E3 (both) count *output changes* of the detector, not raw
  template flags: an output change to off (on) that lies within +/- t_W samples of a labelled
  off-onset (on-onset) and is the first such change for it is a correct detection; a
  labelled onset without one is a miss (mn); every other change of that kind is a false
  detection (fn). cn is the number of labelled onsets. The window is two-sided because the
  paper's transition statuses sit on both sides of the threshold crossing (initial
  off-ground after it, initial on-ground before it).
* The "Table 1" variant counts the literal one-sided windows: off-changes correct only in
  the initial off-ground status (crossing .. crossing + t_W - 1), on-changes only in the
  initial on-ground status (crossing - t_W .. crossing - 1).
* E4 (binary) = % of samples whose detected on/off differs from the Lopez-Meyer label.
* E4 strict = % of samples not scored correct by eq. 14 with c(k) the four statuses: samples
  in the transition statuses (1, 2) always count against the detector. Its floor is the
  share of transition samples (what a detector equal to the labels gets).
Warm-up samples (the first block, where the board makes no decision) are not scored.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .labels import IOFF, ION, T_W, transitions


@dataclass
class Counts:
    """Summable counts behind E1-E4 for one or more streams."""

    cn1: int = 0
    mn1: int = 0
    fn1: int = 0
    cn2: int = 0
    mn2: int = 0
    fn2: int = 0
    t1_mn1: int = 0
    t1_fn1: int = 0
    t1_mn2: int = 0
    t1_fn2: int = 0
    n: int = 0
    err: int = 0
    err_strict: int = 0
    floor: int = 0
    steps: int = 0
    delays_on: list = field(default_factory=list)
    delays_off: list = field(default_factory=list)

    def __iadd__(self, o: Counts) -> Counts:
        for k in self.__dataclass_fields__:
            setattr(self, k, getattr(self, k) + getattr(o, k))
        return self

    def rates(self) -> dict:
        def pct(a: float, b: float) -> float:
            return round(100.0 * a / b, 3) if b else float("nan")

        out = {
            "E1": pct(self.mn1 + self.fn1, self.cn1),
            "E2": pct(self.mn2 + self.fn2, self.cn2),
            "E3": pct(self.mn1 + self.fn1 + self.mn2 + self.fn2, self.cn1 + self.cn2),
            "E4": pct(self.err, self.n),
            "E4_strict": pct(self.err_strict, self.n),
            "E4_strict_floor": pct(self.floor, self.n),
            "E1_table1": pct(self.t1_mn1 + self.t1_fn1, self.cn1),
            "E2_table1": pct(self.t1_mn2 + self.t1_fn2, self.cn2),
            "E3_table1": pct(self.t1_mn1 + self.t1_fn1 + self.t1_mn2 + self.t1_fn2,
                             self.cn1 + self.cn2),
        }
        out["E3_table1"] = out["E3_table1"]
        for k, d in (("on", self.delays_on), ("off", self.delays_off)):
            a = np.asarray(d, dtype=float)
            out[f"delay_{k}_median_ms"] = round(float(np.median(a)) * 10, 1) if len(a) else None
        return out


def _match(label_t: np.ndarray, det_t: np.ndarray, lo: int, hi: int) -> tuple[int, int, list]:
    """Greedy one-to-one matching of detected changes to labelled onsets within [t+lo, t+hi]."""
    used = np.zeros(len(det_t), dtype=bool)
    miss = 0
    delays = []
    for t in label_t:
        a = np.searchsorted(det_t, t + lo)
        b = np.searchsorted(det_t, t + hi, side="right")
        cand = [k for k in range(a, b) if not used[k]]
        if cand:
            k = min(cand, key=lambda k: abs(det_t[k] - t))
            used[k] = True
            delays.append(int(det_t[k] - t))
        else:
            miss += 1
    return miss, int((~used).sum()), delays


def score(decision: np.ndarray, labels: np.ndarray, states: np.ndarray,
          valid: np.ndarray) -> Counts:
    """Counts for one stream: detector output vs Lopez-Meyer labels on valid samples."""
    h = np.asarray(decision, dtype=np.int8)
    g = np.asarray(labels, dtype=np.int8)
    v = np.asarray(valid, dtype=bool)
    first = int(np.argmax(v)) if v.any() else len(h)
    lab_on, lab_off = transitions(g)
    det_on, det_off = transitions(h)
    lab_on, lab_off = lab_on[lab_on > first], lab_off[lab_off > first]
    det_on, det_off = det_on[det_on > first], det_off[det_off > first]
    c = Counts()
    c.cn1, c.cn2 = len(lab_off), len(lab_on)
    c.mn1, c.fn1, c.delays_off = _match(lab_off, det_off, -T_W, T_W)
    c.mn2, c.fn2, c.delays_on = _match(lab_on, det_on, -T_W, T_W)
    c.t1_mn1, c.t1_fn1, _ = _match(lab_off, det_off, 0, T_W - 1)
    c.t1_mn2, c.t1_fn2, _ = _match(lab_on, det_on, -T_W, -1)
    st = np.asarray(states)[v]
    hv, gv = h[v], g[v]
    c.n = int(v.sum())
    c.err = int((hv != gv).sum())
    trans = (st == IOFF) | (st == ION)
    c.err_strict = int((trans | (hv != gv)).sum())
    c.floor = int(trans.sum())
    c.steps = len(lab_on)
    return c
