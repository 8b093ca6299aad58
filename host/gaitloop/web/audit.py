"""The log of every write to a board asked from a page: who, when, what, result.

Why a file of its own, append-only: a calibration changes what a board measures for every
later session; a clinic must be able to tell afterwards which values a patient's board ran
and who wrote them. One JSON object per line in `<sessions>/board-writes.log` (opened in
append mode, flushed and fsynced per entry, never rewritten), and the same line, short, on
the server's stderr.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

LOG_NAME = "board-writes.log"


def log_write(folder: Path, who: dict[str, Any], what: dict[str, Any], result: str,
              detail: dict[str, Any] | None = None) -> dict[str, Any]:
    """Append one entry and say it on stderr; returns the entry."""
    entry = {"time": datetime.now(UTC).isoformat(timespec="seconds"), "who": who, "what": what,
             "result": result, **({"detail": detail} if detail else {})}
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOG_NAME, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())
    print(f"board write: {entry['time']} {who.get('name') or '?'} ({who.get('client')}) "
          f"{what.get('action')} -> {what.get('board')}: {result}", file=sys.stderr, flush=True)
    return entry


def read_log(folder: Path) -> list[dict[str, Any]]:
    p = folder / LOG_NAME
    if not p.is_file():
        return []
    return [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
