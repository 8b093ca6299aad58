"""Recompute the deterministic headline figures and check them against what the docs state.

    .venv/bin/python tools/results.py [--data ../shared/data] [--only csm_heldout,...] [--json OUT]
    .venv/bin/python tools/results.py --list      # the long runs `make results` does not redo

Each group of `gaitloop.results.GROUPS` is recomputed from a fixed input (see `input` in
docs/results.json) and every figure is compared with its expected value +- tolerance; the
doc page named for the group must still state the figure (its `doc_text`). Timings are
printed, never compared. Exit status: 0 all figures agree, 1 at least one differs (each
listed on stderr), 2 the data or a group could not run (one line on stderr).

Why a script beside the tests: the tests guard the same figures during `make test`; this
prints the whole table in one place for a reader checking the docs (`make results-quick`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Figures that take too long for results-quick: the command that regenerates each, where
# it is documented, and its duration as that page states it (2 shared cores, x86-64);
# "duration not recorded" where no page states one.
LONG = [
    ("CSM Table 5 protocol, reduced (3 training sizes x 10 seeds, MaxGen 50)",
     "gaitloop eval csm-table5 --data ../shared/data/huang_gait_phase/events_and_forces "
     "--reps 10 --max-gen 50 --out table5.json", "docs/csm.md", "~1-4 min per row, 30 rows"),
    ("CSM Table 5 protocol, paper's budget (MaxGen 200)", "same with --max-gen 200",
     "docs/csm.md", "~4 CPU hours"),
    ("phase teachers, baselines, students (held-out recordings, width 16) + 70/30 split",
     ".venv/bin/python -m gaitloop.learn.ablation phase --stages teachers,baselines,students; "
     "... --stages random70", "docs/learn.md", "~1-2 h"),
    ("phase teachers at the paper's width 64",
     ".venv/bin/python -m gaitloop.learn.ablation phase --stages teachers --width 64 --runs runs/w64",
     "docs/learn.md", "~70 min"),
    ("GRF teacher, linear baseline, four students",
     ".venv/bin/python -m gaitloop.learn.ablation grf --teacher-epochs 3 --train-stride 16 "
     "--student-epochs 15", "docs/learn.md", "duration not recorded (students 77-161 s each)"),
    ("student seed spread (seeds 1, 2)", "sh tools/seed_spread.sh", "docs/learn.md", "~45 min"),
    ("device bit-exactness on every GRF test window (results-quick samples every 11th)",
     ".venv/bin/pytest -q tests/int8/test_bitexact.py", "docs/device_model.md",
     "27 s of MicroPython (model card)"),
    ("MGait floor without sensing", ".venv/bin/python tools/mgait_floor.py", "docs/mgait.md",
     "duration not recorded"),
]


def default_data() -> Path:
    env = os.environ.get("GAITLOOP_DATA")
    return Path(env) if env else ROOT.parent / "shared" / "data"


def _fmt(v: float) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None,
                    help="shared datasets (default: $GAITLOOP_DATA, else ../shared/data)")
    ap.add_argument("--only", default="", help="comma-separated groups (default: all)")
    ap.add_argument("--json", type=Path, help="also write the recomputed figures here")
    ap.add_argument("--list", action="store_true", help="list the long runs and exit")
    a = ap.parse_args(argv)
    if a.list:
        print("Long runs (not part of results-quick): what | command | doc | duration here")
        for what, cmd, doc, dur in LONG:
            print(f"- {what}\n    {cmd}\n    {doc}; {dur}")
        return 0

    from gaitloop import results

    data = a.data or default_data()
    if not data.is_dir():
        print(f"results: dataset folder not found: {data} (give --data or GAITLOOP_DATA)",
              file=sys.stderr)
        return 2
    exp = results.expected()
    groups = [g for g in a.only.split(",") if g] or list(results.GROUPS)
    unknown = [g for g in groups if g not in results.GROUPS]
    if unknown:
        print(f"results: unknown group(s) {', '.join(unknown)}; known: {', '.join(results.GROUPS)}",
              file=sys.stderr)
        return 2
    failures: list[str] = []
    got_all: dict = {}
    print(f"{'figure':44} {'recomputed':>12} {'expected':>12} {'tol':>8}  doc")
    for g in groups:
        t0 = time.perf_counter()
        try:
            got = results.GROUPS[g](data)
        except Exception as exc:  # a group that cannot run is an error, not a pass
            print(f"results: {g} failed to run: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 2
        dt = time.perf_counter() - t0
        got_all[g] = got
        spec = exp[g]
        page = (ROOT / spec["doc"]).read_text()
        for name, f in spec["figures"].items():
            v = got.get(name)
            ok = v is not None and abs(float(v) - f["value"]) <= f["tol"]
            stated = f["doc_text"] in page
            if not stated:
                failures.append(f"{g}.{name}: {spec['doc']} no longer states {f['doc_text']!r}")
            mark = "" if ok and stated else "  <-- DIFFERS" if not ok else "  <-- NOT IN DOC"
            print(f"{g + '.' + name:44} {_fmt(v):>12} {_fmt(f['value']):>12} {_fmt(f['tol']):>8}"
                  f"  {spec['doc']}{mark}")
        failures += results.compare(g, got, exp)
        print(f"  ({g}: {dt:.1f} s; command: {spec['command']})")
    if a.json:
        a.json.write_text(json.dumps(got_all, indent=1) + "\n")
    if failures:
        for line in failures:
            print(f"results: {line}", file=sys.stderr)
        return 1
    print(f"all {sum(len(exp[g]['figures']) for g in groups)} figures agree with docs/results.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
