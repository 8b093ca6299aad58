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
    assert res["channels"] == ["heel_l", "ball_l"]


def test_seeded_runs_repeat(small_phase_ds):
    a = phase.train_student(small_phase_ds, "none", epochs=1, seed=3, progress=False)
    b = phase.train_student(small_phase_ds, "none", epochs=1, seed=3, progress=False)
    assert a["metrics"]["accuracy"] == b["metrics"]["accuracy"]


@pytest.mark.parametrize("kd", ["hinton", "hinton_feat", "sckd"])
def test_distillation_modes_train(small_phase_ds, tiny_teacher, kd, tmp_path):
    path, tres = tiny_teacher
    assert tres["params"] > 10_000
    out = tmp_path / "s.pt"
    res = phase.train_student(small_phase_ds, kd, path, epochs=1, progress=False, save_to=out)
    assert 0.0 < res["metrics"]["accuracy"] <= 1.0
    from gaitloop.learn.checkpoint import load_checkpoint

    _, meta = load_checkpoint(out)
    assert meta["distillation"]["mode"] == kd and meta["distillation"]["T"] == 4.0
    assert meta["distillation"]["alpha"] == 0.7


def test_baselines_run(small_phase_ds):
    res = phase.baselines(small_phase_ds, svm_max_train=500)
    assert set(res) == {"KNN", "SVM"}
    assert res["KNN"]["metrics"]["accuracy"] > 0.5


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
    assert m["rmse_n"] < np.std(ds.y_test) * 1.5  # trained at least to the scale of the data
