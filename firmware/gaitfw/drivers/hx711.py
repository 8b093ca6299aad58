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

from gaitfw import drvnative as N

_PULSES = {128: 25, 32: 26, 64: 27}  # (channel A, 128), (B, 32), (A, 64)


class HX711:
    """One HX711 feeding one channel: counts = (raw - tare) // div, clipped to int16.

    State in record `k` of `W` (gaitfw.drvnative, which clocks the bits natively;
    BoardHal shares one W among its drivers); without a W the driver has its own."""

    def __init__(self, dout, sck, ch, gain=128, tare=0, div=256, timeout_n=20, stuck_n=50, W=None, k=0):
        if gain not in _PULSES:
            raise ValueError("HX711 gain must be 128, 64 or 32")
        self.dout = machine.Pin(dout, machine.Pin.IN)
        self.sck = machine.Pin(sck, machine.Pin.OUT, value=0)
        if W is None:
            W, k = N.words(1), 0
        self.W = W
        self.r = r = N.record(W, k)
        N.init_record(r, N.HX711, ch, stuck_n)
        # Pin objects are callable: pin(1) sets, pin() reads; a bound method (self.sck.value)
        # would allocate on every read. IRQs are off while clocking (PD_SCK high > 60 us
        # powers the chip down).
        self.k = k  # its record; `calls`: its callables (BoardHal: every driver's, one tuple)
        self.calls = (self.dout, self.sck, machine.disable_irq, machine.enable_irq)
        self.ch = ch
        r[N.PULSES] = _PULSES[gain]
        r[N.TARE] = tare
        r[N.DIV] = div if div > 0 else 1
        r[N.TIMEOUT_N] = timeout_n

    @property
    def raw(self):
        return self.r[N.RAW]

    @property
    def fault(self):
        return bool(self.r[N.FAULT])

    def ready(self):
        return self.dout() == 0

    def read(self, sample):
        return N.read_one(self, sample)

    def set_tare(self, raw):
        """Zero at the current load (standing calibration), raw as read by `read`."""
        self.r[N.TARE] = raw
