"""Flashing a board for real: mpy-cross, mpremote over the board's console, reboot, HELLO."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gaitloop.sim.vboard import VirtualBoard

ROOT = Path(__file__).resolve().parents[2]


def test_flash_installs_firmware_and_config_then_board_reboots_into_it(tmp_path):
    walk = ROOT / "data" / "gaitpdb" / "GaPt03_01.txt"
    with VirtualBoard("insole", "right", walk, speed=5) as vb:
        (vb.fs / "lib" / "gaitfw" / "app.mpy").unlink()  # a board with broken firmware
        cfg = json.loads((vb.fs / "config.json").read_text())
        cfg["device"] = "flashed-insole-R"
        cfg_file = tmp_path / "config.json"
        cfg_file.write_text(json.dumps(cfg))
        res = subprocess.run(
            [sys.executable, "-m", "gaitloop.cli", "flash", "--port", vb.port, "--config",
             str(cfg_file)], capture_output=True, text=True, timeout=180, cwd=str(ROOT))
        assert res.returncode == 0, (res.stderr, vb.restarts, (vb.fs / "board.log").read_text())
        summary = json.loads(res.stdout)
        assert summary["device"] == "flashed-insole-R" and summary["fw"]
        assert (vb.fs / "lib" / "gaitfw" / "app.mpy").is_file()
        assert json.loads((vb.fs / "config.json").read_text())["device"] == "flashed-insole-R"


def test_flash_unknown_port_is_one_line_error():
    res = subprocess.run([sys.executable, "-m", "gaitloop.cli", "flash", "--port", "/dev/nope"],
                         capture_output=True, text=True, timeout=60, cwd=str(ROOT))
    assert res.returncode == 1
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr


def test_push_templates_and_calibration_reach_the_board(tmp_path):
    walk = ROOT / "data" / "gaitpdb" / "GaCo01_01.txt"
    templates = ROOT / "models" / "csm_default.json"
    cal = tmp_path / "cal.json"
    cal.write_text(json.dumps({"baseline_mm": 640}))
    with VirtualBoard("insole", "left", walk, speed=5) as vb:
        res = subprocess.run(
            [sys.executable, "-m", "gaitloop.cli", "push", "--port", vb.port, "--templates",
             str(templates), "--calibration", str(cal), "--set", "device=pushed"],
            capture_output=True, text=True, timeout=180, cwd=str(ROOT))
        assert res.returncode == 0, res.stderr
        assert json.loads(res.stdout)["device"] == "pushed"
        assert (vb.fs / "csm.json").read_bytes() == templates.read_bytes()
        cfg = json.loads((vb.fs / "config.json").read_text())
        assert cfg["csm_templates"] == "csm.json" and cfg["baseline_mm"] == 640


def test_push_rejects_a_bad_template_file_before_touching_the_board(tmp_path):
    bad = tmp_path / "t.json"
    bad.write_text('{"on": 1}')
    res = subprocess.run(
        [sys.executable, "-m", "gaitloop.cli", "push", "--port", "/dev/not-used", "--templates",
         str(bad)], capture_output=True, text=True, timeout=60, cwd=str(ROOT))
    assert res.returncode == 1
    assert "not a valid CSM template file" in res.stderr


def test_push_model_goes_live_and_board_runs_it(tmp_path):
    walk = ROOT / "data" / "gaitpdb" / "GaCo01_01.txt"
    model = ROOT / "models" / "student_grf.gldm"
    with VirtualBoard("insole", "left", walk, speed=5) as vb:
        res = subprocess.run(
            [sys.executable, "-m", "gaitloop.cli", "push", "--port", vb.port, "--model", str(model)],
            capture_output=True, text=True, timeout=180, cwd=str(ROOT))
        assert res.returncode == 0, res.stderr
        assert (vb.fs / "student.gldm").read_bytes() == model.read_bytes()
        assert not list(vb.fs.glob("*.new"))  # nothing left staged
        assert json.loads((vb.fs / "config.json").read_text())["student"] == "student.gldm"
        from gaitloop.link import open_link
        from gaitloop.record import Recorder, read_recording
        from gaitloop.stream import StreamSession

        rec_path = tmp_path / "after_push.glsession"
        StreamSession([open_link(vb.port)], Recorder(rec_path, {})).run(3.0)
        names = {e.name for _, _, e in read_recording(rec_path).events(0)}
        assert "student_grf" in names  # the pushed model runs on the board's stream


def test_corrupted_transfer_changes_nothing_on_the_board(tmp_path):
    from gaitloop.errors import BoardError
    from gaitloop.flash import _mpremote
    from gaitloop.push import STAGED, verify_staged

    walk = ROOT / "data" / "gaitpdb" / "GaCo01_01.txt"
    model = ROOT / "models" / "student_grf.gldm"
    with VirtualBoard("insole", "left", walk, speed=5) as vb:
        cfg_before = (vb.fs / "config.json").read_bytes()
        # a transfer that arrived with one byte flipped
        bad = tmp_path / "student.gldm"
        data = bytearray(model.read_bytes())
        data[len(data) // 2] ^= 0x10
        bad.write_bytes(bytes(data))
        _mpremote(vb.port, "fs", "cp", str(bad), f":student.gldm{STAGED}")
        from gaitloop.push import _HASH_STAGED

        report = _mpremote(vb.port, "exec", _HASH_STAGED.format(names=["student.gldm"], staged=STAGED))
        with pytest.raises(BoardError, match="arrived corrupted"):
            verify_staged(vb.port, [(model, "student.gldm")], report)
        assert not (vb.fs / f"student.gldm{STAGED}").exists()  # discarded
        assert not (vb.fs / "student.gldm").exists()  # never went live
        assert (vb.fs / "config.json").read_bytes() == cfg_before
