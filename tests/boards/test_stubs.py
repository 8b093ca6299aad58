"""The firmware against the boards' own API stubs (micropython-rp2-stubs, -esp32-stubs, with
mypy): a `machine`, `bluetooth` or `time` call a board does not have fails here, before
flashing. The stubs live in .venv/mpstubs/<port> (`make install`), used as mypy's typeshed,
so the board's stdlib replaces CPython's.

Scope: the board-facing modules (drivers, boardhal, profiles, hal) must check clean with
untyped bodies checked; across all firmware modules no call may name a module attribute the
port lacks. The rest of the firmware's typing (viper `ptr8` annotations, Optional fields)
is not mypy-clean and is not judged here. compat.py is left out: its CPython branch uses
CPython's `time` on purpose.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import FIRMWARE, ROOT

STUBS = ROOT / ".venv" / "mpstubs"
_OWN = ("gaitfw/drivers/", "gaitfw/boardhal.py", "gaitfw/profiles.py", "gaitfw/hal.py")
_MISSING_API = re.compile(r'Module "?[\w.]*"? has no attribute|has no attribute "\w+"; maybe|Name "[\w.]+" is not defined')


def _mypy(port: str, files: list[str], cache: Path) -> list[str]:
    stubs = STUBS / port
    if not (stubs / "machine.pyi").is_file():
        pytest.fail(f"{port} stubs missing at {stubs}: run `make install`", pytrace=False)
    proc = subprocess.run(
        [str(ROOT / ".venv/bin/mypy"), "--custom-typeshed-dir", str(stubs), "--no-site-packages",
         "--follow-imports=silent", "--ignore-missing-imports", "--check-untyped-defs",
         "--no-error-summary", "--cache-dir", str(cache), *files],
        capture_output=True, text=True, timeout=300, cwd=str(FIRMWARE), env={"MYPYPATH": str(stubs), "PATH": "/usr/bin:/bin"},
    )
    # errors inside the stub files themselves are the stub package's, not ours
    return [ln for ln in proc.stdout.splitlines() if ": error:" in ln and not ln.startswith(str(stubs))]


@pytest.mark.parametrize("port", ["rp2", "esp32"])
def test_firmware_calls_only_what_the_board_has(port: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad_call.py"  # the control: a call the port lacks must be reported
    bad.write_text("import machine\n\n\ndef f():\n    return machine.ADC(machine.Pin(26)).read_u17()\n")
    files = sorted(str(p.relative_to(FIRMWARE)) for p in (FIRMWARE / "gaitfw").rglob("*.py")
                   if not p.name.startswith("_cpython") and p.name != "compat.py")
    errors = _mypy(port, [*files, str(bad)], tmp_path / "mypy_cache")  # a fresh cache: no stale verdicts
    assert any(ln.startswith(str(bad)) and "read_u17" in ln for ln in errors), "\n".join(errors[:3])
    errors = [ln for ln in errors if not ln.startswith(str(bad))]
    own = [ln for ln in errors if ln.startswith(_OWN)]
    assert own == [], "\n".join(own)
    # "object" has no attribute: an untyped value mypy cannot follow (mgait config), not an API gap
    missing = [ln for ln in errors if _MISSING_API.search(ln) and "\"object\"" not in ln]
    assert missing == [], "\n".join(missing)
