"""Sensor readings streamed from a file, for a harness that must leave a small board's heap alone.

Why: `bench.wire_profile` holds the replay's rows and each part model's precomputed outputs
in the heap (~45 kB for 300 rows on the insole; the knee's two MPU-6050 models hold a 14-byte
block per row and range setting). On the emulated Pico W that harness took the room the
firmware needs (the student model's one 16 kB block), and its size would be in the figures.
Here the host writes what each part answers for the same rows to one file: the u16 each ADC
pin reads (`partmodels.DividerAdc`) and the 14 bytes an MPU-6050's burst from ACCEL_XOUT_H
returns (`partmodels.MPU6050Model`'s own register blocks, for each full-scale setting the file
holds). Each reading is then a seek and a read into a buffer made once: the heap holds a file
object and a few small objects, whatever the number of rows, and nothing is allocated per read.

File format ("rows.bin", little-endian): u16 nadc, u16 nimu, u16 nkeys, u32 n; nkeys bytes,
the IMU full-scale settings held (AFS_SEL * 4 + FS_SEL each); then n rows, each the nadc u16
ADC readings followed, per IMU, by nkeys 14-byte bursts (one per setting, in that order).
Columns and IMUs are in the order of `profile["sensors"]`. `stream_table` (CPython, the host)
writes it; `wire_streamed` (the board) reads it.
"""

_HEAD = 10
_BURST = 0x3B  # ACCEL_XOUT_H: a burst from here latches a new sample
_NB = 14  # accel x y z, temperature, gyro x y z: big-endian int16 each
# the full-scale settings gaitfw.drivers.mpu6050 configures: AFS_SEL 2 (+-8 g), FS_SEL 2
# (+-1000 dps), whose counts are the knee board's own (4096 counts/g, 32.8 counts/dps)
FS_KEYS = (2 * 4 + 2,)
ADC_DRIVERS = ("fsr", "bend")


class StreamAdc:
    """`read_u16` of one ADC pin: its column of the file's rows, looping as DividerAdc does."""

    def __init__(self, f, at, stride, n, loop=True):
        self.f = f
        self.at = at  # byte offset of this column in row 0
        self.stride = stride
        self.n = n
        self.loop = loop
        self.i = 0
        self.b = bytearray(2)
        self.stuck = False
        self.open = False

    def read_u16(self):
        if self.open:
            return 65535
        if self.i >= self.n:
            self.i = 0 if self.loop else self.n - 1
        self.f.seek(self.at + self.stride * self.i)
        self.f.readinto(self.b)
        if not self.stuck:
            self.i += 1
        return self.b[0] | (self.b[1] << 8)


class StreamMpu:
    """An MPU-6050 at register level as `partmodels.MPU6050Model` is (WHO_AM_I, sleep at reset,
    the full-scale bits, the burst from ACCEL_XOUT_H latching the next row), its burst data
    read from the file: the same bytes for the same register traffic. A burst at a full-scale
    setting the file does not hold raises ValueError (the harness must be told, not guess)."""

    def __init__(self, f, at, stride, n, keys, loop=True):
        self.f = f
        self.at = at  # byte offset of this IMU's first block in row 0
        self.stride = stride
        self.n = n
        self.slot = [-1] * 16  # AFS_SEL * 4 + FS_SEL -> its block in a row
        for k in range(len(keys)):
            self.slot[keys[k]] = k
        self.loop = loop
        self.i = 0
        self.nack = False
        self.stuck = False
        self.writes = []
        self.reset()

    def reset(self):
        """Brown-out: registers back to their reset values."""
        self.regs = bytearray(128)
        self.regs[0x75] = 0x68
        self.regs[0x6B] = 0x40  # sleep after reset
        self.data = memoryview(self.regs)[_BURST:_BURST + _NB]  # the latched sample, read into

    def asleep(self):
        return bool(self.regs[0x6B] & 0x40)

    def mem_write(self, reg, data):
        for k in range(len(data)):
            self.regs[(reg + k) & 0x7F] = data[k]
            self.writes.append(((reg + k) & 0x7F, data[k]))  # config writes only, never per sample

    def _latch(self):
        regs = self.regs
        if self.asleep():
            for k in range(_NB):
                regs[_BURST + k] = 0
            return
        if self.i >= self.n:
            self.i = 0 if self.loop else self.n - 1
        s = self.slot[((regs[0x1C] >> 3) & 3) * 4 + ((regs[0x1B] >> 3) & 3)]
        if s < 0:
            raise ValueError("MPU-6050 full-scale setting not in the streamed file")
        self.f.seek(self.at + self.stride * self.i + _NB * s)
        self.f.readinto(self.data)
        if not self.stuck:
            self.i += 1

    def mem_read(self, reg, buf):
        if reg == _BURST:  # a burst from ACCEL_XOUT_H takes a fresh sample (the chip's shadow registers)
            self._latch()
            if len(buf) == _NB:  # the driver's burst: one copy in C, nothing allocated
                buf[:] = self.data
                return
        for k in range(len(buf)):
            buf[k] = self.regs[(reg + k) & 0x7F]


def _layout(profile):
    """(ADC sensors, IMU sensors) of the profile, in its order; any other driver: ValueError."""
    adcs, imus = [], []
    for s in profile["sensors"]:
        if s["drv"] in ADC_DRIVERS:
            adcs.append(s)
        elif s["drv"] == "mpu6050":
            imus.append(s)
        else:
            raise ValueError("no streamed model for driver %r" % s["drv"])
    return adcs, imus


def wire_streamed(profile, path, loop=True):
    """The profile's ADC sensors (fsr, bend) and MPU-6050s wired to their place in `path`.
    Returns ({channel: source}, number of rows). Other drivers have no streamed model:
    ValueError (use bench.wire_profile)."""
    import machine

    machine.reset()
    adcs, imus = _layout(profile)
    f = open(path, "rb")
    head = f.read(_HEAD)
    nadc = head[0] | (head[1] << 8)
    nimu = head[2] | (head[3] << 8)
    nkeys = head[4] | (head[5] << 8)
    n = head[6] | (head[7] << 8) | (head[8] << 16) | (head[9] << 24)
    keys = f.read(nkeys)
    if nadc != len(adcs) or nimu != len(imus):
        raise ValueError("%s holds %d ADC columns and %d IMUs for %d and %d" % (path, nadc, nimu, len(adcs), len(imus)))
    base = _HEAD + nkeys
    stride = 2 * nadc + _NB * nkeys * nimu
    bus = profile["i2c"]["id"] if profile.get("i2c") else 0
    models = {}
    for c in range(nadc):
        m = StreamAdc(f, base + 2 * c, stride, n, loop=loop)
        machine.wire_adc(adcs[c]["pin"], m)
        models[adcs[c]["ch"]] = m
    for j in range(nimu):
        s = imus[j]
        m = StreamMpu(f, base + 2 * nadc + _NB * nkeys * j, stride, n, keys, loop=loop)
        machine.wire_i2c(bus, s.get("addr", 0x68), m)
        models[s["ch"]] = m
    return models, n


def stream_table(profile, rows, divider, imu, keys=FS_KEYS):
    """The file's bytes for `rows` (per-sample lists of channel counts), host side (CPython):
    each ADC sensor's readings as `divider` (partmodels.DividerAdc) gives them, each IMU's
    burst blocks as `imu` (partmodels.MPU6050Model) builds them, for the settings `keys`."""
    import struct

    adcs, imus = _layout(profile)
    cols = [divider([r[s["ch"]] for r in rows], s["drv"]).u16 for s in adcs]
    blocks = []
    for s in imus:
        m = imu([r[s["ch"]:s["ch"] + 6] for r in rows])
        blocks.append([m._build(k >> 2, k & 3) for k in keys])
    n = len(rows)
    out = bytearray(struct.pack("<HHHI", len(cols), len(imus), len(keys), n))
    out += bytes(keys)
    for i in range(n):
        for c in cols:
            out += struct.pack("<H", c[i])
        for per_key in blocks:
            for b in per_key:
                out += b[i]
    return bytes(out)
