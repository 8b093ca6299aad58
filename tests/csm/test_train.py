"""Algorithm 1 smoke run (tiny population, few generations) and the CLI commands."""

from __future__ import annotations

import json

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from gaitloop.cli_csm import register
from gaitloop.csm.model import CSMTemplates
from gaitloop.csm.train import CSMTrainer
from tests.conftest import SHIPPED_GAITPDB


@pytest.fixture(scope="module")
def two_subjects(huang_streams):
    return [s for s in huang_streams if s.subject in ("N01", "N02")]


def test_evolution_smoke_is_seeded_and_improves(two_subjects):
    a = CSMTrainer(pop_size=8, max_gen=4, seed=3, progress=False).fit(two_subjects)
    b = CSMTrainer(pop_size=8, max_gen=4, seed=3, progress=False).fit(two_subjects)
    for k in ("on", "off"):
        h = a.history_[k]
        assert all(x >= y for x, y in zip(h, h[1:], strict=False))  # elitist: never worse
        assert h == b.history_[k]
    assert np.array_equal(a.templates_.on.mu, b.templates_.on.mu)
    t = a.templates_
    assert t.meta["trained_on"] == ["N01", "N02"]
    assert 0 < t.on.eps <= 2 and 0 < t.off.eps <= 2
    assert len(t.on.fixed()) == 41


def test_pop_size_must_split_in_four():
    with pytest.raises(ValueError):
        CSMTrainer(pop_size=10)


def _app():
    app, tr, ev = typer.Typer(), typer.Typer(), typer.Typer()
    app.add_typer(tr, name="train")
    app.add_typer(ev, name="eval")
    register(app, tr, ev)
    return app


def test_cli_train_then_eval_json(tmp_path, huang_dir):
    data = tmp_path / "data"
    data.mkdir()
    for name in ("N01_1", "N01_3", "N02_2", "N03_1", "N04_5"):
        for ext in (".mat", ".ini"):
            (data / f"{name}{ext}").symlink_to(huang_dir / f"{name}{ext}")
    out = tmp_path / "csm.json"
    r = CliRunner().invoke(_app(), ["train", "csm", "--data", str(data), "--out", str(out),
                                    "--subjects", "N01,N02", "--pop-size", "8", "--max-gen", "2"])
    assert r.exit_code == 0, r.output
    tpl = CSMTemplates.load(out)
    assert tpl.meta["trained_on"] == ["N01", "N02"]
    r = CliRunner().invoke(_app(), ["eval", "csm", "--data", str(data), "--templates", str(out),
                                    "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    for m in ("csm_fixed", "csm_float", "pm", "sttta"):
        assert {"E1", "E2", "E3", "E4", "n_recordings", "n_steps"} <= set(res[m])
    assert res["excluded_training_subjects"] == ["N01", "N02"]
    assert res["n_recordings"] == 2  # N03_1 and N04_5 only: never scored on training subjects


def test_cli_errors_are_one_line(tmp_path):
    r = CliRunner().invoke(_app(), ["eval", "csm", "--data", str(tmp_path / "none"), "--json"])
    assert r.exit_code == 2
    assert "no such file or directory" in r.output and "Traceback" not in r.output
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    (tmp_path / "d").mkdir()
    r = CliRunner().invoke(_app(), ["eval", "csm", "--data", str(tmp_path / "d"),
                                    "--templates", str(bad)])
    assert r.exit_code == 2 and "not a gaitloop-csm template file" in r.output


def test_cli_eval_gaitpdb_file(shipped):
    f = SHIPPED_GAITPDB / "GaCo01_01.txt"
    r = CliRunner().invoke(_app(), ["eval", "csm", "--data", str(f), "--json", "--no-baselines"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert res["n_recordings"] == 1 and res["csm_fixed"]["n_steps"] > 50


def test_table5_protocol_runner_small(huang_streams):
    from gaitloop.csm.protocol import run_table5

    few = [s for s in huang_streams if s.subject in ("N01", "N02", "N03")]
    rows = []
    res = run_table5(few, reps=1, max_gen=1, pop_size=4, sizes=(1,), log=lambda m: None,
                     on_row=lambda r: rows.append(1))
    block = res["sizes"]["1"]
    assert block["n_train_recordings"] == 5 and block["n_test_recordings"] == 10
    assert len(block["rows"]) == 1 and rows == [1]
    for k in ("E1", "E2", "E3", "E4", "E4_strict", "E4_strict_floor"):
        assert k in res["average"]["test"] and k in res["pm"] and k in res["sttta"]
