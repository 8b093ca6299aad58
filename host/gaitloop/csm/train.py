"""Algorithm 1 of the paper: evolutionary search of CSM template parameters, numpy-vectorised.

Why evolutionary and not statistics: templates taken straight from the mean / std of the
starting-flag curves detect poorly on unseen subjects; the paper's search on the detection
error F_i (eq. 12) is what makes CSM work.

Individual: mu (10), delta (10), eps (1, bounded by eq. 10). Each generation sorts the 2 *
PopSize individuals by fitness, ranks the best PopSize into four kinds by quartile, lets each
produce kind + 1 mutated descendants (better individuals take smaller steps) and puts the
best descendant into the second half; the best of all is returned (Algorithm 1).

Fitness of a template (flag level, Table 1): for every labelled transition s of its kind
(on-onset for the on template, off-onset for the off template) a flag within +/- t_W samples
is a correct detection, none is a miss (mn); a run of flags that starts on a sample of the
opposite label outside every window is a false detection (fn); flags on samples that already
have the template's state are not evaluated (Table 1's "*"). F = (mn + fn) / 2, plus a
1e-3 x mean |first-flag delay| tie-break so that equal F prefers timely flags.

`timing_weight` (default 0 = the paper's fitness) adds w x sum |first-flag delay| in samples;
`hit_window` (default t_W = the paper's transition window) narrows where a flag counts as a
correct detection (flags between hit_window and t_W are then neither hits nor false).
Why offered: F counts a flag anywhere in the +/- t_W window as correct, so the search settles
on late lift-off flags (low force is easier to match without false alarms); each sample of
delay is one sample of E4 error. See docs/csm.md for its effect.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .dataset import Stream
from .labels import T_W, transitions
from .model import EPS_MAX, CSMTemplates, Template

POP_SIZE = 20
MAX_GEN = 200
_STEP = (0.02, 0.05, 0.1, 0.2)  # mutation scale per kind (best -> worst)
_MU_LO = np.array([0.0] * 4 + [-1000.0] * 6)
_MU_HI = np.array([1000.0] * 4 + [1000.0] * 6)
_DELTA_LO, _DELTA_HI = 2.0, 2000.0
_STAGE1 = np.array([0, 4, 1, 6])
_STAGE2 = np.array([2, 3, 5, 7, 8, 9])


@dataclass
class _Problem:
    """Precomputed rows of one template's fitness over the training streams."""

    F: np.ndarray  # (10, m) float32 features of the rows that matter (feature-major)
    region: np.ndarray  # (m,) row is in the false-detection region
    prev: np.ndarray  # (m,) index of the previous sample's row, or -1 if not kept
    win: np.ndarray  # (n_trans, 2*T_W+1) row indices of each window (-1 outside)
    n_trans: int
    stat_mu: np.ndarray
    stat_sd: np.ndarray
    hit_window: int = T_W  # a flag within +/- hit_window samples is a correct detection
    probe: np.ndarray | None = None  # (10, <= _N_PROBE) fixed sample of F: `_flags`' order


def _build(streams: list[Stream], kind: str) -> _Problem:
    Fs, regions, prevs, wins = [], [], [], []
    offset = 0
    starts = []
    for st in streams:
        F = st.features(fixed=False).astype(np.float32)
        g = st.labels
        on_t, off_t = transitions(g)
        trans = on_t if kind == "on" else off_t
        trans = trans[(trans >= 3 + T_W) & (trans < len(g) - T_W)]
        trans = trans[st.valid[trans]]
        in_win = np.zeros(len(g), dtype=bool)
        widx = trans[:, None] + np.arange(-T_W, T_W + 1)[None, :]
        in_win[widx.ravel()] = True
        opposite = g == (0 if kind == "on" else 1)
        region = opposite & ~in_win & st.valid
        keep = region | in_win
        keep[:-1] |= keep[1:]  # the previous sample decides whether a run starts
        rows = np.flatnonzero(keep)
        pos = np.full(len(g), -1, dtype=np.int64)
        pos[rows] = np.arange(len(rows)) + offset
        prev = np.where(rows > 0, pos[np.maximum(rows - 1, 0)], -1)
        Fs.append(F[rows])
        regions.append(region[rows])
        prevs.append(prev)
        wins.append(pos[widx] if len(trans) else np.zeros((0, 2 * T_W + 1), np.int64))
        starts.append(F[trans])
        offset += len(rows)
    S = np.concatenate(starts) if starts else np.zeros((0, 10))
    F = np.ascontiguousarray(np.concatenate(Fs).T)
    return _Problem(F, np.concatenate(regions), np.concatenate(prevs),
                    np.concatenate(wins), sum(len(w) for w in wins),
                    S.mean(0) if len(S) else np.zeros(10), S.std(0) + 1.0 if len(S) else np.ones(10),
                    probe=np.ascontiguousarray(F[:, ::max(1, F.shape[1] // _N_PROBE)]))


def _flags_reference(F: np.ndarray, mu: np.ndarray, delta: np.ndarray, eps: float) -> np.ndarray:
    """The plain two-stage form of `_flags` (the code before the cascade), kept as the
    reference the fast path is tested against bit for bit (tests/csm/test_train_fast.py).

    d <= eps per column of feature-major F (10, m), in two stages: columns whose deficit
    sum(1 - phi) over the first features already exceeds eps cannot match (exact pruning)."""
    inv = (-1.0 / (2.0 * delta**2)).astype(np.float32)
    mu = mu.astype(np.float32)
    eps = np.float32(eps)
    deficit = np.full(F.shape[1], np.float32(len(_STAGE1)), dtype=np.float32)
    for j in _STAGE1:
        t = F[j] - mu[j]
        t *= t
        t *= inv[j]
        np.exp(t, out=t)
        deficit -= t
    alive = np.flatnonzero(deficit <= eps)
    flag = np.zeros(F.shape[1], dtype=bool)
    if len(alive):
        d = deficit[alive] + np.float32(len(_STAGE2))
        for j in _STAGE2:
            t = F[j, alive] - mu[j]
            t *= t
            t *= inv[j]
            np.exp(t, out=t)
            d -= t
        flag[alive] = d <= eps
    return flag


_MARGIN = np.float32(1e-3)  # >> float32 rounding of a sum of <= 10 terms in [0, 1]
_COMPACT = 0.9  # drop dead columns once fewer than this share of the working set survive
_STALL = 0.97  # stop pruning once a feature keeps more than this share (the rest are close)
_N_PROBE = 2048  # columns sampled to pick the pruning order


def _deficit_lb(col: np.ndarray, mu: np.float32, half_inv: np.float32) -> np.ndarray:
    """A lower bound of 1 - exp(-z), z = (col - mu)^2 * half_inv, without exp.

    exp(z) >= sum_{k<=4} z^k / k! for z >= 0, so 1 - exp(-z) >= 1 - 1/(that quartic): a few
    multiplies and one division, cheaper than numpy's float32 exp here (no AVX-512), and
    within 0.02 of the true deficit at z = 1.
    """
    z = col - mu
    z *= z
    z *= half_inv
    q = z * np.float32(1.0 / 24.0)
    for c in (1.0 / 6.0, 0.5, 1.0):
        q += np.float32(c)
        q *= z
    q += np.float32(1.0)
    np.reciprocal(q, out=q)
    np.subtract(np.float32(1.0), q, out=q)
    return q


def _flags(F: np.ndarray, mu: np.ndarray, delta: np.ndarray, eps: float,
           probe: np.ndarray | None = None) -> np.ndarray:
    """Same flags as `_flags_reference`, bit for bit, with far fewer exp evaluations.

    Why: exp dominates the search (numpy's float32 exp costs ~15 ns per value here, 35x a
    subtraction), and with eps near its bound (the search drives it to ~1-2) the reference's
    stage-1 test prunes almost nothing (~96 % of columns survive it), so it takes ten exps
    per column. Here a pruning pass first takes the features in the order that rules columns
    out fastest (largest mean deficit on `probe`, a fixed sample of columns) and adds up a
    cheap lower bound of each deficit 1 - phi (`_deficit_lb`); a column whose bound sum
    exceeds eps + a margin far above float32 rounding can never match (the deficit only
    grows with more features), so it is dropped. The columns left (typically 5-15 %) then go
    through the reference itself (its float32 operations in its order), so their d and flag
    are identical, and the dropped ones are columns the reference does not flag either.
    """
    m = F.shape[1]
    half_inv = (1.0 / (2.0 * delta**2)).astype(np.float32)
    mu32 = mu.astype(np.float32)
    lim = np.float32(eps) + _MARGIN
    if probe is not None and probe.shape[1]:
        lb = np.stack([_deficit_lb(probe[j], mu32[j], half_inv[j]) for j in range(len(probe))])
        sel = np.argsort(-lb.mean(1), kind="stable")
    else:
        sel = np.arange(F.shape[0])
    idx: np.ndarray | None = None  # working columns (None: all of them, no gather)
    part: np.ndarray | None = None  # lower bound of the partial deficit of those columns
    for step, j in enumerate(sel):
        t = _deficit_lb(F[j] if idx is None else F[j, idx], mu32[j], half_inv[j])
        if part is None:
            part = t
        else:
            part += t
        if step + 1 <= eps:  # a sum of step + 1 terms < 1 cannot exceed eps yet
            continue
        live = part <= lim
        n_live = int(np.count_nonzero(live))
        n_cur = len(part)
        if n_live == 0:
            return np.zeros(m, dtype=bool)
        if n_live < _COMPACT * n_cur:
            keep = np.flatnonzero(live)
            idx = keep if idx is None else idx[keep]
            part = part[keep]
        if n_live > _STALL * n_cur:
            break
    if idx is None:
        return _flags_reference(F, mu, delta, eps)
    flag = np.zeros(m, dtype=bool)
    flag[idx] = _flags_reference(F[:, idx], mu, delta, eps)
    return flag


def _fitness(p: _Problem, mu: np.ndarray, delta: np.ndarray, eps: float,
             timing_weight: float = 0.0) -> float:
    flag = _flags(p.F, mu, delta, eps, p.probe)
    # a false detection: a flagged region row whose previous row is not flagged; flags are
    # sparse, so look only at flagged rows (same count as flag & ~prev & region)
    on = np.flatnonzero(flag)
    pi = p.prev[on]
    prev = (pi >= 0) & flag[np.maximum(pi, 0)]
    fn = int(np.count_nonzero(p.region[on] & ~prev))
    if p.n_trans == 0:
        return fn / 2.0
    w = p.hit_window
    wf = np.where(p.win >= 0, flag[np.maximum(p.win, 0)], False)[:, T_W - w: T_W + w + 1]
    hit = wf.any(1)
    mn = int(p.n_trans - np.count_nonzero(hit))
    d = np.abs(np.argmax(wf[hit], 1) - w) if hit.any() else np.array([w])
    return (mn + fn) / 2.0 + timing_weight * float(d.sum()) + 1e-3 * float(d.mean())


class CSMTrainer:
    """Train the two templates with Algorithm 1 (gaitmap style: `fit` -> `templates_`)."""

    def __init__(self, pop_size: int = POP_SIZE, max_gen: int = MAX_GEN, seed: int = 0,
                 progress: bool = True, timing_weight: float = 0.0,
                 hit_window: int = T_W) -> None:
        if pop_size < 4 or pop_size % 4:
            raise ValueError("pop_size must be a positive multiple of 4")
        self.pop_size = pop_size
        self.max_gen = max_gen
        self.seed = seed
        self.progress = progress
        self.timing_weight = timing_weight
        if not 0 <= hit_window <= T_W:
            raise ValueError(f"hit_window must be in 0..{T_W}")
        self.hit_window = hit_window

    def _search(self, p: _Problem, rng: np.random.Generator, tick) -> tuple[Template, list]:
        n = self.pop_size
        span = _MU_HI - _MU_LO
        mus, deltas, epss = [], [], []
        for i in range(2 * n):
            if i % 2 == 0:  # half seeded around the flag statistics, half uniform
                mu = p.stat_mu + rng.normal(0, 0.5, 10) * p.stat_sd
                de = p.stat_sd * np.exp(rng.uniform(-1, 1, 10))
            else:
                mu = rng.uniform(_MU_LO, _MU_HI)
                de = np.exp(rng.uniform(np.log(20), np.log(800), 10))
            mus.append(np.clip(mu, _MU_LO, _MU_HI))
            deltas.append(np.clip(de, _DELTA_LO, _DELTA_HI))
            epss.append(rng.uniform(0.5, EPS_MAX))
        mus, deltas, epss = np.array(mus), np.array(deltas), np.array(epss)
        tw = self.timing_weight
        fit = np.array([_fitness(p, m, d, e, tw) for m, d, e in zip(mus, deltas, epss, strict=True)])
        history = []
        for _gen in range(self.max_gen):
            order = np.argsort(fit, kind="stable")
            mus, deltas, epss, fit = mus[order], deltas[order], epss[order], fit[order]
            for j in range(n):
                kind = 1 + (4 * j) // n
                s = _STEP[kind - 1]
                k = kind + 1
                cm = np.clip(mus[j] + rng.normal(0, s, (k, 10)) * span * 0.25, _MU_LO, _MU_HI)
                cd = np.clip(deltas[j] * np.exp(rng.normal(0, 2 * s, (k, 10))),
                             _DELTA_LO, _DELTA_HI)
                ce = np.clip(epss[j] + rng.normal(0, s, k), 0.05, EPS_MAX)
                cf = np.array([_fitness(p, cm[i], cd[i], ce[i], tw) for i in range(k)])
                b = int(np.argmin(cf))
                mus[j + n], deltas[j + n], epss[j + n], fit[j + n] = cm[b], cd[b], ce[b], cf[b]
            history.append(float(fit.min()))
            tick()
        b = int(np.argmin(fit))
        return Template(mus[b], deltas[b], float(epss[b])), history

    def fit(self, streams: list[Stream]) -> CSMTrainer:
        streams = [s for s in streams if s.usable]
        if not streams:
            raise ValueError("no usable training streams")
        rng = np.random.default_rng(self.seed)
        problems = {k: _build(streams, k) for k in ("on", "off")}
        for prob in problems.values():
            prob.hit_window = self.hit_window
        from rich.progress import Progress

        with Progress(disable=not self.progress, transient=True) as prog:
            task = prog.add_task("CSM evolution", total=2 * self.max_gen)

            def tick() -> None:
                prog.advance(task)

            on, h_on = self._search(problems["on"], rng, tick)
            off, h_off = self._search(problems["off"], rng, tick)
        self.history_ = {"on": h_on, "off": h_off}
        self.templates_ = CSMTemplates(on, off, meta={
            "trained_on": sorted({s.subject for s in streams}),
            "n_streams": len(streams), "pop_size": self.pop_size, "max_gen": self.max_gen,
            "seed": self.seed, "timing_weight": self.timing_weight,
            "hit_window": self.hit_window, "fitness_final": {"on": h_on[-1], "off": h_off[-1]},
            "n_transitions": {k: problems[k].n_trans for k in problems},
        })
        return self
