"""HX711 24-bit load-cell amplifier, bit-banged on two GPIOs (the CSM paper's load cells).

Protocol (datasheet): DOUT goes low when a conversion is ready. Each PD_SCK pulse shifts out
one bit, MSB first (valid after the rising edge); 24 bits are a two's complement value. 1, 2
or 3 extra pulses (25, 26, 27 in all) pick the input and gain for the *next* conversion:
25 = channel A gain 128, 26 = channel B gain 32, 27 = channel A gain 64. PD_SCK held high for
more than 60 us powers the chip down, so interrupts are off while clocking.

Why non-blocking: the HX711 converts at 10 or 80 SPS (RATE pin), slower than a 100 Hz board.
`read` never waits; when no new conversion is ready it keeps the last value (at 80 SPS about
one sample in five repeats the previous conversion). Only when DOUT stays high for
`timeout_n` samples in a row is the converter declared faulty.
"""

import machine
from micropython import const

from gaitfw.drivers.stuck import Stuck

_PULSES = {128: 25, 32: 26, 64: 27}  # (channel A, 128), (B, 32), (A, 64)
_SIGN = const(0x800000)
_WRAP = const(0x1000000)


class HX711:
    """One HX711 feeding one channel: counts = (raw - tare) // div, clipped to int16."""

    def __init__(self, dout, sck, ch, gain=128, tare=0, div=256, timeout_n=20, stuck_n=50):
        if gain not in _PULSES:
            raise ValueError("HX711 gain must be 128, 64 or 32")
        self.dout = machine.Pin(dout, machine.Pin.IN)
        self.sck = machine.Pin(sck, machine.Pin.OUT, value=0)
        self.ch = ch
        self.pulses = _PULSES[gain]
        self.tare = tare
        self.div = div if div > 0 else 1
        self.timeout_n = timeout_n
        self.waits = 0  # samples in a row without a ready conversion
        self.raw = 0
        self.value = 0
        self.stuck = Stuck(stuck_n)
        self.fault = False

    def ready(self):
        return self.dout() == 0

    def read_raw(self):
        """Clock out one conversion (call only when ready); returns the signed 24-bit value."""
        sck = self.sck  # Pin objects are callable: pin(1) sets, pin() reads; a bound
        dout = self.dout  # method (self.sck.value) would allocate on every read
        v = 0
        irq = machine.disable_irq()
        try:
            for _ in range(24):
                sck(1)
                v = (v << 1) | dout()
                sck(0)
            for _ in range(self.pulses - 24):  # gain / channel for the next conversion
                sck(1)
                sck(0)
        finally:
            machine.enable_irq(irq)
        if v & _SIGN:
            v -= _WRAP
        return v

    def read(self, sample):
        if not self.ready():
            self.waits += 1
            if self.waits >= self.timeout_n:
                self.fault = True
                return False
            sample[self.ch] = self.value  # no new conversion yet: hold the last one
            return True
        self.waits = 0
        raw = self.read_raw()
        self.raw = raw
        c = (raw - self.tare) // self.div
        if c > 32767:
            c = 32767
        elif c < -32768:
            c = -32768
        self.value = c
        sample[self.ch] = c
        self.fault = self.stuck.feed(raw)
        return not self.fault

    def set_tare(self, raw):
        """Zero at the current load (standing calibration), raw as read by `read_raw`."""
        self.tare = raw
