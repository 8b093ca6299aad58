"""Ctrl-C on `gaitloop serve` while it records: the server stops, the stream process ends by
itself (it ignores the terminal's SIGINT and stops when the server tells it), and the
recording is closed with every sample read: contiguous indices, stats written, readable."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request

import numpy as np
import pytest

from gaitloop.record import info, read_recording
from gaitloop.sim.vboard import VirtualBoard
from tests.web.serving import WALK, serving

pytestmark = [pytest.mark.micropython, pytest.mark.timeout(120)]


def _post(url: str) -> dict:
    req = urllib.request.Request(url, method="POST", data=b"")
    return json.loads(urllib.request.urlopen(req, timeout=10).read())


def test_ctrl_c_while_recording_closes_the_recording_and_ends_the_stream_process(tmp_path):
    sessions = tmp_path / "sessions"
    board = VirtualBoard("insole", "left", WALK, speed=4.0, device="insole-L")
    with serving([board], sessions) as srv:
        proc, base = srv.proc, srv.base
        time.sleep(1.5)
        name = _post(base + "api/record/start")["file"]
        time.sleep(3.0)
        pid = json.loads(urllib.request.urlopen(base + "api/status", timeout=5).read())["stream_pid"]
        assert pid and pid != proc.pid
        # a terminal's Ctrl-C reaches every process of the foreground group
        os.kill(pid, signal.SIGINT)
        os.kill(proc.pid, signal.SIGINT)
        rc = proc.wait(30)
        err = proc.stderr.read()
    assert rc == 130 and err.strip().splitlines()[-1] == "interrupted", err  # the CLI's Ctrl-C
    assert "Traceback" not in err and "killed" not in err, err
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    rec = read_recording(sessions / name)
    (b,) = info(rec)["boards"]
    assert b["device"] == "insole-L" and b["seq_gaps"] == 0 and b["sample_gaps"] == 0
    _, _, idx, _ = rec.samples(b["link"])
    assert np.all(np.diff(idx) == 1)
    assert len(idx) > 0.5 * 3.0 * 4.0 * 100  # ~3 s at 4x 100 Hz were recorded, none cut off
