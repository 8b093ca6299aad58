"""The phase branch of the student processor on a hand-made device model (no TensorFlow).

The model is one fully connected layer over the last sample: logit 0 = heel, logit 1 = ball,
logit 2 = 1, logit 3 = -1; so the predicted class is known for every input.
"""

from __future__ import annotations

import json
from array import array

import numpy as np
import pytest

from gaitfw import events, student
from gaitloop.export.device_format import (
    OP_FC,
    OP_RESHAPE,
    DeviceModel,
    pack,
    quantize_multiplier,
    read_device_model,
)
from tests.conftest import run_micropython


def _model(tmp_path):
    w = np.zeros((4, 80), np.int8)
    w[0, 78] = 127  # heel of the newest sample ([t][c] layout, t = 39)
    w[1, 79] = 127  # ball of the newest sample
    mult, shift = quantize_multiplier(1 / 127)
    q = np.array([0, 0, 127, -127] + [mult] * 4 + [shift] * 4, np.int32)
    base = {"act_min": -128, "act_max": 127, "k": 0, "stride": 0, "dilation": 0, "pad": 0,
            "in_off": 0, "out_off": 0, "w_off": 0, "q_off": 0, "rounding": 1}
    ops = [{**base, "opcode": OP_RESHAPE, "len_in": 40, "c_in": 2, "len_out": 1, "c_out": 80},
           {**base, "opcode": OP_FC, "len_in": 1, "c_in": 80, "len_out": 1, "c_out": 4}]
    dm = DeviceModel(task="phase", window=40, in_channels=2, n_out=4, in_zp=0, out_zp=0,
                     out_mul=1, out_shift=0, norm=np.array([[1, 0, 0], [1, 0, 0]], np.int32),
                     ops=ops, weights=w.reshape(-1), q=q, arena=80)
    path = tmp_path / "phase.gldm"
    path.write_bytes(pack(dm))
    read_device_model(path)  # valid by the host's checks
    return path


SAMPLES = [(0, 0)] * 45 + [(100, 0)] * 12 + [(50, 90)] * 12 + [(0, 0)] * 12 + [(0, 60)] * 5


def _expected():
    """(sample index, class, margin) of each phase change, inferring every 3rd sample."""
    out, last = [], -1
    for i in range(39, len(SAMPLES)):
        if (i - 39) % 3:
            continue
        h, b = SAMPLES[i]
        logits = [h, b, 1, -1]
        best = int(np.argmax(logits))
        if best != last:
            second = sorted(logits)[-2]
            out.append((i, best, logits[best] - second))
            last = best
    return out


def test_phase_events_on_change(tmp_path):
    path = _model(tmp_path)
    got = []
    proc = student.make(lambda *a: got.append(a), 1, str(path), hop=3)
    s = array("h", [0, 0])
    for i, (h, b) in enumerate(SAMPLES):
        s[0], s[1] = h, b
        proc.feed(i, s)
    ph = [(g[0], g[3], g[4]) for g in got if g[1] == events.EV_ST_PHASE]
    assert ph == _expected()
    assert [g[1] for g in ph] == [2, 0, 1, 2, 1]
    assert all(g[2] == 1 for g in got)


@pytest.mark.micropython
def test_phase_events_under_micropython(tmp_path):
    path = _model(tmp_path)
    code = f"""
import json, gc
from array import array
from gaitfw import student, events
got = []
def emit(t, code, side, a, b):
    if code == events.EV_ST_PHASE:
        got.append((t, a, b))
p = student.make(emit, 1, '{path}', hop=3)
s = array('h', [0, 0])
rows = json.loads('{json.dumps(SAMPLES)}')
def feed(p, s, rows, a, n):
    i = a
    while i < n:
        s[0] = rows[i][0]
        s[1] = rows[i][1]
        p.feed(i, s)
        i += 1
feed(p, s, rows, 0, 60)
gc.collect(); a = gc.mem_alloc(); feed(p, s, rows, 60, 66); g = gc.mem_alloc() - a
feed(p, s, rows, 66, len(rows))
print(json.dumps([got, g]))
"""
    got, grow = json.loads(run_micropython(code).strip().splitlines()[-1])
    assert [tuple(g) for g in got] == _expected()
    assert grow == 0  # no phase change in 60..65: the steady state allocates nothing
