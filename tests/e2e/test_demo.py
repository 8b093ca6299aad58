"""The main job end to end: `gaitloop demo` as a user runs it, shortened.

Three virtual boards (two insoles with the GRF student, the knee sleeve with a simulated limp)
under real MicroPython; the session must be complete (no gaps, no CRC errors), exported and
reported, and the knee sleeve's buzzer must have fired and been recorded.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gaitloop.record import info, read_recording

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.micropython
def test_demo_streams_feeds_back_records_and_reports(tmp_path):
    out = tmp_path / "demo"
    proc = subprocess.run([sys.executable, "-m", "gaitloop.cli", "demo", "--no-live", "--seconds", "8",
                           "--speed", "4", "--out", str(out)],
                          capture_output=True, text=True, timeout=240, cwd=str(ROOT))
    assert proc.returncode == 0, proc.stderr[-2000:]
    rec = read_recording(out / "session.glsession")
    boards = {b["device"]: b for b in info(rec)["boards"]}
    assert set(boards) == {"insole-L", "insole-R", "knee-sleeve"}, boards
    for b in boards.values():
        assert b["seq_gaps"] == 0 and b["sample_gaps"] == 0 and b["crc_errors"] == 0, b
        assert b["samples"] > 1000  # 8 s at 4x of 100 Hz, less start-up
    devices = {name: b["link"] for name, b in boards.items()}
    names = {dev: [e.name for _, _, e in rec.events(link)] for dev, link in devices.items()}
    assert "student_grf" in names["insole-L"] and "heel_strike" in names["insole-R"]
    assert "mg_step" in names["knee-sleeve"] and "mg_buzzer_on" in names["knee-sleeve"]
    assert "feedback: mg_buzzer_on" in proc.stdout
    assert (out / "report" / "report.html").stat().st_size > 1000
    assert (out / "events_knee-sleeve.csv").read_text().count("mg_buzzer_on") >= 1
