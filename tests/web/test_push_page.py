"""Writing a calibration from the live page (issue 16 item 5), in a real browser against a
keyed virtual board: a dialog names the board and shows what will be written, nothing is sent
before it is confirmed, the board's status then shows the new calibration, every attempt is in
the append-only log (who, when, what, result) and on the server's stderr, and the recording
running meanwhile loses no sample."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

from gaitloop.record import info, read_recording
from gaitloop.sim.vboard import VirtualBoard
from gaitloop.update import keys
from gaitloop.web.audit import read_log
from tests.web.serving import WALK, serving, still_drawing

pytestmark = [pytest.mark.micropython, pytest.mark.timeout(300)]

CAL = {"csm_params": {"min_range": 120}, "student_hop": 5}


def test_calibration_push_from_the_page_is_confirmed_logged_and_shown(tmp_path, monkeypatch):
    monkeypatch.setenv("GAITLOOP_KEY_FILE", str(tmp_path / "master.key"))  # serve inherits it
    kf = tmp_path / "insole-L.key"
    kf.write_bytes(keys.key_file("insole-L"))  # provisioned as `gaitloop flash` does
    board = VirtualBoard("insole", "left", WALK, speed=2.0, device="insole-L", files={"device.key": kf})
    cal_file = tmp_path / "clinic-cal.json"
    cal_file.write_text(json.dumps(CAL))
    blob = json.dumps(CAL, sort_keys=True, separators=(",", ":")).encode()  # as image.calibration
    sessions = tmp_path / "sessions"
    shots = Path(os.environ.get("GAITLOOP_SHOTS", tmp_path))
    with serving([board], sessions, browser=True) as srv:
        page, base = srv.page, srv.base
        page.wait_for_function("window.gaitloop.points > 50")
        rec = page.request.post(base + "api/record/start").json()["file"]
        # without the page's confirmation (or from another site) nothing is written
        r = page.request.post(base + "api/boards/0/calibration", data=json.dumps({"calibration": CAL}),
                              headers={"Content-Type": "application/json"})
        assert r.status == 400 and "not confirmed" in r.json()["error"]
        r = page.request.post(base + "api/boards/0/calibration", data=json.dumps(
            {"calibration": CAL, "confirm": "insole-L"}), headers={"Content-Type": "text/plain"})
        assert r.status == 403
        r = page.request.post(base + "api/boards/0/calibration", data=json.dumps(
            {"calibration": CAL, "confirm": "insole-R"}), headers={"Content-Type": "application/json"})
        assert r.status == 409 and "must name the board (insole-L)" in r.json()["error"]
        assert page.request.get(base + "api/boards/0/info").json()["calibration"]["slot"] is None
        # the dialog: names the board, shows what it runs and what will be written
        page.click("[data-testid=push]")
        dlg = page.locator("[data-testid=push-dialog]")
        assert dlg.is_visible()
        assert page.locator("[data-testid=push-board]").text_content() == "insole-L"
        page.wait_for_function("document.getElementById('pushnow').textContent.includes('built-in')")
        page.set_input_files("[data-testid=push-file]", str(cal_file))
        # the page reads the file asynchronously (File.text()): wait for its summary
        page.wait_for_function("document.getElementById('pushsummary').textContent.includes('clinic-cal.json')")
        summary = page.locator("[data-testid=push-summary]").text_content()
        assert "clinic-cal.json" in summary and "insole-L" in summary and "csm_params" in summary
        assert page.locator("[data-testid=push-confirm]").is_disabled(), "no name yet: no write"
        # Cancel writes nothing
        page.click("[data-testid=push-cancel]")
        assert not dlg.is_visible()
        page.click("[data-testid=push]")
        page.set_input_files("[data-testid=push-file]", str(cal_file))
        page.fill("[data-testid=push-who]", "A. Therapist")
        assert page.locator("[data-testid=push-confirm]").text_content() == "Write to insole-L"
        page.screenshot(path=str(shots / "push-dialog.png"))
        page.click("[data-testid=push-confirm]")
        page.wait_for_function("document.getElementById('pushresult').textContent.startsWith('written')",
                               timeout=90000)
        result = page.locator("[data-testid=push-result]").text_content()
        assert "insole-L now runs calibration v" in result and "slot a" in result, result
        assert "calibration v" in page.locator("[data-testid=calib]").first.text_content()
        # the board itself says so
        st = page.request.get(base + "api/boards/0/info").json()
        assert st["calibration"]["sha256"] == hashlib.sha256(blob).hexdigest()
        assert st["calibration"]["slot"] == "a"
        assert still_drawing(page), "the page stopped after the push"
        page.request.post(base + "api/record/stop")
    err = srv.stderr()
    log = read_log(sessions)
    assert [e["result"].split(":")[0] for e in log] == ["refused", "failed", "ok"], log
    ok = log[-1]
    assert ok["who"]["name"] == "A. Therapist" and ok["who"]["client"] == "127.0.0.1"
    assert ok["what"]["board"] == "insole-L" and ok["what"]["name"] == "clinic-cal.json"
    assert ok["what"]["sha256"] == hashlib.sha256(blob).hexdigest() and ok["what"]["calibration"] == CAL
    assert json.loads(Path(ok["what"]["file"]).read_text()) == CAL  # the exact object written is kept
    assert "board write:" in err and "A. Therapist" in err and "insole-L: ok" in err
    # the recording over the push: every sample, the push's ACKs in it
    s = info(read_recording(sessions / rec))
    (b,) = s["boards"]
    assert b["seq_gaps"] == 0 and b["sample_gaps"] == 0
    _, _, idx, _ = read_recording(sessions / rec).samples(b["link"])
    assert np.all(np.diff(idx) == 1)
