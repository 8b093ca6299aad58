"""Metrics against scikit-learn; the insole fault model."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score, r2_score

from gaitloop.learn.faults import InsoleFaults
from gaitloop.learn.metrics import grf_metrics, phase_metrics


def test_phase_metrics_match_sklearn():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 500)
    p = np.where(rng.random(500) < 0.7, y, rng.integers(0, 4, 500))
    m = phase_metrics(y, p, ("HS", "ST", "HO", "SW"))
    assert np.isclose(m["macro_f1"], f1_score(y, p, average="macro"))
    assert np.isclose(m["micro_f1"], f1_score(y, p, average="micro"))
    assert np.isclose(m["accuracy"], (y == p).mean())
    assert np.allclose(list(m["f1"].values()), f1_score(y, p, average=None))


def test_grf_metrics():
    y = np.linspace(0, 800, 200)
    p = y + 10.0
    m = grf_metrics(y, p, np.full(200, 700.0))
    assert np.isclose(m["rmse_n"], 10.0)
    assert np.isclose(m["rmse_pct_bw"], 10.0 / 700 * 100)
    assert np.isclose(m["r2"], r2_score(y, p))


def test_faults_seeded_nonnegative_quantised():
    x = np.abs(np.random.default_rng(0).normal(200, 100, (50, 2, 40)))
    f = InsoleFaults(quant_step=5.0)
    a = f.apply(x, np.random.default_rng(3))
    b = f.apply(x, np.random.default_rng(3))
    assert np.array_equal(a, b)
    assert a.min() >= 0
    assert np.allclose(a / 5.0, np.round(a / 5.0))
    assert np.abs(a - x).mean() > 5  # faults really change the signal


def test_no_faults_is_identity():
    x = np.abs(np.random.default_rng(0).normal(200, 100, (5, 2, 40)))
    f = InsoleFaults(0, 0, 0, 0, 0)
    assert np.allclose(f.apply(x, np.random.default_rng(0)), x, atol=1e-3)
