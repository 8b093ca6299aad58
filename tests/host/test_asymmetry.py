"""Left/right step asymmetry across two boards (host/gaitloop/asymmetry.py)."""

from __future__ import annotations

import numpy as np
import pytest

from gaitloop.asymmetry import StepAsymmetry, summary_text, symmetry_index


def walk(step_l: float, step_r: float, stance_l: float, stance_r: float, n: int = 40, t0: float = 100.0,
         jitter: float = 0.0, seed: int = 0):
    """Heel strikes and toe offs of a walk with known left and right step and stance times."""
    rng = np.random.default_rng(seed)
    hl, hr, tl, tr = [], [], [], []
    t = t0
    for _ in range(n):
        t += step_r
        hr.append(t)
        tr.append(t + stance_r)
        t += step_l
        hl.append(t)
        tl.append(t + stance_l)
    j = lambda a: np.asarray(a) + rng.normal(0, jitter, len(a))  # noqa: E731
    return j(hl), j(hr), j(tl), j(tr)


def test_known_asymmetry() -> None:
    hl, hr, tl, tr = walk(0.60, 0.50, 0.70, 0.62)
    s = StepAsymmetry().estimate(hl, hr, tl, tr).summary()
    assert s["step"]["left_ms"] == pytest.approx(600, abs=0.5)
    assert s["step"]["right_ms"] == pytest.approx(500, abs=0.5)
    assert s["step"]["si_pct"] == pytest.approx(symmetry_index(600, 500), abs=0.05)
    assert s["stance"]["left_ms"] == pytest.approx(700, abs=0.5)
    assert s["swing"]["left_ms"] == pytest.approx(1100 - 700, abs=0.5)
    # double support after the left heel strike lasts until the right toe off
    assert s["double"]["left_ms"] == pytest.approx(620 - 600, abs=0.5)
    assert s["double"]["right_ms"] == pytest.approx(700 - 500, abs=0.5)
    assert s["step"]["n_left"] >= 38


def test_a_clock_offset_shows_as_asymmetry() -> None:
    """Why alignment matters: 20 ms of offset between the boards makes a symmetric walk look
    asymmetric by ~7 %; within-board measures (stance) do not change."""
    hl, hr, tl, tr = walk(0.55, 0.55, 0.65, 0.65)
    s = StepAsymmetry().estimate(hl + 0.02, hr, tl + 0.02, tr).summary()
    assert s["step"]["si_pct"] == pytest.approx(symmetry_index(570, 530), abs=0.05)
    assert s["stance"]["si_pct"] == pytest.approx(0.0, abs=0.01)


def test_missed_and_doubled_events_are_robust() -> None:
    hl, hr, tl, tr = walk(0.58, 0.52, 0.7, 0.7, jitter=0.003, seed=3)
    hl = np.delete(hl, [5, 17])  # two missed left heel strikes
    hr = np.sort(np.append(hr, hr[9] + 0.05))  # a doubled right one
    s = StepAsymmetry().estimate(hl, hr, tl, tr).summary()
    assert s["step"]["left_ms"] == pytest.approx(580, abs=5)
    assert s["step"]["right_ms"] == pytest.approx(520, abs=5)


def test_empty_sides() -> None:
    s = StepAsymmetry().estimate([], [1.0, 2.0]).summary()
    assert s["step"]["n_left"] == 0 and s["step"]["si_pct"] is None and s["step"]["left_ms"] is None
    assert summary_text(s).startswith("step - | - (- %)")
