"""`eval csm --faults` / `--per-subject` on a tiny fixed subset: JSON shape and a regression
guard against the committed summary `docs/csm_faults_guard.json`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gaitloop.csm import faults as fl
from tests.csm.test_train import _app

ROOT = Path(__file__).resolve().parents[2]
GUARD = ROOT / "docs" / "csm_faults_guard.json"
#: PM / STTTA / threshold factors are fitted on these (training subjects of the shipped
#: templates); the faults are scored on the unseen recordings.
FIT = ("N01_2", "N04_4", "N08_3")
TEST = ("N11_3", "N12_4")


@pytest.fixture(scope="module")
def subset(huang_dir, tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("huang_subset")
    for name in FIT + TEST:
        for ext in (".mat", ".ini"):
            (d / f"{name}{ext}").symlink_to(huang_dir / f"{name}{ext}")
    return d


def _run(args: list[str]) -> dict:
    r = CliRunner().invoke(_app(), ["eval", "csm", *args])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout[r.stdout.index("{"):])


@pytest.fixture(scope="module")
def guard_cmd() -> list[str]:
    return json.loads(GUARD.read_text())["args"]


def test_faults_json_shape(subset):
    res = _run(["--faults", "--data", str(subset), "--json", "--subjects", "N11"])
    methods = {"csm_fixed", "pm", "sttta", "threshold"}
    assert set(res["clean"]) == methods
    assert set(res["faults"]) == set(fl.FAULTS)
    for levels in res["faults"].values():
        assert set(levels) == {"1", "2", "3", "4"}
        for cell in levels.values():
            assert set(cell) == methods
            for r in cell.values():
                assert {"E4", "E4_strict", "timing_abs_median_ms",
                        "step_count_error_pct"} <= set(r)
                assert 0 <= r["E4"] <= r["E4_strict"] <= 100
    assert res["subjects"] == ["N11"] and res["n_recordings"] == 1
    assert set(res["verdict"]["noise"]["4"]) >= {"csm_loss", "best_threshold", "goal_met"}
    # the faults hurt: at the worst level of every fault someone loses E4 (a static gain does
    # not: all four detectors scale with the stream's own range, docs/csm.md)
    for f in set(fl.FAULTS) - {"gain_sensor"}:
        worst = res["faults"][f]["4"]
        assert max(worst[m]["E4"] - res["clean"][m]["E4"] for m in methods) > 0.1, f


def test_unknown_fault_is_one_line_error(subset):
    r = CliRunner().invoke(_app(), ["eval", "csm", "--faults", "--data", str(subset),
                                    "--fault-list", "rust", "--json"])
    assert r.exit_code == 2 and "unknown fault" in r.output


def test_fault_regression_guard(subset, guard_cmd):
    """The committed figures (seed 0, this subset) are recomputed exactly (integer CSM path;
    float baselines within 0.01 point); a change of injector, detector or metric moves them."""
    want = json.loads(GUARD.read_text())
    got = _run([*guard_cmd, "--data", str(subset)])
    for cond, exp in want["figures"].items():
        f, lv, m = cond.split("/")
        cell = got["clean"][m] if f == "clean" else got["faults"][f][lv][m]
        tol = 0.0005 if m == "csm_fixed" else 0.01
        for k, v in exp.items():
            assert abs(cell[k] - v) <= tol, (cond, k, cell[k], v)


def test_per_subject_and_patterns(subset):
    res = _run(["--per-subject", "--data", str(subset), "--json"])["per_subject"]
    assert set(res["subjects"]) == {"N11", "N12"}
    n12 = res["subjects"]["N12"]
    # N12_4's right ball: swing baseline at the label threshold, the labels chatter
    assert "N12_4:right_ball" in res["pattern_streams"]["flicker"]
    assert n12["csm_fixed"]["E1"] > res["subjects"]["N11"]["csm_fixed"]["E1"]
    assert set(res["by_pattern"]) >= {"flicker", "never_unloads", "none"}


def test_subjects_tool_trains_folds_and_scores_each_subject_once(subset, tmp_path):
    """tools/csm_subjects.py --folds (the LOSO path) on a tiny budget: every subject is scored
    by the fold that left it out, once."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("csm_subjects", ROOT / "tools" / "csm_subjects.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    d = tmp_path / "two"
    d.mkdir()
    for name in ("N01_2", "N11_3"):
        for ext in (".mat", ".ini"):
            (d / f"{name}{ext}").symlink_to(subset / f"{name}{ext}")
    out = tmp_path / "loso.json"
    assert mod.main(["--data", str(d), "--folds", "2", "--max-gen", "1", "--pop-size", "4",
                     "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert set(res["subjects"]) == {"N01", "N11"} and res["not_scored"] == []
    assert res["subjects"]["N01"]["templates"] == "fold1"  # fold 1 left N01 out
    assert res["pooled"]["csm_fixed"]["n_steps"] == sum(
        r["csm_fixed"]["n_steps"] for r in res["subjects"].values())


def test_lo_blocks_option(subset):
    """`--lo-blocks 4` (the drift-tracking floor, docs/csm.md) changes CSM on a drifting
    insole and nothing else; outside 1-8 it is a one-line error."""
    args = ["--faults", "--data", str(subset), "--json", "--subjects", "N12",
            "--fault-list", "drift"]
    lo8, lo4 = _run(args), _run([*args, "--lo-blocks", "4"])
    assert lo4["faults"]["drift"]["3"]["csm_fixed"]["E4"] != lo8["faults"]["drift"]["3"]["csm_fixed"]["E4"]
    assert lo4["clean"]["pm"] == lo8["clean"]["pm"]
    r = CliRunner().invoke(_app(), ["eval", "csm", *args, "--lo-blocks", "9"])
    assert r.exit_code == 2 and "--lo-blocks must be 1-8" in r.output


def test_loso_folds_at_the_shipped_budget_keep_n16_and_n19_under_15_percent(huang_dir, tmp_path):
    """The two leave-one-subject-out folds retrained at MaxGen 200 (docs/csm.md,
    `docs/csm_loso_maxgen200/`): each scores its held-out subject under the issue's 15 % E1,
    and as committed (a changed detector or scorer shows here)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("csm_subjects", ROOT / "tools" / "csm_subjects.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    d = tmp_path / "n16_n19"
    d.mkdir()
    for f in sorted(huang_dir.iterdir()):
        if f.name.startswith(("N16_", "N19_")) and f.suffix in (".mat", ".ini"):
            (d / f.name).symlink_to(f)
    folds = ROOT / "docs" / "csm_loso_maxgen200"
    out = tmp_path / "out.json"
    assert mod.main(["--data", str(d), "--templates", f"{folds / 'fold16.json'},{folds / 'fold19.json'}",
                     "--out", str(out)]) == 0
    got = json.loads(out.read_text())["subjects"]
    want = json.loads((folds / "folds16_19.json").read_text())["subjects"]
    for subject in ("N16", "N19"):
        csm = got[subject]["csm_fixed"]
        assert csm["E1"] < 15.0, (subject, csm)
        assert csm["E1"] == pytest.approx(want[subject]["csm_fixed"]["E1"], abs=0.01), subject
        assert csm["E4"] == pytest.approx(want[subject]["csm_fixed"]["E4"], abs=0.01), subject
