"""Push calibration, CSM templates or an int8 student to a running board over its live link.

`push` speaks the update commands (gaitloop.update.client): each artifact is checked on the
host, sent in CRC-checked chunks under a manifest tagged with the board's key, written to the
board's inactive slot while it streams, verified, self-tested and only then made active
(docs/update.md). mpremote is no longer part of a push.

`install_files` is the file-based path `gaitloop flash` installs the firmware with (it cannot
use the firmware's own update commands: it replaces that firmware): files land as `NAME.new`
over mpremote, the board hashes them (SHA-256), and only if every hash matches are they
renamed into place, config.json last, so a corrupted or cut transfer leaves the board as it
was.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from gaitfw import protocol as P
from gaitloop.errors import BoardError, DataError
from gaitloop.flash import _mpremote

STAGED = ".new"

# Runs on the board: SHA-256 of each staged file, one JSON object on one line.
_HASH_STAGED = """
import hashlib, binascii, json
out = {{}}
for n in {names!r}:
    h = hashlib.sha256()
    try:
        with open(n + {staged!r}, 'rb') as f:
            while True:
                b = f.read(1024)
                if not b:
                    break
                h.update(b)
        out[n] = binascii.hexlify(h.digest()).decode()
    except OSError:
        out[n] = None
print(json.dumps(out))
"""

# Runs on the board: staged files replace the live ones (rename is atomic on littlefs and on
# the Unix port; FAT refuses to rename over a file, so that case removes first).
_COMMIT_STAGED = """
import os
for n in {names!r}:
    try:
        os.rename(n + {staged!r}, n)
    except OSError:
        os.remove(n)
        os.rename(n + {staged!r}, n)
print('committed')
"""

# Runs on the board: the folders staged files go into (a first flash has no lib/gaitfw yet).
_MAKE_DIRS = """
import os
for d in {dirs!r}:
    try:
        os.mkdir(d)
    except OSError:
        pass
"""

_DISCARD_STAGED = """
import os
for n in {names!r}:
    try:
        os.remove(n + {staged!r})
    except OSError:
        pass
"""


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def install_files(port: str, files: list[tuple[Path, str]]) -> None:
    """Stage, verify by hash on the board, then commit `files` [(local path, board name)] in
    order, so the last name (config.json, which makes the others live) is committed last.

    Shared by push and flash, so neither overwrites a live file before all have arrived intact.
    """
    names = [name for _, name in files]
    # every folder a name lives in; a parent sorts before its children, so mkdir in this order
    dirs = sorted({str(d) for n in names for d in PurePosixPath(n).parents if str(d) != "."})
    args: list[str] = ["exec", _MAKE_DIRS.format(dirs=dirs), "+"] if dirs else []
    for src, name in files:
        args += ["fs", "cp", str(src), f":{name}{STAGED}", "+"]
    try:
        _mpremote(port, *args[:-1])
        text = _mpremote(port, "exec", _HASH_STAGED.format(names=names, staged=STAGED))
    except subprocess.TimeoutExpired:
        _discard(port, names)
        raise BoardError(f"{port}: mpremote timed out while copying; the board is unchanged") from None
    except BoardError:
        _discard(port, names)
        raise
    verify_staged(port, files, text)
    if "committed" not in _mpremote(port, "exec", _COMMIT_STAGED.format(names=names, staged=STAGED)):
        raise BoardError(f"{port}: the board did not confirm the update")


def verify_staged(port: str, files: list[tuple[Path, str]], board_report: str) -> None:
    """Compare the board's hashes of the staged files with ours; on any mismatch discard
    them and fail, leaving the live files untouched."""
    try:
        got = json.loads(board_report.strip().splitlines()[-1])
    except (ValueError, IndexError):
        got = {}
    bad = [name for src, name in files if got.get(name) != sha256_file(src)]
    if bad:
        _discard(port, [name for _, name in files])
        raise BoardError(f"{port}: {', '.join(bad)} arrived corrupted or incomplete; "
                         "nothing was changed on the board")


def _discard(port: str, names: list[str]) -> None:
    try:
        _mpremote(port, "exec", _DISCARD_STAGED.format(names=names, staged=STAGED), timeout=30)
    except (BoardError, subprocess.TimeoutExpired):
        pass  # the staged names are never read by the firmware; a later push overwrites them


def board_config(port: str) -> dict[str, Any]:
    """The board's config.json, read over its REPL with mpremote (used when flashing)."""
    text = _mpremote(port, "fs", "cat", ":config.json")
    try:
        cfg = json.loads(text)
    except ValueError:
        raise BoardError(f"{port}: the board's config.json is not JSON") from None
    if not isinstance(cfg, dict):
        raise BoardError(f"{port}: the board's config.json is not an object")
    return cfg


def push(port: str, templates: Path | None = None, model: Path | None = None,
         calibration: Path | None = None, settings: dict[str, Any] | None = None,
         rollback: str | None = None, version: int | None = None,
         progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """Push artifacts over the live link (signed, chunked, A/B slots; docs/update.md), apply
    `settings` with CMD SET, or roll `rollback` (a kind) back; return what the board reports.

    Files are checked on the host before the port is opened (a calibration again once the
    board has said what kind it is); the board streams on throughout.
    """
    from gaitloop.link import open_link
    from gaitloop.update import image, keys
    from gaitloop.update.client import UpdateClient

    if not (templates or model or calibration or settings or rollback):
        raise DataError("nothing to push: give --templates, --model, --calibration, --set or --rollback")
    arts = []
    if model is not None:
        arts.append(image.model(model, version))
    if templates is not None:
        arts.append(image.templates(templates, version))
    if calibration is not None:
        image.calibration_object(calibration)  # JSON object? (its keys once the board's kind is known)
    client = UpdateClient(open_link(port))
    try:
        info = client.open()
        board = info["board"]
        if calibration is not None:
            arts.append(image.calibration(calibration, board["kind"], version))
        key = None
        if arts or rollback:
            if not board.get("keyed"):
                raise BoardError(f"{port}: the board has no update key; provision it with gaitloop flash")
            key = keys.device_key(board["device_id"], keys.master_key(create=False))
        results = []
        for art in arts:
            cb = (lambda n, total, k=art.kind: progress(k, n, total)) if progress else None
            results.append(client.push(art, key, board["kind"], cb))
        if rollback:
            results.append(client.rollback(rollback, key))
        if settings:
            client.request(P.CMD_SET, json.dumps(settings).encode(), what="the settings")
        info = client.info()
        st = client.ch.state
        streamed = {"samples": st.samples, "sample_gaps": st.sample_gaps,
                    "frame_gaps": st.seq_gaps, "resets": st.resets}
    finally:
        client.close()
    return {"port": port, "device": info["board"].get("device"), "done": results,
            "config": dict(settings or {}), "streamed_meanwhile": streamed, "status": info}
