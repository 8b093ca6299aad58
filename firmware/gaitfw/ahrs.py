"""Fixed-point 6-axis Madgwick filter for the thigh IMU (hip angle alpha).

Why fixed point: it runs at the IMU rate on both legs; integer math keeps the per-sample
path free of heap allocation (boxed floats) and a viper twin makes it cheap.
Algorithm: Madgwick et al. 2011, IMU form, gradient J^T f as in the `ahrs` package
(`Madgwick.updateIMU`); checked against it on the same input in tests.

Q-formats:
  q       Q28 quaternion (w, x, y, z), state[0..3]
  v       Q14 gravity direction in the sensor frame (2(xz - wy), 2(wx + yz), 1 - 2(x^2 + y^2)),
          state[5..7]: the "up" vector, so hip angle = atan2(vx, vz)
  h       Q18 half-angle increment per sample = 0.5 * omega * dt, from gyro counts * kg >> 15
  ŝ       Q14 normalised gradient; the step is ŝ * kb >> 12 (Q28) with kb = beta*dt*2^26

Word size (issue 15 item 4): every intermediate stays below 2^30 in magnitude (a 31-bit
small int, so the plain twin allocates nothing under MicroPython either, and a viper word on
a 32-bit board never wraps) for ANY int16 sample, and for the +-65535 that offset removal
can hand over, with any gains `gains` accepts. Why it holds:
  - gyro counts are clamped to +-32767 and `gains` refuses kg >= 2^15 (more than 14 degrees
    per sample at full scale), so |g * kg| < 2^30 and |h| < 2^15 (0.125 rad) per axis;
  - the quaternion is renormalised every sample (first order, q *= 1 + e/2 with
    e = 1 - |q|^2; e within +-32767 as before, larger e through e >> 10 so that q * e stays
    small): |q|^2 stays within 1 +- 0.006, so the Q14 q has |q| <= 1.003 * 2^14 and each gyro
    sum (e.g. q1*hx + q2*hy + q3*hz) is at most |q| |h| < 1.003 * 2^14 * sqrt(3) * 2^15
    = 0.87 * 2^30 (Cauchy-Schwarz). One step moves |q|^2 by at most |h|^2 + 2 beta dt + ...
    < 0.05 + 0.035, inside the clamp of e to +-2^25 (0.125 in Q28). Before the fix e was
    clamped to +-32767 (1.2e-4), which cannot undo a full-scale step, so sustained
    full-scale rotation grew q without bound until a state word left int32;
  - accelerometer counts are divided down below 2^14 before squaring (|a|^2 < 3 * 2^28),
    the integer Newton root r is never below floor(sqrt(n2)) >= |a_i| (so each (a << 14) // r
    is at most 2^14 and f at most 2^15), the gradient is divided down below 2^13 before
    squaring, ŝ <= 2^14, and ŝ * kb >> 12 is computed exactly in two parts (kb >> 6 and
    kb & 63), so with kb < 2^20 (`gains`: beta / rate < 1/64) no product reaches 2^28.
tests/boards/test_ahrs_fullscale.py checks the bound (every binary operation of the plain
twin, hypothesis over the whole input range and the extreme gains) and the viper code on
real and emulated 32-bit words.
State: array('i', 8 n): per IMU q0..q3, r (last |a| estimate, Newton seed), vx, vy, vz.
Input: array('i', 8 n): per IMU gx, gy, gz (counts), ax, ay, az (counts), kg, kb.
`step(state, inp, n)` updates n IMUs in one call (the knee board has two thighs).
"""

from array import array

import micropython

from gaitfw.compat import MICROPYTHON, const

if not MICROPYTHON:
    from gaitfw.compat import ptr32  # noqa: F401  (viper annotation on CPython)

_ONE28 = const(268435456)
_GMAX = const(32767)  # gyro counts clamp (offset removal can reach +-65535)
_EMAX = const(33554432)  # |1 - |q|^2| clamp, Q28: 2^25 (one step moves |q|^2 by < 0.09 * 2^28)


def gains(rate_hz, gyro_lsb_per_dps, beta):
    """(kg, kb) integer gains for a rate, a gyro scale and the Madgwick beta (float, once)."""
    kg = int(0.5 * (3.141592653589793 / 180.0) / gyro_lsb_per_dps / rate_hz * (1 << 18) * (1 << 15) + 0.5)
    kb = int(beta / rate_hz * (1 << 26) + 0.5)
    if not 0 <= kg < 32768:  # |h| < 2^15 per axis: the word-size bound above needs it
        raise ValueError("ahrs: gyro full scale turns more than 14 degrees per sample; "
                         "raise the rate or narrow the gyro range")
    if not 0 <= kb < 1048576:  # ŝ * (kb >> 6) < 2^28; one step moves |q|^2 by < 0.09
        raise ValueError("ahrs: beta / rate_hz must stay below 1/64")
    return kg, kb


def _step_plain(st, inp, n):
    for leg in range(n):
        b = 8 * leg
        q0 = st[b + 0] >> 14
        q1 = st[b + 1] >> 14
        q2 = st[b + 2] >> 14
        q3 = st[b + 3] >> 14
        kg = inp[b + 6]
        gx = inp[b + 0]
        gy = inp[b + 1]
        gz = inp[b + 2]
        if gx > _GMAX:
            gx = _GMAX
        elif gx < -_GMAX:
            gx = -_GMAX
        if gy > _GMAX:
            gy = _GMAX
        elif gy < -_GMAX:
            gy = -_GMAX
        if gz > _GMAX:
            gz = _GMAX
        elif gz < -_GMAX:
            gz = -_GMAX
        hx = (gx * kg) >> 15
        hy = (gy * kg) >> 15
        hz = (gz * kg) >> 15
        d0 = (-q1 * hx - q2 * hy - q3 * hz) >> 4
        d1 = (q0 * hx + q2 * hz - q3 * hy) >> 4
        d2 = (q0 * hy - q1 * hz + q3 * hx) >> 4
        d3 = (q0 * hz + q1 * hy - q2 * hx) >> 4
        ax = inp[b + 3]
        ay = inp[b + 4]
        az = inp[b + 5]
        if ax or ay or az:
            m = ax if ax > 0 else -ax
            t = ay if ay > 0 else -ay
            if t > m:
                m = t
            t = az if az > 0 else -az
            if t > m:
                m = t
            if m >= 16384:
                k = (m >> 14) + 1
                ax = ax // k
                ay = ay // k
                az = az // k
            n2 = ax * ax + ay * ay + az * az
            r = st[b + 4]
            if r < 64:
                r = 4096
            r = (r + n2 // r) >> 1
            r = (r + n2 // r) >> 1
            r = (r + n2 // r) >> 1
            r = (r + n2 // r) >> 1
            if r < 1:
                r = 1
            st[b + 4] = r
            f0 = st[b + 5] - (ax << 14) // r
            f1 = st[b + 6] - (ay << 14) // r
            f2 = st[b + 7] - (az << 14) // r
            p0 = q0 >> 2
            p1 = q1 >> 2
            p2 = q2 >> 2
            p3 = q3 >> 2
            s0 = p1 * f1 - p2 * f0
            s1 = p3 * f0 + p0 * f1 - 2 * p1 * f2
            s2 = p3 * f1 - p0 * f0 - 2 * p2 * f2
            s3 = p1 * f0 + p2 * f1
            m = s0 if s0 > 0 else -s0
            t = s1 if s1 > 0 else -s1
            if t > m:
                m = t
            t = s2 if s2 > 0 else -s2
            if t > m:
                m = t
            t = s3 if s3 > 0 else -s3
            if t > m:
                m = t
            if m > 256:
                k = (m >> 13) + 1
                s0 = s0 // k
                s1 = s1 // k
                s2 = s2 // k
                s3 = s3 // k
                n2 = s0 * s0 + s1 * s1 + s2 * s2 + s3 * s3
                r = 8192
                r = (r + n2 // r) >> 1
                r = (r + n2 // r) >> 1
                r = (r + n2 // r) >> 1
                r = (r + n2 // r) >> 1
                kb = inp[b + 7]
                kh = kb >> 6  # s * kb >> 12 as (s * kh + (s * kl >> 6)) >> 6: exact, < 2^30
                kl = kb & 63
                u = (s0 << 14) // r
                d0 -= (u * kh + ((u * kl) >> 6)) >> 6
                u = (s1 << 14) // r
                d1 -= (u * kh + ((u * kl) >> 6)) >> 6
                u = (s2 << 14) // r
                d2 -= (u * kh + ((u * kl) >> 6)) >> 6
                u = (s3 << 14) // r
                d3 -= (u * kh + ((u * kl) >> 6)) >> 6
        a0 = st[b + 0] + d0
        a1 = st[b + 1] + d1
        a2 = st[b + 2] + d2
        a3 = st[b + 3] + d3
        q0 = a0 >> 14
        q1 = a1 >> 14
        q2 = a2 >> 14
        q3 = a3 >> 14
        e = _ONE28 - (q0 * q0 + q1 * q1 + q2 * q2 + q3 * q3)
        sh = 15
        if e > 32767 or e < -32767:
            if e > _EMAX:
                e = _EMAX
            elif e < -_EMAX:
                e = -_EMAX
            e >>= 10
            sh = 5
        a0 += (q0 * e) >> sh
        a1 += (q1 * e) >> sh
        a2 += (q2 * e) >> sh
        a3 += (q3 * e) >> sh
        st[b + 0] = a0
        st[b + 1] = a1
        st[b + 2] = a2
        st[b + 3] = a3
        q0 = a0 >> 14
        q1 = a1 >> 14
        q2 = a2 >> 14
        q3 = a3 >> 14
        st[b + 5] = (q1 * q3 - q0 * q2) >> 13
        st[b + 6] = (q0 * q1 + q2 * q3) >> 13
        st[b + 7] = (_ONE28 - 2 * (q1 * q1 + q2 * q2)) >> 14
    return 0


# Viper twin: same arithmetic. ptr32 loads are zero-extended on a 64-bit port (the Unix build
# used in tests), so each load is sign-extended by `(x << sx) >> sx` with sx = 32 there and 0
# on a 32-bit board (where the load is already signed).
_SX = 32 if __import__("sys").maxsize > (1 << 32) else 0


@micropython.viper
def _step_viper(st: ptr32, inp: ptr32, n: int) -> int:
    sx = int(_SX)
    for leg in range(n):
        b = 8 * leg
        s0_ = int(st[b + 0])
        s1_ = int(st[b + 1])
        s2_ = int(st[b + 2])
        s3_ = int(st[b + 3])
        s0_ = (s0_ << sx) >> sx
        s1_ = (s1_ << sx) >> sx
        s2_ = (s2_ << sx) >> sx
        s3_ = (s3_ << sx) >> sx
        q0 = s0_ >> 14
        q1 = s1_ >> 14
        q2 = s2_ >> 14
        q3 = s3_ >> 14
        kg = int(inp[b + 6])
        kg = (kg << sx) >> sx
        gx = int(inp[b + 0])
        gy = int(inp[b + 1])
        gz = int(inp[b + 2])
        gx = (gx << sx) >> sx
        gy = (gy << sx) >> sx
        gz = (gz << sx) >> sx
        if gx > 32767:
            gx = 32767
        elif gx < -32767:
            gx = -32767
        if gy > 32767:
            gy = 32767
        elif gy < -32767:
            gy = -32767
        if gz > 32767:
            gz = 32767
        elif gz < -32767:
            gz = -32767
        hx = (gx * kg) >> 15
        hy = (gy * kg) >> 15
        hz = (gz * kg) >> 15
        d0 = (0 - q1 * hx - q2 * hy - q3 * hz) >> 4
        d1 = (q0 * hx + q2 * hz - q3 * hy) >> 4
        d2 = (q0 * hy - q1 * hz + q3 * hx) >> 4
        d3 = (q0 * hz + q1 * hy - q2 * hx) >> 4
        ax = int(inp[b + 3])
        ay = int(inp[b + 4])
        az = int(inp[b + 5])
        ax = (ax << sx) >> sx
        ay = (ay << sx) >> sx
        az = (az << sx) >> sx
        if ax != 0 or ay != 0 or az != 0:
            m = ax if ax > 0 else 0 - ax
            t = ay if ay > 0 else 0 - ay
            if t > m:
                m = t
            t = az if az > 0 else 0 - az
            if t > m:
                m = t
            if m >= 16384:
                k = (m >> 14) + 1
                ax = ax // k
                ay = ay // k
                az = az // k
            n2 = ax * ax + ay * ay + az * az
            r = int(st[b + 4])
            r = (r << sx) >> sx
            if r < 64:
                r = 4096
            r = (r + n2 // r) >> 1
            r = (r + n2 // r) >> 1
            r = (r + n2 // r) >> 1
            r = (r + n2 // r) >> 1
            if r < 1:
                r = 1
            st[b + 4] = r
            v5 = int(st[b + 5])
            v6 = int(st[b + 6])
            v7 = int(st[b + 7])
            v5 = (v5 << sx) >> sx
            v6 = (v6 << sx) >> sx
            v7 = (v7 << sx) >> sx
            f0 = v5 - (ax << 14) // r
            f1 = v6 - (ay << 14) // r
            f2 = v7 - (az << 14) // r
            p0 = q0 >> 2
            p1 = q1 >> 2
            p2 = q2 >> 2
            p3 = q3 >> 2
            g0 = p1 * f1 - p2 * f0
            g1 = p3 * f0 + p0 * f1 - 2 * p1 * f2
            g2 = p3 * f1 - p0 * f0 - 2 * p2 * f2
            g3 = p1 * f0 + p2 * f1
            m = g0 if g0 > 0 else 0 - g0
            t = g1 if g1 > 0 else 0 - g1
            if t > m:
                m = t
            t = g2 if g2 > 0 else 0 - g2
            if t > m:
                m = t
            t = g3 if g3 > 0 else 0 - g3
            if t > m:
                m = t
            if m > 256:
                k = (m >> 13) + 1
                g0 = g0 // k
                g1 = g1 // k
                g2 = g2 // k
                g3 = g3 // k
                n2 = g0 * g0 + g1 * g1 + g2 * g2 + g3 * g3
                r = 8192
                r = (r + n2 // r) >> 1
                r = (r + n2 // r) >> 1
                r = (r + n2 // r) >> 1
                r = (r + n2 // r) >> 1
                kb = int(inp[b + 7])
                kb = (kb << sx) >> sx
                kh = kb >> 6  # s * kb >> 12 as (s * kh + (s * kl >> 6)) >> 6: exact, < 2^30
                kl = kb & 63
                u = (g0 << 14) // r
                d0 -= (u * kh + ((u * kl) >> 6)) >> 6
                u = (g1 << 14) // r
                d1 -= (u * kh + ((u * kl) >> 6)) >> 6
                u = (g2 << 14) // r
                d2 -= (u * kh + ((u * kl) >> 6)) >> 6
                u = (g3 << 14) // r
                d3 -= (u * kh + ((u * kl) >> 6)) >> 6
        a0 = s0_ + d0
        a1 = s1_ + d1
        a2 = s2_ + d2
        a3 = s3_ + d3
        q0 = a0 >> 14
        q1 = a1 >> 14
        q2 = a2 >> 14
        q3 = a3 >> 14
        e = 268435456 - (q0 * q0 + q1 * q1 + q2 * q2 + q3 * q3)
        sh = 15
        if e > 32767 or e < -32767:
            if e > 33554432:
                e = 33554432
            elif e < -33554432:
                e = -33554432
            e = e >> 10
            sh = 5
        a0 += (q0 * e) >> sh
        a1 += (q1 * e) >> sh
        a2 += (q2 * e) >> sh
        a3 += (q3 * e) >> sh
        st[b + 0] = a0
        st[b + 1] = a1
        st[b + 2] = a2
        st[b + 3] = a3
        q0 = a0 >> 14
        q1 = a1 >> 14
        q2 = a2 >> 14
        q3 = a3 >> 14
        st[b + 5] = (q1 * q3 - q0 * q2) >> 13
        st[b + 6] = (q0 * q1 + q2 * q3) >> 13
        st[b + 7] = (268435456 - 2 * (q1 * q1 + q2 * q2)) >> 14
    return 0


step = _step_viper if MICROPYTHON else _step_plain


class Madgwick6:
    """One IMU's orientation; `update` per sample, then `state[5]`/`state[7]` give the up vector."""

    def __init__(self, rate_hz, gyro_lsb_per_dps, beta=0.033, viper=True):
        self.state = array("i", [0] * 8)
        self.inp = array("i", [0] * 8)
        kg, kb = gains(rate_hz, gyro_lsb_per_dps, beta)
        self.inp[6] = kg
        self.inp[7] = kb
        self._step = step if viper else _step_plain
        self.reset()

    def reset(self):
        """Identity orientation: the thigh upright, as after standing calibration."""
        st = self.state
        st[0] = _ONE28
        st[1] = st[2] = st[3] = 0
        st[4] = 4096
        st[5] = st[6] = 0
        st[7] = 16384

    def update(self, gx, gy, gz, ax, ay, az):
        inp = self.inp
        inp[0] = gx
        inp[1] = gy
        inp[2] = gz
        inp[3] = ax
        inp[4] = ay
        inp[5] = az
        self._step(self.state, inp, 1)
