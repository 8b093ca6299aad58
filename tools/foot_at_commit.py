"""The insole foot's callgrind count per sample at given commits, or with perturbed dict sizes.

    .venv/bin/python tools/foot_at_commit.py 88abfa3 7019154 7bd1a4f a62688f HEAD
    .venv/bin/python tools/foot_at_commit.py HEAD --events-pad 5,13 --main-pad 8,16,24,32,40

Why: the foot count of `tools/bench/bench_csm.py` (`foot_viper`) fell from ~24 100 to ~19 450
over merges that did not touch the per-sample code (docs/benchmarks.md, "Why the foot count
moved"). This bisects it: each commit's own firmware, templates and `bench_csm.py` (from `git
archive`) on the same recording and interpreter, (I(2N) - I(N)) / N with N = 2000. The
perturbations show what the count depends on: `--events-pad K` appends K unused names to the
copy's `gaitfw/events.py` (a module dict the per-sample path barely reads), `--main-pad K`
adds K globals to the benchmark script before its imports, `--dead-pad K` interns K names in
code that never runs (qstr numbers shift, no dict grows). Slow: two callgrind runs per line.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RECORDING = ("N03_2", "left_heel", "left_ball")


def _tree(commit: str, dst: Path) -> Path:
    """firmware/, host/, models/, tools/ of `commit`, unpacked under dst."""
    dst.mkdir(parents=True)
    arch = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "firmware", "host", "models", "tools"],
                          check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dst)], input=arch, check=True)
    return dst


def count(tree: Path, data: Path, events_pad: int = 0, main_pad: int = 0, dead_pad: int = 0,
          n: int = 2000) -> float:
    """foot_viper instructions per sample with `tree`'s own bench_csm.py and firmware."""
    if events_pad:
        ev = tree / "firmware" / "gaitfw" / "events.py"
        ev.write_text(ev.read_text() + "".join(f"_PAD_NAME_{i:02d}_QSTR = {i}\n" for i in range(events_pad)))
    spec = importlib.util.spec_from_file_location(f"bench_csm_{id(tree)}", tree / "tools/bench/bench_csm.py")
    bc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bc)
    from gaitloop.csm.io import load_streams

    streams = load_streams(data)
    rec, hs, bs = RECORDING
    h = next(s for s in streams if s.recording == rec and s.sensor == hs)
    b = next(s for s in streams if s.recording == rec and s.sensor == bs)
    pad = "".join(f"_qpad{i} = {i}\n" for i in range(main_pad))
    if dead_pad:
        pad += "if 0:\n" + "".join(f"    _qpad{i} = 0\n" for i in range(dead_pad))
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        np.asarray(h.counts, "<i2").tofile(tmp / "h.bin")
        np.asarray(b.counts, "<i2").tofile(tmp / "b.bin")
        files = {"n_file": len(h.counts), "heel": str(tmp / "h.bin"), "ball": str(tmp / "b.bin")}
        i1 = int(bc._run(pad + bc._code("foot_viper", "count", n, files), True, tmp))
        i2 = int(bc._run(pad + bc._code("foot_viper", "count", 2 * n, files), True, tmp))
    return (i2 - i1) / n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("commits", nargs="+")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "huang_gait_phase"
                    / "events_and_forces")
    for opt in ("--events-pad", "--main-pad", "--dead-pad"):
        ap.add_argument(opt, default="", help="comma-separated pad sizes (see the docstring)")
    a = ap.parse_args(argv)
    runs = [("", 0, 0, 0)]
    runs += [(f"events.py +{k} names", k, 0, 0) for k in map(int, filter(None, a.events_pad.split(",")))]
    runs += [(f"script +{k} globals", 0, k, 0) for k in map(int, filter(None, a.main_pad.split(",")))]
    runs += [(f"+{k} names in dead code", 0, 0, k) for k in map(int, filter(None, a.dead_pad.split(",")))]
    with tempfile.TemporaryDirectory(prefix="foot_at_") as td:
        for c in a.commits:
            for i, (what, ep, mp, dp) in enumerate(runs):
                tree = _tree(c, Path(td) / f"{c}_{i}")
                sys.path.insert(0, str(tree / "host"))  # that commit's loader
                for mod in [m for m in sys.modules if m == "gaitloop" or m.startswith("gaitloop.")]:
                    del sys.modules[mod]
                v = count(tree, a.data, ep, mp, dp)
                sys.path.remove(str(tree / "host"))
                print(f"{c:<10} {what:<26} {v:10.0f} instructions per sample", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
