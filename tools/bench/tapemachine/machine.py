# ruff: noqa: F821, UP031  (MicroPython code: viper casts, %-formatting as the firmware does)
"""A `machine` stand-in for benchmarks only: every call a driver makes is a call into C.

Why: `tools/bench/bench_drivers.py` counts the instructions of the board's whole sample path
through the drivers under the Unix port. The simulator's stand-in
(host/gaitloop/sim/machine_shim) answers in Python from part models; counting that would
charge the models' bytecode to the board. Here the answers were recorded beforehand (a run
of the same firmware on the simulator's stand-in, `tape.json` + `*.bin` in the working
directory) and are played back by built-in methods of the Unix port, so a read costs what a
call into C costs under this VM, not more and not nothing:

- `ADC.read_u16()`: `iter(array('H', tape)).__next__` (a bound C method, the next reading)
- an input `Pin` (HX711 DOUT) is itself `iter(bytearray(tape)).__next__`: `dout()` is one C call
- an output `Pin` driven by calls (HX711 PD_SCK: `sck(1)`) is `{}.get`: one C call, no effect
- other output pins, PWM: objects whose `value` / `freq` / `duty_u16` are `{}.get`
- `I2C.readfrom_mem_into(addr, reg, buf)`: a viper function (native code, no bytecode) over
  a `bytearray` holding the recorded bursts (a length byte, then the bytes), its cursor in
  the first 4 bytes; the drivers read the buses in a fixed order, so one tape per bus
- `SPI.write_readinto(wbuf, rbuf)` (an HX711 clocked by SPI): the same kind of viper reader,
  filling `rbuf` from the bus's recorded MISO bytes
- `disable_irq` is `int` (returns 0), `enable_irq` is `{}.get`

The C body behind each call is the stand-in's (an iterator step, an empty-dict lookup), not
the board's (a register read, a GPIO write); bench_drivers.py prints what these calls cost
per sample so the reader can see it. Nothing here allocates per call.
"""

import json
from array import array

import micropython

with open("tape.json") as _f:
    _IDX = json.load(_f)
_NOP = {}.get


def _load(name, typecode, size):
    buf = array(typecode, bytes(size)) if typecode != "B" else bytearray(size)
    with open(name, "rb") as f:
        f.readinto(buf)
    return buf


def _key(pin_id):
    return str(pin_id)


class _Out:
    def __init__(self, pin_id):
        self.id = pin_id
        self.value = _NOP
        self.on = int
        self.off = int


class Pin:
    IN = 0
    OUT = 1
    PULL_UP = 1
    PULL_DOWN = 2

    def __new__(cls, pin_id, mode=-1, pull=None, value=None):
        k = _key(pin_id)
        if k in _IDX["pin_read"]:
            return iter(_load("pin_%s.bin" % k, "B", _IDX["pin_read"][k])).__next__
        if k in _IDX["pin_call"]:
            return {}.get
        return _Out(pin_id)


class ADC:
    def __init__(self, pin):
        k = _key(getattr(pin, "id", pin))
        self.read_u16 = iter(_load("adc_%s.bin" % k, "H", 2 * _IDX["adc"][k])).__next__


@micropython.viper
def _addr(b: ptr8) -> int:
    return int(b)


# The burst reader: a viper function (native code, called like a C function: its three
# arguments converted, no bytecode frame) whose tape address is a constant of its source,
# so a read makes no attribute or buffer lookup beyond the destination's.
_READER = """
@micropython.viper
def rd(%s buf: ptr8):
    d = ptr8(%d)
    c = ptr32(%d)
    p = c[0]
    n = d[p]
    i = 0
    while i < n:
        buf[i] = d[p + 1 + i]
        i += 1
    c[0] = p + 1 + n
"""


class _Bus:
    def __init__(self, tape):
        self.tape = tape  # kept alive: the reader holds its address only
        a = _addr(tape)
        env = {"micropython": micropython}
        exec(_READER % ("addr: int, reg: int,", a, a), env)  # I2C.readfrom_mem_into's arguments
        self.readfrom_mem_into = env["rd"]

    def writeto_mem(self, addr, reg, data):
        pass

    def scan(self):
        return []


def I2C(bus_id, scl=None, sda=None, freq=400000):
    n = _IDX["i2c"][str(bus_id)]
    b = bytearray(4 + n)
    with open("i2c_%s.bin" % bus_id, "rb") as f:
        f.readinto(memoryview(b)[4:])
    b[0] = 4  # the cursor: the first record starts after the cursor word
    return _Bus(b)


class _Spi:
    def __init__(self, tape):
        self.tape = tape  # kept alive: the reader holds its address only
        a = _addr(tape)
        env = {"micropython": micropython}
        exec(_READER % ("wbuf: ptr8,", a, a), env)  # SPI.write_readinto's: the bytes out are ignored
        self.write_readinto = env["rd"]


class SPI:
    MSB = 0
    LSB = 1

    def __new__(cls, bus_id, baudrate=1000000, polarity=0, phase=0, bits=8, firstbit=0, sck=None, mosi=None, miso=None):
        n = _IDX.get("spi", {})[str(bus_id)]
        b = bytearray(4 + n)
        with open("spi_%s.bin" % bus_id, "rb") as f:
            f.readinto(memoryview(b)[4:])
        b[0] = 4
        return _Spi(b)


class PWM:
    def __init__(self, pin, freq=1000, duty_u16=0):
        self.freq = _NOP
        self.duty_u16 = _NOP
        self.deinit = int


disable_irq = int
enable_irq = _NOP


def lightsleep(ms=None):
    pass
