"""Requantization arithmetic: plain and viper twins vs an independent numpy TFLite reference."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gaitfw.int8ops import mbqm
from gaitloop.export.device_format import quantize_multiplier
from tests.conftest import run_micropython

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def ref_mbqm(x: int, m: int, shift: int, rnd: int = 0) -> int:
    """TFLite MultiplyByQuantizedMultiplier with int64 numpy ops and C semantics.

    rnd 1: the final shift rounds ties up, as ai-edge-litert's builtin kernels do.
    rnd 2: TFLite's single rounding (reference fully connected), in Python ints.
    """
    if rnd == 2:
        total = 31 - shift
        return (x * m + (1 << (total - 1))) >> total
    x64 = np.int64(x) * np.int64(1 << max(shift, 0))
    assert INT32_MIN <= x64 <= INT32_MAX
    ab = x64 * np.int64(m)
    nudge = np.int64(1 << 30) if ab >= 0 else np.int64(1 - (1 << 30))
    t = int(ab + nudge)
    hi = abs(t) // 2**31 * (1 if t >= 0 else -1)
    e = max(-shift, 0)
    if rnd and e:
        return int((np.int64(hi) + np.int64(1 << (e - 1))) >> np.int64(e))
    mask = (1 << e) - 1
    rem = hi & mask
    thr = (mask >> 1) + (1 if hi < 0 else 0)
    return (hi >> e) + (1 if rem > thr else 0)


multipliers = st.integers(1 << 30, (1 << 31) - 1)
shifts = st.integers(-31, 0)
accs = st.integers(INT32_MIN, INT32_MAX)


@settings(max_examples=500, deadline=None)
@given(accs, multipliers, shifts, st.integers(0, 2))
def test_plain_matches_reference(x, m, s, rnd):
    assert mbqm(x, m, s, rnd) == ref_mbqm(x, m, s, rnd)


@settings(max_examples=200, deadline=None)
@given(st.integers(-(2**20), 2**20), multipliers, st.integers(1, 8))
def test_plain_left_shift(x, m, s):
    assert mbqm(x, m, s) == ref_mbqm(x, m, s)


def test_rounding_ties_as_tflite():
    # 0.5 * x with multiplier 2^30 and shift 0: SaturatingRoundingDoublingHighMul's nudge
    # (1 - 2^30 for negatives, then truncation) sends ties toward +inf: -0.5 -> 0, -1.5 -> -1
    for x, want in ((1, 1), (-1, 0), (3, 2), (-3, -1), (2, 1), (-2, -1)):
        assert mbqm(x, 1 << 30, 0) == want == ref_mbqm(x, 1 << 30, 0)
    # divide by 2^1 after the doubling high mul: 5 * 1.0 / 2 = 2.5 -> 3, -2.5 -> -3
    assert mbqm(5, (1 << 31) - 1, -1) == 3 == ref_mbqm(5, (1 << 31) - 1, -1)
    assert mbqm(-5, (1 << 31) - 1, -1) == -3 == ref_mbqm(-5, (1 << 31) - 1, -1)


@settings(max_examples=300, deadline=None)
@given(st.floats(1e-9, 0.99, allow_nan=False))
def test_quantize_multiplier(real):
    m, s = quantize_multiplier(real)
    assert (1 << 30) <= m < (1 << 31)
    assert math.isclose(m * 2.0 ** (s - 31), real, rel_tol=2**-30)


@pytest.mark.micropython
def test_viper_requant_matches_reference_under_micropython(tmp_path):
    """The 16-bit-limb viper code (the board's) against the reference on edge + random cases."""
    rng = np.random.default_rng(7)
    xs = [0, 1, -1, INT32_MAX, INT32_MIN, INT32_MIN + 1, 2**30, -(2**30), 12345, -12345]
    xs += rng.integers(INT32_MIN, INT32_MAX, 3000, endpoint=True).tolist()
    xs += rng.integers(-(2**24), 2**24, 3000).tolist()
    ms = rng.integers(1 << 30, 1 << 31, len(xs)).tolist()
    ms[:4] = [(1 << 31) - 1, 1 << 30, (1 << 31) - 1, 1 << 30]
    ss = rng.integers(-31, 1, len(xs)).tolist()
    # a few left shifts with small accumulators (no int32 overflow, as TFLite requires)
    for _ in range(200):
        xs.append(int(rng.integers(-(2**20), 2**20)))
        ms.append(int(rng.integers(1 << 30, 1 << 31)))
        ss.append(int(rng.integers(1, 9)))
    want = {rnd: [max(-128, min(127, ref_mbqm(x, m, s, rnd) + 3))
                  for x, m, s in zip(xs, ms, ss, strict=True)] for rnd in (0, 1, 2)}
    data = tmp_path / "cases.json"
    data.write_text(json.dumps([xs, ms, ss]))
    code = f"""
import json
from array import array
from gaitfw import int8ops
with open('{data}') as f:
    xs, ms, ss = json.load(f)
n = len(xs)
Q = array('i', [0] * n + ms + [s + 32 for s in ss])
P = array('i', [0] * 16)
P[1] = -128 + 256; P[2] = 127 + 256; P[6] = n; P[12] = 3 + 256; P[14] = 0
A = array('i', xs)
res = []
for rnd in (0, 1, 2):
    P[15] = rnd
    Yv = array('b', bytes(n)); Yp = array('b', bytes(n))
    int8ops._requant_viper(A, Q, P, Yv)
    int8ops._requant_plain(A, Q, P, Yp)
    res.append([list(Yv), list(Yp)])
print(json.dumps(res))
"""
    res = json.loads(run_micropython(code).strip().splitlines()[-1])
    for rnd, (yv, yp) in enumerate(res):
        assert yp == want[rnd]
        assert yv == want[rnd]
