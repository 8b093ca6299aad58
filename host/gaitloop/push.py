"""Push calibration, CSM templates or an int8 student to a board, then prove it took.

Each file is checked on the host first (a template file must load in the firmware's own
loader, a device model must pass its CRC and validation, a calibration must be a JSON
object), copied with mpremote, and named in the board's config.json, which is rewritten
whole. The board is then rebooted and must come back with a HELLO that reports no processor
error. This is the file-based path the CSM and MGait issues call for; the chunked, HMAC-signed
A/B-slot update with rollback is a separate piece of work (not built yet).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
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
        args: list[str] = []
        for src, name in copies:
            args += ["fs", "cp", str(src), f":{name}", "+"]
        args += ["fs", "cp", str(stage / "config.json"), ":config.json"]
        _mpremote(port, *args)
    except subprocess.TimeoutExpired:
        raise BoardError(f"{port}: mpremote timed out while copying") from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    out: dict[str, Any] = {"port": port, "pushed": [n for _, n in copies], "config": changes}
    if verify:
        hello = wait_for_hello(port)
        out.update(device=hello.device, fw=hello.fw)
        if "error" in hello.extra:
            raise BoardError(f"{port}: the board rejected the push: {hello.extra['error']}")
    return out
