"""End to end: the insole firmware under MicroPython behind a pty replays a gaitpdb walk at 10x;
its CSM gait events arrive as EVENT frames and are in the recording."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gaitfw import events, foot
from gaitloop.record import read_recording
from gaitloop.sim.vboard import VirtualBoard
from tests.conftest import SHIPPED_GAITPDB

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.micropython
@pytest.mark.parametrize("template_file", ["factory", "corrupt"])
def test_events_streamed_and_recorded(tmp_path, template_file):
    walk = SHIPPED_GAITPDB / "GaCo01_01.txt"
    rec = tmp_path / "s.glsession"
    fs = tmp_path / "fs"
    fs.mkdir()
    if template_file == "corrupt":  # a broken push: the board runs on its built-in defaults
        (fs / "csm.json").write_text('{"format": "gaitloop-csm", "fixed": {"on": [1]}}')
    with VirtualBoard("insole", "left", walk, speed=10, fs_dir=fs) as vb:
        res = subprocess.run([sys.executable, "-m", "gaitloop.cli", "stream", "--port", vb.port,
                              "--seconds", "5", "--record", str(rec), "--format", "jsonl"],
                             capture_output=True, text=True, timeout=90, cwd=str(ROOT))
        assert res.returncode == 0, res.stderr
    r = read_recording(rec)
    (link,) = r.links
    evs = [e for _, _, e in r.events(link)]
    hs = [e for e in evs if e.code == events.EV_HEEL_STRIKE]
    to = [e for e in evs if e.code == events.EV_TOE_OFF]
    assert len(hs) >= 20 and len(to) >= 20  # ~45 s of walking at 10x in 5 s
    assert all(e.side == 0 for e in hs + to)
    stance = np.median([e.a for e in to[2:]])
    swing = np.median([e.a for e in hs[2:]])
    assert 500 < stance < 900 and 300 < swing < 600
    assert {events.EV_FOOT_FLAT, events.EV_HEEL_OFF} <= {e.code for e in evs}
    flags = [st.flags for _, st in r.statuses(link)]
    assert flags
    invalid = [bool(f & foot.ST_TEMPLATES_INVALID) for f in flags]
    assert all(invalid) if template_file == "corrupt" else not any(invalid)
