"""The host side of the update commands, over any `Link` (serial now, BLE the same way).

Why frames and a stream session: the update rides the same COBS frames as streaming, so a
board keeps sending samples while it is written, and the session keeps counting them (and
their gaps) while the client waits for its ACKs. DATA chunks go out in a window of W frames;
every ACK carries the next offset the board expects, so a lost or damaged chunk is resent
from exactly there (go-back-N), and a new push of the same manifest resumes where the board
stopped. A board that stays silent is reported within a few seconds, in one line.
"""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Callable
from typing import Any

from gaitfw import manifest as M
from gaitfw import protocol as P
from gaitloop.errors import BoardError, LinkError
from gaitloop.link import Link
from gaitloop.messages import Ack, Nak
from gaitloop.record import Recorder
from gaitloop.stream import BoardChannel, StreamSession
from gaitloop.update.image import KINDS, Artifact

CHUNK = 512  # bytes per DATA frame: well inside MAX_PAYLOAD, and a few BLE packets
WINDOW = 4  # DATA frames in flight
ANSWER_S = 1.0  # one command's answer, before a retry
STALL_S = 2.0  # no ACK progress for this long: resend from the last acknowledged offset
STALL_RETRIES = 4


class UpdateRefused(BoardError):
    """The board answered an update command with a NAK: `error` code and its reason."""

    def __init__(self, msg: str, error: int, reason: str) -> None:
        super().__init__(msg)
        self.error = error
        self.reason = reason


class UpdateClient:
    def __init__(self, link: Link, recorder: Recorder | None = None) -> None:
        self.link = link
        self.session = StreamSession([link], recorder, sinks=[self._sink])
        self.ch: BoardChannel = self.session.channels[0]
        self._replies: dict[int, Ack | Nak] = {}
        self._stray_acked = 0

    # -- plumbing ---------------------------------------------------------------------------

    def _sink(self, _link: int, _ch: BoardChannel, _frame: Any, msg: Any) -> None:
        if isinstance(msg, Ack | Nak):
            self._replies[msg.cmd_seq] = msg

    def send(self, cmd: int, args: bytes = b"") -> int:
        return self.ch.send(cmd, args)

    def poll(self, timeout: float = 0.02) -> None:
        self.session.poll(timeout)

    def _wait(self, seq: int, timeout: float) -> Ack | Nak | None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if seq in self._replies:
                return self._replies.pop(seq)
            self.poll(min(0.05, max(0.0, end - time.monotonic())))
        return self._replies.pop(seq, None)

    def _refused(self, msg: Nak, what: str) -> UpdateRefused:
        name = P.ERR_NAMES.get(msg.error, f"error {msg.error}")
        return UpdateRefused(f"{self.link.name}: the board refused {what} ({name}): {msg.reason}",
                             msg.error, msg.reason)

    def request(self, cmd: int, args: bytes = b"", timeout: float = ANSWER_S, tries: int = 3,
                what: str = "the command") -> Ack:
        """Send a command and wait for its ACK (resent on silence); UpdateRefused on a NAK."""
        for _ in range(tries):
            msg = self._wait(self.send(cmd, args), timeout)
            if isinstance(msg, Nak):
                raise self._refused(msg, what)
            if isinstance(msg, Ack):
                return msg
        raise LinkError(f"{self.link.name}: no answer to {P.CMD_NAMES.get(cmd, cmd)} "
                        f"within {timeout * tries:.0f} s")

    # -- session ----------------------------------------------------------------------------

    def open(self, wait_s: float = 4.0) -> dict[str, Any]:
        """Start listening and return the board's INFO; a silent port fails within `wait_s`.
        A board left at its REPL (after mpremote) is woken with Ctrl-D once."""
        self.session.open()
        end = time.monotonic() + wait_s
        woken = False
        while time.monotonic() < end:
            msg = self._wait(self.send(P.CMD_UPD_INFO), min(0.8, max(0.05, end - time.monotonic())))
            if isinstance(msg, Ack):
                return json.loads(msg.reply)
            if isinstance(msg, Nak):
                raise BoardError(f"{self.link.name}: the board's firmware has no update support "
                                 f"({msg.reason}); flash it with gaitloop flash")
            if not woken and self.ch.decoder.stats.frames == 0:
                woken = True
                self.link.write(b"\x02\r\x04")  # raw REPL off (Ctrl-B), soft reset (Ctrl-D)
        heard = self.ch.decoder.stats.frames
        raise BoardError(f"{self.link.name}: no gaitloop board answered within {wait_s:.0f} s"
                         + (f" ({heard} frames heard, no update answer)" if heard else ""))

    def info(self) -> dict[str, Any]:
        return json.loads(self.request(P.CMD_UPD_INFO, what="INFO").reply)

    def close(self) -> None:
        self.session.close()

    # -- a transfer -------------------------------------------------------------------------

    def begin(self, manifest: bytes, what: str) -> int:
        """BEGIN; the board answers the offset to continue from (0: a fresh transfer)."""
        ack = self.request(P.CMD_UPD_BEGIN, manifest, what=what)
        return struct.unpack_from("<I", ack.reply)[0]

    def data_frame(self, payload: bytes, off: int, chunk: int = CHUNK) -> bytes:
        data = payload[off:off + chunk]
        return struct.pack("<IH", off, P.crc16(data, 0, len(data))) + data

    def send_data(self, payload: bytes, start: int, what: str, chunk: int = CHUNK,
                  window: int = WINDOW, stop_at: int | None = None,
                  progress: Callable[[int], None] | None = None) -> int:
        """Stream payload[start:] (up to `stop_at`) in a window; return the acknowledged offset."""
        end = len(payload) if stop_at is None else min(stop_at, len(payload))
        acked = next_off = start
        sent: dict[int, tuple[int, int]] = {}  # seq -> (send order, offset)
        order = 0
        rewind_order = 0
        last = time.monotonic()
        stalls = 0
        while acked < end:
            while next_off < end and next_off - acked < window * chunk:
                n = min(chunk, end - next_off)
                seq = self.send(P.CMD_UPD_DATA, self.data_frame(payload, next_off, n))
                sent[seq] = (order, next_off)
                order += 1
                next_off += n
            self.poll(0.02)
            for seq in [s for s in self._replies if s in sent]:
                msg = self._replies.pop(seq)
                o, off = sent.pop(seq)
                if isinstance(msg, Nak):
                    raise self._refused(msg, what)
                expect = struct.unpack_from("<I", msg.reply)[0]
                if expect > acked:
                    acked = expect
                    last = time.monotonic()
                    stalls = 0
                    if progress is not None:
                        progress(acked)
                if expect < off and o >= rewind_order and next_off > expect:
                    next_off = expect  # the board missed a chunk: go back to it
                    rewind_order = order
                    sent = {s: v for s, v in sent.items() if v[0] >= rewind_order}
            if time.monotonic() - last > STALL_S:
                stalls += 1
                if stalls > STALL_RETRIES:
                    raise LinkError(f"{self.link.name}: the board stopped acknowledging at byte "
                                    f"{acked} of {len(payload)}; run the push again to resume")
                next_off = acked
                rewind_order = order
                sent.clear()
                last = time.monotonic()
        return acked

    def end(self, what: str, timeout: float = 20.0) -> dict[str, Any]:
        """END: the board verifies, self-tests and activates; returns its answer."""
        ack = self.request(P.CMD_UPD_END, timeout=timeout, tries=1, what=what)
        return json.loads(ack.reply)

    def push(self, art: Artifact, key: bytes, board_kind: str,
             progress: Callable[[int, int], None] | None = None, chunk: int = CHUNK,
             window: int = WINDOW) -> dict[str, Any]:
        """Send one artifact: BEGIN (resumes if the board holds part of it), DATA, END."""
        what = f"the {art.kind} {art.source}"
        start = self.begin(art.manifest(key, board_kind), what)
        total = len(art.payload)
        if progress is not None:
            progress(start, total)
        acked = self.send_data(art.payload, start, what, chunk, window,
                               progress=(lambda n: progress(n, total)) if progress else None)
        out = self.end(what)
        out.update(bytes=total, resumed_from=start, sent_to=acked)
        return out

    def rollback(self, kind: str, key: bytes) -> dict[str, Any]:
        """Switch `kind` back to the version before the active one (authorised by the key)."""
        info = self.info()
        rec = info.get(kind) or {}
        if not rec.get("sha256"):
            raise BoardError(f"{self.link.name}: no {kind} was pushed to this board")
        code = KINDS[kind]
        tag = M.rollback_tag(key, code, bytes.fromhex(rec["sha256"]))
        ack = self.request(P.CMD_UPD_ROLLBACK, bytes((code,)) + tag, timeout=20.0, tries=1,
                           what=f"the rollback of the {kind}")
        return json.loads(ack.reply)

    def abort(self) -> None:
        self.request(P.CMD_UPD_ABORT, what="ABORT")
