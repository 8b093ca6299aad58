"""Two knee sleeves (issue 17 part 2): one board per leg, both legs read at the same instant.

What can fail here: the per-leg pipeline must be the board's own angle code; the two boards'
ticks must be put on one timeline (boot offset and tick phase removed by the clock mapping,
wrong without it); the documented two-sleeve figures on a fixed set of walks must hold
(docs/results.json, `mgait_two_sleeves`).
"""

from __future__ import annotations

import numpy as np
import pytest

from gaitloop import results
from gaitloop.mgait.reference import board_path
from gaitloop.mgait.twoknee import LegAngles, _LegBuf, leg_ticks, two_sleeve_steps


def test_leg_buffer_interpolates_inside_and_refuses_outside():
    b = _LegBuf()
    for t, a in ((0.0, 0.0), (40.0, 400.0), (80.0, 0.0)):
        b.add(t, a, -a)
    assert b.at(20.0) == pytest.approx((200.0, -200.0))
    assert b.at(40.0) == (400.0, -400.0)
    assert b.at(-1.0) is None and b.at(81.0) is None
    b.add(80.0, 5.0, 5.0)  # a resent tick is not a new one
    assert b.at(80.0) == (0.0, -0.0)


def _cfg(walk):
    return {"l1_mm": round(walk.l1() * 1000), "l2_mm": round(walk.l2() * 1000), "d5_mm": 0}


def test_one_leg_board_computes_the_wired_pairs_angles(normal_walk, normal_streams):
    """The sleeve board's angles are the firmware's: the same leg through the wired pair's
    MGait differs only by the static re-alignment, which a one-leg board decides alone (on
    this walk the right thigh is still while the left starts walking: it re-aligns there and
    the pair does not, a ~0.6 deg tilt difference that decays slowly; the knee is identical)."""
    st = normal_streams
    cfg = dict(_cfg(normal_walk), bend_cal=st.bend_cal)
    pair = board_path(st, cfg)[2]
    for side, key in ((0, "l"), (1, "r")):
        one = leg_ticks(st.counts, side, cfg, st.bend_cal[side])
        n = min(len(one), len(pair[f"alpha_{key}"]))
        assert n > 200
        da = (one[:n, 1] - pair[f"alpha_{key}"][:n]) / 100
        db = (one[:n, 2] - pair[f"beta_{key}"][:n]) / 100
        assert np.sqrt(np.mean(da**2)) < 1.0 and np.max(np.abs(db)) < 0.05


def test_host_waits_for_a_stand_before_calibrating(normal_walk):
    """Joining a looped replay mid-walk: no angles until a still stretch (the loop's stand:
    1 s at the walk's end, 2 s at the next pass's start); a calibration on walking would
    take the thigh's swing for gyro offsets."""
    from gaitloop.mgait.synth import synthesize

    st = synthesize(normal_walk, stop=True)
    la = LegAngles(_cfg(normal_walk), st.rate_hz, st.bend_cal[0])
    start = int((st.t0_walk + 1.0) * st.rate_hz)  # one second into the walk
    looped = np.vstack([st.counts[start:], st.counts[:400]])
    first = None
    for i, r in enumerate(looped[:, :7].tolist()):
        if la.feed((start + i) * 10, r) and first is None:
            first = start + i
    walk_end = int((st.t0_walk + normal_walk.n / normal_walk.rate_hz) * st.rate_hz)
    assert first is not None and walk_end <= first <= len(st.counts) + 400


def test_two_clocks_are_put_on_one_timeline(normal_walk, normal_streams):
    """Right board booted 0.7 s later with its ticks at another phase: mapped to the host
    timeline, its steps are those of the shared clock; read on raw board times, they are not."""
    st = normal_streams
    cfg = _cfg(normal_walk)
    reach = (normal_walk.l1(), normal_walk.l2())
    tl = leg_ticks(st.counts, 0, cfg, st.bend_cal[0])
    tr = leg_ticks(st.counts, 1, cfg, st.bend_cal[1], skip=2)
    ref = two_sleeve_steps(tl, tr, reach=reach)
    assert len(ref) >= 12 and {s.side for s in ref} == {"l", "r"}
    booted = tr.copy()
    booted[:, 0] -= 700.0  # the right board's own clock started 700 ms after the left's
    got = two_sleeve_steps(tl, booted, to_host_r=lambda t: t + 700.0, reach=reach)
    L = np.array([s.step(*reach, 0.0).length for s in ref])
    G = np.array([s.step(*reach, 0.0).length for s in got])
    assert len(G) == len(L) and np.max(np.abs(G - L)) < 1e-9
    raw = two_sleeve_steps(tl, booted, reach=reach)
    R = np.array([s.step(*reach, 0.0).length for s in raw])
    assert len(R) != len(L) or np.mean(np.abs(R - L)) > 0.03
    # the steps are the walk's: 540-600 mm true, nominal lengths
    assert 0.50 < np.median(L) < 0.65


@pytest.mark.dataset("bandai_namco")
def test_two_sleeve_figures_hold(shared_data):
    """Dataset-2 (14 walks, 2 calibrate): held to docs/results.json within the seed spread."""
    got = results.mgait_two_sleeves(shared_data)
    assert results.compare("mgait_two_sleeves", got) == []
    # and the point of it: the same instant beats the paper's events on the same boards
    assert got["step_mape_rls_2.1ms"] < got["paper_events_step_mape_rls"] - 0.8
    # issue 17's goal held out with the realistic clock error, against the truth between frames;
    # the frame-quantized truth costs the same steps about half a point
    assert got["step_mape_rls_2.1ms"] <= 3.0
    assert got["step_mape_rls_2.1ms_frame_truth"] > got["step_mape_rls_2.1ms"] + 0.3


def test_eval_two_sleeves_cli_json_and_errors(tmp_path):
    """`gaitloop eval mgait --two-sleeves --json`: the `eval mgait` keys, one sleeve beside
    two; a folder without calibration walks is one line on stderr, exit 2."""
    import json

    import typer
    from typer.testing import CliRunner

    from gaitloop import cli_mgait
    from tests.conftest import require_data
    from tests.mgait.conftest import BANDAI, NORMAL

    require_data("bandai_namco")
    d = tmp_path / "walks"
    d.mkdir()
    for f in (NORMAL, BANDAI / "dataset-2" / "data" / "dataset-2_walk_active_001.bvh"):
        (d / f.name).symlink_to(f)
    app, tr, ev = typer.Typer(), typer.Typer(), typer.Typer()
    app.add_typer(tr, name="train")
    app.add_typer(ev, name="eval")
    cli_mgait.register(app, tr, ev)
    r = CliRunner().invoke(app, ["eval", "mgait", "--two-sleeves", "--data", str(d), "--json", "--clock-errors", "2.1,30"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output[r.output.index("{"):])
    for k in ("step_mape", "step_rmse_cm", "stride_mape", "velocity_mape", "n_steps", "event_f1"):
        assert k in rep
    assert set(rep["two_sleeve"]["clock_error_ms"]) == {"2.1", "30.0"}
    assert rep["one_sleeve"]["rls"]["n_steps"] >= 10 and rep["two_sleeve"]["rls"]["n_steps"] >= 10
    assert rep["step_mape"] == rep["two_sleeve"]["clock_error_ms"]["2.1"]["rls"]["step_mape"]
    (d / NORMAL.name).unlink()
    r = CliRunner().invoke(app, ["eval", "mgait", "--two-sleeves", "--data", str(d)])
    assert r.exit_code == 2 and "needs calibration walks" in r.output


def test_live_summary_speed_needs_ten_contiguous_steps():
    from gaitloop.mgait.twoknee_live import LiveTwoSleeves

    live = LiveTwoSleeves()
    live.steps = [("lr"[i % 2], 0.55 * i, 0.60 if i % 2 else 0.50) for i in range(11)]
    s = live.summary()
    assert s["speed_m_s"] == pytest.approx(5.5 / 5.5)
    assert s["stride_m"] == pytest.approx(1.10) and s["asymmetry_pct"] == pytest.approx(100 * 0.1 / 0.55)
    assert "speed 1.00 m/s" in live.text()
    live.steps[5] = (live.steps[5][0], live.steps[4][1] + 3.0, 0.6)  # a stand inside: not contiguous
    assert "speed_m_s" not in live.summary()
