"""Bad walk files and bad sensor streams: a clear error or a flagged STATUS, never a wrong step."""

from array import array

import numpy as np
import pytest

from gaitfw.events import EV_MG_STEP, EV_MG_STEP_REJECT
from gaitfw.mgait import ST_MG_DROPOUT, ST_MG_SATURATED, MGait
from gaitloop.mgait.mocap import MocapError, load_walk
from tests.conftest import require_data
from tests.mgait.conftest import NORMAL


def _bvh_text() -> str:
    require_data("bandai_namco")
    return NORMAL.read_text()


def test_missing_joint(tmp_path):
    p = tmp_path / "nofoot.bvh"
    p.write_text(_bvh_text().replace("Foot_L", "Pied_L"))
    with pytest.raises(MocapError, match="missing joint"):
        load_walk(p)


def test_nan_frames(tmp_path):
    head, motion = _bvh_text().split("MOTION", 1)
    lines = motion.splitlines()
    k = next(i for i, ln in enumerate(lines) if ln.startswith("Frame Time")) + 50
    vals = lines[k].split()
    vals[8] = "nan"
    lines[k] = " ".join(vals)
    p = tmp_path / "nan.bvh"
    p.write_text(head + "MOTION" + "\n".join(lines))
    with pytest.raises(MocapError, match="non-finite"):
        load_walk(p)


def test_unknown_format_and_garbage(tmp_path):
    p = tmp_path / "walk.c3d"
    p.write_bytes(b"\x00\x01")
    with pytest.raises(MocapError, match="unknown walk format"):
        load_walk(p)
    q = tmp_path / "broken.bvh"
    q.write_text("HIERARCHY\nROOT x {\n")
    with pytest.raises(MocapError):
        load_walk(q)
    with pytest.raises(MocapError, match="no such file"):
        load_walk(tmp_path / "absent.bvh")


def _run(counts, cfg):
    ev, st = [], []

    def emit(t, c, s, a, b):
        ev.append((t, c, s, a, b))

    mg = MGait(emit, cfg, 100)
    row = array("h", [0] * 14)
    for i, r in enumerate(counts.tolist()):
        for j, v in enumerate(r):
            row[j] = v
        mg.feed(i * 10, row)
        st.append(mg.status())
    return ev, np.array(st)


def _steps(ev):
    return [e for e in ev if e[1] == EV_MG_STEP]


@pytest.mark.parametrize("fault", ["saturate", "dropout", "freeze"])
def test_sensor_faults_flag_status_and_reject_the_step(normal_walk, normal_streams, fault):
    cfg = {"l1_mm": 391, "l2_mm": 410, "bend_cal": normal_streams.bend_cal}
    ev0, _ = _run(normal_streams.counts, cfg)
    good = _steps(ev0)
    t_mid = good[len(good) // 2][0]
    c = normal_streams.counts.copy()
    a, b = t_mid // 10 - 40, t_mid // 10 - 20  # inside the step that ends at t_mid
    if fault == "saturate":
        c[a:b, 5] = 32767
        bit = ST_MG_SATURATED
    elif fault == "dropout":
        c[a:b, 8:14] = 0
        bit = ST_MG_DROPOUT
    else:
        c[a:b, 4:7] = c[a, 4:7]
        bit = ST_MG_DROPOUT
    ev, st = _run(c, cfg)
    assert np.any(st[a:b] & bit)
    rej = [e for e in ev if e[1] == EV_MG_STEP_REJECT]
    assert rej and rej[0][3] == (1 if fault == "saturate" else 2)
    # no step is reported between the fault and the rejection
    t_rej = rej[0][0]
    assert not any(a * 10 <= e[0] <= t_rej for e in _steps(ev))
    # later steps come back and the flag clears
    assert any(e[0] > t_rej + 1500 for e in _steps(ev))
    assert not (st[-1] & bit)


def test_static_realignment_recovers_a_disturbed_filter():
    """1 s of stillness re-aligns the tilt from gravity (plain on CPython, viper on MicroPython)."""
    import json

    from tests.conftest import run_micropython

    row = [150, 0, 0, 4096, 0, 0, 0, 150, 0, 0, 4096, 0, 0, 0]
    code = f"""
from array import array
from gaitfw.mgait import MGait
mg = MGait(lambda *a: None, {{}}, 100)
row = array('h', {row})
out = []
for i in range(200):
    row[4] = row[11] = i % 3 - 1
    mg.feed(i * 10, row)
mg.qst[1] = 23000000  # ~10 degrees of tilt error on the left thigh
mg.qst[5] = 0; mg.qst[6] = 2800
for i in range(200, 400):
    row[4] = row[11] = i % 3 - 1  # sensor noise (an identical gyro reading counts as frozen)
    mg.feed(i * 10, row)
    if i % 20 == 0:
        out.append(mg.qst[6])
print(out)
"""
    vals_mpy = json.loads(run_micropython(code))
    mg = MGait(lambda *a: None, {}, 100)
    r = array("h", row)
    for i in range(200):
        r[4] = r[11] = i % 3 - 1
        mg.feed(i * 10, r)
    mg.qst[1] = 23000000
    mg.qst[5] = 0
    mg.qst[6] = 2800
    vals = []
    for i in range(200, 400):
        r[4] = r[11] = i % 3 - 1
        mg.feed(i * 10, r)
        if i % 20 == 0:
            vals.append(mg.qst[6])
    assert vals == vals_mpy
    assert abs(vals[2]) > 2000  # still tilted before one second of stillness
    assert abs(vals[-1]) < 50  # re-aligned after it (|vy| < 0.2 degree)
