"""Recompute the deterministic headline figures and check them against what the docs state.

    .venv/bin/python tools/results.py [--data ../shared/data] [--only csm_heldout,...] [--json OUT]
    .venv/bin/python tools/results.py --list      # the long runs `make results` does not redo
    .venv/bin/python tools/results.py --benches   # every tools/bench script, timed (`make results`)

Each group of `gaitloop.results.GROUPS` is recomputed from a fixed input (see `input` in
docs/results.json) and every figure is compared with its expected value +- tolerance; the
doc page named for the group must still state the figure (its `doc_text`). Timings are
printed, never compared. The figure audit (tools/figures_audit.py: every doc section of
figures names its command or is listed in docs/figures.md) runs after the groups. Exit
status: 0 all figures agree, 1 at least one differs or the audit fails (each listed on
stderr), 2 the data or a group could not run (one line on stderr).

`--benches` runs every benchmark under tools/bench/ and the other regenerating scripts
(EXTRA), each with a time limit, and ends with a table of how long each took, longest first:
that is how `make results` says which tables take long.

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
    ("foot count bisect and dict-size perturbations (why the foot count moved)",
     ".venv/bin/python tools/foot_at_commit.py 88abfa3 7019154 7bd1a4f 6c79001 a62688f HEAD "
     "--events-pad 5,13 --main-pad 8,16,24,32,40 --dead-pad 8,16", "docs/benchmarks.md",
     "~1 min per line unloaded, ~5 min on the loaded 2-core machine; 19 lines"),
    ("phase KNN / SVM rows, both splits", ".venv/bin/python tools/phase_classical.py --check",
     "docs/learn.md", "~1 min unloaded, ~12 min loaded (also run by make results)"),
]


# Scripts `--benches` runs besides tools/bench/bench_*.py: (command args, what it regenerates)
EXTRA = [
    (["tools/phase_classical.py", "--check"], "docs/learn.md KNN / SVM rows (both splits)"),
    (["tools/mgait_floor.py"], "docs/mgait.md floor of eq. 6"),
]
BENCH_TIMEOUT_S = 3600


def run_benches(only: str = "") -> int:
    """Run each benchmark (and EXTRA) as its own process; print a duration table. 1 if any failed."""
    import subprocess

    jobs = [([str(p.relative_to(ROOT))], f"docs/benchmarks.md ({p.stem})")
            for p in sorted((ROOT / "tools" / "bench").glob("bench_*.py"))] + EXTRA
    if only:
        jobs = [j for j in jobs if any(k in j[0][0] for k in only.split(","))]
    done = []
    for args, what in jobs:
        print(f"== {' '.join(args)}", flush=True)
        t0 = time.perf_counter()
        try:
            rc = subprocess.run([sys.executable, *args], cwd=ROOT, timeout=BENCH_TIMEOUT_S).returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
        done.append((time.perf_counter() - t0, args[0], what, rc))
    print(f"\n{'script':44} {'wall s':>8}  result  regenerates")
    for dt, script, what, rc in sorted(done, reverse=True):
        print(f"{script:44} {dt:8.0f}  {'ok' if rc == 0 else 'FAILED (' + str(rc) + ')':6}  {what}")
    print("(wall times on this machine's load; the long runs not started here: tools/results.py --list)")
    return 0 if all(rc == 0 for *_, rc in done) else 1


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
    ap.add_argument("--benches", action="store_true",
                    help="run every benchmark script, timed (with --only: those whose name contains one of the words)")
    a = ap.parse_args(argv)
    if a.benches:
        return run_benches(a.only)
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
    t_all = time.perf_counter()
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
    failures += _figures_audit()
    print(f"(all groups: {time.perf_counter() - t_all:.0f} s)")
    if failures:
        for line in failures:
            print(f"results: {line}", file=sys.stderr)
        return 1
    print(f"all {sum(len(exp[g]['figures']) for g in groups)} figures agree with docs/results.json")
    return 0


def _figures_audit() -> list[str]:
    import importlib.util

    spec = importlib.util.spec_from_file_location("figures_audit", ROOT / "tools" / "figures_audit.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    bad = mod.problems()
    print(f"figure audit (docs/figures.md): {len(bad) or 'no'} problem(s)")
    return [f"figures audit: {b}" for b in bad]


if __name__ == "__main__":
    sys.exit(main())
