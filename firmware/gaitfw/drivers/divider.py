"""Resistive sensors through a voltage divider on an ADC: FSR (force) and bend sensor (angle).

Wiring (docs/hardware.md): the FSR sits between 3V3 and the ADC pin with a fixed resistor
to GND; the bend sensor sits between the ADC pin and GND with a fixed resistor to 3V3. In
both cases the ADC reading u (0..65535, `read_u16`) gives

    q = u / (65536 - u)  =  R_fixed / R_fsr  (FSR)   or   R_bend / R_fixed  (bend)

and q is the quantity that is (nearly) linear in the physical one: an FSR's conductance grows
with force, a bend sensor's resistance with angle. So the two-point calibration (two ADC
readings at two known forces or angles, e.g. unloaded / standing weight, 0 / 90 degrees) is
linear in q, not in volts. q is Q14 fixed point clipped at 4.0 (u up to 80 % of full scale:
800 N on the reference FSR, far past 90 degrees on the bend sensor), so with a calibration
span of at most 16000 counts every product stays a 31-bit small int on the ports (no
bigint allocation on the sample path). Q14 resolves about 1 count: 1.1 centidegrees on the
reference bend sensor, 0.02 N on the reference FSR.

Faults: the reading pinned at the top rail (open bend sensor, shorted FSR) for `rail_n`
samples, or stuck at one mid-scale value for `stuck_n` samples. Zero is not a fault: an
unloaded FSR reads 0. The per-sample arithmetic runs in `gaitfw.drvnative` (viper);
`ratio_q14` here is its reference, used for calibration checks.
"""

import machine
from micropython import const

from gaitfw import drvnative as N

_Q_MAX = const(4 << 14)
_U_CLIP = const(52429)  # u / (65536 - u) >= 4.0 from here on; also keeps u << 14 < 2**30


def ratio_q14(u):
    """u / (65536 - u) in Q14, clipped to 4.0."""
    if u <= 0:
        return 0
    if u >= _U_CLIP:
        return _Q_MAX
    q = (u << 14) // (65536 - u)
    return q if q < _Q_MAX else _Q_MAX


def check_cal(cal):
    """(q_a, q_b) of a valid (u_a, out_a, u_b, out_b); ValueError with the reason."""
    if not isinstance(cal, (list, tuple)) or len(cal) != 4:
        raise ValueError("calibration must be [u_a, out_a, u_b, out_b]")
    for x in cal:
        if not isinstance(x, int) or isinstance(x, bool):
            raise ValueError("calibration values must be integers")
    u_a, out_a, u_b, out_b = cal
    if not (0 <= u_a <= 65535 and 0 <= u_b <= 65535):
        raise ValueError("ADC readings must be in 0..65535")
    if not (-32768 <= out_a <= 32767 and -32768 <= out_b <= 32767):
        raise ValueError("calibrated values must be int16 counts")
    q_a = ratio_q14(u_a)
    q_b = ratio_q14(u_b)
    if q_a == q_b:
        raise ValueError("calibration points must read different ADC values")
    if abs(out_b - out_a) > 16000:
        raise ValueError("calibration span over 16000 counts would overflow small ints")
    return q_a, q_b


class DividerSensor:
    """One ADC channel -> one int16 count by two-point calibration on the divider ratio.

    `cal` = (u_a, out_a, u_b, out_b): ADC readings u_a, u_b at two known values out_a, out_b
    (in the board's channel counts: 0.1 N for the insole, 0.01 degree for the knee).
    The state lives in record `k` of `W` (gaitfw.drvnative; BoardHal gives every driver
    a record of one shared W, so all of them are read in one native call); without a W the
    sensor has its own.
    """

    def __init__(self, pin, ch, cal, rail_n=20, stuck_n=200, clip_low=None, W=None, k=0):
        self.adc = machine.ADC(machine.Pin(pin))
        if W is None:
            W, k = N.words(1), 0
        self.W = W
        self.r = r = N.record(W, k)
        N.init_record(r, N.DIVIDER, ch, stuck_n)
        self.k = k  # its record; `calls`: its callables (BoardHal: every driver's, one tuple)
        self.calls = (self.adc.read_u16,)  # bound once: `read` allocates nothing
        self.ch = ch
        self.clip_low = clip_low
        self.set_cal(cal)
        r[N.RAIL_N] = rail_n

    def set_cal(self, cal):
        q_a, q_b = check_cal(cal)
        u_a, out_a, u_b, out_b = cal
        r = self.r
        r[N.Q_A], r[N.OUT_A], r[N.DQ], r[N.DOUT] = q_a, out_a, q_b - q_a, out_b - out_a

    @property
    def clip_low(self):
        return self.r[N.CLIP_LOW] if self.r[N.CLIP] else None

    @clip_low.setter
    def clip_low(self, lo):
        self.r[N.CLIP] = 0 if lo is None else 1
        self.r[N.CLIP_LOW] = 0 if lo is None else lo

    @property
    def u(self):
        """The latest ADC reading (what standing calibration records)."""
        return self.r[N.RAW]

    @property
    def fault(self):
        return bool(self.r[N.FAULT])

    def read(self, sample):
        return N.read_one(self, sample)


def fsr(pin, ch, cal, **kw):
    """An FSR: forces below the first calibration point read as that point (no negatives)."""
    return DividerSensor(pin, ch, cal, clip_low=cal[1], **kw)


def bend(pin, ch, cal, **kw):
    return DividerSensor(pin, ch, cal, **kw)
