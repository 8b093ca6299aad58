"""Integer sine and atan2 in centidegrees for the knee sleeve (no floats after import).

Why tables: the closed-form step length (paper eq. 6) needs four sines per step and the hip
angle needs one atan2 per 25 Hz tick; a 91-entry quarter-wave sine table (Q14, 1 degree
steps, linear interpolation: max error 4e-5) and a 65-entry arctangent table (centidegrees,
ratio steps of 1/64, max error 0.001 degree) cost a few hundred bytes and no float work.
Angles: int centidegrees (1/100 degree). Sines: Q14 (16384 = 1.0).
"""

from array import array

from gaitfw.compat import const

_Q14 = const(16384)

# Built once at import (floats allowed here, never on the per-sample path).
try:
    from math import atan, pi, sin
except ImportError:  # pragma: no cover
    raise
SIN_TAB = array("h", [int(sin(k * pi / 180.0) * 16384 + 0.5) for k in range(91)])
ATAN_TAB = array("h", [int(atan(k / 64.0) * 18000.0 / pi + 0.5) for k in range(65)])


def sin_cd(a):
    """sin of `a` centidegrees (any int), Q14."""
    a = a % 36000  # 0..35999 (Python/MicroPython modulo is non-negative)
    neg = 0
    if a >= 18000:
        a -= 18000
        neg = 1
    if a > 9000:
        a = 18000 - a
    i = a // 100
    f = a - i * 100
    s = SIN_TAB[i]
    if f:
        s += ((SIN_TAB[i + 1] - s) * f) // 100
    return -s if neg else s


def atan2_cd(y, x):
    """atan2(y, x) in centidegrees (-18000..18000]; |x|, |y| < 2^17 keeps (y << 12) under 2^30."""
    if x == 0 and y == 0:
        return 0
    ax = -x if x < 0 else x
    ay = -y if y < 0 else y
    if ay <= ax:
        r = (ay << 12) // ax  # Q12 ratio in [0, 4096]
        swap = 0
    else:
        r = (ax << 12) // ay
        swap = 1
    i = r >> 6
    f = r & 63
    a = ATAN_TAB[i]
    if f:
        a += ((ATAN_TAB[i + 1] - a) * f) >> 6
    if swap:
        a = 9000 - a
    if x < 0:
        a = 18000 - a
    return -a if y < 0 else a
