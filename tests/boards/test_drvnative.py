"""The drivers' native read (gaitfw/drvnative.py) against its plain twin and the replay path.

Why: `App.step` on a board now reads every driver in one viper call. It must give what the
plain twin gives, word for word, on readings that reach every branch (calibration at both
ends, the rails, stuck data, an HX711 that is slow or never ready, an IMU that NACKs, is not
an MPU-6050, or reads -32768 on a negated axis); its intermediates must fit the boards'
32-bit words; and a board's stream through the drivers must be byte for byte the stream the
replay HAL sends for the same counts, with no heap growth.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import textwrap
from pathlib import Path

import pytest

from gaitfw import drvnative
from gaitloop.decoder import StreamDecoder
from gaitloop.export.device_runner import micropython_binary
from gaitloop.sim.machine_world import run_on_models
from gaitloop.sim.replayfile import write_replay
from gaitloop.sim.sources import Replay, make_replay
from tests.boards.test_viper31 import LIMIT, instrument
from tests.conftest import SHIPPED_GAITPDB, run_micropython

pytestmark = pytest.mark.micropython

# One script for both runtimes: a divider pair (FSR with its clip, a bend sensor whose
# calibration falls), an HX711 and an MPU-6050 (one axis negated), fed deterministic
# sequences that visit every branch; prints the sample and W after each step.
_TWINS = """
from array import array
from gaitfw import drvnative as N

class ImuGone(Exception):
    pass

def seq(vals):
    it = iter(vals)
    return lambda: next(it)

def run(read):
    W = N.words(5)
    r = [N.record(W, k) for k in range(5)]
    N.init_record(r[0], N.DIVIDER, 0, 6)
    r[0][N.Q_A], r[0][N.OUT_A], r[0][N.DQ], r[0][N.DOUT] = 0, 0, 32768, 4000
    r[0][N.CLIP], r[0][N.CLIP_LOW], r[0][N.RAIL_N] = 1, 0, 3
    N.init_record(r[1], N.DIVIDER, 1, 4)
    r[1][N.Q_A], r[1][N.OUT_A], r[1][N.DQ], r[1][N.DOUT] = 65536, 16000, -60000, -16000
    r[1][N.RAIL_N] = 5
    N.init_record(r[2], N.HX711, 2, 4)
    r[2][N.PULSES], r[2][N.TARE], r[2][N.DIV], r[2][N.TIMEOUT_N] = 27, -8388608, 3, 4
    N.init_record(r[3], N.MPU6050, 3, 3)
    r[3][N.SRC], r[3][N.SRC + 1], r[3][N.SRC + 2] = 1, 0, 2
    r[3][N.NEG], r[3][N.NEG + 1], r[3][N.NEG + 2] = 0, 1, 0
    r[3][N.NEED_INIT] = 1
    N.init_record(r[4], N.HX711, 9, 3)  # an HX711 clocked by SPI: one transfer, 7 bytes back
    r[4][N.PULSES], r[4][N.TARE], r[4][N.DIV], r[4][N.TIMEOUT_N], r[4][N.XFER] = 25, 1000, 5, 3, 1
    us0 = [0, 1, 300, 52428, 52429, 65000, 65535, 65535, 65535, 65535, 20000, 20000, 20000, 20000, 20000, 20000, 20000, 0, 0, 0, 0, 0, 0, 0]
    us1 = [21845, 65535, 65535, 65535, 65535, 65535, 100, 100, 100, 100, 100, 40000, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18]
    words = [0x7FFFFF, 0x800000, 0xFFFFFF, 0, 5, 5, 5, 5, 5, 0x123456, 0x654321, 0x000001, 0x7FFFFE, 0x800001]
    ready = [0, 0, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]
    bits = []
    wi = 0
    for rd in ready:
        bits.append(rd)
        if not rd:
            w = words[wi % len(words)]
            wi += 1
            bits.extend((w >> (23 - i)) & 1 for i in range(24))
    clk = []
    bursts = []
    for i in range(24):
        b = bytearray(14)
        for j in range(7):
            v = (i * 9973 + j * 7919) % 65536 if i % 6 else (0x8000 if j in (0, 4) else 0x7FFF)
            if 14 <= i <= 17:
                v = 1234  # identical bursts: stuck
            b[2 * j] = v >> 8
            b[2 * j + 1] = v & 0xFF
        bursts.append(b)
    state = {"i": 0, "init": 0}
    buf = bytearray(14)
    def init():
        state["init"] += 1
        if state["init"] == 2:
            raise N.ImuError("not an MPU-6050")
        r[3][N.NEED_INIT] = 0
    def burst(addr, reg, into):
        i = state["i"]
        state["i"] += 1
        if i in (3, 4, 9):
            raise OSError(19)
        into[:] = bursts[i]
    pin = seq(bits)
    spi_words = iter([0x800000, 0x7FFFFF, 0xFFFFFF, 0, 0x5A5A5A, 0xA5A5A5, 0x000400] * 4)
    txs = []
    def xfer(tx, rx):  # the SPI's MISO bytes: bit i of the word in the low slot of pulse i
        txs.append(list(tx))  # the MOSI bytes this transfer clocks out (one buffer: tx is rx)
        w = next(spi_words)
        for j in range(7):
            x = 0xAA  # high slots read 1 too: only the low ones may count
            for q in range(4):
                i = 4 * j + q
                if i < 24 and not (w >> (23 - i)) & 1:
                    x &= ~(1 << (6 - 2 * q)) & 0xFF
            rx[j] = x | 0xAA
        clk.append(len(tx))
    xb = bytearray((0xAA,) * 6 + (0x80,))  # 25 pulses; the read writes them back after each transfer
    r[4][N.TXL] = 0x80
    N.bind_rx(W, 4, xb)
    spi_ready = seq([0, 1, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    calls = (seq(us0), seq(us1), pin, clk.append, int, clk.append, init, burst, 0x68, buf,
             spi_ready, xfer, xb)
    for k, ci in enumerate((0, 1, 2, 6, 10)):
        r[k][N.CI] = ci
    s = array("h", [0] * 10)
    out = []
    W[N.H_OUT] = 1
    h = len(N.words(0))  # the header's words and a record's (N._H, N._REC: consts, no globals)
    rxa = h + (len(N.words(1)) - h) * 4 + N.RXA  # an address (MicroPython) or 0 (CPython): not compared
    for step in range(len(ready)):
        got = read(W, calls, s)
        w = list(W)
        w[rxa] = 0
        out.append([got, list(s), w])
    return out, len(clk), txs
"""


def _twins_main(which: str) -> str:
    return _TWINS + f"\nimport json\nprint(json.dumps(run(N.{which})))\n"


def test_native_read_equals_its_plain_twin_word_for_word(tmp_path: Path) -> None:
    viper = json.loads(run_micropython(_twins_main("_read_viper")).strip().splitlines()[-1])
    plain_mpy = json.loads(run_micropython(_twins_main("_read_plain")).strip().splitlines()[-1])
    env: dict = {}
    exec(compile(_TWINS, "twins", "exec"), env)  # the plain twin on CPython too
    plain_cpy = json.loads(json.dumps(env["run"](drvnative._read_plain)))
    assert viper == plain_mpy == plain_cpy
    steps, clocks, txs = viper
    # every SPI transfer clocked out 25 pulses: the MOSI bytes written back after the last one
    assert len(txs) > 5 and all(t == [0xAA] * 6 + [0x80] for t in txs), txs
    # the branches were reached: a fault bit, the outputs bit, and both driver faults counted
    assert any(g & 2 for g, _, _ in steps) and any(g & 1 for g, _, _ in steps)
    last = steps[-1][2]
    nfault = [last[drvnative._H + drvnative._REC * k + drvnative.NFAULT] for k in range(5)]
    assert all(n > 0 for n in nfault), nfault
    assert clocks > 0


def test_native_read_intermediates_fit_32_bit_words() -> None:
    twin, box = instrument(drvnative._read_plain)
    env: dict = {}
    exec(compile(_TWINS, "twins", "exec"), env)
    env["run"](twin)
    print("drvnative max |intermediate|", box[0])
    assert 0 < box[0] < LIMIT


_WIRE = """
import gc, json
from gaitfw import app as A, profiles
from gaitfw.boardhal import BoardHal
from gaitfw.boards import insole
from bench import wire_profile, profile_for_bench, read_glrp
class Keep:
    def __init__(self): self.b = bytearray()
    def write(self, buf, off, n): self.b.extend(memoryview(buf)[off:off + n])
prof = profile_for_bench(profiles.get(NAME))
wire_profile(prof, read_glrp("walk.glrp"))
hal = BoardHal(prof, 2)
out = Keep()
a = A.App(insole, {"side": "left"}, hal, out)
hal.attach(a)
a._next_status = 1000; a._next_hello = 5000
for i in range(2000): a.step()
open("drivers.bin", "wb").write(out.b)
class Null:
    def write(self, buf, off, n): pass
hal = BoardHal(prof, 2)
a = A.App(insole, {"side": "left"}, hal, Null())
hal.attach(a)
a._next_status = 1000; a._next_hello = 5000
a.send_hello()  # HELLO's bytes are built once, at boot
for i in range(100): a.step()
gc.collect(); gc.disable()
m0 = gc.mem_alloc()
i = 0
while i < 1500:
    a.step(); i += 1
grew = gc.mem_alloc() - m0
gc.enable()
print(json.dumps({"grew": grew, "faults": hal.fault_counts()}))
"""

_REPLAY = """
from gaitfw import app as A
from gaitfw.boards import insole
from gaitfw.hal import ReplayHal
class Keep:
    def __init__(self): self.b = bytearray()
    def write(self, buf, off, n): self.b.extend(memoryview(buf)[off:off + n])
out = Keep()
a = A.App(insole, {"side": "left"}, ReplayHal("read.glrp", 2, False), out)
a._next_status = 1000; a._next_hello = 5000
for i in range(2000): a.step()
open("replay.bin", "wb").write(out.b)
print("null")
"""


def _frames(data: bytes) -> list[tuple[int, int, int, bytes]]:
    dec = StreamDecoder()
    dec.feed(b"\x00")
    return [(f.kind, f.seq, f.t_ms, bytes(f.payload)) for f in dec.feed(data + b"\x00")]


@pytest.mark.parametrize("name", ["picow-insole", "esp32s3-insole"])
def test_stream_through_the_drivers_is_the_replay_stream_of_the_same_counts(name: str, tmp_path: Path) -> None:
    """The drivers' counts, replayed, give the same SAMPLES and EVENT frames (numbers, times,
    bytes); the driver step allocates nothing."""
    import numpy as np

    from gaitfw import protocol as P

    walk = make_replay("insole", "left", sorted(SHIPPED_GAITPDB.glob("*.txt"))[0])
    write_replay(walk, tmp_path / "walk.glrp")
    res = run_on_models(_WIRE.replace("NAME", repr(name)), tmp_path)
    assert res["grew"] == 0 and res["faults"] == [0, 0], res
    drv = _frames((tmp_path / "drivers.bin").read_bytes())
    rows = [np.frombuffer(p[P.SAMPLES_HEADER:], "<i2").reshape(-1, 2) for k, _, _, p in drv if k == P.MSG_SAMPLES]
    counts = np.concatenate(rows)
    assert len(counts) == 2000
    write_replay(Replay(walk.channels, walk.rate_hz, counts), tmp_path / "read.glrp")
    run_on_models(_REPLAY, tmp_path)
    rep = _frames((tmp_path / "replay.bin").read_bytes())
    keep = (P.MSG_SAMPLES, P.MSG_EVENT)
    a = [f for f in drv if f[0] in keep]
    b = [f for f in rep if f[0] in keep]
    assert len(a) > 200 and any(f[0] == P.MSG_EVENT for f in a)
    assert [f[3] for f in a] == [f[3] for f in b] and [f[2] for f in a] == [f[2] for f in b]


_OUTPUTS = """
import json, machine
from array import array
from gaitfw import profiles
from gaitfw.boardhal import BoardHal
from bench import wire_profile, profile_for_bench
prof = profile_for_bench(profiles.get("esp32s3-insole"))
wire_profile(prof, [[100 * (i % 7), 50 * (i % 5)] for i in range(400)])
class Fb:
    buzz = 0
    led = 0
    pattern = 1
class Proc:
    fb = Fb()
class App:
    processors = [Proc()]
hal = BoardHal(prof, 2)
hal.attach(App())
s = array("h", [0, 0])
del machine.pwm_log[:]
duty = []
for i in range(300):
    if i == 53:
        Proc.fb.buzz = 1
    if i == 90:
        Proc.fb.buzz = 0
    n = len(machine.pwm_log)
    hal.read(s)
    for e in machine.pwm_log[n:]:
        if e[1] == "duty_u16":
            duty.append([i, e[2]])
print(json.dumps(duty))
"""


def test_outputs_step_every_10th_sample_when_quiet_every_2nd_while_a_pattern_plays(tmp_path: Path) -> None:
    """A rule that turns on starts its pattern within 10 samples (100 ms); the pattern's steps
    then keep their 80 ms (pattern 1: beep, pause, beep) at 20 ms resolution, and nothing is
    written to the PWM while no rule is on."""
    duty = run_on_models(_OUTPUTS, tmp_path)
    assert duty, "no pattern played"
    first = duty[0][0]
    assert 53 <= first < 63 and duty[0][1] > 0
    times = [i for i, _ in duty]
    # on 80 ms, off 80 ms, on 80 ms, then the pattern stops
    assert [b - a for a, b in zip(times, times[1:], strict=False)] == [8, 8, 8], duty
    assert [d > 0 for _, d in duty] == [True, False, True, False]
    assert duty[-1][0] < 120  # the pattern ended (stop) and no rule re-triggered it


_KNEE_OUTPUTS = """
import json, machine
from gaitfw import app as A, profiles
from gaitfw.boardhal import BoardHal
from gaitfw.boards import knee
from bench import wire_profile, profile_for_bench
prof = profile_for_bench(profiles.get('esp32s3-knee'))
wire_profile(prof, json.load(open('rows.json')))
class Sink:
    def write(self, b, o, n): pass
hal = BoardHal(prof, 14)
a = A.App(knee, {'side': 'left', 'reduce_pct': 8}, hal, Sink())
hal.attach(a)
if POLL:  # the rules do not say when they change: the step runs at every count, as before
    hal._told = False
    a.processors[0].fb.on_change = None
    hal.W[1] = 10
log = []
last = None
rests = 0
for i in range(N):
    if i == 4000 or i == 9000:
        a._set_idle(True)
    if i == 4300 or i == 9200:
        a._set_idle(False)
    n = len(machine.pwm_log)
    a.step()
    rests += hal.W[1] >> 8
    for e in machine.pwm_log[n:]:
        log.append([i, e[1], e[2]])
    if hal.led.on != last:
        last = hal.led.on
        log.append([i, 'led', last])
print(json.dumps([log, rests]))
"""


def test_knee_outputs_rest_between_rule_changes_and_act_on_the_same_samples(tmp_path: Path) -> None:
    """The knee's buzzer and LED step rests while no rule is on and nothing plays (it cost
    ~1 000 instructions a sample polling the rules at every 10th), woken by the feedback
    rules' `on_change` and by idle: on a walk that turns the asymmetry buzzer and the
    short-step LED on and off twice, with idle spells (LED and buzzer off) in between, every
    PWM write and LED change falls on the same sample as with the step polling each time."""
    from tests.conftest import ROOT

    amc = ROOT / "data" / "mocap" / "cmu" / "35_01.amc"
    a = make_replay("knee", "both", amc).counts.tolist()
    b = make_replay("knee", "both", amc, limp=0.55).counts.tolist()
    (tmp_path / "rows.json").write_text(json.dumps(a * 3 + b * 4 + a * 4 + b * 3))
    n = 11000
    told, rests = run_on_models(f"POLL=0\nN={n}\n" + _KNEE_OUTPUTS, tmp_path, timeout=600, heapsize="64M")
    polled, none = run_on_models(f"POLL=1\nN={n}\n" + _KNEE_OUTPUTS, tmp_path, timeout=600, heapsize="64M")
    assert told == polled
    kinds = [e[1] for e in told]
    on = [e[0] for e in told if e[1] == "led" and e[2]]
    # two buzzer spells, two LED spells, and the LED lit again at the first step after idle
    assert kinds.count("freq") > 20 and len(on) == 3, told
    assert none == 0 and rests > n // 3  # the step rested for most samples


def test_native_read_on_emulated_32_bit_words(tmp_path: Path) -> None:
    """The viper kernel on a copy of the firmware whose viper words are 32 bits (gaitloop.word32:
    ptr32 loads sign-extended as on a board, results wrapped at 2^32): the same words and
    samples as the plain twin, so the sign-extension of stored words holds on both widths."""
    from gaitloop.word32 import emulate
    from tests.conftest import FIRMWARE

    fw32 = tmp_path / "firmware"
    done = emulate(FIRMWARE, fw32)
    assert done.get("gaitfw/drvnative.py", 0) > 20  # the kernel was rewritten
    env = dict(os.environ, MICROPYPATH=f"{fw32}:.frozen")
    p = subprocess.run([micropython_binary(), "-X", "heapsize=4M", "-c", _twins_main("_read_viper")],
                       capture_output=True, text=True, timeout=300, env=env)
    assert p.returncode == 0, p.stderr[-2000:]
    on32 = json.loads(p.stdout.strip().splitlines()[-1])
    plain = json.loads(run_micropython(_twins_main("_read_plain")).strip().splitlines()[-1])
    assert on32 == plain


def _records_block(text: str, start: str, end: str) -> str:
    a = text.index(start)
    a = text.index("bad = 0\n", a)
    return textwrap.dedent(text[text.rindex("\n", 0, a) + 1:text.index(end, a)])


def test_the_ticks_driver_block_is_drvnative_verbatim() -> None:
    """`app._tick_viper` reads the board drivers itself (one native call a sample, not two):
    its block of the records must stay drvnative's, word for word, with the constants named
    _D_ + drvnative's name and of the same values (viper has no inlining, so the text is
    copied; this test is what keeps the copy true)."""
    from gaitfw import app

    root = Path(drvnative.__file__).parent
    ours = _records_block((root / "drvnative.py").read_text(), "# -- the records:", "# -- end of the records")
    theirs = _records_block((root / "app.py").read_text(), "elif rows == 2:", "W[_D_H_N] = (W[_D_H_N] + 1)")
    assert "_D_" not in ours
    assert re.sub(r"\b_D_(\w+)", r"\1", theirs) == ours
    names = set(re.findall(r"\b_D_(\w+)", (root / "app.py").read_text()))
    assert len(names) > 30
    for name in names:
        assert getattr(app, "_D_" + name) == getattr(drvnative, name), name
    hal = dict(re.findall(r"^_(H_\w+) = const\((\d+)\)", (root / "boardhal.py").read_text(), re.M))
    assert sorted(hal) == ["H_N", "H_OUT", "H_OUTC"]  # boardhal's copies of the header words
    for name, v in hal.items():
        assert int(v) == getattr(drvnative, name), name
    rest = re.search(r"^_OUT_REST = const\((\d+)\)", (root / "boardhal.py").read_text(), re.M)
    assert rest and int(rest.group(1)) == drvnative.OUT_REST


_LATCH = """
from gaitfw import drvnative as N
W = N.words(3)
out = []
for latch, faults in ((0, (0, 0, 0)), (1, (0, 0, 0)), (0, (0, 1, 0)), (1, (1, 0, 1)), (0, (0, 0, 0))):
    W[N.H_LATCH] = latch
    for k, f in enumerate(faults):
        N.record(W, k)[N.FAULT] = f
    out.append((N.latch(W), W[N.H_LATCH]))
print(out)
"""


def test_status_latch_answers_the_latch_and_then_follows_the_drivers() -> None:
    """`drvnative.latch` (BoardHal.status, once a second): the bits of failed reads since the
    last call, then the latch set again when a driver is still faulty; both runtimes."""
    want = [(0, 0), (1, 0), (0, 1), (1, 1), (0, 0)]
    ns: dict = {}
    exec(_LATCH.replace("print(out)", "RESULT = out"), ns)
    assert [tuple(x) for x in ns["RESULT"]] == want
    assert run_micropython(_LATCH).strip() == str(want)
