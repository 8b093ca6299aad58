"""MPU-6050 6-axis IMU over I2C (InvenSense register map rev 4.2).

Registers used: WHO_AM_I 0x75 (reads 0x68 whatever the AD0 pin), PWR_MGMT_1 0x6B (reset
value 0x40 = sleep; we write 0x01: awake, clock from the X gyro PLL), SMPLRT_DIV 0x19 and
CONFIG 0x1A (1 kHz / (1 + 9) = 100 Hz with the 44 Hz low-pass), GYRO_CONFIG 0x1B and
ACCEL_CONFIG 0x1C (full scale in bits 4:3), and one 14-byte burst from ACCEL_XOUT_H 0x3B:
accel x y z, temperature, gyro x y z, each big-endian int16.

The knee board's channels want +-8 g (4096 counts/g) and +-1000 dps (32.8 counts/dps):
full-scale codes 2 and 2, so counts pass through unscaled. `orient` maps the chip's axes to
the thigh frame (x forward, y left, z up): three signed 1-based axis numbers, e.g.
(2, -1, 3) = thigh x is chip +y, thigh y is chip -x.

Faults: an OSError from the bus (no ACK: the chip is unplugged or browned out) or all six
values identical for `stuck_n` reads. A fault keeps the last values and retries next sample;
after a NACK the chip is woken again once it answers (a brown-out resets it to sleep).
"""

from micropython import const

from gaitfw import drvnative as N

WHO_AM_I = const(0x75)
WHO_AM_I_VALUE = const(0x68)
PWR_MGMT_1 = const(0x6B)
SMPLRT_DIV = const(0x19)
CONFIG = const(0x1A)
GYRO_CONFIG = const(0x1B)
ACCEL_CONFIG = const(0x1C)
ACCEL_XOUT_H = const(0x3B)


ImuError = N.ImuError  # raised by `init` for a device that is not an MPU-6050


class MPU6050:
    """Fills 6 channels from `ch`: ax, ay, az, gx, gy, gz (thigh frame).

    State in record `k` of `W` (gaitfw.drvnative reads the burst, unpacks and orients
    it natively; BoardHal shares one W among its drivers); without a W the driver has its own."""

    def __init__(self, i2c, ch, addr=0x68, accel_fs=2, gyro_fs=2, orient=(1, 2, 3), stuck_n=50, W=None, k=0):
        self.i2c = i2c
        self.addr = addr
        self.ch = ch
        self.accel_fs = accel_fs
        self.gyro_fs = gyro_fs
        for a in orient:
            if abs(a) not in (1, 2, 3):
                raise ValueError("orient holds signed axis numbers 1..3")
        if sorted(abs(a) for a in orient) != [1, 2, 3]:
            raise ValueError("orient must use each axis once")
        if W is None:
            W, k = N.words(1), 0
        self.W = W
        self.r = r = N.record(W, k)
        N.init_record(r, N.MPU6050, ch, stuck_n)
        for i in range(3):
            r[N.SRC + i] = abs(orient[i]) - 1
            r[N.NEG + i] = 1 if orient[i] < 0 else 0
        r[N.NEED_INIT] = 1
        self.buf = bytearray(14)
        self.one = bytearray(1)
        self.k = k  # its record; `calls`: its callables (BoardHal: every driver's, one tuple)
        self.calls = (self.init, i2c.readfrom_mem_into, addr, self.buf)

    def init(self):
        """Check identity and configure; raises ImuError / OSError (called at boot and after NACKs)."""
        i2c, a = self.i2c, self.addr
        i2c.readfrom_mem_into(a, WHO_AM_I, self.one)
        if self.one[0] != WHO_AM_I_VALUE:
            raise ImuError("0x%02x: WHO_AM_I 0x%02x, not an MPU-6050" % (a, self.one[0]))
        i2c.writeto_mem(a, PWR_MGMT_1, b"\x01")
        i2c.writeto_mem(a, SMPLRT_DIV, b"\x09")
        i2c.writeto_mem(a, CONFIG, b"\x03")
        i2c.writeto_mem(a, GYRO_CONFIG, bytes((self.gyro_fs << 3,)))
        i2c.writeto_mem(a, ACCEL_CONFIG, bytes((self.accel_fs << 3,)))
        self.r[N.NEED_INIT] = 0

    @property
    def nacks(self):
        return self.r[N.NACKS]

    @property
    def fault(self):
        return bool(self.r[N.FAULT])

    def read(self, sample):
        return N.read_one(self, sample)

    def temp_cdeg(self):
        """Die temperature in 0.01 degC (datasheet: T = raw / 340 + 36.53)."""
        return self.r[N.TEMP] * 100 // 340 + 3653
