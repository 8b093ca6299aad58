"""Crash-safe session files (.glsession): an append-only log of COBS records.

Why this format rather than SQLite or Arrow: a recording is the wire stream itself, already
checked frame by frame, so the file reuses the protocol's framing. Each record is COBS-encoded
and ends in 0x00, carries its own CRC-16, and nothing is ever rewritten: after `kill -9` the
file holds every record up to the last flush, and a torn last record fails its CRC and is
dropped on reading; no index or footer can be left half-written. The recorder flushes to the
OS every `flush_s` (0.2 s: enough for kill -9) and fsyncs every `fsync_s` (power loss).

The META record is written twice in a row: one flipped bit in the header leaves a copy, and
without any copy the reader still recovers every intact record (LINK and FRAME records
describe themselves; HELLO frames name the boards) and says what was lost.

File: 8 bytes b"GLSESS1\\n", then records. Record (before COBS): u8 type, u8 link id, f64 host
time (unix s), body, u16 CRC-16/CCITT-FALSE over all of it.
  META (0)  JSON: format, version, created, gaitloop version   (first record)
  LINK (1)  JSON: link id -> port / name                        (once per link)
  FRAME (2) the board's decoded frame, its own CRC included     (every accepted frame)
  STATS (3) JSON: decoder and board counters for the link       (periodically and at close)
"""

from __future__ import annotations

import binascii
import json
import os
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gaitfw import protocol as P
from gaitloop import __version__
from gaitloop.decoder import BoardState, cobs_decode
from gaitloop.errors import RecordingError
from gaitloop.inputs import check_input_file
from gaitloop.messages import Event, Frame, Hello, Samples, Status, frame_from_decoded
from gaitloop.outpaths import check_file_target, write_atomic, write_with
from gaitloop.timeline import RecordedClock

MAGIC = b"GLSESS1\n"
REC_META, REC_LINK, REC_FRAME, REC_STATS = 0, 1, 2, 3
_REC_HEAD = struct.Struct("<BBd")


def _encode_record(rtype: int, link: int, t: float, body: bytes) -> bytes:
    raw = _REC_HEAD.pack(rtype, link, t) + body
    raw += struct.pack("<H", binascii.crc_hqx(raw, 0xFFFF))
    w = bytearray(len(raw) + len(raw) // 254 + 2)
    n = P.cobs_encode_into(raw, len(raw), w)
    return bytes(w[:n])


def check_record_target(path: str | Path, overwrite: bool = False) -> Path:
    """Where a new recording may go, or a one-line error (before any board is touched).

    A recording is written in place (that is what makes it crash-safe), so an existing file
    is refused rather than truncated: it may be an earlier session.
    """
    target = check_file_target(path)
    if target.exists() and not overwrite:
        raise RecordingError(f"{target}: already exists; recordings are never overwritten "
                             "(choose another name or remove it)")
    return target


class Recorder:
    """Append records; flush every flush_s, fsync every fsync_s, and both on close."""

    def __init__(self, path: str | Path, meta: dict[str, Any] | None = None,
                 flush_s: float = 0.2, fsync_s: float = 2.0, overwrite: bool = False) -> None:
        self.path = check_record_target(path, overwrite)
        try:
            self._f = open(self.path, "wb")
        except OSError as exc:
            raise RecordingError(f"{self.path}: cannot create ({exc.strerror})") from None
        self._f.write(MAGIC)
        self.flush_s, self.fsync_s = flush_s, fsync_s
        self._last_flush = self._last_fsync = time.monotonic()
        self.records = 0
        head = {"format": "gaitloop-session", "version": 1, "created": time.time(),
                "gaitloop": __version__}
        head.update(meta or {})
        for _copy in range(2):  # a redundant header: see the module docstring
            self._write(REC_META, 0, json.dumps(head).encode())
        self.flush(sync=True)

    def _write(self, rtype: int, link: int, body: bytes, t: float | None = None) -> None:
        self._f.write(_encode_record(rtype, link, time.time() if t is None else t, body))
        self.records += 1

    def add_link(self, link: int, info: dict[str, Any]) -> None:
        self._write(REC_LINK, link, json.dumps(info).encode())

    def add_frame(self, link: int, frame: Frame, t: float | None = None) -> None:
        self._write(REC_FRAME, link, frame.raw, t)
        self.tick()

    def add_stats(self, link: int, stats: dict[str, Any]) -> None:
        self._write(REC_STATS, link, json.dumps(stats).encode())

    def tick(self) -> None:
        now = time.monotonic()
        if now - self._last_flush >= self.flush_s:
            self.flush(sync=now - self._last_fsync >= self.fsync_s)

    def flush(self, sync: bool = False) -> None:
        self._f.flush()
        self._last_flush = time.monotonic()
        if sync:
            os.fsync(self._f.fileno())
            self._last_fsync = self._last_flush

    def close(self) -> None:
        if not self._f.closed:
            self.flush(sync=True)
            self._f.close()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class LinkRecord:
    """Everything recorded for one link (one board)."""

    link: int
    info: dict[str, Any] = field(default_factory=dict)
    frames: list[tuple[float, Frame]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    state: BoardState = field(default_factory=BoardState)

    @property
    def hello(self) -> Hello | None:
        return self.state.hello

    @property
    def name(self) -> str:
        h = self.hello
        return h.device if h else f"link{self.link}"


@dataclass
class Recording:
    path: Path
    meta: dict[str, Any]
    links: dict[int, LinkRecord]
    corrupt_records: int
    truncated_tail: bool
    #: what reading had to give up or repair, one sentence each (empty for a clean file)
    notes: list[str] = field(default_factory=list)

    def samples(self, link: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(t_ms, seq, sample index, counts[n, channels]) of every recorded sample, in order."""
        rec = self.links[link]
        h = rec.hello
        rate = h.rate if h else 100
        ts, seqs, idxs, blocks = [], [], [], []
        for _, fr in rec.frames:
            if fr.kind != P.MSG_SAMPLES:
                continue
            from gaitloop.messages import decode_payload

            msg = decode_payload(fr)
            assert isinstance(msg, Samples)
            n = len(msg.counts)
            k = np.arange(n)
            ts.append(fr.t_ms + np.rint(k * 1000.0 / rate).astype(np.int64))
            seqs.append(np.full(n, fr.seq, dtype=np.int64))
            idxs.append(msg.first_index + k)
            blocks.append(msg.counts)
        if not blocks:
            nch = len(h.channels) if h else 0
            e = np.zeros(0, dtype=np.int64)
            return e, e, e, np.zeros((0, nch), dtype=np.int16)
        return np.concatenate(ts), np.concatenate(seqs), np.concatenate(idxs), np.vstack(blocks)

    def events(self, link: int) -> list[tuple[int, int, Event]]:
        """(t_ms, seq, event) in order."""
        from gaitloop.messages import decode_payload

        out = []
        for _, fr in self.links[link].frames:
            if fr.kind == P.MSG_EVENT:
                msg = decode_payload(fr)
                assert isinstance(msg, Event)
                out.append((fr.t_ms, fr.seq, msg))
        return out

    def statuses(self, link: int) -> list[tuple[int, Status]]:
        from gaitloop.messages import decode_payload

        return [(fr.t_ms, decode_payload(fr)) for _, fr in self.links[link].frames
                if fr.kind == P.MSG_STATUS]


def _iter_records(data: bytes) -> Iterator[tuple[int, int, float, bytes] | None]:
    """Records in order; None for one that fails COBS or CRC."""
    pos = len(MAGIC)
    while pos < len(data):
        end = data.find(b"\x00", pos)
        if end < 0:
            return  # torn tail, reported by the caller
        block = data[pos:end]
        pos = end + 1
        if not block:
            continue
        raw = cobs_decode(block)
        if raw is None or len(raw) < _REC_HEAD.size + 2:
            yield None
            continue
        if binascii.crc_hqx(raw[:-2], 0xFFFF) != struct.unpack_from("<H", raw, len(raw) - 2)[0]:
            yield None
            continue
        rtype, link, t = _REC_HEAD.unpack_from(raw)
        yield rtype, link, t, raw[_REC_HEAD.size : -2]


def read_recording(path: str | Path) -> Recording:
    """Open a session file, also one whose recorder was killed: read up to the last whole record."""
    path = check_input_file(path, "session file", error=RecordingError)
    data = path.read_bytes()
    notes: list[str] = []
    if not data.startswith(MAGIC):
        head = data[: len(MAGIC)]
        flips = sum(bin(a ^ b).count("1") for a, b in zip(head, MAGIC, strict=False))
        if len(head) < len(MAGIC) or flips > 2:
            raise RecordingError(f"{path}: not a gaitloop session file")
        notes.append(f"file signature damaged ({flips} bit(s)); read anyway")
    meta: dict[str, Any] = {}
    links: dict[int, LinkRecord] = {}
    corrupt = 0
    for rec in _iter_records(data):
        if rec is None:
            corrupt += 1
            continue
        rtype, link, t, body = rec
        if rtype == REC_META:
            try:
                m = json.loads(body)
            except ValueError:
                corrupt += 1
                continue
            if not meta and isinstance(m, dict):
                meta = m
            continue
        lr = links.setdefault(link, LinkRecord(link))
        if rtype in (REC_LINK, REC_STATS):
            try:
                obj = json.loads(body)
            except ValueError:
                corrupt += 1
                continue
            if rtype == REC_LINK:
                lr.info = obj
            else:
                lr.stats = obj
        elif rtype == REC_FRAME:
            fr = frame_from_decoded(body)
            if isinstance(fr, int):
                corrupt += 1
                continue
            lr.frames.append((t, fr))
            lr.state.update(fr)
    truncated = not data.endswith(b"\x00") and len(data) > len(MAGIC)
    if not meta:
        if not any(lr.frames for lr in links.values()):
            raise RecordingError(f"{path}: session header missing or corrupt, and no intact "
                                 "board frame to recover")
        notes.append("session header lost (creation time and command-line details unknown); "
                     "boards and samples recovered from the intact records")
    if corrupt:
        notes.append(f"{corrupt} corrupt record(s) skipped")
    return Recording(path, meta, links, corrupt, truncated, notes)


def info(rec: Recording) -> dict[str, Any]:
    """Summary of a recording: duration, boards, samples, gaps, losses."""
    from gaitloop.update.timeline import artifact_timeline

    boards = []
    for lr in rec.links.values():
        st = lr.state
        h = st.hello
        t0 = lr.frames[0][0] if lr.frames else 0.0
        t1 = lr.frames[-1][0] if lr.frames else 0.0
        board_s = ((st.last_t_ms or 0) - (st.first_t_ms or 0)) / 1000.0 if st.samples else 0.0
        boards.append({
            "link": lr.link,
            "port": lr.info.get("port"),
            "device": h.device if h else None,
            "kind": h.kind if h else None,
            "side": h.side if h else None,
            "rate_hz": h.rate if h else None,
            "channels": list(h.channels) if h else [],
            "frames": st.frames,
            "samples": st.samples,
            "events": st.events,
            # the board clock's span (breaks across a reset) and what the samples cover (samples
            # over rate: the recording's length as the board sampled it, resets or not)
            "board_seconds": round(board_s + (1.0 / h.rate if h and st.samples else 0.0), 3),
            "sample_seconds": round(st.samples / h.rate, 3) if h and h.rate else 0.0,
            "host_seconds": round(t1 - t0, 3),
            "seq_gaps": st.seq_gaps,
            "sample_gaps": st.sample_gaps,
            "resets": st.resets,
            "crc_errors": lr.stats.get("crc_errors", 0),
            "bad_frames": lr.stats.get("bad_frames", 0),
            "artifacts": artifact_timeline(rec, lr.link),  # which model etc. ran when
        })
    all_t = [t for lr in rec.links.values() for t, _ in lr.frames]
    return {
        "file": str(rec.path),
        "created": rec.meta.get("created"),
        "duration_s": round(max(all_t) - min(all_t), 3) if all_t else 0.0,
        "boards": boards,
        "corrupt_records": rec.corrupt_records,
        "truncated_tail": rec.truncated_tail,
        "notes": list(rec.notes),
    }


def recorded_clock(rec: Recording, link: int) -> RecordedClock:
    """The board's mapping onto the host timeline, recomputed from the recorded receive times."""
    lr = rec.links[link]
    return RecordedClock(lr.frames, lr.hello.rate if lr.hello else 100, float(lr.info.get("latency_floor_s", 0.0)))


def aligned_sample_times(rec: Recording, link: int) -> np.ndarray:
    """Host time (unix s, the one timeline of all boards) of every sample of `samples()`."""
    clock = recorded_clock(rec, link)
    rate = rec.links[link].hello.rate if rec.links[link].hello else 100
    out: list[np.ndarray] = []
    for pos, (_, fr) in enumerate(rec.links[link].frames):
        if fr.kind == P.MSG_SAMPLES:
            n = fr.payload[5] if len(fr.payload) > 5 else 0  # u32 first index, u8 channels, u8 n
            board_s = (fr.t_ms + np.rint(np.arange(n) * 1000.0 / rate)) / 1000.0
            out.append(np.array([clock.to_host(pos, b) for b in board_s]))
    return np.concatenate(out) if out else np.zeros(0)


def aligned_event_times(rec: Recording, link: int, clock: RecordedClock | None = None) -> list[float]:
    """Host time of every event of `events()`, in the same order."""
    clock = clock or recorded_clock(rec, link)
    return [clock.to_host(pos, fr.t_ms / 1000.0)
            for pos, (_, fr) in enumerate(rec.links[link].frames) if fr.kind == P.MSG_EVENT]


def sample_table(rec: Recording, link: int) -> dict[str, np.ndarray]:
    """Columns for export: t_ms, seq, index and each channel in physical units."""
    t, seq, idx, counts = rec.samples(link)
    h = rec.links[link].hello
    if h is None:
        raise RecordingError(f"link {link}: no HELLO recorded, channel names unknown")
    cols: dict[str, np.ndarray] = {"t_ms": t, "t_host": aligned_sample_times(rec, link), "seq": seq,
                                   "index": idx}
    for c, (name, scale) in enumerate(zip(h.channels, h.scale, strict=True)):
        cols[name] = np.round(counts[:, c].astype(np.float64) * scale, 6)
    return cols


def export(rec: Recording, csv: Path | None = None, parquet: Path | None = None,
           events_csv: Path | None = None) -> list[Path]:
    """Write one file per board (suffix _<device> when there are several); return the paths."""
    import pyarrow as pa

    written: list[Path] = []
    links = [lr for lr in rec.links.values() if lr.hello is not None]
    if not links:
        raise RecordingError(f"{rec.path}: no board announced itself (no HELLO recorded)")

    def target(base: Path, lr: LinkRecord) -> Path:
        if len(links) == 1:
            return base
        return base.with_name(f"{base.stem}_{lr.name}{base.suffix}")

    # every target is checked before anything is written, so a bad third path does not
    # leave the first two written; each file goes to a temporary file renamed on success
    for base in (csv, parquet, events_csv):
        if base is not None:
            for lr in links:
                check_file_target(target(Path(base), lr))
    for lr in links:
        table = pa.table(sample_table(rec, lr.link))
        if csv is not None:
            import pyarrow.csv as pacsv

            out = write_with(target(Path(csv), lr), lambda tmp, t=table: pacsv.write_csv(t, str(tmp)))
            written.append(out)
        if parquet is not None:
            import pyarrow.parquet as pq

            out = write_with(target(Path(parquet), lr), lambda tmp, t=table: pq.write_table(t, str(tmp)))
            written.append(out)
        if events_csv is not None:
            lines = ["t_ms,t_host,seq,code,event,side,a,b,fields\n"]
            rows = rec.events(lr.link)
            for (t, s, e), th in zip(rows, aligned_event_times(rec, lr.link), strict=True):
                fields = ";".join(f"{k}={v}" for k, v in e.fields().items())
                lines.append(f"{t},{th:.6f},{s},{e.code},{e.name},{e.side},{e.a},{e.b},{fields}\n")
            written.append(write_atomic(target(Path(events_csv), lr), "".join(lines)))
    return written
