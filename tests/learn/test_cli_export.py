"""CLI commands (through typer's runner) and the export pipeline with its parity report."""

from __future__ import annotations

import json

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from gaitloop.cli_learn import LearnError, register


@pytest.fixture(scope="module")
def cli():
    app = typer.Typer()
    train = typer.Typer()
    eval_ = typer.Typer()
    app.add_typer(train, name="train")
    app.add_typer(eval_, name="eval")
    register(app, train, eval_)
    return app


@pytest.fixture(scope="module")
def trained_student(cli, figs_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("student") / "student.pt"
    r = CliRunner().invoke(cli, ["train", "student", "--task", "phase", "--data", str(figs_dir),
                                 "--kd", "none", "--epochs", "3", "--train-stride", "10", "--batch-size", "32",
                                 "--out", str(out)])
    assert r.exit_code == 0, r.output
    return out, json.loads(r.stdout[r.stdout.index("{"):])


def test_train_student_cli(trained_student):
    out, summary = trained_student
    assert out.is_file()
    assert summary["params"] > 15_000 and summary["accuracy"] > 0.6


def test_eval_phase_json(cli, trained_student, figs_dir):
    out, summary = trained_student
    r = CliRunner().invoke(cli, ["eval", "phase", "--data", str(figs_dir), "--model", str(out),
                                 "--json", "--stride", "5"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert {"accuracy", "macro_f1", "micro_f1", "f1", "n_windows"} <= set(res)
    assert set(res["f1"]) == {"HS", "ST", "HO", "SW"}
    assert "warning" in res  # the folder holds the training recordings too: said, not hidden


def test_kd_without_teacher_is_a_clear_error(cli, figs_dir):
    r = CliRunner().invoke(cli, ["train", "student", "--data", str(figs_dir), "--kd", "hinton"])
    assert r.exit_code != 0 and isinstance(r.exception, LearnError)
    assert "--teacher" in str(r.exception)


@pytest.mark.slow
def test_export_pipeline_parity(trained_student, tmp_path, figs_dir):
    from gaitloop.export.pipeline import export_model

    out, _ = trained_student
    rep = export_model(out, tmp_path, data=figs_dir, print_table=False)
    par = rep["parity"]
    assert par["onnx float"]["max_abs_diff"] < 1e-4
    assert par["onnx int8 (QDQ)"]["argmax_agreement"] > 0.97
    assert rep["int8_checks"]["onnx int8 (QDQ)"]["ok"], rep["int8_checks"]
    assert (tmp_path / "model_int8.onnx").is_file() and (tmp_path / "parity.json").is_file()
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        assert any("TFLite skipped" in n for n in rep["notes"])
    else:
        assert rep["int8_checks"]["tflite int8"]["ok"], rep["int8_checks"]
        assert par["tflite int8"]["argmax_agreement"] > 0.97
    assert np.isfinite(par["float (torch)"]["accuracy"])
