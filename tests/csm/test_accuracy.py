"""The shipped templates on subjects they were not trained on, against the paper's bar."""

from __future__ import annotations

import pytest

from gaitloop.csm.baselines import Baselines
from gaitloop.csm.evaluate import evaluate

PAPER_E4 = 7.75  # Table 5d, CSM testing average


@pytest.fixture(scope="module")
def held_out(huang_streams, shipped):
    trained = set(shipped.meta["trained_on"])
    train = [s for s in huang_streams if s.subject in trained]
    test = [s for s in huang_streams if s.subject not in trained]
    assert test and len({s.subject for s in test}) >= 5
    return evaluate(test, shipped, Baselines().fit(train))


def test_e4_beats_paper_and_pm(held_out):
    e4 = held_out["csm_fixed"]["E4"]
    assert e4 < PAPER_E4
    assert e4 < held_out["pm"]["E4"]
    # not asserted: our STTTA reading beats CSM on these threshold labels (docs/csm.md)
    r = held_out["csm_fixed"]
    assert r["E4_strict"] - r["E4_strict_floor"] < 2.0  # strict reading: near its floor
    assert abs(r["E4"] - held_out["csm_float"]["E4"]) < 0.1


def test_timing_against_authors_states(held_out):
    t = held_out["csm_fixed"]["timing_vs_authors"]
    assert t["contact"]["n"] > 500 and t["lift_off"]["n"] > 500
    assert t["contact"]["median_abs_ms"] <= 30 and t["lift_off"]["median_abs_ms"] <= 30


@pytest.mark.slow
def test_fixed_float_agreement_all_shared_data(huang_streams, shipped, gaitpdb_all):
    from gaitloop.csm.io import load_streams

    streams = huang_streams + load_streams(gaitpdb_all / "data")
    res = evaluate(streams, shipped, None)
    assert res["fixed_vs_float"]["agreement_pct"] >= 99.9
