"""The shipped students in models/: metadata, card, float accuracy, and the device path
(`eval phase --device`: the .gldm in the firmware interpreter under MicroPython, bit-exact
against ai-edge-litert)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

MODELS = Path(__file__).resolve().parents[2] / "models"
PHASE = MODELS / "student_phase_insole.pt"
GRF = MODELS / "student_grf.pt"


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
    assert all(c["ok"] for c in card["int8_checks"].values()), card["int8_checks"]
    assert card["device"]["bit_exact_vs_ai_edge_litert"] is True
    assert meta["created"] in path.with_suffix(".md").read_text()


def test_shipped_phase_student_float_metrics(figs_dir):
    from gaitloop.learn.evaluate import evaluate_phase

    res = evaluate_phase(PHASE, figs_dir, stride=10)
    assert res["accuracy"] > 0.75 and set(res["f1"]) == {"HS", "ST", "HO", "SW"}


@pytest.mark.slow
@pytest.mark.micropython
def test_eval_phase_device_bit_exact(figs_dir):
    from gaitloop.learn.evaluate import evaluate_phase

    res = evaluate_phase(PHASE, figs_dir, device=True, stride=97)
    assert res["bit_exact"] is True and res["n_mismatch"] == 0
    assert res["n_windows"] > 900
    assert abs(res["device"]["accuracy"] - res["accuracy"]) <= 0.01
