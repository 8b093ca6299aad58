"""Replay sources: recordings -> the counts a board reads; bad input is a clear error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gaitloop.errors import DataError
from gaitloop.sim.sources import make_replay

ROOT = Path(__file__).resolve().parents[2]
WALK = ROOT / "data" / "mocap" / "cmu" / "35_01.amc"
INSOLE = ROOT / "data" / "gaitpdb" / "GaCo01_01.txt"


def test_knee_limp_changes_only_the_limping_leg():
    plain = make_replay("knee", "right", WALK)
    limp = make_replay("knee", "right", WALK, limp=0.3)
    ch = plain.channels
    right = [i for i, c in enumerate(ch) if c.endswith("_r")]
    left = [i for i, c in enumerate(ch) if c.endswith("_l")]
    assert plain.counts.shape == limp.counts.shape
    d_right = np.abs(plain.counts[:, right].astype(int) - limp.counts[:, right]).mean()
    d_left = np.abs(plain.counts[:, left].astype(int) - limp.counts[:, left]).mean()
    assert d_right > 5 * max(d_left, 1e-9)


def test_limp_is_rejected_where_it_means_nothing():
    with pytest.raises(DataError):
        make_replay("insole", "left", INSOLE, limp=0.2)
    with pytest.raises(DataError):
        make_replay("knee", "left", WALK, limp=0.9)
    with pytest.raises(DataError):
        make_replay("bogus", "left", INSOLE)
