"""The training search's fast fitness path against the plain reference it replaced.

Why: `train._flags` prunes columns with a lower bound of each Gaussian deficit before the
reference's exact float32 arithmetic; it must flag exactly what `_flags_reference` flags, so
that a seeded training gives the same templates as before (docs/csm.md, LOSO section).
"""

from __future__ import annotations

import numpy as np
import pytest

from gaitloop.csm import train as tr

SUBSET = ("N01_2", "N04_4", "N11_3")


@pytest.fixture(scope="module")
def small(huang_streams):
    return [s for s in huang_streams if s.recording in SUBSET and s.usable]


def _candidates(p: tr._Problem, shipped_t, rng: np.random.Generator, n: int):
    """Candidates of every regime the search visits: the seeded start, uniform ones, and
    converged ones around the shipped templates (eps near its bound, little pruning)."""
    for i in range(n):
        r = i % 3
        if r == 0:
            mu = p.stat_mu + rng.normal(0, 0.5, 10) * p.stat_sd
            de = p.stat_sd * np.exp(rng.uniform(-1, 1, 10))
        elif r == 1:
            mu = rng.uniform(tr._MU_LO, tr._MU_HI)
            de = np.exp(rng.uniform(np.log(20), np.log(800), 10))
        else:
            mu = shipped_t.mu + rng.normal(0, 10, 10)
            de = shipped_t.delta * np.exp(rng.normal(0, 0.05, 10))
        eps = rng.uniform(0.05, tr.EPS_MAX) if r < 2 else min(shipped_t.eps + 0.0, tr.EPS_MAX)
        yield (np.clip(mu, tr._MU_LO, tr._MU_HI), np.clip(de, tr._DELTA_LO, tr._DELTA_HI), eps)


def test_deficit_lower_bound_never_exceeds_the_deficit():
    z = np.concatenate([np.linspace(0, 5, 2001), np.geomspace(5, 1e6, 200)]).astype(np.float32)
    col = np.sqrt(z).astype(np.float32)
    lb = tr._deficit_lb(col, np.float32(0.0), np.float32(1.0)).astype(np.float64)
    true = 1.0 - np.exp(-col.astype(np.float64) ** 2)
    assert np.all(lb <= true + 1e-6)
    assert np.max(true - lb) < 0.05  # tight enough to prune


@pytest.mark.parametrize("kind", ["on", "off"])
def test_fast_flags_and_fitness_equal_the_reference(small, shipped, kind, monkeypatch):
    p = tr._build(small, kind)
    rng = np.random.default_rng(7)
    fast, ref = [], []
    n_flags = 0
    for mu, de, eps in _candidates(p, getattr(shipped, kind), rng, 45):
        a = tr._flags(p.F, mu, de, eps, p.probe)
        b = tr._flags_reference(p.F, mu, de, eps)
        assert np.array_equal(a, b)
        n_flags += int(b.sum())
        fast.append(tr._fitness(p, mu, de, eps, 0.01))
    monkeypatch.setattr(tr, "_flags", lambda F, mu, d, e, probe=None: tr._flags_reference(F, mu, d, e))
    rng = np.random.default_rng(7)
    for mu, de, eps in _candidates(p, getattr(shipped, kind), rng, 45):
        ref.append(tr._fitness(p, mu, de, eps, 0.01))
    assert n_flags > 1000  # the candidates do flag: the comparison is not of empty masks
    np.testing.assert_allclose(fast, ref, rtol=0, atol=1e-12)


def test_seeded_training_gives_the_same_templates(small, monkeypatch):
    fast = tr.CSMTrainer(8, 4, seed=3, progress=False).fit(small)
    monkeypatch.setattr(tr, "_flags", lambda F, mu, d, e, probe=None: tr._flags_reference(F, mu, d, e))
    ref = tr.CSMTrainer(8, 4, seed=3, progress=False).fit(small)
    assert fast.history_ == ref.history_
    for k in ("on", "off"):
        a, b = getattr(fast.templates_, k), getattr(ref.templates_, k)
        assert np.array_equal(a.mu, b.mu) and np.array_equal(a.delta, b.delta) and a.eps == b.eps


def _tool():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "tools" / "csm_subjects.py"
    spec = importlib.util.spec_from_file_location("csm_subjects", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_fold_groups_leave_each_subject_out_once():
    subs = [f"N{i:02d}" for i in range(20, 0, -1)]
    g = _tool().fold_groups(subs, 20)
    assert g == [[s] for s in sorted(subs)]
    g3 = _tool().fold_groups(subs, 3)
    assert sorted(sum(g3, [])) == sorted(subs) and [len(x) for x in g3] == [7, 7, 6]
    with pytest.raises(ValueError):
        _tool().fold_groups(subs, 21)


def test_subjects_tool_resumes_from_saved_folds(huang_dir, tmp_path, capsys):
    """A rerun reuses the fold templates already trained with the same budget, and the
    output says how many folds it holds (a cut-short run is marked incomplete)."""
    import json
    import os

    d = tmp_path / "two"
    d.mkdir()
    for name in ("N01_2", "N11_3"):
        for ext in (".mat", ".ini"):
            (d / f"{name}{ext}").symlink_to(huang_dir / f"{name}{ext}")
    out = tmp_path / "loso.json"
    args = ["--data", str(d), "--folds", "2", "--max-gen", "1", "--pop-size", "4", "--out", str(out)]
    mod = _tool()
    assert mod.main(args) == 0
    first = json.loads(out.read_text())
    assert first["complete"] and first["folds"]["done"] == 2 and first["folds"]["max_gen"] == 1
    saved = sorted(p.name for p in (tmp_path / "loso_folds").iterdir())
    assert saved == ["fold1.json", "fold2.json"]
    capsys.readouterr()
    assert mod.main(args) == 0
    assert capsys.readouterr().err.count("reusing") == 2
    assert json.loads(out.read_text())["subjects"] == first["subjects"]
    rows = mod.table(first).splitlines()
    assert len(rows) == 2 + 2 + 1 and rows[-1].startswith("| pooled (2 subjects) |")
    n01 = first["subjects"]["N01"]["csm_fixed"]
    assert rows[2].startswith("| ") and f"| {n01['n_steps']} | {n01['E1']:.1f} / " in rows[2]
    # workers on one fold dir: --reverse / --start only change the order of the folds
    for extra, want in ((["--reverse"], ["fold2/2", "fold1/2"]), (["--start", "2"], ["fold2/2", "fold1/2"])):
        assert mod.main([*args, *extra]) == 0
        err = capsys.readouterr().err
        assert [ln.split(":")[0] for ln in err.splitlines() if ln.startswith("fold")] == want
        assert json.loads(out.read_text())["subjects"] == first["subjects"]
    # another budget is another training: nothing is reused
    args2 = [*args]
    args2[args2.index("--max-gen") + 1] = "2"
    assert mod.main(args2) == 0
    assert "reusing" not in capsys.readouterr().err
    # a fold claimed by a live worker is left to it; a dead worker's claim is taken over
    (tmp_path / "loso_folds" / "fold1.json").unlink()
    lock = tmp_path / "loso_folds" / "fold1.lock"
    lock.write_text(str(os.getppid()))
    assert mod.main(args2) == 0
    assert "fold1/2: another worker is training it" in capsys.readouterr().err
    assert json.loads(out.read_text())["not_scored"] == ["N01"] and lock.exists()
    lock.write_text("999999999")
    assert mod.main(args2) == 0
    assert "fold1/2: training" in capsys.readouterr().err and not lock.exists()
    # collecting the workers' run: a fold not trained yet is skipped, never trained
    (tmp_path / "loso_folds" / "fold1.json").unlink()
    assert mod.main([*args2, "--no-train"]) == 0
    part = json.loads(out.read_text())
    assert "fold1/2: not trained yet" in capsys.readouterr().err
    assert not part["complete"] and part["not_scored"] == ["N01"] and part["folds"]["done"] == 1
    assert not (tmp_path / "loso_folds" / "fold1.json").exists()


def test_docs_loso_table_is_the_committed_result():
    """docs/csm.md's LOSO table is what `csm_subjects.py --table docs/csm_loso.json` prints,
    and that result is the complete 20-fold run."""
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    res = json.loads((root / "docs" / "csm_loso.json").read_text())
    assert res["complete"] and res["not_scored"] == [] and res["folds"]["done"] == 20
    assert len(res["subjects"]) == 20 and len({r["templates"] for r in res["subjects"].values()}) == 20
    doc = (root / "docs" / "csm.md").read_text()
    assert _tool().table(res) in doc
