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
END_S = 20.0  # END's answer: verification and the self-test (a model load) on a slow board


class UpdateRefused(BoardError):
    """The board answered an update command with a NAK: `error` code and its reason."""

    def __init__(self, msg: str, error: int, reason: str) -> None:
        super().__init__(msg)
        self.error = error
        self.reason = reason


def reply_offset(msg: Ack) -> int:
    """The u32 offset a BEGIN or DATA ACK carries; BoardError when the reply is malformed."""
    if len(msg.reply) < 4:
        raise BoardError(f"malformed answer to {P.CMD_NAMES.get(msg.cmd, msg.cmd)}: "
                         f"{len(msg.reply)} bytes, no offset")
    return struct.unpack_from("<I", msg.reply)[0]


def reply_json(msg: Ack) -> dict[str, Any]:
    """The JSON object an END, ROLLBACK or INFO ACK carries; BoardError when malformed."""
    try:
        out = json.loads(msg.reply)
    except (ValueError, UnicodeDecodeError):
        out = None
    if not isinstance(out, dict):
        raise BoardError(f"malformed answer to {P.CMD_NAMES.get(msg.cmd, msg.cmd)}: not a JSON object")
    return out


class UpdateClient:
    def __init__(self, link: Link, recorder: Recorder | None = None) -> None:
        self.link = link
        self.session = StreamSession([link], recorder, sinks=[self._sink])
        self.ch: BoardChannel = self.session.channels[0]
        self._replies: dict[int, Ack | Nak] = {}
        self.answer_s = ANSWER_S  # tests over an in-process link shorten both
        self.stall_s = STALL_S
        self.end_s = END_S

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

    def request(self, cmd: int, args: bytes = b"", timeout: float | None = None, tries: int = 3,
                what: str = "the command") -> Ack:
        """Send a command and wait for its ACK (resent on silence); UpdateRefused on a NAK."""
        timeout = self.answer_s if timeout is None else timeout
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
                return reply_json(msg)
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
        return reply_json(self.request(P.CMD_UPD_INFO, what="INFO"))

    def close(self) -> None:
        self.session.close()

    # -- a transfer -------------------------------------------------------------------------

    def begin(self, manifest: bytes, what: str) -> int:
        """BEGIN; the board answers the offset to continue from (0: a fresh transfer)."""
        return reply_offset(self.request(P.CMD_UPD_BEGIN, manifest, what=what))

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
            for seq in [s for s, m in self._replies.items() if m.cmd == P.CMD_UPD_DATA]:
                msg = self._replies.pop(seq)
                entry = sent.pop(seq, None)  # None: a chunk from before a rewind
                if isinstance(msg, Nak):
                    if entry is None:
                        continue
                    raise self._refused(msg, what)
                expect = reply_offset(msg)  # every answer tells how far the board got
                if expect > acked:
                    acked = expect
                    last = time.monotonic()
                    stalls = 0
                    if progress is not None:
                        progress(acked)
                if entry is None:
                    continue
                o, off = entry
                if expect < off and o >= rewind_order and next_off > expect:
                    next_off = expect  # the board missed a chunk: go back to it
                    rewind_order = order
                    sent = {s: v for s, v in sent.items() if v[0] >= rewind_order}
            if time.monotonic() - last > self.stall_s:
                stalls += 1
                if stalls > STALL_RETRIES:
                    raise LinkError(f"{self.link.name}: the board stopped acknowledging at byte "
                                    f"{acked} of {len(payload)}; run the push again to resume")
                next_off = acked
                rewind_order = order
                sent.clear()
                last = time.monotonic()
        return acked

    def end(self, what: str, timeout: float | None = None,
            expect: tuple[str, str, int] | None = None) -> dict[str, Any]:
        """END: the board verifies, self-tests and activates; returns its answer. When the
        answer is lost, INFO tells whether the switch happened (`expect` = kind, sha256 hex,
        version), and END is sent again if the board still waits for it."""
        timeout = self.end_s if timeout is None else timeout
        for _ in range(3):
            msg = self._wait(self.send(P.CMD_UPD_END), timeout)
            if isinstance(msg, Nak):
                raise self._refused(msg, what)
            if isinstance(msg, Ack):
                return reply_json(msg)
            if expect is None:
                break
            info = self.info()
            rec = info.get(expect[0]) or {}
            if rec.get("sha256") == expect[1] and rec.get("version") == expect[2]:
                return {"kind": expect[0], "slot": rec["slot"], "version": rec["version"]}
            if info.get("transfer") is None:
                break
            timeout = self.answer_s
        raise LinkError(f"{self.link.name}: no answer to END for {what}; "
                        "`gaitloop status` shows what the board runs")

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
        out = self.end(what, expect=(art.kind, art.sha256.hex(), art.version))
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
        return reply_json(ack)

    def abort(self) -> None:
        self.request(P.CMD_UPD_ABORT, what="ABORT")
