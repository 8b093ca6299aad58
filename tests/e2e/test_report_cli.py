"""`gaitloop report` on a demo recording, as a user runs it: `gaitloop demo` records three
virtual boards (two insoles, the knee sleeve with its limp) under real MicroPython, then the
report command writes report.html, report.png and steps.csv, each renamed into place (no
partial file is ever visible), and a second run replaces them the same way."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _gaitloop(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gaitloop.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=str(ROOT))


@pytest.mark.micropython
@pytest.mark.timeout(600)
def test_report_cli_on_a_demo_recording(tmp_path):
    demo = tmp_path / "demo"
    proc = _gaitloop("demo", "--no-live", "--seconds", "10", "--speed", "4", "--out", str(demo))
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = tmp_path / "rep"
    proc = _gaitloop("report", str(demo / "session.glsession"), "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "report.html" in proc.stdout + proc.stderr  # the console line names the file
    names = {p.name for p in out.iterdir()}
    assert {"report.html", "report.png", "steps.csv"} <= names
    assert not [n for n in names if n.endswith(".part") or n.startswith(".")]  # no temp file left
    html = (out / "report.html").read_text()
    assert "data-testid='gait-summary'" in html and "Step length" in html and "Stance time" in html
    assert (out / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.DictReader((out / "steps.csv").open()))
    knee = [r for r in rows if r["source"] == "knee" and r["step_length_m"]]
    insole = [r for r in rows if r["source"] == "insole"]
    assert {r["side"] for r in knee} == {"left", "right"} and {r["side"] for r in insole} == {"left", "right"}
    left = [float(r["step_length_m"]) for r in knee if r["side"] == "left"]
    right = [float(r["step_length_m"]) for r in knee if r["side"] == "right"]
    assert sum(left) / len(left) < 0.9 * sum(right) / len(right)  # the demo's limp: left steps shorter
    stance = sorted(float(r["stance_s"]) for r in insole if r["stance_s"])
    stride = sorted(float(r["stride_time_s"]) for r in insole)
    # a walk's typical cycle (single cycles can be long: the recorded walk has pauses)
    assert 0.4 < stance[len(stance) // 2] < 1.2 and 0.8 < stride[len(stride) // 2] < 2.0
    assert all(v > 0 for v in stance + stride)
    # a second run replaces the three files in place, again leaving no temporary file
    before = {n: (out / n).stat().st_ino for n in ("report.html", "report.png", "steps.csv")}
    proc = _gaitloop("report", str(demo / "session.glsession"), "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    after = {n: (out / n).stat().st_ino for n in before}
    assert all(before[n] != after[n] for n in before)  # renamed into place, not rewritten
    assert {p.name for p in out.iterdir()} == names
