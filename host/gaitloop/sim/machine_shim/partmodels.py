"""Part models behind the `machine` stand-in: they answer like the real chips (tests only).

- `HX711Model`: bit level. DOUT low = ready; each PD_SCK rising edge shifts out the next bit
  of the 24-bit two's complement conversion, MSB first; the pulses after the 24th (1-3) pick
  the gain of the next conversion, DOUT then goes high until the next conversion. Values
  come from a list of forces through `counts_per_unit` at gain 128 (halved at 64, /4 at 32).
- `MPU6050Model`: register level (register map rev 4.2): WHO_AM_I, PWR_MGMT_1 (sleeps at
  reset: data registers read 0), GYRO/ACCEL_CONFIG full-scale bits, and the 14-byte burst
  from 0x3B. Each burst read takes the next row of a motion given in the knee board's counts
  (4096 counts/g, 32.8 counts/dps) and rescales it to the configured range, saturating.
- `DividerAdc`: a voltage divider on an ADC pin fed by a series of forces or angles, as
  docs/hardware.md wires them (FSR conductance or bend resistance linear in the quantity).

Fault switches on every model: `nack` (I2C), `stuck` (same output forever), `never_ready`.
"""

_ACC_LSB = (16384, 8192, 4096, 2048)  # counts per g at AFS_SEL 0..3
_GYR_LSB10 = (1310, 655, 328, 164)  # 10 x counts per dps at FS_SEL 0..3


def _sat16(v):
    v = int(round(v))
    return 32767 if v > 32767 else -32768 if v < -32768 else v


_GAIN_AFTER = (128, 32, 64)  # gain picked by 25, 26, 27 pulses


class HX711Model:
    def __init__(self, values, counts_per_unit=1.0, offset=0, loop=True):
        self.cpu = counts_per_unit
        self.offset = offset
        self.play(values)
        self.loop = loop
        self.gain = 128
        self.ready = False
        self.word = 0
        self.pulses = 0
        self.sck = 0
        self.never_ready = False
        self.stuck = False
        self.not_ready_polls = 0  # polls of DOUT answered "busy" before each conversion
        self._busy = 0
        self.n_conversions = 0  # words fully shifted out

    def play(self, values):
        """The cell's load from now on (a wearer who stands up and walks, in tests)."""
        counts_per_unit, offset = self.cpu, self.offset
        self.words = {}
        for gain, scale in ((128, 1.0), (64, 0.5), (32, 0.25)):
            w = []
            for x in values:
                v = int(round((x * counts_per_unit + offset) * scale))
                w.append(max(-0x800000, min(0x7FFFFF, v)) & 0xFFFFFF)
            self.words[gain] = w
        self.n = len(values)
        self.i = 0

    def _convert(self):
        if self.i >= self.n:
            self.i = 0 if self.loop else self.n - 1
        self.word = self.words[self.gain][self.i]
        if not self.stuck:
            self.i += 1
        self.pulses = 0
        self.ready = True

    def pin_read(self, role):
        if role == "miso":  # the line as the SPI samples it mid-transfer: no poll, no side effect
            if self.never_ready or not self.ready or self.pulses > 24:
                return 1
            if self.pulses == 0:
                return 0
            return (self.word >> (24 - self.pulses)) & 1
        if role != "dout":
            return self.sck
        if self.never_ready:
            return 1
        if self.pulses >= 25:  # this conversion was read: busy until the next one
            if self._busy > 0:
                self._busy -= 1
                return 1
            self._convert()
        elif not self.ready:
            self._convert()
        if self.pulses == 0:
            return 0  # ready, no bit clocked yet
        if self.pulses <= 24:
            return (self.word >> (24 - self.pulses)) & 1
        return 1

    def pin_write(self, role, v):
        if role != "sck":
            return
        rising = v and not self.sck
        self.sck = v
        if not rising or self.never_ready or not self.ready:
            return
        self.pulses += 1
        if self.pulses == 24:
            self.n_conversions += 1
        elif self.pulses > 24:
            self.gain = _GAIN_AFTER[min(self.pulses, 27) - 25]
            if self.pulses == 25:
                self._busy = self.not_ready_polls


class MPU6050Model:
    def __init__(self, rows, loop=True):
        """rows: (ax, ay, az, gx, gy, gz) in 4096 counts/g and 32.8 counts/dps."""
        self.rows = [tuple(r) for r in rows]
        self.loop = loop
        self.i = 0
        self.regs = bytearray(128)
        self.regs[0x75] = 0x68
        self.regs[0x6B] = 0x40  # sleep after reset
        self.nack = False
        self.stuck = False
        self.writes = []
        self._cache = {}
        self.temp_raw = int((25.0 - 36.53) * 340)

    def play(self, rows):
        """The thigh's motion from now on (tests: a wearer who starts walking)."""
        self.rows = [tuple(r) for r in rows]
        self._cache = {}
        self.i = 0

    def asleep(self):
        return bool(self.regs[0x6B] & 0x40)

    def reset(self):
        """Brown-out: registers back to their reset values."""
        self.regs = bytearray(128)
        self.regs[0x75] = 0x68
        self.regs[0x6B] = 0x40

    def mem_write(self, reg, data):
        for k in range(len(data)):
            self.regs[(reg + k) & 0x7F] = data[k]
            self.writes.append(((reg + k) & 0x7F, data[k]))  # config writes only, never per sample

    def _blocks_for(self, afs, gfs):
        key = afs * 4 + gfs
        blocks = self._cache.get(key)
        if blocks is None:  # once per range setting: the per-read path only copies bytes
            blocks = self._cache[key] = self._build(afs, gfs)
        return blocks

    def _build(self, afs, gfs):
        # kept apart from _blocks_for: comprehensions closing over afs/gfs would make them
        # cells, allocated on every call
        blocks = []
        ka = _ACC_LSB[afs] / 4096.0
        kg = _GYR_LSB10[gfs] / 328.0
        for ax, ay, az, gx, gy, gz in self.rows:
            words = (_sat16(ax * ka), _sat16(ay * ka), _sat16(az * ka), self.temp_raw,
                     _sat16(gx * kg), _sat16(gy * kg), _sat16(gz * kg))
            blk = bytearray(14)
            for k in range(7):
                blk[2 * k] = (words[k] >> 8) & 0xFF
                blk[2 * k + 1] = words[k] & 0xFF
            blocks.append(blk)
        return blocks

    def _latch(self):
        regs = self.regs
        if self.asleep():
            for k in range(14):
                regs[0x3B + k] = 0
            return
        if self.i >= len(self.rows):
            self.i = 0 if self.loop else len(self.rows) - 1
        blk = self._blocks_for((regs[0x1C] >> 3) & 3, (regs[0x1B] >> 3) & 3)[self.i]
        if not self.stuck:
            self.i += 1
        for k in range(14):
            regs[0x3B + k] = blk[k]

    def mem_read(self, reg, buf):
        if reg == 0x3B:  # a burst from ACCEL_XOUT_H takes a fresh sample (the chip's shadow registers)
            self._latch()
        for k in range(len(buf)):
            buf[k] = self.regs[(reg + k) & 0x7F]


class DividerAdc:
    """u16 at the ADC pin: `kind` "fsr" (FSR to 3V3, r_fixed to GND, conductance = force / k_n_per_s)
    or "bend" (bend sensor to GND, r_fixed to 3V3, R = r_flat + ohm_per_unit * value)."""

    def __init__(self, values, kind, r_fixed=10000.0, k=2.0e7, r_flat=5000.0, ohm_per_unit=0.5556, loop=True):
        self.values = list(values)
        self.kind = kind
        self.rf = r_fixed
        self.k = k
        self.r_flat = r_flat
        self.per = ohm_per_unit
        self.loop = loop
        self.i = 0
        self.stuck = False
        self.u16 = [self.u16_for(v) for v in self.values]
        self.open = False  # wire off: bend -> top rail; FSR shorted reads the rail too

    def play(self, values):
        """The sensor's force or angle from now on (tests: a wearer who starts walking)."""
        self.values = list(values)
        self.u16 = [self.u16_for(v) for v in self.values]
        self.i = 0

    def u16_for(self, value):
        if self.kind == "fsr":
            g = max(value, 0.0) / self.k  # siemens
            if g <= 0:
                return 0
            r = 1.0 / g
            frac = self.rf / (self.rf + r)
        else:
            r = self.r_flat + self.per * value
            frac = r / (r + self.rf)
        return int(round(frac * 65535))

    def read_u16(self):
        if self.open:
            return 65535
        if self.i >= len(self.values):
            self.i = 0 if self.loop else len(self.values) - 1
        u = self.u16[self.i]
        if not self.stuck:
            self.i += 1
        return u
