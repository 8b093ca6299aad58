"""The bring-up checklist of docs/hardware.md, command by command, against a virtual board on a
profile's drivers (`gaitloop sim --hal drivers`), and pushed driver calibration end to end.

The wearer of the bring-up board first sits (insole unloaded), then stands still on known
loads, then walks: a gaitpdb walk with those two phases put in front. The checklist's
calibration, measured by the board's own drivers on the part models, must give back the
recording's forces on the first walk.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from gaitloop.data.gaitpdb import insole_forces, load_gaitpdb
from gaitloop.sim.vboard import VirtualBoard
from tests.conftest import ROOT, SHIPPED_GAITPDB
from tests.e2e.test_virtual_board import GAITLOOP

pytestmark = pytest.mark.micropython

WALK = SHIPPED_GAITPDB / "GaCo01_01.txt"
SIT_S = 35  # seconds unloaded, then STAND_S standing, then the walk (each CLI call takes ~3 s here)
STAND_S = 20


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*GAITLOOP, *args], capture_output=True, text=True, timeout=timeout, cwd=str(ROOT))


def _ok(*args: str, timeout: float = 120) -> str:
    res = _cli(*args, timeout=timeout)
    assert res.returncode == 0, (args, res.stdout[-2000:], res.stderr[-2000:])
    return res.stdout


def _staged_walk(tmp_path: Path) -> tuple[Path, float, float]:
    """gaitpdb text: SIT_S s at 0 N, STAND_S s holding the walk's first (standing) row, the walk.
    Returns the file and the heel and ball loads while standing (N)."""
    rows = np.loadtxt(WALK)
    sit = np.zeros((SIT_S * 100, rows.shape[1]))
    stand = np.repeat(rows[:1], STAND_S * 100, axis=0)
    out = np.concatenate([sit, stand, rows])
    out[:, 0] = np.arange(len(out)) / 100.0
    path = tmp_path / "GaCo01_01_staged.txt"
    np.savetxt(path, out, fmt="%.4f", delimiter="\t")
    f = insole_forces(rows[:1], "left")
    return path, float(f.heel[0]), float(f.ball[0])


def test_bring_up_checklist_on_a_virtual_picow_insole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GAITLOOP_KEY_FILE", str(tmp_path / "master.key"))
    staged, heel_n, ball_n = _staged_walk(tmp_path)
    with VirtualBoard("insole", "left", staged, hal="drivers", profile="picow-insole", loop=False) as vb:
        # 1. flash: on a Pico W `--profile picow-insole`; the virtual board is no RP2040, so it gets
        # the config that --profile writes (and the same firmware, as .mpy)
        cfg = tmp_path / "config.json"
        cfg.write_text(json.dumps({"board": "insole", "side": "left", "device": "bringup-1", "hal": "drivers",
                                   "profile": "picow-insole", "catchup": -1,
                                   "idle_after_s": 300}))  # sitting still is no reason to idle here
        _ok("flash", "--port", vb.port, "--config", str(cfg), timeout=240)
        t_boot = time.monotonic()  # the replay restarts with the reboot: sitting from here on
        # 2. status: HELLO names the board; no sensor fault; the loop keeps its rate
        out = _ok("status", "--port", vb.port)
        assert "board insole left" in out and "device bringup-1" in out, out
        out = _ok("power", "--port", vb.port)
        assert "power active" in out and "rate 100 Hz" in out, out
        st = json.loads(_ok("power", "--port", vb.port, "--json"))
        assert not st["status"]["flags"] & 0x20  # sensor_fault
        # 3 + 4. standing calibration: unloaded (sitting), then standing on known loads
        cal = tmp_path / "calibration.json"
        for ch in (0, 1):
            r = json.loads(_ok("sensor-cal", "--port", vb.port, "--channel", str(ch), "--at", "0",
                               "--out", str(cal), "--seconds", "1"))
            assert r["driver"] == "fsr" and r["raw"] == 0  # an unloaded FSR reads 0
        assert time.monotonic() - t_boot < SIT_S - 1, "too slow to calibrate while sitting"
        time.sleep(max(0.0, t_boot + SIT_S + 2 - time.monotonic()))
        for ch, load in ((0, heel_n), (1, ball_n)):
            r = json.loads(_ok("sensor-cal", "--port", vb.port, "--channel", str(ch), "--at", f"{load:.1f}",
                               "--out", str(cal), "--seconds", "1"))
            assert r["raw"] > 1000
        assert time.monotonic() - t_boot < SIT_S + STAND_S - 1, "too slow to calibrate while standing"
        written = json.loads(cal.read_text())
        assert sorted(written["hal_cal"]) == ["0", "1"]
        out = json.loads(_ok("push", "--port", vb.port, "--calibration", str(cal)))
        assert [d["kind"] for d in out["done"]] == ["calibration"]
        # 5. first walk: stream, record, report
        time.sleep(max(0.0, t_boot + SIT_S + STAND_S + 1 - time.monotonic()))
        rec = tmp_path / "walk.glsession"
        streamed = _ok("stream", "--port", vb.port, "--seconds", "12", "--record", str(rec), "--format", "jsonl",
                       timeout=60)
        assert "heel_strike" in streamed and "toe_off" in streamed  # gait events on the first walk
        _ok("report", str(rec), "--out", str(tmp_path / "report"))
        assert (tmp_path / "report" / "report.html").stat().st_size > 1000
    _ok("export", str(rec), "--parquet", str(tmp_path / "walk.parquet"))
    t = pq.read_table(tmp_path / "walk.parquet").to_pydict()
    idx = np.asarray(t["index"])
    src = insole_forces(load_gaitpdb(staged), "left")
    walking = idx >= (SIT_S + STAND_S) * 100
    assert walking.sum() >= 800  # 8 s of the walk
    # the board's own calibration gives back the recording's forces (the FSR model's ADC
    # resolution: about 1 N at these loads)
    for name, f in (("heel", src.heel), ("ball", src.ball)):
        err = np.abs(np.asarray(t[name])[walking] - f[idx[walking]])
        assert np.percentile(err, 95) <= 2.0, (name, np.percentile(err, [50, 95, 100]))


def _tared_board(tmp_path: Path, profile: str) -> VirtualBoard:
    from gaitloop.update import keys

    kf = tmp_path / "device.key"
    kf.write_bytes(keys.key_file("sim-insole-left"))
    return VirtualBoard("insole", "left", WALK, speed=2, hal="drivers", profile=profile,
                        files={"device.key": kf})


def test_pushed_hx711_tare_shifts_the_load_cells_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GAITLOOP_KEY_FILE", str(tmp_path / "master.key"))
    cal = tmp_path / "tare.json"
    cal.write_text(json.dumps({"hx711_tare": {"0": -25600}}))  # 100 counts x div 256 below zero
    with _tared_board(tmp_path, "esp32s3-insole") as vb:
        out = json.loads(_ok("push", "--port", vb.port, "--calibration", str(cal)))
        assert out["status"]["calibration"]["slot"] == "a"
        rec = tmp_path / "s.glsession"
        _ok("stream", "--port", vb.port, "--seconds", "3", "--record", str(rec), "--format", "jsonl")
    _ok("export", str(rec), "--parquet", str(tmp_path / "s.parquet"))
    t = pq.read_table(tmp_path / "s.parquet").to_pydict()
    idx = np.asarray(t["index"])
    src = insole_forces(load_gaitpdb(WALK), "left")
    rows = idx % len(src.heel)
    assert len(idx) >= 200
    assert np.allclose(np.asarray(t["heel"]) - src.heel[rows], 10.0, atol=0.1 + 1e-9)  # +100 counts
    assert np.allclose(np.asarray(t["ball"]), src.ball[rows], atol=0.1 + 1e-9)  # channel 1 untouched


def test_driver_calibration_is_refused_on_the_host_and_on_the_board(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GAITLOOP_KEY_FILE", str(tmp_path / "master.key"))
    with _tared_board(tmp_path, "picow-insole") as vb:
        # the host's schema (gaitfw/calib.py per board kind): no such channel on an insole
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps({"hal_cal": {"7": [21845, 0, 32768, 9000]}}))
        res = _cli("push", "--port", vb.port, "--calibration", str(bad))
        assert res.returncode == 1 and len(res.stderr.strip().splitlines()) == 1
        assert "hal_cal: channel '7' has no such sensor" in res.stderr
        # valid for an insole, but this one has FSRs, not load cells: the board's self-test says so
        tare = tmp_path / "tare.json"
        tare.write_text(json.dumps({"hx711_tare": {"0": 1000}}))
        res = _cli("push", "--port", vb.port, "--calibration", str(tare))
        assert res.returncode == 1 and len(res.stderr.strip().splitlines()) == 1
        assert "no load cell there on profile picow-insole" in res.stderr, res.stderr
        st = _ok("status", "--port", vb.port)
        assert "calibration  built-in" in st  # nothing went live
