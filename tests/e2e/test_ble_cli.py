"""The user's path over BLE: `gaitloop sim --ble` prints `ble: NAME via TRANSPORT`;
`gaitloop devices` lists the board; `gaitloop stream --port P --ble NAME --ble-transport T`
streams the same board over both links at once, and the recording holds the same frames on
both (BLE carries exactly the serial byte stream). A host killed mid-stream does not leave the
board taken (regression: bumble's controller kept the dead host's connection).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gaitloop.record import info, read_recording

pytestmark = pytest.mark.micropython

ROOT = Path(__file__).resolve().parents[2]
GAITLOOP = [sys.executable, "-m", "gaitloop.cli"]


def _start_ble_sim(device: str, speed: float = 2) -> tuple[subprocess.Popen, dict[str, str]]:
    """`gaitloop sim --ble` on the shipped walk; its printed `key: value` lines."""
    sim = subprocess.Popen([*GAITLOOP, "sim", "--data", str(ROOT / "data/gaitpdb/GaCo01_01.txt"),
                            "--ble", "--speed", str(speed), "--device", device],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(ROOT))
    lines: dict[str, str] = {}
    end = time.monotonic() + 60
    while "ble" not in lines and time.monotonic() < end:
        line = sim.stdout.readline()
        if not line:
            break
        key, _, value = line.partition(": ")
        lines[key] = value.strip()
    if "ble" not in lines:
        sim.kill()
        pytest.fail(f"no `ble:` line from gaitloop sim: {lines} {sim.communicate(timeout=10)[1]}")
    return sim, lines


def test_sim_ble_devices_and_stream_decode_like_serial(tmp_path):
    sim, lines = _start_ble_sim("cli-ble", speed=4)
    try:
        m = re.fullmatch(r"(gaitloop-insole-left-[0-9a-f]{4}) via (tcp-client:127\.0\.0\.1:\d+)",
                         lines["ble"])
        assert m, lines
        name, transport = m.groups()
        dev = subprocess.run([*GAITLOOP, "devices", "--ble-transport", transport, "--seconds", "1.5",
                              "--port", lines["port"], "--json"],
                             capture_output=True, text=True, timeout=60, cwd=str(ROOT))
        assert dev.returncode == 0, dev.stderr
        assert f'"name": "{name}"' in dev.stdout and '"device": "cli-ble"' in dev.stdout
        rec = tmp_path / "both.glsession"
        res = subprocess.run([*GAITLOOP, "stream", "--port", lines["port"], "--ble", name,
                              "--ble-transport", transport, "--seconds", "5", "--record", str(rec),
                              "--format", "jsonl"],
                             capture_output=True, text=True, timeout=90, cwd=str(ROOT))
        assert res.returncode == 0, res.stderr
        # a host killed mid-stream (no clean disconnect) must not leave the board taken
        killed = subprocess.Popen([*GAITLOOP, "stream", "--ble", name, "--ble-transport", transport,
                                   "--format", "jsonl"], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, cwd=str(ROOT))
        time.sleep(4)
        killed.kill()
        killed.wait(10)
        again = subprocess.run([*GAITLOOP, "stream", "--ble", name, "--ble-transport", transport,
                                "--seconds", "2", "--format", "jsonl"],
                               capture_output=True, text=True, timeout=90, cwd=str(ROOT))
        assert again.returncode == 0 and '"type": "samples"' in again.stdout, again.stderr
    finally:
        sim.send_signal(signal.SIGTERM)
        try:
            sim.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(sim.pid, signal.SIGKILL)
    recording = read_recording(rec)
    boards = info(recording)["boards"]
    assert [b["device"] for b in boards] == ["cli-ble", "cli-ble"]
    for b in boards:
        assert b["seq_gaps"] == 0 and b["sample_gaps"] == 0 and b["crc_errors"] == 0, b
    serial, ble = (recording.links[b["link"]] for b in boards)
    assert ble.info.get("port", "").startswith("ble:")
    by_seq = [{f.seq: (f.kind, f.t_ms, bytes(f.payload)) for _, f in lr.frames} for lr in (serial, ble)]
    common = set(by_seq[0]) & set(by_seq[1])
    assert len(common) > 100
    assert all(by_seq[0][s] == by_seq[1][s] for s in common)  # the same frames, byte for byte
    _, _, idx_s, c_s = recording.samples(serial.link)
    _, _, idx_b, c_b = recording.samples(ble.link)
    both, i_s, i_b = np.intersect1d(idx_s, idx_b, return_indices=True)
    assert len(both) > 1000 and np.array_equal(c_s[i_s], c_b[i_b])


def test_push_and_status_over_ble_while_streaming():
    """The update path runs on any Link: a signed model pushed over BLE (the sim board is
    keyed as `gaitloop flash` keys a real one), streaming on meanwhile; status over BLE says
    what runs; a downgrade over BLE is one line and a non-zero exit."""
    import json

    sim, lines = _start_ble_sim("ble-push")
    try:
        name, _, transport = lines["ble"].partition(" via ")
        ble = ["--ble", name, "--ble-transport", transport]
        res = subprocess.run([*GAITLOOP, "push", *ble, "--model", str(ROOT / "models/student_grf.gldm"),
                              "--version", "7"], capture_output=True, text=True, timeout=120, cwd=str(ROOT))
        assert res.returncode == 0, res.stderr
        out = json.loads(res.stdout)
        assert out["done"][0]["kind"] == "model" and out["done"][0]["bytes"] > 10_000
        assert out["streamed_meanwhile"]["samples"] > 0
        assert out["streamed_meanwhile"]["sample_gaps"] == 0
        st = subprocess.run([*GAITLOOP, "status", *ble, "--json"], capture_output=True, text=True,
                            timeout=60, cwd=str(ROOT))
        assert st.returncode == 0, st.stderr
        model = json.loads(st.stdout)["model"]
        assert model["version"] == 7 and model["slot"] in ("a", "b") and len(model["sha256"]) == 64
        down = subprocess.run([*GAITLOOP, "push", *ble, "--model", str(ROOT / "models/student_grf.gldm"),
                               "--version", "3"], capture_output=True, text=True, timeout=120, cwd=str(ROOT))
        assert down.returncode == 1 and "Traceback" not in down.stderr
        assert len(down.stderr.strip().splitlines()) == 1 and "downgrade" in down.stderr
        both = subprocess.run([*GAITLOOP, "status", "--port", "/dev/null", *ble], capture_output=True,
                              text=True, timeout=30, cwd=str(ROOT))
        assert both.returncode == 2 and "give one board" in both.stderr
    finally:
        sim.send_signal(signal.SIGTERM)
        try:
            sim.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(sim.pid, signal.SIGKILL)
