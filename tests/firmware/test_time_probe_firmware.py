"""CMD_TIME under real MicroPython: the board says where its sample clock was when the command
arrived, finer than the 10 ms sample grid, for any replay speed (docs/protocol.md, cmd 8)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gaitfw import protocol as P
from gaitloop.decoder import StreamDecoder
from gaitloop.messages import Ack, decode_payload
from gaitloop.sim.replayfile import write_replay
from gaitloop.sim.sources import insole_replay
from gaitloop.timeprobe import board_time_s
from tests.conftest import run_micropython

pytestmark = pytest.mark.micropython

WALK = Path(__file__).resolve().parents[2] / "data" / "gaitpdb" / "GaCo01_01.txt"


def _probe(tmp_path: Path, speed: float, ble: bool) -> tuple[list, float]:
    """Run the real sampler for ~0.7 s, then answer a CMD_TIME that (over BLE) arrived 3 ms
    earlier. Returns the frames and the wall seconds from the sampler's start to the arrival."""
    rp = tmp_path / "r.glrp"
    if not rp.exists():
        write_replay(insole_replay(WALK, "left"), rp)
    out = run_micropython(
        "import asyncio, time, binascii\n"
        "from gaitfw import app as A\n"
        "from gaitfw import protocol as P\n"
        "from gaitfw.boards import insole\n"
        "from gaitfw.hal import ReplayHal\n"
        "class Sink:\n"
        "    def __init__(self): self.b = bytearray()\n"
        "    def write(self, buf, off, n): self.b.extend(buf[off:off + n])\n"
        "class Link:\n"
        "    rx_us = 0\n"
        f"a = A.App(insole, {{'side': 'left', 'speed': {speed}, 'stream': False}}, "
        f"ReplayHal({str(rp)!r}, 2, True), Sink())\n"
        "async def main():\n"
        "    t0 = time.ticks_us()\n"
        "    task = asyncio.create_task(a.sampler())\n"
        "    await asyncio.sleep_ms(700)\n"
        "    arrived = time.ticks_add(time.ticks_us(), -3000)\n"
        "    Link.rx_us = arrived\n"
        "    a.out.b = bytearray()\n"
        f"    a.handle_command(9, P.CMD_TIME, b'', {'Link' if ble else 'None'})\n"
        f"    at = {'arrived' if ble else 'time.ticks_us()'}\n"
        "    a.running = False\n"
        "    await task\n"
        "    print(time.ticks_diff(at, t0))\n"
        "    print(binascii.hexlify(a.out.b[:64]).decode())\n"
        "asyncio.run(main())\n"
    )
    lines = out.split()
    frames = StreamDecoder().feed(b"\x00" + bytes.fromhex(lines[1]))
    return frames, int(lines[0]) / 1e6


@pytest.mark.parametrize(("speed", "ble"), [(1.0, True), (2.0, True), (1.0, False)])
def test_cmd_time_places_the_arrival_on_the_sample_clock(tmp_path: Path, speed: float, ble: bool) -> None:
    frames, wall_s = _probe(tmp_path, speed, ble)
    # only the ACK: a probe several times a second must not flood the event log with EV_CMD
    msgs = [decode_payload(f) for f in frames]
    acks = [m for m in msgs if isinstance(m, Ack)]
    assert len(acks) == 1 and acks[0].cmd == P.CMD_TIME and acks[0].cmd_seq == 9
    assert not any(f.kind == P.MSG_EVENT for f in frames)
    b = board_time_s(acks[0].reply, 100, speed)
    assert b is not None
    # the sample clock started with the sampler (its first sample due at once) and runs at
    # speed x wall time; the reply resolves it to microseconds, not the 10 ms sample grid
    # (ignoring the 3 ms since the BLE arrival stamp would miss this by 3 ms x speed)
    assert b == pytest.approx(wall_s * speed, abs=0.0015 * speed), (b, wall_s)


def test_malformed_reply_is_refused() -> None:
    assert board_time_s(b"\x00" * 8, 100, 1.0) is None
    assert board_time_s(b"\x00" * 12, 0, 1.0) is None
