"""Every driver's real code path under real MicroPython, against part models that answer like
the chips (gaitloop/sim/machine_shim): known values in, the same values out; fault cases
(no ACK, stuck data, converter never ready) set the fault and keep the board sampling.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gaitloop.sim.machine_world import run_on_models
from gaitloop.sim.sources import make_replay
from tests.conftest import ROOT, SHIPPED_CMU, SHIPPED_GAITPDB

pytestmark = pytest.mark.micropython

_PRELUDE = """
import json, gc
import machine
from partmodels import HX711Model, MPU6050Model, DividerAdc
from array import array
data = json.load(open("data.json"))
"""


def _run(tmp_path: Path, data: object, code: str) -> object:
    (tmp_path / "data.json").write_text(json.dumps(data))
    return run_on_models(_PRELUDE + code, tmp_path)


def _insole_forces() -> np.ndarray:
    rec = sorted(SHIPPED_GAITPDB.glob("*.txt"))[0]
    return make_replay("insole", "left", rec).counts[:400].astype(int)  # 0.1 N counts


def _knee_counts() -> np.ndarray:
    walk = sorted(SHIPPED_CMU.glob("*.amc"))[0]
    return make_replay("knee", "both", walk).counts[:300].astype(int)


# -- HX711 ------------------------------------------------------------------------------------


def test_hx711_reads_signed_24bit_words_bit_by_bit(tmp_path: Path) -> None:
    """Forces (and negative offsets) shift out MSB first; the driver's counts are (raw-tare)//div."""
    heel = _insole_forces()[:, 0]
    # crosses zero (the sign bit); + i % 7 is the converter's noise (a noiseless run is "stuck")
    raw = [int(v) * 300 - 200000 + i % 7 for i, v in enumerate(heel)]
    out = _run(
        tmp_path,
        raw,
        """
from gaitfw.drivers.hx711 import HX711
m = HX711Model(data)
machine.wire_pin(4, m, "dout"); machine.wire_pin(5, m, "sck")
d = HX711(4, 5, 0, gain=128, tare=-200000, div=300)
s = array("h", [0])
raws, counts = [], []
for _ in range(len(data)):
    assert d.read(s)
    raws.append(d.raw); counts.append(s[0])
print(json.dumps({"raw": raws, "counts": counts, "conv": m.n_conversions, "gain": m.gain}))
""",
    )
    assert out["raw"] == raw
    assert out["counts"] == [int(v) for v in heel]
    assert out["conv"] == len(raw) and out["gain"] == 128


def test_hx711_gain_pulses_select_the_next_conversion(tmp_path: Path) -> None:
    """27 pulses = channel A gain 64 (26 = B, 32): the model's next word is scaled by it."""
    out = _run(
        tmp_path,
        [100000] * 4,
        """
from gaitfw.drivers.hx711 import HX711
res = {}
for gain in (64, 32):
    machine.reset()
    m = HX711Model(data)
    machine.wire_pin(4, m, "dout"); machine.wire_pin(5, m, "sck")
    d = HX711(4, 5, 0, gain=gain, div=1)
    s = array("h", [0])
    got = []
    for _ in range(3):
        d.read(s); got.append(d.raw)
    res[str(gain)] = [got, m.gain]
print(json.dumps(res))
""",
    )
    # the first conversion was made at the power-on gain (128); later ones at the selected gain
    assert out["64"] == [[100000, 50000, 50000], 64]
    assert out["32"] == [[100000, 25000, 25000], 32]


def test_hx711_not_ready_holds_then_faults_and_recovers(tmp_path: Path) -> None:
    out = _run(
        tmp_path,
        list(range(1000, 1100)),
        """
from gaitfw.drivers.hx711 import HX711
m = HX711Model(data)
m.not_ready_polls = 1  # slower than the board: every other sample has no new conversion
machine.wire_pin(4, m, "dout"); machine.wire_pin(5, m, "sck")
d = HX711(4, 5, 0, div=1, timeout_n=5)
s = array("h", [0])
slow = []
for _ in range(6):
    ok = d.read(s); slow.append([ok, s[0]])
m.never_ready = True
never = []
for _ in range(6):
    ok = d.read(s); never.append([ok, s[0], d.fault])
m.never_ready = False
m.not_ready_polls = 0
ok = d.read(s)
back = [ok, d.fault, s[0]]
m.stuck = True
stuck = [d.read(s) for _ in range(60)]
print(json.dumps({"slow": slow, "never": never, "back": back, "stuck_first_false": stuck.index(False)}))
""",
    )
    assert out["slow"] == [[True, 1000], [True, 1000], [True, 1001], [True, 1001], [True, 1002], [True, 1002]]
    # never ready: the last slow sample already waited once, so with timeout_n = 5 the 4th
    # never-ready sample is the 5th in a row without a conversion: a fault from then on
    assert [r[0] for r in out["never"]] == [True, True, True, False, False, False]
    assert all(r[1] == 1002 for r in out["never"])
    assert out["back"] == [True, False, 1003]
    assert out["stuck_first_false"] == 49  # 50 identical conversions (stuck_n) -> fault


def test_hx711_clocked_by_spi_reads_and_faults_as_the_bit_banged_driver(tmp_path: Path) -> None:
    """The SPI-clocked HX711 (PD_SCK on MOSI, DOUT on MISO, one `write_readinto`) against the
    bit-banged one, each on its own model of the same cell: the model sees the same PD_SCK
    edges from both, so words, gains (25 / 26 / 27 pulses), slow conversions, a converter never
    ready and stuck data give the same samples, faults and records, step for step."""
    words = [0x7FFFFF, 0x800000, 0xFFFFFF, 0, 1, 0x123456, 0x654321, 0x800001] + list(range(-500, 500, 7))
    out = _run(
        tmp_path,
        words,
        """
from gaitfw import drvnative as N
from gaitfw.drivers.hx711 import HX711
def make(spi, gain):
    m = HX711Model(data)
    machine.reset()
    machine.wire_pin(4, m, "dout")
    if spi:
        machine.wire_spi(1, m)
        d = HX711(4, 5, 0, gain=gain, div=3, tare=-8388608, timeout_n=4, stuck_n=6, spi={"id": 1, "sck": 12})
    else:
        machine.wire_pin(5, m, "sck")
        d = HX711(4, 5, 0, gain=gain, div=3, tare=-8388608, timeout_n=4, stuck_n=6)
    return m, d
res = {}
for spi in (0, 1):
    rows = []
    for gain in (128, 32, 64):
        m, d = make(spi, gain)
        s = array("h", [0])
        for i in range(40):
            m.not_ready_polls = 1 if i % 5 == 3 else 0
            m.never_ready = 12 <= i < 18
            m.stuck = 24 <= i < 34
            ok = d.read(s)
            rec = [w for k, w in enumerate(d.r) if k not in (N.XFER, N.RXA, N.TXL)]  # but the SPI's words
            rows.append([ok, s[0], d.raw, d.fault, m.gain, m.n_conversions] + rec)
    res[spi] = rows
print(json.dumps(res))
""",
    )
    pins, spi = out["0"], out["1"]
    assert spi == pins
    assert {r[4] for r in pins} == {128, 32, 64}  # every gain's pulse count reached the model
    assert any(not r[0] for r in pins) and any(r[0] for r in pins)  # faults and recoveries


# -- FSR and bend through the divider ---------------------------------------------------------


def test_fsr_two_point_calibration_recovers_the_recorded_forces(tmp_path: Path) -> None:
    """gaitpdb heel forces -> FSR divider model -> read_u16 -> driver: force within 0.5 N."""
    heel = [int(v) for v in _insole_forces()[:, 0]]
    out = _run(
        tmp_path,
        heel,
        """
from gaitfw.drivers import divider
from gaitfw import profiles
adc = DividerAdc(data, "fsr")
machine.wire_adc(26, adc)
d = divider.fsr(26, 0, profiles.PICOW_INSOLE["sensors"][0]["cal"])
s = array("h", [0])
got, oks = [], []
for _ in range(len(data)):
    oks.append(d.read(s)); got.append(s[0])
print(json.dumps({"got": got, "ok": all(oks)}))
""",
    )
    assert out["ok"]  # unloaded (0) samples are not a fault
    err = np.abs(np.array(out["got"]) - np.maximum(np.array(heel), 0))
    assert err.max() <= 5, f"max error {err.max()} counts (0.1 N)"


def test_bend_angle_from_two_points_and_open_wire_fault(tmp_path: Path) -> None:
    knee = _knee_counts()
    bend = [int(v) for v in knee[:, 0]]  # 0.01 degree counts
    out = _run(
        tmp_path,
        bend,
        """
from gaitfw.drivers import divider
from gaitfw import profiles
adc = DividerAdc(data, "bend")
machine.wire_adc(1, adc)
d = divider.bend(1, 0, profiles.ESP32S3_KNEE["sensors"][0]["cal"], rail_n=10)
s = array("h", [0])
got = []
for _ in range(len(data)):
    assert d.read(s); got.append(s[0])
adc.open = True
opened = [d.read(s) for _ in range(12)]
adc.open = False
closed = d.read(s)
print(json.dumps({"got": got, "opened": opened, "closed": closed}))
""",
    )
    err = np.abs(np.array(out["got"]) - np.array(bend))
    assert err.max() <= 3, f"max error {err.max()} cdeg"  # ADC and Q14 quantisation only
    assert out["opened"] == [True] * 9 + [False] * 3
    assert out["closed"] is True


# -- MPU-6050 ---------------------------------------------------------------------------------


def test_mpu6050_burst_read_returns_the_simulated_thigh_motion(tmp_path: Path) -> None:
    knee = _knee_counts()
    rows = knee[:, 1:7].tolist()  # left thigh ax ay az gx gy gz
    out = _run(
        tmp_path,
        rows,
        """
from gaitfw.drivers.mpu6050 import MPU6050
m = MPU6050Model(data)
machine.wire_i2c(0, 0x68, m)
i2c = machine.I2C(0, scl=machine.Pin(9), sda=machine.Pin(8), freq=400000)
d = MPU6050(i2c, 1, addr=0x68)
s = array("h", [0] * 7)
got = []
for _ in range(len(data)):
    assert d.read(s); got.append(list(s[1:7]))
regs = {"pwr": m.regs[0x6B], "acc": m.regs[0x1C], "gyr": m.regs[0x1B], "div": m.regs[0x19]}
print(json.dumps({"got": got, "regs": regs, "temp": d.temp_cdeg()}))
""",
    )
    assert out["regs"] == {"pwr": 0x01, "acc": 2 << 3, "gyr": 2 << 3, "div": 9}
    got = np.array(out["got"])
    want = np.array(rows)
    assert np.array_equal(got[:, :3], want[:, :3])  # +-8 g: counts pass through
    assert np.abs(got[:, 3:] - want[:, 3:]).max() <= 1  # 32.8 vs 32.75 counts/dps rounding
    assert abs(out["temp"] - 2500) <= 1


def test_mpu6050_orientation_and_range_settings(tmp_path: Path) -> None:
    out = _run(
        tmp_path,
        [[4096, -2048, 1000, 328, -164, 50]],
        """
from gaitfw.drivers.mpu6050 import MPU6050
m = MPU6050Model(data)
machine.wire_i2c(0, 0x69, m)
i2c = machine.I2C(0)
d = MPU6050(i2c, 0, addr=0x69, orient=(2, -1, 3))
s = array("h", [0] * 6)
d.read(s)
a = list(s)
d2 = MPU6050(i2c, 0, addr=0x69, accel_fs=0, gyro_fs=0)
d2.read(s)
print(json.dumps({"mapped": a, "fs0": list(s)}))
""",
    )
    assert out["mapped"] == [-2048, -4096, 1000, -164, -328, 50]
    # +-2 g = 16384 counts/g (4x), +-250 dps = 131 counts/dps (4x, saturating at int16)
    assert out["fs0"] == [16384, -8192, 4000, 1310, -655, 200]


def test_mpu6050_no_ack_and_stuck_are_faults_and_it_comes_back(tmp_path: Path) -> None:
    out = _run(
        tmp_path,
        [[i, -i, 4096, 2 * i, 0, -i] for i in range(1, 200)],
        """
from gaitfw.drivers.mpu6050 import MPU6050, ImuError
m = MPU6050Model(data)
machine.wire_i2c(0, 0x68, m)
d = MPU6050(machine.I2C(0), 0)
s = array("h", [0] * 6)
d.read(s); d.read(s)
held = list(s)
m.nack = True
nack = [d.read(s), d.fault, list(s) == held]
m.nack = False
m.reset()  # the brown-out put it back to sleep: the driver must wake it again
back = [d.read(s), d.fault, m.regs[0x6B], s[0]]
m.stuck = True
stuck = [d.read(s) for _ in range(60)]
wrong = MPU6050Model(data); wrong.regs[0x75] = 0x70
machine.wire_i2c(0, 0x68, wrong)
other = MPU6050(machine.I2C(0), 0).read(s)  # a chip that is not an MPU-6050: no data from it
machine.unwire_i2c(0, 0x68)
absent = MPU6050(machine.I2C(0), 0).read(s)
print(json.dumps({"nack": nack, "back": back, "stuck_first_false": stuck.index(False), "other": other, "absent": absent, "nacks": d.nacks}))
""",
    )
    assert out["nack"] == [False, True, True]
    assert out["back"] == [True, False, 0x01, 3]
    assert out["stuck_first_false"] == 49
    assert out["other"] is False and out["absent"] is False


# -- outputs ----------------------------------------------------------------------------------


def test_buzzer_pattern_and_led(tmp_path: Path) -> None:
    out = _run(
        tmp_path,
        0,
        """
from gaitfw.drivers.outputs import Buzzer, Led
b = Buzzer(16)
del machine.pwm_log[:]
b.play(1, 1000)
playing = [b.tick(t) for t in (1050, 1080, 1160, 1240, 1300)]
led = Led(17, active_low=True)
p = machine.Pin(17)
led.set(True)
print(json.dumps({"log": machine.pwm_log, "playing": playing, "led_on_level": led.pin.value()}))
""",
    )
    assert out["log"] == [
        [16, "freq", 2000], [16, "duty_u16", 32768],  # beep 80 ms
        [16, "duty_u16", 0],  # gap 80 ms
        [16, "freq", 2000], [16, "duty_u16", 32768],  # beep 80 ms
        [16, "duty_u16", 0],  # end
    ]
    assert out["playing"] == [True, True, True, False, False]  # beep, gap, beep end at 1240
    assert out["led_on_level"] == 0  # active low: on drives the pin low


def test_shim_is_the_one_imported() -> None:
    assert (ROOT / "host/gaitloop/sim/machine_shim/machine.py").is_file()
