"""End to end: the virtual insole runs the committed GRF student on its replayed stream and
the host receives its EVENT messages beside the CSM events (`gaitloop stream`)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from gaitloop.sim.vboard import VirtualBoard
from tests.conftest import SHIPPED_GAITPDB
from tests.int8.models import GLDM, ROOT


@pytest.mark.micropython
def test_virtual_insole_streams_student_grf_events(tmp_path):
    fs = tmp_path / "fs"
    fs.mkdir()
    shutil.copyfile(GLDM, fs / "student.gldm")
    (fs / "config.json").write_text(json.dumps({"student": "student.gldm"}))
    walk = SHIPPED_GAITPDB / "GaCo01_01.txt"
    with VirtualBoard("insole", "left", walk, speed=5, fs_dir=fs) as vb:
        res = subprocess.run([sys.executable, "-m", "gaitloop.cli", "stream", "--port", vb.port,
                              "--seconds", "4", "--format", "jsonl"], capture_output=True,
                             text=True, timeout=90, cwd=str(ROOT))
        assert res.returncode == 0, res.stderr
        assert vb.alive()
    evs = [json.loads(ln) for ln in res.stdout.splitlines()]
    evs = [e for e in evs if e.get("type") == "event"]
    grf = [e for e in evs if e.get("event") == "student_grf"]
    assert len(grf) >= 10, [e.get("event") for e in evs][:20]
    assert all(e["code"] == 97 and e["side"] == 0 for e in grf)
    # every hop (10 samples = 100 ms of board time), named and scaled from events.NAMES
    assert {b["t_ms"] - a["t_ms"] for a, b in zip(grf, grf[1:], strict=False)} <= {100}
    forces = [e["force_dN"] for e in grf]
    assert max(forces) > 4000 and min(forces) < 1000  # stance (> 400 N) and swing seen
