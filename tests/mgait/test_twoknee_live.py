"""Live: two virtual knee boards (left and right sleeve of one walk) -> `gaitloop stream`
prints same-instant steps (JSON lines) from both boards on the session's one timeline."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gaitloop.sim.vboard import VirtualBoard
from tests.mgait.conftest import NORMAL

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.dataset("bandai_namco")
def test_stream_two_knee_boards_prints_two_sleeve_steps(tmp_path):
    epoch = time.time_ns() // 1_000_000  # both boards replay the same walk clock (sim --epoch-ms)
    # 2x: the boards' replay catches up when it runs late, and its lag is not on the host's
    # clock (a real board samples the present); at 4x on two busy cores they lag by seconds
    boards = [VirtualBoard("knee", side, NORMAL, speed=2, device=f"sleeve-{side}", replay_epoch_ms=epoch)
              for side in ("left", "right")]
    try:
        ports = [b.start() for b in boards]
        res = subprocess.run(
            [sys.executable, "-m", "gaitloop.cli", "stream", "--port", ports[0], "--port", ports[1],
             "--seconds", "12", "--format", "jsonl", "--record", str(tmp_path / "sleeves.glsession")],
            capture_output=True, text=True, timeout=90, cwd=str(ROOT),
        )
        assert res.returncode == 0, res.stderr
        assert all(b.alive() for b in boards)
    finally:
        for b in boards:
            b.stop()
    msgs = [json.loads(ln) for ln in res.stdout.splitlines() if ln.startswith("{")]
    steps = [m for m in msgs if m.get("type") == "two_sleeve_step"]
    # 24 s of walk at 2x; the host waits for a stand before its calibration, so >= one pass
    assert len(steps) >= 8, res.stdout[-2000:]
    assert {s["side"] for s in steps} == {"l", "r"}
    assert all(b["t_s"] > a["t_s"] for a, b in zip(steps, steps[1:], strict=False))
    lengths = np.array([s["length_m"] for s in steps])
    # the walk's true steps are 540-600 mm (nominal lengths: no calibration pushed)
    assert 0.50 <= np.median(lengths) <= 0.65, lengths
    assert np.mean((lengths >= 0.45) & (lengths <= 0.75)) >= 0.8, lengths
    left = np.median([s["length_m"] for s in steps if s["side"] == "l"])
    right = np.median([s["length_m"] for s in steps if s["side"] == "r"])
    assert abs(left - right) / (0.5 * (left + right)) < 0.10  # a normal walk: symmetric

    # the recording gives the same steps again, on the timeline recomputed from the file
    from gaitloop.mgait.twoknee_live import recording_two_sleeves
    from gaitloop.record import read_recording

    rec = recording_two_sleeves(read_recording(tmp_path / "sleeves.glsession"))
    # hindsight fits may add or drop a step at the ends of the live run
    assert rec is not None and abs(rec["n_steps"] - len(steps)) <= max(2, len(steps) // 10), (rec, len(steps))
    # outside the board's own 100-1500 mm: at most the step across the replay's loop (the
    # walk's end joined to its start)
    assert rec["n_rejected"] <= 2, rec
    assert rec["median_l_m"] == pytest.approx(left, abs=0.02)
    assert rec["median_r_m"] == pytest.approx(right, abs=0.02)
    assert rec["median_asymmetry_pct"] < 10
    # speed over the last five strides: the walk's ~1.1-1.3 m/s (replay time, not host time)
    if "speed_m_s" in rec:  # ten contiguous steps at the end (not across the loop's stand)
        assert 0.8 < rec["speed_m_s"] < 1.6, rec
