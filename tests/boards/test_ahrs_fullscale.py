"""The knee's Madgwick filter (gaitfw.ahrs) on full-scale and glitching IMU input (issue 15 item 4).

Why: an IMU at full scale, or an I2C read that glitches to 0x7FFF / 0x8000, must never crash
or wrap the knee board. On the board the viper kernel computes on 32-bit words (a wrap gives a
wrong orientation, silently); the plain twin under MicroPython would turn an intermediate
past 2^30 into a heap-allocated long int. So the bound checked here is 2^30 (a 31-bit small
int), for every binary operation of the plain twin (the AST rewrite of test_viper31), over the
whole input range the kernel can receive (int16 counts, and the +-65535 that the knee's offset
removal can hand over), for every gain `ahrs.gains` accepts. The viper kernel then runs the
same input under real MicroPython, on the 64-bit port and on the `gaitloop.word32` rewrite
(32-bit words), and must equal the CPython plain twin bit for bit. The regression before the
fix: sustained full-scale rotation grew |q| without bound (the renormalisation could undo
only 1.2e-4 per sample) until a state word overflowed int32.
"""

from __future__ import annotations

import json
import os
import subprocess
from array import array
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gaitfw import ahrs
from gaitfw.boards import knee
from gaitloop.word32 import emulate
from tests.boards.test_viper31 import instrument
from tests.conftest import FIRMWARE, ROOT, SHIPPED_CMU, micropython_binary

SMALL = 1 << 30  # MicroPython small ints on a 32-bit port: 31 bits, signed
KG, KB = ahrs.gains(100, knee.GYRO_LSB_PER_DPS, 0.033)  # the knee sleeve's gains
KG_MAX, KB_MAX = 32767, (1 << 20) - 1  # the largest gains `ahrs.gains` accepts
IDENTITY = [1 << 28, 0, 0, 0, 4096, 0, 0, 16384]

# Counts as the kernel receives them: int16 (raw register reads) and beyond (offset removal
# in mgait._pre_* subtracts an int16 median from an int16 sample: +-65535), rails weighted.
RAILS = [32767, -32768, -32767, 0, 1, -1, 65535, -65535]
count = st.one_of(st.sampled_from(RAILS), st.integers(-32768, 32767), st.integers(-65535, 65535))
int16 = st.one_of(st.sampled_from([32767, -32768, 0]), st.integers(-32768, 32767))
sample = st.tuples(count, count, count, count, count, count)


def _extremes() -> list[tuple[int, ...]]:
    """Hand-picked worst cases: rails held, rails swapped every sample, glitch words."""
    rows: list[tuple[int, ...]] = []
    rows += [(32767,) * 6] * 300  # everything pinned high: sustained full-scale spin
    rows += [(-32768,) * 6] * 300  # 0x8000 on every axis
    rows += [(32767, -32768, 32767, 0, 0, 0)] * 300  # full-scale spin, accelerometer reads zero
    rows += [(0, 0, 0, 32767, -32768, 32767)] * 100  # full-scale acceleration only
    rows += [((32767, -32768)[i % 2],) * 6 for i in range(300)]  # flips sign every sample
    rows += [(65535, -65535, 65535, 65535, -65535, 1)] * 100  # after offset removal
    rows += [(0, 0, 0, 1, 0, 0), (0, 0, 0, 0, 0, 0), (0, 0, 0, 0, 0, -1)] * 20  # tiny |a|
    rows += [(-65535, 0, 0, 0, 0, 65535), (0, 0, 0, 0, 4096, 0)] * 100  # seed jumps for r
    return rows


def _run_plain(rows, kg: int, kb: int, check: bool = True) -> tuple[list[list[int]], int]:
    """The instrumented plain twin over `rows` from identity: (states per sample, max |op|)."""
    step, box = instrument(ahrs._step_plain)
    s = array("i", IDENTITY)
    inp = array("i", [0] * 6 + [kg, kb])
    out = []
    for r in rows:
        for i in range(6):
            inp[i] = r[i]
        step(s, inp, 1)
        out.append(list(s))
        if check:
            n = sum((s[i] / (1 << 28)) ** 2 for i in range(4))
            assert 0.994 < n < 1.006, (r, n)  # renormalised every sample, whatever came in
            assert max(abs(s[5]), abs(s[6]), abs(s[7])) <= 16500  # the up vector stays a unit
    return out, box[0]


@settings(max_examples=200, deadline=None)
@given(st.integers(0, KG_MAX), st.integers(0, KB_MAX), st.lists(sample, min_size=1, max_size=80))
@example(KG_MAX, KB_MAX, [(32767, 32767, 32767, 0, 0, 0)] * 80)
@example(KG, KB, [(-32768, -32768, -32768, -32768, -32768, -32768)] * 80)
def test_every_intermediate_fits_31_bits(kg, kb, rows) -> None:
    _, worst = _run_plain(rows, kg, kb)
    assert worst < SMALL, worst


@pytest.mark.parametrize("kg,kb", [(KG, KB), (KG_MAX, KB_MAX), (KG_MAX, 0), (1, KB_MAX)])
def test_extremes_fit_31_bits(kg, kb) -> None:
    _, worst = _run_plain(_extremes(), kg, kb)
    print("ahrs max |intermediate| on the extremes, kg", kg, "kb", kb, ":", worst)
    assert 0 < worst < SMALL


def test_gains_refuse_what_the_bound_does_not_cover() -> None:
    assert ahrs.gains(100, 32.8, 0.033) == (KG, KB)
    assert ahrs.gains(70, 32.8, 0.033)[0] < 32768  # +-1000 dps down to 70 Hz
    with pytest.raises(ValueError, match="gyro full scale"):
        ahrs.gains(100, 16.4, 0.033)  # +-2000 dps at 100 Hz: 20 degrees per sample
    assert ahrs.gains(200, 16.4, 0.033)[0] < 32768  # ... fine at 200 Hz
    assert ahrs.gains(100, 32.8, 1.0)[1] <= KB_MAX  # the largest beta gaitfw.calib lets through
    with pytest.raises(ValueError, match="beta"):
        ahrs.gains(100, 32.8, 1.6)


# ------------------------------------------------------------------ under MicroPython

_PROG = """
import gc, json
from array import array
from gaitfw import ahrs
rows = json.loads(open({path!r}).read())


def run(step):
    s = array('i', {identity!r})
    inp = array('i', [0] * 6 + [{kg}, {kb}])
    flat = array('i', [0] * (8 * len(rows)))
    for k in range(len(rows)):
        if k == 8:  # after a warm-up: a first call may allocate once
            gc.collect()
            a0 = gc.mem_alloc()
        r = rows[k]
        for i in range(6):
            inp[i] = r[i]
        step(s, inp, 1)
        for i in range(8):
            flat[8 * k + i] = s[i]
    grew = gc.mem_alloc() - a0
    return [grew, [list(flat[8 * k:8 * k + 8]) for k in range(len(rows))]]


print(json.dumps([run(ahrs._step_viper), run(ahrs._step_plain)]))
"""


def _mpy(code: str, path: Path, timeout: float = 300) -> str:
    env = dict(os.environ, MICROPYPATH=f"{path}:.frozen")
    p = subprocess.run([micropython_binary(), "-X", "heapsize=4M", "-c", code], capture_output=True,
                       text=True, timeout=timeout, env=env, cwd=str(ROOT))
    assert p.returncode == 0, p.stderr[-2000:]
    return p.stdout


@pytest.fixture(scope="module")
def fw32(tmp_path_factory) -> Path:
    dst = tmp_path_factory.mktemp("fw32_ahrs") / "firmware"
    assert emulate(FIRMWARE, dst).get("gaitfw/ahrs.py", 0) > 0  # the viper kernel was rewritten
    return dst


def _check_on_boards(rows, kg: int, kb: int, fw32: Path, tmp: Path) -> None:
    """Viper and plain under MicroPython, 64-bit and 32-bit words: equal to CPython, no heap."""
    rows = [list(r) for r in rows]
    want, _ = _run_plain(rows, kg, kb, check=False)
    f = tmp / "rows.json"
    f.write_text(json.dumps(rows))
    code = _PROG.format(path=str(f), identity=IDENTITY, kg=kg, kb=kb)
    for tree in (FIRMWARE, fw32):
        for grew, states in json.loads(_mpy(code, tree)):
            assert grew == 0  # zero allocation per sample, viper and plain, at full scale
            assert states == want, tree  # bit-exact with CPython (a wrapped word would differ)


@pytest.mark.micropython
@pytest.mark.parametrize("kg,kb", [(KG, KB), (KG_MAX, KB_MAX)])
def test_extremes_bit_exact_under_micropython_and_word32(kg, kb, fw32, tmp_path) -> None:
    _check_on_boards(_extremes(), kg, kb, fw32, tmp_path)


@pytest.mark.micropython
@settings(max_examples=12, deadline=None)
@given(st.lists(st.tuples(int16, int16, int16, int16, int16, int16), min_size=60, max_size=300),
       st.sampled_from([(KG, KB), (KG_MAX, KB_MAX)]))
def test_random_int16_bit_exact_under_micropython_and_word32(fw32, tmp_path_factory, rows, gains) -> None:
    _check_on_boards(rows, gains[0], gains[1], fw32, tmp_path_factory.mktemp("rows"))


# ------------------------------------------------------------------ the knee chain


def _knee_counts() -> np.ndarray:
    from gaitloop.sim.sources import make_replay

    return make_replay("knee", "both", SHIPPED_CMU / "35_01.amc").counts


def _rows(counts: np.ndarray, noise: bool) -> np.ndarray:
    """The CMU walk, 3 s of full-scale IMU noise and glitch words (or of standing, with
    `noise` False), then 3 s standing still (the replay's standing rows)."""
    rng = np.random.default_rng(15)
    stand = np.concatenate([counts[100:200]] * 3)
    bad = stand.copy()
    if noise:
        imu = [c for c in range(14) if c % 7]  # every IMU channel of both thighs (not the bends)
        pick = rng.integers(0, 4, size=(300, len(imu)))
        bad[:, imu] = np.where(pick == 0, 32767, np.where(pick == 1, -32768, np.where(
            pick == 2, 0, rng.integers(-32768, 32768, size=(300, len(imu))))))
    return np.concatenate([counts, bad, stand]).astype(np.int16)


def _feed(rows: np.ndarray):
    ev: list[list[int]] = []
    m = knee.make_processors(lambda *a: ev.append(list(a)) or True, {})[0]
    s = array("h", [0] * 14)
    for k, row in enumerate(rows):
        for i in range(14):
            s[i] = int(row[i])
        m.feed(10 * k, s)
    return m, ev


def test_knee_recovers_after_full_scale_noise() -> None:
    """MGait through a burst of full-scale noise: no crash, a unit quaternion throughout, and
    once the user stands still the hip angles are those of the same standing without the
    burst (the static re-alignment takes the tilt from gravity)."""
    counts = _knee_counts()
    m, _ = _feed(_rows(counts, noise=True))
    ref, _ = _feed(_rows(counts, noise=False))
    for leg in range(2):
        n = sum((m.qst[8 * leg + i] / (1 << 28)) ** 2 for i in range(4))
        assert abs(n - 1) < 0.004
        a, b = m.angles[2 * leg], ref.angles[2 * leg]
        assert abs(a - b) < 100, (list(m.angles), list(ref.angles))  # hip alpha, cdeg


@pytest.mark.micropython
def test_knee_chain_with_noise_on_32_bit_words(fw32, tmp_path) -> None:
    """The whole knee chain (MGait, viper kernels) through the noise burst on 32-bit words:
    the same events and final angles as the CPython run of the same firmware code."""
    rows = _rows(_knee_counts(), noise=True)
    m, ev = _feed(rows)
    want = {"ev": ev, "angles": list(m.angles), "qst": list(m.qst)}
    rows.astype("<i2").tofile(tmp_path / "knee.bin")
    code = f"""
import json
from array import array
from gaitfw.boards import knee
ev = []
def emit(*a):
    ev.append(list(a))
    return True
m = knee.make_processors(emit, {{}})[0]
row = array('h', [0] * 14)
f = open({str(tmp_path / 'knee.bin')!r}, 'rb')
k = 0
while f.readinto(memoryview(row)) == 28:
    m.feed(10 * k, row)
    k += 1
print(json.dumps({{"ev": ev, "angles": list(m.angles), "qst": list(m.qst)}}))
"""
    got = json.loads(_mpy(code, fw32, timeout=600))
    assert got["qst"] == want["qst"]
    assert got["angles"] == want["angles"]
    assert got["ev"] == want["ev"]
