"""Typed host-side views of protocol messages, decoded from validated frames.

The byte layouts live in the firmware's `gaitfw.protocol` (one module for both sides); this
module only turns payload bytes into dataclasses and builds host -> board commands.
"""

from __future__ import annotations

import binascii
import json
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gaitfw import events as ev
from gaitfw import protocol as P


class PayloadError(ValueError):
    """A frame passed its CRC but its payload does not fit its message type."""


@dataclass(frozen=True)
class Frame:
    kind: int
    seq: int
    t_ms: int
    payload: bytes
    raw: bytes  # the decoded frame, CRC included: what the recorder stores

    @property
    def kind_name(self) -> str:
        return P.MSG_NAMES.get(self.kind, f"type_{self.kind}")


@dataclass(frozen=True)
class Hello:
    device: str
    kind: str
    side: str
    fw: str
    proto: int
    rate: int
    channels: tuple[str, ...]
    units: tuple[str, ...]
    scale: tuple[float, ...]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Samples:
    first_index: int
    counts: np.ndarray  # int16 (n_samples, n_channels)


@dataclass(frozen=True)
class Event:
    code: int
    side: int
    a: int
    b: int

    @property
    def name(self) -> str:
        return ev.name(self.code)

    def fields(self) -> dict[str, int]:
        entry = ev.NAMES.get(self.code)
        if entry is None:
            return {"a": self.a, "b": self.b}
        return {entry[1]: self.a, entry[2]: self.b}


@dataclass(frozen=True)
class Status:
    flags: int
    samples_sent: int
    events_dropped: int
    tx_dropped: int
    mem_free: int
    mem_alloc: int
    # timing and power (STATUS bytes 20-27; None from boards before them)
    power: int | None = None  # protocol.POWER_*
    wake_reason: int | None = None  # protocol.WAKE_*: why the board last woke
    rate_hz: int | None = None  # sample rate now: the idle rate while idle
    overruns: int | None = None  # samples taken a period or more late, plus ticks skipped

    @property
    def power_name(self) -> str:
        if self.power is None:
            return "unknown"
        return POWER_NAMES[self.power] if self.power < len(POWER_NAMES) else f"power_{self.power}"


@dataclass(frozen=True)
class Ack:
    cmd_seq: int
    cmd: int
    reply: bytes


@dataclass(frozen=True)
class Nak:
    cmd_seq: int
    cmd: int
    error: int
    reason: str


Message = Hello | Samples | Event | Status | Ack | Nak | bytes

_STATUS = struct.Struct("<IIHHII")
#: STATUS power state and wake reason names (protocol.POWER_*, WAKE_*)
POWER_NAMES = ("active", "idle")
WAKE_NAMES = ("none", "motion", "connection", "command")
_STATUS_POWER = struct.Struct("<BBHI")
_EVENT = struct.Struct("<BBii")


def frame_from_decoded(raw: bytes) -> Frame | int:
    """Validate a COBS-decoded frame (CRC computed in C); Frame or a protocol.BAD_* code."""
    n = len(raw)
    if n < P.HEADER_LEN + P.CRC_LEN:
        return P.BAD_LENGTH
    end = n - P.CRC_LEN
    if binascii.crc_hqx(raw[:end], 0xFFFF) != raw[end] | (raw[end + 1] << 8):
        return P.BAD_CRC
    if raw[0] != P.MAGIC:
        return P.BAD_MAGIC
    if raw[1] != P.VERSION:
        return P.BAD_VERSION
    seq, t_ms = struct.unpack_from("<HI", raw, 3)
    return Frame(raw[2], seq, t_ms, bytes(raw[P.HEADER_LEN : end]), bytes(raw))


def decode_payload(frame: Frame) -> Message:
    """The typed message of a frame; PayloadError when the payload is malformed."""
    p = frame.payload
    k = frame.kind
    try:
        if k == P.MSG_SAMPLES:
            if len(p) < P.SAMPLES_HEADER:
                raise PayloadError("short SAMPLES header")
            first, nch, ns = struct.unpack_from("<IBB", p)
            if nch == 0 or len(p) != P.SAMPLES_HEADER + 2 * nch * ns:
                raise PayloadError(f"SAMPLES length {len(p)} does not match {ns} x {nch}")
            counts = np.frombuffer(p, dtype="<i2", offset=P.SAMPLES_HEADER).reshape(ns, nch)
            return Samples(first, counts.astype(np.int16))
        if k == P.MSG_EVENT:
            if len(p) != P.EVENT_LEN:
                raise PayloadError(f"EVENT length {len(p)}")
            return Event(*_EVENT.unpack(p))
        if k == P.MSG_STATUS:
            if len(p) == P.STATUS_BASE_LEN:
                return Status(*_STATUS.unpack(p))
            if len(p) != P.STATUS_LEN:
                raise PayloadError(f"STATUS length {len(p)}")
            return Status(*_STATUS.unpack_from(p), *_STATUS_POWER.unpack_from(p, P.STATUS_BASE_LEN))
        if k == P.MSG_HELLO:
            d = json.loads(p.decode())
            known = {"device", "kind", "side", "fw", "proto", "rate", "channels", "units", "scale"}
            if not known <= d.keys():
                raise PayloadError(f"HELLO lacks {sorted(known - d.keys())}")
            if not (len(d["channels"]) == len(d["units"]) == len(d["scale"])):
                raise PayloadError("HELLO channel lists differ in length")
            return Hello(
                device=str(d["device"]),
                kind=str(d["kind"]),
                side=str(d["side"]),
                fw=str(d["fw"]),
                proto=int(d["proto"]),
                rate=int(d["rate"]),
                channels=tuple(map(str, d["channels"])),
                units=tuple(map(str, d["units"])),
                scale=tuple(float(x) for x in d["scale"]),
                extra={key: v for key, v in d.items() if key not in known},
            )
        if k == P.MSG_ACK:
            if len(p) < 3:
                raise PayloadError("short ACK")
            return Ack(p[0] | p[1] << 8, p[2], bytes(p[3:]))
        if k == P.MSG_NAK:
            if len(p) < 4:
                raise PayloadError("short NAK")
            return Nak(p[0] | p[1] << 8, p[2], p[3], p[4:].decode(errors="replace"))
    except (ValueError, UnicodeDecodeError, KeyError, TypeError) as exc:
        if isinstance(exc, PayloadError):
            raise
        raise PayloadError(f"{P.MSG_NAMES.get(k, k)}: {exc}") from None
    return bytes(p)


class CommandEncoder:
    """Host -> board command frames (COBS, leading and trailing 0x00 for resync)."""

    def __init__(self) -> None:
        self._writer = P.FrameWriter(max_payload=P.MAX_PAYLOAD)

    @property
    def next_seq(self) -> int:
        return self._writer.seq

    def encode(self, cmd: int, args: bytes = b"", t_ms: int = 0) -> bytes:
        n = self._writer.frame(P.MSG_CMD, t_ms, bytes([cmd]) + args)
        return b"\x00" + bytes(self._writer.enc[:n])
