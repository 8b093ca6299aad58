"""The list of models a page may push (web/models.py): only the shipped device models and the
files of `<sessions>/models/`, named by id; a path, a traversal or an unlisted name resolves to
nothing; each card carries the file's SHA-256 and size, and a file that is no device model
says why in one line."""

from __future__ import annotations

import hashlib

import pytest

from gaitloop.web import models as MD
from tests.web.serving import ROOT

GRF = ROOT / "models" / "student_grf.gldm"


def test_list_ids_cards_and_what_never_resolves(tmp_path, monkeypatch):
    monkeypatch.setenv("GAITLOOP_KEY_FILE", str(tmp_path / "no-such.key"))
    sessions = tmp_path / "sessions"
    (sessions / "models").mkdir(parents=True)
    (sessions / "models" / "mine.gldm").write_bytes(GRF.read_bytes())
    (sessions / "models" / "notes.txt").write_text("not a model\n")
    (sessions / "models" / ".hidden.gldm").write_bytes(GRF.read_bytes())
    (sessions / "models" / "sub").mkdir()
    cat = MD.catalog(sessions)
    ids = [m["id"] for m in cat["models"]]
    assert ids[:2] == ["shipped/student_grf.gldm", "shipped/student_phase_insole.gldm"]
    assert ids[2:] == ["sessions/mine.gldm", "sessions/notes.txt"]  # no hidden file, no folder
    cards = {m["id"]: m for m in cat["models"]}
    mine = cards["sessions/mine.gldm"]
    assert mine["error"] is None and mine["task"] == "grf" and mine["self_test"] is True
    assert mine["sha256"] == hashlib.sha256(GRF.read_bytes()).hexdigest() and mine["size"] == GRF.stat().st_size
    notes = cards["sessions/notes.txt"]
    assert notes["error"].startswith("notes.txt: not a device model") and "\n" not in notes["error"]
    assert notes["sha256"] == hashlib.sha256(b"not a model\n").hexdigest()
    assert cat["signing"]["ok"] is False and "cannot be signed here" in cat["signing"]["text"]
    assert MD.resolve(sessions, "sessions/mine.gldm") == sessions / "models" / "mine.gldm"
    for bad in (str(GRF), "shipped/../models/student_grf.gldm", "sessions/.hidden.gldm", "sessions/sub",
                "student_grf.gldm", "shipped/student_grf.pt", "sessions/../../etc/passwd", ""):
        with pytest.raises(FileNotFoundError):
            MD.resolve(sessions, bad)
