"""The shipped templates on subjects they were not trained on: the documented figures pinned.

Both E4 readings (binary and strict, with its floor) are held to docs/results.json, recomputed
on all 46 held-out recordings (5 s). The fixed-point path is integer code, so its figures are
pinned exactly; the float reference and the baselines within 0.01 points.
"""

from __future__ import annotations

import pytest

from gaitloop import results
from gaitloop.csm.evaluate import evaluate


@pytest.fixture(scope="module")
def held_out(huang_streams):
    return results.csm_report(streams=huang_streams)


def test_e4_both_readings_pinned(held_out):
    assert results.compare("csm_heldout", results.csm_figures(held_out)) == []
    # the qualitative claims of docs/csm.md on the same run: CSM below PM in both readings
    # (not claimed: below our STTTA reading, which reproduces the threshold labels)
    for k in ("E4", "E4_strict"):
        assert held_out["csm_fixed"][k] < held_out["pm"][k]


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
