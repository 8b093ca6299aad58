"""Which artifacts produced which part of a recorded session.

Why from HELLO: the board announces its active model, calibration and templates (version and
SHA-256 prefix) in every HELLO, at boot, every 5 s and again the moment a push or rollback
switches one, so a recording holds the facts with the frames they apply to; an `update_*`
EVENT marks the exact sample time of a switch.
"""

from __future__ import annotations

from typing import Any

from gaitfw import protocol as P
from gaitloop.messages import Hello, decode_payload
from gaitloop.record import Recording


def artifact_timeline(rec: Recording, link: int) -> list[dict[str, Any]]:
    """[{t_ms, artifacts}] each time the board's announced artifacts change (first included);
    artifacts: kind -> [version, sha256 prefix, slot]."""
    out: list[dict[str, Any]] = []
    last: Any = None
    for _, fr in rec.links[link].frames:
        if fr.kind != P.MSG_HELLO:
            continue
        msg = decode_payload(fr)
        if not isinstance(msg, Hello):
            continue
        arts = msg.extra.get("artifacts", {})
        if arts != last:
            out.append({"t_ms": fr.t_ms, "artifacts": arts})
            last = arts
    return out
