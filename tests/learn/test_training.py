"""Tiny, seeded training runs on real data: students learn, distillation runs end to end."""

from __future__ import annotations

import numpy as np
import pytest

from gaitloop.learn import phase


@pytest.fixture(scope="module")
def tiny_teacher(small_phase_ds, tmp_path_factory):
    path = tmp_path_factory.mktemp("teacher") / "teacher.pt"
    ds = small_phase_ds
    res = phase.train_teacher(ds, "resnet_lstm_tpa", width=4, hidden=16, epochs=1,
                              save_to=path, progress=False)
    return path, res


def test_student_learns_phase_from_insole(small_phase_ds):
    res = phase.train_student(small_phase_ds, "none", channels="insole", epochs=3, batch_size=32,
                              progress=False)
    majority = np.bincount(small_phase_ds.y_test).max() / len(small_phase_ds.y_test)
    assert res["metrics"]["accuracy"] > majority + 0.25, res["metrics"]["accuracy"]
    # pinned to seed 0; tolerance 0.01 > the spread of seeds 1-2 (0.698-0.707)
    assert res["metrics"]["accuracy"] == pytest.approx(0.7026, abs=0.01)
    assert res["channels"] == ["heel_l", "ball_l"]


def test_seeded_runs_repeat(small_phase_ds):
    a = phase.train_student(small_phase_ds, "none", epochs=1, seed=3, progress=False)
    b = phase.train_student(small_phase_ds, "none", epochs=1, seed=3, progress=False)
    assert a["metrics"]["accuracy"] == b["metrics"]["accuracy"]


# Seed-0 accuracy of each mode after 3 epochs (batch 32) on the small dataset, with the tiny
# 1-epoch teacher. Tolerance 0.035: the largest distance of seeds 1-2 from seed 0 over the three
# modes (hinton 0.672-0.694, hinton_feat 0.641-0.675, sckd 0.658-0.667). One epoch is not
# enough to pin: every mode and seed then predicts the majority class (0.344).
KD_ACC = {"hinton": 0.6937, "hinton_feat": 0.6749, "sckd": 0.6615}


@pytest.mark.parametrize("kd", ["hinton", "hinton_feat", "sckd"])
def test_distillation_modes_train(small_phase_ds, tiny_teacher, kd, tmp_path):
    path, tres = tiny_teacher
    assert tres["params"] > 10_000
    out = tmp_path / "s.pt"
    res = phase.train_student(small_phase_ds, kd, path, epochs=3, batch_size=32, progress=False,
                              save_to=out)
    assert res["metrics"]["accuracy"] == pytest.approx(KD_ACC[kd], abs=0.035)
    from gaitloop.learn.checkpoint import load_checkpoint

    _, meta = load_checkpoint(out)
    assert meta["distillation"]["mode"] == kd and meta["distillation"]["T"] == 4.0
    assert meta["distillation"]["alpha"] == 0.7


def test_baselines_run(small_phase_ds):
    res = phase.baselines(small_phase_ds, svm_max_train=500)
    assert set(res) == {"KNN", "SVM"}
    # deterministic (KNN has no randomness, the SVM subsample is seeded): pinned, float
    # tolerance only
    assert res["KNN"]["metrics"]["accuracy"] == pytest.approx(0.7315, abs=0.001)
    assert res["SVM"]["metrics"]["accuracy"] == pytest.approx(0.7322, abs=0.001)


def test_grf_student_and_sckd_smoke(gaitpdb_all, tmp_path):
    from gaitloop.learn import grf

    ds = grf.make_dataset(gaitpdb_all, train_stride=80, test_stride=40)
    assert not set(ds.train_subjects) & set(ds.test_subjects)
    t = tmp_path / "t.pt"
    grf.train_teacher(ds, width=4, hidden=8, epochs=1, save_to=t, progress=False)
    res = grf.train_student(ds, "sckd", t, epochs=3, batch_size=32, progress=False,
                            save_to=tmp_path / "s.pt")
    m = res["metrics"]
    assert {"rmse_n", "rmse_pct_bw", "r2"} <= set(m)
    # A plumbing test: 3 epochs on every 80th window do not learn GRF (R^2 ~ 0; seeds 0-2 give
    # RMSE 356-432 N against a test sd of 400 N). Pinned to seed 0 +- that seed spread so the
    # run stays the one measured; the GRF accuracy guard is the shipped model's recomputed RMSE
    # (tests/learn/test_shipped.py).
    assert m["rmse_n"] == pytest.approx(432.2, abs=80)
