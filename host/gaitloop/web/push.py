"""A calibration or a model push from the live page, inside the stream process.

Why here and not `gaitloop push`: while `gaitloop serve` streams, the stream process owns the
board's link. The push therefore rides the running StreamSession through the same update
client as `gaitloop push` (`update/client.py`: signed manifest, CRC-checked chunks, A/B slot,
self-test), with two changes: only the target board's ACKs are taken as answers, and every
poll while it waits also serves the display, so the other boards, the recording and the pages
go on during the push (the recorder sees every frame, the push's ACKs included).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gaitloop.errors import BoardError, DataError, GaitloopError
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


#: after END, how long the push waits for the board to confirm the model's trial (5 s of
#: samples, `gaitfw.update.CONFIRM_S`: 5 s at real time, less on a faster replay) or to fall
#: back to the previous model (a restart within the trial)
TRIAL_WAIT_S = 15.0
#: progress messages to the pages at most this often
PROGRESS_S = 0.2


def _progress(worker: Any, what: dict[str, Any], stage: str, done: int = 0, total: int = 0) -> None:
    """One progress message to every page (hub.py forwards `push` replies to the WebSockets)."""
    worker.reply({"type": "push", **what, "stage": stage, "done": done, "total": total})


def push_model(worker: Any, args: dict[str, Any]) -> dict[str, Any]:
    """Push the model file `args["path"]` (resolved by the server from its list) to board
    `args["link"]` as `gaitloop push --model` does, then follow the trial.

    Returns `outcome`: "refused" (nothing was written: not confirmed, the file changed since
    the page showed its card, not a device model, a board that takes no model or has fewer
    channels, no key), "failed" (the board refused or failed it: NAK, self-test, a cut link;
    its previous model runs), "rolled back" (switched, then the board went back to the
    previous model within the trial) or "active" (`confirmed` False: still on trial when the
    wait ended). Progress goes to the pages as it happens."""
    from gaitfw import manifest as M
    from gaitfw import update as fw_update
    from gaitloop.update import image, keys
    from gaitloop.update.client import UpdateRefused

    link = args.get("link")
    ch = next((c for c in worker.session.channels if c.id == link), None)
    if ch is None:
        raise DataError(f"no board on link {link!r}")
    hello = ch.state.hello
    device = hello.device if hello else None
    path = Path(str(args.get("path")))
    what = {"link": link, "device": device, "port": ch.link.name, "file": path.name}

    def refused(msg: str) -> dict[str, Any]:
        return {**what, "outcome": "refused", "error": msg}

    if not device or args.get("confirm") != device:
        return refused(f"not confirmed: the confirmation must name the board ({device or ch.link.name})")
    try:
        art = image.model(path)
    except GaitloopError as exc:
        return refused(f"{path.name}: {str(exc).split(': ', 1)[-1]}")
    sha = art.sha256.hex()
    what["sha256"] = sha
    if args.get("sha256") != sha:
        return refused(f"{path.name} changed since the page showed it (SHA-256 {sha[:12]}…): reopen the dialog")
    from gaitloop.export.device_format import read_device_model

    n_in = read_device_model(art.payload).in_channels
    client = SharedUpdateClient(worker, ch)
    worker.session.sinks.append(client._sink)
    try:
        before = client.info()
        board = before["board"]
        if M.KIND_MODEL not in fw_update.ACCEPTS.get(board["kind"], ()):
            return refused(f"{device} is a {board['kind']} board: it runs no student model")
        if hello is not None and n_in > len(hello.channels):
            return refused(f"{path.name} takes {n_in} input channels; {device} has {len(hello.channels)}")
        if not board.get("keyed"):
            return refused(f"{device}: the board has no update key; provision it with gaitloop flash")
        try:
            key = keys.device_key(board["device_id"], keys.master_key(create=False))
        except GaitloopError as exc:
            return refused(f"cannot sign for {device}: {exc}")
        last = [0.0]

        def progress(done: int, total: int) -> None:
            now = time.monotonic()
            if now - last[0] >= PROGRESS_S or done >= total:
                last[0] = now
                _progress(worker, what, "sending", done, total)

        _progress(worker, what, "sending", 0, len(art.payload))
        try:
            done = client.push(art, key, board["kind"], progress)
        except UpdateRefused as exc:
            return {**what, "outcome": "failed", "error": str(exc), "reason": exc.reason,
                    "status": client.info(), "before": before.get("model")}
        except GaitloopError as exc:  # a cut link: the next push resumes where it stopped
            return {**what, "outcome": "failed", "error": str(exc), "before": before.get("model")}
        _progress(worker, what, "on trial", len(art.payload), len(art.payload))
        after = _follow_trial(client, sha, done)
    finally:
        worker.session.sinks.remove(client._sink)
    now = after.get("model") or {}
    out = {**what, "done": done, "model": now, "status": after, "before": before.get("model"),
           "version": art.version}
    if now.get("sha256") != sha:
        return {**out, "outcome": "rolled back",
                "error": f"{device} went back to its previous model during the trial"}
    return {**out, "outcome": "active", "confirmed": now.get("trial") is None}


def _follow_trial(client: SharedUpdateClient, sha: str, done: dict[str, Any]) -> dict[str, Any]:
    """INFO until the model's trial ends (confirmed, or the board went back to the previous
    model) or TRIAL_WAIT_S passed. A board that restarts within its trial does not answer for
    a moment: that is the fallback happening, so the wait goes on; if it never answers again,
    the last INFO stands for END's answer (active, on trial)."""
    after: dict[str, Any] = {"model": {"sha256": sha, "slot": done.get("slot"), "version": done.get("version"),
                                       "trial": done.get("slot")}}
    end = time.monotonic() + TRIAL_WAIT_S
    while time.monotonic() < end:
        try:
            after = client.info()
        except GaitloopError:
            pass
        model = after.get("model") or {}
        if model.get("sha256") != sha or model.get("trial") is None:
            break
        t = time.monotonic() + 0.5
        while time.monotonic() < t:
            client.poll(0.02)
    return after


def _push_model_said(worker: Any, args: dict[str, Any]) -> dict[str, Any]:
    """push_model, and its outcome (the word; the reason goes to the page that asked and to the
    log) to every page: the board panels that showed the progress."""
    out = push_model(worker, args)
    _progress(worker, {k: out.get(k) for k in ("link", "device", "port", "file", "sha256")}, out["outcome"])
    return out


def register(worker: Any) -> None:
    worker.extra_requests["push_calibration"] = lambda args: push_calibration(worker, args)
    worker.extra_requests["push_model"] = lambda args: _push_model_said(worker, args)
    worker.extra_requests["board_info"] = lambda args: board_info(worker, args)
