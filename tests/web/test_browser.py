"""`gaitloop serve` in a real browser (Debian's chromium driven by Playwright): two virtual
insoles at 4x stream through the CLI; the live page draws traces and stance phases and shows
numbers; a recording is started and stopped from the page; the sessions page opens its report.

Screenshots go to the test's tmp folder (GAITLOOP_SHOTS=DIR to keep them elsewhere)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from gaitloop.demo import _knee_walk
from gaitloop.record import info, read_recording
from gaitloop.sim.vboard import VirtualBoard

ROOT = Path(__file__).resolve().parents[2]
WALK = ROOT / "data" / "gaitpdb" / "GaCo01_01.txt"
SPEED = 4.0

pytestmark = [pytest.mark.micropython, pytest.mark.timeout(300)]


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs Debian's chromium)")
        pytest.skip("chromium not installed: apt-get install chromium to run the browser tests")
    pytest.importorskip("playwright")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_serve(args: list[str], timeout: float = 60.0) -> tuple[subprocess.Popen, str]:
    exe = Path(sys.executable).with_name("gaitloop")
    proc = subprocess.Popen([str(exe), "serve", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if line.startswith("serving: "):
            url = line.split(" ", 1)[1].strip()
            for _ in range(100):  # the line comes just before uvicorn binds
                try:
                    urllib.request.urlopen(url.split("?")[0] + "api/status", timeout=2)
                    return proc, url
                except OSError:
                    time.sleep(0.1)
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"serve did not start: {proc.stderr.read()[-2000:]}")


def stop_serve(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def test_live_page_recording_and_report(tmp_path):
    exe = chromium()
    from playwright.sync_api import sync_playwright

    shots = Path(os.environ.get("GAITLOOP_SHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    sessions = tmp_path / "sessions"
    epoch = time.time_ns() // 1_000_000  # the two feet of one walk, in step (as the demo's)
    boards = [VirtualBoard("insole", side, WALK, speed=SPEED, device=f"insole-{side[0].upper()}",
                           replay_epoch_ms=epoch) for side in ("left", "right")]
    knee = _knee_walk()  # the demo's knee sleeve, with its limp, when its replay source is installed
    if knee is not None:
        boards.append(VirtualBoard("knee", "left", knee, speed=SPEED, device="knee-sleeve", limp=0.3))
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
                page.set_default_timeout(45000)
                page.goto(url)
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
                frame.locator("h1").wait_for()
                files = page.locator("[data-testid=download]").all_text_contents()
                assert "report.html" in files and any(f.endswith(".png") for f in files)
                assert any(f.endswith(".csv") for f in files)
                csv = page.request.get(url.split("?")[0] + f"files/{name}/" + next(f for f in files if f.startswith("samples")))
                assert csv.ok and csv.text().count("\n") > 100
                page.wait_for_timeout(1500)
                page.screenshot(path=str(shots / "sessions.png"), full_page=False)
                status = json.loads(page.request.get(url.split("?")[0] + "api/status").text())
                assert status["error"] is None and status["recording"] is None
            finally:
                browser.close()
    finally:
        if proc is not None:
            stop_serve(proc)
        for b in boards:
            b.stop()
    rec = read_recording(sessions / name)
    assert len(info(rec)["boards"]) == len(boards)
    for b in info(rec)["boards"]:
        assert b["samples"] > 0.5 * 4 * SPEED * 100 and b["seq_gaps"] == 0 and b["sample_gaps"] == 0
