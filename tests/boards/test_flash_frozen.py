"""`gaitloop flash` on a board whose MicroPython image has gaitfw frozen in (the Pico W runs
that way, docs/hardware.md): frozen modules are imported before /lib, so the .mpy files flash
copies would never run. The probe that tells runs on the board through mpremote.

Checked on the PyPI MicroPython Unix port (it freezes `asyncio` itself: the probe must call
that frozen and the installed gaitfw files), and, when present, on Unix ports built with
gaitfw frozen in (firmware/freeze/unix.py; GAITLOOP_FROZEN_MICROPYTHON or the paths below):
there flash refuses in one line and changes nothing, and `--allow-frozen` installs only
main.py, the config and the update key, and the board boots its frozen firmware with them.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

import gaitloop.sim.vboard as vboard
from gaitloop.export.device_runner import micropython_binary
from gaitloop.flash import probe_module_source, wait_for_hello
from gaitloop.sim.vboard import VirtualBoard
from tests.conftest import FIRMWARE, ROOT, SHIPPED_GAITPDB
from tests.e2e.test_flash import _board_files
from tests.e2e.test_virtual_board import GAITLOOP

pytestmark = pytest.mark.micropython

_BUILDS = [os.environ.get("GAITLOOP_FROZEN_MICROPYTHON") or "/tmp/s3f/mp/ports/unix/build-standard/micropython",
           "/tmp/s3f/mp/ports/unix/build-x86/micropython"]
_WALK = SHIPPED_GAITPDB / "GaPt03_01.txt"


def _flash(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*GAITLOOP, "flash", *args], capture_output=True, text=True, timeout=180, cwd=str(ROOT))


def test_probe_tells_frozen_modules_from_files_on_the_pypi_port() -> None:
    with VirtualBoard("insole", "left", _WALK, speed=5) as vb:
        assert probe_module_source(vb.port, "asyncio") == ("frozen", "asyncio/__init__.py")
        assert probe_module_source(vb.port, "gaitfw") == ("files", "lib/gaitfw/__init__.mpy")
        assert probe_module_source(vb.port, "no_such_module") == ("none", "-")
        assert probe_module_source(vb.port, "sys")[0] == "unknown"  # built in: no __file__
        assert wait_for_hello(vb.port).device == vb.device  # the probe left the board as it was


@pytest.fixture(params=_BUILDS, ids=["64-bit", "32-bit"])
def frozen_build(request, monkeypatch) -> str:
    path = request.param
    if not Path(path).is_file():
        pytest.skip(f"no Unix port with gaitfw frozen in at {path} (docs/hardware.md 'Frozen firmware')")
    real = vboard._tool
    monkeypatch.setattr(vboard, "_tool", lambda name: path if name == "micropython" else real(name))
    return path


def test_flash_refuses_a_frozen_board_then_installs_only_config_with_allow_frozen(frozen_build, tmp_path) -> None:
    with VirtualBoard("insole", "right", _WALK, speed=5) as vb:
        assert probe_module_source(vb.port, "gaitfw") == ("frozen", "gaitfw/__init__.py")
        assert probe_module_source(vb.port, "asyncio")[0] == "frozen"
        before = _board_files(vb.fs)
        r = _flash("--port", vb.port)
        assert r.returncode == 1 and "Traceback" not in r.stderr
        (line,) = r.stderr.strip().splitlines()
        assert "frozen" in line and "nothing was changed" in line and "--allow-frozen" in line, line
        assert _board_files(vb.fs) == before

        cfg = json.loads((vb.fs / "config.json").read_text())
        cfg["device"] = "frozen-insole-R"
        cfg_file = tmp_path / "config.json"
        cfg_file.write_text(json.dumps(cfg))
        (vb.fs / "main.py").write_text((vb.fs / "main.py").read_text() + "# the previous main.py\n")
        (vb.fs / "device.key").unlink(missing_ok=True)  # a board flashed for the first time
        before = _board_files(vb.fs)
        r = _flash("--port", vb.port, "--config", str(cfg_file), "--allow-frozen")
        assert r.returncode == 0, r.stderr
        summary = json.loads(r.stdout)
        assert summary["firmware"] == "frozen" and summary["device"] == "frozen-insole-R"
        after = _board_files(vb.fs)
        changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
        assert changed == {"main.py", "config.json", "device.key"}, changed  # main.py as shipped
        assert not any(k.startswith("lib/") for k in changed)  # no module copied


def test_status_says_the_firmware_runs_from_files_on_a_flashed_board() -> None:
    with VirtualBoard("insole", "left", _WALK, speed=5) as vb:
        st = subprocess.run([*GAITLOOP, "status", "--port", vb.port, "--json"], capture_output=True, text=True,
                            timeout=60, cwd=str(ROOT))
        assert st.returncode == 0, st.stderr
        assert json.loads(st.stdout)["install"] == "files"
        st = subprocess.run([*GAITLOOP, "status", "--port", vb.port], capture_output=True, text=True,
                            timeout=60, cwd=str(ROOT))
        assert st.returncode == 0 and st.stdout.startswith("firmware ") and " (files)  board " in st.stdout


def _installed_as_source() -> str:
    """`update.installed_as` alone: the frozen builds here hold an older gaitfw without it."""
    import ast

    src = (FIRMWARE / "gaitfw" / "update.py").read_text()
    fn = next(n for n in ast.parse(src).body if isinstance(n, ast.FunctionDef) and n.name == "installed_as")
    return ast.get_source_segment(src, fn)


def test_the_firmwares_own_check_tells_frozen_from_files(frozen_build) -> None:
    code = _installed_as_source() + "\nprint('GLINSTALL', installed_as())\n"
    for binary, want in ((frozen_build, "frozen"), (micropython_binary(), "files")):
        env = dict(os.environ, MICROPYPATH=f".frozen:{FIRMWARE}")
        p = subprocess.run([binary, "-c", code], capture_output=True, text=True, timeout=60, env=env, cwd=str(ROOT))
        assert p.returncode == 0, p.stderr
        assert p.stdout.split() == ["GLINSTALL", want], (binary, p.stdout)
