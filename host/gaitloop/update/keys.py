"""The master key and per-device keys: key = HMAC-SHA256(master, device id).

Why derived keys: the host keeps one secret (a file readable by its owner only), every board
holds only its own key, so a key read out of one board opens no other. The master key is
created on first use with 0600 permissions, refused when others may read it, and never
printed; a device key goes to a board once, when `gaitloop flash` provisions it.
"""

from __future__ import annotations

import hmac
import os
import secrets
import stat
from pathlib import Path

from gaitfw import manifest as M
from gaitloop.errors import GaitloopError


class KeyFileError(GaitloopError):
    """The master key file is missing, unreadable or readable by others."""


def master_key_path() -> Path:
    env = os.environ.get("GAITLOOP_KEY_FILE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "gaitloop" / "master.key"


def master_key(create: bool = True, path: Path | None = None) -> bytes:
    """The 32-byte master key; created (0600) on first use when `create`."""
    path = path or master_key_path()
    if not path.exists():
        if not create:
            raise KeyFileError(f"no master key at {path} (it is created when a board is flashed)")
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return master_key(create=False, path=path)
        except OSError as exc:
            raise KeyFileError(f"cannot create the master key {path}: {exc.strerror}") from None
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(32))
    try:
        st = path.stat()
        if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyFileError(f"master key {path} is accessible by others "
                            f"(mode {stat.S_IMODE(st.st_mode):o}); chmod 600 it")
        key = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read the master key {path}: {exc.strerror}") from None
    if len(key) != 32:
        raise KeyFileError(f"master key {path} is {len(key)} bytes, not 32")
    return key


def device_key(device_id: str, master: bytes | None = None) -> bytes:
    """The key of the board `device_id`: HMAC-SHA256(master, device id)."""
    if not device_id:
        raise KeyFileError("the board reports no device id: provision it with gaitloop flash")
    return hmac.new(master if master is not None else master_key(), device_id.encode(),
                    "sha256").digest()


def key_file(device_id: str, master: bytes | None = None) -> bytes:
    """The bytes of the board's `device.key` (firmware: gaitfw.manifest.read_key)."""
    return M.key_file_bytes(device_id, device_key(device_id, master))
