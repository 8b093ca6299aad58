"""The virtual board's bridge holds what a host that is not reading has not taken yet, as a host's
USB CDC driver does in the kernel: a reader that stalls for a second loses nothing, and the
tail of a partly written chunk is never lost (it was: a busy host process then saw CRC errors
no real port would give). Past the buffer whole chunks are dropped and counted."""

from __future__ import annotations

import time

import pytest
import serial

from gaitloop.decoder import BoardState, StreamDecoder
from gaitloop.sim.vboard import VirtualBoard
from tests.conftest import SHIPPED_GAITPDB

WALK = SHIPPED_GAITPDB / "GaPt03_01.txt"  # shipped: runs on a fresh clone

pytestmark = [pytest.mark.micropython, pytest.mark.timeout(120)]


def _read_for(port: serial.Serial, seconds: float) -> bytes:
    out = bytearray()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        out += port.read(4096)
    return bytes(out)


def _stall_then_read(vb: VirtualBoard, stall_s: float) -> tuple[StreamDecoder, BoardState, bytes]:
    with serial.Serial(vb.port, timeout=0.05) as port:
        first = _read_for(port, 1.0)  # the board is streaming
        assert first, "the board sent nothing"
        time.sleep(stall_s)  # the host process waits: nobody reads the port
        rest = _read_for(port, 2.0)
    dec, st = StreamDecoder(), BoardState()
    for f in dec.feed(first + rest):
        st.update(f)
    return dec, st, rest


def test_a_stalled_reader_loses_nothing():
    with VirtualBoard("insole", "left", WALK, speed=10) as vb:
        dec, st, rest = _stall_then_read(vb, 4.0)
        dropped, peak = vb.bytes_dropped, vb.backlog_peak
    # 4 s at 10x is ~30 KB: more than a Linux pty holds (~20 KB), so the bridge held the rest
    assert len(rest) > 24000, len(rest)
    assert peak > 2000, peak
    assert dropped == 0
    assert dec.stats.crc_errors == 0 and dec.stats.bad_frames == 0
    assert st.seq_gaps == 0 and st.sample_gaps == 0 and st.samples > 1000


def test_past_the_host_buffer_whole_chunks_are_dropped_and_counted():
    with VirtualBoard("insole", "left", WALK, speed=10) as vb:
        vb.host_buffer = 2048
        dec, st, _rest = _stall_then_read(vb, 4.0)
        dropped, peak, alive = vb.bytes_dropped, vb.backlog_peak, vb.alive()
    assert dropped > 0 and peak <= 2048
    assert alive  # the board keeps running
    assert st.seq_gaps > 0  # the loss shows as missing frames
    assert st.samples > 1000  # and streaming goes on after it
