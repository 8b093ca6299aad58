"""The shipped students in models/: metadata and files, and their documented figures
recomputed (never read from the model card): float and int8 accuracy / RMSE on each model's
own held-out test set, and the device model (.gldm in the firmware interpreter under real
MicroPython) bit-exact with ai-edge-litert on a fixed sample of windows. Expected values and
tolerances: docs/results.json (groups student_phase_insole, student_grf)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

MODELS = Path(__file__).resolve().parents[2] / "models"
PHASE = MODELS / "student_phase_insole.pt"
GRF = MODELS / "student_grf.pt"
ACC_ALL_STRIDE10 = 0.86654  # measured 2026-12-07 on the shipped checkpoint (decision delay 5)


@pytest.mark.parametrize("path", [PHASE, GRF])
def test_shipped_student_files(path):
    from gaitloop.learn.checkpoint import load_model
    from gaitloop.learn.students import count_params

    net, meta = load_model(path)
    assert meta["kind"] == "student" and 15_000 <= count_params(net) <= 18_000
    stem = path.with_suffix("")
    for f in (Path(f"{stem}_int8.tflite"), Path(f"{stem}.gldm"), Path(f"{stem}.md"),
              Path(f"{stem}.card.json"), path):
        assert f.is_file(), f
        assert f.stat().st_size < 200_000
    card = json.loads(path.with_suffix(".card.json").read_text())
    assert card["meta"]["created"] == meta["created"]  # artifacts come from this checkpoint
    assert meta["created"] in path.with_suffix(".md").read_text()


@pytest.mark.micropython
@pytest.mark.parametrize("name", ["student_phase_insole", "student_grf"])
def test_shipped_student_figures_recomputed(name, shared_data):
    """~10 s each: float metrics on the whole test set, TFLite int8 on the whole test set,
    the device model under MicroPython on every 11th window, on 64-bit and emulated 32-bit words."""
    from gaitloop import results

    got = results.student(name, shared_data)
    assert results.compare(name, got) == []
    assert got["device_windows"] > 2000


def test_shipped_phase_student_float_metrics(figs_dir):
    """`eval phase` over every recording of the folder (training ones included, stride 10)."""
    from gaitloop.learn.evaluate import evaluate_phase

    res = evaluate_phase(PHASE, figs_dir, stride=10)
    # pinned: frozen weights, so only float32 argmax near-ties can move it (0.001 = 9 windows)
    assert res["n_windows"] == 9396 and res["accuracy"] == pytest.approx(ACC_ALL_STRIDE10, abs=0.001)
    assert set(res["f1"]) == {"HS", "ST", "HO", "SW"}


@pytest.mark.slow
@pytest.mark.micropython
def test_eval_phase_device_bit_exact(figs_dir):
    from gaitloop.learn.evaluate import evaluate_phase

    res = evaluate_phase(PHASE, figs_dir, device=True, stride=97)
    assert res["bit_exact"] is True and res["n_mismatch"] == 0
    assert res["n_windows"] > 900
    assert abs(res["device"]["accuracy"] - res["accuracy"]) <= 0.01
