"""Student inference benchmark: firmware int8 interpreter (plain vs viper) under MicroPython
against the same model in ai-edge-litert and onnxruntime, side by side in one run.

Prints: time per inference (wall clock, median of repeats), instructions per inference
(valgrind callgrind, delta between N and 0 inferences so start-up cancels), heap growth per
inference on MicroPython, model RAM on the board, and a written ESP32-S3 projection.
"viper" imports the firmware sources (viper compiled on import, three register locals);
"viper_mpy" the same modules compiled by mpy-cross as `gaitloop flash` installs them (two
register locals). The MicroPython launcher is a CPython script, so callgrind runs use
PYTHONHASHSEED=0: hash randomisation would otherwise move its start-up count.

    .venv/bin/python tools/bench/bench_student.py [--model models/student_grf] [--no-callgrind]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
MPY = str(Path(sys.executable).with_name("micropython"))

MPY_BENCH = """
import sys, time, gc
from gaitfw.devmodel import Model
m = Model(sys.argv[1], use_viper=(sys.argv[2] == 'viper'))
n = int(sys.argv[3])
for i in range(len(m.inp)):
    m.inp[i] = (i * 37) % 256 - 128
def run(m, n):
    i = 0
    while i < n:
        m.invoke()
        i += 1
run(m, 1)  # warm-up in every run, so that I(N) - I(0) counts exactly N inferences
best = []
if sys.argv[4] == 'time':
    for rep in range(5):
        t = time.ticks_us(); run(m, n); best.append(time.ticks_diff(time.ticks_us(), t) / n)
    gc.collect(); a = gc.mem_alloc(); run(m, n); g = gc.mem_alloc() - a
    print(min(best), sorted(best)[2], g, m.ram_bytes())
else:
    run(m, n)
"""

PY_BENCH = """
import sys, numpy as np
kind, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
if kind.startswith('litert'):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    it = Interpreter(model_path=path, num_threads=1, experimental_op_resolver_type=(
        OpResolverType.BUILTIN_REF if kind == 'litert_ref' else
        OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES))
    it.allocate_tensors()
    d = it.get_input_details()[0]
    x = np.zeros(d['shape'], np.int8)
    it.set_tensor(d['index'], x)
    it.invoke()
    for _ in range(n):
        it.invoke()
else:
    import onnxruntime as ort
    so = ort.SessionOptions(); so.intra_op_num_threads = 1; so.inter_op_num_threads = 1
    s = ort.InferenceSession(path, so, providers=['CPUExecutionProvider'])
    i = s.get_inputs()[0]
    shape = [1 if not isinstance(v, int) else v for v in i.shape]
    feed = {i.name: np.zeros(shape, np.float32)}
    s.run(None, feed)
    for _ in range(n):
        s.run(None, feed)
"""


def _mpy(args: list[str], callgrind: bool = False, path: str | None = None
         ) -> tuple[str, int | None]:
    env = dict(os.environ, MICROPYPATH=path or f"{FIRMWARE}:.frozen")
    cmd = [MPY, "-X", "heapsize=2M", "-c", MPY_BENCH, *args]
    return _run(cmd, env, callgrind)


def _run(cmd: list[str], env: dict, callgrind: bool) -> tuple[str, int | None]:
    if callgrind:
        cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *cmd]
        env = dict(env, PYTHONHASHSEED="0")
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=1800)
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} failed: {p.stderr[-400:]}")
    found = re.search(r"Collected : (\d+)", p.stderr)
    return p.stdout, (int(found.group(1)) if found else None)


def _instr(run_n, n: int) -> float:
    """Instructions per inference: (I(n) - I(0)) / n."""
    return (run_n(n) - run_n(0)) / n


def _py_time(kind: str, path: str, n: int) -> float:
    """Median wall time per inference (seconds) over 5 repeats, in-process, one thread."""
    import numpy as np

    if kind.startswith("litert"):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        it = Interpreter(model_path=path, num_threads=1, experimental_op_resolver_type=(
            OpResolverType.BUILTIN_REF if kind == "litert_ref"
            else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES))
        it.allocate_tensors()
        d = it.get_input_details()[0]
        it.set_tensor(d["index"], np.zeros(d["shape"], np.int8))
        fn = it.invoke
    else:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = so.inter_op_num_threads = 1
        s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        i = s.get_inputs()[0]
        feed = {i.name: np.zeros([v if isinstance(v, int) else 1 for v in i.shape], np.float32)}

        def fn():
            s.run(None, feed)
    fn()
    reps = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        reps.append((time.perf_counter() - t) / n)
    return statistics.median(reps)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(ROOT / "models" / "student_grf"),
                    help="path stem: STEM.gldm, STEM_int8.tflite, STEM_int8.onnx")
    ap.add_argument("--no-callgrind", action="store_true", help="skip instruction counts")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    stem = Path(args.model)
    gldm, tfl, onnx8 = (str(stem) + s for s in (".gldm", "_int8.tflite", "_int8.onnx"))
    res: dict = {"model": stem.name}

    # wall time, heap growth, RAM: MicroPython plain vs viper, same process layout
    out, _ = _mpy([gldm, "viper", "200", "time"])
    best_v, med_v, grow_v, ram = (float(v) for v in out.split())
    out, _ = _mpy([gldm, "plain", "5", "time"])
    best_p, med_p, grow_p, _ = (float(v) for v in out.split())
    res["micropython_us"] = {"viper": med_v, "plain": med_p, "speedup": med_p / med_v,
                             "viper_best": best_v, "plain_best": best_p}
    res["heap_growth_bytes_per_inference"] = {"viper": grow_v / 200, "plain": grow_p / 5}
    res["model_ram_bytes"] = int(ram)
    res["device_file_bytes"] = Path(gldm).stat().st_size
    res["litert_us"] = _py_time("litert", tfl, 2000) * 1e6
    res["litert_reference_kernels_us"] = _py_time("litert_ref", tfl, 2000) * 1e6
    if Path(onnx8).is_file():
        res["onnxruntime_int8_us"] = _py_time("ort", onnx8, 2000) * 1e6

    if not args.no_callgrind and shutil.which("valgrind"):
        env = dict(os.environ)

        def mpy_count(mode, n, path=None):
            return _mpy([gldm, mode, str(n), "count"], callgrind=True, path=path)[1]

        def py_count(kind, path, n):
            return _run([sys.executable, "-c", PY_BENCH, kind, path, str(n)], env, True)[1]

        from gaitloop.sim.vboard import install_firmware

        with tempfile.TemporaryDirectory(prefix="bench-student-mpy-") as tmp:
            install_firmware(Path(tmp), compile_mpy=True, arch="host")  # as gaitloop flash
            lib = str(Path(tmp) / "lib")
            ins = {"viper": _instr(lambda n: mpy_count("viper", n), 50),
                   "viper_mpy": _instr(lambda n: mpy_count("viper", n, lib), 50),
                   "plain": _instr(lambda n: mpy_count("plain", n), 4)}
        ins["litert"] = _instr(lambda n: py_count("litert", tfl, n), 3000)
        ins["litert_reference_kernels"] = _instr(lambda n: py_count("litert_ref", tfl, n), 1000)
        if Path(onnx8).is_file():
            ins["onnxruntime_int8"] = _instr(lambda n: py_count("ort", onnx8, n), 3000)
        ins["plain_over_viper"] = ins["plain"] / ins["viper"]
        ins["viper_over_litert"] = ins["viper"] / ins["litert"]
        ins["viper_mpy_over_litert"] = ins["viper_mpy"] / ins["litert"]
        ins["viper_over_litert_reference"] = ins["viper"] / ins["litert_reference_kernels"]
        res["instructions_per_inference"] = ins

    # ESP32-S3 projection (written): viper emits native Xtensa; assume 1.5-3 Xtensa cycles per
    # x86-64 instruction counted here (no complex addressing, 32-bit ALU, flash-cache misses),
    # from the .mpy count (the board runs the modules as `gaitloop flash` installs them).
    if "instructions_per_inference" in res:
        i_v = res["instructions_per_inference"]["viper_mpy"]
        res["esp32s3_projection_ms"] = {"low": i_v * 1.5 / 240e6 * 1e3,
                                        "high": i_v * 3.0 / 240e6 * 1e3,
                                        "window_period_ms": 400.0, "hop_period_ms": 100.0}
    res["viper_time_over_litert"] = med_v / res["litert_us"]
    print(json.dumps(res, indent=1))
    if args.json:
        args.json.write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
