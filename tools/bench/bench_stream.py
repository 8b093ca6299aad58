"""Benchmark of the walking skeleton's data path. Prints its figures; see docs/benchmarks.md.

1. Host decode + record throughput, as a multiple of real time, for two insoles at 100 Hz
   on one core. The byte stream is the firmware's own output (the App under CPython with a
   sink instead of a UART), so frame sizes and event rates are the real ones.
2. Firmware cost per sample under MicroPython: App.step (HAL read, framing, send) with and
   without the board's processors, as time and as callgrind instructions (differencing runs
   of N and 2N samples isolates the per-sample cost from start-up).
   The knee sleeve's whole path (14 channels, MGait) is measured the same way on a CMU walk.
3. Heap growth per sample on the board: gc.mem_alloc() over 20 000 samples, GC disabled.
4. The heap walk behind STATUS's heap figures (gc.mem_free + gc.mem_alloc): its instructions
   at the bench's 4 MB heap and at each profile's heap, per walk. Since session 8 the board
   walks at boot, on CMD_STATUS and once a minute while idle, never while it samples at full
   rate (one walk is longer than a 10 ms sample on both boards: app.send_status), so (2) is
   the whole active path; before, a walk every 60th STATUS added its cost / 6 000 a sample.

(2) reads the replay HAL, whose row read is native inside `_tick`; the same path through a
board's drivers (FSR / HX711 / bend + MPU-6050 per profile) is `tools/bench/bench_drivers.py`.

Run: .venv/bin/python tools/bench/bench_stream.py [--no-callgrind]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "firmware"))

from gaitfw import app as A  # noqa: E402
from gaitfw.boards import insole  # noqa: E402
from gaitfw.hal import ReplayHal  # noqa: E402
from gaitloop.decoder import BoardState, StreamDecoder  # noqa: E402
from gaitloop.record import Recorder, read_recording  # noqa: E402
from gaitloop.sim.replayfile import write_replay  # noqa: E402
from gaitloop.sim.sources import insole_replay, make_replay  # noqa: E402

WALK = ROOT / "data" / "gaitpdb" / "GaCo01_01.txt"
KNEE_WALK = ROOT / "data" / "mocap" / "cmu" / "35_01.amc"
HEAP_WALK_EVERY = 6000  # samples a minute at 100 Hz: the walk's old period on the active path
MPY = str(Path(sys.executable).with_name("micropython"))


class _Sink:
    def __init__(self) -> None:
        self.buf = bytearray()

    def write(self, buf, off, n):  # the board's stream.write(buf, off, n)
        self.buf += bytes(buf[off : off + n])


def board_stream(side: str, seconds: int, tmp: Path) -> bytes:
    """The bytes a board sends for `seconds` of walking (firmware App under CPython)."""
    rp = tmp / f"{side}.glrp"
    write_replay(insole_replay(WALK, side), rp)
    sink = _Sink()
    app = A.App(insole, {"side": side}, ReplayHal(str(rp), 2, True), sink)
    app._next_status, app._next_hello = 1000, 5000
    app.send_hello()
    for _ in range(seconds * insole.RATE_HZ):
        app.step()
    return bytes(sink.buf)


def host_throughput(seconds: int = 120) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        streams = [board_stream("left", seconds, tmp), board_stream("right", seconds, tmp)]
        chunk = 256  # bytes per read, as from a serial port
        t0 = time.perf_counter()
        rec = Recorder(tmp / "b.glsession")
        decoders = [StreamDecoder() for _ in streams]
        states = [BoardState() for _ in streams]
        for dec in decoders:
            dec.feed(b"\x00")
        pos = 0
        longest = max(len(s) for s in streams)
        while pos < longest:
            for i, data in enumerate(streams):
                for fr in decoders[i].feed(data[pos : pos + chunk]):
                    if states[i].update(fr) is not None:
                        rec.add_frame(i, fr)
            pos += chunk
        rec.close()
        wall = time.perf_counter() - t0
        r = read_recording(tmp / "b.glsession")
        n = sum(lr.state.samples for lr in r.links.values())
        size = (tmp / "b.glsession").stat().st_size
    return {
        "board_seconds": seconds,
        "samples": n,
        "wall_s": wall,
        "x_realtime_two_boards": seconds / wall,
        "bytes_per_board_second": sum(len(s) for s in streams) / 2 / seconds,
        "file_bytes_per_board_second": size / 2 / seconds,
    }


_MPY_STEP = """
import gc, time
from gaitfw import app as A
from gaitfw.boards import insole, knee
from gaitfw.hal import ReplayHal
class Sink:
    def write(self, buf, off, n): pass
class Bare:
    KIND = insole.KIND; RATE_HZ = insole.RATE_HZ; CHANNELS = insole.CHANNELS
    UNITS = insole.UNITS; SCALE = insole.SCALE
    def make_processors(emit, cfg): return []
board = {'bare': Bare, 'insole': insole, 'knee': knee}[MODE]
a = A.App(board, {'side': 'left'}, ReplayHal(PATH, len(board.CHANNELS), True), Sink())
a._next_status = 1000; a._next_hello = 5000
a.send_hello()
for i in range(200): a.step()
t0 = t1 = m1 = 0  # create the globals first: a new global inside the window grows the dict
gc.collect(); gc.disable()
m0 = gc.mem_alloc(); t0 = time.ticks_us()
for i in range(N): a.step()
t1 = time.ticks_us(); m1 = gc.mem_alloc()
print('RESULT', time.ticks_diff(t1, t0) / N, (m1 - m0) / N)
"""


def run_mpy(code: str, micropypath: str, cwd: Path | None = None, callgrind: bool = False,
            timeout: float = 900) -> tuple[float, float, int | None]:
    """Run `code` under MicroPython (4 MB heap); it ends by printing `RESULT us heap`. With
    `callgrind`, the run's instruction count too. (us per sample, heap bytes, instructions)."""
    # PYTHONHASHSEED: `micropython` here is the PyPI build, run inside a CPython process whose
    # start-up varies with the hash seed by ~0.1 M instructions; one seed makes the counts repeat
    env = dict(os.environ, MICROPYPATH=micropypath, PYTHONHASHSEED="0")
    cmd = [MPY, "-X", "heapsize=4M", "-c", code]
    out_file = None
    if callgrind:
        out_file = tempfile.mktemp(prefix="cg.")
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}"] + cmd
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(p.stdout[-1500:] + p.stderr[-2500:])
    _, us, heap = p.stdout.split()[-3:]
    instr = None
    if callgrind:
        m = re.search(r"Collected\s*:\s*(\d+)", p.stderr)
        instr = int(m.group(1)) if m else None
        if out_file and os.path.exists(out_file):
            os.remove(out_file)
    return float(us), float(heap), instr


def mpy_step(path: Path, mode: str, n: int, callgrind: bool = False) -> tuple[float, float, int | None]:
    code = f"MODE={mode!r}\nPATH={str(path)!r}\nN={n}\n" + _MPY_STEP
    return run_mpy(code, f"{ROOT / 'firmware'}:.frozen", callgrind=callgrind)


_MPY_HEAPWALK = """
import gc
gc.collect()
for i in range(K):
    gc.mem_free(); gc.mem_alloc()
print('RESULT 0 0')
"""


def heap_walk_instructions(heap: str) -> float:
    """Instructions of one gc.mem_free() + gc.mem_alloc() pair at MicroPython heap size `heap`."""
    cost = []
    for k in (2, 6):
        cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", MPY,
               "-X", f"heapsize={heap}", "-c", f"K={k}\n" + _MPY_HEAPWALK]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                           env=dict(os.environ, PYTHONHASHSEED="0"))  # as run_mpy
        m = re.search(r"Collected\s*:\s*(\d+)", p.stderr)
        if p.returncode != 0 or not m:
            raise RuntimeError(p.stderr[-2000:])
        cost.append(int(m.group(1)))
    return (cost[1] - cost[0]) / 4


def firmware_cost(use_callgrind: bool) -> dict[str, float]:
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as d:
        rp = Path(d) / "r.glrp"
        write_replay(insole_replay(WALK, "left"), rp)
        rk = Path(d) / "k.glrp"
        write_replay(make_replay("knee", "both", KNEE_WALK), rk)
        for mode in ("bare", "insole", "knee"):
            path = rk if mode == "knee" else rp
            us, heap, _ = mpy_step(path, mode, 20000)
            out[f"{mode}_us_per_sample"] = us
            out[f"{mode}_heap_bytes_per_sample"] = heap
            if use_callgrind:
                _, _, i1 = mpy_step(path, mode, 2000, callgrind=True)
                _, _, i2 = mpy_step(path, mode, 4000, callgrind=True)
                if i1 and i2:
                    out[f"{mode}_instructions_per_sample"] = (i2 - i1) / 2000
        if use_callgrind:
            for label, heap in (("4M", "4M"), ("2M", "2000000"), ("150k", "150000")):
                out[f"heap_walk_{label}"] = heap_walk_instructions(heap)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-callgrind", action="store_true", help="skip valgrind instruction counts")
    ap.add_argument("--seconds", type=int, default=120, help="board seconds for the host benchmark")
    args = ap.parse_args()
    h = host_throughput(args.seconds)
    print("== host decode + record, two insoles at 100 Hz, one core")
    print(f"  {h['samples']} samples ({h['board_seconds']} s per board) in {h['wall_s']:.3f} s wall")
    print(f"  throughput: {h['x_realtime_two_boards']:.0f}x real time for two boards (goal >= 50x)")
    print(f"  wire: {h['bytes_per_board_second']:.0f} B/s per board; file: {h['file_bytes_per_board_second']:.0f} B/s per board")
    cg = not args.no_callgrind and shutil.which("valgrind") is not None
    f = firmware_cost(cg)
    print("== firmware App.step under MicroPython (unix port, this machine)")
    labels = (("bare", "insole HAL + framing + send (no processors)"),
              ("insole", "insole with its processors (CSM x2, foot events)"),
              ("knee", "knee sleeve with its processors (MGait, feedback)"))
    for mode, label in labels:
        line = f"  {label}: {f[f'{mode}_us_per_sample']:.1f} us/sample"
        if f"{mode}_instructions_per_sample" in f:
            line += f", {f[f'{mode}_instructions_per_sample']:.0f} instructions/sample (callgrind, N vs 2N)"
        print(line)
        print(f"    heap growth: {f[f'{mode}_heap_bytes_per_sample']:.3f} bytes/sample (goal 0)")
    if "heap_walk_4M" in f:
        print("== STATUS heap walk (gc.mem_free + gc.mem_alloc): at boot, on CMD_STATUS and once a"
              " minute while idle, not on the active sample path")
        for label, what in (("4M", "this bench's 4 MB heap"), ("2M", "ESP32-S3 profile, 2 MB"),
                            ("150k", "Pico W profile, 150 kB")):
            w = f[f"heap_walk_{label}"]
            print(f"  {what}: {w:.0f} instructions a walk ({w / HEAP_WALK_EVERY:.0f} a sample if it ran"
                  f" once a minute while active, as before session 8)")


if __name__ == "__main__":
    main()
