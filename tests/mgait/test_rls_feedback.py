"""RLS (board vs float64 twin, convergence) and the debounced feedback rules."""

import json

import numpy as np

from gaitfw.events import (
    EV_MG_ASYM,
    EV_MG_BUZZ,
    EV_MG_BUZZ_OFF,
    EV_MG_LED,
    EV_MG_RLS_DONE,
    EV_MG_SPEED_TREND,
)
from gaitfw.feedback import Feedback
from gaitfw.rls import Rls
from gaitloop.mgait.calibrate import AngleBias, BatchLS, RlsRef
from gaitloop.mgait.reference import closed_form, features
from tests.conftest import run_micropython


def _angles(n, seed=0):
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.uniform(18, 30, n), rng.uniform(0, 8, n), rng.uniform(-18, -8, n), rng.uniform(5, 25, n)])


def test_board_rls_matches_float_reference_under_micropython():
    ang = _angles(12)
    w_true = np.array([420.0, 390.0, 30.0])
    h = features(*ang.T)
    y = h @ w_true
    ref = RlsRef([391.0, 410.0, 0.0]).fit(ang, y)
    code = f"""
from gaitfw.rls import Rls
h = {h.tolist()}
y = {y.tolist()}
r = Rls((391.0, 410.0, 0.0))
for i in range(len(y)):
    r.update(h[i][0], h[i][1], h[i][2], y[i])
print(r.w)
"""
    w_mpy = np.array(eval(run_micropython(code)))
    assert np.allclose(w_mpy, ref.w, atol=0.05)
    r = Rls((391.0, 410.0, 0.0))
    for hi, yi in zip(h, y, strict=True):
        r.update(*hi, yi)
    assert np.allclose(r.w, ref.w, atol=1e-9)


def test_board_rls_holds_in_single_precision():
    """ESP32 ports of MicroPython use 32-bit floats: the per-step RLS must not depend on
    double precision. numpy float32 scalars stay float32 through Python arithmetic (NEP 50),
    so the firmware class itself runs in single precision here."""
    ang = _angles(40, seed=3)
    w_true = np.array([405.0, 395.0, 18.0])
    h = features(*ang.T)
    y = h @ w_true + np.random.default_rng(4).normal(0, 4, len(h))
    f32 = Rls((391.0, 410.0, 0.0), p0=np.float32(1.0), sigma0=np.float32(1e5), lam_min=np.float32(0.95))
    f32.w = [np.float32(v) for v in f32.w]
    f32.P = [np.float32(v) for v in f32.P]
    ref = RlsRef([391.0, 410.0, 0.0])
    for hi, yi in zip(h.astype(np.float32), y.astype(np.float32), strict=True):
        f32.update(*hi, yi)
    ref.fit(ang, y)
    assert all(isinstance(v, np.float32) for v in f32.w + f32.P)  # really ran in float32
    assert np.allclose(np.array(f32.w, dtype=np.float64), ref.w, atol=0.05)


def test_rls_converges_in_about_five_steps():
    ang = _angles(30, seed=1)
    w_true = np.array([410.0, 430.0, 25.0])
    h = features(*ang.T)
    y = h @ w_true + np.random.default_rng(2).normal(0, 5, len(h))
    ref = RlsRef([391.0, 410.0, 0.0])
    errs = []
    for hi, yi in zip(h, y, strict=True):
        errs.append(abs(hi @ ref.w - hi @ w_true))  # a-priori error on the coming step
        ref.update(hi, yi)
    assert errs[0] > 15.0  # nominal lengths start ~2 cm off
    assert np.mean(errs[5:]) < 0.5 * errs[0]  # settled after about five steps


def test_batch_ls_respects_bounds_and_bias_fit_recovers_offsets():
    ang = _angles(40, seed=3)
    d = closed_form(0.40, 0.42, 0.02, *ang.T)
    b = BatchLS().fit(ang, d, (0.39, 0.41, 0.02))
    assert np.allclose(b.params_, [0.40, 0.42, 0.02], atol=2e-3)
    far = BatchLS().fit(ang, d * 1.5, (0.39, 0.41, 0.02))
    assert np.all(far.params_ <= np.array([0.39, 0.41, 0.02]) * 1.1 + [0, 0, 0.02] + 1e-9)
    bias = np.array([1.5, -0.5, 1.0, -1.0])
    ab = AngleBias().fit(ang + bias, d, (0.40, 0.42, 0.02))
    pred = closed_form(0.40, 0.42, 0.02, *(ang + bias - ab.bias_).T)
    assert np.sqrt(np.mean((pred - d) ** 2)) < 0.003


class _Rec:
    def __init__(self):
        self.ev = []

    def __call__(self, t, code, side, a, b):
        self.ev.append((t, code, side, a, b))


def _walk(fb, lengths):
    for i, (lft, rgt) in enumerate(lengths):
        fb.on_step(2 * i * 500, 0, lft)
        fb.on_step((2 * i + 1) * 500, 1, rgt)


def test_buzzer_fires_after_five_steps_and_does_not_chatter():
    rec = _Rec()
    fb = Feedback(rec, {"baseline_mm": 600})
    _walk(fb, [(600, 600)] * 10 + [(600, 420)] * 10 + [(600, 600)] * 10)
    buzz = [e for e in rec.ev if e[1] in (EV_MG_BUZZ, EV_MG_BUZZ_OFF)]
    assert [e[1] for e in buzz] == [EV_MG_BUZZ, EV_MG_BUZZ_OFF]
    asym = [e for e in rec.ev if e[1] == EV_MG_ASYM]
    first_high = next(i for i, e in enumerate(asym) if e[3] >= 2500)
    on_idx = next(i for i, e in enumerate(asym) if e[0] >= buzz[0][0])
    assert on_idx - first_high == 2  # third over-threshold stride = after five more steps
    # hovering around the threshold: 24 % / 26 % alternating never toggles on and off repeatedly
    rec2 = _Rec()
    fb2 = Feedback(rec2, {"baseline_mm": 600})
    pairs = [(600, 470) if i % 2 else (600, 460) for i in range(40)]  # 24.3 % and 26.4 %
    _walk(fb2, pairs)
    toggles = [e for e in rec2.ev if e[1] in (EV_MG_BUZZ, EV_MG_BUZZ_OFF)]
    assert len(toggles) <= 1


def test_led_on_sustained_reduction_and_speed_notice():
    rec = _Rec()
    fb = Feedback(rec, {"baseline_mm": 600})
    _walk(fb, [(600, 600)] * 5 + [(430, 430)] * 10)
    assert any(e[1] == EV_MG_LED for e in rec.ev)
    for k in range(20):
        fb.on_speed(k * 1000, 1200 if k < 8 else 900)
    assert sum(1 for e in rec.ev if e[1] == EV_MG_SPEED_TREND) == 1


def test_calibration_mode_on_the_board(normal_walk, normal_streams):
    from gaitloop.mgait.reference import board_path

    cfg = {"l1_mm": 391, "l2_mm": 410, "d5_mm": 0, "calibrate_rls": 1, "ref_step_mm": 580, "rls_steps": 6}
    _, events, _ = board_path(normal_streams, cfg)
    done = [e for e in events if e[1] == EV_MG_RLS_DONE]
    assert len(done) == 1
    assert 330 < done[0][3] < 450 and 330 < done[0][4] < 470
    json.dumps(done)
