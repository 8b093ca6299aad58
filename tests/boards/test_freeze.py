"""The frozen-module manifests (firmware/freeze/) name every firmware module a board imports,
as MicroPython's manifest tools read them (run with the manifest's folder as the current
directory, `package` / `include` given by the tool), so a new module cannot be left out of a
frozen Pico W image."""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import FIRMWARE

FREEZE = FIRMWARE / "freeze"


def _run_manifest(path: Path) -> tuple[list[tuple], list[str]]:
    packages: list[tuple] = []
    includes: list[str] = []

    def package(name, files=None, base_path=".", opt=None):
        packages.append((name, files, base_path, opt))

    prev = os.getcwd()
    os.chdir(path.parent)  # as tools/manifestfile.py does
    try:
        exec(path.read_text(), {"package": package, "include": includes.append})
    finally:
        os.chdir(prev)
    return packages, includes


def test_the_gaitfw_manifest_freezes_every_board_module() -> None:
    packages, includes = _run_manifest(FREEZE / "gaitfw.py")
    assert includes == [] and len(packages) == 1
    name, files, base, opt = packages[0]
    assert name == "gaitfw" and opt is None  # compiled as mpy-cross compiles what flash installs
    assert Path(base).resolve() == FIRMWARE.resolve()
    want = sorted(str(p.relative_to(FIRMWARE / "gaitfw")) for p in (FIRMWARE / "gaitfw").rglob("*.py")
                  if not p.name.startswith("_cpython"))
    assert sorted(files) == want and "boards/insole.py" in files and "update.py" in files
    assert all((FIRMWARE / "gaitfw" / f).is_file() for f in files)


def test_the_board_and_unix_manifests_include_it() -> None:
    assert _run_manifest(FREEZE / "board.py") == ([], ["$(BOARD_DIR)/manifest.py", "gaitfw.py"])
    assert _run_manifest(FREEZE / "unix.py") == ([], ["$(MPY_DIR)/extmod/asyncio", "gaitfw.py"])
