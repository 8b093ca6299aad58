"""The live page's two-sleeve section in a real browser (Debian's chromium, Playwright): two
virtual knee boards (the left and the right sleeve of the shipped CMU walk, one walk clock, 2x)
streamed by `gaitloop serve`; the stream process computes the same-instant steps, the page shows
step L/R, stride and the per-stride asymmetry with its 25 % line, and a recording made meanwhile
has every sample (the display never holds the recorder up). Without a left and a right knee
board the section stays hidden (tests/web/test_browser.py's page has one knee board).

Screenshots go to the test's tmp folder (GAITLOOP_SHOTS=DIR to keep them elsewhere)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from gaitloop.record import info, read_recording
from gaitloop.sim.vboard import VirtualBoard
from gaitloop.web.twosleeves import TwoSleevesDisplay
from tests.web.serving import chromium, free_port, start_serve, stop_serve

ROOT = Path(__file__).resolve().parents[2]
WALK = ROOT / "data" / "mocap" / "cmu" / "35_01.amc"
SPEED = 2.0  # 4x on a loaded 2-core machine starves the stream process (the display restarts)


class _Hello:
    def __init__(self, kind: str, side: str) -> None:
        self.kind, self.side, self.device = kind, side, f"{kind}-{side}"


class _Channel:
    def __init__(self, kind: str, side: str) -> None:
        self.state = type("S", (), {"hello": _Hello(kind, side)})()


def test_display_queues_only_knee_samples_bounded_and_survives_errors(monkeypatch):
    """The sink only queues (bounded, drops counted); a failing angle pipeline stops this
    display with its reason, nothing else; no left+right knee pair: no section (None)."""
    import numpy as np

    from gaitloop.messages import Samples
    from gaitloop.web import twosleeves as T

    monkeypatch.setattr(T, "BACKLOG", 5)
    d = TwoSleevesDisplay()
    msg = Samples(first_index=0, counts=np.zeros((10, 14), dtype=np.int16))
    d(0, _Channel("insole", "left"), None, msg)
    d(1, _Channel("knee", "left"), None, msg)
    assert d.view() is None and len(d.backlog) == 1  # one knee board: nothing to pair
    for _ in range(7):
        d(2, _Channel("knee", "right"), None, msg)
    # full at the 6th frame: the 5 queued are dropped and the pipelines start again
    assert len(d.backlog) == 3 and d.dropped == 5 and d.restarts == 1
    v = d.view()
    assert v["waiting"] and v["n_steps"] == 0 and v["restarts"] == 1 and v["backlog"] == 3

    def boom(*a):
        raise ValueError("bad frame")

    monkeypatch.setattr(T.LiveTwoSleeves, "__call__", boom)
    assert d.work(0.01) == 1
    assert d.error == "ValueError: bad frame" and not d.backlog and d.view()["error"] == d.error
    d(1, _Channel("knee", "left"), None, msg)  # stopped: nothing more is queued
    assert not d.backlog


def test_two_sleeve_angles_run_after_the_frame_not_before(tmp_path):
    """The worker feeds the two-sleeve angles (up to 10 ms) after the display frame went out,
    never between a sample's arrival and its frame, and every loop turn, also without one."""
    from tests.web.test_frame_pacing import _worker

    wk, out, boards = _worker(1, tmp_path)
    seen: list[int] = []
    wk.two_sleeves.work = lambda budget_s: seen.append(len(out)) or 0
    boards[0].samples(10)
    wk.tick()
    assert len(out) == 1 and seen == [1]  # the frame first
    wk.tick()  # nothing new, no frame due: the angles still get their turn
    assert len(out) == 1 and seen == [1, 1]


@pytest.mark.micropython
@pytest.mark.timeout(480)
def test_live_page_two_sleeve_steps(tmp_path):
    exe = chromium()
    from playwright.sync_api import sync_playwright

    shots = Path(os.environ.get("GAITLOOP_SHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    sessions = tmp_path / "sessions"
    epoch = time.time_ns() // 1_000_000  # both sleeves replay one walk clock
    boards = [VirtualBoard("knee", side, WALK, speed=SPEED, device=f"sleeve-{side}", replay_epoch_ms=epoch)
              for side in ("left", "right")]
    proc = None
    try:
        ports = [b.start() for b in boards]
        port = free_port()
        args = [a for p in ports for a in ("--port", p)]
        proc, url = start_serve(["--listen", f"127.0.0.1:{port}", *args, "--sessions", str(sessions)])
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
            try:
                page = browser.new_page(viewport={"width": 1200, "height": 900})
                page.set_default_timeout(120000)
                page.goto(url)
                page.wait_for_selector("[data-testid=twosleeves]", state="visible")
                assert "sleeve-left (left leg) + sleeve-right (right leg)" in page.locator("#ts-boards").text_content()
                # a recording runs while the page shows the two-sleeve steps
                page.click("#rec")
                page.wait_for_function("document.getElementById('recfile').textContent.includes('.glsession')")
                name = page.locator("#recfile").text_content().split("recording ")[1].split(" ")[0]
                # the display works during the recording: six more steps than when it started
                # (each leg's angles start at the board's first sample, so steps may already be
                # there), and the recording runs 3 s at least
                n0 = page.evaluate("window.gaitloop.twoSleeves.steps")
                page.wait_for_function(f"window.gaitloop.twoSleeves.steps >= {n0 + 6} && "
                                       "/\\((\\d+) s\\)/.test(document.getElementById('recfile').textContent) && "
                                       "+document.getElementById('recfile').textContent.match(/\\((\\d+) s\\)/)[1] >= 3")
                page.wait_for_function("window.gaitloop.twoSleeves.strides >= 4 && "
                                       "document.getElementById('ts-stepL').textContent.endsWith(' m') && "
                                       "document.getElementById('ts-stepR').textContent.endsWith(' m')")
                # the last step of a pass may be the short one that closes the walk into a stand:
                # the medians (shown under each) and most strides are the walk's
                for k in ("L", "R"):
                    assert page.locator(f"#ts-step{k}").text_content().endswith(" m")
                    assert "median 0." in page.locator(f"#ts-med{k}").text_content()
                view = page.evaluate("window.gaitloop.twoSleeves.view")
                brief = {k: v for k, v in view.items() if k != "strides"}
                why = json.dumps(brief) + " | " + " | ".join(page.locator(".health").all_text_contents())
                assert 0.45 < view["median_l_m"] < 0.75 and 0.45 < view["median_r_m"] < 0.75, why
                strides = [v for _, v in view["strides"]]
                assert sorted(strides)[len(strides) // 2] < 25, view  # a normal walk: under the buzzer line
                assert page.locator("#ts-asym").text_content().endswith(" %")
                page.wait_for_function("document.getElementById('ts-stride').textContent.endsWith(' m')")
                stride = float(page.locator("#ts-stride").text_content().split()[0])
                assert 0.6 < stride < 1.5, stride  # two steps (one may close the walk)
                note = page.locator("#ts-note").text_content()
                assert "steps" in note and "stopped" not in note, note
                # the asymmetry plot: green bars under the dashed red 25 % line
                px = page.evaluate("""() => { const c = document.getElementById('ts-plot');
                    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                    let red = 0, green = 0;
                    for (let i = 0; i < d.length; i += 4) {
                      if (d[i] > 200 && d[i + 1] < 80 && d[i + 2] < 80) red++;
                      if (d[i] < 80 && d[i + 1] > 130 && d[i + 2] < 80) green++; }
                    return [red, green]; }""")
                assert px[0] > 20 and px[1] > 50, px
                page.locator("[data-testid=twosleeves]").screenshot(path=str(shots / "live-two-sleeves.png"))
                page.screenshot(path=str(shots / "live-two-sleeves-page.png"))
                page.click("#rec")
                page.wait_for_function("document.getElementById('recfile').textContent.startsWith('saved')")
                status = json.loads(page.request.get(url.split("?")[0] + "api/status").text())
                assert status["error"] is None
            finally:
                browser.close()
    finally:
        if proc is not None:
            stop_serve(proc)
        for b in boards:
            b.stop()
    rec = read_recording(sessions / name)
    for b in info(rec)["boards"]:  # every sample recorded while the display worked
        assert b["samples"] > 2 * SPEED * 100 and b["seq_gaps"] == 0 and b["sample_gaps"] == 0, b
