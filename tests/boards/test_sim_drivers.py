"""`gaitloop sim --hal drivers`: the virtual board boots the firmware on a profile's drivers
(part models under the `machine` stand-in fed by the recording), and a host streaming from it
records exactly the recording (load cells) and the gait events.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gaitloop.record import read_recording
from gaitloop.sim.vboard import VirtualBoard
from tests.conftest import SHIPPED_GAITPDB
from tests.e2e.test_virtual_board import GAITLOOP, check_against_source

pytestmark = pytest.mark.micropython


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*GAITLOOP, *args], capture_output=True, text=True, timeout=timeout)


def test_stream_from_a_board_on_load_cell_drivers_equals_the_source(tmp_path: Path) -> None:
    walk = SHIPPED_GAITPDB / "GaCo01_01.txt"
    with VirtualBoard("insole", "left", walk, speed=10, hal="drivers", profile="esp32s3-insole") as vb:
        rec = tmp_path / "s.glsession"
        res = _cli("stream", "--port", vb.port, "--seconds", "4", "--record", str(rec), "--format", "jsonl")
        assert res.returncode == 0, res.stderr
        assert vb.alive()
        log = (vb.fs / "board.log").read_text()
        assert '"hal": "drivers"' in (vb.fs / "config.json").read_text()
    assert "Traceback" not in log, log
    assert '"type": "event"' in res.stdout  # gait events from the drivers' counts
    res = _cli("export", str(rec), "--parquet", str(tmp_path / "s.parquet"))
    assert res.returncode == 0, res.stderr
    idx = check_against_source(tmp_path / "s.parquet", walk, "left")
    assert len(idx) >= 2500
    (lr,) = read_recording(rec).links.values()
    assert lr.state.sample_gaps == 0


def test_profile_for_another_board_kind_is_one_line_error(tmp_path: Path) -> None:
    res = _cli("sim", "--data", str(SHIPPED_GAITPDB / "GaCo01_01.txt"), "--hal", "drivers", "--profile", "picow-knee")
    assert res.returncode != 0
    assert res.stderr.strip().splitlines()[-1].endswith("profile picow-knee is for the knee, not the insole")
