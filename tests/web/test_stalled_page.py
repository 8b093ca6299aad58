"""A page that stops reading never costs a recorded sample: real virtual insoles stream through
the serve Hub (its stream process) while one page client never drains its queue and another
does; stopping the Hub mid-recording ends the stream process and closes the recording whole."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import numpy as np
import pytest

from gaitloop.record import info, read_recording
from gaitloop.sim.vboard import VirtualBoard
from gaitloop.web.hub import Client, Hub

ROOT = Path(__file__).resolve().parents[2]
WALK = ROOT / "data" / "gaitpdb" / "GaCo01_01.txt"
SPEED = 4.0
RECORD_S = 6.0

pytestmark = [pytest.mark.micropython, pytest.mark.timeout(180)]


def test_stalled_page_drops_display_frames_not_samples(tmp_path):
    boards = [VirtualBoard("insole", side, WALK, speed=SPEED, device=f"sim-{side}") for side in ("left", "right")]
    try:
        hub = Hub([b.start() for b in boards], tmp_path / "sessions")
        stalled, reader = Client(maxsize=5), Client()
        got: list[str] = []

        async def drain() -> None:
            while True:
                got.append(await reader.queue.get())

        async def main() -> tuple[dict, dict]:
            hub.start(asyncio.get_running_loop())
            hub.clients |= {stalled, reader}
            task = asyncio.create_task(drain())
            await asyncio.sleep(2.0)  # boards boot and say HELLO
            started = await hub.request("start")
            await asyncio.sleep(RECORD_S)
            stopped = await hub.request("stop")
            task.cancel()
            await asyncio.to_thread(hub.stop)
            return started, stopped

        started, stopped = asyncio.run(asyncio.wait_for(main(), 60))
    finally:
        for b in boards:
            b.stop()
    assert started["file"] == stopped["file"]
    assert stalled.drops > 50, "the stalled page's queue never filled"
    assert reader.drops == 0
    frames = [json.loads(t) for t in got]
    assert sum(len(b["t"]) for f in frames if f["type"] == "frame" for b in f["boards"]) > 0
    rec = read_recording(tmp_path / "sessions" / started["file"])
    s = info(rec)
    assert len(s["boards"]) == 2
    for b in s["boards"]:
        assert b["device"] in ("sim-left", "sim-right")
        assert b["seq_gaps"] == 0 and b["sample_gaps"] == 0 and b["crc_errors"] == 0
        _, _, idx, _ = rec.samples(b["link"])
        assert np.all(np.diff(idx) == 1), "a recorded sample is missing"
        # the boards ran RECORD_S of wall time at SPEED x their 100 Hz while recorded
        assert b["samples"] > 0.5 * RECORD_S * SPEED * 100


def test_stop_while_recording_ends_the_stream_process_and_keeps_every_sample(tmp_path):
    """Server shut-down (the lifespan's hub.stop) in the middle of a recording: the stream
    process reads to the end, closes the recording with its stats, and exits by itself."""
    boards = [VirtualBoard("insole", side, WALK, speed=SPEED, device=f"sim-{side}") for side in ("left", "right")]
    try:
        hub = Hub([b.start() for b in boards], tmp_path / "sessions")

        async def main() -> dict:
            hub.start(asyncio.get_running_loop())
            await asyncio.sleep(2.0)
            started = await hub.request("start")
            await asyncio.sleep(3.0)
            await asyncio.to_thread(hub.stop)  # no "stop recording" first: the server ends
            return started

        started = asyncio.run(asyncio.wait_for(main(), 60))
        pid = hub.pid
    finally:
        for b in boards:
            b.stop()
    assert hub.closed is not None and hub.closed["recording"] == started["file"], hub.closed
    assert hub._proc.exitcode == 0, "the stream process was killed, not stopped"
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    rec = read_recording(tmp_path / "sessions" / started["file"])
    s = info(rec)
    assert len(s["boards"]) == 2
    for b in s["boards"]:
        assert b["seq_gaps"] == 0 and b["sample_gaps"] == 0
        _, _, idx, _ = rec.samples(b["link"])
        assert np.all(np.diff(idx) == 1)
        # stats written at close count every sample the recording holds
        assert b["samples"] > 0.5 * 3.0 * SPEED * 100
