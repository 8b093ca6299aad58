"""Where a board's per-sample instructions go: callgrind per C function of the MicroPython VM.

    .venv/bin/python tools/bench/bench_sample_profile.py [--mode insole|knee|bare] [--top 25]

Runs bench_stream.py's `App.step` script (the same replay, the same loop) for 2000 and 4000
samples under `valgrind --tool=callgrind`, and prints, per C function, the difference / 2000:
start-up, imports and warm-up cancel, as in bench_stream.py's total. Viper code is JIT output
without symbols: it shows as `???` addresses (the native tick with the insole's foot kernel is
the largest). Why: the totals alone do not say which part of the path to cut next
(docs/benchmarks.md, "The whole sample path"). ~1 min per mode; needs valgrind.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_stream as B  # noqa: E402

from gaitloop.sim.replayfile import write_replay  # noqa: E402
from gaitloop.sim.sources import insole_replay, make_replay  # noqa: E402

_ROW = re.compile(r"\s*([\d,]+)\s+\([^)]*\)\s+(.*)$")


def _per_function(out_file: str) -> tuple[int, dict[str, int]]:
    """(program total, {function: self instructions}) from a callgrind output file."""
    text = subprocess.run(["callgrind_annotate", "--threshold=100", out_file], capture_output=True,
                          text=True, check=True, timeout=300).stdout
    rows: dict[str, int] = {}
    total = 0
    for line in text.splitlines():
        m = _ROW.match(line)
        if not m:
            continue
        n, name = int(m.group(1).replace(",", "")), m.group(2).strip()
        if name.startswith("PROGRAM TOTALS"):
            total = n
        else:
            rows[name] = rows.get(name, 0) + n
    return total, rows


def profile(mode: str, replay: Path, tmp: Path) -> tuple[float, list[tuple[float, str]]]:
    """(instructions per sample, [(per sample, function)] largest first)."""
    runs = {}
    for n in (2000, 4000):
        code = f"MODE={mode!r}\nPATH={str(replay)!r}\nN={n}\n" + B._MPY_STEP
        env = dict(os.environ, MICROPYPATH=f"{B.ROOT / 'firmware'}:.frozen")
        out = str(tmp / f"cg.{n}")
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", B.MPY,
               "-X", "heapsize=4M", "-c", code]
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        if p.returncode != 0:
            raise RuntimeError(p.stderr[-2000:])
        runs[n] = _per_function(out)
    (t1, f1), (t2, f2) = runs[2000], runs[4000]
    rows = [((f2.get(k, 0) - f1.get(k, 0)) / 2000, k) for k in set(f1) | set(f2)]
    return (t2 - t1) / 2000, sorted(rows, reverse=True)


def _short(name: str) -> str:
    """`file:function [object]` -> `function` (or the address of JIT code)."""
    name = name.split(" [")[0]
    return name.rsplit(":", 1)[-1] if ":" in name else name


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=("insole", "knee", "bare"), default="insole")
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        replay = tmp / "r.glrp"
        if args.mode == "knee":
            write_replay(make_replay("knee", "both", B.KNEE_WALK), replay)
        else:
            write_replay(insole_replay(B.WALK, "left"), replay)
        total, rows = profile(args.mode, replay, tmp)
    print(f"== {args.mode}: {total:.0f} instructions per sample (callgrind, 4000 vs 2000 samples)")
    for v, name in rows[: args.top]:
        print(f"{v:9.1f}  {_short(name)}")


if __name__ == "__main__":
    main()
