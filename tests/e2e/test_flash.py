"""Flashing a board for real: mpy-cross, mpremote over the board's console, reboot, HELLO."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gaitloop.sim.vboard import VirtualBoard

ROOT = Path(__file__).resolve().parents[2]


def _corrupted_copy(src: Path, dest: Path) -> Path:
    """`src` as a transfer that flipped one byte delivers it, written to `dest`."""
    data = bytearray(src.read_bytes())
    data[len(data) // 2] ^= 0x10
    dest.write_bytes(bytes(data))
    return dest


def _board_files(fs: Path) -> dict[str, bytes]:
    """A virtual board's filesystem, but for the log the firmware keeps appending to."""
    return {p.relative_to(fs).as_posix(): p.read_bytes() for p in sorted(fs.rglob("*"))
            if p.is_file() and p.name != "board.log"}


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
        assert res.stderr == ""  # progress is a spinner on a terminal, nothing when redirected
        summary = json.loads(res.stdout)
        assert summary["device"] == "flashed-insole-R" and summary["fw"]
        assert (vb.fs / "lib" / "gaitfw" / "app.mpy").is_file()
        assert json.loads((vb.fs / "config.json").read_text())["device"] == "flashed-insole-R"


def test_flash_reports_each_step_as_it_starts():
    from gaitloop.flash import flash

    steps: list[str] = []
    with VirtualBoard("insole", "left", ROOT / "data" / "gaitpdb" / "GaCo01_01.txt", speed=5) as vb:
        flash(vb.port, progress=steps.append)
    assert [s.split()[0] for s in steps] == ["asking", "compiling", "copying", "rebooting"], steps
    assert " KB)" in steps[2]


def test_flash_with_a_corrupted_transfer_leaves_the_previous_firmware(tmp_path, monkeypatch):
    import gaitloop.push
    from gaitloop.errors import BoardError
    from gaitloop.flash import flash, wait_for_hello
    from gaitloop.push import STAGED

    real_mpremote = gaitloop.push._mpremote
    target = f":lib/gaitfw/app.mpy{STAGED}"

    def corrupting_mpremote(port: str, *args: str, **kw: float) -> str:
        """app.mpy reaches the board with one byte flipped; the host still hashes the good one."""
        args_ = list(args)
        if target in args_:
            i = args_.index(target) - 1
            args_[i] = str(_corrupted_copy(Path(args_[i]), tmp_path / "app.mpy"))
        return real_mpremote(port, *args_, **kw)

    monkeypatch.setattr(gaitloop.push, "_mpremote", corrupting_mpremote)
    walk = ROOT / "data" / "gaitpdb" / "GaPt03_01.txt"
    with VirtualBoard("insole", "right", walk, speed=5) as vb:
        with (vb.fs / "main.py").open("a") as f:
            f.write("# the previous firmware\n")  # tells it apart from the one being flashed
        cfg = json.loads((vb.fs / "config.json").read_text())
        before = _board_files(vb.fs)
        with pytest.raises(BoardError) as err:
            flash(vb.port, config={**cfg, "device": "flashed-insole-R"})
        msg = str(err.value)
        assert "lib/gaitfw/app.mpy arrived corrupted" in msg, msg
        assert "nothing was changed on the board" in msg
        assert "main.py" not in msg  # only the damaged file is named
        # nothing live replaced (main.py and config.json arrived intact but waited), nothing
        # staged left behind
        assert _board_files(vb.fs) == before
        hello = wait_for_hello(vb.port)  # and it still boots the firmware it had
        assert hello.device == cfg["device"] and "error" not in hello.extra


def test_flash_unknown_port_is_one_line_error():
    res = subprocess.run([sys.executable, "-m", "gaitloop.cli", "flash", "--port", "/dev/nope"],
                         capture_output=True, text=True, timeout=60, cwd=str(ROOT))
    assert res.returncode == 1
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr


def test_push_rejects_a_bad_template_file_before_touching_the_board(tmp_path):
    bad = tmp_path / "t.json"
    bad.write_text('{"on": 1}')
    res = subprocess.run(
        [sys.executable, "-m", "gaitloop.cli", "push", "--port", "/dev/not-used", "--templates",
         str(bad)], capture_output=True, text=True, timeout=60, cwd=str(ROOT))
    assert res.returncode == 1
    assert "not a valid CSM template file" in res.stderr


def test_corrupted_transfer_changes_nothing_on_the_board(tmp_path):
    from gaitloop.errors import BoardError
    from gaitloop.flash import _mpremote
    from gaitloop.push import STAGED, verify_staged

    walk = ROOT / "data" / "gaitpdb" / "GaCo01_01.txt"
    model = ROOT / "models" / "student_grf.gldm"
    with VirtualBoard("insole", "left", walk, speed=5) as vb:
        cfg_before = (vb.fs / "config.json").read_bytes()
        # a transfer that arrived with one byte flipped
        bad = _corrupted_copy(model, tmp_path / "student.gldm")
        _mpremote(vb.port, "fs", "cp", str(bad), f":student.gldm{STAGED}")
        from gaitloop.push import _HASH_STAGED

        report = _mpremote(vb.port, "exec", _HASH_STAGED.format(names=["student.gldm"], staged=STAGED))
        with pytest.raises(BoardError, match="arrived corrupted"):
            verify_staged(vb.port, [(model, "student.gldm")], report)
        assert not (vb.fs / f"student.gldm{STAGED}").exists()  # discarded
        assert not (vb.fs / "student.gldm").exists()  # never went live
        assert (vb.fs / "config.json").read_bytes() == cfg_before
