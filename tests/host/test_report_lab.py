"""The gait-lab report: every number of the summary table recomputed by hand from a synthetic
session whose steps are known (tests/host/gait_session.py, written by the real Recorder), the
panels a clinician reads, what a session lacks said in words, the files written atomically.

The figure is inspected as matplotlib objects (titles, lines, spans, texts), not as pixels."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from gaitloop.record import read_recording
from gaitloop.report import write_report
from gaitloop.report_gait import gait_data, step_csv, summary
from gaitloop.report_lab import build_lab_report
from tests.host.gait_session import (
    FEEDBACK,
    INSOLE,
    KNEE_ASYM,
    KNEE_SPEED,
    KNEE_STEPS,
    write_gait_session,
)


@pytest.fixture(scope="module")
def rec(tmp_path_factory):
    return read_recording(write_gait_session(tmp_path_factory.mktemp("lab") / "walk.glsession"))


@pytest.fixture(scope="module")
def lab(rec):
    return build_lab_report(rec)


def _row(lab, parameter, source):
    rows = [r for r in lab.summary if r["parameter"] == parameter and r["source"] == source]
    assert len(rows) == 1, [(r["parameter"], r["source"]) for r in lab.summary]
    return rows[0]


def _check(row, left: list[float], right: list[float], sided: bool = True) -> None:
    """mean, SD (n - 1), CV and Robinson's symmetry index of the two sides' means, exactly
    (`sided=False`: values of no side, all given as `left`)."""
    both = np.asarray(left + right, dtype=float)
    assert row["n"] == len(both)
    assert (row["n_left"], row["n_right"]) == ((len(left), len(right)) if sided else (0, 0))
    assert row["mean"] == pytest.approx(both.mean(), rel=1e-12)
    sd = float(np.sqrt(((both - both.mean()) ** 2).sum() / (len(both) - 1)))
    assert row["sd"] == pytest.approx(sd, rel=1e-9, abs=1e-12)
    assert row["cv_pct"] == pytest.approx(100 * sd / both.mean(), rel=1e-9, abs=1e-12)
    if left and right:
        ml, mr = sum(left) / len(left), sum(right) / len(right)
        assert row["left"] == pytest.approx(ml, rel=1e-12) and row["right"] == pytest.approx(mr, rel=1e-12)
        assert row["asym_pct"] == pytest.approx(100 * abs(ml - mr) / ((ml + mr) / 2), rel=1e-9, abs=1e-12)


def _cycles(side: str) -> list[tuple[float, float, float]]:
    """(stride s, stance s, swing s) of each gait cycle closed by a heel strike."""
    hs, st = INSOLE[side]["hs"], INSOLE[side]["stance"]
    out = []
    for k in range(1, len(hs)):
        stride = round((hs[k] - hs[k - 1]) * 1000) / 1000
        out.append((stride, st[k - 1] / 1000, stride - st[k - 1] / 1000))
    return out


def _step_times(side: str, other: str) -> list[float]:
    """Other foot's latest heel strike to this one's, for the heel strikes that close a cycle."""
    out = []
    for t in INSOLE[side]["hs"][1:]:
        before = [o for o in INSOLE[other]["hs"] if o <= t]
        out.append(t - before[-1])
    return out


def test_knee_step_length_summary_is_exact(lab):
    left = [mm / 1000 for _, side, mm, _ in KNEE_STEPS if side == 0]
    right = [mm / 1000 for _, side, mm, _ in KNEE_STEPS if side == 1]
    row = _row(lab, "Step length", "knee sleeve")
    _check(row, left, right)
    assert row["paper"] == "MGait" and "eq. 6" in row["definition"]
    assert row["asym_pct"] > 25  # the synthetic limp: left steps ~0.44 m, right ~0.63 m


def test_insole_phase_summaries_are_exact(lab):
    cyc = {s: _cycles(s) for s in ("left", "right")}
    for name, i in (("Stride time", 0), ("Stance time", 1), ("Swing time", 2)):
        row = _row(lab, name, "insoles")
        _check(row, [c[i] for c in cyc["left"]], [c[i] for c in cyc["right"]])
        assert row["paper"] == "CSM"
    _check(_row(lab, "Cadence", "insoles"), [120 / c[0] for c in cyc["left"]], [120 / c[0] for c in cyc["right"]])
    _check(_row(lab, "Step time", "insoles"), _step_times("left", "right"), _step_times("right", "left"))


def test_knee_speed_cadence_and_asymmetry_are_exact(lab):
    _check(_row(lab, "Walking speed", "knee sleeve"), [mm / 1000 for _, mm, _ in KNEE_SPEED], [], sided=False)
    _check(_row(lab, "Cadence", "knee sleeve"), [spm / 10 for _, _, spm in KNEE_SPEED], [], sided=False)
    row = _row(lab, "Step length asymmetry", "knee sleeve")
    _check(row, [v / 100 for _, v in KNEE_ASYM], [], sided=False)
    assert "eq. 7" in row["definition"] and row["asym_pct"] is None


def test_step_csv_has_every_step_and_cycle(lab):
    rows = list(csv.DictReader(io.StringIO(step_csv(lab.data))))
    knee = [r for r in rows if r["source"] == "knee" and r["step_length_m"]]
    assert [float(r["step_length_m"]) for r in knee] == [mm / 1000 for _, _, mm, _ in KNEE_STEPS]
    assert [r["side"] for r in knee] == ["left" if s == 0 else "right" for _, s, _, _ in KNEE_STEPS]
    for side in ("left", "right"):
        ins = [r for r in rows if r["source"] == "insole" and r["side"] == side]
        assert [float(r["stance_s"]) for r in ins] == [c[1] for c in _cycles(side)]
        assert all(r["step_length_m"] == "" for r in ins)  # an insole measures no distance


def _panel(fig, start: str):
    axes = [ax for ax in fig.axes if ax.get_title(loc="left").startswith(start)]
    assert len(axes) == 1, [ax.get_title(loc="left") for ax in fig.axes]
    return axes[0]


def _texts(ax) -> str:
    return " ".join(t.get_text() for t in ax.texts)


def test_panels_of_a_full_session(lab):
    fig = lab.figure
    forces = [ax for ax in fig.axes if "force, 10 s" in ax.get_title(loc="left")]
    assert len(forces) == 2 and all(ax.get_ylabel() == "force (N)" for ax in forces)
    assert forces[0].get_xlim() == forces[1].get_xlim()  # the two feet on one window
    for ax in forces:  # stance shaded from heel strike to toe off
        labels = [p.get_label() for p in ax.patches]
        assert "stance" in labels and len(ax.patches) >= 7
    step = _panel(fig, "step length per step")
    assert {ln.get_label().split(" ")[0] for ln in step.get_lines()} == {"left", "right"}
    asym = _panel(fig, "left/right asymmetry")
    lines = [ln for ln in asym.get_lines() if ln.get_label().startswith("25 %")]
    assert len(lines) == 1 and list(lines[0].get_ydata()) == [25.0, 25.0]
    assert any("eq. 7" in ln.get_label() for ln in asym.get_lines())
    speed = _panel(fig, "walking speed and cadence")
    assert speed.get_ylabel() == "walking speed (m/s)"
    phases = _panel(fig, "stance and swing per gait cycle")
    assert [t.get_text() for t in phases.get_yticklabels()] == ["left\ninsoles", "right\ninsoles"]
    assert "0.70 ± 0.02 s (58 %)" in _texts(phases)  # stance mean ± SD, % of the cycle
    fb = _panel(fig, "feedback")
    spans = sorted(tuple(np.round(p, 3)) for coll in fb.collections for p in coll.get_paths()[0].vertices[:1])
    assert len(fb.collections) == 2 and spans  # buzzer and LED on/off spans
    buzz = [(t0, t1) for t0, c, *_ in FEEDBACK for t1, c2, *_ in FEEDBACK if c == 55 and c2 == 56]
    assert lab.data.feedback["buzzer"][0][:2] == buzz[0]
    assert lab.data.feedback["speed notice"][0][0] == 11.0
    assert "-12 %" in _texts(fb)
    assert not lab.data.lacks


@pytest.mark.parametrize(("insoles", "knee", "says", "panel"), [
    (("left",), False, ["no right insole", "no knee sleeve"], "step length per step"),
    ((), True, ["no insole"], "force curves"),
    (("right",), True, ["no left insole"], "left/right asymmetry"),
])
def test_what_a_session_lacks_is_said_not_drawn_empty(tmp_path, insoles, knee, says, panel):
    rec = read_recording(write_gait_session(tmp_path / "s.glsession", insoles=insoles, with_knee=knee))
    lab = build_lab_report(rec)
    for s in says:
        assert any(x.startswith(s) for x in lab.data.lacks), lab.data.lacks
    assert "Not in this session" in lab.figure.get_supxlabel()
    ax = _panel(lab.figure, panel)
    if panel == "left/right asymmetry":  # the knee's per-stride asymmetry is still drawn
        assert ax.get_lines()
    else:
        assert ax.texts and not ax.get_lines()  # words, not an empty axis
        assert "no " in _texts(ax)
    if not knee:  # the HTML says it too (one case: each report takes seconds on a loaded machine)
        html = write_report(rec, tmp_path / "out").read_text()
        for s in says:
            assert s in html


def test_write_report_files_and_no_partial_report_on_failure(rec, tmp_path, monkeypatch):
    out = tmp_path / "rep"
    write_report(rec, out)
    names = {p.name for p in out.iterdir()}
    assert {"report.html", "report.png", "steps.csv"} <= names and not any(n.endswith(".part") for n in names)
    assert (out / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (out / "report.html").read_text()
    assert "data-testid='gait-summary'" in html and "Hu et al." in html and "An et al." in html
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    import gaitloop.report as report

    def broken(*_a, **_k):
        raise RuntimeError("figure failed")

    monkeypatch.setattr(report, "board_figure", broken)
    with pytest.raises(RuntimeError):
        write_report(rec, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # all old, none half new


def test_deterministic_output(rec, tmp_path):
    a = write_report(rec, tmp_path / "a").parent
    b = write_report(rec, tmp_path / "b").parent
    for name in ("report.png", "steps.csv", "report.html"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_cut_file_is_reported_with_a_note(tmp_path):
    path = write_gait_session(tmp_path / "cut.glsession", cut_bytes=777)
    rec = read_recording(path)
    assert rec.truncated_tail
    html = write_report(rec, tmp_path / "out").read_text()
    assert "gait-summary" in html
    assert "recovered" in html and "cut off" in html


def test_gait_data_matches_summary_function(rec):
    assert summary(gait_data(rec)) == build_lab_report(rec).summary


def test_web_sessions_report_is_the_cli_report(rec, tmp_path):
    """The sessions page's report files are byte for byte those of `gaitloop report`."""
    from gaitloop.web import sessions as S

    folder = tmp_path / "sessions"
    folder.mkdir()
    (folder / "walk.glsession").write_bytes(rec.path.read_bytes())
    files = S.build_report(folder, "walk.glsession")
    assert {"report.html", "report.png", "steps.csv"} <= set(files)
    assert any(f.startswith("samples") for f in files) and any(f.startswith("events") for f in files)
    cli = write_report(read_recording(folder / "walk.glsession"), tmp_path / "cli").parent
    web = S.report_dir(folder, "walk.glsession")
    for name in ("report.png", "steps.csv"):
        assert (web / name).read_bytes() == (cli / name).read_bytes(), name
    row = S.summarize(folder / "walk.glsession")
    lab = build_lab_report(rec)
    step = next(r for r in lab.summary if r["parameter"] == "Step length")
    assert row["mean_step_m"] == round(step["mean"], 3) and row["step_length_asym_pct"] == round(step["asym_pct"], 3)
    assert row["steps"] == 18 and "error" not in row


def test_web_sessions_bad_file_is_one_line(tmp_path):
    from gaitloop.errors import GaitloopError
    from gaitloop.web import sessions as S

    (tmp_path / "junk.glsession").write_bytes(b"\x00\x01 not a session")
    row = S.summarize(tmp_path / "junk.glsession")
    assert "\n" not in row["error"] and "not a gaitloop session file" in row["error"]
    assert str(tmp_path) not in row["error"]
    with pytest.raises(GaitloopError) as exc:
        S.build_report(tmp_path, "junk.glsession")
    assert "\n" not in str(exc.value) and str(exc.value).startswith("junk.glsession: ")
