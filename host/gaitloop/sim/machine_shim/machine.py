"""A `machine` module stand-in for the MicroPython Unix port (tests and the simulator only).

Why: the drivers in firmware/gaitfw/drivers run their real code on the Unix port, which has
no GPIO, ADC, I2C or PWM. This module gives them the same API (`Pin`, `ADC.read_u16`,
`I2C.readfrom_mem_into` / `writeto_mem`, `PWM`, `disable_irq`, `lightsleep`) and routes every access to a
part model (`partmodels.py`) wired with `wire_pin`, `wire_adc`, `wire_i2c`, so a driver's
bit-banging and register traffic reach a model that answers like the real part.
Only the calls the drivers use exist: a driver calling something else fails here too.
The stand-in and the models allocate nothing per access (models precompute their outputs),
so a heap measurement around a driver's `read` measures the driver.
"""

_pins = {}  # pin id -> (model, role): reads and writes go to model.pin_read/pin_write
_adcs = {}  # pin id -> source with read_u16()
_buses = {}  # bus id -> {addr: model with mem_read(reg, buf) / mem_write(reg, data)}
_spis = {}  # SPI bus id -> model on its MOSI / MISO (an HX711 clocked by SPI: pin_write / pin_read)
pwm_log = []  # (pin id, "freq" | "duty_u16", value): what the PWM outputs were told
_irq = [0]
_NO_BUS = {}

_ENODEV = 19


def reset():
    """Unwire everything (between tests in one interpreter)."""
    _pins.clear()
    _adcs.clear()
    _buses.clear()
    _spis.clear()
    del pwm_log[:]
    del sleep_log[:]


def wire_pin(pin_id, model, role):
    _pins[pin_id] = (model, role)


def wire_adc(pin_id, source):
    _adcs[pin_id] = source


def wire_i2c(bus_id, addr, model):
    _buses.setdefault(bus_id, {})[addr] = model


def wire_spi(bus_id, model):
    """A part whose clock line is the bus's MOSI and whose data line is its MISO (an HX711):
    each MOSI bit is a `pin_write(model, "sck", bit)`, each MISO bit a `pin_read("miso")`."""
    _spis[bus_id] = model


def unwire_i2c(bus_id, addr):
    _buses.get(bus_id, {}).pop(addr, None)


sleep_log = []  # ms asked of each lightsleep call: idle is observable (gaitfw/power.py)


def lightsleep(ms=None):
    """The Unix port cannot stop its clocks: the call is recorded and the time passes."""
    import time

    sleep_log.append(ms)
    if ms:
        time.sleep_ms(ms)


def disable_irq():
    _irq[0] += 1
    return _irq[0]


def enable_irq(state):
    _irq[0] = state - 1


class Pin:
    IN = 0
    OUT = 1
    PULL_UP = 1
    PULL_DOWN = 2

    def __init__(self, pin_id, mode=-1, pull=None, value=None):
        self.id = pin_id
        self.mode = mode
        self._v = 0
        if value is not None:
            self.value(value)

    def value(self, v=None):
        wired = _pins.get(self.id)
        if v is None:
            if wired is not None:
                return wired[0].pin_read(wired[1])
            return self._v
        self._v = 1 if v else 0
        if wired is not None:
            wired[0].pin_write(wired[1], self._v)
        return None

    def __call__(self, v=None):
        return self.value(v)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)


def _pin_id(p):
    return p.id if isinstance(p, Pin) else p


class ADC:
    def __init__(self, pin):
        self.id = _pin_id(pin)
        if self.id not in _adcs:
            raise ValueError("invalid pin for ADC: %r (nothing wired)" % (self.id,))

    def read_u16(self):
        v = int(_adcs[self.id].read_u16())
        return 0 if v < 0 else 65535 if v > 65535 else v


class I2C:
    def __init__(self, bus_id, scl=None, sda=None, freq=400000):
        self.bus = bus_id
        self.freq = freq

    def _dev(self, addr):
        dev = _buses.get(self.bus, _NO_BUS).get(addr)
        if dev is None or getattr(dev, "nack", False):
            raise OSError(_ENODEV)
        return dev

    def scan(self):
        return sorted(a for a, d in _buses.get(self.bus, {}).items() if not getattr(d, "nack", False))

    def readfrom_mem_into(self, addr, reg, buf):
        self._dev(addr).mem_read(reg, buf)

    def readfrom_mem(self, addr, reg, n):
        buf = bytearray(n)
        self._dev(addr).mem_read(reg, buf)
        return bytes(buf)

    def writeto_mem(self, addr, reg, data):
        self._dev(addr).mem_write(reg, data)


class SPI:
    """Mode 0, MSB first: for every bit the MOSI level is set (an edge on a line that is a
    part's clock: the HX711 sees the very edges the bit-banging driver makes), then MISO is
    sampled in the same bit slot. Bits go out in one burst, so a pin held high by a slot is
    high for one bit time only (the part cannot power down mid-transfer)."""

    MSB = 0
    LSB = 1

    def __init__(self, bus_id, baudrate=1000000, polarity=0, phase=0, bits=8, firstbit=0, sck=None, mosi=None, miso=None):
        if polarity or phase or bits != 8 or firstbit:
            raise ValueError("the stand-in's SPI does mode 0, 8 bits, MSB first")
        self.bus = bus_id
        self.baudrate = baudrate

    def write_readinto(self, wbuf, rbuf):
        m = _spis.get(self.bus)
        for i in range(len(wbuf)):
            w = wbuf[i]
            r = 0
            for k in range(7, -1, -1):
                bit = (w >> k) & 1
                if m is not None:
                    m.pin_write("sck", bit)
                    bit_in = m.pin_read("miso")
                else:
                    bit_in = 1  # MISO pulled up, nothing there
                r = (r << 1) | bit_in
            rbuf[i] = r


class PWM:
    def __init__(self, pin, freq=1000, duty_u16=0):
        self.id = _pin_id(pin)
        self._freq = 0
        self._duty = 0
        self.freq(freq)
        self.duty_u16(duty_u16)

    def freq(self, f=None):
        if f is None:
            return self._freq
        self._freq = f
        pwm_log.append((self.id, "freq", f))
        return None

    def duty_u16(self, d=None):
        if d is None:
            return self._duty
        self._duty = d
        pwm_log.append((self.id, "duty_u16", d))
        return None

    def deinit(self):
        self.duty_u16(0)


def _wire_from_env():
    # the simulator (`gaitloop sim --hal drivers`) wires the parts before the firmware boots
    import os

    getenv = getattr(os, "getenv", None)  # a board's os has none (the stand-in on an emulated RP2040)
    if getenv and getenv("GAITLOOP_BENCH_PROFILE"):
        import bench

        bench.wire_from_env()


_wire_from_env()
