"""Pushing a student model from the live page (issue 16 item 5), in a real browser against a
keyed virtual insole: the page lists only the models the server offers (the shipped ones and
`<sessions>/models/`), shows the chosen one's card (name, size, SHA-256, signature), pushes
it after the dialog's confirmation through the stream process's own link (the `gaitloop push`
code: signed, chunked, A/B slot, self-test, trial), shows the progress and the outcome, and
the board then reports the new model. A corrupted file, a file that is no model, a board
without its update key (a second, unprovisioned insole), a missing signing key, a path instead
of an id and a changed file are refused in one line with nothing written; a model that fails the board's self-test is "failed" and the old model runs on.
Every attempt is in `board-writes.log` with the board, the file, its hash and the outcome,
and a recording running meanwhile loses no sample."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from gaitloop.record import info, read_recording
from gaitloop.sim.vboard import VirtualBoard
from gaitloop.update import keys
from gaitloop.web.audit import read_log
from tests.web.serving import ROOT, WALK, serving, still_drawing

pytestmark = [pytest.mark.micropython, pytest.mark.timeout(400)]

PHASE = ROOT / "models" / "student_phase_insole.gldm"
GRF = ROOT / "models" / "student_grf.gldm"


def _bad_selftest_model() -> bytes:
    """The GRF student with its expected self-test output changed (CRC made valid again): a
    file the host accepts and the board's self-test rejects."""
    b = bytearray(GRF.read_bytes())
    b[-4] ^= 0x01  # the expected int8 output (then 3 pad bytes)
    struct.pack_into("<I", b, 12, zlib.crc32(bytes(b[40:])) & 0xFFFFFFFF)
    return bytes(b)


def _post(page, base: str, link: int, body: dict) -> tuple[int, dict]:  # noqa: ANN001 - a Playwright page
    """The page's own request (same origin, JSON), as its dialog sends it."""
    r = page.request.post(base + f"api/boards/{link}/model", data=json.dumps(body),
                          headers={"Content-Type": "application/json"}, timeout=200000)
    return r.status, r.json()


def test_model_push_from_the_page_confirmed_progress_outcome_and_refusals(tmp_path, monkeypatch):
    master = tmp_path / "master.key"
    monkeypatch.setenv("GAITLOOP_KEY_FILE", str(master))  # serve inherits it
    kf = tmp_path / "insole-L.key"
    kf.write_bytes(keys.key_file("insole-L"))  # provisioned as `gaitloop flash` does (creates master)
    board = VirtualBoard("insole", "left", WALK, speed=4.0, device="insole-L", files={"device.key": kf})
    unkeyed = VirtualBoard("insole", "right", WALK, speed=4.0, device="insole-R")  # never provisioned
    sessions = tmp_path / "sessions"
    (sessions / "models").mkdir(parents=True)
    broken = bytearray(GRF.read_bytes())
    broken[300] ^= 0x10  # one bit flipped in transit to the clinic: the CRC says so
    (sessions / "models" / "broken.gldm").write_bytes(bytes(broken))
    shutil.copy(ROOT / "models" / "csm_default.json", sessions / "models" / "templates.gldm")  # wrong kind
    (sessions / "models" / "selftest-bad.gldm").write_bytes(_bad_selftest_model())
    shots = Path(os.environ.get("GAITLOOP_SHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    phase_sha = hashlib.sha256(PHASE.read_bytes()).hexdigest()

    with serving([board, unkeyed], sessions, browser=True) as srv:
        page, base = srv.page, srv.base
        page.wait_for_function("window.gaitloop.points > 50 && document.querySelectorAll('.board h2').length == 2")
        push_model = page.locator("[data-testid=push-model]")
        rec = page.request.post(base + "api/record/start").json()["file"]
        assert page.request.get(base + "api/boards/0/info").json()["model"]["slot"] is None

        # the list: shipped models and the sessions folder's, each with its card
        cat = page.request.get(base + "api/models").json()
        cards = {m["id"]: m for m in cat["models"]}
        assert {"shipped/student_grf.gldm", "shipped/student_phase_insole.gldm", "sessions/broken.gldm",
                "sessions/templates.gldm", "sessions/selftest-bad.gldm"} <= set(cards)
        assert cards["shipped/student_phase_insole.gldm"]["sha256"] == phase_sha
        assert "CRC mismatch" in cards["sessions/broken.gldm"]["error"]
        assert "bad magic" in cards["sessions/templates.gldm"]["error"]
        assert cat["signing"]["ok"]

        # refusals before anything reaches the board (each one line, logged)
        status, j = _post(page, base, 0, {"model": "sessions/broken.gldm", "confirm": "insole-L",
                                          "sha256": cards["sessions/broken.gldm"]["sha256"]})
        assert status == 400 and j["outcome"] == "refused" and "CRC mismatch" in j["error"] and "\n" not in j["error"]
        status, j = _post(page, base, 0, {"model": str(PHASE), "confirm": "insole-L", "sha256": phase_sha})
        assert status == 404 and "not a model this server offers" in j["error"]  # a path is no id
        status, j = _post(page, base, 0, {"model": "shipped/student_phase_insole.gldm", "confirm": "insole-L",
                                          "sha256": "0" * 64})
        assert status == 400 and "changed since the page showed it" in j["error"]
        status, j = _post(page, base, 0, {"model": "shipped/student_phase_insole.gldm", "confirm": "insole-R",
                                          "sha256": phase_sha})
        assert status == 400 and "must name the board (insole-L)" in j["error"]
        r = page.request.post(base + "api/boards/0/model", data=json.dumps(
            {"model": "shipped/student_phase_insole.gldm", "confirm": "insole-L", "sha256": phase_sha}),
            headers={"Content-Type": "text/plain"})
        assert r.status == 403  # not the page's own JSON request: another site cannot push

        # a board without its update key cannot check a signature: said before, refused on push
        push_model.nth(1).click()
        page.wait_for_function("document.getElementById('modelpick').options.length > 2")
        assert page.locator("[data-testid=model-board]").text_content() == "insole-R"
        page.select_option("[data-testid=model-pick]", "shipped/student_phase_insole.gldm")
        page.fill("[data-testid=model-who]", "A. Therapist")
        line = page.locator("[data-testid=model-summary]").text_content()
        assert line == "cannot be pushed: insole-R has no update key; provision it with gaitloop flash", line
        assert page.locator("[data-testid=model-confirm]").is_disabled()
        page.click("[data-testid=model-cancel]")
        status, j = _post(page, base, 1, {"model": "shipped/student_phase_insole.gldm", "confirm": "insole-R",
                                          "sha256": phase_sha})
        assert status == 400 and "insole-R: the board has no update key" in j["error"], j
        assert page.request.get(base + "api/boards/1/info").json()["model"]["slot"] is None

        # no signing key on this host: the card says so, the push is refused
        hidden = master.with_name("master.key.away")
        master.rename(hidden)
        push_model.nth(0).click()
        page.wait_for_function("document.getElementById('modelpick').options.length > 2")
        page.select_option("[data-testid=model-pick]", "shipped/student_phase_insole.gldm")
        assert "cannot be signed here" in page.locator("[data-testid=model-sig]").text_content()
        page.fill("[data-testid=model-who]", "A. Therapist")
        assert page.locator("[data-testid=model-confirm]").is_disabled()
        status, j = _post(page, base, 0, {"model": "shipped/student_phase_insole.gldm", "confirm": "insole-L",
                                          "sha256": phase_sha})
        assert status == 400 and "cannot sign for insole-L" in j["error"], j
        hidden.rename(master)
        page.click("[data-testid=model-cancel]")

        # a bad file and a wrong-kind file on the page: one line, no push button
        push_model.nth(0).click()
        page.wait_for_function("document.getElementById('modelpick').options.length > 2")
        assert page.locator("[data-testid=model-board]").text_content() == "insole-L"
        page.wait_for_function("document.getElementById('modelnow').textContent.includes('built-in')")
        page.fill("[data-testid=model-who]", "A. Therapist")
        for bad, why in (("sessions/broken.gldm", "CRC mismatch"), ("sessions/templates.gldm", "not a device model")):
            page.select_option("[data-testid=model-pick]", bad)
            line = page.locator("[data-testid=model-summary]").text_content()
            assert line.startswith("cannot be pushed: ") and why in line and "\n" not in line, line
            assert page.locator("[data-testid=model-confirm]").is_disabled()

        # the good one: its card, the confirmation, progress, the outcome
        page.select_option("[data-testid=model-pick]", "shipped/student_phase_insole.gldm")
        assert page.locator("[data-testid=model-sha]").text_content() == phase_sha
        card = page.locator("[data-testid=model-card]").text_content()
        assert "student_phase_insole.gldm" in card and f"{PHASE.stat().st_size} bytes" in card
        assert "signed at push" in page.locator("[data-testid=model-sig]").text_content()
        summary = page.locator("[data-testid=model-summary]").text_content()
        assert "insole-L" in summary and "student_phase_insole.gldm" in summary
        assert page.locator("[data-testid=model-confirm]").text_content() == "Push to insole-L"
        page.screenshot(path=str(shots / "push-model-dialog.png"))
        page.click("[data-testid=model-confirm]")
        page.wait_for_function("document.getElementById('modelresult').textContent.match(/^(active|failed|rolled|not)/)",
                               timeout=200000)
        result = page.locator("[data-testid=model-result]").text_content()
        assert result.startswith("active: insole-L runs student_phase_insole.gldm as model v"), result
        assert "confirmed after its trial" in result, result
        page.screenshot(path=str(shots / "push-model-done.png"))
        seen = page.evaluate("window.gaitloop.pushes")
        sending = [p for p in seen if p[1] == "sending"]
        assert sending and sending[-1][2] == sending[-1][3] == PHASE.stat().st_size, seen
        assert [p[2] for p in sending] == sorted(p[2] for p in sending)
        assert any(p[1] == "on trial" for p in seen) and seen[-1][1] == "active", seen
        # the board itself says so
        st = page.request.get(base + "api/boards/0/info").json()
        assert st["model"]["sha256"] == phase_sha and st["model"]["slot"] == "a" and st["model"]["trial"] is None

        # a model the board's self-test rejects: failed, the pushed one runs on
        bad = page.request.get(base + "api/models").json()
        bad = next(m for m in bad["models"] if m["id"] == "sessions/selftest-bad.gldm")
        assert bad["error"] is None
        status, j = _post(page, base, 0, {"model": bad["id"], "confirm": "insole-L", "sha256": bad["sha256"],
                                          "who": "A. Therapist"})
        assert status == 502 and j["outcome"] == "failed" and "self-test" in j["error"], j
        st = page.request.get(base + "api/boards/0/info").json()
        assert st["model"]["sha256"] == phase_sha and st["model"]["failed"] == "b"

        assert still_drawing(page), "the page stopped after the push"
        page.request.post(base + "api/record/stop")
    err = srv.stderr()

    log = read_log(sessions)
    got = [(e["what"]["model"], e["result"].split(":")[0]) for e in log]
    assert got == [("sessions/broken.gldm", "refused"), (str(PHASE), "refused"),
                   ("shipped/student_phase_insole.gldm", "refused"), ("shipped/student_phase_insole.gldm", "refused"),
                   ("shipped/student_phase_insole.gldm", "refused"), ("shipped/student_phase_insole.gldm", "refused"),
                   ("shipped/student_phase_insole.gldm", "active"),
                   ("sessions/selftest-bad.gldm", "failed")], got
    ok = log[-2]
    assert ok["who"]["name"] == "A. Therapist" and ok["who"]["client"] == "127.0.0.1"
    assert ok["what"]["board"] == "insole-L" and ok["what"]["sha256"] == phase_sha
    assert ok["what"]["file"] == str(PHASE) and ok["what"]["size"] == PHASE.stat().st_size
    assert ok["detail"]["model"]["sha256"] == phase_sha and ok["detail"]["confirmed"] is True
    assert "push model -> insole-L: active" in err and "A. Therapist" in err
    # the recording over the pushes: every sample of both boards
    s = info(read_recording(sessions / rec))
    assert len(s["boards"]) == 2
    for b in s["boards"]:
        assert b["seq_gaps"] == 0 and b["sample_gaps"] == 0
        _, _, idx, _ = read_recording(sessions / rec).samples(b["link"])
        assert np.all(np.diff(idx) == 1)
