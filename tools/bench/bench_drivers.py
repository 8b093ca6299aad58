"""The whole sample path through the board drivers, per board profile (issue 15 item 5).

    .venv/bin/python tools/bench/bench_drivers.py [--profiles NAME,...] [--no-callgrind] [--firmware DIR] [--split]
        [--functions N]

`tools/bench/bench_stream.py` counts `App.step` on the replay HAL, whose row read is native.
A real board reads through `gaitfw.boardhal.BoardHal` and its drivers (`drivers/divider.py`,
`hx711.py`, `mpu6050.py`) on `machine`. This bench counts that path, per profile:

1. Record: the firmware runs `App.step` on the simulator's `machine` stand-in and part models
   (host/gaitloop/sim/machine_shim, fed by the same walks as bench_stream.py), and every
   answer a driver gets from `machine` (ADC readings, DOUT bits, I2C bursts, the MISO bytes
   of an HX711 clocked by SPI) is written to a tape. The HX711 models convert at the
   datasheet's 80 SPS (one 100 Hz sample in five finds no new conversion).
2. Play: the same script on `tools/bench/tapemachine/machine.py`, whose every method is a
   call into C (a bound built-in method playing the tape; the I2C burst and the SPI transfer
   viper functions), so no model bytecode is counted and no call into `machine` is free. The frames sent must
   equal the recording's (STATUS masked: its heap figures differ); checked every run.
3. Count: callgrind, difference of 2000 and 4000 samples, as bench_stream.py; heap growth
   over the window with the GC off; the stand-in's own calls per sample (counted while
   recording) times their cost under this VM (callgrind of a loop of each call, minus the
   empty loop), printed beside the total; the STATUS heap walk (gc.mem_free + mem_alloc) at the
   profile's heap (`heap_free`), per walk: since session 8 it runs at boot, on CMD_STATUS and
   once a minute while idle, not while the board samples at full rate (app.send_status), so
   it is no longer added to the per-sample figure (it was once a minute, amortized).

Why a tape and not the models: the models answer in Python, ~1 000 instructions a call,
where a board's `ADC.read_u16()` is a C function. The stand-in's C bodies are not the
board's (an iterator step where the board reads a register); that difference is small
beside the dispatch and is printed, not hidden. ~6 min on the loaded 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "firmware"))

import bench_stream as BS  # noqa: E402

from gaitfw import profiles  # noqa: E402
from gaitfw import protocol as P  # noqa: E402
from gaitloop.decoder import StreamDecoder  # noqa: E402
from gaitloop.sim.machine_world import SHIM_DIR  # noqa: E402
from gaitloop.sim.replayfile import write_replay  # noqa: E402
from gaitloop.sim.sources import insole_replay, make_replay  # noqa: E402

TAPE_DIR = HERE / "tapemachine"
WARM = 200
N1, N2 = 2000, 4000
HEAPS = {2000000: "2M", 150000: "150k"}  # profile heap_free -> bench_stream's heap walk label
GOALS = {"insole": 12000, "knee": 30000}

# The script both runs execute; RECORD switches the tape recorder on (simulator stand-in).
_SCRIPT = """
import gc, time
from gaitfw import app as A, profiles
from gaitfw.boardhal import BoardHal
from gaitfw.boards import insole, knee
class Sink:
    def write(self, buf, off, n): pass
class Keep:
    def __init__(self): self.b = bytearray()
    def write(self, buf, off, n): self.b.extend(memoryview(buf)[off:off + n])
board = insole if BOARD == 'insole' else knee
if RECORD:
    import recorder
    prof = recorder.wire(NAME, PATH)
else:
    from bench import profile_for_bench
    prof = profile_for_bench(profiles.get(NAME))
hal = BoardHal(prof, len(board.CHANNELS))
sink = Keep() if KEEP else Sink()
a = A.App(board, {'side': 'left'}, hal, sink)
hal.attach(a)
a._next_status = 1000; a._next_hello = 5000
a.send_hello()
s = a.sample
# --split: parts switched off, one more per run (the outputs step, framing and send, the
# processors, STATUS / HELLO); their differences say what each part costs a sample
if 'out' in OFF: hal.W[1] = 0
if 'stream' in OFF: a.streaming = False
if 'proc' in OFF: a.processors = []
if 'due' in OFF: a._next_status = a._next_hello = 0x3FFFFF00
for i in range(WARM):
    if RECORD: recorder.tick(i)
    a.step()
t0 = t1 = m1 = 0
if RECORD: recorder.window(0)
gc.collect()
if not RECORD: gc.disable()  # the recorder allocates as it keeps the answers
m0 = gc.mem_alloc(); t0 = time.ticks_us()
if RECORD:
    for i in range(N):
        recorder.tick(WARM + i)
        a.step()
elif READ_ONLY:
    for i in range(N): hal.read(s)
else:
    for i in range(N): a.step()
t1 = time.ticks_us(); m1 = gc.mem_alloc()
if RECORD: recorder.window(N); recorder.save()
if KEEP: open('out.bin', 'wb').write(sink.b)
print('RESULT', time.ticks_diff(t1, t0) / N, (m1 - m0) / N)
"""

# Imported by the recording run only (on the simulator's stand-in): wraps its classes so
# every answer is kept, and makes the HX711 models convert at 80 SPS.
_RECORDER = '''
import json
from array import array
import machine
from bench import wire_profile, profile_for_bench, read_glrp
from gaitfw import profiles
ADC_T = {}
PIN_T = {}
CALLED = {}
BUS_T = {}
SPI_T = {}
COUNTS = {"adc": 0, "pin_read": 0, "pin_call": 0, "pin_value": 0, "i2c": 0, "spi": 0}
WIN = {}
HX = []
_adc = machine.ADC.read_u16
def _read_u16(self):
    v = _adc(self)
    COUNTS["adc"] += 1
    ADC_T.setdefault(str(self.id), array("H")).append(v)
    return v
machine.ADC.read_u16 = _read_u16
_val = machine.Pin.value
def _value(self, v=None):
    r = _val(self, v)
    if v is None:
        COUNTS["pin_read"] += 1
        PIN_T.setdefault(str(self.id), bytearray()).append(r)
    return r
def _pvalue(self, v=None):
    if v is not None:
        COUNTS["pin_value"] += 1
    return _value(self, v)
def _call(self, v=None):
    if v is not None:
        COUNTS["pin_call"] += 1
        CALLED[str(self.id)] = 1
    return _value(self, v)
machine.Pin.value = _pvalue
machine.Pin.__call__ = _call
_rd = machine.I2C.readfrom_mem_into
def _readfrom_mem_into(self, addr, reg, buf):
    _rd(self, addr, reg, buf)
    COUNTS["i2c"] += 1
    t = BUS_T.setdefault(str(self.bus), bytearray())
    t.append(len(buf))
    t.extend(buf)
machine.I2C.readfrom_mem_into = _readfrom_mem_into
_wr = machine.SPI.write_readinto
def _write_readinto(self, wbuf, rbuf):
    _wr(self, wbuf, rbuf)
    COUNTS["spi"] += 1
    t = SPI_T.setdefault(str(self.bus), bytearray())
    t.append(len(rbuf))
    t.extend(rbuf)
machine.SPI.write_readinto = _write_readinto
def wire(name, path):
    prof = profile_for_bench(profiles.get(name))
    models = wire_profile(prof, read_glrp(path))
    for s in prof["sensors"]:
        if s["drv"] == "hx711":
            HX.append(models[s["ch"]])
    return prof
def tick(i):
    # HX711 at 80 SPS: the conversion read at sample i leaves DOUT busy at the next poll
    # when sample i + 1 is the fifth of its group
    busy = 1 if (i + 1) % 5 == 4 else 0
    for m in HX:
        m.not_ready_polls = busy
def window(n):
    WIN[n] = dict(COUNTS)
def save():
    idx = {"adc": {}, "pin_read": {}, "pin_call": CALLED, "i2c": {}, "spi": {}}
    for k, t in ADC_T.items():
        open("adc_%s.bin" % k, "wb").write(t)
        idx["adc"][k] = len(t)
    for k, t in PIN_T.items():
        open("pin_%s.bin" % k, "wb").write(t)
        idx["pin_read"][k] = len(t)
    for k, t in BUS_T.items():
        open("i2c_%s.bin" % k, "wb").write(t)
        idx["i2c"][k] = len(t)
    for k, t in SPI_T.items():
        open("spi_%s.bin" % k, "wb").write(t)
        idx["spi"][k] = len(t)
    ks = list(WIN)
    idx["window"] = {c: WIN[max(ks)][c] - WIN[min(ks)][c] for c in COUNTS}
    idx["window_n"] = max(ks) - min(ks)
    json.dump(idx, open("tape.json", "w"))
'''


def _board(name: str) -> str:
    return str(profiles.get(name)["board"])


def _replay(board: str, tmp: Path) -> Path:
    p = tmp / f"{board}.glrp"
    if not p.exists():
        rp = insole_replay(BS.WALK, "left") if board == "insole" else make_replay("knee", "both", BS.KNEE_WALK)
        write_replay(rp, p)
    return p


def _run(code: str, cwd: Path, path: str, callgrind: bool = False) -> tuple[float, float, int | None]:
    return BS.run_mpy(code, path, cwd, callgrind, timeout=1800)


def _code(name: str, n: int, record: bool = False, keep: bool = False, read_only: bool = False,
          replay: Path | None = None, off: str = "") -> str:
    head = (f"NAME={name!r}\nBOARD={_board(name)!r}\nPATH={str(replay)!r}\nN={n}\nWARM={WARM}\n"
            f"RECORD={record}\nKEEP={keep}\nREAD_ONLY={read_only}\nOFF={off!r}\n")
    return head + _SCRIPT


FIRMWARE = [ROOT / "firmware"]  # --firmware: another tree's firmware/ (a before / after table)


def _paths() -> tuple[str, str]:
    fw = str(FIRMWARE[0])
    return f"{fw}:{SHIM_DIR}:.frozen", f"{TAPE_DIR}:{fw}:{SHIM_DIR}:.frozen"


def record(name: str, tmp: Path) -> dict:
    """Run the firmware on the simulator's stand-in for WARM + N2 samples; write the tapes
    and the frames sent (out.bin) into `tmp`. Returns the tape index."""
    (tmp / "recorder.py").write_text(_RECORDER)
    sim_path, _ = _paths()
    _run(_code(name, N2, record=True, keep=True, replay=_replay(_board(name), tmp.parent)), tmp, sim_path)
    (tmp / "out.bin").rename(tmp / "recorded.bin")
    return json.loads((tmp / "tape.json").read_text())


def _frames(data: bytes) -> list[tuple[int, int, int, bytes]]:
    """(type, payload) of every frame but STATUS (its heap figures differ between runs)."""
    dec = StreamDecoder()
    dec.feed(b"\x00")
    out = []
    for fr in dec.feed(data + b"\x00"):
        if fr.kind != P.MSG_STATUS:
            out.append((fr.kind, fr.seq, fr.t_ms, bytes(fr.payload)))
    return out


def check_tape(name: str, tmp: Path) -> int:
    """Play the tape with the frames kept: they must equal the recording's. Returns the
    number of frames compared."""
    _, tape_path = _paths()
    _run(_code(name, N2, keep=True), tmp, tape_path)
    a = _frames((tmp / "recorded.bin").read_bytes())
    b = _frames((tmp / "out.bin").read_bytes())
    if a != b or not a:
        raise RuntimeError(f"{name}: the tape run sent other frames than the recording ({len(a)} vs {len(b)})")
    return len(a)


# The stand-in's calls, each in the form a driver makes it, on a synthetic tape
_CALLS = {
    "adc": ("o = machine.ADC(1)", "o.read_u16()"),
    "pin_read": ("o = machine.Pin(2, machine.Pin.IN)", "o()"),
    "pin_call": ("o = machine.Pin(3, machine.Pin.OUT, value=0)", "o(1)"),
    "pin_value": ("o = machine.Pin(4, machine.Pin.OUT)", "o.value(1)"),
    "i2c": ("o = machine.I2C(0)\nb = bytearray(14)", "o.readfrom_mem_into(104, 59, b)"),
    "spi": ("o = machine.SPI(1)\nb = bytearray(14)", "o.write_readinto(b, b)"),
    "none": ("o = None", ""),
}
_K = 10  # calls per loop turn


# The same calls as gaitfw/drvnative.py makes them: from native code, on callables bound once
_NATIVE_CALLS = {
    "adc": ("g = machine.ADC(1).read_u16", "g()"),
    "pin_read": ("g = machine.Pin(2, machine.Pin.IN)", "g()"),
    "pin_call": ("g = machine.Pin(3, machine.Pin.OUT, value=0)", "g(1)"),
    "pin_value": ("g = machine.Pin(4, machine.Pin.OUT).value", "g(1)"),
    "i2c": ("g = machine.I2C(0).readfrom_mem_into", "g(104, 59, b)"),
    "spi": ("g = machine.SPI(1).write_readinto", "g(b, b)"),
    "none": ("g = None", ""),
}


def _call_code(kind: str, n: int, native: bool = False) -> str:
    if native:
        setup, call = _NATIVE_CALLS[kind]
        body = "\n        ".join([call] * _K) if call else "pass"
        return (f"import machine, micropython\n{setup}\nb = bytearray(14)\n"
                f"@micropython.viper\ndef f(g, b, n: int):\n    i = 0\n    while i < n:\n"
                f"        {body}\n        i += 1\nf(g, b, {n})\nprint('RESULT 0 0')\n")
    setup, call = _CALLS[kind]
    body = "\n        ".join([call] * _K) if call else "pass"
    return (f"import machine\ndef f(n):\n    {setup.replace(chr(10), chr(10) + '    ')}\n"
            f"    i = 0\n    while i < n:\n        {body}\n        i += 1\nf({n})\nprint('RESULT 0 0')\n")


def call_costs(tmp: Path, native: bool = False) -> dict[str, float]:
    """Instructions of one call of each stand-in kind under this VM (callgrind, loops of
    n and 2n turns of 10 calls, minus the same loop without calls); `native`: made from viper
    code on a callable bound once, as gaitfw/drvnative.py makes them, else from bytecode as
    the drivers' own `read` methods made them before it."""
    d = tmp / "calls"
    d.mkdir(exist_ok=True)
    n = 3000
    (d / "adc_1.bin").write_bytes(bytes(2 * 20 * n * _K))
    (d / "pin_2.bin").write_bytes(bytes(2 * n * _K))
    (d / "i2c_0.bin").write_bytes(bytes([14] + [0] * 14) * (2 * n * _K))
    (d / "spi_1.bin").write_bytes(bytes([14] + [0] * 14) * (2 * n * _K))  # 14: the native loop's buffer
    (d / "tape.json").write_text(json.dumps({
        "adc": {"1": 20 * n * _K}, "pin_read": {"2": 2 * n * _K}, "pin_call": {"3": 1},
        "i2c": {"0": 15 * 2 * n * _K}, "spi": {"1": 15 * 2 * n * _K}}))
    _, tape_path = _paths()
    raw = {}
    for kind in _CALLS:
        i1 = _run(_call_code(kind, n, native), d, tape_path, callgrind=True)[2]
        i2 = _run(_call_code(kind, 2 * n, native), d, tape_path, callgrind=True)[2]
        raw[kind] = (i2 - i1) / n  # per loop turn
    return {k: (v - raw["none"]) / _K for k, v in raw.items() if k != "none"}


def whole_path(name: str, tmp: Path) -> float:
    """Instructions per sample of `App.step` through profile `name`'s drivers (record, then
    callgrind N1 vs N2 on the tape; the frames checked against the recording). For
    gaitloop.results (`make results-quick`)."""
    sub = tmp / name
    sub.mkdir(parents=True, exist_ok=True)
    record(name, sub)
    check_tape(name, sub)
    _, tape_path = _paths()
    i1 = _run(_code(name, N1), sub, tape_path, callgrind=True)[2]
    i2 = _run(_code(name, N2), sub, tape_path, callgrind=True)[2]
    return (i2 - i1) / (N2 - N1)


SPLIT = (("out", "the outputs step (buzzer, LED)"), ("stream", "streaming (SAMPLES framing, seal, send)"),
         ("proc", "the processors (feed, events)"), ("due", "STATUS and HELLO"))


def split(name: str, tmp: Path) -> list[tuple[str, float]]:
    """What each part costs a sample: the whole path with one more part switched off per run
    (cumulative, in SPLIT's order), callgrind N1 vs N2 each; the last row is what is left
    (the bench's loop, the step, the tick's clock and the driver read)."""
    _, tape_path = _paths()
    counts = []
    for k in range(len(SPLIT) + 1):
        off = ",".join(p for p, _ in SPLIT[:k])
        i1 = _run(_code(name, N1, off=off), tmp, tape_path, callgrind=True)[2]
        i2 = _run(_code(name, N2, off=off), tmp, tape_path, callgrind=True)[2]
        counts.append((i2 - i1) / (N2 - N1))
    rows = [(label, counts[k] - counts[k + 1]) for k, (_, label) in enumerate(SPLIT)]
    return rows + [("the rest: the step, the tick's clock, the driver read", counts[-1])]


def functions(name: str, tmp: Path, off: str) -> tuple[float, list[tuple[float, str]]]:
    """(instructions per sample, [(per sample, C function)] largest first) of the path with
    the parts `off` switched off, callgrind N1 vs N2 per function (tools/bench/
    bench_sample_profile.py's reading; JIT code shows as `???` addresses)."""
    import os
    import subprocess

    from bench_sample_profile import _per_function, _short

    _, tape_path = _paths()
    env = dict(os.environ, MICROPYPATH=tape_path, PYTHONHASHSEED="0")
    runs = {}
    for n in (N1, N2):
        out = str(tmp / f"cg.{n}")
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", BS.MPY, "-X", "heapsize=4M",
                        "-c", _code(name, n, off=off)], cwd=tmp, env=env, capture_output=True, check=True, timeout=1800)
        runs[n] = _per_function(out)
    (t1, f1), (t2, f2) = runs[N1], runs[N2]
    rows: dict[str, float] = {}
    for k in set(f1) | set(f2):
        s = _short(k)
        rows[s] = rows.get(s, 0.0) + (f2.get(k, 0) - f1.get(k, 0)) / (N2 - N1)
    return (t2 - t1) / (N2 - N1), sorted(((v, k) for k, v in rows.items()), reverse=True)


def measure(name: str, tmp: Path, callgrind: bool) -> dict[str, float]:
    idx = record(name, tmp)
    out: dict[str, float] = {"frames_checked": check_tape(name, tmp)}
    _, tape_path = _paths()
    us, heap, _ = _run(_code(name, N2), tmp, tape_path)
    out["us_per_sample"] = us
    out["heap_bytes_per_sample"] = heap
    win = idx["window"]
    for k, v in win.items():
        out[f"calls_{k}"] = v / idx["window_n"]
    if callgrind:
        i1 = _run(_code(name, N1), tmp, tape_path, callgrind=True)[2]
        i2 = _run(_code(name, N2), tmp, tape_path, callgrind=True)[2]
        out["instructions_per_sample"] = (i2 - i1) / (N2 - N1)
        i1 = _run(_code(name, N1, read_only=True), tmp, tape_path, callgrind=True)[2]
        i2 = _run(_code(name, N2, read_only=True), tmp, tape_path, callgrind=True)[2]
        out["read_instructions_per_sample"] = (i2 - i1) / (N2 - N1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profiles", default=",".join(sorted(profiles.PROFILES)),
                    help="comma-separated profile names (default: all)")
    ap.add_argument("--no-callgrind", action="store_true", help="skip valgrind instruction counts")
    ap.add_argument("--firmware", type=Path, help="the firmware/ directory to measure (default: this tree's)")
    ap.add_argument("--split", action="store_true",
                    help="also the cost of each part (outputs, streaming, processors, STATUS/HELLO): 10 more runs a profile")
    ap.add_argument("--functions", type=int, default=0, metavar="N",
                    help="also the N largest C functions of 'the rest' (every part switched off)")
    args = ap.parse_args()
    if args.firmware:
        FIRMWARE[0] = args.firmware.resolve()
    cg = not args.no_callgrind and shutil.which("valgrind") is not None
    names = [n for n in args.profiles.split(",") if n]
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        # a snapshot: every run of this bench reads the same firmware, whatever changes meanwhile
        shutil.copytree(FIRMWARE[0], tmp / "firmware")
        FIRMWARE[0] = tmp / "firmware"
        # the firmware's drivers call `machine` from native code (gaitfw/drvnative.py) or,
        # before it, from their bytecode `read` methods: the split uses the matching site
        native = (FIRMWARE[0] / "gaitfw" / "drvnative.py").is_file()
        costs = call_costs(tmp, native) if cg else {}
        other = call_costs(tmp, not native) if cg else {}
        walks = {label: BS.heap_walk_instructions(heap) for heap, label in HEAPS.items()} if cg else {}
        if costs:
            print("== the stand-in's calls into C under this VM (instructions per call)")
            site = ("from native code (gaitfw/drvnative.py, as this firmware calls)", "from bytecode")
            for label, table in ((site[0], costs if native else other), (site[1], other if native else costs)):
                print(f"  {label}: " + ", ".join(f"{k} {v:.0f}" for k, v in table.items()))
        for name in names:
            prof = profiles.get(name)
            sub = tmp / name
            sub.mkdir()
            f = measure(name, sub, cg)
            drivers = ", ".join(sorted({s["drv"] for s in prof["sensors"]}))
            print(f"== {name} ({prof['board']}: {drivers}), App.step through the drivers")
            print(f"  frames equal to the recording's: {f['frames_checked']:.0f} (STATUS masked)")
            print(f"  {f['us_per_sample']:.1f} us/sample; heap growth {f['heap_bytes_per_sample']:.3f} bytes/sample (goal 0)")
            calls = {k[6:]: v for k, v in f.items() if k.startswith("calls_") and v}
            print("  machine calls per sample: " + ", ".join(f"{k} {v:.2f}" for k, v in calls.items()))
            if "instructions_per_sample" in f:
                stand = sum(v * costs.get(k, 0.0) for k, v in calls.items())
                walk = walks[HEAPS[int(prof["heap_free"])]]
                goal = GOALS[str(prof["board"])]
                print(f"  whole path: {f['instructions_per_sample']:.0f} instructions/sample (callgrind, N vs 2N;"
                      f" goal <= {goal})")
                print(f"    of which the stand-in's calls into C: {stand:.0f}")
                print(f"    driver read alone (BoardHal.read, no App): {f['read_instructions_per_sample']:.0f}")
                print(f"  STATUS heap walk at {prof['heap_free']} bytes: {walk:.0f} instructions a walk (boot,"
                      f" CMD_STATUS, once a minute while idle; none while sampling at full rate)")
                if args.split:
                    print("  per part (switched off one after another, callgrind N vs 2N each):")
                    for label, v in split(name, sub):
                        print(f"    {label}: {v:.0f}")
                if args.functions:
                    total, rows = functions(name, sub, ",".join(p for p, _ in SPLIT))
                    print(f"  the rest per C function ({total:.0f} a sample; callgrind N vs 2N, the parts switched off):")
                    for v, fn in rows[:args.functions]:
                        print(f"    {v:7.0f}  {fn}")


if __name__ == "__main__":
    main()
