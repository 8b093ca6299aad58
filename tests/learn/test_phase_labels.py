"""Phase labelling rules (paper II.C) on synthetic strides and on the real data."""

from __future__ import annotations

import numpy as np

from gaitloop.learn.phase_labels import HO, HS, ST, SW, UNLABELED, PhaseLabeler, label_recording


def _stride():
    """Left foot: swing 0-19, contact 20-89 (heel loaded 20-59, then ball only),
    right foot loaded until 30 (initial double support), then again from 80."""
    n = 100
    heel = np.zeros(n)
    ball = np.zeros(n)
    heel[20:60] = 200
    ball[25:90] = 300
    heel_o = np.zeros(n)
    ball_o = np.zeros(n)
    ball_o[:30] = 250
    heel_o[80:] = 150
    return heel, ball, heel_o, ball_o


def test_rules_on_one_stride():
    lab = PhaseLabeler(threshold=10, min_run=3, max_hs=30).label(*_stride()).labels_
    assert (lab[:20] == SW).all()
    assert (lab[20:30] == HS).all()  # until the other foot leaves the ground
    assert (lab[30:60] == ST).all()  # heel loaded (flat zone)
    assert (lab[60:90] == HO).all()  # ball only
    assert (lab[90:] == SW).all()


def test_hs_is_capped_and_blips_ignored():
    heel, ball, heel_o, ball_o = _stride()
    ball_o[:] = 250  # other foot never lifts: HS capped
    heel[5] = 100  # one-sample blip in swing
    lab = PhaseLabeler(max_hs=15).label(heel, ball, heel_o, ball_o).labels_
    assert lab[5] == SW
    assert (lab[20:35] == HS).all() and lab[35] == ST


def test_nan_samples_unlabeled():
    heel, ball, heel_o, ball_o = _stride()
    heel[50] = np.nan
    lab = PhaseLabeler().label(heel, ball, heel_o, ball_o).labels_
    assert lab[50] == UNLABELED
    assert lab[49] == ST


def test_real_recordings_have_all_phases(phase_recordings):
    counts = np.zeros(4)
    for r in phase_recordings:
        lab = r.labels
        counts += np.bincount(lab[lab >= 0], minlength=4)
    frac = counts / counts.sum()
    assert (frac > 0.05).all(), frac  # every phase occurs
    assert frac[HS] < frac[ST] and frac[HS] < frac[SW]  # HS is the short one, as in the paper


def test_label_recording_right_side_uses_right_foot(figs_dir):
    from gaitloop.data.imu_figs import load_fig

    rec = load_fig(figs_dir / "0 0 1 1.fig")
    left, right = label_recording(rec, "l"), label_recording(rec, "r")
    assert left.shape == right.shape and not np.array_equal(left, right)
