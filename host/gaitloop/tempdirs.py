"""Temporary `gaitloop-*` folders that a killed process does not leave behind for good.

Why: `sim` and `demo` keep a board filesystem and compiled firmware in temporary folders that
are removed on a normal exit; `kill -9` skips that cleanup. Each folder therefore records its
owner (pid and the process's start time, so a reused pid is not mistaken for the owner), and
every new start removes the folders whose owner is gone. Folders without an owner file (made
by older versions, or by someone else) are never touched.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

PREFIX = "gaitloop-"
OWNER_FILE = ".gaitloop-owner"


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux /proc), None if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces: split after its closing parenthesis
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None


def _alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    if started is None:
        return True
    now = _start_time(pid)
    return now is None or now == started


def make_tempdir(kind: str) -> Path:
    """A new `gaitloop-<kind>-*` folder owned by this process; stale ones are cleaned first."""
    clean_stale()
    path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{kind}-"))
    pid = os.getpid()
    (path / OWNER_FILE).write_text(f"{pid} {_start_time(pid) or '-'}\n")
    return path


def clean_stale(root: str | Path | None = None) -> list[Path]:
    """Remove `gaitloop-*` folders under `root` (the temp dir) whose owner process is gone."""
    base = Path(root) if root is not None else Path(tempfile.gettempdir())
    removed = []
    try:
        entries = list(base.glob(f"{PREFIX}*"))
    except OSError:
        return removed
    for d in entries:
        owner = d / OWNER_FILE
        try:
            pid_s, started = owner.read_text().split()[:2]
            pid = int(pid_s)
        except (OSError, ValueError):
            continue  # not ours to judge
        if pid == os.getpid() or _alive(pid, None if started == "-" else started):
            continue
        shutil.rmtree(d, ignore_errors=True)
        removed.append(d)
    return removed
