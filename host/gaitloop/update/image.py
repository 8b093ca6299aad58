"""What a push sends: the payload of one artifact and its signed manifest, checked first.

Why check on the host too: the board refuses anything wrong, but a user should learn that a
file is not a model, or that a calibration key belongs to the other board kind, before a
transfer starts, with the file named. The checks are the firmware's own (gaitfw.calib,
gaitfw.csm, the device model reader), so host and board cannot disagree.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from gaitfw import manifest as M
from gaitloop.errors import DataError

KINDS = {"model": M.KIND_MODEL, "calibration": M.KIND_CALIBRATION, "templates": M.KIND_TEMPLATES}
BOARDS = {"insole": M.BOARD_INSOLE, "knee": M.BOARD_KNEE}


@dataclass(frozen=True)
class Artifact:
    kind: str  # model | calibration | templates
    payload: bytes
    fmt: int  # format version the board must know
    version: int
    source: str

    @property
    def sha256(self) -> bytes:
        return hashlib.sha256(self.payload).digest()

    def manifest(self, key: bytes, board_kind: str) -> bytes:
        return M.pack(key, KINDS[self.kind], BOARDS[board_kind], self.fmt, self.version,
                      len(self.payload), self.sha256)


def _read(path: Path) -> bytes:
    if not path.is_file():
        raise DataError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror})") from None


def default_version(path: Path) -> int:
    """The file's modification time in seconds: stable across retries (so a cut push resumes)
    and increasing for newer files; `--version` overrides it."""
    return int(path.stat().st_mtime) & 0xFFFFFFFF


def model(path: Path, version: int | None = None) -> Artifact:
    from gaitloop.export.device_format import DeviceModelError, read_device_model

    blob = _read(path)
    try:
        read_device_model(blob)
    except DeviceModelError as exc:
        raise DataError(f"{path}: {exc}") from None
    fmt = int.from_bytes(blob[4:6], "little")
    return Artifact("model", blob, fmt, default_version(path) if version is None else version,
                    str(path))


def templates(path: Path, version: int | None = None) -> Artifact:
    from gaitfw import csm

    blob = _read(path)
    _t, _p, source = csm.load_templates(str(path))
    if source != 0:
        raise DataError(f"{path}: not a valid CSM template file (the firmware would fall back to defaults)")
    return Artifact("templates", blob, 1, default_version(path) if version is None else version,
                    str(path))


def calibration_object(path: Path) -> dict:
    """The calibration file as a JSON object (DataError naming the file otherwise)."""
    try:
        cal = json.loads(_read(path))
    except ValueError as exc:
        raise DataError(f"{path}: not JSON ({exc})") from None
    if not isinstance(cal, dict):
        raise DataError(f"{path}: a calibration must be a JSON object of calibration keys")
    return cal


def calibration(path: Path, board_kind: str, version: int | None = None) -> Artifact:
    """A calibration JSON object, checked against the board kind's schema (gaitfw.calib)."""
    from gaitfw import calib

    cal = calibration_object(path)
    err = calib.check(board_kind, cal)
    if err:
        raise DataError(f"{path}: {err}")
    blob = json.dumps(cal, sort_keys=True, separators=(",", ":")).encode()
    return Artifact("calibration", blob, 1, default_version(path) if version is None else version,
                    str(path))
