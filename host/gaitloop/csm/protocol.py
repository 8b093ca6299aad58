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
               log=print) -> dict:
    """Rows per (size, rep) with training and testing rates; averages per size and overall."""
    out: dict = {"reps": reps, "max_gen": max_gen, "pop_size": pop_size, "sizes": {}}
    for n_sub in sizes:
        tr, te = split(streams, n_sub)
        n_rec = len({s.recording for s in tr})
        base = Baselines().fit(tr)
        rows = []
        for r in range(reps):
            t0 = time.time()
            model = CSMTrainer(pop_size, max_gen, seed=seed0 + r, progress=False).fit(tr)
            res_tr = evaluate(tr, model.templates_, None)
            res_te = evaluate(te, model.templates_, base if r == 0 else None)
            row = {"rep": r, "seed": seed0 + r,
                   "train": {k: res_tr["csm_fixed"][k] for k in KEYS},
                   "test": {k: res_te["csm_fixed"][k] for k in KEYS},
                   "test_float": {k: res_te["csm_float"][k] for k in KEYS},
                   "agreement_pct": res_te["fixed_vs_float"]["agreement_pct"],
                   "seconds": round(time.time() - t0, 1)}
            if r == 0:
                row["test_pm"] = {k: res_te["pm"][k] for k in KEYS}
                row["test_sttta"] = {k: res_te["sttta"][k] for k in KEYS}
            rows.append(row)
            log(f"subjects 1-{n_sub} ({n_rec} rec) rep {r}: test E4 {row['test']['E4']:.2f} % "
                f"(strict {row['test']['E4_strict']:.2f}) in {row['seconds']} s")
        avg = {part: {k: round(float(np.mean([row[part][k] for row in rows])), 3) for k in KEYS}
               for part in ("train", "test")}
        out["sizes"][str(n_sub)] = {"n_train_recordings": n_rec,
                                    "n_test_recordings": len({s.recording for s in te}),
                                    "rows": rows, "average": avg,
                                    "pm": rows[0]["test_pm"], "sttta": rows[0]["test_sttta"],
                                    "baseline_params": {"pm": base.pm_, "sttta": base.sttta_}}
    allrows = [row for v in out["sizes"].values() for row in v["rows"]]
    out["average"] = {part: {k: round(float(np.mean([row[part][k] for row in allrows])), 3)
                             for k in KEYS} for part in ("train", "test")}
    out["pm"] = {k: round(float(np.mean([v["pm"][k] for v in out["sizes"].values()])), 3)
                 for k in KEYS}
    out["sttta"] = {k: round(float(np.mean([v["sttta"][k] for v in out["sizes"].values()])), 3)
                    for k in KEYS}
    return out
