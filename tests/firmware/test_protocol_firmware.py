"""The protocol module under real MicroPython and CPython: same bytes both ways, no allocation."""

from __future__ import annotations

import binascii
import json

import numpy as np
import pytest

from gaitfw import protocol as P
from gaitloop.decoder import StreamDecoder
from gaitloop.messages import CommandEncoder, Samples, decode_payload
from gaitloop.sim.replayfile import Replay, write_replay
from tests.conftest import run_micropython


def test_crc_matches_cpython_c_implementation():
    data = bytes(range(256)) * 3
    assert P.crc16(data, 0, len(data)) == binascii.crc_hqx(data, 0xFFFF)
    out = run_micropython(
        "from gaitfw import protocol as P\n"
        "d = bytes(range(256)) * 3\n"
        "print(P.crc16(d, 0, len(d)))\n"
    )
    assert int(out) == binascii.crc_hqx(data, 0xFFFF)


def test_board_frames_decode_on_host():
    """Frames built by the firmware encoder under MicroPython decode on the host."""
    out = run_micropython(
        "import binascii\n"
        "from gaitfw import protocol as P\n"
        "w = P.FrameWriter()\n"
        "chunks = []\n"
        "n = w.event(1234, 17, 1, -5, 70000)\n"
        "chunks.append(bytes(w.enc[:n]))\n"
        "n = w.frame(P.MSG_HELLO, 0, b'{\"a\": 0}')\n"
        "chunks.append(bytes(w.enc[:n]))\n"
        "print(binascii.hexlify(b''.join(chunks)).decode())\n"
    )
    dec = StreamDecoder()
    frames = dec.feed(b"\x00" + bytes.fromhex(out.strip()))
    assert [f.kind for f in frames] == [P.MSG_EVENT, P.MSG_HELLO]
    ev = decode_payload(frames[0])
    assert (frames[0].t_ms, ev.code, ev.side, ev.a, ev.b) == (1234, 17, 1, -5, 70000)
    assert frames[0].seq == 0 and frames[1].seq == 1
    assert dec.stats.crc_errors == 0


def test_host_commands_decode_on_board():
    cmd = CommandEncoder().encode(P.CMD_SET, json.dumps({"stream": False}).encode())
    out = run_micropython(
        "from gaitfw import protocol as P\n"
        f"enc = {cmd!r}\n"
        "body = enc[1:-1]\n"
        "dst = bytearray(P.MAX_FRAME)\n"
        "n = P.cobs_decode_into(body, len(body), dst)\n"
        "f = P.parse_frame(dst, n)\n"
        "print(f.kind, f.seq, f.payload[0], bytes(f.payload[1:]).decode())\n"
    )
    kind, seq, cmd_id, args = out.strip().split(" ", 3)
    assert (int(kind), int(seq), int(cmd_id)) == (P.MSG_CMD, 0, P.CMD_SET)
    assert json.loads(args) == {"stream": False}


def test_cobs_edge_cases_match_between_runtimes():
    """Zeros, 254/255-byte runs and empty payloads: identical encodings in both runtimes."""
    payloads = [b"", b"\x00", b"\x00" * 5, b"\x01" * 254, b"\x02" * 255, b"\x03" * 600,
                bytes(range(256)) * 2]
    host = []
    w = P.FrameWriter()
    for p in payloads:
        n = w.frame(P.MSG_SAMPLES, 7, p)
        host.append(bytes(w.enc[:n]).hex())
    out = run_micropython(
        "import binascii\n"
        "from gaitfw import protocol as P\n"
        f"payloads = {payloads!r}\n"
        "w = P.FrameWriter()\n"
        "for p in payloads:\n"
        "    n = w.frame(P.MSG_SAMPLES, 7, p)\n"
        "    print(binascii.hexlify(bytes(w.enc[:n])).decode())\n"
    )
    assert out.split() == host


@pytest.mark.micropython
def test_sample_path_allocates_nothing(tmp_path):
    """App.step (HAL -> processors -> framing -> send) grows the heap by 0 bytes per sample."""
    rng = np.random.default_rng(1)
    counts = rng.integers(0, 9000, size=(3000, 2)).astype(np.int16)
    write_replay(Replay(("heel", "ball"), 100, counts), tmp_path / "r.glrp")
    out = run_micropython(
        "import gc\n"
        "from gaitfw import app as A\n"
        "from gaitfw.boards import insole\n"
        "from gaitfw.hal import ReplayHal\n"
        "class Sink:\n"
        "    def __init__(self): self.n = 0\n"
        "    def write(self, buf, off, n): self.n += n\n"
        f"hal = ReplayHal({str(tmp_path / 'r.glrp')!r}, 2, True)\n"
        "out = Sink()\n"
        "a = A.App(insole, {'side': 'left'}, hal, out)\n"
        "a._next_status = 1000; a._next_hello = 5000\n"
        "a.send_hello()  # as main() does at boot: HELLO bytes are built once\n"
        "for i in range(500): a.step()\n"
        "gc.collect(); gc.disable()\n"
        "m0 = gc.mem_alloc()\n"
        "for i in range(5000): a.step()\n"
        "m1 = gc.mem_alloc()\n"
        "print(m1 - m0, a.samples_sent, out.n)\n"
    )
    grown, sent, nbytes = map(int, out.split())
    # STATUS (each board second) and HELLO (every 5 s) are built per second, not per
    # sample; they are inside this window too, so any allocation anywhere shows up here.
    assert grown == 0, f"heap grew by {grown} bytes over 5000 samples"
    assert sent >= 5400 and nbytes > 0


def test_replay_hal_matches_host_writer(tmp_path):
    counts = np.array([[1, -2], [32767, -32768], [0, 5]], dtype=np.int16)
    write_replay(Replay(("heel", "ball"), 100, counts), tmp_path / "r.glrp")
    out = run_micropython(
        "from array import array\n"
        "from gaitfw.hal import ReplayHal\n"
        f"h = ReplayHal({str(tmp_path / 'r.glrp')!r}, 2, loop=True, chunk_rows=2)\n"
        "s = array('h', [0, 0])\n"
        "for i in range(7):\n"
        "    h.read(s); print(s[0], s[1])\n"
    )
    rows = [tuple(map(int, ln.split())) for ln in out.strip().splitlines()]
    expect = [tuple(map(int, counts[i % 3])) for i in range(7)]
    assert rows == expect


def test_samples_payload_roundtrip_host():
    from gaitfw import protocol as Pr

    w = Pr.FrameWriter()
    raw = w.raw
    w.begin(Pr.MSG_SAMPLES, 100)
    Pr.samples_header(raw, 42, 2, 3)
    vals = [1, -1, 300, -300, 32767, -32768]
    off = Pr.HEADER_LEN + Pr.SAMPLES_HEADER
    for v in vals:
        raw[off] = v & 0xFF
        raw[off + 1] = (v >> 8) & 0xFF
        off += 2
    n = w.finish(Pr.SAMPLES_HEADER + 12)
    frames = StreamDecoder().feed(b"\x00" + bytes(w.enc[:n]))
    msg = decode_payload(frames[0])
    assert isinstance(msg, Samples) and msg.first_index == 42
    assert msg.counts.tolist() == [[1, -1], [300, -300], [32767, -32768]]


def test_app_output_is_byte_identical_under_cpython_and_micropython(tmp_path):
    """One source, two runtimes: the board's whole byte stream (samples, events from the
    insole's processors, status, hello) is the same under CPython and real MicroPython."""
    import sys
    from pathlib import Path

    from gaitloop.sim.sources import insole_replay

    walk = Path(__file__).resolve().parents[2] / "data" / "gaitpdb" / "GaCo01_01.txt"
    write_replay(insole_replay(walk, "left"), tmp_path / "r.glrp")
    script = (
        "from gaitfw import app as A\n"
        "from gaitfw.boards import insole\n"
        "from gaitfw.hal import ReplayHal\n"
        "class Sink:\n"
        "    def __init__(self): self.b = bytearray()\n"
        "    def write(self, buf, off, n):\n"
        "        self.b.extend(buf[off:off + n])\n"
        f"a = A.App(insole, {{'side': 'left'}}, ReplayHal({str(tmp_path / 'r.glrp')!r}, 2, True), Sink())\n"
        "a._next_status = 1000; a._next_hello = 5000\n"
        "a.send_hello()\n"
        "for i in range(3000): a.step()\n"
    )
    mpy_out = run_micropython(script + "import binascii\nprint(binascii.hexlify(a.out.b).decode())\n")
    ns: dict = {}
    old_path = list(sys.path)
    try:
        exec(compile(script, "<app>", "exec"), ns)
    finally:
        sys.path[:] = old_path
    host = bytes(ns["a"].out.b)
    board = bytes.fromhex(mpy_out.strip())
    # STATUS carries heap figures and HELLO a JSON object whose key order differs between
    # the runtimes: those two are compared by content, every other frame byte for byte
    def frames(stream: bytes) -> list[bytes]:
        dec = StreamDecoder()
        out = []
        for f in dec.feed(b"\x00" + stream):
            if f.kind == P.MSG_HELLO:
                out.append(json.dumps(json.loads(f.payload), sort_keys=True).encode())
            elif f.kind == P.MSG_STATUS:
                out.append(f.payload[:12])  # flags, samples sent, drops
            else:
                out.append(f.raw)
        return out

    hf, bf = frames(host), frames(board)
    assert len(hf) == len(bf) > 300
    for i, (x, y) in enumerate(zip(hf, bf, strict=True)):
        assert x == y, f"frame {i} differs"
    assert any(f.kind == P.MSG_EVENT for f in StreamDecoder().feed(b"\x00" + host))


def test_frame_writer_uses_no_constant_that_is_a_big_int_on_a_board():
    """Fails when a FrameWriter method (STATUS every second, an EVENT per gait event and per
    student inference) holds an integer constant outside the boards' 31-bit small ints: each
    use is a heap object there, never on the 64-bit Unix port (issue #15: EVENT's
    `& 0xFFFFFFFF` cost 64 B an event on the emulated RP2040)."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(P.FrameWriter))
    big = [(n.lineno, n.value) for n in ast.walk(tree)
           if isinstance(n, ast.Constant) and type(n.value) is int and not -(1 << 30) <= n.value < 1 << 30]
    assert not big, f"constants that are big ints on a board, in FrameWriter: {big}"


_STATUS_SCRIPT = """
import binascii, gc
from gaitfw import app as A, protocol as P
from gaitfw.boards import insole
from gaitfw.hal import ReplayHal
class Keep:
    def __init__(self): self.b = bytearray()
    def write(self, buf, off, n): self.b.extend(bytes(buf[off:off + n]))
out = Keep()
a = A.App(insole, {'side': 'left'}, ReplayHal(PATH, 2, True), out)
for i in range(250): a.step()
a.flags = 0x85; a.samples_sent = 0x12345678; a.tx_dropped = 70000
a.ring[2] = 513  # app._EV_DROPPED: events lost to a full ring
a.pacer.skipped = 0x01020304; a.power.reason = 3
out.b = bytearray()
a._mem_age = 1; a._mem_free = 0x3FFFFFF0; a._mem_alloc = 0x00ABCDEF
a.send_status()
got = bytes(out.b)
# the field-by-field STATUS this replaced: begin, then each field in order
w = a.writer
w.seqbox[0] = (w.seqbox[0] - 1) & 0xFFFF
raw = w.raw
h = P.HEADER_LEN
w.begin(P.MSG_STATUS, a.t_ms)
fl = a.flags
for p in a.processors:
    fl |= p.status()
P.put_u32(raw, h, fl)
P.put_u32(raw, h + 4, a.samples_sent)
P.put_u16(raw, h + 8, min(a.ring[2], 0xFFFF))
P.put_u16(raw, h + 10, min(a.tx_dropped, 0xFFFF))
P.put_u32(raw, h + 12, a._mem_free)
P.put_u32(raw, h + 16, a._mem_alloc)
raw[h + 20] = a.power.state
raw[h + 21] = a.power.reason
P.put_u16(raw, h + 22, a.power.rate_now())
P.put_u32(raw, h + 24, a.pacer.late() + a.pacer.skipped)
n = w.finish(P.STATUS_LEN)
ref = bytes(w.enc[:n])
class Count:
    def __init__(self): self.n = 0
    def write(self, buf, off, n): self.n += n
a.out = Count()
a._mem_age = 1
gc.collect(); gc.disable()
m0 = gc.mem_alloc()
for i in range(50): a.send_status()
grown = gc.mem_alloc() - m0
print(binascii.hexlify(got).decode(), binascii.hexlify(ref).decode(), grown)
"""


@pytest.mark.micropython
def test_status_frame_is_the_field_by_field_one(tmp_path):
    """STATUS packed in one `struct.pack_into` (app._STATUS_FMT) sends the bytes the
    field-by-field build sent, u16 fields clipped, events lost flagged, and allocates nothing
    (heap walks aside: `_mem_age` kept off 0 by the 60-frame cycle within the 50 frames)."""
    from gaitfw import app as A

    assert A._STATUS_HEAD == P.MAGIC | P.VERSION << 8 | P.MSG_STATUS << 16
    rng = np.random.default_rng(2)
    counts = rng.integers(0, 9000, size=(400, 2)).astype(np.int16)
    write_replay(Replay(("heel", "ball"), 100, counts), tmp_path / "r.glrp")
    out = run_micropython(f"PATH = {str(tmp_path / 'r.glrp')!r}\n" + _STATUS_SCRIPT)
    got, ref, grown = out.split()
    assert got == ref
    frames = StreamDecoder().feed(b"\x00" + bytes.fromhex(got))
    assert [f.kind for f in frames] == [P.MSG_STATUS]
    st = decode_payload(frames[0])
    # events dropped (513) set ST_EV_OVERFLOW at the STATUS that reports them (app.EventRing)
    assert (st.flags & 0xFF, st.samples_sent, st.events_dropped, st.tx_dropped) == (
        0x85 | P.ST_EV_OVERFLOW, 0x12345678, 513, 0xFFFF)
    assert (st.mem_free, st.mem_alloc, st.wake_reason, st.rate_hz) == (0x3FFFFFF0, 0x00ABCDEF, 3, 100)
    assert st.overruns >= 0x01020304
    assert int(grown) == 0


_WALK_SCRIPT = """
from gaitfw import app as A, protocol as P
from gaitfw.boards import insole
from gaitfw.hal import ReplayHal
class Drop:
    def write(self, buf, off, n): pass
walks = [0]
real_free = A.mem_free
def counting_free():
    walks[0] += 1
    return real_free()
A.mem_free = counting_free
a = A.App(insole, {'side': 'left'}, ReplayHal(PATH, 2, True), Drop())
for i in range(20): a.step()
got = []
for i in range(130): a.send_status()   # active: the boot walk only
got.append(walks[0])
for b in CMD: a._rx_byte(b)            # the host asks: one walk
got.append(walks[0])
for i in range(130): a.send_status()
got.append(walks[0])
a.power.state = P.POWER_IDLE
for i in range(121): a.send_status()   # idle: at once, then every 60th STATUS
got.append(walks[0])
a.power.state = P.POWER_ACTIVE
for i in range(200): a.send_status()
got.append(walks[0])
print(got, a._mem_free > 0)
"""


@pytest.mark.micropython
def test_heap_walk_only_at_boot_on_request_and_while_idle(tmp_path):
    """gc.mem_free / mem_alloc walk the whole heap (13 ms on a Pico W, longer than a sample
    period): an active board walks it at its first STATUS and when the host sends CMD_STATUS,
    never on its own; an idle one at its first idle STATUS and then once every 60."""
    rng = np.random.default_rng(3)
    counts = rng.integers(0, 9000, size=(100, 2)).astype(np.int16)
    write_replay(Replay(("heel", "ball"), 100, counts), tmp_path / "r.glrp")
    cmd = list(b"\x00" + CommandEncoder().encode(P.CMD_STATUS))
    out = run_micropython(f"PATH = {str(tmp_path / 'r.glrp')!r}\nCMD = {cmd!r}\n" + _WALK_SCRIPT)
    assert out.strip() == "[1, 2, 2, 5, 5] True"
