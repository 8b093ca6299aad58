"""MicroPython driver preamble shared by the CSM firmware tests and `tools/bench/bench_csm.py`.

Why one copy: both load the shipped templates and one recording's heel/ball counts on the
interpreter the same way; if that setup drifted, the benchmark would measure another path
than the tests check.
"""

from __future__ import annotations

from pathlib import Path

_PREAMBLE = """
import gc, json, time
from array import array
from gaitfw import csm, foot
d = json.load(open({tpl!r}))
T = csm.pack_templates(d['fixed']['on'], d['fixed']['off'])
P = d['params']
n = {n}
heel = array('h', [0] * n)
ball = array('h', [0] * n)
with open({heel!r}, 'rb') as f:
    f.readinto(heel)
with open({ball!r}, 'rb') as f:
    f.readinto(ball)
ring = array('i', [0] * 4)
def emit(t, code, side, a, b):
    ring[0] = ring[0] + 1
sample = array('h', [0, 0])
"""


def csm_preamble(templates: str | Path, n: int, heel: str | Path, ball: str | Path) -> str:
    """Script text defining T, P, heel, ball (int16 counts read from raw files), emit, sample."""
    return _PREAMBLE.format(tpl=str(templates), n=int(n), heel=str(heel), ball=str(ball))
