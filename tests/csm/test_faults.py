"""The insole fault injector: each fault does what its docstring says, graded and seeded."""

from __future__ import annotations

import numpy as np
import pytest

from gaitloop.csm import faults

RATE = 100


def gait(n: int = 3000, base: int = 2500, peak: int = 1500) -> np.ndarray:
    """A clean synthetic sensor: 60 % stance half-sine loads, 1.1 s strides."""
    t = np.arange(n) / RATE
    ph = (t % 1.1) / 1.1
    load = np.where(ph < 0.6, np.sin(np.pi * ph / 0.6), 0.0)
    return np.round(base + peak * load).astype(np.int64)


@pytest.fixture(scope="module")
def clean() -> np.ndarray:
    return gait()


def test_every_fault_is_seeded_and_deterministic(clean):
    for f in faults.FAULTS:
        for lv in range(1, faults.N_LEVELS + 1):
            a = faults.inject(clean, f, lv, seed=7)
            b = faults.inject(clean, f, lv, seed=7)
            assert np.array_equal(a, b), (f, lv)
            assert a.shape == clean.shape and a.dtype == np.int64
            assert not np.array_equal(a, clean), (f, lv)  # every level changes the signal
    # random faults change with the seed
    for f in ("noise", "hum", "dropped"):
        assert not np.array_equal(faults.inject(clean, f, 2, 1), faults.inject(clean, f, 2, 2))


def test_severity_grows_with_level(clean):
    def dev(f, lv):
        y = faults.inject(clean, f, lv, seed=3)
        ok = y != faults.MISSING
        return float(np.abs(y[ok] - clean[ok]).mean()) + float((~ok).mean()) * 1e4

    for f in faults.FAULTS:
        if f == "gain_sensor":  # x0.5, x0.25, x2, x4: two directions, each growing
            assert dev(f, 1) < dev(f, 2) and dev(f, 3) < dev(f, 4)
            continue
        d = [dev(f, lv) for lv in range(1, 5)]
        assert d == sorted(d) and d[0] < d[-1], (f, d)


def test_drift_is_linear_at_the_stated_rate(clean):
    B, R = faults.load_scale(clean)
    y = faults.inject(clean, "drift", 3, seed=0)  # 1.0 x R per 30 s
    shift = (y - clean).astype(float)
    slope = np.polyfit(np.arange(len(y)) / RATE, shift, 1)[0]
    assert abs(abs(slope) - R / 30.0) < 0.01 * R / 30.0


def test_gain_faults_scale_the_load_not_the_baseline(clean):
    B, R = faults.load_scale(clean)
    y = faults.inject(clean, "gain_sensor", 4, seed=0)  # x4
    on = clean > B + 0.5 * R
    assert np.allclose((y[on] - B) / (clean[on] - B), 4.0, rtol=0.01)
    assert np.abs(y[clean <= B] - clean[clean <= B]).max() <= 1
    z = faults.inject(clean, "gain_time", 4, seed=0)  # 1 -> 0.2 over the recording
    first, last = slice(0, 110), slice(-110, None)
    assert np.ptp(z[first]) > 0.95 * np.ptp(clean[first])
    assert np.ptp(z[last]) < 0.25 * np.ptp(clean[last])


def test_noise_and_hum_amplitudes(clean):
    B, R = faults.load_scale(clean)
    n = faults.inject(clean, "noise", 3, seed=1) - clean  # std 0.10 R
    assert abs(n.std() - 0.10 * R) < 0.01 * R and abs(n.mean()) < 0.01 * R
    h = (faults.inject(clean, "hum", 2, seed=1) - clean).astype(float)  # amplitude 0.10 R
    assert np.abs(h).max() <= 0.10 * R + 1 and np.abs(h).max() > 0.08 * R
    # 50 Hz sampled at 100 Hz: alternating samples under a slow beat envelope
    alt = h * (-1.0) ** np.arange(len(h))
    assert np.abs(np.diff(alt)).mean() < 0.05 * np.abs(h).mean() + 1


def test_creep_rises_under_load_and_relaxes(clean):
    y = faults.inject(clean, "creep", 4, seed=0) - clean
    assert (y >= 0).all()
    assert y[2000:].mean() > y[:200].mean()  # builds up over the first seconds
    # within a stride the offset is largest at the end of stance, smallest before contact
    assert y.max() > 0.1 * np.ptp(clean)


def test_lifted_sensor_loses_the_light_load(clean):
    B, R = faults.load_scale(clean)
    y = faults.inject(clean, "lifted", 4, seed=0)  # dead zone 0.30 R
    light = (clean > B) & (clean < B + 0.3 * R)
    assert np.abs(y[light] - B).max() <= 1
    heavy = clean > B + 0.5 * R
    assert np.allclose(y[heavy], clean[heavy] - 0.3 * R, atol=1)


def test_saturation_clips(clean):
    B, R = faults.load_scale(clean)
    y = faults.inject(clean, "saturation", 4, seed=0)
    assert y.max() == round(B + 0.25 * R)
    low = clean < B + 0.25 * R
    assert np.array_equal(y[low], clean[low])


def test_dropped_share_and_bursts(clean):
    for lv, share in enumerate(faults.LEVELS["dropped"], start=1):
        y = faults.inject(clean, "dropped", lv, seed=5)
        lost = y == faults.MISSING
        assert share <= lost.mean() < share + 0.01
        assert np.array_equal(y[~lost], clean[~lost])
    # a MISSING sample already in the input stays missing under every fault
    c = clean.copy()
    c[100:104] = faults.MISSING
    for f in faults.FAULTS:
        assert (faults.inject(c, f, 2, seed=0)[100:104] == faults.MISSING).all()


def test_bad_names_and_levels(clean):
    with pytest.raises(ValueError, match="unknown fault"):
        faults.inject(clean, "rust", 1)
    with pytest.raises(ValueError, match="level"):
        faults.inject(clean, "noise", 5)
    assert faults.stream_seed("N11_1:left_heel", "noise", 2) == faults.stream_seed(
        "N11_1:left_heel", "noise", 2)
