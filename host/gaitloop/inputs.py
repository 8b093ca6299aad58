"""Checking an input file before any work starts, with one line that names what is wrong.

Why a helper: "no such file" for a folder, or a numpy warning for an empty file, sends a user
looking for the wrong mistake. Every loader calls `check_input_file` first.
"""

from __future__ import annotations

import os
from pathlib import Path

from gaitloop.errors import DataError


def check_input_file(path: str | Path, what: str = "file", error: type[Exception] = DataError) -> Path:
    """`path` as a readable, non-empty regular file, else `error` with one clear line."""
    path = Path(path)
    if not path.exists():
        if path.is_symlink():
            raise error(f"{path}: broken symbolic link")
        raise error(f"{path}: no such file")
    if path.is_dir():
        raise error(f"{path}: is a folder, not a {what}")
    if not path.is_file():
        raise error(f"{path}: not a regular file (a device or pipe), not a {what}")
    if not os.access(path, os.R_OK):
        raise error(f"{path}: not readable (permission denied)")
    if path.stat().st_size == 0:
        raise error(f"{path}: empty file, not a {what}")
    return path
