"""Provision a board's update key while flashing: once, and never printed.

Why at flash time: flashing is the one moment the host reaches the board's filesystem over
its REPL (mpremote) rather than the app's protocol; the key travels that way once. A board
that already holds a key keeps it (a re-flash does not send it again), so its device id and
every image signed for it stay valid.
"""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path
from typing import Any

from gaitfw import manifest as M
from gaitloop.errors import BoardError
from gaitloop.update import keys

_ASK_S = 10.0  # the first mpremote exchange of a flash: a silent port fails here, in one line
_HAS_KEY = """
import os
try:
    os.stat({name!r})
    print('key: yes')
except OSError:
    print('key: no')
"""


def stage_key(port: str, stage: Path, config: dict[str, Any] | None) -> list[tuple[Path, str]]:
    """[(file, board name)] for the board's key file, or [] if the board has one already.

    The device id is the config's `device` (the one being flashed, else the board's own),
    or a random `gl-XXXXXXXX` for a board that has none.
    """
    from gaitloop.push import _mpremote, board_config

    try:
        reply = _mpremote(port, "exec", _HAS_KEY.format(name=M.KEY_FILE), timeout=_ASK_S)
    except subprocess.TimeoutExpired:
        raise BoardError(f"{port}: no MicroPython REPL answered within {_ASK_S:.0f} s; "
                         "nothing was changed on the board") from None
    if "key: yes" in reply:
        return []
    device = (config or {}).get("device")
    if not device:
        try:
            device = board_config(port).get("device")
        except Exception:  # noqa: BLE001  (no or unreadable config: the board gets a new id)
            device = None
    device = str(device or f"gl-{secrets.token_hex(4)}")
    path = stage / M.KEY_FILE  # the stage folder is private to this process (mkdtemp, 0700)
    path.write_bytes(keys.key_file(device, keys.master_key(create=True)))
    return [(path, M.KEY_FILE)]
