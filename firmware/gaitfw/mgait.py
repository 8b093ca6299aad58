"""MGait on the knee sleeve: calibration, eq. 1 smoothing, angles, events, step length, RLS.

Why this shape (paper: An et al., ACM TIOT 2021): per sample (100 Hz) only integer work --
offset removal, a fixed-point Madgwick step per thigh IMU (gaitfw.ahrs) and block sums for
the paper's eq. 1 smoothing/decimation to 25 Hz (M = 4, a 2M-sample boxcar every M samples).
Per 25 Hz tick: hip angle alpha = atan2 of the smoothed up-vector, knee angle beta from the
bend sensor through a two-point calibration, then the event state machine
(gaitfw.mgait_events). Per step: the closed form (eq. 6) with a Q14 sine table, stride,
speed over five strides, stance/swing, the feedback rules and (in calibration mode) RLS.

Units on the per-sample path: counts (int16), Q28/Q14 (see ahrs), centidegrees (cdeg) for
angles, mm and ms. The standing calibration (first `cal_s` seconds, user upright and still,
paper Sec. 4.1) takes median offsets once; its buffer is allocated at construction.

After 1 s with both thighs still and upright, the filter's tilt is re-aligned from gravity
(`_realign`). STATUS bits 16-23 (owner MGait, until protocol.py defines them): the ST_MG_*
constants below.
"""

from array import array

import micropython

from gaitfw import ahrs
from gaitfw.compat import MICROPYTHON, const
from gaitfw.events import (
    EV_MG_CALIB,
    EV_MG_FO,
    EV_MG_IC,
    EV_MG_RLS_D5,
    EV_MG_RLS_DONE,
    EV_MG_RLS_STEP,
    EV_MG_SPEED,
    EV_MG_STANCE,
    EV_MG_STEP,
    EV_MG_STEP_LOST,
    EV_MG_STEP_REJECT,
    EV_MG_STRIDE,
)
from gaitfw.mgait_events import GaitEvents
from gaitfw.mgait_trig import ATAN_TAB, sin_cd

if not MICROPYTHON:
    from gaitfw.compat import ptr16, ptr32  # noqa: F401  (viper annotations on CPython)

ST_MG_CALIBRATING = 1 << 16  # standing calibration in progress
ST_MG_CAL_MOTION = 1 << 17  # the user moved during standing calibration (offsets doubtful)
ST_MG_SATURATED = 1 << 18  # an IMU or bend channel hit the int16 rail
ST_MG_DROPOUT = 1 << 19  # an IMU read all zeros or froze (identical gyro samples)
ST_MG_STEP_LOST = 1 << 20  # step sequence broken (timeout or resync) since the last good step
ST_MG_RLS = 1 << 21  # RLS calibration walk in progress
ST_MG_BAD_STEP = 1 << 22  # last step rejected (saturation, dropout or out of range)

_NCH = const(7)  # channels per leg
_RAIL = const(32000)
_FREEZE = const(10)  # identical gyro samples that count as a frozen sensor
_STILL_DPS = const(100)  # |gx|+|gy|+|gz| below this many counts (~3 dps) on both legs = still
_STILL_N = const(100)  # still samples (1 s) before a static re-alignment
_NRING = const(11)  # IC ring: ten steps = five strides

# ---------------------------------------------------------------- per-sample kernels
# w (array 'i', 23): [0..13] offsets per channel, [14..19] last gyro x/y/z per leg,
# [20..21] identical-gyro run length per leg, [22] run length of "both thighs still".
# Returns flags: 1 saturated, 2 dropout, 4 still for exactly _STILL_N samples.
def _pre_plain(s, w, inp):
    flags = 0
    still = 1
    for leg in range(2):
        o = 7 * leg
        b = 8 * leg
        ax = s[o + 1]
        ay = s[o + 2]
        az = s[o + 3]
        gx = s[o + 4]
        gy = s[o + 5]
        gz = s[o + 6]
        bd = s[o]
        if (ax > _RAIL or ax < -_RAIL or ay > _RAIL or ay < -_RAIL or az > _RAIL or az < -_RAIL
                or gx > _RAIL or gx < -_RAIL or gy > _RAIL or gy < -_RAIL or gz > _RAIL or gz < -_RAIL
                or bd > _RAIL or bd < -_RAIL):
            flags |= 1
        if ax == 0 and ay == 0 and az == 0:
            flags |= 2
        j = 14 + 3 * leg
        if gx == w[j] and gy == w[j + 1] and gz == w[j + 2]:
            w[20 + leg] += 1
            if w[20 + leg] >= _FREEZE:
                flags |= 2
        else:
            w[20 + leg] = 0
            w[j] = gx
            w[j + 1] = gy
            w[j + 2] = gz
        inp[b] = gx - w[o + 4]
        inp[b + 1] = gy - w[o + 5]
        inp[b + 2] = gz - w[o + 6]
        m = inp[b]
        if m < 0:
            m = -m
        t = inp[b + 1]
        m += t if t > 0 else -t
        t = inp[b + 2]
        m += t if t > 0 else -t
        if m >= _STILL_DPS:
            still = 0
        if ax == 0 and ay == 0 and az == 0:
            inp[b + 3] = 0
            inp[b + 4] = 0
            inp[b + 5] = 0
        else:
            inp[b + 3] = ax - w[o + 1]
            inp[b + 4] = ay - w[o + 2]
            inp[b + 5] = az - w[o + 3]
    if still and not flags:
        w[22] += 1
        if w[22] == _STILL_N:
            flags |= 4
    else:
        w[22] = 0
    return flags


# cur (array 'i', 8): the block sums (vx, vz, bend per leg), then [6] samples in the block and
# [7] M. Returns 1 when the block is complete (the 25 Hz tick is due; the count restarts).
def _post_plain(st, s, cur):
    cur[0] += st[5]
    cur[1] += st[7]
    cur[2] += s[0]
    cur[3] += st[13]
    cur[4] += st[15]
    cur[5] += s[7]
    k = cur[6] + 1
    if k >= cur[7]:
        cur[6] = 0
        return 1
    cur[6] = k
    return 0


# int16 loads through ptr16 are zero-extended: (v ^ 0x8000) - 0x8000 restores the sign on any
# word size; ptr32 loads need `(v << sx) >> sx` on a 64-bit port only (see gaitfw.ahrs).
@micropython.viper
def _pre_viper(s: ptr16, w: ptr32, inp: ptr32) -> int:
    sx = int(ahrs._SX)
    flags = 0
    still = 1
    for leg in range(2):
        o = 7 * leg
        b = 8 * leg
        ax = (int(s[o + 1]) ^ 0x8000) - 0x8000
        ay = (int(s[o + 2]) ^ 0x8000) - 0x8000
        az = (int(s[o + 3]) ^ 0x8000) - 0x8000
        gx = (int(s[o + 4]) ^ 0x8000) - 0x8000
        gy = (int(s[o + 5]) ^ 0x8000) - 0x8000
        gz = (int(s[o + 6]) ^ 0x8000) - 0x8000
        bd = (int(s[o]) ^ 0x8000) - 0x8000
        if (ax > 32000 or ax < -32000 or ay > 32000 or ay < -32000 or az > 32000 or az < -32000
                or gx > 32000 or gx < -32000 or gy > 32000 or gy < -32000 or gz > 32000 or gz < -32000
                or bd > 32000 or bd < -32000):
            flags |= 1
        zero = ax == 0 and ay == 0 and az == 0
        if zero:
            flags |= 2
        j = 14 + 3 * leg
        lx = (int(w[j]) << sx) >> sx
        ly = (int(w[j + 1]) << sx) >> sx
        lz = (int(w[j + 2]) << sx) >> sx
        if gx == lx and gy == ly and gz == lz:
            fr = int(w[20 + leg]) + 1
            w[20 + leg] = fr
            if fr >= 10:
                flags |= 2
        else:
            w[20 + leg] = 0
            w[j] = gx
            w[j + 1] = gy
            w[j + 2] = gz
        g0 = gx - ((int(w[o + 4]) << sx) >> sx)
        g1 = gy - ((int(w[o + 5]) << sx) >> sx)
        g2 = gz - ((int(w[o + 6]) << sx) >> sx)
        inp[b] = g0
        inp[b + 1] = g1
        inp[b + 2] = g2
        m = g0 if g0 > 0 else 0 - g0
        m += g1 if g1 > 0 else 0 - g1
        m += g2 if g2 > 0 else 0 - g2
        if m >= 100:
            still = 0
        if zero:
            inp[b + 3] = 0
            inp[b + 4] = 0
            inp[b + 5] = 0
        else:
            inp[b + 3] = ax - ((int(w[o + 1]) << sx) >> sx)
            inp[b + 4] = ay - ((int(w[o + 2]) << sx) >> sx)
            inp[b + 5] = az - ((int(w[o + 3]) << sx) >> sx)
    if still and flags == 0:
        n = int(w[22]) + 1
        w[22] = n
        if n == 100:
            flags |= 4
    else:
        w[22] = 0
    return flags


@micropython.viper
def _post_viper(st: ptr32, s: ptr16, cur: ptr32) -> int:
    sx = int(ahrs._SX)
    cur[0] = ((int(cur[0]) << sx) >> sx) + ((int(st[5]) << sx) >> sx)
    cur[1] = ((int(cur[1]) << sx) >> sx) + ((int(st[7]) << sx) >> sx)
    cur[2] = ((int(cur[2]) << sx) >> sx) + (int(s[0]) ^ 0x8000) - 0x8000
    cur[3] = ((int(cur[3]) << sx) >> sx) + ((int(st[13]) << sx) >> sx)
    cur[4] = ((int(cur[4]) << sx) >> sx) + ((int(st[15]) << sx) >> sx)
    cur[5] = ((int(cur[5]) << sx) >> sx) + (int(s[7]) ^ 0x8000) - 0x8000
    k = int(cur[6]) + 1
    if k >= int(cur[7]):
        cur[6] = 0
        return 1
    cur[6] = k
    return 0


# One sample of both thighs in one native call (MGait.feed on the board): `_pre_viper`,
# `ahrs._step_viper` and `_post_viper` on the words of one array K, where three calls cost
# ~1 900 instructions a sample in buffer conversions and call overhead and `feed` looked up
# nine attributes for them. Viper has no inlining: the bodies of `_pre_viper` and
# `ahrs._step_viper` are copied here verbatim (tests/firmware/test_mgait_sample.py keeps the
# copies true); `_post_viper`'s is written out with "tick due" as a flag.
# K (array 'i', _K_WORDS): w (23, `_pre_plain`), inp (16) and state (16) of gaitfw.ahrs, cur (8,
# `_post_plain`), then the mode (0: run; 1: standing calibration, the kernel answers 16 at
# once; 2: `_pre` already ran, the filter was re-aligned, go on from the step) and ahrs._SX.
# Returns `_pre`'s flags (1 saturated, 2 dropout; 4 still for _STILL_N samples: the kernel
# stops before the step so that `_realign` runs first) | 8 when the 25 Hz tick is due.
_K_INP = const(23)
_K_Q = const(39)
_K_CUR = const(55)
_K_MODE = const(63)
_K_SX = const(64)
_K_WORDS = const(65)


@micropython.viper
def _sample_viper(K: ptr32, s: ptr16) -> int:
    sx = int(K[_K_SX])
    mode = int(K[_K_MODE])
    if mode == 1:
        return 16
    w = ptr32(int(K))
    inp = ptr32(int(K) + _K_INP * 4)
    flags = 0
    if mode == 2:
        K[_K_MODE] = 0
    else:
        # -- _pre_viper's body
        flags = 0
        still = 1
        for leg in range(2):
            o = 7 * leg
            b = 8 * leg
            ax = (int(s[o + 1]) ^ 0x8000) - 0x8000
            ay = (int(s[o + 2]) ^ 0x8000) - 0x8000
            az = (int(s[o + 3]) ^ 0x8000) - 0x8000
            gx = (int(s[o + 4]) ^ 0x8000) - 0x8000
            gy = (int(s[o + 5]) ^ 0x8000) - 0x8000
            gz = (int(s[o + 6]) ^ 0x8000) - 0x8000
            bd = (int(s[o]) ^ 0x8000) - 0x8000
            if (ax > 32000 or ax < -32000 or ay > 32000 or ay < -32000 or az > 32000 or az < -32000
                    or gx > 32000 or gx < -32000 or gy > 32000 or gy < -32000 or gz > 32000 or gz < -32000
                    or bd > 32000 or bd < -32000):
                flags |= 1
            zero = ax == 0 and ay == 0 and az == 0
            if zero:
                flags |= 2
            j = 14 + 3 * leg
            lx = (int(w[j]) << sx) >> sx
            ly = (int(w[j + 1]) << sx) >> sx
            lz = (int(w[j + 2]) << sx) >> sx
            if gx == lx and gy == ly and gz == lz:
                fr = int(w[20 + leg]) + 1
                w[20 + leg] = fr
                if fr >= 10:
                    flags |= 2
            else:
                w[20 + leg] = 0
                w[j] = gx
                w[j + 1] = gy
                w[j + 2] = gz
            g0 = gx - ((int(w[o + 4]) << sx) >> sx)
            g1 = gy - ((int(w[o + 5]) << sx) >> sx)
            g2 = gz - ((int(w[o + 6]) << sx) >> sx)
            inp[b] = g0
            inp[b + 1] = g1
            inp[b + 2] = g2
            m = g0 if g0 > 0 else 0 - g0
            m += g1 if g1 > 0 else 0 - g1
            m += g2 if g2 > 0 else 0 - g2
            if m >= 100:
                still = 0
            if zero:
                inp[b + 3] = 0
                inp[b + 4] = 0
                inp[b + 5] = 0
            else:
                inp[b + 3] = ax - ((int(w[o + 1]) << sx) >> sx)
                inp[b + 4] = ay - ((int(w[o + 2]) << sx) >> sx)
                inp[b + 5] = az - ((int(w[o + 3]) << sx) >> sx)
        if still and flags == 0:
            n = int(w[22]) + 1
            w[22] = n
            if n == 100:
                flags |= 4
        else:
            w[22] = 0
        # -- end of _pre_viper's body
        if flags & 4:
            return 4
    st = ptr32(int(K) + _K_Q * 4)
    n = 2
    # -- ahrs._step_viper's body
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
    # -- end of ahrs._step_viper's body
    cur = ptr32(int(K) + _K_CUR * 4)
    cur[0] = ((int(cur[0]) << sx) >> sx) + ((int(st[5]) << sx) >> sx)
    cur[1] = ((int(cur[1]) << sx) >> sx) + ((int(st[7]) << sx) >> sx)
    cur[2] = ((int(cur[2]) << sx) >> sx) + (int(s[0]) ^ 0x8000) - 0x8000
    cur[3] = ((int(cur[3]) << sx) >> sx) + ((int(st[13]) << sx) >> sx)
    cur[4] = ((int(cur[4]) << sx) >> sx) + ((int(st[15]) << sx) >> sx)
    cur[5] = ((int(cur[5]) << sx) >> sx) + (int(s[7]) ^ 0x8000) - 0x8000
    k = int(cur[6]) + 1
    if k >= int(cur[7]):
        cur[6] = 0
        flags |= 8
    else:
        cur[6] = k
    return flags


# The 25 Hz tick (paper eq. 1): per leg the 2M-sample sums (this block + the previous one)
# -> hip angle atan2_cd(vx, vz) (gaitfw.mgait_trig, inlined) and knee angle from the bend
# sum; this block becomes the previous one. cal: [2M, bend0 l, bend0 r, bgain l, bgain r].
def _angles_plain(cur, prev, ang, cal, tab):
    n2 = cal[0]
    leg = 0
    while leg < 2:
        j = 3 * leg
        c0 = cur[j]
        c1 = cur[j + 1]
        c2 = cur[j + 2]
        vx = c0 + prev[j]
        vz = c1 + prev[j + 1]
        bs = c2 + prev[j + 2] - n2 * cal[1 + leg]
        if bs > 131071:
            bs = 131071
        elif bs < -131071:
            bs = -131071
        a = 0
        if vx != 0 or vz != 0:
            ax = vz if vz >= 0 else 0 - vz
            ay = vx if vx >= 0 else 0 - vx
            if ay <= ax:
                r = (ay << 12) // ax  # Q12 ratio in [0, 4096]
                swap = 0
            else:
                r = (ax << 12) // ay
                swap = 1
            i = r >> 6
            f = r & 63
            a = tab[i]
            if f:
                a += ((tab[i + 1] - a) * f) >> 6
            if swap:
                a = 9000 - a
            if vz < 0:
                a = 18000 - a
            if vx < 0:
                a = 0 - a
        ang[2 * leg] = a
        ang[2 * leg + 1] = (bs * cal[3 + leg]) >> 16
        prev[j] = c0
        prev[j + 1] = c1
        prev[j + 2] = c2
        cur[j] = 0
        cur[j + 1] = 0
        cur[j + 2] = 0
        leg += 1
    return 0


@micropython.viper
def _angles_viper(cur: ptr32, prev: ptr32, ang: ptr32, cal: ptr32, tab: ptr16) -> int:
    # Widths: |vx|, |vz| <= 2M x 16483 (Q14 terms, |q|^2 <= 1.006) < 2^19 at M <= 8, the
    # only M it runs with (MGait: 100 Hz gives M = 4), so ay << 12 < 2^31. The bend product bs * bgain
    # needs up to 2^17 * 2^28 (a two-point span of one count), so (bs * g) >> 16 is taken in
    # parts, exact for any sign: g = gh * 2^16 + gl, bs = bh * 2^8 + bl (gl, bl >= 0), every
    # partial product under 2^30.
    sx = int(ahrs._SX)
    n2 = (int(cal[0]) << sx) >> sx
    leg = 0
    while leg < 2:
        j = 3 * leg
        c0 = (int(cur[j]) << sx) >> sx
        c1 = (int(cur[j + 1]) << sx) >> sx
        c2 = (int(cur[j + 2]) << sx) >> sx
        vx = c0 + ((int(prev[j]) << sx) >> sx)
        vz = c1 + ((int(prev[j + 1]) << sx) >> sx)
        bs = c2 + ((int(prev[j + 2]) << sx) >> sx) - n2 * ((int(cal[1 + leg]) << sx) >> sx)
        if bs > 131071:
            bs = 131071
        elif bs < -131071:
            bs = -131071
        a = 0
        if vx != 0 or vz != 0:
            ax = vz if vz >= 0 else 0 - vz
            ay = vx if vx >= 0 else 0 - vx
            swap = 0
            if ay <= ax:
                r = (ay << 12) // ax
            else:
                r = (ax << 12) // ay
                swap = 1
            i = r >> 6
            f = r & 63
            a = int(tab[i])
            if f:
                a += ((int(tab[i + 1]) - a) * f) >> 6
            if swap:
                a = 9000 - a
            if vz < 0:
                a = 18000 - a
            if vx < 0:
                a = 0 - a
        ang[2 * leg] = a
        g = (int(cal[3 + leg]) << sx) >> sx
        gl = g & 0xFFFF
        ang[2 * leg + 1] = bs * (g >> 16) + (((bs >> 8) * gl + (((bs & 0xFF) * gl) >> 8)) >> 8)
        prev[j] = c0
        prev[j + 1] = c1
        prev[j + 2] = c2
        cur[j] = 0
        cur[j + 1] = 0
        cur[j + 2] = 0
        leg += 1
    return 0


DEFAULTS = {
    "l1_mm": 391,  # thigh (Bandai skeleton: 0.391 m)
    "l2_mm": 410,  # shank
    "d5_mm": 0,
    "bias_cdeg": [0, 0, 0, 0],  # alpha_f, beta_f, alpha_b, beta_b (paper Sec. 6.3)
    "bend_cal": [[0, 9000], [0, 9000]],  # raw counts at 0 and 90 degrees, per leg
    "cal_s": 2,
    "beta": 0.033,  # Madgwick gain
    "knee_prom_cdeg": 2000,
    "hip_prom_cdeg": 1000,
    "min_step_mm": 100,
    "max_step_mm": 1500,
    "calibrate_rls": 0,
    "ref_step_mm": 0,
    "rls_steps": 10,
}


def step_mm(l1, l2, d5, af, bf, ab, bb):
    """Paper eq. 6 in integers: lengths mm, angles cdeg -> step length mm."""
    s = l2 * (sin_cd(af - bf) + sin_cd(bb - ab)) + l1 * (sin_cd(af) - sin_cd(ab))
    return ((s + 8192) >> 14) + d5


class MGait:
    """Knee-sleeve processor: `feed(t_ms, sample)` per 100 Hz sample of the 14 channels."""

    def __init__(self, emit, cfg=None, rate_hz=100, feedback=None, gyro_lsb_per_dps=32.8, viper=True):
        c = dict(DEFAULTS)
        c.update(cfg or {})
        self.emit = emit
        self.fb = feedback
        self.rate = rate_hz
        self.M = rate_hz // 25 if rate_hz >= 50 else 1
        self.l1 = int(c["l1_mm"])
        self.l2 = int(c["l2_mm"])
        self.d5 = int(c["d5_mm"])
        self.bias = array("i", [int(v) for v in c["bias_cdeg"]])
        self.bend_cal = [list(v) for v in c["bend_cal"]]
        self.min_step = int(c["min_step_mm"])
        self.max_step = int(c["max_step_mm"])
        self.n_cal = int(c["cal_s"] * rate_hz)
        self.calbuf = array("h", [0] * (self.n_cal * 2 * _NCH))
        self.ncal = 0
        # the per-sample words in one array (`_sample_viper`), each part a view of it
        self.K = K = array("i", [0] * _K_WORDS)
        K[_K_MODE] = 1 if self.n_cal > 0 else 0
        K[_K_SX] = ahrs._SX
        kv = memoryview(K)
        self.w = kv[0:_K_INP]  # offsets, last gyro, frozen, still counts (see _pre_plain)
        self.off = self.w
        # the tick's constants in one array (`_angles_*`): 2M, bend0 per leg, bgain per leg
        self._cal = array("i", [0] * 5)
        cal = memoryview(self._cal)
        self.bend0 = cal[1:3]
        self.bgain = cal[3:5]  # cdeg per (2M-sample sum count), Q16
        kg, kb = ahrs.gains(rate_hz, gyro_lsb_per_dps, c["beta"])
        self.qst = kv[_K_Q:_K_CUR]  # both thighs' Madgwick state (gaitfw.ahrs layout)
        self.inp = kv[_K_INP:_K_Q]
        for leg in range(2):
            b = 8 * leg
            self.qst[b] = 1 << 28
            self.qst[b + 4] = 4096
            self.qst[b + 7] = 16384
            self.inp[b + 6] = kg
            self.inp[b + 7] = kb
        use_viper = viper and MICROPYTHON
        if not use_viper:
            self.feed = self._feed_plain  # the three kernels' plain twins, one call each
        self._pre = _pre_viper if use_viper else _pre_plain
        self._step = ahrs._step_viper if use_viper else ahrs._step_plain
        self._post = _post_viper if use_viper else _post_plain
        # the kernel's widths hold for 2M-sample hip sums of Q14 terms up to M = 8 (< 225 Hz)
        self._ang = _angles_viper if use_viper and self.M <= 8 else _angles_plain
        self.cur = kv[_K_CUR:_K_MODE]  # block sums: vx, vz, bend per leg; samples in it, M
        self.cur[7] = self.M
        self.prev = array("i", [0] * 6)
        self.half_ms = ((2 * self.M - 1) * 1000) // (2 * rate_hz)
        self._cal[0] = 2 * self.M
        self.events = GaitEvents(self, c["knee_prom_cdeg"], c["hip_prom_cdeg"], viper=viper)
        self.st = ST_MG_CALIBRATING
        self.bad = 0  # reasons seen since the current front limb's contact
        self.ic_t = array("i", [0] * _NRING)
        self.ic_d = array("i", [0] * _NRING)
        self.ic_side = array("b", [0] * _NRING)
        self.nic = 0
        self.last_ic = array("i", [-1, -1])
        self.last_fo = array("i", [-1, -1])
        self.rls = None
        self.ref_step = int(c["ref_step_mm"])
        self.rls_steps = int(c["rls_steps"])
        if c["calibrate_rls"] and self.ref_step > 0:
            from gaitfw.rls import Rls

            self.rls = Rls((self.l1, self.l2, self.d5))
            self.st |= ST_MG_RLS
        # per-tick angles (cdeg), kept for inspection by hosts and tests
        self.angles = array("i", [0, 0, 0, 0])

    @property
    def events(self):
        return self._events

    @events.setter
    def events(self, ev):
        """The tick calls the event machine's scan itself (`_tick`); another event sink (a
        host's stand-in) gets `feed(t, alpha_l, beta_l, alpha_r, beta_r)` per tick instead."""
        self._events = ev
        scan = getattr(ev, "scan", None)
        if scan is None:
            def scan(ang, b, w, t):
                ev.feed(t, ang[0], ang[1], ang[2], ang[3])
                return 0

        self._scan = scan
        self._evb = getattr(ev, "buf", None)
        self._evw = getattr(ev, "w", None)

    # ------------------------------------------------------------------ per sample
    def feed(self, t_ms, s):
        """One 100 Hz sample. On the board: one native call (`_sample_viper`) for the offsets,
        both filters and the block sums; bytecode (`_flagged`) only on a sample that asks for
        it: every 4th (the 25 Hz tick), calibration, a re-alignment, a bad input.
        Few locals and no loop here: a bytecode function over 11 slots of locals + stack
        gets its frame from the heap on every call (docs/benchmarks.md, sample path)."""
        f = _sample_viper(self.K, s)
        if f:
            self._flagged(t_ms, s, f)

    def _flagged(self, t_ms, s, f):
        if f & 16:
            self._cal_sample(t_ms, s)
            return
        if f & 4:  # `_pre` ran; the filter steps from the re-aligned state
            self._realign()
            K = self.K
            K[_K_MODE] = 2
            f = _sample_viper(K, s)
        if f & 3:
            if f & 1:
                self.st |= ST_MG_SATURATED
            if f & 2:
                self.st |= ST_MG_DROPOUT
            self.bad |= f & 3
        if f & 8:
            self._tick(t_ms - self.half_ms)

    def _feed_plain(self, t_ms, s):
        """`feed` on the three kernels one after another (CPython, and `viper=False`): the
        same words as `_sample_viper` (tests/firmware/test_mgait_sample.py)."""
        if self.ncal < self.n_cal:
            self._cal_sample(t_ms, s)
            return
        f = self._pre(s, self.w, self.inp)
        if f & 4:
            self._realign()
            f &= 3
        if f:
            if f & 1:
                self.st |= ST_MG_SATURATED
            if f & 2:
                self.st |= ST_MG_DROPOUT
            self.bad |= f
        self._step(self.qst, self.inp, 2)
        if self._post(self.qst, s, self.cur):  # the block's sums, and its sample count
            self._tick(t_ms - self.half_ms)

    @property
    def k(self):
        """Samples into the current 25 Hz block (counted by `_post_*`)."""
        return self.cur[6]

    def _cal_sample(self, t_ms, s):
        """One sample of the standing calibration into `calbuf`."""
        b = self.calbuf
        o = self.ncal * 2 * _NCH
        for i in range(2 * _NCH):
            b[o + i] = s[i]
        self.ncal += 1
        if self.ncal == self.n_cal:
            self._finish_cal(t_ms)

    def _realign(self):
        """Static re-alignment after 1 s of stillness: the tilt comes from the accelerometer.

        Why: the filter's small gain needs many seconds to undo a large orientation error
        (after a sensor glitch, or a replay that jumps back to standing); when the thighs
        are still, gravity alone gives the tilt. Zero yaw; small-angle quaternion with an
        exact scalar part, integers only (q1 = uy/2, q2 = -ux/2 in Q28).
        """
        qs = self.qst
        inp = self.inp
        for leg in range(2):
            b = 8 * leg
            r = qs[b + 4]
            if r < 1024:
                continue
            ux = (inp[b + 3] << 14) // r
            uy = (inp[b + 4] << 14) // r
            if ux > 4240 or ux < -4240 or uy > 4240 or uy < -4240:
                continue  # tilted more than ~15 degrees: not an upright stand, keep the filter
            q1 = uy << 13
            q2 = -ux << 13
            p1 = q1 >> 14
            p2 = q2 >> 14
            qs[b] = (1 << 28) - ((p1 * p1 + p2 * p2) >> 1)
            qs[b + 1] = q1
            qs[b + 2] = q2
            qs[b + 3] = 0
            p0 = qs[b] >> 14
            qs[b + 5] = (0 - p0 * p2) >> 13
            qs[b + 6] = (p0 * p1) >> 13
            qs[b + 7] = ((1 << 28) - 2 * (p1 * p1 + p2 * p2)) >> 14

    def _tick(self, t):
        """Paper eq. 1: average of the last 2M samples, once every M samples (25 Hz): both
        legs' angles in one native call (`_angles_*`: the bytecode loop with two `atan2_cd` calls
        cost ~20 000 instructions more per tick, tools/bench/bench_stream.py), then the event
        machine's scan, one native call too (`GaitEvents.feed` without its bytecode layer; back
        to bytecode only for what it found)."""
        ang = self.angles
        self._ang(self.cur, self.prev, ang, self._cal, ATAN_TAB)
        r = self._scan(ang, self._evb, self._evw, t)
        if r:
            self.events.found(r)

    # ------------------------------------------------------------- calibration
    def _finish_cal(self, t_ms):
        """Median offsets of the standing period; gravity stays on the thigh axis (z)."""
        n = self.n_cal
        b = self.calbuf
        motion = 0
        for ch in range(2 * _NCH):
            col = sorted([b[i * 2 * _NCH + ch] for i in range(n)])
            med = col[n // 2]
            k = ch % _NCH
            if k == 3:
                self.off[ch] = med - 4096
            elif k == 0:
                self.off[ch] = 0
            else:
                self.off[ch] = med
            if k >= 4 and col[(9 * n) // 10] - col[n // 10] > 330:  # > 10 dps spread
                motion = 1
        for leg in range(2):
            col = sorted([b[i * 2 * _NCH + leg * _NCH] for i in range(n)])
            self.bend0[leg] = col[n // 2]
            raw0, raw90 = self.bend_cal[leg]
            span = raw90 - raw0
            if span == 0:
                span = 9000
            self.bgain[leg] = (9000 * 65536) // (2 * self.M * span)
        self.calbuf = array("h", [0])  # release the buffer
        self.K[_K_MODE] = 0
        self.st &= ~ST_MG_CALIBRATING
        if motion:
            self.st |= ST_MG_CAL_MOTION
        self.emit(t_ms, EV_MG_CALIB, 2, n, motion)

    # ---------------------------------------------------------- event sink
    def on_ic(self, t, side, af, bf):
        self.emit(t, EV_MG_IC, side, af, bf)
        lic = self.last_ic[side]
        lfo = self.last_fo[side]
        if lic >= 0 and lfo > lic:
            stance = lfo - lic
            swing = t - lfo
            if stance < 3000 and swing < 3000:
                self.emit(t, EV_MG_STANCE, side, stance, swing)
        self.last_ic[side] = t

    def on_fo(self, t, side, ab, bb):
        self.emit(t, EV_MG_FO, side, ab, bb)
        self.last_fo[side] = t

    def on_lost(self, t, reason):
        self.st |= ST_MG_STEP_LOST
        self.nic = 0
        self.emit(t, EV_MG_STEP_LOST, 2, reason, 0)

    def on_step(self, t, front, af, bf, ab, bb, t_ic):
        bias = self.bias
        af -= bias[0]
        bf -= bias[1]
        ab -= bias[2]
        bb -= bias[3]
        d = step_mm(self.l1, self.l2, self.d5, af, bf, ab, bb)
        if self.bad:
            reason = 1 if self.bad & 1 else 2
            self.bad = 0
            self.st |= ST_MG_BAD_STEP
            self.nic = 0
            self.emit(t, EV_MG_STEP_REJECT, front, reason, d)
            return
        if d < self.min_step or d > self.max_step:
            self.st |= ST_MG_BAD_STEP
            self.nic = 0
            self.emit(t, EV_MG_STEP_REJECT, front, 3, d)
            return
        self.st &= ~(ST_MG_BAD_STEP | ST_MG_STEP_LOST | ST_MG_SATURATED | ST_MG_DROPOUT)
        i = self.nic % _NRING
        r_t = self.ic_t
        r_d = self.ic_d
        prev = (self.nic - 1) % _NRING
        step_ms = t_ic - r_t[prev] if self.nic > 0 else 0
        if self.nic > 0 and (step_ms <= 0 or step_ms > 2000 or self.ic_side[prev] == front):
            self.nic = 0  # not contiguous: restart stride/speed bookkeeping
            i = 0
            step_ms = 0
        r_t[i] = t_ic
        r_d[i] = d
        self.ic_side[i] = front
        self.nic += 1
        self.emit(t, EV_MG_STEP, front, d, step_ms)
        if self.nic >= 3:
            j2 = (self.nic - 3) % _NRING
            j1 = (self.nic - 2) % _NRING
            self.emit(t, EV_MG_STRIDE, front, d + r_d[j1], t_ic - r_t[j2])
        if self.nic >= _NRING:
            tot = 0
            for k in range(_NRING - 1):
                tot += r_d[(self.nic - 1 - k) % _NRING]
            dt = t_ic - r_t[(self.nic - _NRING) % _NRING]
            if dt > 0:
                speed = (tot * 1000) // dt
                cad = (10 * 600000) // dt
                self.emit(t, EV_MG_SPEED, 2, speed, cad)
                if self.fb is not None:
                    self.fb.on_speed(t, speed)
        if self.fb is not None:
            self.fb.on_step(t, front, d)
        if self.rls is not None:
            self._rls_step(t, af, bf, ab, bb)

    def _rls_step(self, t, af, bf, ab, bb):
        """Calibration walk at a constant known step length: update w = [l1, l2, d5]."""
        h0 = (sin_cd(af) - sin_cd(ab)) / 16384.0
        h1 = (sin_cd(af - bf) + sin_cd(bb - ab)) / 16384.0
        r = self.rls
        e = r.update(h0, h1, 1.0, self.ref_step)
        self.emit(t, EV_MG_RLS_STEP, 2, int(e), int(r.lam * 1000))
        if r.n >= self.rls_steps:
            self.l1 = int(r.w[0] + 0.5)
            self.l2 = int(r.w[1] + 0.5)
            self.d5 = int(r.w[2] + 0.5) if r.w[2] >= 0 else -int(-r.w[2] + 0.5)
            self.emit(t, EV_MG_RLS_DONE, 2, self.l1, self.l2)
            self.emit(t, EV_MG_RLS_D5, 2, self.d5, r.n)
            self.rls = None
            self.st &= ~ST_MG_RLS

    def status(self):
        return self.st
