"""Per-subject E1-E4 over every subject, each scored by templates never trained on it.

    .venv/bin/python tools/csm_subjects.py --data ../shared/data/huang_gait_phase/events_and_forces \
        --templates models/csm_default.json,models/csm_n11_n20.json --out docs/csm_subjects.json
    OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python tools/csm_subjects.py \
        --data ../shared/data/huang_gait_phase/events_and_forces --folds 20 --max-gen 40 \
        --out docs/csm_loso.json --fold-dir docs/csm_loso_folds

Why a script: a cross-subject evaluation needs one template training per fold (minutes per
fold on this shared machine), which is no CLI one-liner. With `--templates`, each file scores
the subjects it was not trained on (the first file that leaves a subject out wins), and PM /
STTTA / the fixed threshold are fitted on that file's training subjects, as `gaitloop eval
csm` does. With `--folds K` (20 = leave-one-subject-out) the subjects are split in sorted
order into K groups and templates are trained for each fold (seeded).

Why resumable: a LOSO run takes hours, so each fold's templates are saved to `--fold-dir`
(default: next to `--out`) as soon as they are trained and reused on a rerun with the same
budget, and `--out` is rewritten after every fold with `"complete": false` until the last
one: a run cut short still leaves every finished fold's per-subject rows. A second process
with `--reverse` (and its own `--out`) on the same `--fold-dir` trains from the other end and
reuses what the first has saved (a fold being trained is claimed with a `foldK.lock` holding
the worker's pid, so workers never train the same fold); a last run with `--no-train` only
scores the saved folds (seconds per fold).
Output: {"subjects": {S: {METHOD: {E1..E4, ...}, "templates": file}}, "pooled": {...},
"folds": {...}, "complete": bool}. `--table OUT.json` prints the docs/csm.md table from it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def fold_groups(subjects: list[str], k: int) -> list[list[str]]:
    """Sorted subjects dealt round-robin into k test groups (k = len(subjects): LOSO)."""
    if not 1 <= k <= len(subjects):
        raise ValueError(f"--folds must be 1-{len(subjects)} for {len(subjects)} subjects")
    subs = sorted(subjects)
    return [subs[i::k] for i in range(k)]


def table(res: dict) -> str:
    """The docs/csm.md per-subject table (subjects above 15 % CSM E1 in bold) from the JSON."""
    lines = ["| subject | templates | steps | CSM fixed E1 / E2 / E3 / E4 | PM E1 / E4 "
             "| STTTA E1 / E4 | threshold E1 / E4 |", "|---|---|---:|---|---|---|---|"]
    rows = [*sorted(res["subjects"].items()), (f"pooled ({len(res['subjects'])} subjects)",
                                               {**res["pooled"], "templates": ""})]
    for s, r in rows:
        c = r["csm_fixed"]
        name = f"**{s}**" if s in res["subjects"] and c["E1"] > 15 else s
        lines.append(f"| {name} | {r['templates']} | {c['n_steps']} | {c['E1']:.1f} / "
                     f"{c['E2']:.1f} / {c['E3']:.1f} / {c['E4']:.2f} | " + " | ".join(
                         f"{r[m]['E1']:.1f} / {r[m]['E4']:.2f}" for m in ("pm", "sttta", "threshold"))
                     + " |")
    return "\n".join(lines)


def _take(lock: Path) -> bool:
    """Claim a fold for this process; False while a live process holds it (a stale lock of
    a killed worker is taken over)."""
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                pid = int(lock.read_text() or 0)
                os.kill(pid, 0)
                if pid != os.getpid():
                    return False
            except (ValueError, ProcessLookupError, FileNotFoundError):
                pass
            except PermissionError:
                return False
            lock.unlink(missing_ok=True)
            continue
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        return True
    return False


def _fold_templates(streams: list, groups: list[list[str]], a: argparse.Namespace,
                    fold_dir: Path) -> Iterator[tuple[str, object]]:
    """Train (or reuse a saved) template pair per fold, lazily, so each is scored at once."""
    from gaitloop.csm.errors import CSMError
    from gaitloop.csm.model import CSMTemplates
    from gaitloop.csm.train import CSMTrainer

    budget = {"max_gen": a.max_gen, "pop_size": a.pop_size, "seed": a.seed}
    order = list(enumerate(groups))
    order = order[::-1] if a.reverse else order
    first = [k for k, _ in order].index(a.start - 1) if a.start else 0
    for k, test in order[first:] + order[:first]:
        name = f"fold{k + 1}"
        path = fold_dir / f"{name}.json"
        train = [s for s in streams if s.subject not in test]
        want = sorted({s.subject for s in train if s.usable})
        if path.exists():
            try:
                tpl = CSMTemplates.load(path)
            except CSMError:
                tpl = None
            if tpl is not None and tpl.meta.get("trained_on") == want and all(
                    tpl.meta.get(key) == v for key, v in budget.items()):
                print(f"{name}/{len(groups)}: reusing {path}", file=sys.stderr, flush=True)
                yield name, tpl
                continue
        if a.no_train:
            print(f"{name}/{len(groups)}: not trained yet, skipped", file=sys.stderr, flush=True)
            continue
        lock = fold_dir / f"{name}.lock"
        if not _take(lock):
            print(f"{name}/{len(groups)}: another worker is training it, skipped",
                  file=sys.stderr, flush=True)
            continue
        print(f"{name}/{len(groups)}: training without {','.join(test)}", file=sys.stderr,
              flush=True)
        m = CSMTrainer(a.pop_size, a.max_gen, a.seed, progress=False).fit(train)
        m.templates_.save(path)
        lock.unlink(missing_ok=True)
        yield name, m.templates_


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path)
    ap.add_argument("--templates", help="comma-separated template files (default: train folds)")
    ap.add_argument("--folds", type=int, default=20, help="folds to train when no --templates")
    ap.add_argument("--max-gen", type=int, default=50)
    ap.add_argument("--pop-size", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--fold-dir", type=Path, help="where fold templates are kept (resume)")
    ap.add_argument("--reverse", action="store_true",
                    help="train folds last to first: a second worker on the same --fold-dir")
    ap.add_argument("--no-train", action="store_true",
                    help="only score the folds already in --fold-dir (collect the workers' run)")
    ap.add_argument("--start", type=int, help="begin at this fold (1-based), then wrap: a third worker")
    ap.add_argument("--table", type=Path, help="only print the markdown table of this output")
    a = ap.parse_args(argv)
    if a.table:
        print(table(json.loads(a.table.read_text())))
        return 0
    if a.data is None or a.out is None:
        ap.error("--data and --out are required (unless --table)")

    from gaitloop.csm.baselines import Baselines
    from gaitloop.csm.errors import CSMError
    from gaitloop.csm.fault_eval import METHODS, Tally, detect_all, full_rates
    from gaitloop.csm.io import load_streams
    from gaitloop.csm.model import CSMTemplates
    from gaitloop.outpaths import write_atomic

    try:
        streams = load_streams(a.data)
    except CSMError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    subjects = sorted({s.subject for s in streams})
    info: dict = {}
    if a.templates:
        files = a.templates.split(",")
        folds = ((f, CSMTemplates.load(Path(f))) for f in files)
        n_folds = len(files)
    else:
        try:
            groups = fold_groups(subjects, a.folds)
            if a.start is not None and not 1 <= a.start <= len(groups):
                raise ValueError(f"--start must be 1-{len(groups)}")
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        fold_dir = a.fold_dir or a.out.with_name(a.out.stem + "_folds")
        fold_dir.mkdir(parents=True, exist_ok=True)
        folds = _fold_templates(streams, groups, a, fold_dir)
        n_folds = len(groups)
        info = {"k": n_folds, "max_gen": a.max_gen, "pop_size": a.pop_size, "seed": a.seed}
    done: set[str] = set()
    per: dict = {}
    pooled = {m: Tally() for m in METHODS}
    n_done = 0

    def write(complete: bool) -> dict:
        out = {"subjects": per, "pooled": {m: full_rates(t) for m, t in pooled.items()},
               "not_scored": [s for s in subjects if s not in done],
               "worst_csm_E1": max(per, key=lambda s: per[s]["csm_fixed"]["E1"]) if per else None,
               "folds": {**info, "done": n_done, "of": n_folds}, "complete": complete}
        write_atomic(a.out, json.dumps(out, indent=1) + "\n")
        return out

    for name, tpl in folds:
        n_done += 1
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
        write(False)
    out = write(n_done == n_folds)
    print(json.dumps({"pooled": {m: {k: out["pooled"][m][k] for k in ("E1", "E4")}
                                 for m in METHODS}, "worst_csm_E1": out["worst_csm_E1"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
