"""Score CSM (fixed and float), PM and STTTA on sensor streams: E1-E4 overall and per speed,
fixed-vs-float agreement, and event timing against the authors' detected states."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from .baselines import Baselines
from .dataset import Stream
from .features import XBIAS, fill_missing
from .metrics import Counts, score
from .model import CSMDetector, CSMTemplates

METHODS = ("csm_fixed", "csm_float", "pm", "sttta")


def _foot_contact(h: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    if h is None and b is None:
        return None
    if h is None:
        return b
    if b is None:
        return h
    return (h | b).astype(np.int8)


def _timing(ref: dict, contact: np.ndarray, tol: int = 30) -> tuple[list, list]:
    """Signed delays (samples) of detected foot contact / lift-off vs the authors' onsets."""
    d = np.diff(contact.astype(np.int8))
    det_on, det_off = np.flatnonzero(d == 1) + 1, np.flatnonzero(d == -1) + 1
    out = []
    for key, det in (("on", det_on), ("initial_off", det_off)):
        e = []
        for t in ref.get(key, []):
            if t < 40 or not len(det):
                continue
            k = int(np.argmin(np.abs(det - t)))
            if abs(det[k] - t) <= tol:
                e.append(int(det[k] - t))
        out.append(e)
    return out[0], out[1]


def _summary(e: list, rate_hz: int = 100) -> dict:
    a = np.asarray(e, dtype=float) * 1000.0 / rate_hz
    if not len(a):
        return {"n": 0}
    return {"n": int(len(a)), "median_ms": round(float(np.median(a)), 1),
            "median_abs_ms": round(float(np.median(np.abs(a))), 1),
            "p95_abs_ms": round(float(np.percentile(np.abs(a), 95)), 1)}


def evaluate(streams: list[Stream], templates: CSMTemplates, baselines: Baselines | None,
             progress: bool = False) -> dict:
    """Everything `eval csm --json` reports, for the given (held-out) streams."""
    use = [s for s in streams if s.usable]
    skipped = sorted(f"{s.recording}:{s.sensor}" for s in streams if not s.usable)
    tot = {m: Counts() for m in METHODS}
    per_speed = {m: defaultdict(Counts) for m in METHODS}
    agree, n_cmp = 0, 0
    diffs = []
    timing = {m: ([], []) for m in ("csm_fixed", "csm_float")}
    by_rec: dict[str, dict] = defaultdict(dict)
    fixed_det, float_det = CSMDetector(templates, True), CSMDetector(templates, False)
    from rich.progress import track

    for s in track(use, description="CSM eval", disable=not progress, transient=True):
        dec = {"csm_fixed": fixed_det.detect(s.counts).decision_,
               "csm_float": float_det.detect(s.counts).decision_}
        if baselines is not None:
            filled = fill_missing(s.counts)[0] - XBIAS
            dec["pm"] = baselines.pm(filled)
            dec["sttta"] = baselines.sttta(filled)
        for m, h in dec.items():
            c = score(h, s.labels, s.states, s.valid)
            tot[m] += c
            per_speed[m][s.speed_kmh] += c
        v = s.valid
        same = dec["csm_fixed"][v] == dec["csm_float"][v]
        agree += int(same.sum())
        n_cmp += int(v.sum())
        if not same.all():
            diffs.append({"stream": f"{s.recording}:{s.sensor}", "samples": int((~same).sum())})
        if s.ref_states:
            by_rec[s.recording][s.sensor] = (s, dec)
    for rec in by_rec.values():
        for m in timing:
            h = rec.get("left_heel", (None, {}))[1].get(m)
            b = rec.get("left_ball", (None, {}))[1].get(m)
            contact = _foot_contact(h, b)
            if contact is None:
                continue
            ref = next(iter(rec.values()))[0].ref_states
            on, off = _timing(ref, contact)
            timing[m][0].extend(on)
            timing[m][1].extend(off)
    out: dict = {}
    for m in METHODS:
        if baselines is None and m in ("pm", "sttta"):
            continue
        r = tot[m].rates()
        r["n_recordings"] = len({s.recording for s in use})
        r["n_streams"] = len(use)
        r["n_steps"] = tot[m].steps
        r["per_speed"] = {str(k): per_speed[m][k].rates() for k in sorted(per_speed[m])}
        if m in timing:
            r["timing_vs_authors"] = {"contact": _summary(timing[m][0]),
                                      "lift_off": _summary(timing[m][1])}
        out[m] = r
    out["n_recordings"] = len({s.recording for s in use})
    out["n_steps"] = tot["csm_fixed"].steps
    out["fixed_vs_float"] = {"agreement_pct": round(100.0 * agree / max(n_cmp, 1), 4),
                             "samples": n_cmp, "differing_streams": diffs[:20]}
    out["skipped_streams"] = skipped
    if baselines is not None:
        out["baseline_params"] = {"pm": baselines.pm_, "sttta": baselines.sttta_}
    return out
