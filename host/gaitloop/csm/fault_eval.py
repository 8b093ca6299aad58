"""Fault benchmark and per-subject scoring: CSM (board fixed point), PM, STTTA, fixed threshold.

Why its own module: `evaluate.py` answers "how good on clean data"; this one answers "what
does each detector lose when the insole is faulty, and on which person does it fail". Labels
always come from the clean signal (`Stream.labels`); the detectors see the faulted counts
from `faults.inject`. Each cell reports E4 (binary and strict), E1-E3, the median |timing
error| of matched transitions and the step-count error (detected on-onsets vs labelled, per
sensor stream, pooled: sum |det - lab| / sum lab).
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Callable

import numpy as np

from . import faults as fl
from .baselines import Baselines
from .dataset import Stream
from .features import XBIAS, fill_missing
from .labels import transitions
from .metrics import Counts, score
from .model import CSMDetector, CSMTemplates

METHODS = ("csm_fixed", "pm", "sttta", "threshold")
THRESHOLD_METHODS = ("pm", "sttta", "threshold")


class Tally:
    """Counts plus step-count error for one (method, condition)."""

    def __init__(self) -> None:
        self.c = Counts()
        self.step_abs = 0
        self.step_ref = 0

    def add(self, dec: np.ndarray, s: Stream) -> None:
        self.c += score(dec, s.labels, s.states, s.valid)
        first = int(np.argmax(s.valid))
        lab_on = transitions(s.labels)[0]
        det_on = transitions(dec)[0]
        self.step_ref += int((lab_on > first).sum())
        self.step_abs += abs(int((det_on > first).sum()) - int((lab_on > first).sum()))

    def rates(self) -> dict:
        r = self.c.rates()
        d = np.abs(np.asarray(self.c.delays_on + self.c.delays_off, dtype=float))
        out = {k: r[k] for k in ("E4", "E4_strict", "E1", "E2", "E3")}
        out["timing_abs_median_ms"] = round(float(np.median(d)) * 10, 1) if len(d) else None
        out["timing_abs_p95_ms"] = round(float(np.percentile(d, 95)) * 10, 1) if len(d) else None
        out["step_count_error_pct"] = (round(100.0 * self.step_abs / self.step_ref, 2)
                                       if self.step_ref else None)
        return out


def detect_all(counts: np.ndarray, templates: CSMTemplates, base: Baselines) -> dict:
    """Decision per sample of every method on one stream's counts."""
    filled = fill_missing(counts)[0] - XBIAS  # PM / STTTA / threshold hold the last sample
    return {"csm_fixed": CSMDetector(templates, True).detect(counts).decision_,
            "pm": base.pm(filled), "sttta": base.sttta(filled),
            "threshold": base.threshold(filled)}


def _score(streams: list[Stream], templates: CSMTemplates, base: Baselines,
           transform: Callable[[Stream], np.ndarray] | None = None) -> dict:
    tally = {m: Tally() for m in METHODS}
    for s in streams:
        counts = s.counts if transform is None else transform(s)
        for m, dec in detect_all(counts, templates, base).items():
            tally[m].add(dec, s)
    return {m: t.rates() for m, t in tally.items()}


def _log(msg: str, progress: bool) -> None:
    if progress:
        print(msg, file=sys.stderr, flush=True)


def fault_benchmark(streams: list[Stream], templates: CSMTemplates, base: Baselines,
                    fault_names: tuple[str, ...] = fl.FAULTS, seed: int = 0,
                    progress: bool = False) -> dict:
    """`{"clean": {METHOD: cell}, "faults": {FAULT: {LEVEL: {METHOD: cell}}}, ...}`.

    LEVEL keys are "1".."4" (severity values under "levels"); a cell holds E4, E4_strict,
    E1-E3, timing and step-count error. "verdict" compares each level's E4 loss of csm_fixed
    with the best threshold method's (the issue's 2-point goal).
    """
    use = [s for s in streams if s.usable]
    out: dict = {"clean": _score(use, templates, base), "faults": {}}
    _log(f"clean: {len(use)} streams scored", progress)
    for f in fault_names:
        out["faults"][f] = {}
        for lv in range(1, fl.N_LEVELS + 1):
            def tr(s: Stream, f: str = f, lv: int = lv) -> np.ndarray:
                return fl.inject(s.counts, f, lv, fl.stream_seed(f"{s.recording}:{s.sensor}",
                                                                  f, lv, seed))
            out["faults"][f][str(lv)] = _score(use, templates, base, tr)
            cell = out["faults"][f][str(lv)]
            _log(f"{f} level {lv}: " + ", ".join(f"{m} {cell[m]['E4']:.2f}" for m in METHODS),
                 progress)
    out["levels"] = {f: {"values": list(fl.LEVELS[f]), "unit": fl.UNITS[f]} for f in fault_names}
    out["verdict"] = verdict(out)
    out["n_streams"] = len(use)
    out["n_recordings"] = len({s.recording for s in use})
    out["subjects"] = sorted({s.subject for s in use})
    out["seed"] = seed
    out["baseline_params"] = base.params()
    return out


def verdict(res: dict, points: float = 2.0) -> dict:
    """Per fault/level: E4 loss of csm_fixed and of the best threshold method; goal met?

    The goal applies where the best threshold method (smallest E4 at that level) loses more
    than `points`; there csm_fixed must lose at most `points`.
    """
    clean = res["clean"]
    out: dict = {}
    for f, levels in res["faults"].items():
        for lv, cell in levels.items():
            loss = {m: round(cell[m]["E4"] - clean[m]["E4"], 3) for m in METHODS}
            best = min(THRESHOLD_METHODS, key=lambda m: cell[m]["E4"])
            applies = loss[best] > points
            out.setdefault(f, {})[lv] = {
                "csm_loss": loss["csm_fixed"], "best_threshold": best,
                "best_threshold_loss": loss[best], "goal_applies": applies,
                "goal_met": (loss["csm_fixed"] <= points) if applies else None}
    return out


def per_subject(streams: list[Stream], templates: CSMTemplates, base: Baselines) -> dict:
    """E1-E4 per subject (and per speed inside it) and pooled, every method."""
    from .patterns import PATTERNS, all_patterns

    use = [s for s in streams if s.usable]
    pats = all_patterns(use)
    by_pat: dict[str, dict[str, Tally]] = {p: {m: Tally() for m in METHODS}
                                            for p in (*PATTERNS, "none")}
    by_sub: dict[str, dict[str, Tally]] = defaultdict(lambda: {m: Tally() for m in METHODS})
    by_speed: dict[tuple, Tally] = defaultdict(Tally)
    pooled = {m: Tally() for m in METHODS}
    for s in use:
        for m, dec in detect_all(s.counts, templates, base).items():
            by_sub[s.subject][m].add(dec, s)
            pooled[m].add(dec, s)
            for p in pats[f"{s.recording}:{s.sensor}"] or ["none"]:
                by_pat[p][m].add(dec, s)
            if m == "csm_fixed":
                by_speed[(s.subject, s.speed_kmh)].add(dec, s)
    out: dict = {"pooled": {m: full_rates(t) for m, t in pooled.items()}, "subjects": {},
                 "by_pattern": {p: {m: full_rates(t) for m, t in d.items()} for p, d in by_pat.items()},
                 "pattern_streams": {p: sorted(k for k, v in pats.items() if p in v)
                                     for p in PATTERNS}}
    for sub in sorted(by_sub):
        out["subjects"][sub] = {m: full_rates(t) for m, t in by_sub[sub].items()}
        out["subjects"][sub]["patterns"] = sorted(
            {f"{k.split(':')[0]}:{k.split(':')[1]}:{'+'.join(v)}" for k, v in pats.items()
             if v and k.split("_")[0] == sub and v != ["short_stance"]})
        out["subjects"][sub]["csm_fixed_per_speed"] = {
            str(int(sp)): full_rates(t) for (su, sp), t in sorted(by_speed.items()) if su == sub}
    return out


def full_rates(t: Tally) -> dict:
    r = t.rates()
    r.update({k: v for k, v in t.c.rates().items() if k in ("E4_strict_floor",)})
    r["n_steps"] = t.c.steps
    return r


def run(test: list[Stream], templates: CSMTemplates, base: Baselines, faults: bool,
        subjects: bool, fault_list: str | None, seed: int = 0) -> dict:
    """What `eval csm --faults` / `--per-subject` print (both keys when both are asked)."""
    names = fl.FAULTS
    if fault_list:
        names = tuple(f.strip() for f in fault_list.split(",") if f.strip())
        bad = [f for f in names if f not in fl.LEVELS]
        if bad:
            raise ValueError(f"unknown fault(s) {', '.join(bad)} (known: {', '.join(fl.FAULTS)})")
    out: dict = {}
    if faults:
        out = fault_benchmark(test, templates, base, names, seed, progress=True)
    if subjects:
        out["per_subject"] = per_subject(test, templates, base)
        if not faults:
            out["baseline_params"] = base.params()
    return out
