"""A model push through the serve Hub's stream process (no browser), for the outcomes the page
test does not reach: a board that takes no model (the knee sleeve) refuses it before anything
is sent, and a board that restarts within the new model's trial goes back to its previous
model, which the push reports as "rolled back" (the stream, on the same link, goes on)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time

import pytest

from gaitloop.sim.vboard import VirtualBoard
from gaitloop.update import keys
from gaitloop.web.hub import Client, Hub
from tests.web.serving import ROOT, WALK

pytestmark = [pytest.mark.micropython, pytest.mark.timeout(240)]

PHASE = ROOT / "models" / "student_phase_insole.gldm"
KNEE_WALK = ROOT / "data" / "mocap" / "cmu" / "35_01.amc"


def _keyed(tmp_path, kind: str, device: str, data, speed: float) -> VirtualBoard:  # noqa: ANN001
    kf = tmp_path / f"{device}.key"
    kf.write_bytes(keys.key_file(device))  # as `gaitloop flash` provisions a board
    return VirtualBoard(kind, "left", data, speed=speed, device=device, files={"device.key": kf})


def test_knee_refuses_a_model_and_a_restart_in_the_trial_is_rolled_back(tmp_path, monkeypatch):
    monkeypatch.setenv("GAITLOOP_KEY_FILE", str(tmp_path / "master.key"))  # the stream process inherits it
    # at 1x the trial (5 s of samples) lasts 5 s: time to cut the board's power within it
    insole = _keyed(tmp_path, "insole", "insole-L", WALK, 1.0)
    knee = _keyed(tmp_path, "knee", "knee-sleeve", KNEE_WALK, 1.0)
    sha = hashlib.sha256(PHASE.read_bytes()).hexdigest()
    try:
        hub = Hub([insole.start(), knee.start()], tmp_path / "sessions")

        async def main() -> tuple[dict, dict, dict, int]:
            hub.start(asyncio.get_running_loop())
            page = Client(maxsize=1000)
            hub.clients.add(page)
            seen: set[str] = set()
            while seen != {"insole-L", "knee-sleeve"}:  # the boards boot and say HELLO
                f = json.loads(await asyncio.wait_for(page.queue.get(), 60))
                seen |= {b["device"] for b in f.get("boards", []) if b.get("device")}
            hub.clients.discard(page)
            args = {"path": str(PHASE), "sha256": sha}
            on_knee = await hub.request("push_model", {**args, "link": 1, "confirm": "knee-sleeve"}, timeout=60)
            task = asyncio.create_task(hub.request("push_model", {**args, "link": 0, "confirm": "insole-L"},
                                                   timeout=120))
            end = time.monotonic() + 90
            while (hub.push_progress or {}).get("stage") != "on trial":
                assert time.monotonic() < end and not task.done(), (hub.push_progress, task)
                await asyncio.sleep(0.05)
            restarts = insole.restarts
            insole._proc.kill()  # power lost within the trial: the board boots its previous model
            out = await task
            info = await hub.request("board_info", {"link": 0}, timeout=30)
            await asyncio.to_thread(hub.stop)
            return on_knee, out, info, restarts

        on_knee, out, info, restarts = asyncio.run(asyncio.wait_for(main(), 200))
    finally:
        insole.stop()
        knee.stop()
    assert on_knee["outcome"] == "refused" and "knee board: it runs no student model" in on_knee["error"], on_knee
    assert insole.restarts == restarts + 1
    assert out["outcome"] == "rolled back", out
    assert out["done"]["slot"] == "a" and out["sha256"] == sha
    assert out["model"]["sha256"] is None and info["model"]["sha256"] is None  # the built-in model again
    assert info["model"]["failed"] == "a"
