"""The live student processor: integer input normalisation, windowing, events, no allocation."""

from __future__ import annotations

import json
from array import array

import numpy as np
import pytest

from gaitfw import events, student
from gaitfw.devmodel import Model
from gaitloop.export.device_format import read_device_model
from gaitloop.export.tflite_export import quantize_input, run_tflite
from tests.conftest import SHIPPED_GAITPDB, run_micropython
from tests.int8.models import GLDM, TFLITE, card

SUBJECT = "GaCo01"  # a held-out subject of the committed GRF student


@pytest.fixture(scope="module")
def replay():
    """Left-foot heel (L1) and ball (L6+L7) as insole counts (0.1 N), and the total force."""
    from gaitloop.data.gaitpdb import load_gaitpdb

    assert SUBJECT in card()["meta"]["test_subjects"]
    d = load_gaitpdb(SHIPPED_GAITPDB / f"{SUBJECT}_01.txt")[:3000]
    counts = np.round(np.c_[d[:, 1], d[:, 6] + d[:, 7]] / 0.1).astype(np.int16)
    return counts, d[:, 17]


def _int_norm(counts: np.ndarray) -> np.ndarray:
    dm = read_device_model(GLDM)
    mul, add, sh = (dm.norm[:, i].astype(np.int64) for i in range(3))
    return np.clip((counts.astype(np.int64) * mul + add) >> sh, -128, 127).astype(np.int8)


def test_integer_normalisation_within_one_lsb_of_float(replay):
    """Fixed-point input path vs the float reference (min-max to [-1, 1], then quantize)."""
    from ai_edge_litert.interpreter import Interpreter

    counts, _ = replay
    meta = card()["meta"]
    lo, hi = np.asarray(meta["norm_min"]), np.asarray(meta["norm_max"])
    x = np.clip(2 * (counts * 0.1 - lo) / (hi - lo) - 1, -1, 1).astype(np.float32)
    scale, zp = Interpreter(model_path=str(TFLITE)).get_input_details()[0]["quantization"]
    qf = quantize_input(x.T[None], scale, zp)[0]
    qi = _int_norm(counts)
    diff = np.abs(qf.astype(int) - qi)
    assert diff.max() <= 1
    assert diff.mean() < 0.05


def _run_processor(counts, hop=10):
    got = []

    def emit(t_ms, code, side, a, b):
        got.append((t_ms, code, side, a, b))

    proc = student.make(emit, 0, str(GLDM), hop=hop)
    assert proc is not None and got[0][1] == events.EV_ST_MODEL and got[0][3] == 0
    s = array("h", [0, 0])
    for i, row in enumerate(counts.tolist()):
        s[0], s[1] = row
        proc.feed(i * 10, s)
        if i < 39:
            assert proc.status() & student.ST_STUDENT_WARMUP
    assert proc.status() == 0
    return [g for g in got if g[1] == events.EV_ST_GRF]


def test_processor_events_match_litert_on_its_windows(replay):
    counts, total = replay
    grf = _run_processor(counts)
    q = _int_norm(counts)
    ends = np.arange(39, len(counts), 10)  # first full window, then every hop
    assert len(grf) == len(ends)
    wins = np.stack([q[e - 39: e + 1] for e in ends])
    raw = run_tflite(TFLITE, wins)[:, 0]
    assert [g[4] for g in grf] == raw.tolist()
    assert [g[0] for g in grf] == (ends * 10).tolist()
    dm = read_device_model(GLDM)
    dn = ((raw.astype(np.int64) - dm.out_zp) * dm.out_mul + (1 << dm.out_shift >> 1)) >> dm.out_shift
    assert [g[3] for g in grf] == dn.tolist()
    # and the estimate tracks the measured total force of this held-out foot
    est_n = dn / 10.0
    rmse = float(np.sqrt(np.mean((est_n - total[ends]) ** 2)))
    assert rmse < 150.0, rmse
    assert np.corrcoef(est_n, total[ends])[0, 1] > 0.9


def test_missing_or_bad_model_does_not_stop_the_board(tmp_path):
    got = []
    emit = lambda *a: got.append(a)  # noqa: E731
    assert student.make(emit, 1, str(tmp_path / "none.gldm")) is None
    bad = tmp_path / "bad.gldm"
    bad.write_bytes(GLDM.read_bytes()[:-7])
    assert student.make(emit, 1, str(bad)) is None
    assert [(g[1], g[3]) for g in got] == [(events.EV_ST_MODEL, 1), (events.EV_ST_MODEL, 2)]


def test_insole_board_appends_student_only_when_configured(tmp_path):
    from gaitfw.boards import insole

    emit = lambda *a: None  # noqa: E731
    base = insole.make_processors(emit, {"csm_templates": str(tmp_path / "none.json")})
    withs = insole.make_processors(emit, {"csm_templates": str(tmp_path / "none.json"),
                                          "student": str(GLDM)})
    assert len(withs) == len(base) + 1
    assert isinstance(withs[-1], student.StudentProcessor)


@pytest.mark.micropython
def test_no_heap_growth_per_inference_and_per_sample(replay):
    counts, _ = replay
    rows = counts[:400].tolist()
    code = f"""
import gc, json
from array import array
from gaitfw import student
from gaitfw.devmodel import Model
rows = json.loads('{json.dumps(rows)}')
n_ev = [0]
def emit(t, code, side, a, b):
    n_ev[0] += 1
m = Model('{GLDM}')
def run(m, n):
    i = 0
    while i < n:
        m.invoke()
        i += 1
def feed(p, s, rows, n):
    i = 0
    while i < n:
        r = rows[i]
        s[0] = r[0]
        s[1] = r[1]
        p.feed(i * 10, s)
        i += 1
def grow(f, *args):
    gc.collect()
    a = gc.mem_alloc()
    f(*args)
    return gc.mem_alloc() - a
run(m, 3)
inv = grow(run, m, 50)
p = student.make(emit, 0, '{GLDM}', hop=1)
s = array('h', [0, 0])
feed(p, s, rows, 60)
per = grow(feed, p, s, rows, len(rows))
print(json.dumps([inv, per, n_ev[0]]))
"""
    inv, per_sample, n_ev = json.loads(run_micropython(code).strip().splitlines()[-1])
    assert inv == 0
    assert per_sample == 0
    assert n_ev > 300  # hop=1: an inference and an event on every sample after warm-up


def test_model_ram_matches_host_accounting():
    """The host's figure (the firmware Model with plan_only, on CPython) is what the board
    itself reports under MicroPython with the viper table loaded, fast path and without."""
    dm = read_device_model(GLDM)
    assert Model(str(GLDM)).ram_bytes() == dm.ram_bytes(fast=False)  # CPython: plain kernels
    out = run_micropython(f"""
from gaitfw import int8ops
from gaitfw.devmodel import Model
m = Model('{GLDM}')
assert int8ops.kernels() is int8ops.VIPER and m._fast is not None
print(m.ram_bytes(), Model('{GLDM}', fast=False).ram_bytes())
""")
    fast, signed = (int(v) for v in out.split()[-2:])
    assert fast == dm.ram_bytes() < 24_000  # the board: viper fast path
    assert signed == dm.ram_bytes(fast=False) != fast


@pytest.mark.micropython
def test_model_loads_where_no_hole_holds_the_file():
    """Issue #15: on the Pico W the heap is fragmented when the student loads; the largest
    hole held the weights (16 120 B) but not the file read whole, nor the weights twice.
    Here the heap is cut into 17 000 B holes between kept blocks: a file-sized block
    must not fit (checked), and the model must load there and pass its self-test."""
    size = GLDM.stat().st_size
    n_w = read_device_model(GLDM).weights.nbytes
    assert n_w < 17_000 < size
    out = run_micropython(f"""
import gc
from gaitfw import int8ops, student
from gaitfw.devmodel import Model
int8ops.kernels()  # the viper table compiled before the heap is cut up
gc.collect()
blocks, pins = [None] * 64, [None] * 8192  # no list grows while the heap is cut up
h = p = 0
try:  # first fit: once the gaps below are too small, the blocks lie side by side
    while True:
        blocks[h] = bytearray(17000)
        h += 1
except MemoryError:
    pass
for n in (64, 16):  # what is left, pinned too
    try:
        while True:
            pins[p] = bytearray(n)
            p += 1
    except MemoryError:
        pass
for i in range(0, h, 2):  # every other block freed: holes of 17 000 B between kept ones
    blocks[i] = None
gc.collect()
try:
    bytearray({size})
    print("file-sized block fits")
except MemoryError:
    m = Model('{GLDM}')
    print("loaded", m.self_test(), h > 4)
""", heapsize="400k")
    assert out.split()[-3:] == ["loaded", "1", "True"], out


def test_self_test_passes_on_every_kernel_path():
    """The stored test window gives the stored outputs on the fast path, the plain viper
    kernels (a model the fast plan does not take) and the bytecode kernels: the self-test
    fills only the window's samples (the plain kernels' input is the whole, longer arena;
    filling all of it from the 80-byte window raised IndexError)."""
    out = run_micropython(f"""
from gaitfw.devmodel import Model
ms = [Model('{GLDM}'), Model('{GLDM}', fast=False), Model('{GLDM}', use_viper=False)]
assert ms[0]._fast is not None and ms[1]._fast is None
print([m.self_test() for m in ms])
""")
    got = json.loads(out.strip().splitlines()[-1])
    assert len(got) == 3 and got[0] == got[1] == got[2] > 0  # every output compared
    m = Model(str(GLDM))  # CPython: the plain bytecode kernels
    assert m.self_test() == got[0]
