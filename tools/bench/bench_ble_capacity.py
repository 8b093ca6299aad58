"""BLE capacity arithmetic for the full set of boards (two insoles + knee sleeve) on one link.

What the boards send comes from the firmware itself: `gaitfw.app.App` runs under CPython on
the shipped walks (gaitpdb for the insoles, the CMU mocap walk for the knee sleeve) with its
processors, writing into a sink instead of a UART; every write is one COBS frame with its
0x00 delimiter, exactly the bytes a link carries. The radio side is computed from the
Bluetooth Core Specification (v5.4), because the virtual link has no radio timing:

- LE 1M PHY: 1 Mbit/s, 8 us per byte (Vol 6, Part A, 3).
- LL data PDU on air (Vol 6, Part B, 2.1 and 2.4): preamble 1 B, access address 4 B,
  header 2 B, payload 0-251 B (data length extension: connMaxTxOctets 251), MIC 4 B on an
  encrypted link with a non-empty payload, CRC 3 B. An empty PDU is 10 B = 80 us.
- T_IFS = 150 us between packets (Vol 6, Part B, 4.1.1); a connection event is a series of
  central -> peripheral / peripheral -> central exchanges and closes before the next anchor
  (4.5.1); the central polls with an empty PDU when it has nothing to send.
- A notification: ATT opcode 1 B + handle 2 B + value (Vol 3, Part F, 3.4.7.1) in an L2CAP
  basic frame (4 B header, Vol 3, Part A, 3.1). ATT_MTU 247 -> value <= 244 B, and 4 + 3 +
  244 = 251 B: one notification fills one LL PDU exactly.

So one full exchange (empty poll + full notification) takes 80 + 150 + (1+4+2+251+4+3) x 8
+ 150 = 2500 us, and an idle event (empty poll + empty reply) 460 us. One connection carries
at most floor(interval / 2.5 ms) full notifications per event (3 / 6 / 12 at 7.5 / 15 / 30
ms, i.e. 400 per second at any of these intervals, 97.6 kB/s of values) if the controller
lets the event run to the next anchor; many centrals cap events shorter, so the table also
shows a cap of 4 packets per event.

How frames become notifications (the BLE link's choice, not fixed by the protocol):
- `stream`: each connection event sends the bytes queued since the previous one, cut into
  <= 244 B notifications (frames may straddle two; the COBS delimiters re-frame them).
  Latency one interval; this is what the table's "notif/s" uses.
- `packed`: notifications always full (the floor for any packing).

Delta encoding is measured, not shipped: zigzag LEB128 of per-channel first differences in
a SAMPLES block (first row absolute), on the same replays.

Run: .venv/bin/python tools/bench/bench_ble_capacity.py [--seconds 120]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "firmware"))

from gaitfw import app as A  # noqa: E402
from gaitfw import protocol as P  # noqa: E402
from gaitfw.hal import ReplayHal  # noqa: E402
from gaitloop.sim.replayfile import write_replay  # noqa: E402
from gaitloop.sim.sources import make_replay  # noqa: E402

WALK = ROOT / "data" / "gaitpdb" / "GaCo01_01.txt"
KNEE_WALK = ROOT / "data" / "mocap" / "cmu" / "35_01.amc"

# Bluetooth Core timing (see the module docstring)
US_PER_BYTE = 8.0
T_IFS = 150.0
LL_OVERHEAD = 1 + 4 + 2 + 4 + 3  # preamble, access address, header, MIC, CRC
EMPTY_PDU_US = (1 + 4 + 2 + 3) * US_PER_BYTE  # no MIC on an empty PDU
L2CAP_ATT = 4 + 3
ATT_MTU = 247
VALUE_MAX = ATT_MTU - 3  # 244
IDLE_EVENT_US = EMPTY_PDU_US + T_IFS + EMPTY_PDU_US + T_IFS


def notif_exchange_us(value: int) -> float:
    """Air time of one central poll + one notification of `value` bytes, with the two T_IFS."""
    return EMPTY_PDU_US + T_IFS + (LL_OVERHEAD + L2CAP_ATT + value) * US_PER_BYTE + T_IFS


FULL_EXCHANGE_US = notif_exchange_us(VALUE_MAX)


@dataclass
class Stream:
    name: str
    rate: int
    nch: int
    seconds: float
    writes: list[tuple[int, int, int]]  # (board ms, message type, wire bytes incl. delimiter)
    counts: np.ndarray  # the replayed sample counts (for delta encoding)
    batch_n: int  # samples per SAMPLES frame, as the App batches them

    def per_second(self, kind: int | None = None) -> tuple[float, float]:
        sel = [n for _, k, n in self.writes if kind is None or k == kind]
        return len(sel) / self.seconds, sum(sel) / self.seconds


class _Sink:
    def __init__(self, app_ref: list) -> None:
        self.app_ref = app_ref
        self.writes: list[tuple[int, int, int]] = []

    def write(self, buf, off, n):  # the board's stream.write(buf, off, n): one frame
        dec = bytearray(n)
        m = P.cobs_decode_into(bytes(buf[off:off + n - 1]), n - 1, dec)
        kind = dec[2] if m > 3 else 0
        self.writes.append((self.app_ref[0].t_ms, kind, n))


def board_stream(board: str, side: str, data: Path, seconds: int, tmp: Path, cfg: dict) -> Stream:
    """The frames a board sends for `seconds` of walking: the firmware App under CPython."""
    replay = make_replay(board, side, data, limp=cfg.pop("_limp", 0.0))
    rp = tmp / f"{board}-{side}.glrp"
    write_replay(replay, rp)
    mod = A.board_module(board)
    ref: list = [None]
    sink = _Sink(ref)
    app = A.App(mod, dict(cfg, side=side), ReplayHal(str(rp), len(mod.CHANNELS), True), sink)
    ref[0] = app
    app._next_status, app._next_hello = 1000, 5000
    app.send_hello()
    n = seconds * mod.RATE_HZ
    for _ in range(n):
        app.step()
    reps = math.ceil(n / len(replay.counts))
    counts = np.vstack([replay.counts] * reps)[:n]
    return Stream(f"{board} {side}", mod.RATE_HZ, len(mod.CHANNELS), float(seconds), sink.writes, counts,
                  app.batch_n)


def notifications(stream: Stream, interval_ms: float) -> tuple[list[int], int, int]:
    """`stream` packing: per connection event, the bytes queued since the last one, cut into
    <= 244 B values. Returns (value sizes, events that carried data, most in one event)."""
    values: list[int] = []
    busy = most = 0
    queued = 0
    event_t = interval_ms

    def send() -> None:
        nonlocal queued, busy, most
        k = 0
        while queued > 0:
            values.append(min(queued, VALUE_MAX))
            queued -= VALUE_MAX
            k += 1
        queued = 0
        busy += k > 0
        most = max(most, k)

    for t, _, n in stream.writes:
        while t >= event_t:  # events before this write send what was queued
            send()
            event_t += interval_ms
        queued += n
    send()
    return values, busy, most


def zigzag_leb128_len(v: int) -> int:
    z = (v << 1) ^ (v >> 31)
    z &= 0xFFFFFFFF
    n = 1
    while z >= 0x80:
        z >>= 7
        n += 1
    return n


def delta_block_bytes(block: np.ndarray) -> int:
    """Bytes of one SAMPLES block with per-channel first differences, zigzag LEB128
    (first row absolute, also varint)."""
    d = np.diff(block.astype(np.int32), axis=0, prepend=np.zeros((1, block.shape[1]), np.int32))
    d[0] = block[0]
    return int(sum(zigzag_leb128_len(int(v)) for v in d.ravel()))


def cobs_len(raw_len: int) -> int:
    return raw_len + raw_len // 254 + 1 + 1  # overhead byte(s) + delimiter


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=120)
    args = ap.parse_args()
    csm = str(ROOT / "models" / "csm_default.json")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        streams = [
            board_stream("insole", "left", WALK, args.seconds, tmp, {"csm_templates": csm}),
            board_stream("insole", "right", WALK, args.seconds, tmp, {"csm_templates": csm}),
            board_stream("knee", "left", KNEE_WALK, args.seconds, tmp, {"_limp": 0.3}),
        ]

    print(f"## What the boards send ({args.seconds} s of walking each, firmware App under CPython)\n")
    print("| board | SAMPLES frame (wire B) | samples/frame | header+CRC+COBS share | frames/s (all) "
          "| events/s | B/s (all) | B per sample (all traffic) |")
    print("|---|---|---|---|---|---|---|---|")
    total_bps = 0.0
    for s in streams:
        sizes = [n for _, k, n in s.writes if k == P.MSG_SAMPLES]
        frame = max(set(sizes), key=sizes.count)
        per = s.batch_n
        sample_bytes = per * s.nch * 2
        fps, bps = s.per_second()
        eps, _ = s.per_second(P.MSG_EVENT)
        total_bps += bps
        print(f"| {s.name} | {frame} | {per} | {100 * (frame - sample_bytes) / frame:.1f} % | {fps:.2f} | "
              f"{eps:.2f} | {bps:.0f} | {bps / s.rate:.2f} |")
    print(f"\nAll three boards: {total_bps:.0f} B/s of frames.\n")

    print("## Against one connection (LE 1M PHY, DLE 251, ATT_MTU 247, encrypted link)\n")
    print(f"Full exchange {FULL_EXCHANGE_US:.0f} us, idle event {IDLE_EVENT_US:.0f} us, "
          f"value <= {VALUE_MAX} B per notification.\n")
    print("| interval | max notif/event (to next anchor) | capacity notif/s | notif/s needed (stream packing) "
          "| samples/notif (insole, knee) | most notif in one event | air time used (3 connections) "
          "| share of one connection's capacity | with a 4-packet cap |")
    print("|---|---|---|---|---|---|---|---|---|")
    for iv in (7.5, 15.0, 30.0):
        per_event = int(iv * 1000 // FULL_EXCHANGE_US)
        events_s = 1000.0 / iv
        cap = per_event * events_s
        cap4 = min(per_event, 4) * events_s
        need = 0.0
        air_us = 0.0
        spn = []
        most = 0
        for s in streams:
            values, busy, most_s = notifications(s, iv)
            n = len(values)
            most = max(most, most_s)
            need += n / s.seconds
            air_us += sum(notif_exchange_us(v) for v in values) / s.seconds
            # every event of every connection costs at least an idle exchange
            air_us += max(0.0, events_s - busy / s.seconds) * IDLE_EVENT_US
            spn.append(s.rate * s.seconds / n)
        used = air_us / 1e6
        print(f"| {iv:g} ms | {per_event} | {cap:.0f} | {need:.1f} | {spn[0]:.1f}, {spn[2]:.1f} | {most} | "
              f"{100 * used:.1f} % | {100 * need / cap:.1f} % | "
              f"{100 * need / cap4:.1f} % |")
    packed = total_bps / VALUE_MAX
    print(f"\nPacked (every notification full): {packed:.1f} notif/s for all three boards.\n")

    print("## Delta encoding of SAMPLES (proposal, measured on the same replays)\n")
    print("| board | int16 sample bytes/s | delta+zigzag+LEB128 bytes/s | gain on samples | all traffic after |")
    print("|---|---|---|---|---|")
    for s in streams:
        per = s.batch_n
        raw = 0
        delta = 0
        nblocks = len(s.counts) // per
        for b in range(nblocks):
            block = s.counts[b * per:(b + 1) * per]
            raw += block.size * 2
            delta += delta_block_bytes(block)
        _, bps = s.per_second()
        after = bps - (raw - delta) / s.seconds
        print(f"| {s.name} | {raw / s.seconds:.0f} | {delta / s.seconds:.0f} | {100 * (1 - delta / raw):.1f} % "
              f"| {after:.0f} B/s ({100 * (1 - after / bps):.1f} % less) |")


if __name__ == "__main__":
    main()
