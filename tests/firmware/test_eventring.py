"""The App's event ring (`app.EventRing`) under real MicroPython (viper) and CPython (the
plain twin): every EVENT frame it builds and seals is byte for byte `FrameWriter.event`'s,
events come out in order across the ring's wrap, a full ring drops and counts, nothing is
allocated, and the seal it holds is protocol's, verbatim."""

from __future__ import annotations

import random
import textwrap
from pathlib import Path

from gaitfw import app as A
from gaitfw import protocol as P
from tests.conftest import FIRMWARE, run_micropython

# (t, code, side, a, b): the edges of each field (a and b are int32 words: their low 32 bits
# go out), then a seeded spread
EDGES = [(0, 0, 0, 0, 0), (1234, 17, 1, -5, 70000), (2**30 - 1, 255, 255, 2**31 - 1, -2**31),
         (999999999, 3, 2, -1, 1), (5, 0x1FF, 0x102, 0x7F00FF00, -0x7F00FF00), (77, 9, 0, 0x00800000, 0)]
_rng = random.Random(15)
EVENTS = EDGES + [(_rng.randrange(2**30), _rng.randrange(256), _rng.randrange(3),
                   _rng.randrange(-2**31, 2**31), _rng.randrange(-2**31, 2**31)) for _ in range(60)]

# Pushes and pops in a pattern that wraps the 8-slot ring, fills it and overflows it; prints
# each popped frame (hex), the pop's answer, and the counts. The same script on both runtimes.
SCRIPT = """
import binascii, gc
from gaitfw import app as A
from gaitfw import protocol as P
EV = {events!r}
w = P.FrameWriter()
ring = A._new_ring(8, None, w.raw, w.seqbox, P.CRC_TABLE, w.enc)
out = []
k = 0
def drain():
    v = ring.pop()
    while v:
        out.append('%s %d' % (binascii.hexlify(bytes(w.enc[:v & 0xFF])).decode(), v >> 8))
        if v < 256:
            break
        v = ring.pop()
for burst in (3, 5, 8, 11, 1, 7, 2, 9, 6, 4):
    for _ in range(burst):
        e = EV[k % len(EV)]
        k += 1
        out.append('push %d' % ring.push(e[0], e[1], e[2], e[3], e[4]))
    out.append('count %d dropped %d' % (ring[4], ring[2]))  # the ring's own count word, dropped
    drain()
out.append('empty %d' % ring.pop())
# no allocation: a push and a pop, many times, with the collector off
e = EV[1]
gc.collect(); gc.disable()
m0 = gc.mem_alloc()
for i in range(200):
    ring.push(e[0], e[1], e[2], e[3], e[4])
    ring.pop()
m1 = gc.mem_alloc()
gc.enable()
out.append('heap %d' % (m1 - m0))
print('\\n'.join(out))
"""


def _expected() -> list[str]:
    """The same script with the ring replaced by what it stands for: a list and
    `FrameWriter.event`, which builds the frame field by field."""
    w = P.FrameWriter()
    q: list[tuple] = []
    out, k, dropped = [], 0, 0
    for burst in (3, 5, 8, 11, 1, 7, 2, 9, 6, 4):
        for _ in range(burst):
            e = EVENTS[k % len(EVENTS)]
            k += 1
            if len(q) < 8:
                q.append(e)
                out.append("push 1")
            else:
                dropped += 1
                out.append("push 0")
        out.append(f"count {len(q)} dropped {dropped}")
        while q:
            t, code, side, a, b = q.pop(0)
            n = w.event(t, code, side, a, b)
            out.append(f"{bytes(w.enc[:n]).hex()} {len(q)}")
    out.append("empty 0")
    return out


def test_ring_frames_equal_framewriter_event_under_micropython() -> None:
    got = run_micropython(SCRIPT.format(events=EVENTS)).strip().split("\n")
    exp = _expected()
    assert got[:-1] == exp
    assert got[-1] == "heap 0"
    assert sum(1 for x in exp if x == "push 0") >= 3  # the pattern overflowed the ring


def test_ring_frames_equal_framewriter_event_on_cpython(capsys) -> None:
    exec(SCRIPT.replace("import binascii, gc", "import binascii, gc\ngc.mem_alloc = lambda: 0").format(
        events=EVENTS), {})
    got = capsys.readouterr().out.strip().split("\n")
    assert got[:-1] == _expected()


def test_a_ring_counts_in_a_word_it_is_given() -> None:
    """The App's ring keeps its count in `_st`, where the native tick tests it."""
    out = run_micropython(
        "from array import array\n"
        "from gaitfw import app as A, protocol as P\n"
        "st = array('i', [0] * 4)\n"
        "w = P.FrameWriter()\n"
        "r = A._new_ring(4, memoryview(st)[2:3], w.raw, w.seqbox, P.CRC_TABLE, w.enc)\n"
        "r.push(1, 2, 0, 3, 4); r.push(5, 6, 1, 7, 8)\n"
        "a = st[2]\n"
        "v = r.pop()\n"
        "print(a, st[2], v >> 8, r[4])\n")  # word 4: the ring's own count, unused
    assert out.split() == ["2", "1", "1", "0"]


def test_the_rings_seal_is_protocols_verbatim() -> None:
    """`pop` seals the frame itself (viper has no inlining), holding `protocol._seal_viper`'s
    body as text, as the tick does: every copy in app.py must equal it. This fails when one
    differs; the tests above check the bytes."""
    root = Path(FIRMWARE) / "gaitfw"
    proto = (root / "protocol.py").read_text()
    a = proto.index("    seq = box[0]\n", proto.index("def _seal_viper"))
    ours = textwrap.dedent(proto[a:proto.index("    # -- end of the seal", a)])
    app = (root / "app.py").read_text()
    marker = "# -- the seal (protocol._seal_viper's, verbatim)"
    assert app.count(marker) == 2  # the ring's pop and the tick's full SAMPLES frame
    at = app.index("def _ev_pop_viper")
    b = app.index("\n", app.index(marker, at)) + 1
    theirs = textwrap.dedent(app[b:app.index("# -- end of the seal", b)].rstrip(" "))
    assert "crc" in ours and theirs == ours


def test_the_rings_frame_constants_are_protocols() -> None:
    assert (A._EV_MAGIC, A._EV_VERSION, A._EV_TYPE) == (P.MAGIC, P.VERSION, P.MSG_EVENT)
    assert A._EV_END == P.HEADER_LEN + 10
    assert (A._EV_OWN, A._EV_DROPPED) == (4, 2)
