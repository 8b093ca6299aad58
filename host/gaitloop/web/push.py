"""A calibration push from the live page, inside the stream process.

Why here and not `gaitloop push`: while `gaitloop serve` streams, the stream process owns the
board's link. The push therefore rides the running StreamSession through the same update
client as `gaitloop push` (`update/client.py`: signed manifest, CRC-checked chunks, A/B slot,
self-test), with two changes: only the target board's ACKs are taken as answers, and every
poll while it waits also serves the display, so the other boards, the recording and the pages
go on during the push (the recorder sees every frame, the push's ACKs included).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gaitloop.errors import BoardError, DataError
from gaitloop.stream import BoardChannel
from gaitloop.update.client import UpdateClient

#: under the sessions folder: the calibrations written from the page, and the log of writes
WRITES_DIR = "board-writes"


class SharedUpdateClient(UpdateClient):
    """UpdateClient over one channel of a running StreamSession (not a link of its own)."""

    def __init__(self, worker: Any, ch: BoardChannel) -> None:  # noqa: D107 - no super(): no new session
        self.link = ch.link
        self.session = worker.session
        self.ch = ch
        self.worker = worker
        self._replies = {}
        from gaitloop.update import client as C

        self.answer_s, self.stall_s, self.end_s = C.ANSWER_S, C.STALL_S, C.END_S

    def _sink(self, link: int, ch: BoardChannel, frame: Any, msg: Any) -> None:
        if link == self.ch.id:  # another board's ACK (a HELLO, a time probe) is not ours
            super()._sink(link, ch, frame, msg)

    def poll(self, timeout: float = 0.02) -> None:
        self.session.poll(min(timeout, 0.02))
        self.worker.tick(requests=False)  # display frames go on; a second request waits

    def close(self) -> None:
        """The session is the stream's: it stays open."""


def push_calibration(worker: Any, args: dict[str, Any]) -> dict[str, Any]:
    """Push `args["calibration"]` (a JSON object) to board `args["link"]`, after checking that
    `args["confirm"]` names that board (the page's dialog). Returns the board's INFO after."""
    from gaitloop.update import image, keys

    link = args.get("link")
    ch = next((c for c in worker.session.channels if c.id == link), None)
    if ch is None:
        raise DataError(f"no board on link {link!r}")
    device = ch.state.hello.device if ch.state.hello else None
    if not device or args.get("confirm") != device:
        raise DataError(f"not confirmed: the confirmation must name the board ({device or ch.link.name})")
    cal = args.get("calibration")
    if not isinstance(cal, dict):
        raise DataError("a calibration must be a JSON object of calibration keys")
    client = SharedUpdateClient(worker, ch)
    worker.session.sinks.append(client._sink)
    try:
        info = client.info()
        board = info["board"]
        if not board.get("keyed"):
            raise BoardError(f"{ch.link.name}: the board has no update key; provision it with gaitloop flash")
        # the exact object written is kept next to the log of board writes (the audit trail)
        name = Path(str(args.get("name") or "calibration.json")).name
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        folder = worker.sessions_dir / WRITES_DIR
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{stamp}-{device}-{name}"
        path.write_text(json.dumps(cal, indent=1))
        art = image.calibration(path, board["kind"], args.get("version"))
        key = keys.device_key(board["device_id"], keys.master_key(create=False))
        done = client.push(art, key, board["kind"])
        after = client.info()
    finally:
        worker.session.sinks.remove(client._sink)
    return {"link": link, "device": device, "port": ch.link.name, "done": done, "file": str(path),
            "calibration": after.get("calibration"), "status": after}


def board_info(worker: Any, args: dict[str, Any]) -> dict[str, Any]:
    """The board's update status (INFO: what calibration, model, templates it runs)."""
    link = args.get("link")
    ch = next((c for c in worker.session.channels if c.id == link), None)
    if ch is None:
        raise DataError(f"no board on link {link!r}")
    client = SharedUpdateClient(worker, ch)
    worker.session.sinks.append(client._sink)
    try:
        return client.info()
    finally:
        worker.session.sinks.remove(client._sink)


def register(worker: Any) -> None:
    worker.extra_requests["push_calibration"] = lambda args: push_calibration(worker, args)
    worker.extra_requests["board_info"] = lambda args: board_info(worker, args)
