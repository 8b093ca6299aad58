"""The readings the emulated RP2040 streams from its filesystem (`gaitloop.sim.rp2040`,
sim/machine_shim/streamrows.py) are the in-heap part models' answers, bit for bit: the host's
precompute (`rp2040.stream_table`) against `bench.wire_profile`'s models, both driven by the
firmware's own drivers under real MicroPython on the stand-in. No image, no emulator needed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gaitfw import profiles
from gaitloop.sim import rp2040
from gaitloop.sim.machine_world import run_on_models

pytestmark = pytest.mark.micropython

_NROWS = 40

# The firmware's BoardHal on one wiring, then on the other; every answer `machine` gives a
# driver (ADC u16, the bytes of each I2C read) logged, and the samples the drivers make.
_SAME_READINGS = """
import json, gc
from array import array
import machine
from bench import wire_profile, profile_for_bench
import streamrows
from streamrows import wire_streamed
from gaitfw import profiles, app as A
from gaitfw.boardhal import BoardHal
cfg = json.load(open("cfg.json"))
rows = json.load(open("rows.json"))
prof = profile_for_bench(profiles.get(cfg["profile"]))
board = A.board_module(prof["board"])
log = []
_i2c = machine.I2C.readfrom_mem_into
def _rd(self, addr, reg, buf):
    _i2c(self, addr, reg, buf)
    log.append([addr, reg, list(buf)])
_adc = machine.ADC.read_u16
def _ra(self):
    v = _adc(self)
    log.append([self.id, v])
    return v
machine.ADC.read_u16 = _ra
machine.I2C.readfrom_mem_into = _rd
def run(wire):
    del log[:]
    wire()
    hal = BoardHal(prof, len(board.CHANNELS))
    s = array("h", [0] * len(board.CHANNELS))
    out = []
    for i in range(2 * len(rows) + 5):  # past the end twice: both loop the same way
        hal.read(s)
        out.append(list(s))
    return list(log), out
heap_log, heap_s = run(lambda: wire_profile(prof, rows))
file_log, file_s = run(lambda: wire_streamed(prof, cfg["file"]))
machine.ADC.read_u16 = _adc
machine.I2C.readfrom_mem_into = _i2c
models = wire_streamed(prof, cfg["file"])[0]
adcs = [m for m in models.values() if isinstance(m, streamrows.StreamAdc)]
imus = [m for m in models.values() if isinstance(m, streamrows.StreamMpu)]
buf = bytearray(14)
for m in imus:  # awake, at the driver's ranges: each burst reads the file
    m.mem_write(0x6B, b"\x01")
    m.mem_write(0x1B, bytes((2 << 3,)))
    m.mem_write(0x1C, bytes((2 << 3,)))
gc.collect()
a0 = gc.mem_alloc()
for i in range(100):
    for m in adcs:
        m.read_u16()
    for m in imus:
        m.mem_read(0x3B, buf)
grow = gc.mem_alloc() - a0
print(json.dumps({"heap_log": heap_log, "file_log": file_log, "heap_s": heap_s, "file_s": file_s,
                  "grow": grow}))
"""


def _write(tmp_path: Path, name: str, rows: list[list[int]], file_rows: list[list[int]]) -> None:
    prof = profiles.get(name)
    (tmp_path / "rows.json").write_text(json.dumps(rows))
    (tmp_path / "rows.bin").write_bytes(rp2040.stream_table(prof, file_rows))
    (tmp_path / "cfg.json").write_text(json.dumps({"profile": name, "file": "rows.bin"}))


@pytest.mark.parametrize("name", ["picow-knee", "picow-insole"])
def test_streamed_readings_are_the_part_models_bit_for_bit(tmp_path: Path, name: str) -> None:
    """Fails when a streamed reading differs from the in-heap model's (an ADC u16, a byte of
    an MPU-6050 burst or of its init reads), when the firmware's drivers make other samples of
    them, or when a streamed read allocates (the harness must stay out of the heap figure)."""
    rows = rp2040.replay_rows(name, _NROWS)
    _write(tmp_path, name, rows, rows)
    r = run_on_models(_SAME_READINGS, tmp_path)
    assert isinstance(r, dict)
    n_reads = (2 * _NROWS + 5) * len(profiles.get(name)["sensors"])
    assert len(r["heap_log"]) >= n_reads, r["heap_log"][:5]
    assert r["file_log"] == r["heap_log"]
    assert r["file_s"] == r["heap_s"]
    assert len({json.dumps(s) for s in r["heap_s"]}) > 5  # the walk moves: not all alike
    if name == "picow-knee":  # bursts carried data, not the asleep zeros
        bursts = [e[2] for e in r["heap_log"] if len(e) == 3 and e[1] == 0x3B]
        assert len(bursts) == 2 * (2 * _NROWS + 5) and any(any(b) for b in bursts)
    assert r["grow"] == 0


def test_a_file_of_other_rows_is_told_apart(tmp_path: Path) -> None:
    """The comparison above can fail: a file made from the walk one row later differs from the
    in-heap models at the first reading."""
    rows = rp2040.replay_rows("picow-knee", _NROWS + 1)
    _write(tmp_path, "picow-knee", rows[:_NROWS], rows[1:])
    r = run_on_models(_SAME_READINGS, tmp_path)
    assert isinstance(r, dict)
    assert r["file_log"] != r["heap_log"] and r["file_s"] != r["heap_s"]


# Register level: the same traffic to the in-heap MPU-6050 model and to the streamed one,
# including what the drivers never send per sample (reads while asleep, a partial read,
# stuck data, a brown-out reset); a full-scale setting the file lacks is refused.
_REGISTERS = """
import json
import machine
from partmodels import MPU6050Model
from streamrows import wire_streamed
from gaitfw import profiles
cfg = json.load(open("cfg.json"))
rows = json.load(open("rows.json"))
prof = profiles.get(cfg["profile"])
ch = [s for s in prof["sensors"] if s["drv"] == "mpu6050"][0]["ch"]
m = MPU6050Model([r[ch:ch + 6] for r in rows])
f = wire_streamed(prof, cfg["file"])[0][ch]
out = {"m": [], "f": []}
def traffic(d, key):
    got = out[key]
    def rd(reg, n):
        b = bytearray(n)
        d.mem_read(reg, b)
        got.append(list(b))
    rd(0x75, 1)
    rd(0x3B, 14)  # asleep: zeros
    d.mem_write(0x6B, b"\\x01")
    d.mem_write(0x1B, bytes((2 << 3,)))
    d.mem_write(0x1C, bytes((2 << 3,)))
    for i in range(len(rows) + 3):
        rd(0x3B, 14)
    rd(0x41, 2)  # the temperature of the latched sample
    rd(0x3D, 4)  # registers, no new latch
    rd(0x3B, 6)  # a short burst still latches
    d.stuck = True
    rd(0x3B, 14)
    rd(0x3B, 14)
    d.stuck = False
    d.reset()
    rd(0x3B, 14)
    rd(0x6B, 1)
    d.mem_write(0x6B, b"\\x01")
    d.mem_write(0x1C, b"\\x00")  # +-2 g: not in the file
    try:
        rd(0x3B, 14)
    except ValueError:
        got.append("refused")
traffic(m, "m")
traffic(f, "f")
print(json.dumps(out))
"""


def test_streamed_mpu6050_answers_register_traffic_as_the_model(tmp_path: Path) -> None:
    """Fails when the streamed MPU-6050 answers any read of that traffic otherwise than the
    in-heap model, or reads a full-scale setting it was not made for instead of refusing."""
    rows = rp2040.replay_rows("picow-knee", 12)
    _write(tmp_path, "picow-knee", rows, rows)
    r = run_on_models(_REGISTERS, tmp_path)
    assert isinstance(r, dict)
    m, f = r["m"], r["f"]
    assert m[-1] != "refused" and f[-1] == "refused"  # the model rescales to +-2 g; the file cannot
    assert f[:-1] == m[:-1]
    assert m[0] == [0x68] and m[1] == [0] * 14 and any(m[2])
