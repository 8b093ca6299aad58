"""The paper's Table 5 protocol on deduplicated data: train on the recordings of subjects
#1-5 / #1-10 / #1-15 (25 / 50 / 75 recordings), test on the remaining subjects, repeat each
size with different evolutionary seeds (the paper's 10 repetitions per training set)."""

from __future__ import annotations

import time

import numpy as np

from .baselines import Baselines
from .dataset import Stream
from .evaluate import evaluate
from .train import CSMTrainer

SIZES = (5, 10, 15)  # training subjects -> 25 / 50 / 75 recordings before deduplication
KEYS = ("E1", "E2", "E3", "E4", "E4_strict", "E4_strict_floor")


def split(streams: list[Stream], n_subjects: int) -> tuple[list[Stream], list[Stream]]:
    subjects = sorted({s.subject for s in streams})
    train_ids = set(subjects[:n_subjects])
    return ([s for s in streams if s.subject in train_ids],
            [s for s in streams if s.subject not in train_ids])


def run_table5(streams: list[Stream], reps: int = 10, max_gen: int = 200,
               pop_size: int = 20, sizes: tuple[int, ...] = SIZES, seed0: int = 0,
               log=print, on_row=None) -> dict:
    """Rows per (rep, size) with training and testing rates; averages per size and overall.

    Repetition-major order (every size once, then the next seed), so an interrupted run still
    covers all three sizes; `on_row(partial_result)` is called after each row.
    """
    out: dict = {"reps": reps, "max_gen": max_gen, "pop_size": pop_size, "sizes": {}}
    splits = {n: split(streams, n) for n in sizes}
    for n_sub, (tr, te) in splits.items():
        base = Baselines().fit(tr)
        res_b = evaluate(te, _dummy_templates(), base)
        out["sizes"][str(n_sub)] = {
            "n_train_recordings": len({s.recording for s in tr}),
            "n_test_recordings": len({s.recording for s in te}),
            "rows": [], "pm": {k: res_b["pm"][k] for k in KEYS},
            "sttta": {k: res_b["sttta"][k] for k in KEYS},
            "baseline_params": {"pm": base.pm_, "sttta": base.sttta_}}
    for r in range(reps):
        for n_sub, (tr, te) in splits.items():
            t0 = time.time()
            model = CSMTrainer(pop_size, max_gen, seed=seed0 + r, progress=False).fit(tr)
            res_tr = evaluate(tr, model.templates_, None)
            res_te = evaluate(te, model.templates_, None)
            row = {"rep": r, "seed": seed0 + r,
                   "train": {k: res_tr["csm_fixed"][k] for k in KEYS},
                   "test": {k: res_te["csm_fixed"][k] for k in KEYS},
                   "test_float": {k: res_te["csm_float"][k] for k in KEYS},
                   "agreement_pct": res_te["fixed_vs_float"]["agreement_pct"],
                   "seconds": round(time.time() - t0, 1)}
            block = out["sizes"][str(n_sub)]
            block["rows"].append(row)
            _averages(out)
            log(f"subjects 1-{n_sub} ({block['n_train_recordings']} rec) rep {r}: test E4 "
                f"{row['test']['E4']:.2f} % (strict {row['test']['E4_strict']:.2f}) "
                f"in {row['seconds']} s")
            if on_row is not None:
                on_row(out)
    return out


def _dummy_templates():
    """Any valid templates: baseline scores do not depend on them."""
    from .model import CSMTemplates, Template

    t = Template(np.zeros(10), np.full(10, 100.0), 1.0)
    return CSMTemplates(t, t)


def _averages(out: dict) -> None:
    for block in out["sizes"].values():
        if block["rows"]:
            block["average"] = {
                part: {k: round(float(np.mean([row[part][k] for row in block["rows"]])), 3)
                       for k in KEYS} for part in ("train", "test")}
    allrows = [row for v in out["sizes"].values() for row in v["rows"]]
    if allrows:
        out["average"] = {part: {k: round(float(np.mean([row[part][k] for row in allrows])), 3)
                                 for k in KEYS} for part in ("train", "test")}
    out["pm"] = {k: round(float(np.mean([v["pm"][k] for v in out["sizes"].values()])), 3)
                 for k in KEYS}
    out["sttta"] = {k: round(float(np.mean([v["sttta"][k] for v in out["sizes"].values()])), 3)
                    for k in KEYS}
