"""gaitfw.csm / gaitfw.foot: bit-exact to the host emulation, viper == plain, no heap growth."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from gaitfw import csm
from gaitloop.csm.model import CSMDetector
from gaitloop.csm.mpy_scripts import csm_preamble

from .conftest import SHIPPED, write_counts

PICK = [("N03_2", "left_heel"), ("N11_4", "right_ball"), ("N07_1", "left_heel"),
        ("N16_5", "left_ball"), ("N20_1", "right_heel")]


def _stream(streams, rec, sensor):
    return next(s for s in streams if s.recording == rec and s.sensor == sensor)


def _kernel_run(counts, T, params, use_viper=False):
    sc = csm.SensorCSM(T, params, use_viper=use_viper)
    return np.array([sc.feed(int(x)) for x in counts])


@pytest.mark.parametrize("rec,sensor", PICK)
def test_host_emulation_is_bit_exact(huang_streams, shipped, rec, sensor):
    s = _stream(huang_streams, rec, sensor)
    counts = s.counts.copy()
    counts[500:503] = csm.MISSING  # a NaN gap is part of the contract too
    T = csm.pack_templates(shipped.on.fixed(), shipped.off.fixed())
    out = _kernel_run(counts, T, shipped.params)
    d = CSMDetector(shipped, fixed=True).detect(counts)
    assert np.array_equal(out & 1, d.decision_)
    assert np.array_equal(((out >> 1) & csm.F_FLAT) > 0, d.flat_)


def test_lut_and_quantisation_bounds(shipped):
    lut = csm.lut()
    assert len(lut) == 1025 and lut[0] == 16384 and lut[-1] == round(16384 * np.exp(-8))
    for t in (shipped.on, shipped.off):
        fx = t.fixed()
        assert fx[0] == int((10 - t.eps) * 16384 + 0.5)
        for j in range(10):
            mu, lim, r, q = fx[1 + 4 * j: 5 + 4 * j]
            assert 4096 <= r <= 8192
            # e < lim before e * r: the largest product stays below 2^30 (small-int limit)
            assert lim * r < 2**30


MPY_RUN = """
import gc, json
from array import array
from gaitfw import csm
d = json.load(open({tpl!r}))
T = csm.pack_templates(d['fixed']['on'], d['fixed']['off'])
n = {n}
buf = array('h', [0] * n)
with open({path!r}, 'rb') as f:
    f.readinto(buf)
out = []
for v in (True, False):
    s = csm.SensorCSM(T, d['params'], v)
    dec = bytearray(n)
    for i in range(n):
        dec[i] = s.feed(buf[i]) & 1
    out.append(dec)
print('same', out[0] == out[1])
print(''.join('1' if b else '0' for b in out[0]))
"""


@pytest.mark.micropython
def test_micropython_viper_equals_plain_equals_host(mpy, tmp_path, huang_streams, shipped):
    s = _stream(huang_streams, "N11_4", "right_ball")
    p = tmp_path / "c.bin"
    write_counts(p, s.counts)
    res = mpy(MPY_RUN.format(tpl=str(SHIPPED), n=len(s.counts), path=str(p))).split()
    assert res[:2] == ["same", "True"]
    dec = np.frombuffer(res[2].encode(), dtype=np.uint8) - ord("0")
    host = CSMDetector(shipped, fixed=True).detect(s.counts).decision_
    assert np.array_equal(dec, host)


MPY_HEAP = """for v in (True, False):
    fp = foot.FootProcessor(emit, 0, T, P, use_viper=v)
    growth = []
    t = 0
    for m in (300, 600, 1200):  # the first run warms up one-time caches, then N and 2N
        gc.collect()
        a0 = gc.mem_alloc()
        for i in range(m):
            k = (t // 10) % n
            sample[0] = heel[k]
            sample[1] = ball[k]
            fp.feed(t, sample)
            t += 10
        growth.append(gc.mem_alloc() - a0)
    print(v, growth[1], growth[2], ring[0], fp.steps)
"""


@pytest.mark.micropython
def test_no_heap_growth_per_sample_micropython(mpy, tmp_path, huang_streams):
    h = _stream(huang_streams, "N03_2", "left_heel")
    b = _stream(huang_streams, "N03_2", "left_ball")
    write_counts(tmp_path / "h.bin", h.counts)
    write_counts(tmp_path / "b.bin", b.counts)
    out = mpy(csm_preamble(SHIPPED, len(h.counts), tmp_path / "h.bin", tmp_path / "b.bin") + MPY_HEAP)
    rows = [line.split() for line in out.strip().splitlines()]
    assert len(rows) == 2
    for _v, g1, g2, n_events, steps in rows:
        # growth over N and 2N samples is equal (and zero): nothing per sample
        assert int(g1) == 0 and int(g2) == 0
        assert int(steps) >= 10 and int(n_events) >= 4 * int(steps) - 4


def test_template_file_roundtrip_on_board(tmp_path, shipped):
    p = tmp_path / "csm.json"
    shipped.save(p)
    T, params, defaulted = csm.load_templates(str(p))
    assert defaulted == 0 and list(T[:41]) == shipped.on.fixed()
    p.write_text("{not json")
    T2, _, defaulted2 = csm.load_templates(str(p))
    assert defaulted2 == 2 and list(T2[:41]) == csm.DEFAULT_ON
    _, _, defaulted3 = csm.load_templates(str(tmp_path / "absent.json"))
    assert defaulted3 == 1


def test_baked_defaults_match_shipped_json():
    d = json.loads(SHIPPED.read_text())
    assert csm.DEFAULT_ON == d["fixed"]["on"]
    assert csm.DEFAULT_OFF == d["fixed"]["off"]


@pytest.mark.parametrize("rec,sensor", PICK[:3])
def test_float_twin_equals_host_float_reference(huang_streams, shipped, rec, sensor):
    s = _stream(huang_streams, rec, sensor)
    T = csm.pack_templates(shipped.on.fixed(), shipped.off.fixed())
    TF = (csm.float_template(shipped.on.mu, shipped.on.delta, shipped.on.eps),
          csm.float_template(shipped.off.mu, shipped.off.delta, shipped.off.eps))
    sc = csm.SensorCSM(T, shipped.params, float_templates=TF)
    out = np.array([sc.feed_float(int(x)) for x in s.counts])
    host = CSMDetector(shipped, fixed=False).detect(s.counts).decision_
    assert np.array_equal(out & 1, host)


MPY_FUSED = """evs = {}
for v in (True, False):
    log = []
    def emit2(t, code, side, a, b):
        log.append((t, code, a, b))
        return True
    fp = foot.FootProcessor(emit2, 0, T, P, use_viper=v, sensor_events=True)
    t = 0
    for i in range(3 * n):
        k = i % n
        sample[0] = heel[k]
        sample[1] = ball[k]
        if 1500 < i < 2100:
            sample[0] = 1234  # heel flat-lined
        if 2500 < i < 2600 and i % 3 == 0:
            sample[1] = csm.MISSING
        if 3000 < i < 3300 or 3500 < i < 3600:
            sample[0] = 32767  # saturated, twice at one count: a rail (clipped-top stretch)
        if 3300 <= i < 3400:
            sample[1] = -32767
        fp.feed(t, sample)
        t += 10
    evs[v] = log
    print(v, len(log), fp.steps, fp.phase, fp.run)
print('same', evs[True] == evs[False])
"""


@pytest.mark.micropython
def test_fused_foot_kernel_viper_equals_plain_micropython(mpy, tmp_path, huang_streams):
    """csm._foot_viper (both sensors and the quiet check in one native call) against two
    calls of the plain kernel, event for event, through flat, missing and saturated input."""
    h = _stream(huang_streams, "N03_2", "left_heel")
    b = _stream(huang_streams, "N03_2", "left_ball")
    write_counts(tmp_path / "h.bin", h.counts)
    write_counts(tmp_path / "b.bin", b.counts)
    out = mpy(csm_preamble(SHIPPED, len(h.counts), tmp_path / "h.bin", tmp_path / "b.bin")
              + "from gaitfw import csm\n" + MPY_FUSED)
    lines = out.strip().splitlines()
    assert lines[-1] == "same True", out
    n_events = int(lines[0].split()[1])
    assert n_events > 50 and lines[0].split()[1:] == lines[1].split()[1:]


MPY_FUSED_RAW = """from array import array
from gaitfw import csm
S2 = {}
for v in (True, False):
    S2[v] = array('i', [0] * 115)
    mv = memoryview(S2[v])
    for o in (0, 56):
        sc = csm.SensorCSM(T, P, use_viper=False, state=mv[o:o + 56])
    S2[v][112] = 0
    S2[v][113] = 1
L = csm.lut()
args = {True: S2[True], False: (S2[False], memoryview(S2[False])[0:56], memoryview(S2[False])[56:112])}
diff = 0
seen = 0
for i in range(3 * n):
    k = i % n
    sample[0] = heel[k]
    sample[1] = ball[k]
    if 1500 < i < 2100:
        sample[0] = 1234
    if 2500 < i < 2600 and i % 3 == 0:
        sample[1] = csm.MISSING
    if 3000 < i < 3300 or 3500 < i < 3600:
        sample[0] = 32767
    if 3300 <= i < 3400:
        sample[1] = -32767
    if i % 7 == 0:  # a quiet value now and then: the -1 answer must agree too
        S2[True][114] = S2[False][114] = seen
    rv = csm._foot_viper(S2[True], T, L, sample)
    rp = csm._foot_plain(args[False], T, L, sample)
    if rv != rp or S2[True] != S2[False]:  # the result and every state word, every sample
        diff += 1
    if rv >= 0:
        seen = rv
print('diff', diff, 'state', list(S2[True]) == list(S2[False]))
"""


@pytest.mark.micropython
def test_fused_foot_kernel_result_and_state_bit_exact_micropython(mpy, tmp_path, huang_streams):
    """csm._foot_viper (per-sensor base pointers, walking template pointers) against the
    plain twin, every sample's packed result and every state word, under MicroPython,
    through flat, missing and saturated input (the event test above sees only changes)."""
    h = _stream(huang_streams, "N03_2", "left_heel")
    b = _stream(huang_streams, "N03_2", "left_ball")
    write_counts(tmp_path / "h.bin", h.counts)
    write_counts(tmp_path / "b.bin", b.counts)
    out = mpy(csm_preamble(SHIPPED, len(h.counts), tmp_path / "h.bin", tmp_path / "b.bin")
              + MPY_FUSED_RAW)
    assert out.strip().splitlines()[-1] == "diff 0 state True", out


FAULTED = [("saturation", 3), ("saturation", 4), ("drift", 3), ("creep", 4), ("dropped", 3)]


def _faulted(s, fault, level):
    from gaitloop.csm import faults as fl

    return fl.inject(s.counts, fault, level,
                     fl.stream_seed(f"{s.recording}:{s.sensor}", fault, level, 0))


@pytest.mark.parametrize("lo_blocks", [8, 4])
@pytest.mark.parametrize("fault,level", FAULTED)
def test_host_emulation_is_bit_exact_on_faulted_counts(huang_streams, shipped, fault, level,
                                                       lo_blocks):
    """The floor from the newest `lo_blocks` blocks and the clipped-top stretch (step 2b)
    are where the host and the kernel could part: faulted input drives both."""
    s = _stream(huang_streams, "N11_4", "right_ball")
    counts = _faulted(s, fault, level)
    tpl = copy.deepcopy(shipped)
    tpl.params["lo_blocks"] = lo_blocks
    T = csm.pack_templates(shipped.on.fixed(), shipped.off.fixed())
    out = _kernel_run(counts, T, tpl.params)
    d = CSMDetector(tpl, fixed=True).detect(counts)
    assert np.array_equal(out & 1, d.decision_)


def test_clipped_top_is_detected_only_when_clipped(huang_streams):
    """Step 2b fires on a sensor clipped at 40 % of its load range and never on the clean
    recording nor on a coarse one (gain 0.2: its peaks plateau for 12+ samples, but not at
    one count stride after stride as a rail does)."""
    from gaitloop.csm.features import clipped, fill_missing, prefilter, window_lo_hi

    def mask(c):
        raw = fill_missing(c)[0]
        xf = prefilter(raw)
        return clipped(raw, xf, window_lo_hi(xf)[1])

    s = _stream(huang_streams, "N11_4", "right_ball")
    assert not mask(s.counts).any()
    assert mask(_faulted(s, "saturation", 3)).mean() > 0.8
    coarse = _stream(huang_streams, "N11_3", "left_heel")
    assert mask(np.round(coarse.counts * 0.2).astype(np.int64)).mean() < 0.05


@pytest.mark.micropython
def test_micropython_viper_equals_plain_equals_host_clipped(mpy, tmp_path, huang_streams,
                                                             shipped):
    """Clipped and drifting input, floor from the newest 4 blocks: both new paths in viper.
    The drift is a one-count step every 5 s, so the rail stays at one count over several
    strides and the stretch fires (checked on the host twin)."""
    from gaitloop.csm.features import clipped, fill_missing, prefilter, window_lo_hi

    s = _stream(huang_streams, "N11_4", "right_ball")
    counts = _faulted(s, "saturation", 3)
    counts = np.minimum(counts.astype(np.int64) + np.arange(len(counts)) // 500, 32767)
    raw = fill_missing(counts)[0]
    xf = prefilter(raw)
    assert clipped(raw, xf, window_lo_hi(xf, 4)[1]).mean() > 0.5
    p = tmp_path / "c.bin"
    write_counts(p, counts.astype(np.int16))
    tpl = copy.deepcopy(shipped)
    tpl.params["lo_blocks"] = 4
    tf = tmp_path / "csm.json"
    tpl.save(tf)
    res = mpy(MPY_RUN.format(tpl=str(tf), n=len(counts), path=str(p))).split()
    assert res[:2] == ["same", "True"]
    dec = np.frombuffer(res[2].encode(), dtype=np.uint8) - ord("0")
    host = CSMDetector(tpl, fixed=True).detect(counts.astype(np.int16)).decision_
    assert np.array_equal(dec, host)
