"""Push calibration, CSM templates or an int8 student to a board, then prove it took.

Each file is checked on the host first (a template file must load in the firmware's own
loader, a device model must pass its CRC and validation, a calibration must be a JSON
object), copied with mpremote, and named in the board's config.json, which is rewritten
whole. Nothing live is overwritten until everything has arrived intact: files land as
`NAME.new`, the board hashes them (SHA-256) and only if every hash matches are they renamed
into place, config.json last, so a cut cable or a corrupted transfer leaves the board as it
was (`gaitloop flash` installs the firmware through the same `install_files`). The board is
then rebooted and must come back with a HELLO that reports no processor error. This is the
file-based path the CSM and MGait issues call for; the chunked, HMAC-signed A/B-slot update
with rollback is a separate piece of work (not built yet).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

from gaitloop.errors import BoardError, DataError
from gaitloop.flash import _mpremote, wait_for_hello

TEMPLATES_NAME = "csm.json"
MODEL_NAME = "student.gldm"


def check_templates(path: Path) -> None:
    from gaitfw import csm

    if not path.is_file():
        raise DataError(f"{path}: no such file")
    _templates, _params, defaulted = csm.load_templates(str(path))
    if defaulted:
        raise DataError(f"{path}: not a valid CSM template file (the firmware would fall back to defaults)")


def check_model(path: Path) -> None:
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    from gaitloop.export.device_format import read_device_model, validate

    validate(read_device_model(path))


def check_calibration(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        cal = json.loads(path.read_text())
    except ValueError as exc:
        raise DataError(f"{path}: not JSON ({exc})") from None
    if not isinstance(cal, dict):
        raise DataError(f"{path}: a calibration must be a JSON object of config keys")
    return cal


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
         verify: bool = True) -> dict[str, Any]:
    """Copy the given files, update config.json, reboot, and return what the board reports."""
    if not (templates or model or calibration or settings):
        raise DataError("nothing to push: give --templates, --model, --calibration or --set")
    changes: dict[str, Any] = dict(settings or {})
    copies: list[tuple[Path, str]] = []
    if templates is not None:
        check_templates(templates)
        copies.append((templates, TEMPLATES_NAME))
        changes["csm_templates"] = TEMPLATES_NAME
    if model is not None:
        check_model(model)
        copies.append((model, MODEL_NAME))
        changes["student"] = MODEL_NAME
    if calibration is not None:
        changes.update(check_calibration(calibration))
    cfg = board_config(port)
    cfg.update(changes)
    stage = Path(tempfile.mkdtemp(prefix="gaitloop-push-"))
    try:
        (stage / "config.json").write_text(json.dumps(cfg))
        install_files(port, [*copies, (stage / "config.json", "config.json")])
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    out: dict[str, Any] = {"port": port, "pushed": [n for _, n in copies], "config": changes}
    if verify:
        hello = wait_for_hello(port)
        out.update(device=hello.device, fw=hello.fw)
        if "error" in hello.extra:
            raise BoardError(f"{port}: the board rejected the push: {hello.extra['error']}")
    return out
