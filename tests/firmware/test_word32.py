"""The viper kernels on emulated 32-bit words (gaitloop.word32), under the 64-bit Unix port.

Why: a board's viper words wrap at 2^32; the Unix port from PyPI computes on 64 bits and would
hide a kernel that needs more. CI has no 32-bit MicroPython (docs/device_model.md), so the
firmware is rewritten to reduce every viper result to a 32-bit word and the bit-exactness
checks run on that copy: the int8 fast path (synthetic extreme models, requantization up to
its bound, the shipped students against ai-edge-litert), CSM through the foot processor, MGait
(Madgwick, events, steps) and the framing CRC/COBS kernels. The first test shows that the
emulation does change what a 64-bit word would hide. Uses only shipped data.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from gaitloop.export.device_runner import micropython_binary, run_device_model
from gaitloop.word32 import emulate, rewrite_source
from tests.conftest import FIRMWARE, ROOT

pytestmark = pytest.mark.micropython


@pytest.fixture(scope="module")
def fw32(tmp_path_factory) -> Path:
    dst = tmp_path_factory.mktemp("fw32") / "firmware"
    done = emulate(FIRMWARE, dst)
    for mod in ("gaitfw/int8ops.py", "gaitfw/csm.py", "gaitfw/ahrs.py", "gaitfw/mgait.py",
                "gaitfw/mgait_events.py", "gaitfw/protocol.py"):
        assert done.get(mod, 0) > 0, (mod, done)  # every kernel module was rewritten
    return dst


def _run(code: str, path: Path | str, timeout: float = 600) -> str:
    env = dict(os.environ, MICROPYPATH=f"{path}:.frozen")
    p = subprocess.run([micropython_binary(), "-X", "heapsize=4M", "-c", code], capture_output=True,
                       text=True, timeout=timeout, env=env, cwd=str(ROOT))
    assert p.returncode == 0, p.stderr[-2000:]
    return p.stdout


PROBE = '''
import micropython
from array import array

@micropython.viper
def mulshift(a: int, b: int) -> int:
    return (a * b) >> 16

@micropython.viper
def load_is_negative(buf) -> int:
    p = ptr32(buf)
    if p[0] < 0:
        return 1
    return 0

@micropython.viper
def uint_top(x: int) -> int:
    u = uint(x)
    return int(u >> 28)

@micropython.viper
def acc(n: int) -> int:
    s = 0
    i = 0
    while i < n:
        s += 0x10000000
        i += 1
    return s >> 8
'''

PROBE_RUN = '''
import probe
from array import array
print(probe.mulshift(100000, 100000), probe.load_is_negative(array('I', [0xFFFFFFFF])),
      probe.uint_top(-1), probe.acc(9))
'''


def test_emulation_reduces_to_32_bit_words(tmp_path):
    """A kernel that needs more than 32 bits gives the 32-bit answer on the emulated copy and
    the 64-bit one natively: the check can fail."""
    native, emul = tmp_path / "native", tmp_path / "emul"
    native.mkdir()
    emul.mkdir()
    (native / "probe.py").write_text(PROBE)
    text, n = rewrite_source(PROBE)
    assert n > 0
    (emul / "probe.py").write_text(text)
    got64 = [int(v) for v in _run(PROBE_RUN, native).split()]
    got32 = [int(v) for v in _run(PROBE_RUN, emul).split()]
    i32 = lambda v: int(np.array(v & 0xFFFFFFFF, np.uint32).view(np.int32))  # noqa: E731
    want32 = [i32(100000 * 100000) >> 16, 1, 0xF, i32(9 * 0x10000000) >> 8]
    want64 = [(100000 * 100000) >> 16, 0, (2**64 - 1) >> 28, (9 * 0x10000000) >> 8]
    assert got32 == want32
    assert got64[0] == want64[0] and got64[1] == want64[1] and got64[3] == want64[3]
    assert got64 != got32


def test_int8_fast_path_on_emulated_32_bit_words(tmp_path, fw32):
    """The fast path's synthetic extreme-value models and the requantization up to the
    accumulator bound (tests/int8/test_fast_path.py's checks), on 32-bit words."""
    from tests.int8.test_fast_path import _check, _check_requant

    def runner(code):
        return _run(code, fw32)

    _check(tmp_path, runner)
    _check_requant(tmp_path, runner)


@pytest.mark.parametrize("name", ["student_grf", "student_phase_insole"])
def test_shipped_students_bit_exact_on_emulated_32_bit_words(name, fw32):
    """Seeded random and extreme windows: the device model on 32-bit words equals
    ai-edge-litert's int8 kernels (the whole test sets: make results / test_shipped)."""
    from gaitloop.export.device_format import read_device_model
    from gaitloop.export.tflite_export import run_tflite

    dm = read_device_model(ROOT / "models" / f"{name}.gldm")
    rng = np.random.default_rng(3)
    w = rng.integers(-128, 128, (600, dm.window, dm.in_channels)).astype(np.int8)
    w[0], w[1] = -128, 127
    w[2:300] = np.clip(w[2:300] // 4 + rng.integers(-40, 40, (1, 1, dm.in_channels)), -128, 127)
    ref = run_tflite(ROOT / "models" / f"{name}_int8.tflite", w).reshape(len(w), -1)
    got = run_device_model(ROOT / "models" / f"{name}.gldm", w, firmware=fw32)
    assert np.array_equal(got, ref)
    assert len(np.unique(got)) > 20  # not a constant output


FOOT = '''
from array import array
from gaitfw import foot
evs = []
def emit2(t, code, side, a, b):
    evs.append((t, code, side, a, b))
fp = foot.FootProcessor(emit2, 0, T, P, use_viper=True)
for i in range(n):
    sample[0] = heel[i]
    sample[1] = ball[i]
    fp.feed(i * 10, sample)
s = csm.SensorCSM(T, P, True)
acc = 0
for i in range(n):
    acc = (acc * 31 + s.feed(ball[i])) & 0x3FFFFFFF
print(len(evs), acc)
print(evs)
'''


def test_csm_foot_on_emulated_32_bit_words(tmp_path, fw32):
    """The shipped templates on a shipped gaitpdb walk (heel L1, ball L6 + L7, N x 10): the
    foot processor's events and the sensor kernel's outputs are the same on 32-bit words."""
    from gaitloop.csm.mpy_scripts import csm_preamble

    raw = np.loadtxt(ROOT / "data" / "gaitpdb" / "GaCo01_01.txt")
    heel = np.clip(raw[:, 1] * 10, 0, 32767).astype("<i2")
    ball = np.clip((raw[:, 6] + raw[:, 7]) * 10, 0, 32767).astype("<i2")
    heel.tofile(tmp_path / "h.bin")
    ball.tofile(tmp_path / "b.bin")
    code = csm_preamble(ROOT / "models" / "csm_default.json", len(heel), tmp_path / "h.bin",
                        tmp_path / "b.bin") + FOOT
    native = _run(code, FIRMWARE)
    emul = _run(code, fw32)
    assert int(native.split()[0]) > 100  # the walk's steps produced events
    assert emul == native


def test_mgait_on_emulated_32_bit_words(tmp_path, fw32):
    """The shipped CMU walk through the simulated knee sleeve: MGait's events (steps, strides,
    speed, feedback) on 32-bit words equal the CPython run of the same firmware code."""
    from gaitloop.mgait.mocap import load_asf_amc
    from gaitloop.mgait.reference import board_path
    from gaitloop.mgait.synth import synthesize

    cmu = ROOT / "data" / "mocap" / "cmu"
    walk = load_asf_amc(cmu / "35.asf", cmu / "35_01.amc")
    streams = synthesize(walk)
    cfg = {"l1_mm": round(walk.l1() * 1000), "l2_mm": round(walk.l2() * 1000), "d5_mm": 0,
           "bend_cal": streams.bend_cal}
    _, ev_cpy, _ = board_path(streams, cfg, feedback=True)
    streams.counts.astype("<i2").tofile(tmp_path / "knee.bin")
    code = f"""
import json
from array import array
from gaitfw.feedback import Feedback
from gaitfw.mgait import MGait
cfg = json.loads({json.dumps(json.dumps(cfg))})
ev = []
def emit(t, c, s, a, b):
    ev.append([t, c, s, a, b])
mg = MGait(emit, cfg, 100, Feedback(emit, cfg), viper=True)
row = array('h', [0] * 14)
f = open({str(tmp_path / 'knee.bin')!r}, 'rb')
i = 0
while f.readinto(memoryview(row)) == 28:
    mg.feed(i * 10, row)
    i += 1
print(json.dumps(ev))
"""
    got = json.loads(_run(code, fw32))
    assert len(got) > 10  # calibration, then steps and strides of both legs
    assert got == [list(e) for e in ev_cpy]


def test_framing_kernels_on_emulated_32_bit_words(fw32):
    """CRC-16 and COBS (viper on the board) on random frames: the same bytes on 32-bit words."""
    code = """
from gaitfw import protocol
import random
random.seed(7)
out = []
for n in (1, 7, 60, 200, 254, 255, 300):
    b = bytearray(random.getrandbits(8) for _ in range(n))
    dst = bytearray(n + n // 254 + 2)
    k = protocol.cobs_encode_into(b, n, dst)
    out.append((protocol.crc16(b, 0, n), bytes(dst[:k])))
print(out)
"""
    assert _run(code, fw32) == _run(code, FIRMWARE)
