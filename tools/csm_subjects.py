"""Per-subject E1-E4 over every subject, each scored by templates never trained on it.

    .venv/bin/python tools/csm_subjects.py --data ../shared/data/huang_gait_phase/events_and_forces \
        --templates models/csm_default.json,models/csm_n11_n20.json --out docs/csm_subjects.json
    .venv/bin/python tools/csm_subjects.py --data DIR --folds 20 --max-gen 50 --out loso.json

Why a script: a cross-subject evaluation needs one template training per fold (~15 min per
fold at MaxGen 50 on this shared machine), which is no CLI one-liner. With `--templates`,
each file scores the subjects it was not trained on (the first file that leaves a subject out
wins), and PM / STTTA / the fixed threshold are fitted on that file's training subjects, as
`gaitloop eval csm` does. With `--folds K` (20 = leave-one-subject-out) the subjects are split
in sorted order into K groups and templates are trained for each fold first (seeded).
Output: {"subjects": {S: {METHOD: {E1..E4, ...}, "templates": file}}, "pooled": {...}}.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, type=Path)
    ap.add_argument("--templates", help="comma-separated template files (default: train folds)")
    ap.add_argument("--folds", type=int, default=20, help="folds to train when no --templates")
    ap.add_argument("--max-gen", type=int, default=50)
    ap.add_argument("--pop-size", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args(argv)

    from gaitloop.csm.baselines import Baselines
    from gaitloop.csm.errors import CSMError
    from gaitloop.csm.fault_eval import METHODS, Tally, detect_all, full_rates
    from gaitloop.csm.io import load_streams
    from gaitloop.csm.model import CSMTemplates
    from gaitloop.csm.train import CSMTrainer

    try:
        streams = load_streams(a.data)
    except CSMError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    subjects = sorted({s.subject for s in streams})
    folds: list[tuple[str, CSMTemplates]] = []
    if a.templates:
        for f in a.templates.split(","):
            folds.append((f, CSMTemplates.load(Path(f))))
    else:
        groups = [subjects[i::a.folds] for i in range(a.folds)]
        for k, test in enumerate(groups):
            train = [s for s in streams if s.subject not in test]
            print(f"fold {k + 1}/{a.folds}: training without {','.join(test)}", file=sys.stderr,
                  flush=True)
            m = CSMTrainer(a.pop_size, a.max_gen, a.seed, progress=False).fit(train)
            folds.append((f"fold{k + 1}", m.templates_))
    done: set[str] = set()
    per: dict = {}
    pooled = {m: Tally() for m in METHODS}
    for name, tpl in folds:
        trained = set(tpl.meta.get("trained_on", []))
        test_subs = [s for s in subjects if s not in trained and s not in done]
        if not test_subs:
            continue
        base = Baselines().fit([s for s in streams if s.subject in trained])
        for sub in test_subs:
            tally = {m: Tally() for m in METHODS}
            for s in streams:
                if s.subject != sub or not s.usable:
                    continue
                for m, dec in detect_all(s.counts, tpl, base).items():
                    tally[m].add(dec, s)
                    pooled[m].add(dec, s)
            per[sub] = {m: full_rates(t) for m, t in tally.items()}
            per[sub]["templates"] = Path(name).name
            done.add(sub)
            print(f"{sub}: csm_fixed E1 {per[sub]['csm_fixed']['E1']:.1f} "
                  f"E4 {per[sub]['csm_fixed']['E4']:.2f}", file=sys.stderr, flush=True)
    out = {"subjects": per, "pooled": {m: full_rates(t) for m, t in pooled.items()},
           "not_scored": [s for s in subjects if s not in done],
           "worst_csm_E1": max(per, key=lambda s: per[s]["csm_fixed"]["E1"]) if per else None}
    a.out.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({"pooled": {m: {k: out["pooled"][m][k] for k in ("E1", "E4")}
                                 for m in METHODS}, "worst_csm_E1": out["worst_csm_E1"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
