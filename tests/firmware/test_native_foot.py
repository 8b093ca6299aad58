"""The insole's foot kernel inside the App's native tick changes nothing the board decides or sends.

Why: `App.step` on the insole runs the foot's CSM kernel inside `app._tick_viper` (the
buffers found by address, `_I_FEED = _FEED_FOOT`) and calls `FootProcessor.feed_native` only
on a sample that changes something. The same foot fed by its own `feed` every sample
(`csm._foot_viper`, `_FEED_ALL`) is the reference: every sample's foot state, the SAMPLES and
EVENT frames, through flat-lined, missing and saturated input and a processor update
(the addresses rebound). The CPython twin (`_tick_plain`, `csm._foot_plain`) takes the
native path too and must send the same frames.
"""

from __future__ import annotations

import binascii
import sys

import numpy as np
import pytest

from gaitloop.sim.replayfile import Replay, write_replay
from tests.conftest import FIRMWARE, run_micropython

pytestmark = pytest.mark.micropython

_SCRIPT = """
from gaitfw import app as A
from gaitfw.boards import insole
from gaitfw.hal import ReplayHal
class Sink:
    def __init__(self): self.b = bytearray()
    def write(self, buf, off, n): self.b.extend(buf[off:off + n])
class Fed:  # the same foot, fed through its own `feed` every sample (no `native`)
    def __init__(self, p): self.p = p; self.feed = p.feed; self.status = p.status
def app(native):
    a = A.App(insole, {'side': 'left'}, ReplayHal(PATH, 2, True, chunk_rows=37), Sink())
    if not native:
        a.processors = [Fed(a.processors[0])]
    a._next_status = 1000; a._next_hello = 5000
    a.send_hello()
    return a
def foot(a):
    p = a.processors[0]
    return p.p if hasattr(p, 'p') else p
def update(a, native):  # an update replaces the processors: the native tick rebinds
    procs = insole.make_processors(a.emit, {'side': 'left'})
    a.processors = procs if native else [Fed(procs[0])]
def run():
    import gc
    pad = bytearray(60000)  # freed before the update: the new foot's buffers land below `_st`
    x = app(True)
    y = app(False)
    modes = (x._st[16], y._st[16])  # app._I_FEED
    pad = None
    diff = 0
    below = 0
    for i in range(N):
        if i == UPDATE:
            gc.collect()
            update(x, True)
            update(y, False)
            below = x._st[18] < 0x20000000  # the state's address below st's (a negative distance)
        x.step()
        y.step()
        if foot(x)._S2[0:115] != foot(y)._S2[0:115]:
            diff += 1
    for a in (x, y):
        if a.batch_count: a._flush_batch()
    f = foot(x)
    return modes, diff, below, (f.steps, f.events_sent, f.status(), f.phase), x.out.b, y.out.b
"""


def _replay(tmp_path, rows: int) -> str:
    """A walk (heel and ball loaded in turn) with a flat-lined heel, missing ball samples and
    saturated stretches: the foot's slow path, its flags and their clearing all run."""
    rng = np.random.default_rng(7)
    t = np.arange(rows)
    base = (np.sin(t * 2 * np.pi / 110) > 0) * 6000
    heel = base + rng.integers(0, 300, rows)
    ball = np.roll(base, 20) + rng.integers(0, 300, rows)
    heel[1500:2100] = 1234
    ball[2500:2600:3] = -32768
    heel[3000:3300] = 32767  # saturated, twice at one count: a rail (clipped-top stretch)
    heel[3500:3600] = 32767
    ball[3300:3400] = -32767
    path = tmp_path / "walk.glrp"
    write_replay(Replay(("heel", "ball"), 100, np.stack([heel, ball], 1).astype(np.int16)), path)
    return str(path)


def _frames(b: bytes) -> list[bytes]:
    from gaitloop.decoder import StreamDecoder

    return [bytes(f.raw) for f in StreamDecoder().feed(b"\x00" + b) if f.kind in (2, 3)]


def test_native_foot_equals_the_foot_fed_every_sample(tmp_path) -> None:
    path = _replay(tmp_path, 4000)
    n = 9000  # more than two passes of the replay (it loops), the update in the second
    head = f"PATH = {path!r}\nN = {n}\nUPDATE = 5000\n"
    out = run_micropython(head + _SCRIPT + (
        "import binascii\n"
        "modes, diff, below, f, bx, by = run()\n"
        "print(modes[0], modes[1], diff, int(below), *f)\n"
        "print(binascii.hexlify(bx).decode())\n"
        "print(binascii.hexlify(by).decode())\n"), timeout=300)
    summary, bx, by = out.split("\n")[:3]
    mx, my, diff, below, steps, events, _status, _phase = (int(v) for v in summary.split())
    assert (mx, my) == (2, 1)  # _FEED_FOOT, _FEED_ALL: the two paths really differ
    assert below == 1  # a buffer below `_st`: the distance word under 2^29 (a negative distance)
    assert diff == 0
    assert steps > 20 and events > 40  # counted since the update (the new foot)
    board = _frames(binascii.unhexlify(bx))
    assert board == _frames(binascii.unhexlify(by))
    assert sum(1 for f in board if f[2] == 3) > 100  # EVENT frames, not only SAMPLES
    # the CPython twin: the same native path (`_tick_plain` on the registered buffers)
    ns: dict = {}
    old = list(sys.path)
    sys.path.insert(0, str(FIRMWARE))
    try:
        exec(compile(head + _SCRIPT, "<app>", "exec"), ns)
        modes, hdiff, _, hf, hx, _ = ns["run"]()
    finally:
        sys.path[:] = old
    assert modes == (2, 1) and hdiff == 0 and hf == (steps, events, _status, _phase)
    assert _frames(bytes(hx)) == board
