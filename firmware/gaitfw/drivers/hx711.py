"""HX711 24-bit load-cell amplifier, bit-banged on two GPIOs (the CSM paper's load cells).

Protocol (datasheet): DOUT goes low when a conversion is ready. Each PD_SCK pulse shifts out
one bit, MSB first (valid after the rising edge); 24 bits are a two's complement value. 1, 2
or 3 extra pulses (25, 26, 27 in all) pick the input and gain for the *next* conversion:
25 = channel A gain 128, 26 = channel B gain 32, 27 = channel A gain 64. PD_SCK held high for
more than 60 us powers the chip down, so interrupts are off while clocking.

Clocked by the SPI peripheral (`spi=`, a profile's choice; docs/hardware.md): PD_SCK on MOSI,
DOUT on MISO, the SPI's own SCK on a spare pin. Each PD_SCK pulse is the bit pair 1, 0 on MOSI,
so the SPI clock runs at twice the pulse rate; 25-27 pulses fit 7 bytes (0xAA x 6, then 0x80 /
0xA0 / 0xA8), and the data bit of pulse k is MISO's second bit of pair k (sampled in the low
half, DOUT settled: datasheet t2 <= 0.1 us). One `write_readinto` (a C call) replaces the 74
to 78 pin calls a conversion costs when bit-banged (~20 000 instructions under the Unix port;
docs/benchmarks.md, "Through the board drivers"). Datasheet timing: PD_SCK high and low each >= 0.2 us, high <= 50 us (60 us
powers the chip down): at the 1 MHz default a pulse is 1 us high, 1 us low, in hardware, so
no interrupt can stretch it (no `disable_irq`), and every transfer ends low (MOSI idles at
the last bit, 0). 1 MHz sits inside both MCUs' SPI ranges (RP2040 PL022 and ESP32-S3 GP-SPI,
any pins through the GPIO matrix on the S3; on the RP2040 each bus's fixed MISO / MOSI / SCK
pins, checked before flashing by gaitloop.pinrules).

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

    def __init__(self, dout, sck, ch, gain=128, tare=0, div=256, timeout_n=20, stuck_n=50, W=None, k=0, spi=None):
        """`spi`: {"id": bus, "sck": spare pin for the SPI's clock, "baud": Hz (1 MHz)} clocks the
        chip with that SPI bus (PD_SCK = `sck` as MOSI, DOUT = `dout` as MISO); None: two GPIOs."""
        if gain not in _PULSES:
            raise ValueError("HX711 gain must be 128, 64 or 32")
        self.spi = None  # type: object  # the SPI bus that clocks the chip, if any
        if spi is not None:
            baud = spi.get("baud", 1000000)
            if not 20000 <= baud <= 2500000:  # PD_SCK high <= 50 us; high and low >= 0.2 us
                raise ValueError("HX711 SPI baud must be 20 kHz..2.5 MHz")
            bus = machine.SPI(spi["id"], baudrate=baud, polarity=0, phase=0, bits=8, firstbit=machine.SPI.MSB,
                              sck=machine.Pin(spi["sck"]), mosi=machine.Pin(sck), miso=machine.Pin(dout))
            self.spi = bus
            self.dout = machine.Pin(dout)  # no mode: the pin stays the SPI's MISO, read for "ready"
        else:
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
        self.calls = ()  # type: tuple
        if spi is not None:  # (DOUT, the transfer, its one buffer: 7 MOSI bytes out, MISO back)
            # the MOSI bytes of 25 / 26 / 27 pulses, a pulse the bit pair 1, 0: 0xAA x 6, then
            # 0x80 / 0xA0 / 0xA8 (the last byte's 1 to 3 pulses). One buffer for both directions
            # (`write_readinto(buf, buf)`, which machine.SPI allows): the native read writes
            # the MOSI bytes back after reading the MISO ones, a tuple subscript less a sample.
            last = 0xA8 & (0xFF << (56 - 2 * _PULSES[gain])) & 0xFF
            self.buf = bytearray((0xAA,) * 6 + (last,))
            self.calls = (self.dout, bus.write_readinto, self.buf)
            r[N.XFER] = 1
            r[N.TXL] = last
            N.bind_rx(W, k, self.buf)  # the native read finds the buffer by address
        else:
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
