"""Sine table and integer atan2 against math, and identical on MicroPython."""

import math

from gaitfw.mgait_trig import atan2_cd, sin_cd
from tests.conftest import run_micropython


def test_sin_table_error_below_1e4():
    worst = max(abs(sin_cd(a) / 16384 - math.sin(math.radians(a / 100))) for a in range(-40000, 40000, 7))
    assert worst < 1.5e-4


def test_atan2_error_below_002_degree():
    worst = 0.0
    for k in range(2000):
        ang = -math.pi + 2 * math.pi * k / 2000
        for r in (100, 3000, 130000):
            y, x = int(r * math.sin(ang)), int(r * math.cos(ang))
            d = atan2_cd(y, x) / 100 - math.degrees(math.atan2(y, x))
            d = (d + 180) % 360 - 180
            worst = max(worst, abs(d))
    assert worst < 0.02 + 57.3 / 100  # r = 100 quantises y, x themselves


def test_same_results_under_micropython():
    code = (
        "from gaitfw.mgait_trig import atan2_cd, sin_cd\n"
        "print(sum(sin_cd(a) for a in range(-40000, 40000, 13)))\n"
        "print(sum(atan2_cd(y, x) for y in range(-130000, 130000, 9973) for x in range(-130000, 130000, 7919)))\n"
    )
    out = run_micropython(code).split()
    ref_s = sum(sin_cd(a) for a in range(-40000, 40000, 13))
    ref_a = sum(atan2_cd(y, x) for y in range(-130000, 130000, 9973) for x in range(-130000, 130000, 7919))
    assert out == [str(ref_s), str(ref_a)]
