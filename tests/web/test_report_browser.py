"""The sessions page and its report in a real browser (Debian's chromium driven by Playwright):
`gaitloop serve` (one virtual insole, so the hub has a board) over a sessions folder holding a
known synthetic session, an insole-only one, a cut one and a file that is no session at all.

The page lists each with its summary (the numbers of the report's own summary table), opens
the report made by `gaitloop report`'s code, and downloads it as HTML, PNG and CSV; the broken
files show one clear line, never a server error. Screenshots go to GAITLOOP_SHOTS (or the
test's tmp folder): sessions.png, report-page.png, report-full.png."""

from __future__ import annotations

import csv
import io
import json
import os
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from gaitloop.record import read_recording
from gaitloop.report_lab import build_lab_report
from gaitloop.sim.vboard import VirtualBoard
from tests.host.gait_session import write_gait_session
from tests.web.serving import WALK, serving

pytestmark = [pytest.mark.micropython, pytest.mark.timeout(400)]


def _post(url: str) -> tuple[int, dict]:
    req = urllib.request.Request(url, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_sessions_page_report_and_downloads(tmp_path):
    shots = Path(os.environ.get("GAITLOOP_SHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    sessions = tmp_path / "sessions"
    sessions.mkdir()
    walk = write_gait_session(sessions / "walk.glsession")
    write_gait_session(sessions / "left-insole-only.glsession", insoles=("left",), with_knee=False)
    write_gait_session(sessions / "cut.glsession", cut_bytes=5000)
    (sessions / "notes.glsession").write_text("not a session: a text file with the wrong name\n")
    expected = {(r["parameter"], r["source"]): r for r in build_lab_report(read_recording(walk)).summary}

    board = VirtualBoard("insole", "left", WALK, speed=4.0, device="insole-L")
    with serving([board], sessions, browser=True, live_page=False) as srv:
        base = srv.base
        # a file that is no session: one line, HTTP 422, never a 500
        code, body = _post(base + "api/sessions/notes.glsession/report")
        assert code == 422 and "notes.glsession" in body["error"] and "\n" not in body["error"]
        browser = srv.browser
        page = browser.new_page(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
        page.set_default_timeout(120000)
        page.goto(base + "sessions")
        page.wait_for_selector("tr[data-name='walk.glsession']")
        bad = page.locator("tr[data-bad='notes.glsession']").text_content()
        assert "cannot be read" in bad and "not a gaitloop session file" in bad
        assert page.locator("tr[data-bad='notes.glsession'] button").count() == 0
        row = page.locator("tr[data-name='walk.glsession'] td").all_text_contents()
        # the summary columns are the report's own numbers
        assert row[5] == f"{expected[('Step length', 'knee sleeve')]['mean']:.2f} m"
        assert row[6] == f"{expected[('Step length', 'knee sleeve')]['asym_pct']:.1f} %"
        assert row[8] == f"{expected[('Stance time', 'insoles')]['asym_pct']:.1f} %"
        assert "insole-L" in row[3] and "knee-sleeve" in row[3] and row[4] == "18"
        only = page.locator("tr[data-name='left-insole-only.glsession'] td").all_text_contents()
        assert only[5] == "–" and only[6] == "–"  # no knee sleeve: no step length, said as "–"
        page.screenshot(path=str(shots / "sessions.png"))

        assert "cut off" in page.locator("tr[data-name='cut.glsession'] [data-testid=note]").text_content()
        # the cut file: reported (recovered) or one clear line
        page.click("tr[data-name='cut.glsession'] button")
        page.wait_for_selector("[data-testid=report-frame], [data-testid=report-error]")
        if page.locator("[data-testid=report-error]").count():
            assert "\n" not in page.locator("[data-testid=report-error]").text_content().strip()
        else:
            page.frame_locator("[data-testid=report-frame]").locator("h1").wait_for()

        page.click("tr[data-name='walk.glsession'] button")
        page.wait_for_selector("h2:has-text('walk.glsession')")
        frame = page.frame_locator("[data-testid=report-frame]")
        table = frame.locator("[data-testid=gait-summary]")
        table.wait_for()
        text = table.text_content()
        assert "Step length" in text and "MGait" in text and "CSM" in text
        frame.locator("img").first.wait_for()
        page.wait_for_timeout(500)
        page.screenshot(path=str(shots / "report-page.png"))
        got = {}
        for name in ("report.html", "report.png", "steps.csv"):
            with page.expect_download() as dl:
                page.click(f"[data-testid=download][data-file='{name}']")
            d = dl.value
            assert d.suggested_filename == f"walk-{name}"
            target = shots / d.suggested_filename
            d.save_as(str(target))
            got[name] = target.read_bytes()
        more = page.locator("[data-testid=download].more").all_text_contents()
        assert {"samples.csv", "events.csv"} <= set(more) or any(m.startswith("samples") for m in more)
        # the report page itself, whole, as a clinician scrolls it
        full = browser.new_page(viewport={"width": 1200, "height": 900})
        full.goto(base + "files/walk.glsession/report.html?inline=1")
        full.screenshot(path=str(shots / "report-full.png"), full_page=True)
        full.close()
    assert got["report.png"][:8] == b"\x89PNG\r\n\x1a\n" and len(got["report.png"]) > 20000
    assert b"data-testid='gait-summary'" in got["report.html"]
    rows = list(csv.DictReader(io.StringIO(got["steps.csv"].decode())))
    assert sum(1 for r in rows if r["step_length_m"]) == 18
    assert {r["side"] for r in rows} == {"left", "right"}
