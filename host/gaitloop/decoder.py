"""Byte stream -> validated frames -> per-board state, counting every loss.

Why two layers: `StreamDecoder` knows only bytes and frames (COBS + CRC), so it can never
accept garbage; `BoardState` knows the board (HELLO, sequence numbers, sample indices) and
turns losses into gap counts instead of silently merging data across them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from gaitfw import events as ev
from gaitfw import protocol as P
from gaitloop.messages import (
    Event,
    Frame,
    Hello,
    Message,
    PayloadError,
    Samples,
    Status,
    decode_payload,
    frame_from_decoded,
)


def cobs_decode(block: bytes) -> bytes | None:
    """COBS-decode one block (no delimiter) with the firmware's own decoder."""
    dst = bytearray(len(block))
    n = P.cobs_decode_into(block, len(block), dst)
    return None if n < 0 else bytes(dst[:n])


@dataclass
class DecoderStats:
    frames: int = 0
    crc_errors: int = 0
    bad_frames: int = 0  # COBS invalid, too short, wrong magic/version, malformed payload
    skipped_bytes: int = 0  # bytes before the first delimiter (joined mid-stream)
    incomplete: int = 0  # a frame cut off when the stream ended (see finish())
    bytes_in: int = 0


class StreamDecoder:
    """Feed bytes as they come; get back only frames that pass COBS, CRC and header checks."""

    def __init__(self, max_frame: int = P.MAX_ENCODED) -> None:
        self.stats = DecoderStats()
        self._buf = bytearray()
        self._synced = False
        # console text from the board (a traceback, a REPL banner), kept for the user to see
        self.text: deque[str] = deque(maxlen=50)
        self._max = max_frame

    def feed(self, data: bytes) -> list[Frame]:
        self.stats.bytes_in += len(data)
        self._buf += data
        out: list[Frame] = []
        while True:
            i = self._buf.find(0)
            if i < 0:
                if len(self._buf) > self._max:  # no delimiter for too long: garbage
                    self._drop_leftover()
                    self._synced = False
                break
            block = bytes(self._buf[:i])
            del self._buf[: i + 1]
            if not self._synced:
                self._synced = True
                self.stats.skipped_bytes += len(block)
                self._keep_text(block)
                continue
            if not block:
                continue
            self._take(block, out)
        return out

    def finish(self) -> None:
        """The stream ended: bytes left in the buffer are counted, not kept.

        Every byte fed ends up in a frame or in a counter: after a delimiter the leftover is
        a cut-off frame (`incomplete`); before any delimiter was seen (joined mid-stream, or
        the delimiters themselves were damaged) it is `skipped_bytes`.
        """
        if self._synced:
            if self._buf:
                self.stats.incomplete += 1
            self._buf.clear()
        else:
            self._drop_leftover()

    def _drop_leftover(self) -> None:
        """Discard the undelimited buffer, counting it where a reader will look for it."""
        if not self._buf:
            return
        if self._synced:
            self.stats.bad_frames += 1
        else:
            self.stats.skipped_bytes += len(self._buf)
            self._keep_text(bytes(self._buf))
        self._buf.clear()

    def _take(self, block: bytes, out: list[Frame]) -> None:
        raw = cobs_decode(block)
        if raw is None:
            self.stats.bad_frames += 1
            self._keep_text(block)
            return
        frame = frame_from_decoded(raw)
        if isinstance(frame, int):
            self._keep_text(block)
            if frame == P.BAD_CRC:
                self.stats.crc_errors += 1
            else:
                self.stats.bad_frames += 1
            return
        self.stats.frames += 1
        out.append(frame)

    def _keep_text(self, block: bytes) -> None:
        """Keep lines of a block that is mostly printable text (what a board printed)."""
        if len(block) < 8:
            return
        printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in block)
        if printable / len(block) < 0.95:
            return
        for line in block.decode("ascii", "replace").splitlines():
            if line.strip():
                self.text.append(line.rstrip())


@dataclass
class BoardState:
    """What the host knows of one board, updated frame by frame."""

    hello: Hello | None = None
    last_seq: int | None = None
    frames: int = 0
    seq_gaps: int = 0  # frames missing by sequence number
    sample_gaps: int = 0  # samples missing by sample index
    idle_samples: int = 0  # sample indices skipped while the board idled (STATUS power), not lost
    samples: int = 0
    resets: int = 0
    bad_payloads: int = 0
    next_index: int | None = None
    latest: np.ndarray | None = None
    last_status: Status | None = None
    events: int = 0
    recent_events: deque = field(default_factory=lambda: deque(maxlen=8))
    first_t_ms: int | None = None
    last_t_ms: int | None = None
    _idled: bool = False

    @property
    def label(self) -> str:
        if self.hello is None:
            return "?"
        return f"{self.hello.device} ({self.hello.kind}, {self.hello.side})"

    def update(self, frame: Frame) -> Message | None:
        """Account for a frame; return its message, or None when its payload is malformed."""
        try:
            msg = decode_payload(frame)
        except PayloadError:
            self.bad_payloads += 1
            return None
        if isinstance(msg, Event) and msg.code == ev.EV_BOOT:
            self.resets += 1 if self.frames else 0
            self.last_seq = None
            self.next_index = None
        if self.last_seq is not None:
            missing = (frame.seq - self.last_seq - 1) & 0xFFFF
            if missing and missing < 0x8000:
                self.seq_gaps += missing
        self.last_seq = frame.seq
        self.frames += 1
        if isinstance(msg, Hello):
            self.hello = msg
        elif isinstance(msg, Samples):
            n = len(msg.counts)
            if self.next_index is not None and msg.first_index != self.next_index:
                if msg.first_index > self.next_index and self._idled:
                    self.idle_samples += msg.first_index - self.next_index
                elif msg.first_index > self.next_index:
                    self.sample_gaps += msg.first_index - self.next_index
                else:  # index went back: the board restarted without us seeing BOOT
                    self.resets += 1
            self.next_index = msg.first_index + n
            self._idled = False
            self.samples += n
            if n:
                self.latest = msg.counts[-1]
            if self.first_t_ms is None:
                self.first_t_ms = frame.t_ms
            self.last_t_ms = frame.t_ms
        elif isinstance(msg, Event):
            self.events += 1
            self.recent_events.append((frame.t_ms, msg))
        elif isinstance(msg, Status):
            self.last_status = msg
            if msg.power == P.POWER_IDLE:
                self._idled = True  # the next jump in the sample index is the idle span
        return msg

    def latest_values(self) -> dict[str, float]:
        if self.hello is None or self.latest is None:
            return {}
        return {
            name: float(c) * s
            for name, c, s in zip(self.hello.channels, self.latest, self.hello.scale, strict=False)
        }
