"""The student models a page may push to a board, and each one's card.

Why a list kept by the server: a page must never name a path on the host. The server offers
the shipped device models (`models/*.gldm`) and every file in `<sessions>/models/` (where a
clinic drops the models it trained and exported); the page picks one by its id, and the
server resolves that id against this list again on the push. A file in the folder that is no
device model is listed too, with the one line that says why it cannot be pushed, so the
person who put it there sees it on the page.

The card is computed from the file's bytes with the checks `gaitloop push` runs before a
transfer (`update.image.model`: the device-model reader, CRC, sections). "Signed" means the
push can be authenticated: a model file carries no signature of its own; each push sends a
manifest (kind, board kind, version, length, SHA-256) tagged with HMAC-SHA256 under the
board's key, derived from this host's master key (`update/keys.py`, docs/update.md). The card
says whether that key is here; whether the board holds its key is the board's own status.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from gaitloop.errors import GaitloopError

#: the shipped models (the repository's `models/`)
SHIPPED = Path(__file__).resolve().parents[3] / "models"
#: under the sessions folder: models a clinic adds
SESSION_MODELS = "models"
#: bigger than any device model a board can hold: not read at all
MAX_BYTES = 1 << 20


def _files(sessions_dir: Path) -> list[tuple[str, Path]]:
    """(id, path) of every model on offer, shipped ones first."""
    out = [(f"shipped/{p.name}", p) for p in sorted(SHIPPED.glob("*.gldm")) if p.is_file()]
    folder = Path(sessions_dir) / SESSION_MODELS
    if folder.is_dir():
        out += [(f"sessions/{p.name}", p) for p in sorted(folder.iterdir())
                if p.is_file() and not p.name.startswith(".")]
    return out


def resolve(sessions_dir: Path, model_id: str) -> Path:
    """The path behind an id of the list; FileNotFoundError for anything else (a path, a
    name not listed, a file removed since)."""
    for mid, path in _files(sessions_dir):
        if mid == model_id:
            return path
    raise FileNotFoundError(model_id)


def signing() -> dict[str, Any]:
    """Whether this host can sign a push: its master key is present and private."""
    from gaitloop.update import keys

    try:
        keys.master_key(create=False)
    except GaitloopError as exc:
        return {"ok": False, "text": f"cannot be signed here: {exc}"}
    return {"ok": True, "text": "signed at push for the board's own key (HMAC-SHA256 manifest)"}


def card(model_id: str, path: Path) -> dict[str, Any]:
    """Name, size, SHA-256, what the model is, and `error` (one line) when it cannot be pushed."""
    from gaitloop.update import image

    out: dict[str, Any] = {"id": model_id, "name": path.name, "source": model_id.split("/")[0],
                           "size": None, "sha256": None, "error": None}
    try:
        size = path.stat().st_size
        out["size"] = size
        if size > MAX_BYTES:
            raise GaitloopError(f"{path.name}: {size} bytes, larger than any device model")
        blob = path.read_bytes()
    except OSError as exc:
        out["error"] = f"{path.name}: cannot be read ({exc.strerror})"
        return out
    except GaitloopError as exc:
        out["error"] = str(exc)
        return out
    out["sha256"] = hashlib.sha256(blob).hexdigest()
    try:
        art = image.model(path)
    except GaitloopError as exc:
        out["error"] = (f"{path.name}: not a device model ({str(exc).split(': ', 1)[-1]}); a model "
                        "to push is a .gldm from `gaitloop export --device`")
        return out
    from gaitloop.export.device_format import read_device_model

    dm = read_device_model(art.payload)
    out.update(task=dm.task, inputs=dm.in_channels, window=dm.window, outputs=dm.n_out,
               version=art.version, self_test=dm.test_in is not None,
               sha256=art.sha256.hex())
    return out


def catalog(sessions_dir: Path) -> dict[str, Any]:
    """What `/api/models` answers: the cards, the folder a clinic adds models to, signing."""
    return {"folder": str(Path(sessions_dir) / SESSION_MODELS), "signing": signing(),
            "models": [card(mid, p) for mid, p in _files(sessions_dir)]}
