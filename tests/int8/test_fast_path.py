"""The board's fast int8 path (gaitfw.int8ops._conv_fast, planned by gaitfw.devmodel) is
exact: against the plain and signed-weight twins on synthetic models with extreme int8
weights, inputs and zero points, against the reference requantization on accumulators up to
the +/-2^30 bound, and (when a 32-bit MicroPython is at hand) on 32-bit machine words.
"""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest

from gaitfw.devmodel import DevModelError, Model, _clamp_thresholds
from gaitfw.int8ops import mbqm
from gaitloop.export.device_format import DeviceModel, pack, read_device_model
from tests.conftest import FIRMWARE, run_micropython
from tests.int8.test_requant import ref_mbqm

BOUND = 1 << 30  # every partial sum of a fast-path accumulator stays strictly inside this


class _Builder:
    """A device model assembled op by op (shapes chained, pools filled)."""

    def __init__(self, window: int, in_ch: int, rng: np.random.Generator, wmode: str):
        self.window, self.in_ch, self.rng, self.wmode = window, in_ch, rng, wmode
        self.shape = (window, in_ch)
        self.ops: list[dict[str, int]] = []
        self.w: list[np.ndarray] = []
        self.q: list[int] = []
        self.nw = 0

    def _weights(self, n: int) -> np.ndarray:
        if self.wmode == "min":
            return np.full(n, -128, np.int8)
        if self.wmode == "max":
            return np.full(n, 127, np.int8)
        if self.wmode == "edge":
            return self.rng.choice(np.array([-128, -127, 127, 0], np.int8), n)
        return self.rng.integers(-128, 128, n).astype(np.int8)

    def _op(self, opcode, lout, cout, **kw) -> None:
        lin, cin = self.shape
        o = dict(opcode=opcode, act_min=-128, act_max=127, len_in=lin, c_in=cin, len_out=lout,
                 c_out=cout, k=1, stride=1, dilation=1, pad=0, in_off=0, out_off=0, w_off=0,
                 q_off=0, rounding=1)
        o.update(kw)
        self.ops.append(o)
        self.shape = (lout, cout)

    def _weighted(self, opcode, lout, cout, n, ioff, ooff, rnd, shifts, bias_mag, **kw) -> None:
        rng = self.rng
        w = self._weights(cout * n)
        mult = rng.integers(1 << 30, 1 << 31, cout)
        mult[:1] = (1 << 31) - 1
        sh = rng.integers(shifts[0], shifts[1] + 1, cout)
        bias = rng.integers(-bias_mag, bias_mag + 1, cout)
        self._op(opcode, lout, cout, in_off=ioff, out_off=ooff, rounding=rnd, w_off=self.nw,
                 q_off=len(self.q), **kw)
        self.w.append(w)
        self.nw += w.size
        self.q += bias.tolist() + mult.tolist() + sh.tolist()

    def conv(self, cout, k, stride=1, pad=0, dil=1, ioff=128, ooff=-128, rnd=1,
             shifts=(-12, -6), bias_mag=3000, relu=True) -> _Builder:
        lin, cin = self.shape
        lout = (lin + 2 * pad - dil * (k - 1) - 1) // stride + 1
        self._weighted(1, lout, cout, k * cin, ioff, ooff, rnd, shifts, bias_mag, k=k,
                       stride=stride, dilation=dil, pad=pad,
                       act_min=ooff if relu else -128)
        return self

    def fc(self, cout, ioff=128, ooff=0, rnd=1, shifts=(-12, -6), bias_mag=3000) -> _Builder:
        n = self.shape[0] * self.shape[1]
        self.shape = (1, n)
        self._weighted(2, 1, cout, n, ioff, ooff, rnd, shifts, bias_mag)
        return self

    def pool(self, opcode, k, stride, amin=-128, amax=127) -> _Builder:
        lin, c = self.shape
        self._op(opcode, (lin - k) // stride + 1, c, k=k, stride=stride, act_min=amin,
                 act_max=amax)
        return self

    def reshape(self, lout, cout) -> _Builder:
        self._op(5, lout, cout)
        return self

    def build(self) -> DeviceModel:
        sizes = [self.window * self.in_ch] + [o["len_out"] * o["c_out"] for o in self.ops]
        n_out = sizes[-1]
        return DeviceModel(task="phase", window=self.window, in_channels=self.in_ch,
                           n_out=n_out, in_zp=0, out_zp=0, out_mul=1, out_shift=0,
                           norm=np.tile(np.array([[1, 0, 0]], np.int32), (self.in_ch, 1)),
                           ops=self.ops, weights=np.concatenate(self.w).astype(np.int8),
                           q=np.asarray(self.q, np.int32), arena=max(sizes))


def _models(rng: np.random.Generator) -> list[tuple[str, bool, DeviceModel]]:
    """(name, fast path expected, model): shapes and values meant to reach every branch."""
    out = []
    for wmode in ("rand", "min", "max", "edge"):
        for ioff in (128, -127, 1):  # input zero points -128 (after ReLU), 127, -1
            b = _Builder(16, 2, rng, wmode)
            b.conv(8, 5, pad=2, ioff=ioff).pool(3, 2, 2).conv(16, 3, pad=1).pool(3, 2, 2)
            b.reshape(1, 64).fc(12, ooff=5).fc(3, rnd=1, ooff=-7)
            out.append((f"student-like {wmode} in_off {ioff}", True, b.build()))
    for rnd in (0, 1, 2):  # rounding modes, with a left shift and the largest right shifts
        b = _Builder(12, 3, rng, "rand")
        b.conv(5, 3, stride=2, pad=1, rnd=rnd, shifts=(-31, 0), relu=False, ioff=-3, ooff=2)
        b.pool(3, 3, 2).conv(4, 1, rnd=rnd, shifts=(1, 3), bias_mag=200, ioff=0)
        b.reshape(1, 8).fc(6, rnd=rnd, shifts=(-20, 2), bias_mag=100, ioff=-128)
        out.append((f"rounding {rnd}, shifts", True, b.build()))
    # dot lengths k * c_in on every unroll path: 1, 7, 8, 9, 15, 16, 17, 24, 31, 33, 40
    for cin, k in ((1, 1), (7, 1), (8, 1), (3, 3), (5, 3), (16, 1), (17, 1), (8, 3), (31, 1),
                   (11, 3), (8, 5)):
        b = _Builder(9, cin, rng, "edge")
        b.conv(3, k, pad=k // 2, ioff=-100).fc(2, ioff=100)
        out.append((f"n = {k * cin}", True, b.build()))
    b = _Builder(20, 4, rng, "rand")  # pools on their own: max after a reshape, avg, pool last
    b.conv(6, 3, pad=1).reshape(40, 3).pool(3, 2, 2).pool(4, 2, 2).conv(4, 2).pool(4, 3, 1)
    out.append(("standalone pools, pool last", True, b.build()))
    b = _Builder(10, 2, rng, "rand")
    b.fc(7, ioff=-128, ooff=127).pool(3, 1, 1, amin=-10, amax=20)  # fc first; pool clamp
    out.append(("fully connected first, fused pool clamp", True, b.build()))
    # accumulators at the bound: the largest bias the fast path takes, and one it refuses
    for mag, fast in ((BOUND - 1 - 65025 * 24, True), (BOUND + 1, False)):
        b = _Builder(6, 8, rng, "edge")
        b.conv(4, 3, pad=1, bias_mag=0, shifts=(-31, -25), relu=False)
        b.q[:4] = [mag, -mag, mag, -mag]
        out.append((f"bias {mag}", fast, b.fc(2).build()))
    b = _Builder(12, 2, rng, "rand")
    b.conv(4, 3, dil=2, pad=2).fc(2)
    out.append(("dilated conv: signed kernels", False, b.build()))
    b = _Builder(12, 2, rng, "rand")
    b.conv(4, 3, pad=1, ioff=-200).fc(2)  # zero point 200: no int8 padding byte
    out.append(("zero point outside int8, padded", False, b.build()))
    return out


_RUN = """
import json
from gaitfw.devmodel import Model
with open(SPEC) as f:
    paths, inputs = json.load(f)
res = []
for path in paths:
    ms = [Model(path), Model(path, fast=False), Model(path, use_viper=False)]
    n = len(ms[0].inp)
    outs = [[], [], []]
    for x in inputs:
        for m, o in zip(ms, outs):
            for i in range(n):
                m.inp[i] = x[i % len(x)]
            m.invoke()
            o.append(list(m.out[:m.n_out]))
    res.append([ms[0]._fast is not None, ms[0].ram_bytes(), ms[1].ram_bytes()] + outs)
print(json.dumps(res))
"""


def _inputs(rng: np.random.Generator) -> list[list[int]]:
    xs = [[-128], [127], [-128, 127], [0], [127, 127, -128]]
    xs += [rng.integers(-128, 128, 97).tolist() for _ in range(6)]
    return xs


def _check(tmp_path, runner) -> None:
    rng = np.random.default_rng(11)
    cases = _models(rng)
    paths = []
    for i, (_, _, dm) in enumerate(cases):
        p = tmp_path / f"m{i}.gldm"
        p.write_bytes(pack(dm))
        read_device_model(p)  # valid for the host too
        paths.append(str(p))
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps([paths, _inputs(rng)]))
    res = json.loads(runner(_RUN.replace("SPEC", repr(str(spec)))).strip().splitlines()[-1])
    for (name, fast, dm), (used, ram_fast, ram_signed, out_fast, out_signed, out_plain) in zip(
            cases, res, strict=True):
        assert used == fast, name
        # the host's figures (firmware Model with plan_only, on CPython) are the board's own
        assert (dm.ram_bytes(), dm.ram_bytes(fast=False)) == (ram_fast, ram_signed), name
        assert out_fast == out_plain, name
        assert out_signed == out_plain, name


@pytest.mark.micropython
def test_fast_path_matches_plain_and_signed_twins(tmp_path):
    _check(tmp_path, lambda code: run_micropython(code, timeout=300))


def test_plan_only_plans_the_board_path_and_refuses_invoke(tmp_path):
    """On CPython the viper table is never loaded; plan_only plans the fast path anyway."""
    for i, (name, fast, dm) in enumerate(_models(np.random.default_rng(11))):
        p = tmp_path / f"m{i}.gldm"
        p.write_bytes(pack(dm))
        m = Model(str(p), plan_only=True)
        assert (m._fast is not None) == fast, name
        assert Model(str(p))._fast is None, name  # CPython, runnable: plain kernels
        assert Model(str(p), fast=False, plan_only=True).ram_bytes() == Model(
            str(p)).ram_bytes(), name
        with pytest.raises(DevModelError, match="plan_only"):
            m.invoke()


@pytest.mark.micropython
def test_fast_requant_matches_reference_up_to_the_bound(tmp_path):
    _check_requant(tmp_path, run_micropython)


def _check_requant(tmp_path, runner) -> None:
    """One fully connected op with zero weights: each output channel requantizes its bias."""
    rng = np.random.default_rng(5)
    n = 1500
    res, want = [], []
    for rnd in (0, 1, 2):
        sh = rng.integers(-31, 1, n)
        sh[:200] = rng.integers(1, 4, 200)  # left shifts, |acc << s| < 2^30
        m = rng.integers(1 << 30, 1 << 31, n)
        m[200:300] = 1 << 30  # acc * m / 2^31 = acc / 2: ties
        m[300:320] = (1 << 31) - 1
        lim = (BOUND - 1 - 65025) >> np.maximum(sh, 0)
        # aim at outputs inside int8 (most) and at the clamps, ties and extremes (some)
        target = rng.integers(-140, 140, n) * (2.0 ** (31 - sh)) / m
        acc = np.clip(np.round(target + rng.integers(-3, 4, n)), -lim, lim).astype(np.int64)
        acc[320:340] = lim[320:340]
        acc[340:360] = -lim[340:360]
        acc[360:380] = 0
        ooff = int(rng.integers(-20, 21))
        dm = DeviceModel(task="phase", window=1, in_channels=1, n_out=n, in_zp=0, out_zp=0,
                         out_mul=1, out_shift=0, norm=np.array([[1, 0, 0]], np.int32),
                         ops=[dict(opcode=2, act_min=-128, act_max=127, len_in=1, c_in=1,
                                   len_out=1, c_out=n, k=1, stride=1, dilation=1, pad=0,
                                   in_off=int(rng.integers(-127, 129)), out_off=ooff,
                                   w_off=0, q_off=0, rounding=rnd)],
                         weights=np.zeros(n, np.int8),
                         q=np.concatenate([acc, m, sh]).astype(np.int32), arena=n)
        p = tmp_path / f"rq{rnd}.gldm"
        p.write_bytes(pack(dm))
        res.append(str(p))
        want.append([max(-128, min(127, ref_mbqm(int(a), int(mm), int(s), rnd) + ooff))
                     for a, mm, s in zip(acc, m, sh, strict=True)])
    code = f"""
import json
from gaitfw.devmodel import Model
out = []
for path in {res!r}:
    m = Model(path)
    m.inp[0] = -77
    m.invoke()
    out.append([m._fast is not None, list(m.out)])
print(json.dumps(out))
"""
    got = json.loads(runner(code).strip().splitlines()[-1])
    for rnd, (used, out) in enumerate(got):
        assert used
        assert out == want[rnd], f"rounding {rnd}"
        assert -128 in out and 127 in out and len(set(out)) > 200  # clamps and in-range values


def test_clamp_thresholds_are_exact():
    rng = np.random.default_rng(3)
    for _ in range(300):
        m = int(rng.integers(1 << 30, 1 << 31))
        sh = int(rng.integers(-12, 2))
        rnd = int(rng.integers(0, 3))
        ooff = int(rng.integers(-128, 128))
        lo, hi = sorted(int(v) for v in rng.integers(-128, 128, 2))
        a0 = int(rng.integers(-6000, 100))
        a1 = a0 + int(rng.integers(0, 9000))
        tlo, thi = _clamp_thresholds(a0, a1, m, sh, rnd, ooff, lo, hi)
        for a in range(a0, a1 + 1):
            r = mbqm(a, m, sh, rnd) + ooff
            assert (a <= tlo) == (r <= lo)
            assert (a >= thi) == (r >= hi)


@pytest.mark.skipif(not os.environ.get("GAITLOOP_MICROPYTHON32"),
                    reason="set GAITLOOP_MICROPYTHON32 to a 32-bit MicroPython Unix port")
def test_fast_path_on_32bit_words(tmp_path):
    """The same checks on a 32-bit MicroPython (viper words wrap at 2^32, as on an ESP32).

    Build one from the MicroPython sources: make -C ports/unix CFLAGS_EXTRA=-m32
    LDFLAGS_EXTRA=-m32 MICROPY_PY_FFI=0 (docs/benchmarks.md, student section).
    """
    binary = os.environ["GAITLOOP_MICROPYTHON32"]
    out = subprocess.run([binary, "-c", "import sys; print(sys.maxsize)"], capture_output=True,
                         text=True, check=True).stdout
    assert int(out) == 2**31 - 1

    def runner(code):
        p = subprocess.run([binary, "-X", "heapsize=4M", "-c", code], capture_output=True,
                           text=True, timeout=600, env=dict(os.environ, MICROPYPATH=str(FIRMWARE)))
        assert p.returncode == 0, p.stderr
        return p.stdout

    _check(tmp_path, runner)
    _check_requant(tmp_path, runner)
