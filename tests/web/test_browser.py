"""`gaitloop serve` in a real browser (Debian's chromium driven by Playwright): two virtual
insoles at 4x stream through the CLI; the live page draws traces and stance phases and shows
numbers; a recording is started and stopped from the page; the sessions page opens its report.

Screenshots go to the test's tmp folder (GAITLOOP_SHOTS=DIR to keep them elsewhere)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from gaitloop.demo import _knee_walk
from gaitloop.record import info, read_recording
from gaitloop.sim.vboard import VirtualBoard

# the shared start/teardown (re-exported: other tests and tools import them from here too)
from tests.web.serving import ROOT, WALK, chromium, free_port, serving, start_serve, stop_serve  # noqa: F401

SPEED = 4.0

pytestmark = [pytest.mark.micropython, pytest.mark.timeout(300)]


def test_live_page_recording_and_report(tmp_path):
    shots = Path(os.environ.get("GAITLOOP_SHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    sessions = tmp_path / "sessions"
    epoch = time.time_ns() // 1_000_000  # the two feet of one walk, in step (as the demo's)
    boards = [VirtualBoard("insole", side, WALK, speed=SPEED, device=f"insole-{side[0].upper()}",
                           replay_epoch_ms=epoch) for side in ("left", "right")]
    knee = _knee_walk()  # the demo's knee sleeve, with its limp, when its replay source is installed
    if knee is not None:
        boards.append(VirtualBoard("knee", "left", knee, speed=SPEED, device="knee-sleeve", limp=0.3))
    with serving(boards, sessions, browser=True) as srv:
        page, url = srv.page, srv.url
        # traces, stance phases, numbers and link health update
        page.wait_for_function("window.gaitloop.points > 300 && window.gaitloop.stances >= 6")
        page.wait_for_function("document.getElementById('asymtext').textContent.includes('25 %')")
        page.wait_for_function("document.getElementById('cadence').textContent !== '–'")
        assert page.locator(".board").count() == len(boards)
        page.wait_for_function("document.getElementById('phaseL').textContent.includes('/')")
        if knee is not None:  # step lengths from the knee sleeve's MGait steps
            page.wait_for_function("window.gaitloop.steps >= 4 && "
                                   "document.getElementById('stepR').textContent.endsWith(' m')")
            step = float(page.locator("#stepR").text_content().split()[0])
            assert 0.2 < step < 1.2, step
        health = page.locator(".health").first.text_content()
        assert "samples/s received" in health and "CRC errors" in health
        n0 = page.evaluate("window.gaitloop.points")
        page.wait_for_timeout(1000)
        assert page.evaluate("window.gaitloop.points") > n0, "traces stopped updating"
        cadence = float(page.locator("#cadence").text_content())
        assert 60 < cadence < 160, cadence  # a walk's cadence, steps/min
        page.screenshot(path=str(shots / "live.png"))
        # a recording, started and stopped from the page
        page.click("#rec")
        page.wait_for_function("document.getElementById('recfile').textContent.includes('.glsession')")
        name = page.locator("#recfile").text_content().split("recording ")[1].split(" ")[0]
        page.wait_for_timeout(4000)
        page.click("#rec")
        page.wait_for_function("document.getElementById('recfile').textContent.startsWith('saved')")
        assert (sessions / name).is_file()
        # the sessions page lists it and opens its report with its downloads
        page.click("text=Sessions")
        page.wait_for_selector(f"tr[data-name='{name}']")
        row = page.locator(f"tr[data-name='{name}']").text_content()
        assert "insole-L" in row and "insole-R" in row
        page.click(f"tr[data-name='{name}'] button")
        frame = page.frame_locator("[data-testid=report-frame]")
        frame.locator("h1").wait_for(timeout=120000)  # the report is drawn now: slow on a loaded host
        files = page.locator("[data-testid=download]").all_text_contents()
        assert "report.html" in files and any(f.endswith(".png") for f in files)
        assert any(f.endswith(".csv") for f in files)
        csv = page.request.get(url.split("?")[0] + f"files/{name}/" + next(f for f in files if f.startswith("samples")))
        assert csv.ok and csv.text().count("\n") > 100
        page.wait_for_timeout(1500)
        page.screenshot(path=str(shots / "sessions.png"), full_page=False)
        status = json.loads(page.request.get(url.split("?")[0] + "api/status").text())
        assert status["error"] is None and status["recording"] is None
    rec = read_recording(sessions / name)
    assert len(info(rec)["boards"]) == len(boards)
    for b in info(rec)["boards"]:
        assert b["samples"] > 0.5 * 4 * SPEED * 100 and b["seq_gaps"] == 0 and b["sample_gaps"] == 0
