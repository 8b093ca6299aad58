"""Names of STATUS flag bits, gathered from the firmware modules that define them.

Why gather: each subsystem owns its bit range (core 0-7, CSM 8-15, MGait 16-23, learned
24-31) and documents its bits beside the code that sets them; the host reads the names from
those modules so a new bit is named everywhere the moment it exists.
"""

from __future__ import annotations

import importlib
from functools import cache

_MODULES = ("gaitfw.protocol", "gaitfw.foot", "gaitfw.mgait", "gaitfw.student")


@cache
def flag_names() -> dict[int, str]:
    names: dict[int, str] = {}
    for mod_name in _MODULES:
        try:
            mod = importlib.import_module(mod_name)
        except ImportError:
            continue
        for attr, value in vars(mod).items():
            if attr.startswith("ST_") and isinstance(value, int) and value and not value & (value - 1):
                names.setdefault(value, attr[3:].lower().replace("_", "-"))
    return names


def flag_text(flags: int) -> str:
    """'ok', or the names of the set bits (unknown bits in hex)."""
    names = flag_names()
    parts = [names[1 << b] for b in range(32) if flags & (1 << b) and (1 << b) in names]
    unknown = flags & ~sum(names)
    if unknown:
        parts.append(f"0x{unknown:x}")
    return ",".join(parts) or "ok"
