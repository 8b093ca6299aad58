"""Lopez-Meyer threshold, four statuses and E1-E4 on hand-made signals."""

import numpy as np

from gaitloop.csm.labels import (
    ALPHA,
    IOFF,
    ION,
    OFF,
    ON,
    binary_labels,
    four_states,
    lopez_meyer_threshold,
)
from gaitloop.csm.metrics import score


def square_gait(n_cycles=10, on=60, off=40, lo=100.0, hi=1100.0):
    one = np.r_[np.full(on, hi), np.full(off, lo)]
    return np.tile(one, n_cycles)


def test_threshold_is_eq2():
    x = square_gait()
    assert abs(lopez_meyer_threshold(x) - (100.0 + ALPHA * 1000.0)) < 1e-9


def test_four_states_layout_matches_authors_ini():
    g = np.r_[np.ones(20), np.zeros(30), np.ones(20)].astype(np.int8)
    s = four_states(g)
    assert (s[:20] == ON).all()
    assert (s[20:25] == IOFF).all()  # first t_W samples below threshold
    assert (s[25:45] == OFF).all()
    assert (s[45:50] == ION).all()  # last t_W samples before the first loaded one
    assert (s[50:] == ON).all()


def test_short_glitch_removed():
    x = square_gait()
    x[30] = 100.0  # one-sample dropout in stance
    g = binary_labels(x)
    assert g[30] == 1


def test_metrics_perfect_late_and_false():
    x = square_gait()
    g = binary_labels(x)
    st = four_states(g)
    valid = np.ones(len(g), bool)
    c = score(g, g, st, valid).rates()
    assert c["E1"] == 0 and c["E2"] == 0 and c["E4"] == 0
    assert c["E4_strict"] == c["E4_strict_floor"] > 0  # the floor of the strict reading
    late = np.roll(g, 2)
    c2 = score(late, g, st, valid).rates()
    assert c2["E1"] == 0 and c2["E4"] > 0  # 2 samples late: inside the +/- t_W window
    bad = g.copy()
    bad[10:12] = 0  # a false lift-off and a false contact in stance
    c3 = score(bad, g, st, valid)
    assert c3.fn1 == 1 and c3.fn2 == 1 and c3.mn1 == 0
