"""End to end: `gaitloop sim --board knee` -- the firmware app under MicroPython, streamed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gaitloop.sim.vboard import VirtualBoard
from tests.mgait.conftest import NORMAL

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.dataset("bandai_namco")
def test_knee_virtual_board_streams_mgait_events():
    with VirtualBoard("knee", "left", NORMAL, speed=4) as vb:
        res = subprocess.run(
            [sys.executable, "-m", "gaitloop.cli", "stream", "--port", vb.port, "--seconds", "5", "--format", "jsonl"],
            capture_output=True, text=True, timeout=60, cwd=str(ROOT),
        )
        assert res.returncode == 0, res.stderr
        assert vb.alive()
    msgs = [json.loads(ln) for ln in res.stdout.splitlines() if ln.startswith("{")]
    events = [m for m in msgs if m.get("type") == "event"]
    names = {e["event"] for e in events}
    steps = [e for e in events if e["event"] == "mg_step"]
    assert len(steps) >= 8, names
    assert {s["side"] for s in steps} == {0, 1}
    lengths = np.array([s["length_mm"] for s in steps])
    # the walk's true steps are 540-600 mm; the replay's wrap back to standing may add one odd step
    assert 540 <= np.median(lengths) <= 660
    assert np.mean((lengths >= 450) & (lengths <= 750)) >= 0.8
    # a normal walk, replayed in a loop, raises no limp alarm (static re-alignment at the wrap)
    assert "mg_buzzer_on" not in names
    assert {"mg_stride", "mg_stance_swing", "mg_initial_contact", "mg_foot_off"} <= names
