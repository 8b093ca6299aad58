"""Instructions per stage of the int8 student's fast viper path under MicroPython.

docs/benchmarks.md ("Cost by stage") splits the ~704 k instructions of one GRF student
inference into its stages (input copy, each conv with its fused pool, each fully connected
layer). This prints that split. Why a separate script: `bench_student.py` counts whole
inferences; a stage's share shows where a further optimisation would pay (conv3 and the
first fully connected layer hold most MACs, conv1's short dot products pay set-up instead).

How: the model is loaded and one full inference runs (so every buffer holds real data), then
stage `s` of the fast plan (`Model._fast`, run by `int8ops.run`) runs alone K times.
Instructions per stage call = (I(K) - I(0)) / K under `valgrind --tool=callgrind` (start-up,
the load and the warm-up inference cancel). The sum over stages is checked against a whole
inference counted the same way (the difference is `int8ops.run`'s loop and `invoke`).

    .venv/bin/python tools/bench/bench_int8_stages.py [--model models/student_grf.gldm] [--k 50]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

STAGE_BENCH = """
import sys
from gaitfw import int8ops
from gaitfw.devmodel import Model
m = Model(sys.argv[1], use_viper=True)
s = int(sys.argv[2])
k = int(sys.argv[3])
for i in range(len(m.inp)):
    m.inp[i] = (i * 37) % 256 - 128
m.invoke()  # warm-up: every stage buffer holds the data of a real inference
if sys.argv[4] == 'names':
    for fn, op in m._fast:  # viper functions have no __name__: find the module global
        print([k for k in dir(int8ops) if getattr(int8ops, k) is fn][0])
else:
    plan = m._fast if s < 0 else m._fast[s:s + 1]  # s = -1: the whole inference
    i = 0
    while i < k:
        int8ops.run(plan)
        i += 1
"""


def _student_bench():
    spec = importlib.util.spec_from_file_location("_bench_student", ROOT / "tools/bench/bench_student.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def stage_counts(model: Path, k: int) -> tuple[list[str], list[float], float]:
    """(kernel name per stage, instructions per call of each stage, whole inference)."""
    bs = _student_bench()

    def run(args: list[str], callgrind: bool):
        env = dict(__import__("os").environ, MICROPYPATH=f"{bs.FIRMWARE}:.frozen")
        cmd = [bs.MPY, "-X", "heapsize=2M", "-c", STAGE_BENCH, str(model), *args]
        return bs._run(cmd, env, callgrind)

    names = run(["0", "0", "names"], False)[0].split()
    base = run(["0", "0", "count"], True)[1]
    per = [(run([str(s), str(k), "count"], True)[1] - base) / k for s in range(len(names))]
    whole = (run(["-1", str(k), "count"], True)[1] - base) / k
    return names, per, whole


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "student_grf.gldm")
    ap.add_argument("--k", type=int, default=50, help="stage calls per counted run")
    a = ap.parse_args(argv)
    import shutil

    if shutil.which("valgrind") is None:
        print("bench_int8_stages: valgrind not found (apt-get install valgrind)", file=sys.stderr)
        return 1
    names, per, whole = stage_counts(a.model, a.k)
    print(f"{a.model.name}: instructions per stage call, viper JIT, callgrind (I({a.k}) - I(0)) / {a.k}")
    for i, (n, c) in enumerate(zip(names, per, strict=True)):
        print(f"  stage {i} {n:<14} {c:>10,.0f}")
    print(f"  sum of stages     {sum(per):>10,.0f}")
    print(f"  whole inference   {whole:>10,.0f}  (int8ops.run over the whole plan)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
